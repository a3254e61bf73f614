"""The .nvc file layout: chunk framing, the header, packets, the index and the trailer.

``docs/FORMAT.md`` describes the same bytes for a reader of the format; this
module is the one place that writes and parses them.  The layout follows PNG's
chunk framing because it solves the same problems::

    file     := signature version_major:u8 version_minor:u8 chunk*
    chunk    := length:u32 tag:4 bytes body:length bytes crc:u32     CRC-32 of tag + body
    chunks   := HEAD AUDS* (VPKT | APKT)* INDX TEND

Every integer is big-endian.  Every chunk carries its own CRC, so a flipped
byte anywhere is found at the chunk it damages; every length is checked
against a per-tag limit before anything is read or allocated.  The trailer
(``TEND``, fixed size, last in the file) lets a seekable reader find the index
without scanning, while a reader on a pipe simply meets the index at the end.
"""

from __future__ import annotations

import enum
import math
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction

from nvcodec.errors import StreamError
from nvcodec.media import (  # noqa: F401 - the audio and colour types are part of the container's API
    CHROMA_FORMATS,
    MAX_DIMENSION,
    AudioPacket,
    AudioTrack,
    ChromaFormat,
    ColorInfo,
)
from nvcodec.settings import CodingSettings

SIGNATURE = b"\x8bNVC\r\n\x1a\n"
VERSION = (1, 0)
#: signature plus the two version bytes
PREAMBLE_SIZE = len(SIGNATURE) + 2
CHUNK_OVERHEAD = 12  # length, tag, crc
#: HEAD's frame_count before the writer knows it (a pipe): read it from TEND instead
UNKNOWN_COUNT = 0xFFFFFFFF
#: a header's qp_p as written before nvc resolved the P qp itself: "the same as qp_i"
LEGACY_SAME_QP = 255
NO_TIMESTAMP = -(1 << 63)
#: offsets are u64 in the file, but a file object seeks only to signed 64-bit positions (this leaves room
#: for where the .nvc data starts in its file)
MAX_OFFSET = (1 << 62) - 1


class Tag(bytes, enum.Enum):
    HEAD = b"HEAD"
    AUDS = b"AUDS"
    VPKT = b"VPKT"
    APKT = b"APKT"
    INDX = b"INDX"
    TEND = b"TEND"


#: the largest body each chunk may declare: checked before reading it
MAX_BODY: dict[Tag, int] = {
    Tag.HEAD: 4096,
    Tag.AUDS: 1 << 20,
    Tag.VPKT: 1 << 26,  # far above a 16K frame at qp 63
    Tag.APKT: 1 << 24,
    Tag.INDX: 4 + 20 * (1 << 22),
    Tag.TEND: 12,
}
#: ancillary chunks (first tag byte lower-case) from later versions are skipped up to this size
MAX_ANCILLARY_BODY = 1 << 20
MAX_AUDIO_TRACKS = 16
MAX_AUDIO_PARAMS = (1 << 20) - 64
TEND_SIZE = CHUNK_OVERHEAD + MAX_BODY[Tag.TEND]

CHROMA_CODES: dict[ChromaFormat, int] = {"420": 0, "444": 1}


def crc32(tag: bytes, body: bytes | memoryview) -> int:
    return zlib.crc32(body, zlib.crc32(tag)) & 0xFFFFFFFF


def chunk_bytes(tag: Tag, body: bytes) -> bytes:
    if len(body) > MAX_BODY[tag]:
        raise ValueError(f"{tag.value.decode()} body of {len(body)} bytes exceeds {MAX_BODY[tag]}")
    return struct.pack(">I", len(body)) + tag.value + body + struct.pack(">I", crc32(tag.value, body))


@dataclass(frozen=True)
class Header:
    """Everything a decoder must know before the first packet."""

    model_name: str
    model_sha256: str  # 64 hex digits
    model_config: str
    numerics: str
    width: int
    height: int
    chroma: ChromaFormat
    color: ColorInfo
    frame_rate: Fraction
    time_base: Fraction
    frame_count: int | None  # None: not known when the header was written
    settings: CodingSettings
    source_pix_fmt: str = ""
    audio_tracks: int = 0


@dataclass(frozen=True)
class VideoPacket:
    index: int  # frame number, display order
    pts: int
    duration: int
    intra: bool
    units: bytes  # DCVC-RT units: SPS units (if any) then one frame unit
    offset: int = -1  # byte offset of the chunk in the file, when known


@dataclass(frozen=True)
class IndexEntry:
    """A random access point: an intra frame and where its VPKT chunk starts."""

    frame: int
    pts: int
    offset: int


@dataclass(frozen=True)
class Trailer:
    frame_count: int
    index_offset: int  # 0: no index


# --- field helpers ---------------------------------------------------------------------------------------------


class _Reader:
    """Reads fields from a chunk body; never past its end (raises StreamError with the file offset)."""

    def __init__(self, body: bytes, tag: Tag, offset: int) -> None:
        self.body, self.tag, self.base, self.pos = body, tag, offset, 0

    def take(self, n: int) -> bytes:
        if n > len(self.body) - self.pos:
            raise StreamError(f"{self.tag.value.decode()} chunk is too short", self.base + self.pos)
        out = self.body[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack(">" + fmt, self.take(struct.calcsize(">" + fmt)))

    def u8(self) -> int:
        return self.unpack("B")[0]

    def u32(self) -> int:
        return self.unpack("I")[0]

    def str8(self) -> str:
        raw = self.take(self.u8())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StreamError(f"{self.tag.value.decode()} chunk has a string that is not UTF-8",
                              self.base + self.pos) from None

    def rest(self) -> bytes:
        out = self.body[self.pos :]
        self.pos = len(self.body)
        return out

    def end(self) -> None:
        if self.pos != len(self.body):
            raise StreamError(f"{self.tag.value.decode()} chunk has {len(self.body) - self.pos} unexpected bytes",
                              self.base + self.pos)

    def fail(self, what: str) -> StreamError:
        return StreamError(f"{self.tag.value.decode()} chunk: {what}", self.base)


def _str8(text: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise ValueError(f"string longer than 255 bytes: {text[:40]!r}...")
    return bytes((len(raw),)) + raw


def _rational(value: Fraction, what: str) -> bytes:
    value = Fraction(value)
    if not (0 < value.numerator <= 0xFFFFFFFF and 0 < value.denominator <= 0xFFFFFFFF):
        value = value.limit_denominator(0xFFFF)
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return struct.pack(">II", value.numerator, value.denominator)


def _read_rational(r: _Reader, what: str) -> Fraction:
    num, den = r.unpack("II")
    if num == 0 or den == 0:
        raise r.fail(f"{what} {num}/{den} is not a positive rational")
    return Fraction(num, den)


# --- HEAD -------------------------------------------------------------------------------------------------------


def encode_header(h: Header) -> bytes:
    s = h.settings
    two_ec = 2 if s.two_ec is None else int(s.two_ec)
    skip = math.nan if s.skip_threshold is None else float(s.skip_threshold)
    body = (
        _str8(h.model_name)
        + bytes.fromhex(h.model_sha256)
        + _str8(h.model_config)
        + _str8(h.numerics)
        + struct.pack(">IIB", h.width, h.height, CHROMA_CODES[h.chroma])
        + struct.pack(">BBBB", h.color.matrix, h.color.range, h.color.primaries, h.color.transfer)
        + _rational(h.frame_rate, "frame rate")
        + _rational(h.time_base, "time base")
        + struct.pack(">I", UNKNOWN_COUNT if h.frame_count is None else h.frame_count)
        + struct.pack(">BBiIBd", s.qp_i, s.base_qp_p, s.intra_period, s.reset_interval,
                      two_ec, skip)
        + _str8(h.source_pix_fmt)
        + bytes((h.audio_tracks,))
    )
    if len(bytes.fromhex(h.model_sha256)) != 32:
        raise ValueError("model sha256 must be 64 hex digits")
    return body


def frame_count_position(body: bytes) -> int:
    """Where HEAD's frame_count field sits in its body (the writer patches it on seekable files)."""
    pos = 1 + body[0] + 32
    pos += 1 + body[pos]
    pos += 1 + body[pos]
    return pos + 9 + 4 + 8 + 8


def decode_header(body: bytes, offset: int) -> Header:
    from nvcodec.errors import ConfigError

    r = _Reader(body, Tag.HEAD, offset)
    name = r.str8()
    sha = r.take(32).hex()
    config = r.str8()
    numerics = r.str8()
    width, height, chroma_code = r.unpack("IIB")
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise r.fail(f"frame size {width}x{height} is outside 1..{MAX_DIMENSION}")
    chroma = next((c for c, code in CHROMA_CODES.items() if code == chroma_code), None)
    if chroma is None or chroma not in CHROMA_FORMATS:
        raise r.fail(f"unknown chroma format code {chroma_code}")
    color = ColorInfo(*r.unpack("BBBB"))
    frame_rate = _read_rational(r, "frame rate")
    time_base = _read_rational(r, "time base")
    count = r.u32()
    qp_i, qp_p, intra_period, reset_interval, two_ec, skip = r.unpack("BBiIBd")
    if two_ec > 2:
        raise r.fail(f"two_ec code {two_ec} is not 0, 1 or 2")
    try:
        settings = CodingSettings(
            qp_i=qp_i, qp_p=qp_i if qp_p == LEGACY_SAME_QP else qp_p, intra_period=intra_period,
            reset_interval=reset_interval, two_ec=None if two_ec == 2 else bool(two_ec),
            skip_threshold=None if math.isnan(skip) else skip,
            numerics=numerics,
        )
    except ConfigError as exc:
        raise r.fail(f"coding settings out of range ({exc})") from None
    source_pix_fmt = r.str8()
    tracks = r.u8()
    if tracks > MAX_AUDIO_TRACKS:
        raise r.fail(f"{tracks} audio tracks (at most {MAX_AUDIO_TRACKS})")
    r.end()
    return Header(name, sha, config, numerics, width, height, chroma, color, frame_rate, time_base,
                  None if count == UNKNOWN_COUNT else count, settings, source_pix_fmt, tracks)


# --- AUDS -------------------------------------------------------------------------------------------------------


def encode_audio_track(track: AudioTrack) -> bytes:
    if len(track.params) > MAX_AUDIO_PARAMS:
        raise ValueError(f"audio codec parameters of {len(track.params)} bytes exceed {MAX_AUDIO_PARAMS}")
    return (
        _str8(track.codec)
        + struct.pack(">IB", track.sample_rate, min(track.channels, 255))
        + _rational(track.time_base, "audio time base")
        + struct.pack(">I", len(track.params))
        + track.params
    )


def decode_audio_track(body: bytes, offset: int) -> AudioTrack:
    r = _Reader(body, Tag.AUDS, offset)
    codec = r.str8()
    sample_rate, channels = r.unpack("IB")
    time_base = _read_rational(r, "audio time base")
    length = r.u32()
    if length > MAX_AUDIO_PARAMS:
        raise r.fail(f"codec parameters of {length} bytes exceed {MAX_AUDIO_PARAMS}")
    params = r.take(length)
    r.end()
    return AudioTrack(codec, sample_rate, channels, time_base, params)


# --- VPKT / APKT ---------------------------------------------------------------------------------------------------


def encode_video_packet(p: VideoPacket) -> bytes:
    return struct.pack(">IqIB", p.index, p.pts, p.duration, int(p.intra)) + p.units


def decode_video_packet(body: bytes, offset: int) -> VideoPacket:
    r = _Reader(body, Tag.VPKT, offset)
    index, pts, duration, flags = r.unpack("IqIB")
    if flags & ~1:
        raise r.fail(f"reserved flag bits set (0x{flags:02x})")
    units = r.rest()
    if not units:
        raise r.fail("no units")
    return VideoPacket(index, pts, duration, bool(flags & 1), units, offset)


def encode_audio_packet(p: AudioPacket) -> bytes:
    pts = NO_TIMESTAMP if p.pts is None else p.pts
    dts = NO_TIMESTAMP if p.dts is None else p.dts
    return struct.pack(">BqqIB", p.track, pts, dts, p.duration, int(p.keyframe)) + p.data


def decode_audio_packet(body: bytes, offset: int) -> AudioPacket:
    r = _Reader(body, Tag.APKT, offset)
    track, pts, dts, duration, flags = r.unpack("BqqIB")
    if flags & ~1:
        raise r.fail(f"reserved flag bits set (0x{flags:02x})")
    return AudioPacket(track, None if pts == NO_TIMESTAMP else pts, None if dts == NO_TIMESTAMP else dts,
                       duration, bool(flags & 1), r.rest())


# --- INDX / TEND ---------------------------------------------------------------------------------------------------


def encode_index(entries: list[IndexEntry]) -> bytes:
    return struct.pack(">I", len(entries)) + b"".join(struct.pack(">IqQ", e.frame, e.pts, e.offset) for e in entries)


def decode_index(body: bytes, offset: int) -> list[IndexEntry]:
    r = _Reader(body, Tag.INDX, offset)
    count = r.u32()
    if len(body) != 4 + 20 * count:
        raise r.fail(f"{count} entries do not fit a body of {len(body)} bytes")
    entries = [IndexEntry(*r.unpack("IqQ")) for _ in range(count)]
    for before, after in zip(entries, entries[1:], strict=False):
        if after.frame <= before.frame or after.offset <= before.offset:
            raise r.fail("entries are not in increasing order")
    return entries


def encode_trailer(t: Trailer) -> bytes:
    return struct.pack(">IQ", t.frame_count, t.index_offset)


def decode_trailer(body: bytes, offset: int) -> Trailer:
    r = _Reader(body, Tag.TEND, offset)
    count, index_offset = r.unpack("IQ")
    r.end()
    return Trailer(count, index_offset)
