"""The two pipelines behind ``nvc encode`` and ``nvc decode``, as generators of per-frame results.

    source -> planes -> SequenceEncoder -> units -> NvcWriter          (encode)
    NvcReader -> units -> SequenceDecoder -> planes -> sink             (decode)

Audio packets ride along untouched in both directions.  Each pipeline yields
one record per frame so the caller (the CLI) can draw progress and decide
when to stop; nothing here prints.  Frames stream through one at a time, so
memory stays flat whatever the clip's length.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from nvcodec.bitstream import SpsUnit, Unit, read_units
from nvcodec.codec.sequence import EncodedFrame, SequenceDecoder, SequenceEncoder
from nvcodec.container import AudioPacket, Header, NvcReader, NvcWriter, VideoPacket
from nvcodec.errors import ModelError, StreamError
from nvcodec.io.audiorange import AudioWindow
from nvcodec.io.sink import StreamDescription, VideoSink
from nvcodec.io.source import SourceInfo, VideoSource, exact_seconds
from nvcodec.media import Planes
from nvcodec.metrics import FrameQuality, frame_quality
from nvcodec.models.bundle import CodecModel
from nvcodec.settings import CodingSettings

if TYPE_CHECKING:
    from nvcodec.ratecontrol.controller import RateController as RateControl

log = logging.getLogger("nvcodec.transcode")


@dataclass(frozen=True)
class FrameResult:
    """One coded or decoded frame: what it was, its size, and (when measured) its quality."""

    index: int
    frame_type: str  # "I" or "P"
    qp: int
    bytes: int
    pts: int
    quality: FrameQuality | None = None


def stream_header(model: CodecModel, encoder: SequenceEncoder, source: VideoSource) -> Header:
    return header_for(model, encoder, source.info)


def header_for(model: CodecModel, encoder: SequenceEncoder, info: SourceInfo) -> Header:
    """The .nvc header of a stream ``encoder`` codes from a source described by ``info`` (a chunk
    coded elsewhere has the description, not the opened source: :mod:`nvcodec.scaleout`)."""
    settings = dataclasses.replace(encoder.settings, numerics=encoder.numerics)
    return Header(
        model_name=model.name, model_sha256=model.sha256, model_config=model.config.name, numerics=encoder.numerics,
        width=info.width, height=info.height, chroma=info.chroma, color=info.color, frame_rate=info.frame_rate,
        time_base=info.time_base, frame_count=None, settings=settings, source_pix_fmt=info.pix_fmt,
        audio_tracks=len(info.audio),
    )


def encode(source: VideoSource, out: BinaryIO, model: CodecModel, settings: CodingSettings, device: str = "auto",
           measure: bool = False, rate: RateControl | None = None, intra_refine: int = 0) -> Iterator[FrameResult]:
    """Code every selected frame of ``source`` into a .nvc written to ``out``; yields per frame.

    ``rate`` (a controller of :mod:`nvcodec.ratecontrol`, made for these settings resolved against
    ``model``) chooses each frame's qp; a frame that overflows its buffer is coded again from the
    same sequence state.  ``intra_refine``: the encoder's effort on I frames
    (:mod:`nvcodec.codec.latent_refine`; the stream does not record it).  The index and trailer are
    written when the generator is exhausted; a caller that stops early has an incomplete (truncated) file.
    """
    encoder = SequenceEncoder(model, settings, device=device, reconstruct=measure, intra_refine=intra_refine)
    writer = NvcWriter(out, stream_header(model, encoder, source), source.info.audio)
    parameter_sets: dict[int, bytes] = {}
    for item in source.items():
        if isinstance(item, AudioPacket):
            writer.write_audio(item)
            continue
        index = encoder.frames_encoded
        qp = None
        if rate is not None:
            if index == 0:
                rate.first_frame(item.planes)
            qp = rate.choose(index)
        state = encoder.snapshot() if rate is not None and rate.vbv is not None else None
        coded = encoder.encode(item.planes, qp)
        units = _packet(coded, parameter_sets)
        while rate is not None and (lower := rate.retry(index, coded.plan.qp, 8 * len(units))) is not None:
            encoder.restore(state)
            coded = encoder.encode(item.planes, lower)
            units = _packet(coded, parameter_sets)
        if rate is not None:
            rate.update(index, coded.plan.qp, 8 * len(units))
        intra = coded.plan.frame_type.name == "I"
        parameter_sets.update({u.sps_id: u.to_bytes() for u in coded.units if isinstance(u, SpsUnit)})
        writer.write_video(item.pts, item.duration, intra, units)
        quality = frame_quality(item.planes, coded.reconstruction) if measure and coded.reconstruction else None
        yield FrameResult(coded.plan.index, coded.plan.frame_type.name, coded.plan.qp, len(units), item.pts, quality)
    writer.close()


def _packet(coded: EncodedFrame, parameter_sets: dict[int, bytes]) -> bytes:
    """The packet of a coded frame: an intra frame, a random access point, repeats every parameter set in
    force, so decoding can start there."""
    units = b"".join(u.to_bytes() for u in coded.units)
    if coded.plan.frame_type.name != "I":
        return units
    fresh = {u.sps_id for u in coded.units if isinstance(u, SpsUnit)}
    return b"".join(data for sps_id, data in sorted(parameter_sets.items()) if sps_id not in fresh) + units


# --- decoding --------------------------------------------------------------------------------------------------


def check_model(header: Header, model: CodecModel) -> None:
    """Refuse to decode with weights other than the ones that coded the stream (it would decode garbage)."""
    if model.sha256 != header.model_sha256:
        # the same name with other weights is an older (or newer) version of a shipped model,
        # which its name no longer finds: only the file that coded the stream can decode it
        hint = ("it needs that version's weights file (--model PATH)" if model.name == header.model_name
                else f"decode with --model {header.model_name}")
        raise ModelError(
            f"the stream was encoded with model {header.model_name!r} (sha256 {header.model_sha256[:16]}…), "
            f"not {model.name!r} (sha256 {model.sha256[:16]}…): {hint}"
        )


def description(header: Header, reader: NvcReader) -> StreamDescription:
    return StreamDescription(header.width, header.height, header.chroma, header.color, header.frame_rate,
                             header.time_base, tuple(reader.audio))


@dataclass(frozen=True)
class DecodeRange:
    start: float = 0.0  # seconds (--ss), reached through the intra index where possible
    frames: int | None = None
    duration: float | None = None


class PacketDecoder:
    """Video packets to pictures (and their qp), in file order from an intra frame on.

    :func:`decode` takes another object with the same :meth:`decode` where the pictures come from
    elsewhere (chunks decoded in parallel, :mod:`nvcodec.scaleout`), so the audio, the range and
    the checks keep one path.
    """

    def __init__(self, model: CodecModel, header: Header, device: str) -> None:
        self._decoder = SequenceDecoder(model, header.settings.skip_threshold, device=device,
                                        numerics=header.numerics, chroma=header.chroma)
        self._size = (header.width, header.height)

    def decode(self, packet: VideoPacket) -> tuple[Planes | None, int]:
        planes: Planes | None = None
        qp = 0
        for unit in _units(packet.units, packet.offset):
            if isinstance(unit, SpsUnit) and (unit.width, unit.height) != self._size:
                # checked before any frame of that size is decoded: a small file must not make the decoder
                # run a 16384 x 16384 frame only to find that it disagrees with the header
                raise StreamError(f"the stream's parameter set codes {unit.width}x{unit.height} frames, the header "
                                  f"says {self._size[0]}x{self._size[1]}", packet.offset)
            out = self._decoder.decode(unit)
            if out is not None:
                planes, qp = out, unit.qp
        return planes, qp


def decode(reader: NvcReader, model: CodecModel, sink: VideoSink, device: str = "auto",
           selection: DecodeRange | None = None, pictures: PacketDecoder | None = None) -> Iterator[FrameResult]:
    """Decode ``reader``'s frames into ``sink``; yields per frame written (frames before ``--ss`` are skipped).

    ``pictures`` turns packets into pictures (default: a :class:`PacketDecoder` in this process).
    """
    header = reader.header
    check_model(header, model)
    selection = selection or DecodeRange()
    if device == "auto":
        device = "cuda" if header.numerics.startswith("cuda") else "cpu"
    if pictures is None:
        pictures = PacketDecoder(model, header, device)
    tb = header.time_base
    start = exact_seconds(selection.start)
    shift = round(start / tb)
    end = None if selection.duration is None else start + exact_seconds(selection.duration)
    if start > 0:
        _seek(reader, start / tb)
    window = AudioWindow([track.time_base for track in reader.audio], start, end)
    written = 0
    video_done = False
    last_pts: int | None = None
    gray = is_gray(header.source_pix_fmt)
    for packet in reader.packets():
        if isinstance(packet, AudioPacket):
            _write_audio(sink, window.offer(packet))
            if video_done and all(window.passed(i) for i in range(len(reader.audio))):
                break  # nothing later in the file is kept
            continue
        if video_done:
            if not reader.audio:
                break
            continue
        if not -MAX_TIMESTAMP <= packet.pts <= MAX_TIMESTAMP or (last_pts is not None and packet.pts <= last_pts):
            # frames are stored in display order with rising timestamps (docs/FORMAT.md); a damaged one
            # would otherwise reach the output muxer and come back as a failed write
            raise StreamError(f"frame {packet.index} has timestamp {packet.pts}, not after {last_pts} within "
                              f"+-2^53", packet.offset)
        last_pts = packet.pts
        planes, qp = pictures.decode(packet)
        if planes is None:
            raise StreamError(f"frame {packet.index} holds no frame unit", packet.offset)
        if (planes.width, planes.height, planes.chroma) != (header.width, header.height, header.chroma):
            # the header promised the sink one picture size; a stream of another would be cut or stretched
            raise StreamError(f"frame {packet.index} is {planes.width}x{planes.height} ({planes.chroma}), the "
                              f"header says {header.width}x{header.height} ({header.chroma})", packet.offset)
        if gray:
            planes = neutral_chroma(planes)
        t = packet.pts * tb
        if start and packet.pts < shift:  # compared in ticks: a float --ss of 0.08 is not above 1024/12800
            continue
        if end is not None and t >= end:
            video_done = True
            _write_audio(sink, window.finish(end))
            continue
        _write_audio(sink, window.video(t))
        sink.write_video(planes, packet.pts - shift, packet.duration)
        written += 1
        yield FrameResult(packet.index, "I" if packet.intra else "P", qp, len(packet.units), packet.pts)
        if selection.frames is not None and written >= selection.frames:
            video_done = True
            _write_audio(sink, window.finish((packet.pts + max(packet.duration, 1)) * tb))
    _write_audio(sink, window.finish())


#: the timestamps a decoded frame may carry: what a double holds exactly, far beyond any real stream
MAX_TIMESTAMP = 1 << 53


def is_gray(pix_fmt: str) -> bool:
    """Whether a source pixel format has no colour (FFmpeg's gray*, ya* and monob/monow)."""
    return pix_fmt.startswith(("gray", "ya", "monob", "monow"))


def neutral_chroma(planes: Planes) -> Planes:
    """A gray source's frame as gray: the codec's small chroma errors would otherwise tint it."""
    flat = np.full_like(planes.u, 128)
    return dataclasses.replace(planes, u=flat, v=flat.copy())


def _write_audio(sink: VideoSink, packets: list[AudioPacket]) -> None:
    for packet in packets:
        sink.write_audio(packet)


def _units(data: bytes, offset: int) -> Iterator[Unit]:
    try:
        yield from read_units(data)
    except StreamError as exc:
        raise StreamError(f"bad DCVC-RT units in the packet: {exc}", offset) from None


def _seek(reader: NvcReader, target_pts: Fraction) -> None:
    """Jump to the last intra frame at or before ``target_pts`` when the input can seek; else read through."""
    index = reader.read_index()
    if not index:
        return
    best = None
    for entry in index:
        if entry.pts <= target_pts:
            best = entry
    if best is not None and best.frame > 0:
        log.debug(f"seeking to intra frame {best.frame}")
        reader.seek_to(best)


class Stopwatch:
    """Wall time since creation; for speed and ETA in progress reports."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0
