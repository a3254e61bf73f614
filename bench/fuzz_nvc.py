"""Fuzzing ``nvc decode`` with hostile .nvc files that get past the CRCs.

A byte flipped at random in a .nvc file almost always lands on a CRC-protected chunk and is refused
at the chunk it damages; the reader's own tests cover that.  What they do not reach is everything
behind the CRCs: the header's fields, the DCVC-RT units, the rANS payloads, the block-skip map and
the frame decoder that runs on whatever those decode to.  So this fuzzer parses its seed files into
chunks, and VPKT bodies into units, mutates a chunk, a unit header or payload bytes, and writes the
file again with every CRC, the intra index and the trailer recomputed (most of the time: stale ones
are kept now and then, and some mutations edit the framing itself on purpose), so that a mutation
reaches the part of the decoder it aims at.

It is a seeded mutation loop of its own rather than hypothesis or atheris: the cases must be
reproducible from (seed, case number) alone for a 100,000-case campaign, hypothesis spends its time
on shrinking and its example database rather than on cases, and a coverage-guided engine (atheris)
would steer by the coverage of torch's kernels, which is noise here; the structure, which this loop
knows, is what gets a case deep.

Each case is decoded the way ``nvc decode`` does it (``NvcReader``, the model the header names
through ``resolve_stream_model``, ``transcode.decode`` into a y4m sink, here writing to memory), in a
worker process with an address-space limit and a per-case time limit, so that a crash, a hang or a
memory blow-up is seen rather than suffered.  Outcomes:

* ``ok``: decoded (possibly a truncated file's surviving frames);
* ``refused``: an ``NvcError``, the expected answer to a damaged file;
* ``finding``: any other exception, a frame that does not match the header (the sink checks),
  a case over the time limit, an allocation failure under the memory limit, or a worker that died.

Findings are grouped by where they happened; the first few cases of each are saved under
``OUT/findings/`` together with the mutations that made them.

    python bench/fuzz_nvc.py --cases 100000 --seed 1 --out /tmp/fuzz_out
    python bench/fuzz_nvc.py --replay /tmp/fuzz_out/findings/<id>/case-17.nvc     # one file, traceback
    python bench/fuzz_nvc.py --seed 1 --emit-case 17 --out /tmp/x                  # case 17's bytes

Prints one JSON document at the end: cases, seconds, cases/s, outcome counts, the findings.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import faulthandler
import hashlib
import io
import json
import logging
import math
import os
import random
import re
import resource
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from nvcodec import numerics

numerics.prepare_environment()  # the decoder checks the numerics profile: set before torch is imported

import numpy as np  # noqa: E402

from nvcodec.bitstream.units import AUINT_MAX  # noqa: E402
from nvcodec.container import format as nvc_format  # noqa: E402

PREAMBLE_SIZE = nvc_format.PREAMBLE_SIZE
VPKT_HEADER = 17  # frame_index u32, pts i64, duration u32, flags u8
#: the limits a length field is pushed against
MAX_BODY = {tag.value: limit for tag, limit in nvc_format.MAX_BODY.items()}
TAGS = tuple(MAX_BODY)

if TYPE_CHECKING:
    from nvcodec.container import AudioPacket, Header, NvcReader
    from nvcodec.io import VideoSink
    from nvcodec.media import Planes
    from nvcodec.models.bundle import CodecModel

# --- seeds -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSpec:
    """One small valid file to mutate: which model codes which clip, with which settings."""

    name: str
    model: str
    width: int
    height: int
    frames: int
    settings: dict = field(default_factory=dict)
    audio: bool = False
    rgb: bool = False
    still: bool = False  # most of the picture still, so that block skip has blocks to skip


#: the campaign's seeds: both coders' layouts, intra periods, resets, audio, 4:4:4, block skip with maps
CAMPAIGN_SEEDS = (
    SeedSpec("tiny-ip2-audio", "synthetic:tiny:1", 48, 32, 4, {"qp_i": 30, "intra_period": 2}, audio=True),
    SeedSpec("tiny-skip-2ec-reset", "synthetic:tiny:1", 48, 32, 4,
             {"qp_i": 40, "block_skip": True, "two_ec": True, "reset_interval": 2}, still=True),
    SeedSpec("compact-skip-ip3", "synthetic:compact-skip:1", 48, 32, 4, {"qp_i": 40, "intra_period": 3},
             still=True),
    SeedSpec("tiny-nothreshold-444", "synthetic:tiny:1", 32, 32, 3, {"qp_i": 50, "skip_threshold": None}, rgb=True),
    SeedSpec("tiny-motion-skip-reset", "synthetic:tiny:1", 64, 48, 4,
             {"qp_i": 40, "motion": True, "block_skip": True, "reset_interval": 2}),
    SeedSpec("compact-motion-2ec", "synthetic:compact-skip:1", 48, 32, 4, {"qp_i": 40, "motion": True,
                                                                         "block_skip": False, "two_ec": True}),
)
#: the CI test's seeds: the same syntax on fewer, smaller frames, so a few hundred cases fit in seconds
SMALL_SEEDS = (
    SeedSpec("tiny-ip2", "synthetic:tiny:1", 32, 16, 3, {"qp_i": 30, "intra_period": 2}),
    SeedSpec("tiny-skip-2ec", "synthetic:tiny:1", 32, 32, 3,
             {"qp_i": 40, "block_skip": True, "two_ec": True, "reset_interval": 2}, still=True),
    SeedSpec("compact-skip", "synthetic:compact-skip:1", 32, 32, 3, {"qp_i": 40}, still=True),
    SeedSpec("tiny-motion-skip", "synthetic:tiny:1", 48, 32, 3, {"qp_i": 40, "motion": True, "block_skip": True}),
)


def _picture(t: int, height: int, width: int, still: bool) -> np.ndarray:
    """Smooth moving RGB content; with ``still`` only the right quarter moves."""
    yy, xx = np.mgrid[0:height, 0:width]
    moving = xx >= 3 * width // 4 if still else np.ones_like(xx, dtype=bool)
    shift = np.where(moving, t, 0)
    r = 128 + 80 * np.sin((xx + 3 * shift) / 6.0)
    g = 128 + 80 * np.cos((yy - 2 * shift) / 5.0)
    b = 128 + 60 * np.sin((xx + yy + shift) / 7.0)
    return np.clip(np.stack((r, g, b), axis=-1), 0, 255).astype(np.uint8)


def _write_clip(path: Path, spec: SeedSpec) -> Path:
    """An mp4 (H.264 at qp 0, with an AAC track when asked) of the spec's size and length."""
    import av

    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"qp": "0"})
        v.width, v.height, v.pix_fmt = spec.width, spec.height, "yuv444p" if spec.rgb else "yuv420p"
        a = None
        if spec.audio:
            a = out.add_stream("aac", rate=8000)
            a.layout = "mono"
        for t in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(_picture(t, spec.height, spec.width, spec.still), format="rgb24")
            frame = frame.reformat(format=v.pix_fmt)
            frame.pts, frame.time_base = t, Fraction(1, 25)
            out.mux(v.encode(frame))
        if a is not None:
            samples = 8000 * spec.frames // 25 + 1024
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 8000)).astype(np.float32)
            for start in range(0, samples, 1024):
                af = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 8000, start
                out.mux(a.encode(af))
            out.mux(a.encode(None))
        out.mux(v.encode(None))
    return path


def make_seed(spec: SeedSpec, folder: Path) -> bytes:
    """The .nvc bytes of one seed, coded by the library as ``nvc encode`` codes."""
    from nvcodec import transcode
    from nvcodec.io import InputOptions, open_source
    from nvcodec.models.registry import resolve_model
    from nvcodec.settings import CodingSettings

    clip = _write_clip(folder / f"{spec.name}.mp4", spec)
    out = io.BytesIO()
    opts = InputOptions(audio=spec.audio, mode="rgb" if spec.rgb else "yuv420p")
    with open_source(str(clip), opts) as source:
        for _ in transcode.encode(source, out, resolve_model(spec.model), CodingSettings(**spec.settings),
                                  device="cpu"):
            pass
    return out.getvalue()


def make_seeds(specs: tuple[SeedSpec, ...] = CAMPAIGN_SEEDS) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        return {spec.name: make_seed(spec, Path(tmp)) for spec in specs}


# --- the file as chunks, a VPKT as units -------------------------------------------------------------------------


@dataclass
class Chunk:
    tag: bytes
    body: bytes
    pinned: bool = False  # an INDX or TEND edited on purpose: reindexing leaves it as it is


@dataclass
class NvcFile:
    preamble: bytes
    chunks: list[Chunk]
    tail: bytes = b""  # what follows the last whole chunk


def parse_file(data: bytes) -> NvcFile:
    """Chunks as framed, trusting nothing but the framing (a damaged rest becomes the tail)."""
    pos, chunks = PREAMBLE_SIZE, []
    while pos + 12 <= len(data):
        length, tag = struct.unpack_from(">I4s", data, pos)
        if pos + 12 + length > len(data):
            break
        chunks.append(Chunk(tag, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return NvcFile(data[:PREAMBLE_SIZE], chunks, data[pos:])


def _layout(f: NvcFile) -> list[int]:
    offsets, pos = [], len(f.preamble)
    for c in f.chunks:
        offsets.append(pos)
        pos += 12 + len(c.body)
    return offsets


def reindex(f: NvcFile) -> None:
    """Rewrite INDX and TEND to fit the packets as they now are, so that a mutation gets past them.

    Each INDX lists the intra VPKTs before it, each TEND counts them and points at the last INDX
    before it; INDX sizes move the offsets after them, so this runs until the layout settles.
    """
    for _ in range(6):
        changed = False
        offsets = _layout(f)
        entries, frames, last_index = [], 0, 0
        for c, at in zip(f.chunks, offsets, strict=True):
            if c.tag == b"VPKT":
                frames += 1
                if len(c.body) >= VPKT_HEADER and c.body[16] & 1:
                    index, pts = struct.unpack_from(">Iq", c.body)
                    entries.append(struct.pack(">IqQ", index, pts, at))
            elif c.tag == b"INDX":
                last_index = at
                if not c.pinned:
                    body = struct.pack(">I", len(entries)) + b"".join(entries)
                    changed |= body != c.body
                    c.body = body
            elif c.tag == b"TEND" and not c.pinned:
                body = struct.pack(">IQ", frames, last_index)
                changed |= body != c.body
                c.body = body
        if not changed:
            return


def serialize(f: NvcFile) -> bytes:
    out = bytearray(f.preamble)
    for c in f.chunks:
        crc = zlib.crc32(c.body, zlib.crc32(c.tag)) & 0xFFFFFFFF
        out += struct.pack(">I", len(c.body)) + c.tag + c.body + struct.pack(">I", crc)
    return bytes(out + f.tail)


def read_auint(data: bytes, pos: int) -> tuple[int, int] | None:
    if pos >= len(data):
        return None
    first = data[pos]
    size = 1 if first < 0x80 else 2 if first < 0xC0 else 4
    if pos + size > len(data):
        return None
    value = first & (0x7F if size == 1 else 0x3F)
    for b in data[pos + 1 : pos + size]:
        value = value << 8 | b
    return value, pos + size


def write_auint(value: int, size: int | None = None) -> bytes:
    """An adaptive uint; ``size`` forces a (possibly non-minimal) form, values are masked to fit it."""
    if size is None:
        size = 1 if value < 1 << 7 else 2 if value < 1 << 14 else 4
    if size == 1:
        return bytes((value & 0x7F,))
    if size == 2:
        return bytes((0x80 | (value >> 8) & 0x3F, value & 0xFF))
    return bytes((0xC0 | (value >> 24) & 0x3F, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


@dataclass
class Unit:
    """One DCVC-RT unit, its fields editable; ``raw`` holds bytes the syntax could not cut."""

    kind: int
    sps_id: int
    height: int = 0
    width: int = 0
    flags: int = 0
    qp: int = 0
    payload: bytes = b""
    length: int | None = None  # a payload length written as is
    auint_size: int | None = None  # non-minimal adaptive uint forms
    raw: bytes | None = None

    def to_bytes(self) -> bytes:
        if self.raw is not None:
            return self.raw
        head = bytes(((self.kind & 0x0F) << 4 | self.sps_id & 0x0F,))
        if self.kind == 0:
            return (head + write_auint(self.height, self.auint_size) + write_auint(self.width, self.auint_size)
                    + bytes((self.flags & 0xFF,)))
        length = len(self.payload) if self.length is None else self.length
        return head + bytes((self.qp & 0xFF,)) + write_auint(length, self.auint_size) + self.payload


def parse_units(data: bytes) -> list[Unit]:
    units, pos = [], 0
    while pos < len(data):
        kind, sps_id = data[pos] >> 4, data[pos] & 0x0F
        unit = None
        if kind == 0:
            h = read_auint(data, pos + 1)
            w = read_auint(data, h[1]) if h else None
            if w and w[1] < len(data):
                unit, end = Unit(0, sps_id, height=h[0], width=w[0], flags=data[w[1]]), w[1] + 1
        elif kind in (1, 2) and pos + 1 < len(data):
            n = read_auint(data, pos + 2)
            if n and n[1] + n[0] <= len(data):
                unit, end = Unit(kind, sps_id, qp=data[pos + 1], payload=data[n[1] : n[1] + n[0]]), n[1] + n[0]
        if unit is None:
            units.append(Unit(kind, sps_id, raw=data[pos:]))
            break
        units.append(unit)
        pos = end
    return units


def join_units(units: list[Unit]) -> bytes:
    return b"".join(u.to_bytes() for u in units)


# --- mutations -----------------------------------------------------------------------------------------------------

U8 = (0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF)
U32 = (0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)
I32 = (0, 1, -1, -2, 0x7FFFFFFF, -(1 << 31))
U64 = (0, 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
I64 = (0, 1, -1, (1 << 63) - 1, -(1 << 63), -(1 << 63) + 1)
FLOATS = (math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e-300, 0.11, 0.12, 15.999, 16.0, 1e308, -1.0)
STRINGS = (b"", b"x" * 255, b"\xff\xfe", b"cuda-f32", b"cpu-native", b"cpu-avx2-t2", b"dcvc-rt", b"compact-skip",
           b"tiny", b"synthetic-tiny-seed2", b"synthetic-tiny-seed1", b"synthetic-compact-skip-seed1",
           b"nvc-compact", b"synthetic-nope-seed1", b"yuv420p10le", b"aac")
SIZES = (0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 127, 128, 129, 16383, 16384, 16385, AUINT_MAX)
QPS = (0, 1, 62, 63, 64, 71, 72, 127, 128, 255)
#: how a mutation that failed is recorded (the campaign counts them: they are bugs of this script)
MUTATOR_ERROR = "mutator error"
#: struct format and its boundary values, per field type
BOUNDS = {"B": U8, "I": U32, "i": I32, "Q": U64, "q": I64}
#: fixed fields of the chunks whose layout does not depend on their contents: (offset, format)
FIELDS = {
    b"VPKT": ((0, "I"), (4, "q"), (12, "I"), (16, "B")),
    b"APKT": ((0, "B"), (1, "q"), (9, "q"), (17, "I"), (21, "B")),
    b"INDX": ((0, "I"),),
    b"TEND": ((0, "I"), (4, "Q")),
}


def _int_value(rng: random.Random, fmt: str, current: int | None) -> int:
    choices = list(BOUNDS[fmt])
    if current is not None:
        choices += [current + 1, current - 1, current + rng.randint(2, 40), current ^ (1 << rng.randrange(8))]
    bits = struct.calcsize(fmt) * 8
    value = rng.choice(choices)
    if fmt.islower():  # signed: wrap into range
        value = (value + (1 << bits - 1)) % (1 << bits) - (1 << bits - 1)
    else:
        value %= 1 << bits
    return value


def set_field(rng: random.Random, body: bytes, offset: int, fmt: str) -> tuple[bytes, str]:
    size = struct.calcsize(">" + fmt)
    if offset + size > len(body):
        return body, "field past the body"
    current = struct.unpack_from(">" + fmt, body, offset)[0]
    value = _int_value(rng, fmt, current)
    return body[:offset] + struct.pack(">" + fmt, value) + body[offset + size :], f"@{offset}:{fmt} {current}->{value}"


def head_fields(body: bytes) -> list[tuple[str, int, str]]:
    """(name, offset, format) of HEAD's fields; ``s`` is a str8 (``32s`` the sha)."""
    out, pos = [], 0
    layout = (("model_name", "s"), ("sha256", "32s"), ("config", "s"), ("numerics", "s"), ("width", "I"),
              ("height", "I"), ("chroma", "B"), ("matrix", "B"), ("range", "B"), ("primaries", "B"),
              ("transfer", "B"), ("rate_num", "I"), ("rate_den", "I"), ("tb_num", "I"), ("tb_den", "I"),
              ("frame_count", "I"), ("qp_i", "B"), ("qp_p", "B"), ("intra_period", "i"), ("reset_interval", "I"),
              ("two_ec", "B"), ("skip_threshold", "d"), ("source_pix_fmt", "s"), ("audio_tracks", "B"))
    for name, fmt in layout:
        if pos >= len(body):
            break
        out.append((name, pos, fmt))
        pos += 1 + body[pos] if fmt == "s" else struct.calcsize(">" + fmt)
    return out


def bytes_ops(rng: random.Random, data: bytes, start_bias: bool = False) -> tuple[bytes, str]:
    """Byte-level damage to any bytes: flips, sets, inserts, deletes, cuts, growth."""
    b = bytearray(data)

    def at() -> int:
        if start_bias and rng.random() < 0.6:
            return rng.randrange(min(len(b), 12))
        return rng.randrange(len(b))

    op = rng.choice(("flip", "flip", "set", "insert", "delete", "cut", "grow", "zero", "random")) if b else "grow"
    if op == "flip":
        n = rng.choice((1, 1, 2, 4))
        for _ in range(n):
            b[at()] ^= 1 << rng.randrange(8)
        return bytes(b), f"flip {n} bits"
    if op == "set":
        i = at()
        b[i] = rng.choice(U8 + (rng.randrange(256),))
        return bytes(b), f"set byte {i}"
    if op == "insert":
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 1, 2, 4, 16))))
        return bytes(b), f"insert at {i}"
    if op == "delete":
        i = at()
        del b[i : i + rng.choice((1, 1, 2, 4, 16))]
        return bytes(b), f"delete at {i}"
    if op == "cut":
        n = rng.choice((0, 1, 4, len(b) // 2, len(b) - 1, rng.randrange(len(b))))
        return bytes(b[:n]), f"cut to {n}"
    if op == "grow":
        extra = rng.choice((b"\0", b"\0" * 8, b"\xff" * 4,
                            bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))))
        return bytes(b) + extra, f"grow by {len(extra)}"
    if op == "zero":
        i = at()
        n = rng.choice((1, 4, 16, len(b)))
        b[i : i + n] = bytes(len(b[i : i + n]))
        return bytes(b), f"zero {n} at {i}"
    i = at()
    n = rng.choice((4, 16, len(b)))
    b[i : i + n] = bytes(rng.randrange(256) for _ in b[i : i + n])
    return bytes(b), f"random {n} at {i}"


@dataclass
class Case:
    data: bytes
    seed: str
    mutations: list[str]
    start: float = 0.0  # DecodeRange: seconds, frames
    frames: int | None = None


class Mutator:
    """Structure-aware mutations of the seed files; case ``i`` of seed ``s`` is always the same file."""

    def __init__(self, seeds: dict[str, bytes], seed: int) -> None:
        self.seeds = seeds
        self.names = sorted(seeds)
        self.seed = seed
        self.payloads = [u.payload for data in seeds.values() for c in parse_file(data).chunks if c.tag == b"VPKT"
                         for u in parse_units(c.body[VPKT_HEADER:]) if u.kind in (1, 2) and u.raw is None]
        self.ops: list[tuple[int, Callable[[random.Random, NvcFile], str]]] = [
            (30, self.payload), (12, self.frame_header), (10, self.sps), (8, self.unit_list), (7, self.vpkt_header),
            (9, self.head), (8, self.chunk_list), (6, self.chunk_body), (3, self.audio), (4, self.index),
            (4, self.resize),
        ]
        self._total = sum(w for w, _ in self.ops)

    def case(self, i: int) -> Case:
        rng = random.Random(f"nvc-fuzz/{self.seed}/{i}")
        name = rng.choice(self.names)
        f = parse_file(self.seeds[name])
        done = []
        for _ in range(rng.choices((1, 2, 3, 4), (70, 20, 6, 4))[0]):
            pick = rng.randrange(self._total)
            for weight, op in self.ops:
                if pick < weight:
                    try:
                        done.append(op(rng, f))
                    except Exception as exc:  # noqa: BLE001 - a bug of the fuzzer must not end a campaign
                        done.append(f"{MUTATOR_ERROR} in {op.__name__}: {exc!r}")
                    break
                pick -= weight
        if rng.random() < 0.9:
            reindex(f)
        else:
            done.append("index left stale")
        data = serialize(f)
        if rng.random() < 0.06:
            data, what = self.raw(rng, data, f)
            done.append(what)
        start, frames = 0.0, None
        roll = rng.random()
        if roll < 0.25:
            points = self.seek_points(f) if rng.random() < 0.7 else []
            start = rng.choice(points) if points else rng.choice((0.04, 0.08, 0.12, 1e-9, 100.0))
        elif roll < 0.3:
            frames = rng.choice((1, 2))
        return Case(data, name, done, start, frames)

    # -- helpers

    @staticmethod
    def _packets(f: NvcFile) -> list[Chunk]:
        return [c for c in f.chunks if c.tag == b"VPKT" and len(c.body) > VPKT_HEADER]

    def _units_of(self, rng: random.Random, f: NvcFile) -> tuple[Chunk, list[Unit]] | None:
        packets = self._packets(f)
        if not packets:
            return None
        c = rng.choice(packets)
        return c, parse_units(c.body[VPKT_HEADER:])

    @staticmethod
    def _store(c: Chunk, units: list[Unit]) -> None:
        c.body = c.body[:VPKT_HEADER] + join_units(units)

    @staticmethod
    def _flagged_sps(f: NvcFile, mask: int) -> dict[int, set[int]]:
        """Which sps ids have a flag (0x08 block skip, 0x10 motion), per VPKT chunk (as the decoder would
        see them in order)."""
        flags: dict[int, int] = {}
        out = {}
        for c in f.chunks:
            if c.tag != b"VPKT":
                continue
            for u in parse_units(c.body[VPKT_HEADER:]):
                if u.kind == 0 and u.raw is None:
                    flags[u.sps_id] = u.flags
            out[id(c)] = {i for i, fl in flags.items() if fl & mask}
        return out

    # -- operations on the DCVC-RT units

    def payload(self, rng: random.Random, f: NvcFile) -> str:
        """Damage a frame's rANS payload: the state, the skip_prob byte and map, the symbols, its length."""
        skip_ids = self._flagged_sps(f, 0x08)
        motion_ids = self._flagged_sps(f, 0x10)
        picked = self._units_of(rng, f)
        if picked is None:
            return "payload: no packet"
        c, units = picked
        frames = [u for u in units if u.kind in (1, 2) and u.raw is None]
        if not frames:
            return "payload: no frame unit"
        u = rng.choice(frames)
        skip = u.kind == 2 and u.sps_id in skip_ids.get(id(c), set())
        moves = u.kind == 2 and u.sps_id in motion_ids.get(id(c), set())
        roll = rng.random()
        if moves and roll < 0.3 and u.payload:
            # the motion part: its flag byte, the eight table rows, then the field's first symbols
            b = bytearray(u.payload)
            choice = rng.random()
            if choice < 0.3:
                b[0] = rng.choice((0, 1, 2, 255))
                what = f"motion flag {b[0]}"
            elif choice < 0.6 and len(b) > 1:
                i = rng.randrange(1, min(len(b), 9))
                b[i] = rng.choice((0, 1, 61, 62, 63, 64, 255))
                what = f"motion row {i - 1} -> {b[i]}"
            else:
                i = rng.randrange(0, min(len(b), 24))
                b[i] ^= 1 << rng.randrange(8)
                what = f"motion bit flip at {i}"
            u.payload = bytes(b)
        elif skip and roll < 0.3 and u.payload:
            # the block-skip part: skip_prob, then the rANS state and the first symbols, which are the map
            if rng.random() < 0.5:
                value = rng.choice((0, 1, 2, 32, 62, 63, 64, 65, 128, 255))
                u.payload = bytes((value,)) + u.payload[1:]
                what = f"skip_prob {value}"
            else:
                i = rng.randrange(1, min(len(u.payload), 9)) if len(u.payload) > 1 else 0
                b = bytearray(u.payload)
                b[i] ^= 1 << rng.randrange(8)
                u.payload = bytes(b)
                what = f"skip map bit flip at {i}"
        elif roll < 0.4 and self.payloads:
            u.payload = rng.choice(self.payloads)
            what = "payload of another frame"
        elif roll < 0.47:
            u.payload = rng.choice((b"", b"\0", b"\0" * 4, b"\xff" * 8, bytes(rng.randrange(256) for _ in range(64)),
                                    u.payload + u.payload, u.payload[len(u.payload) // 2 :]))
            what = "payload replaced"
        elif roll < 0.57:
            u.length = max(0, len(u.payload) + rng.choice((-4, -1, 1, 4, 1 << 20))) if rng.random() < 0.7 \
                else rng.choice((0, AUINT_MAX, 127, 128, 16383, 16384))
            what = f"payload length {u.length} for {len(u.payload)} bytes"
        else:
            u.payload, what = bytes_ops(rng, u.payload, start_bias=True)
            what = "payload " + what
        self._store(c, units)
        return f"{'P' if u.kind == 2 else 'I'}{' skip' if skip else ''}{' motion' if moves else ''} {what}"

    def frame_header(self, rng: random.Random, f: NvcFile) -> str:
        picked = self._units_of(rng, f)
        if picked is None:
            return "frame header: no packet"
        c, units = picked
        frames = [u for u in units if u.kind in (1, 2) and u.raw is None]
        if not frames:
            return "frame header: no frame unit"
        u = rng.choice(frames)
        which = rng.choice(("kind", "sps_id", "qp", "qp", "auint"))
        if which == "kind":
            u.kind = rng.choice((0, 1, 2, 3, 15))
        elif which == "sps_id":
            u.sps_id = rng.choice((0, 1, 2, 15, u.sps_id ^ 1))
        elif which == "qp":
            u.qp = rng.choice(QPS)
        else:
            u.auint_size = rng.choice((2, 4))
        self._store(c, units)
        return f"frame unit {which} -> type {u.kind} sps {u.sps_id} qp {u.qp} auint {u.auint_size or 'minimal'}"

    def sps(self, rng: random.Random, f: NvcFile) -> str:
        """Edit a parameter set: its frame size, its flags (block skip, two coders, reset, reserved), its id."""
        sets = [(c, units, u) for c in self._packets(f) for units in [parse_units(c.body[VPKT_HEADER:])]
                for u in units if u.kind == 0 and u.raw is None]
        if not sets:
            return "sps: none"
        c, units, u = rng.choice(sets)
        which = rng.choice(("height", "width", "size", "flags", "flags", "sps_id", "auint"))
        if which in ("height", "size"):
            u.height = rng.choice(SIZES + (u.height + 1, u.height - 1, u.height * 2))
        if which in ("width", "size"):
            u.width = rng.choice(SIZES + (u.width + 1, u.width - 1, u.width * 2))
        if which == "flags":
            u.flags = u.flags ^ (1 << rng.randrange(8)) if rng.random() < 0.8 else rng.randrange(256)
        elif which == "sps_id":
            u.sps_id = rng.choice((0, 1, 15, u.sps_id ^ 1))
        elif which == "auint":
            u.auint_size = rng.choice((2, 4))
        self._store(c, units)
        return f"sps {which} -> {u.height}x{u.width} flags 0x{u.flags:02x} id {u.sps_id}"

    def unit_list(self, rng: random.Random, f: NvcFile) -> str:
        """Remove, repeat, swap units in a packet, or carry one over to another packet."""
        packets = self._packets(f)
        if not packets:
            return "units: no packet"
        c = rng.choice(packets)
        units = parse_units(c.body[VPKT_HEADER:])
        op = rng.choice(("remove", "duplicate", "swap", "move", "copy"))
        i = rng.randrange(len(units))
        if op == "remove":
            del units[i]
        elif op == "duplicate":
            units.insert(i, replace(units[i]))
        elif op == "swap":
            j = rng.randrange(len(units))
            units[i], units[j] = units[j], units[i]
        else:
            other = rng.choice(packets)
            other_units = parse_units(other.body[VPKT_HEADER:])
            other_units.insert(rng.randrange(len(other_units) + 1), replace(units[i]))
            if op == "move" and other is not c:
                del units[i]
            if other is not c:
                self._store(other, other_units)
            else:
                units = other_units
        self._store(c, units)
        return f"units {op}"

    def resize(self, rng: random.Random, f: NvcFile) -> str:
        """Give the header and every parameter set one other frame size, so that they still agree.

        Sizes within the same 16-pixel padding decode the same payloads: the frame decoder then
        crops to odd and tiny sizes it never saw coded.
        """
        heads = [c for c in f.chunks if c.tag == b"HEAD"]
        if not heads:
            return "resize: no header"
        fields = {name: offset for name, offset, _ in head_fields(heads[0].body)}
        if "height" not in fields:
            return "resize: short header"
        old_w, old_h = struct.unpack_from(">II", heads[0].body, fields["width"])
        pad_w, pad_h = -(-old_w // 16) * 16, -(-old_h // 16) * 16
        w = rng.choice((1, 2, 15, 17, pad_w - 1, pad_w, pad_w + 1, rng.randint(pad_w - 15, pad_w),
                        rng.randint(pad_w - 15, pad_w), 16384))
        h = rng.choice((1, 2, 15, 17, pad_h - 1, pad_h, pad_h + 1, rng.randint(pad_h - 15, pad_h),
                        rng.randint(pad_h - 15, pad_h), 16384))
        w, h = min(max(w, 1), 0xFFFFFFFF), min(max(h, 1), 0xFFFFFFFF)
        body = heads[0].body
        heads[0].body = body[: fields["width"]] + struct.pack(">II", w, h) + body[fields["width"] + 8 :]
        for c in self._packets(f):
            units = parse_units(c.body[VPKT_HEADER:])
            for u in units:
                if u.kind == 0 and u.raw is None:
                    u.height, u.width = h, w
            self._store(c, units)
        return f"resize {old_w}x{old_h} -> {w}x{h}"

    def vpkt_header(self, rng: random.Random, f: NvcFile) -> str:
        packets = self._packets(f)
        if not packets:
            return "vpkt: none"
        c = rng.choice(packets)
        offset, fmt = rng.choice(FIELDS[b"VPKT"])
        c.body, what = set_field(rng, c.body, offset, fmt)
        return f"VPKT {what}"

    # -- operations on the other chunks

    def head(self, rng: random.Random, f: NvcFile) -> str:
        heads = [c for c in f.chunks if c.tag == b"HEAD"]
        if not heads:
            return "head: none"
        c = heads[0]
        fields = head_fields(c.body)
        if not fields:
            return "head: empty"
        name, offset, fmt = rng.choice(fields)
        if fmt == "s":
            new = rng.choice(STRINGS) if rng.random() < 0.7 else bytes_ops(rng, c.body[offset + 1 :
                                                                             offset + 1 + c.body[offset]])[0][:255]
            c.body = c.body[:offset] + bytes((len(new),)) + new + c.body[offset + 1 + c.body[offset] :]
            return f"HEAD {name} = {new[:40]!r}"
        if fmt == "d":
            value = rng.choice(FLOATS)
            c.body = c.body[:offset] + struct.pack(">d", value) + c.body[offset + 8 :]
            return f"HEAD {name} = {value}"
        if fmt == "32s":
            c.body = c.body[:offset] + bytes(32) + c.body[offset + 32 :]
            return "HEAD sha256 zeroed"
        c.body, what = set_field(rng, c.body, offset, fmt)
        return f"HEAD {name} {what}"

    def chunk_list(self, rng: random.Random, f: NvcFile) -> str:
        """Remove, repeat, swap, retag chunks, or add an unknown one."""
        if not f.chunks:
            return "chunks: none"
        op = rng.choice(("remove", "duplicate", "swap", "retag", "ancillary", "critical"))
        i = rng.randrange(len(f.chunks))
        if op == "remove":
            tag = f.chunks.pop(i).tag
        elif op == "duplicate":
            tag = f.chunks[i].tag
            f.chunks.insert(rng.randrange(len(f.chunks) + 1), replace(f.chunks[i]))
        elif op == "swap":
            j = rng.randrange(len(f.chunks))
            f.chunks[i], f.chunks[j] = f.chunks[j], f.chunks[i]
            tag = f.chunks[i].tag + b"<->" + f.chunks[j].tag
        elif op == "retag":
            tag = f.chunks[i].tag
            f.chunks[i].tag = rng.choice(TAGS)
        else:
            tag = b"zzTX" if op == "ancillary" else b"ZZTX"
            size = rng.choice((0, 1, 100, 4096))
            f.chunks.insert(rng.randrange(len(f.chunks) + 1), Chunk(tag, bytes(rng.randrange(256)
                                                                               for _ in range(size))))
        return f"chunk {op} {tag.decode(errors='replace')}"

    def chunk_body(self, rng: random.Random, f: NvcFile) -> str:
        if not f.chunks:
            return "body: none"
        c = rng.choice(f.chunks)
        c.body, what = bytes_ops(rng, c.body)
        return f"{c.tag.decode(errors='replace')} body {what}"

    def audio(self, rng: random.Random, f: NvcFile) -> str:
        chunks = [c for c in f.chunks if c.tag in (b"APKT", b"AUDS")]
        if not chunks:
            return "audio: none"
        c = rng.choice(chunks)
        if c.tag == b"APKT":
            offset, fmt = rng.choice(FIELDS[b"APKT"])
        else:
            codec_end = 1 + c.body[0] if c.body else 0
            offset, fmt = rng.choice(((codec_end, "I"), (codec_end + 4, "B"), (codec_end + 5, "I"),
                                      (codec_end + 9, "I"), (codec_end + 13, "I")))
        c.body, what = set_field(rng, c.body, offset, fmt)
        return f"{c.tag.decode()} {what}"

    def index(self, rng: random.Random, f: NvcFile) -> str:
        """Edit INDX or TEND after the reindexing would have fixed them: these edits are kept.

        A seek (``--ss``) trusts the entries that only a sequential read checks, so most edits go to
        an entry past the first: its offset sent to another chunk, into a chunk, or past any file.
        """
        chunks = [c for c in f.chunks if c.tag in (b"INDX", b"TEND")]
        if not chunks:
            return "index: none"
        reindex(f)
        index = [c for c in chunks if c.tag == b"INDX" and len(c.body) >= 24]
        c = rng.choice(index) if index and rng.random() < 0.75 else rng.choice(chunks)
        c.pinned = True
        if c.tag != b"INDX" or len(c.body) < 24:
            c.body, what = set_field(rng, c.body, *rng.choice(FIELDS[c.tag]))
            return f"{c.tag.decode()} {what} (kept)"
        count = (len(c.body) - 4) // 20
        k = count - 1 if rng.random() < 0.6 else rng.randrange(count)
        entry = 4 + 20 * k
        which = rng.choice(("offset", "offset", "offset", "pts", "frame"))
        if which == "offset" and rng.random() < 0.5:
            offsets = _layout(f)
            target = rng.choice(offsets) + rng.choice((0, 0, 0, 1, 4, 8, 12, -1))
            c.body = c.body[: entry + 12] + struct.pack(">Q", max(target, 0)) + c.body[entry + 20 :]
            return f"INDX entry {k} offset -> {target} (kept)"
        field_at = {"frame": (entry, "I"), "pts": (entry + 4, "q"), "offset": (entry + 12, "Q")}[which]
        c.body, what = set_field(rng, c.body, *field_at)
        return f"INDX entry {k} {which} {what} (kept)"

    def seek_points(self, f: NvcFile) -> list[float]:
        """The times of the file's intra frames past the first (and a tick either side), for ``--ss``."""
        heads = [c for c in f.chunks if c.tag == b"HEAD"]
        fields = {name: offset for name, offset, _ in head_fields(heads[0].body)} if heads else {}
        if "tb_den" not in fields:
            return []
        num, den = struct.unpack_from(">II", heads[0].body, fields["tb_num"])
        if not num or not den:
            return []
        points = []
        for c in self._packets(f):
            index, pts = struct.unpack_from(">Iq", c.body)
            if c.body[16] & 1 and index > 0:
                points += [(pts + d) * num / den for d in (0, 1, -1) if pts + d > 0]
        return points

    @staticmethod
    def raw(rng: random.Random, data: bytes, f: NvcFile) -> tuple[bytes, str]:
        """Edits of the written bytes: the framing itself (length fields, version, cuts, trailing bytes)."""
        op = rng.choice(("cut", "length", "length", "version", "append", "flip"))
        offsets = _layout(f)
        if op == "cut":
            n = rng.randrange(len(data))
            return data[:n], f"file cut at {n}"
        if op == "length" and offsets:
            k = rng.randrange(len(offsets))
            tag = f.chunks[k].tag
            current = len(f.chunks[k].body)
            value = rng.choice((0, 1, current - 1, current + 1, current + 12, MAX_BODY.get(tag, 1 << 20),
                                MAX_BODY.get(tag, 1 << 20) + 1, 0x7FFFFFFF, 0xFFFFFFFF)) & 0xFFFFFFFF
            at = offsets[k]
            return data[:at] + struct.pack(">I", value) + data[at + 4 :], f"length of {tag!r} {current}->{value}"
        if op == "version":
            i = rng.choice((8, 9))
            return data[:i] + bytes((rng.choice((0, 1, 2, 255)),)) + data[i + 1 :], f"version byte {i}"
        if op == "append":
            return data + rng.choice((b"\0", b"x" * 24, data[-24:])), "bytes after the end"
        i = rng.randrange(len(data))
        return data[:i] + bytes((data[i] ^ 1 << rng.randrange(8),)) + data[i + 1 :], f"raw flip at {i}"


# --- the target: nvc decode in-process ----------------------------------------------------------------------------


class OracleError(AssertionError):
    """A decode that went through but produced something a valid file never does."""


class ModelCache:
    """The model a header names, found as ``nvc decode`` finds it (``resolve_stream_model``), kept."""

    def __init__(self, size: int = 6) -> None:
        self._models: OrderedDict[str, CodecModel] = OrderedDict()
        self.size = size

    def get(self, name: str) -> CodecModel:
        from nvcodec.models.registry import resolve_stream_model

        if name not in self._models:
            self._models[name] = resolve_stream_model(name)
            while len(self._models) > self.size:
                self._models.popitem(last=False)
        self._models.move_to_end(name)
        return self._models[name]


@contextlib.contextmanager
def fast_decoding(one_thread: bool = True) -> Iterator[None]:
    """Decode many small files quickly: CDF tables built once per model, and (``one_thread``) one
    intra-op thread instead of the CPU profile's two; both undone on exit.

    The tables are a pure function of the weights and building them costs more than decoding a
    48x32 clip, while the stream is what is fuzzed.  The campaign shares a 2-core machine: with two
    threads every small convolution waits at a barrier for a thread the other core's work has
    descheduled, and decoding is three times slower.  Neither changes which code runs on a
    stream's bytes; one thread may change float rounding, which a fuzz case does not check.
    """
    from nvcodec import numerics as profiles
    from nvcodec.codec import sequence

    original, saved = sequence._contexts, dict(profiles.PROFILES)
    cache: OrderedDict[tuple, tuple] = OrderedDict()

    def cached(model: CodecModel, skip_threshold: float | None) -> tuple:
        key = (id(model), model.sha256, skip_threshold)
        if key not in cache:
            cache[key] = original(model, skip_threshold)
            while len(cache) > 16:
                cache.popitem(last=False)
        return cache[key]

    sequence._contexts = cached
    if one_thread:
        for name, profile in saved.items():
            if profile.threads is not None:
                profiles.PROFILES[name] = replace(profile, threads=1)
    try:
        yield
    finally:
        sequence._contexts = original
        profiles.PROFILES.clear()
        profiles.PROFILES.update(saved)


class CheckingSink:
    """Hands frames on to a real sink, refusing any frame unlike the header's (size, chroma, type)."""

    def __init__(self, header: Header, inner: VideoSink) -> None:
        from nvcodec.media import chroma_size

        self.inner = inner
        ch, cw = chroma_size(header.height, header.width, header.chroma)
        self.want = ([(header.height, header.width), (ch, cw), (ch, cw)], header.chroma)

    def write_video(self, planes: Planes, pts: int, duration: int) -> None:
        planes_ok = all(p.dtype == np.uint8 for p in (planes.y, planes.u, planes.v))
        got = ([p.shape for p in (planes.y, planes.u, planes.v)], planes.chroma)
        if got != self.want or not planes_ok:
            raise OracleError(f"decoded frame {got} where the header says {self.want}")
        self.inner.write_video(planes, pts, duration)

    def write_audio(self, packet: AudioPacket) -> None:
        self.inner.write_audio(packet)

    def close(self) -> None:
        self.inner.close()

    def abort(self) -> None:
        self.inner.abort()


def open_sink(header: Header, reader: NvcReader, kind: str) -> CheckingSink:
    """``y4m``: the y4m writer into memory; ``mkv``: FFmpeg's Matroska muxer (ffv1, audio remuxed) on disk."""
    from nvcodec import transcode
    from nvcodec.io import OutputOptions
    from nvcodec.io import open_sink as library_sink
    from nvcodec.io.sink import Y4mSink

    desc = transcode.description(header, reader)
    if kind == "y4m":
        return CheckingSink(header, Y4mSink(desc, io.BytesIO()))
    folder = Path(tempfile.gettempdir()) / f"nvc-fuzz-{os.getpid()}"
    if not folder.exists():
        folder.mkdir()
        atexit.register(shutil.rmtree, folder, True)
    return CheckingSink(header, library_sink(str(folder / "out.mkv"), desc, OutputOptions()))


def decode_file(data: bytes, models: ModelCache, start: float = 0.0, frames: int | None = None,
                sink_kind: str = "y4m") -> int:
    """Decode as ``nvc decode IN OUT.y4m`` (or ``OUT.mkv``) does; the number of frames written."""
    from nvcodec import transcode
    from nvcodec.container import NvcReader
    from nvcodec.errors import InputError

    reader = NvcReader(io.BytesIO(data))
    header = reader.header
    model = models.get(header.model_name)
    transcode.check_model(header, model)
    sink = open_sink(header, reader, sink_kind)
    written = 0
    ok = False
    try:
        selection = transcode.DecodeRange(start=start, frames=frames)
        for _ in transcode.decode(reader, model, sink, "auto", selection):
            written += 1
        if written == 0:
            raise InputError("no frames to decode in the selected range")
        sink.close()
        ok = True
    finally:
        if not ok:
            sink.abort()
    return written


@dataclass
class Outcome:
    outcome: str  # ok, refused, finding
    kind: str = ""  # refusal: the error type; finding: exception, memory, oracle, hang, crash
    error: str = ""
    message: str = ""
    where: str = ""
    traceback: str = ""
    seconds: float = 0.0

    @property
    def signature(self) -> str:
        return f"{self.kind}:{self.error}:{self.where}"


def _where(tb_lines: list[traceback.FrameSummary]) -> str:
    """The innermost frame in nvc's own code (the library, or this script as a last resort)."""
    for frame in reversed(tb_lines):
        if "/nvcodec/" in frame.filename:
            return f"{frame.filename.split('/nvcodec/')[-1]}:{frame.lineno} {frame.name}"
    last = tb_lines[-1] if tb_lines else None
    return f"{Path(last.filename).name}:{last.lineno} {last.name}" if last else "?"


def classify(exc: BaseException) -> Outcome:
    from nvcodec.errors import NvcError

    if isinstance(exc, NvcError):
        return Outcome("refused", type(exc).__name__, type(exc).__name__, str(exc)[:300])
    frames = traceback.extract_tb(exc.__traceback__)
    text = "".join(traceback.format_exception(exc))[-6000:]
    memory = isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "alloc" in str(exc).lower())
    kind = "memory" if memory else "oracle" if isinstance(exc, OracleError) else "exception"
    return Outcome("finding", kind, type(exc).__name__, str(exc)[:500], _where(frames), text)


def run_case(data: bytes, models: ModelCache, start: float = 0.0, frames: int | None = None,
             sink_kind: str = "y4m") -> Outcome:
    t0 = time.perf_counter()
    try:
        decode_file(data, models, start, frames, sink_kind)
        out = Outcome("ok")
    except Exception as exc:  # noqa: BLE001 - sorting every exception is the point
        out = classify(exc)
    out.seconds = time.perf_counter() - t0
    return out


# --- worker process: one decode at a time, limited -----------------------------------------------------------


def _vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def worker_main(memory_mb: int, time_limit: float, fault_path: str, threads: int = 1) -> None:
    """Serve cases on stdin, one JSON line per case on the original stdout.

    The address-space limit is set once the models are loaded, ``memory_mb`` above what the
    process holds then; a case that overruns the time limit gets every thread's stack dumped by
    faulthandler and the process ended, which the parent reads as a hang.
    """
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything printed goes to the log, never into the replies
    logging.basicConfig(level=logging.ERROR)
    fault = open(fault_path, "w")  # noqa: SIM115 - lives as long as the process
    faulthandler.enable(fault, all_threads=True)
    models = ModelCache()
    for spec in ("synthetic-tiny-seed1", "synthetic-compact-skip-seed1"):
        models.get(spec)
    # what the first case would import, imported now: the time limit is for decoding
    from nvcodec import transcode  # noqa: F401
    from nvcodec.io import sink  # noqa: F401
    with fast_decoding(threads == 1):
        limit = _vm_size() + memory_mb * (1 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        reply.write(json.dumps({"ready": True, "vm_limit": limit}) + "\n")
        reply.flush()
        stdin = sys.stdin.buffer
        while True:
            head = stdin.read(4)
            if len(head) < 4:
                return
            meta = json.loads(stdin.read(struct.unpack(">I", head)[0]))
            data = stdin.read(meta["size"])
            faulthandler.dump_traceback_later(time_limit, exit=True, file=fault)
            out = run_case(data, models, meta.get("start", 0.0), meta.get("frames"), meta.get("sink", "y4m"))
            faulthandler.cancel_dump_traceback_later()
            reply.write(json.dumps(out.__dict__) + "\n")
            reply.flush()


class Worker:
    """The parent's handle on a worker; restarted after a death, a hang or every ``recycle`` cases."""

    def __init__(self, out: Path, memory_mb: int, time_limit: float, recycle: int, threads: int = 1,
                 sink: str = "y4m") -> None:
        self.out, self.memory_mb, self.time_limit, self.recycle = out, memory_mb, time_limit, recycle
        self.threads, self.sink = threads, sink
        self.proc: subprocess.Popen | None = None
        self.served = 0
        self.fault_path = out / "worker-fault.txt"
        self.vm_limit = 0

    def start(self) -> None:
        log = open(self.out / "worker.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--worker", "--memory-mb", str(self.memory_mb),
             "--time-limit", str(self.time_limit), "--fault-file", str(self.fault_path),
             "--threads", str(self.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, bufsize=0)
        log.close()
        self.served = 0
        ready = self._line(120.0)
        if ready is None:
            raise RuntimeError(f"fuzz worker did not start: see {self.out / 'worker.log'}")
        self.vm_limit = json.loads(ready)["vm_limit"]

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def _line(self, timeout: float) -> str | None:
        assert self.proc is not None and self.proc.stdout is not None
        buf = b""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            piece = os.read(fd, 65536)
            if not piece:
                return None
            buf += piece
        return buf.decode()

    def run(self, case: Case) -> Outcome:
        if self.proc is None or self.served >= self.recycle:
            self.stop()
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        meta = json.dumps({"size": len(case.data), "start": case.start, "frames": case.frames,
                           "sink": self.sink}).encode()
        t0 = time.perf_counter()
        try:
            self.proc.stdin.write(struct.pack(">I", len(meta)) + meta + case.data)
            line = self._line(self.time_limit + 20.0)
        except BrokenPipeError:
            line = None
        self.served += 1
        if line is not None:
            return Outcome(**json.loads(line))
        # dead or stuck: faulthandler wrote the stacks on a signal or at the time limit
        seconds = time.perf_counter() - t0
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        self.proc = None
        dump = self.fault_path.read_text(errors="replace") if self.fault_path.exists() else ""
        self.fault_path.write_text("")
        hang = "Timeout" in dump or seconds >= self.time_limit
        # faulthandler lists the innermost call first: 'File "/.../nvcodec/x.py", line 12 in name'
        frame = re.search(r'File "[^"]*/nvcodec/([^"]+)", line (\d+) in (\S+)', dump)
        where = f"{frame[1]}:{frame[2]} {frame[3]}" if frame else "?"
        return Outcome("finding", "hang" if hang else "crash", f"exit {code}",
                       f"{'over the time limit' if hang else 'worker died'} after {seconds:.1f} s",
                       where, dump[-6000:], seconds)


# --- the campaign ----------------------------------------------------------------------------------------------


def _save(folder: Path, i: int, case: Case, out: Outcome) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"case-{i}.nvc"
    path.write_bytes(case.data)
    (folder / f"case-{i}.json").write_text(json.dumps(
        {"case": i, "seed_file": case.seed, "mutations": case.mutations, "start": case.start,
         "frames": case.frames, **out.__dict__}, indent=1))
    return str(path)


def campaign(cases: int, seed: int, out: Path, memory_mb: int, time_limit: float, keep: int = 3,
             first_case: int = 0, recycle: int = 2000, progress: bool = True, threads: int = 1,
             sink: str = "y4m") -> dict:
    """Run cases ``first_case`` .. ``first_case + cases - 1`` of ``seed``; the summary as a dict.

    Refusals are counted by reason (numbers blanked) as well as by type, so that the summary shows
    how deep the cases got: container, units, rANS coder or frame decoder.  ``OUT/summary.json`` is
    rewritten every 1000 cases, so a campaign cut short still leaves what it found.
    """
    out.mkdir(parents=True, exist_ok=True)
    t_seeds = time.perf_counter()
    seeds = make_seeds()
    (out / "seeds").mkdir(exist_ok=True)
    for name, data in seeds.items():
        (out / "seeds" / f"{name}.nvc").write_bytes(data)
    seed_seconds = time.perf_counter() - t_seeds
    mutator = Mutator(seeds, seed)
    worker = Worker(out, memory_mb, time_limit, recycle, threads, sink)
    counts: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    findings: dict[str, dict] = {}
    mutator_errors: list[str] = []
    slowest = (0.0, -1)
    t0 = time.perf_counter()

    def summary(done: int) -> dict:
        seconds = time.perf_counter() - t0
        return {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "engine": "seeded structure-aware mutation loop (bench/fuzz_nvc.py)",
            "complete": done == cases, "seed": seed, "cases": done, "first_case": first_case,
            "seconds": round(seconds, 1), "cases_per_s": round(done / seconds, 2) if seconds else None,
            "seed_build_seconds": round(seed_seconds, 1), "time_limit_s": time_limit, "memory_limit_mb": memory_mb,
            "threads": threads, "sink": sink, "worker_vm_limit_bytes": worker.vm_limit,
            "slowest_case": {"seconds": round(slowest[0], 3), "case": slowest[1]},
            "seeds": seed_report(seeds), "outcomes": dict(counts), "refusals": dict(refusals.most_common()),
            "refusal_reasons": dict(reasons.most_common(25)),
            "mutator_errors": {"count": len(mutator_errors), "first": mutator_errors[:5]},
            "findings": sorted(findings.values(), key=lambda e: -e["count"]),
            "out": str(out),
        }

    done = 0
    try:
        for i in range(first_case, first_case + cases):
            case = mutator.case(i)
            mutator_errors += [f"case {i}: {m}" for m in case.mutations if m.startswith(MUTATOR_ERROR)]
            result = worker.run(case)
            counts[result.outcome] += 1
            if result.seconds > slowest[0]:
                slowest = (result.seconds, i)
            if result.outcome == "refused":
                refusals[result.kind] += 1
                reasons[re.sub(r"\d+", "N", result.message.split(" (at byte")[0])[:80]] += 1
            elif result.outcome == "finding":
                sig = result.signature
                entry = findings.setdefault(sig, {
                    "signature": sig, "kind": result.kind, "error": result.error, "message": result.message,
                    "where": result.where, "count": 0, "first_case": i, "reproducers": []})
                entry["count"] += 1
                if len(entry["reproducers"]) < keep:
                    ident = hashlib.sha1(sig.encode()).hexdigest()[:10]
                    entry["reproducers"].append(_save(out / "findings" / ident, i, case, result))
            done += 1
            if done % 1000 == 0:
                (out / "summary.json").write_text(json.dumps(summary(done), indent=1))
                if progress:
                    print(json.dumps({"done": done, "cases_per_s": summary(done)["cases_per_s"], **counts,
                                      "signatures": len(findings)}), file=sys.stderr, flush=True)
    finally:
        worker.stop()
        (out / "summary.json").write_text(json.dumps(summary(done), indent=1))
    return summary(done)


def seed_report(seeds: dict[str, bytes]) -> dict:
    """What the seeds exercise: frames, intra frames, P frames with a block-skip map or a motion field, audio
    packets."""
    report = {}
    for name, data in seeds.items():
        f = parse_file(data)
        skip_ids = Mutator._flagged_sps(f, 0x08)
        motion_ids = Mutator._flagged_sps(f, 0x10)
        stats = Counter()
        for c in f.chunks:
            stats[c.tag.decode()] += 1
            if c.tag == b"VPKT":
                for u in parse_units(c.body[VPKT_HEADER:]):
                    skip_at = 0
                    if u.kind == 2 and u.sps_id in motion_ids[id(c)]:
                        vectors = u.payload[:1] == b"\1"
                        stats["P with motion field" if vectors else "P motion, all zero"] += 1
                        skip_at = 9 if vectors else 1
                    if u.kind == 2 and u.sps_id in skip_ids[id(c)]:
                        mapped = u.payload[skip_at:skip_at + 1] != b"\0"
                        stats["P with skip map" if mapped else "P skip, no map"] += 1
                    elif u.kind in (1, 2):
                        stats["I" if u.kind == 1 else "P"] += 1
        report[name] = {"bytes": len(data), **stats}
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--first-case", type=int, default=0, help="case number to start at (split a campaign)")
    p.add_argument("--out", type=Path, default=Path("/tmp/fuzz_out"))
    p.add_argument("--time-limit", type=float, default=5.0, help="seconds per case")
    p.add_argument("--memory-mb", type=int, default=3072, help="address space a case may add to the worker's")
    p.add_argument("--threads", type=int, choices=(1, 0), default=1,
                   help="1: one intra-op thread (see fast_decoding); 0: the stream's numerics profile as is")
    p.add_argument("--sink", choices=("y4m", "mkv"), default="y4m",
                   help="y4m: nvc's own writer, into memory; mkv: FFmpeg's muxer with the audio tracks")
    p.add_argument("--keep", type=int, default=3, help="reproducers saved per finding")
    p.add_argument("--replay", type=Path, help="decode this one file in-process and print its outcome")
    p.add_argument("--start", type=float, default=0.0, help="with --replay: --ss")
    p.add_argument("--frames", type=int, help="with --replay: --frames")
    p.add_argument("--emit-case", type=int, help="write case N of --seed to OUT/case-N.nvc and its mutations")
    p.add_argument("--seeds-only", action="store_true", help="build the seeds, print what they hold")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fault-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        worker_main(args.memory_mb, args.time_limit, args.fault_file, args.threads)
        return 0
    if args.replay:
        with fast_decoding(args.threads == 1):
            out = run_case(args.replay.read_bytes(), ModelCache(), args.start, args.frames, args.sink)
        print(json.dumps(out.__dict__, indent=1))
        return 0 if out.outcome != "finding" else 1
    if args.seeds_only:
        print(json.dumps(seed_report(make_seeds()), indent=1))
        return 0
    if args.emit_case is not None:
        case = Mutator(make_seeds(), args.seed).case(args.emit_case)
        args.out.mkdir(parents=True, exist_ok=True)
        path = args.out / f"case-{args.emit_case}.nvc"
        path.write_bytes(case.data)
        print(json.dumps({"file": str(path), "seed_file": case.seed, "mutations": case.mutations,
                          "start": case.start, "frames": case.frames}))
        return 0
    summary = campaign(args.cases, args.seed, args.out, args.memory_mb, args.time_limit, args.keep, args.first_case,
                       threads=args.threads, sink=args.sink)
    print(json.dumps(summary, indent=1))
    return 0 if not summary["findings"] else 1


if __name__ == "__main__":
    sys.exit(main())
