"""The drivers: what the process that the user started does while the tasks code.

    encode   source -> chunks of frames -> tasks -> .nvc pieces -> Joiner -> one .nvc
    decode   .nvc -> chunks of packets (from intra frame to intra frame) -> tasks -> pictures, in order
    batch    inputs -> one task each -> outputs written atomically, a result per input

The encode driver reads the input as the one-process encode does (the same
:meth:`VideoSource.items`), so it sees the frames and the audio packets in the
order the one-process writer writes them; it queues that order in the
:class:`Joiner`, which writes each video packet once its chunk is back.  So the
joined file is the one-process file: header, packets, intra index, audio and
CRCs.

A task gets its frames one of two ways (``feed``): ``driver``, the driver
decodes the input and ships each chunk's frames through Ray's object store; or
``input``, each task opens the input itself and seeks to its chunk, while the
driver only demuxes and decodes for timestamps and audio.  docs/SCALEOUT.md has
the measurements and the reasons for the default (``driver``).

At most ``workers`` chunks are in flight (a cluster runs no more than asked for
at once) while the driver gets the next one ready, so memory stays flat whatever
the input's length; an interrupted or failed driver cancels what is in flight
and removes the pieces.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from nvcodec.bitstream import SpsUnit, read_units
from nvcodec.container import AudioPacket, AudioTrack, Header, NvcReader, NvcWriter, VideoPacket
from nvcodec.container import format as fmt
from nvcodec.errors import InputError, NvcError, StreamError
from nvcodec.io.source import InputOptions, VideoItem, VideoSource
from nvcodec.media import Planes
from nvcodec.metrics import FrameQuality
from nvcodec.scaleout.chunks import (
    Chunk,
    ChunkSource,
    CodedChunk,
    DecodeJob,
    EncodeJob,
    Reporter,
    apply_share,
    cached_model,
    chunk_length,
    chunks_between,
    decode_chunk,
    encode_chunk,
    encode_chunk_from_input,
    failpoint,
)
from nvcodec.scaleout.cluster import Handle, InlineExecutor, RayExecutor, wait_some

Executor = InlineExecutor | RayExecutor
FEEDS = ("driver", "input")


@dataclass(frozen=True)
class Status:
    """How far a job is: frames and bytes done over every chunk or input, in flight ones included."""

    frames: int
    size: int


def _status(executor: Executor, finished: dict[int, tuple[int, int]]) -> Status:
    """Finished keys count exactly; the ones in flight as their tasks last reported."""
    reported = executor.progress()
    frames = sum(f for f, _ in finished.values())
    size = sum(s for _, s in finished.values())
    for key, (f, s) in reported.items():
        if key not in finished:
            frames += f
            size += s
    return Status(frames, size)


# --- joining -----------------------------------------------------------------------------------------------------


class Joiner:
    """Writes the one .nvc from the pieces: the pieces' header (with the audio tracks back), their packets
    renumbered in order, and the audio packets where the one-process encode writes them.

    The driver tells it the order as it reads the input (:meth:`audio`, :meth:`frame`) and hands it each
    piece as it comes back (:meth:`add`); :meth:`flush` writes as far as the pieces allow.
    """

    def __init__(self, out: BinaryIO, tracks: tuple[AudioTrack, ...]) -> None:
        self._out = out
        self._tracks = tracks
        self._writer: NvcWriter | None = None
        self._header: Header | None = None
        self._order: deque[AudioPacket | int] = deque()
        self._pieces: dict[int, tuple[CodedChunk, BinaryIO, Iterator[VideoPacket], NvcReader]] = {}

    def audio(self, packet: AudioPacket) -> None:
        self._order.append(packet)

    def frame(self, chunk: int) -> None:
        self._order.append(chunk)

    def add(self, coded: CodedChunk) -> None:
        f = coded.open()
        reader = NvcReader(f)
        header = dataclasses.replace(reader.header, frame_count=None)
        if self._header is None:
            self._header = header
            self._writer = NvcWriter(self._out, dataclasses.replace(header, audio_tracks=len(self._tracks)),
                                     self._tracks)
        elif header != self._header:
            f.close()
            raise StreamError(f"chunk {coded.index} was coded with another header than chunk 0 (another model, "
                              "settings or numerics on some worker)")
        packets = (p for p in reader.packets() if isinstance(p, VideoPacket))
        self._pieces[coded.index] = (coded, f, packets, reader)

    def flush(self) -> None:
        while self._order:
            head = self._order[0]
            if isinstance(head, AudioPacket):
                if self._writer is None:
                    return  # audio before the first frame waits for the header, as it follows it in the file
                self._writer.write_audio(head)
            else:
                piece = self._pieces.get(head)
                if piece is None or self._writer is None:
                    return
                packet = next(piece[2], None)
                if packet is None:
                    raise StreamError(f"chunk {head} came back with fewer frames than it was given")
                self._writer.write_video(packet.pts, packet.duration, packet.intra, packet.units)
                if piece[0].frames == packet.index + 1:
                    self._retire(head)
            self._order.popleft()

    def _retire(self, index: int) -> None:
        coded, f, packets, reader = self._pieces.pop(index)
        if next(packets, None) is not None or reader.trailer is None:
            f.close()
            raise StreamError(f"chunk {index} came back with more frames than it was given, or cut off")
        f.close()
        if coded.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(coded.path)

    def close(self) -> None:
        """Write the index and trailer; every frame must have been written."""
        self.flush()
        if self._order or self._writer is None:
            raise StreamError("the chunks came back incomplete")
        self._writer.close()

    def abort(self) -> None:
        for index in list(self._pieces):
            with contextlib.suppress(OSError):
                self._pieces.pop(index)[1].close()


# --- encoding ----------------------------------------------------------------------------------------------------


class ChunkedEncode:
    """One input coded in chunks into ``out``, bit-identical to the one-process encode of the same settings.

    ``source`` is the input opened with ``opts`` (:func:`open_input`; the caller closes it); with
    ``feed="input"`` the tasks open ``path`` themselves.  Iterate :meth:`run` for progress (a
    :class:`Status` now and then); afterwards :attr:`frames`, :attr:`size` and :attr:`qualities`
    (with ``job.measure``) describe the result.
    """

    def __init__(self, executor: Executor, job: EncodeJob, source: VideoSource, opts: InputOptions,
                 out: BinaryIO, feed: str = "driver", spool_near: str | None = None, path: str | None = None) -> None:
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of {FEEDS}, not {feed!r}")
        if feed == "input" and path is None:
            raise InputError("tasks can read their frames only from a file: a pipe goes through the driver "
                             "(feed 'driver')")
        self.executor = executor
        self.job = job
        self.source = source
        self.path = path
        self.opts = opts
        self.out = out
        self.feed = feed
        self.length = chunk_length(job.settings.intra_period)
        self.spool_near = spool_near
        self.frames = 0
        self.size = 0
        self.chunks = 0
        self.qualities: list[FrameQuality] = []
        self.chunk_seconds: list[float] = []

    def run(self) -> Iterator[Status]:
        executor = self.executor
        spool = tempfile.mkdtemp(prefix=".nvc-chunks-", dir=self.spool_near) if executor.shares_files else None
        pending: list[Handle] = []
        finished: dict[int, tuple[int, int]] = {}
        done: dict[int, CodedChunk] = {}
        joiner: Joiner | None = None
        try:
            info = self.source.info
            joiner = Joiner(self.out, info.audio)
            tally = executor.tally()
            frames: list[VideoItem] = []
            window = executor.workers

            def submit() -> None:
                chunk = Chunk(self.chunks, self.frames, len(frames), frames[0].pts)
                if self.feed == "input":
                    args: tuple[Any, ...] = (encode_chunk_from_input, self.job, info, self.path, self.opts, chunk,
                                             spool, tally)
                else:
                    args = (encode_chunk, self.job, info, chunk, list(frames), spool, tally)
                pending.append(executor.submit(chunk.index, *args))
                self.chunks += 1
                self.frames += len(frames)
                frames.clear()

            for item in self.source.items():
                if isinstance(item, AudioPacket):
                    joiner.audio(item)
                    continue
                joiner.frame(self.chunks)
                frames.append(item)
                if len(frames) == self.length:
                    while len(pending) >= window:  # this chunk waits, ready, for a free worker
                        yield self._collect(pending, finished, done, joiner)
                    submit()
            if frames:
                while len(pending) >= window:
                    yield self._collect(pending, finished, done, joiner)
                submit()
            while pending:
                yield self._collect(pending, finished, done, joiner)
            joiner.close()
            self.size = sum(s for _, s in finished.values())
            for index in sorted(done):
                self.qualities.extend(done[index].qualities)
                self.chunk_seconds.append(done[index].seconds)
            yield Status(self.frames, self.size)
        except BaseException:
            executor.cancel(pending)
            if joiner is not None:
                joiner.abort()
            raise
        finally:
            if spool is not None:
                shutil.rmtree(spool, ignore_errors=True)

    def _collect(self, pending: list[Handle], finished: dict[int, tuple[int, int]], done: dict[int, CodedChunk],
                 joiner: Joiner) -> Status:
        for handle in wait_some(self.executor, pending):
            pending.remove(handle)
            coded: CodedChunk = self.executor.result(handle)
            finished[coded.index] = (coded.frames, coded.size)
            done[coded.index] = dataclasses.replace(coded, data=None)
            joiner.add(coded)
        joiner.flush()
        return _status(self.executor, finished)


def open_input(source: str | BinaryIO, opts: InputOptions, feed: str = "driver") -> VideoSource:
    """The driver's source for a chunked encode: the usual one, or with ``feed="input"`` one that decodes
    for timestamps and audio only (the tasks convert their own frames)."""
    if feed == "input":
        if not isinstance(source, str):
            raise InputError("tasks can read their frames only from a file: a pipe goes through the driver")
        return ChunkSource(source, opts, convert=False)
    return VideoSource(source, opts)


# --- decoding ----------------------------------------------------------------------------------------------------


def trailer_frame_count(f: BinaryIO) -> int | None:
    """The frame count a complete file's trailer states (None when the file has no valid trailer)."""
    here = f.tell()
    try:
        end = f.seek(0, 2)
        if end < fmt.PREAMBLE_SIZE + fmt.TEND_SIZE:
            return None
        f.seek(end - fmt.TEND_SIZE)
        tail = f.read(fmt.TEND_SIZE)
        if not NvcReader._ends_with_trailer(tail):
            return None
        return fmt.decode_trailer(tail[8:-4], end - fmt.TEND_SIZE).frame_count
    finally:
        f.seek(here)


class ChunkedPictures:
    """Pictures for :func:`nvcodec.transcode.decode`, decoded chunk by chunk by tasks, in parallel.

    The chunks run from intra frame to intra frame as the file's intra index lists them; a second
    reader of the same file reads each chunk's packets (bytes only) and ships them to a task, keeping
    ``workers`` chunks in flight from the one being written on.  :meth:`decode` hands out the
    pictures in file order, as the one-process decoder does.
    """

    def __init__(self, executor: Executor, job: DecodeJob, path: str) -> None:
        self.executor = executor
        self.job = job
        self._file = open(path, "rb")  # noqa: SIM115 - closed in close()
        try:
            reader = NvcReader(self._file)
            index = reader.read_index()
            count = trailer_frame_count(self._file)
            if not index or count is None:
                raise StreamError(f"{path} has no intra index (cut off?): it cannot be split into chunks")
            self.chunks = chunks_between([e.frame for e in index], count)
        except BaseException:
            self._file.close()
            raise
        self._reader = reader
        self._packets = (p for p in reader.packets() if isinstance(p, VideoPacket))
        self._starts = [c.first for c in self.chunks]
        self._sets: dict[int, bytes] = {}
        self._next = 0  # the next chunk to read and submit
        self._pending: dict[int, Handle] = {}
        self._current: tuple[int, list[tuple[Planes, int]]] | None = None
        self._tally = executor.tally()

    def _read_chunk(self, chunk: Chunk) -> list[bytes]:
        packets = []
        for _ in range(chunk.count):
            packet = next(self._packets, None)
            if packet is None:
                raise StreamError(f"the file ends inside chunk {chunk.index} (frames {chunk.first}..)")
            packets.append(packet.units)
        return packets

    def _scan(self, packets: list[bytes]) -> None:
        for data in packets:
            for unit in read_units(data):
                if isinstance(unit, SpsUnit):
                    self._sets[unit.sps_id] = unit.to_bytes()

    def _top_up(self, wanted: int) -> None:
        """Submit chunks from ``wanted`` on until ``workers`` are in flight (earlier ones only scanned)."""
        while self._next < len(self.chunks) and (self._next < wanted or len(self._pending) < self.executor.workers):
            chunk = self.chunks[self._next]
            packets = self._read_chunk(chunk)
            if chunk.index >= wanted:
                sets = [self._sets[k] for k in sorted(self._sets)]
                self._pending[chunk.index] = self.executor.submit(chunk.index, decode_chunk, self.job, chunk, sets,
                                                                  packets, self._tally)
            self._scan(packets)
            self._next += 1

    def decode(self, packet: VideoPacket) -> tuple[Planes | None, int]:
        c = bisect.bisect_right(self._starts, packet.index) - 1
        if c < 0:
            raise StreamError(f"frame {packet.index} lies before the first intra frame")
        if self._current is None or self._current[0] != c:
            if c not in self._pending:
                if c < self._next:
                    raise StreamError(f"frame {packet.index} comes after its chunk was decoded (out of order)")
                self._top_up(c)
            handle = self._pending.pop(c)
            while not self.executor.wait([handle], 0.25):
                pass
            self._current = (c, self.executor.result(handle))
            self._top_up(c + 1)
        pictures = self._current[1]
        return pictures[packet.index - self.chunks[c].first]

    def close(self) -> None:
        self.executor.cancel(list(self._pending.values()))
        self._pending.clear()
        self._current = None
        self._file.close()


# --- batch -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchItem:
    index: int
    input: str
    output: str


@dataclass(frozen=True)
class BatchResult:
    """One input's outcome: what was written, or the one-line reason it was not."""

    input: str
    output: str
    ok: bool
    frames: int = 0
    size: int = 0
    seconds: float = 0.0
    width: int = 0
    height: int = 0
    kbps: float = 0.0
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def partial_name(output: str) -> str:
    """The one temporary name an input's output is written under: a retry overwrites it, a finished
    encode renames it, and the driver removes it when the input failed."""
    path = Path(output)
    return str(path.with_name(f".{path.name}.partial"))


def encode_file(job: EncodeJob, item: BatchItem, opts: InputOptions, tally: Any = None) -> BatchResult:
    """Encode one input to its output as ``nvc encode`` would, through a temporary name renamed on success."""
    from nvcodec import transcode
    from nvcodec.io import open_source
    from nvcodec.numerics import prepare_environment

    prepare_environment(job.settings.numerics)
    failpoint(item.index, job.failpoint)
    t0 = time.perf_counter()
    opts = dataclasses.replace(opts, threads=job.threads if opts.threads is None else opts.threads)
    temp = partial_name(item.output)
    report = Reporter(tally, item.index)
    frames = size = 0
    try:
        with open_source(item.input, opts) as source:
            model = cached_model(job.model, job.model_sha256)
            apply_share(job.threads, job.settings.numerics)
            with open(temp, "wb") as out:
                for result in transcode.encode(source, out, model, job.settings, job.device,
                                                  intra_refine=job.intra_refine):
                    frames += 1
                    size += result.bytes
                    report(frames, size)
            info = source.info
        os.replace(temp, item.output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    report(frames, size, final=True)
    seconds = time.perf_counter() - t0
    media = frames / float(info.frame_rate) if info.frame_rate else 0.0
    return BatchResult(item.input, item.output, True, frames, os.path.getsize(item.output), seconds, info.width,
                       info.height, size * 8 / 1000 / media if media else 0.0)


def run_batch(executor: Executor, job: EncodeJob, items: list[BatchItem], opts: InputOptions
              ) -> Iterator[Status | BatchResult]:
    """Every input as its own task, ``workers`` at a time; yields a :class:`BatchResult` per input as it ends
    (failed ones too: the others go on) and a :class:`Status` between."""
    tally = executor.tally()
    queue = deque(items)
    by_key = {item.index: item for item in items}
    pending: list[Handle] = []
    finished: dict[int, tuple[int, int]] = {}
    try:
        while queue or pending:
            while queue and len(pending) < executor.workers:
                item = queue.popleft()
                pending.append(executor.submit(item.index, encode_file, job, item, opts, tally))
            for handle in wait_some(executor, pending):
                pending.remove(handle)
                item = by_key[handle.key]
                try:
                    result = executor.result(handle)
                except Exception as exc:  # this input failed; the others go on
                    result = BatchResult(item.input, item.output, False, error=describe_failure(exc))
                    with contextlib.suppress(OSError):
                        os.unlink(partial_name(item.output))  # a killed worker's leftover
                finished[item.index] = (result.frames, result.size)
                yield result
            yield _status(executor, finished)
    except BaseException:
        executor.cancel(pending)
        for handle in pending:
            with contextlib.suppress(OSError):
                os.unlink(partial_name(by_key[handle.key].output))
        raise


def describe_failure(exc: BaseException) -> str:
    """One line for a failed input: nvc's own errors as they are, anything else with its type."""
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    if isinstance(exc, NvcError | OSError | ValueError):
        return text or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {text or 'no message'}"
