"""One chunk of a sequence, coded or decoded on its own, with exactly the bytes and pictures of the whole.

A chunk starts at an intra frame.  What the frames before it leave behind is
small and known without coding them: the frame number (the P frames' qp
pattern and the reference resets are counted from frame 0 of the sequence,
:func:`nvcodec.codec.gop.plan_frame`), and which parameter sets are in force
and under which ids.  The reference, and block skip's memory, start afresh at
every intra frame.  So :class:`ChunkEncoder` replays the frame plan up to its
first frame instead of coding it, and from there codes exactly what the
one-process encoder codes.  Decoding is simpler still: every intra frame's
packet repeats the parameter sets in force, so a fresh decoder can start at one.

Nothing here imports Ray: these functions run inside Ray's tasks (:mod:`nvcodec.scaleout.cluster`)
or in this process, and the tests run them both ways.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from nvcodec.bitstream import FrameType, SpsUnit, Unit, read_units
from nvcodec.container import Header, NvcWriter
from nvcodec.errors import InputError, ModelError, StreamError
from nvcodec.io.source import InputOptions, SourceInfo, VideoItem, VideoSource, exact_seconds
from nvcodec.media import Planes
from nvcodec.metrics import FrameQuality
from nvcodec.settings import CodingSettings

if TYPE_CHECKING:
    from nvcodec.codec.sequence import EncodedFrame, SequenceEncoder
    from nvcodec.models.bundle import CodecModel

#: a chunk holds at least this many frames (whole intra periods): a task costs some tens of milliseconds
#: to start and to ship, which an intra period of 1 or 2 frames would pay every frame or two
MIN_CHUNK_FRAMES = 8
#: how often a task tells the driver how far it is (seconds); a report is one small message
REPORT_EVERY = 0.25
#: test hook, names "kill:CHUNK:FOLDER": the first attempt at chunk (or batch input) CHUNK kills its own worker
#: with SIGKILL, leaving a marker in FOLDER so the retry runs through (how a lost machine looks to Ray).  Read
#: where a job is made and carried in it, so the workers need no environment of their own for it.
FAILPOINT_ENV = "NVC_SCALEOUT_FAILPOINT"


def _failpoint_from_env() -> str | None:
    return os.environ.get(FAILPOINT_ENV) or None


@dataclass(frozen=True)
class Chunk:
    """Frames ``first`` .. ``first + count - 1`` of the selection; ``first`` is an intra frame.

    ``pts`` is the first frame's timestamp (after ``--ss``), by which a task that reads the input
    itself seeks to it.
    """

    index: int
    first: int
    count: int
    pts: int | None = None


def chunk_length(intra_period: int) -> int:
    """Frames per encode chunk: whole intra periods, at least :data:`MIN_CHUNK_FRAMES`."""
    if intra_period <= 0:
        raise ValueError("chunks start at intra frames: an intra period is needed")
    return intra_period * -(-MIN_CHUNK_FRAMES // intra_period)


def chunks_between(intra_frames: list[int], frame_count: int) -> list[Chunk]:
    """Decode chunks from the intra frames a stream's index lists: runs from one intra frame to the next,
    merged until each has at least :data:`MIN_CHUNK_FRAMES` frames."""
    starts = sorted(f for f in set(intra_frames) if 0 <= f < frame_count)
    if not starts or starts[0] != 0:
        raise StreamError("the intra index does not start at frame 0")
    chunks: list[Chunk] = []
    for i, first in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else frame_count
        if chunks and chunks[-1].count < MIN_CHUNK_FRAMES:
            last = chunks[-1]
            chunks[-1] = dataclasses.replace(last, count=end - last.first)
        else:
            chunks.append(Chunk(len(chunks), first, end - first))
    return chunks


@dataclass(frozen=True)
class EncodeJob:
    """What every chunk of one encode shares: the model (by its ``--model`` spec and checked by hash, so a
    worker that resolves it to other weights refuses), the settings, where to compute, whether to measure."""

    model: str | None
    model_sha256: str
    settings: CodingSettings
    device: str = "auto"
    measure: bool = False
    threads: int | None = None  # a worker's share of the cores: FFmpeg's decoder, torch where the profile allows
    intra_refine: int = 0  # the encoder's effort on I frames (see nvcodec.codec.latent_refine)
    failpoint: str | None = dataclasses.field(default_factory=_failpoint_from_env)


@dataclass(frozen=True)
class CodedChunk:
    """A coded chunk: a .nvc of its frames alone (a file the task renamed into place, or the bytes)."""

    index: int
    frames: int
    size: int  # bytes of its video packets
    path: str | None = None
    data: bytes | None = None
    qualities: tuple[FrameQuality, ...] = ()
    seconds: float = 0.0

    def open(self) -> BinaryIO:
        if self.path is not None:
            return open(self.path, "rb")  # noqa: SIM115 - the caller's with-block closes it
        assert self.data is not None
        return io.BytesIO(self.data)


# --- models in a worker ------------------------------------------------------------------------------------------

_MODELS: dict[str, CodecModel] = {}
_MODELS_LOCK = threading.Lock()


def cached_model(spec: str | None, sha256: str) -> CodecModel:
    """The model ``spec`` names, loaded once per worker process (Ray reuses workers from task to task).

    ``stream:NAME`` is a stream's own model name, looked up as ``nvc decode`` looks it up.  A spec
    that resolves to weights other than ``sha256`` (another version of a file on this machine) is
    refused: its chunks would not match the others.
    """
    key = spec or ""
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            from nvcodec.models.registry import resolve_model, resolve_stream_model

            model = resolve_stream_model(key[7:]) if key.startswith("stream:") else resolve_model(spec)
            if len(_MODELS) >= 4:
                _MODELS.clear()
            _MODELS[key] = model
    if model.sha256 != sha256:
        raise ModelError(f"model {spec or 'default'} is other weights on this worker (sha256 {model.sha256[:16]}…, "
                         f"the job's {sha256[:16]}…): install the same nvcodec and model files everywhere")
    return model


def portable_spec(spec: str | None) -> str | None:
    """A ``--model`` spec that names the same files from any working folder (a worker's is not the driver's):
    existing files made absolute, names left as they are."""
    if not spec:
        return spec
    parts = spec.split(",") if "," in spec else [spec]
    if not all(os.path.exists(part) for part in parts):
        return spec
    return ",".join(os.path.abspath(part) for part in parts)


def apply_share(threads: int | None, numerics: str) -> None:
    """A worker's share of the cores for torch, where the numerics profile leaves the count free.

    A pinned profile (``cpu-avx2-t2``) keeps its own thread count whatever the share: the bytes
    depend on it.
    """
    from nvcodec.numerics import get_profile

    if threads is not None and get_profile(numerics).threads is None:
        import torch

        torch.set_num_threads(threads)


def failpoint(key: int, spec: str | None) -> None:
    """The test hook of :data:`FAILPOINT_ENV`: kill this worker on the first attempt at ``key``."""
    parts = (spec or "").split(":", 2)
    if len(parts) != 3 or parts[0] != "kill" or parts[1] != str(key):
        return
    marker = Path(parts[2]) / f"killed-{key}"
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # the retry
    os.close(fd)
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


class Reporter:
    """Tells the driver how many frames (and bytes) of one chunk or input are done, at most every
    :data:`REPORT_EVERY` seconds and once at the end.  ``tally`` is a Ray actor handle or any object with
    ``report(key, frames, size)``; counts are absolute, so a retried task simply starts its count again."""

    def __init__(self, tally: Any, key: int) -> None:
        self._tally = tally
        self._key = key
        self._last = 0.0

    def __call__(self, frames: int, size: int, final: bool = False) -> None:
        if self._tally is None:
            return
        now = time.monotonic()
        if not final and now - self._last < REPORT_EVERY:
            return
        self._last = now
        report = self._tally.report
        if hasattr(report, "remote"):
            report.remote(self._key, frames, size)
        else:
            report(self._key, frames, size)


# --- encoding ----------------------------------------------------------------------------------------------------


def _encoder_class() -> type[SequenceEncoder]:
    """:class:`ChunkEncoder`, defined on first use: it subclasses the torch-based encoder, and this module
    must import without torch (the driver of a chunked encode never needs it)."""
    global _CHUNK_ENCODER
    if _CHUNK_ENCODER is None:
        from nvcodec.codec.gop import plan_frame
        from nvcodec.codec.sequence import SequenceEncoder

        class ChunkEncoder(SequenceEncoder):
            """A :class:`SequenceEncoder` that starts at frame ``first`` of a longer sequence, an intra frame.

            It codes frame ``first`` on as the one-process encoder does: frame numbers continue from
            ``first``, and the parameter sets the earlier frames would have defined (found by replaying
            their plan, which needs no coding) keep their ids; :attr:`inherited` lists them, for the
            intra frame's packet to repeat as the one-process encoder's does.
            """

            def __init__(self, model: CodecModel, settings: CodingSettings, first: int, device: str = "auto",
                         reconstruct: bool = True, intra_refine: int = 0) -> None:
                super().__init__(model, settings, device=device, reconstruct=reconstruct, intra_refine=intra_refine)
                if plan_frame(first, self.settings).frame_type != FrameType.I:
                    raise ValueError(f"frame {first} is not an intra frame: a chunk cannot start there")
                self._first = first
                self._index = first
                self.inherited: list[Unit] = []

            def encode(self, frame: Planes) -> EncodedFrame:  # type: ignore[override]
                if self._size is None and self._first:
                    self._replay(frame)
                return super().encode(frame)

            def _replay(self, frame: Planes) -> None:
                size = (frame.height, frame.width)
                two_ec = self.settings.use_two_ec(*size)
                flags: set[bool] = set()
                for i in range(self._first):
                    use_ada_i = plan_frame(i, self.settings).use_ada_i
                    flags.add(use_ada_i)
                    self._sps_id(size, two_ec, use_ada_i, self.inherited)
                    if len(flags) == 2:
                        break  # both parameter sets of this size are defined: later frames add none

        _CHUNK_ENCODER = ChunkEncoder
    return _CHUNK_ENCODER


_CHUNK_ENCODER: type[SequenceEncoder] | None = None


def make_chunk_encoder(model: CodecModel, settings: CodingSettings, first: int, device: str = "auto",
                       reconstruct: bool = True, intra_refine: int = 0) -> SequenceEncoder:
    """An encoder for the chunk starting at intra frame ``first`` (see :class:`ChunkEncoder`)."""
    return _encoder_class()(model, settings, first, device, reconstruct, intra_refine)  # type: ignore[call-arg]


def packet_bytes(units: list[Unit], intra: bool, parameter_sets: dict[int, bytes]) -> bytes:
    """A coded frame's packet: an intra frame, a random access point, repeats every parameter set in force
    before its own units (the rule of :func:`nvcodec.transcode.encode`; the identity tests hold the two
    together).  Records the sets ``units`` bring in ``parameter_sets``."""
    fresh = {u.sps_id for u in units if isinstance(u, SpsUnit)}
    data = b"".join(u.to_bytes() for u in units)
    if intra:
        data = b"".join(sps for sps_id, sps in sorted(parameter_sets.items()) if sps_id not in fresh) + data
    parameter_sets.update({u.sps_id: u.to_bytes() for u in units if isinstance(u, SpsUnit)})
    return data


@contextlib.contextmanager
def piece_output(spool: str | None, index: int) -> Iterator[tuple[BinaryIO, Callable[[], CodedChunk]]]:
    """Where a chunk's .nvc goes: ``spool/chunk-NNNNNN.nvc`` through a temporary name renamed on success
    (so a retried task overwrites a half-written piece, and a piece that exists is whole), or memory."""
    if spool is None:
        buf = io.BytesIO()
        yield buf, lambda: CodedChunk(index, 0, 0, data=buf.getvalue())
        return
    final = Path(spool) / f"chunk-{index:06d}.nvc"
    temp = final.with_name(final.name + ".partial")
    try:
        with open(temp, "wb") as f:
            yield f, lambda: CodedChunk(index, 0, 0, path=str(final))
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def encode_chunk(job: EncodeJob, info: SourceInfo, chunk: Chunk, frames: Iterable[VideoItem],
                 spool: str | None = None, tally: Any = None) -> CodedChunk:
    """Code ``frames`` (the chunk's, in order) into a .nvc of their own whose packets are, byte for byte, the
    packets the one-process encode writes for them.

    The piece's header is the whole stream's (without audio tracks: the driver keeps the audio); its
    frame numbers start at 0 and its timestamps are the stream's.
    """
    from nvcodec.metrics import frame_quality
    from nvcodec.numerics import prepare_environment
    from nvcodec.transcode import header_for

    prepare_environment(job.settings.numerics)  # the allocator tuning; the profile's variables came with the worker
    failpoint(chunk.index, job.failpoint)
    t0 = time.perf_counter()
    model = cached_model(job.model, job.model_sha256)
    apply_share(job.threads, job.settings.numerics)
    encoder = make_chunk_encoder(model, job.settings, chunk.first, job.device, reconstruct=job.measure,
                                 intra_refine=job.intra_refine)
    header = dataclasses.replace(header_for(model, encoder, info), audio_tracks=0)
    report = Reporter(tally, chunk.index)
    qualities: list[FrameQuality] = []
    count = size = 0
    with piece_output(spool, chunk.index) as (out, done):
        writer = NvcWriter(out, header)
        parameter_sets: dict[int, bytes] | None = None
        for item in frames:
            coded = encoder.encode(item.planes)
            if parameter_sets is None:
                parameter_sets = {u.sps_id: u.to_bytes() for u in encoder.inherited}  # type: ignore[attr-defined]
            intra = coded.plan.frame_type == FrameType.I
            units = packet_bytes(coded.units, intra, parameter_sets)
            writer.write_video(item.pts, item.duration, intra, units)
            if job.measure and coded.reconstruction is not None:
                qualities.append(frame_quality(item.planes, coded.reconstruction))
            count += 1
            size += len(units)
            report(count, size)
        if count != chunk.count:
            raise InputError(f"chunk {chunk.index} (frames {chunk.first}..) got {count} frames, "
                             f"{chunk.count} were planned")
        writer.close()
        result = done()
    report(count, size, final=True)
    return dataclasses.replace(result, frames=count, size=size, qualities=tuple(qualities),
                               seconds=time.perf_counter() - t0)


def encode_chunk_from_input(job: EncodeJob, info: SourceInfo, path: str, opts: InputOptions, chunk: Chunk,
                            spool: str | None = None, tally: Any = None) -> CodedChunk:
    """:func:`encode_chunk` on frames the task reads from the input itself (:func:`read_chunk`)."""
    opts = dataclasses.replace(opts, threads=job.threads if opts.threads is None else opts.threads)
    with contextlib.closing(read_chunk(path, opts, chunk)) as frames:
        return encode_chunk(job, info, chunk, frames, spool, tally)


class ChunkSource(VideoSource):
    """A source that converts only the frames a chunk needs: the ones before it are decoded (a video decoder
    must) but not turned into planes; with ``convert`` False none is (the driver of tasks that read the
    input themselves needs only the timestamps and the audio)."""

    def __init__(self, path: str | BinaryIO, opts: InputOptions, skip_frames: int = 0, before_pts: int | None = None,
                 convert: bool = True) -> None:
        super().__init__(path, opts)
        self.skip_frames = skip_frames
        self.before_pts = before_pts
        self.convert = convert
        self.shift = round(exact_seconds(opts.start) / self.info.time_base)

    def to_planes(self, frame) -> Planes:
        if not self.convert:
            return None  # type: ignore[return-value]
        if self.skip_frames > 0:
            self.skip_frames -= 1
            return None  # type: ignore[return-value]
        if self.before_pts is not None and frame.pts is not None and frame.pts - self.shift < self.before_pts:
            return None  # type: ignore[return-value]
        return super().to_planes(frame)

    def seek(self, pts: int) -> bool:
        """Move to the last keyframe at or before ``pts`` (after ``--ss``); False where the input cannot."""
        return self.seek_keyframe(pts + self.shift)


def read_chunk(path: str, opts: InputOptions, chunk: Chunk) -> Iterator[VideoItem]:
    """The chunk's frames, read by the task from the input: the same frames, timestamps and planes the
    driver's source gives for them.

    It seeks to the keyframe at or before the chunk's first frame and decodes from there, when the
    chunk's timestamp is known and the first frame reached is exactly that frame; otherwise it
    decodes from the start and skips ``chunk.first`` frames (slower, always right).  Seeking
    assumes the input's keyframes start closed groups of pictures (x264 and x265's default): after
    an open-GOP keyframe a decoder may show other pixels than when it came from the start.
    """
    opts = dataclasses.replace(opts, audio=False, frames=None)
    if chunk.pts is not None and chunk.first > 0:
        source = ChunkSource(path, opts, before_pts=chunk.pts)
        try:
            if source.seek(chunk.pts):
                items = _video_items(source)
                first = next(items, None)
                if first is not None and first.pts == chunk.pts:
                    yield first
                    yield from _take(items, chunk.count - 1)
                    return
        finally:
            source.close()
    source = ChunkSource(path, opts, skip_frames=chunk.first)
    try:
        yield from _take(_video_items(source), chunk.count)
    finally:
        source.close()


def _video_items(source: VideoSource) -> Iterator[VideoItem]:
    for item in source.items():
        if isinstance(item, VideoItem) and item.planes is not None:
            yield item


def _take(items: Iterator[VideoItem], count: int) -> Iterator[VideoItem]:
    for _ in range(count):
        item = next(items, None)
        if item is None:
            return
        yield item


# --- decoding ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodeJob:
    """What every chunk of one decode shares: the model (``stream:NAME`` for the stream's own), the header."""

    model: str | None
    header: Header
    device: str = "auto"
    threads: int | None = None
    failpoint: str | None = dataclasses.field(default_factory=_failpoint_from_env)


def decode_chunk(job: DecodeJob, chunk: Chunk, parameter_sets: list[bytes], packets: list[bytes],
                 tally: Any = None) -> list[tuple[Planes, int]]:
    """Decode one chunk's packets (the units of each, from an intra frame on) to (picture, qp) per frame.

    ``parameter_sets`` are the sets in force before the chunk; an intra packet written by nvc repeats
    them anyway, a stream written otherwise may not.
    """
    from nvcodec.codec.sequence import SequenceDecoder
    from nvcodec.numerics import prepare_environment

    header = job.header
    prepare_environment(header.numerics)
    failpoint(chunk.index, job.failpoint)
    model = cached_model(job.model, header.model_sha256)
    apply_share(job.threads, header.numerics)
    device = job.device
    if device == "auto":
        device = "cuda" if header.numerics.startswith("cuda") else "cpu"
    decoder = SequenceDecoder(model, header.settings.skip_threshold, device=device, numerics=header.numerics,
                              chroma=header.chroma)
    for data in parameter_sets:
        for unit in read_units(data):
            decoder.decode(unit)
    report = Reporter(tally, chunk.index)
    out: list[tuple[Planes, int]] = []
    for i, data in enumerate(packets):
        planes: Planes | None = None
        qp = 0
        try:
            for unit in read_units(data):
                picture = decoder.decode(unit)
                if picture is not None:
                    planes, qp = picture, unit.qp
        except StreamError as exc:
            raise StreamError(f"frame {chunk.first + i}: bad DCVC-RT units in the packet: {exc}") from None
        if planes is None:
            raise StreamError(f"frame {chunk.first + i} holds no frame unit")
        out.append((planes, qp))
        report(len(out), sum(len(p) for p in packets[: len(out)]))
    report(len(out), sum(len(p) for p in packets), final=True)
    return out
