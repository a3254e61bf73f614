"""Reading video (and its audio, untouched) through PyAV, as 8-bit planes the codec takes.

    with open_source("in.mp4", InputOptions(frames=10)) as src:
        for item in src.items():        # VideoItem and AudioPacket, in file order
            ...

Every pix_fmt FFmpeg decodes is converted with swscale to YUV 4:2:0 without
changing the colour matrix (the source's colour description is kept and
restored on output); RGB sources are converted with BT.709, recorded as such.
In RGB mode frames become BT.709 full-range YCbCr 4:4:4 (:mod:`nvcodec.color`).
Precision lost on the way (more than 8 bits, or chroma finer than 4:2:0) is
logged once as a warning.

Audio packets are passed through untouched (stream copy), with the stream's
codec parameters serialised (:func:`codec_params`) so a muxer can write them
again; a selected range keeps the packets that overlap it
(:mod:`nvcodec.io.audiorange`).
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Literal

import av
import numpy as np

from nvcodec.color import rgb_to_ycbcr444
from nvcodec.errors import ConfigError, InputError
from nvcodec.io.audiorange import AudioWindow
from nvcodec.media import AudioPacket, AudioTrack, ChromaFormat, ColorInfo, Planes

log = logging.getLogger("nvcodec.io")

RAW_EXTENSIONS = (".yuv", ".raw", ".rgb")
_BT709 = 1
_UNSPECIFIED = 2
_SRGB_TRC = 13
_RANGE_LIMITED, _RANGE_FULL = 1, 2


@dataclass(frozen=True)
class InputOptions:
    """What to read: which stream, how raw input is laid out, which part, in which form."""

    stream: int = 0  # n-th video stream
    raw_size: tuple[int, int] | None = None  # (width, height) for raw input
    raw_rate: Fraction | None = None
    raw_pix_fmt: str = "yuv420p"
    mode: Literal["yuv420p", "rgb"] = "yuv420p"
    start: float = 0.0  # seconds
    duration: float | None = None  # seconds
    frames: int | None = None
    audio: bool = True
    scale: tuple[int, int] | None = None  # (width, height) to resize to (ladder rungs)
    threads: int | None = None  # FFmpeg decoder threads (--threads); None lets FFmpeg choose


@dataclass(frozen=True)
class SourceInfo:
    width: int
    height: int
    chroma: ChromaFormat
    frame_rate: Fraction
    time_base: Fraction
    pix_fmt: str
    color: ColorInfo
    audio: tuple[AudioTrack, ...]
    frame_count_hint: int | None  # from the container, when it says; may be wrong


@dataclass(frozen=True)
class VideoItem:
    planes: Planes
    pts: int  # in SourceInfo.time_base
    duration: int


def _open_container(path: str | BinaryIO, opts: InputOptions) -> av.container.InputContainer:
    kwargs: dict = {}
    name = path if isinstance(path, str) else "<stdin>"
    if not isinstance(path, str):
        kwargs["format"] = "yuv4mpegpipe"
    elif path.lower().endswith(RAW_EXTENSIONS) or opts.raw_size is not None:
        if opts.raw_size is None:
            raise InputError(f"{path}: raw video input needs its frame size (-s WxH; also -r FPS and --pix-fmt "
                             "unless 25 and yuv420p)")
        rate = opts.raw_rate or Fraction(25)
        kwargs["format"] = "rawvideo"
        kwargs["options"] = {"video_size": f"{opts.raw_size[0]}x{opts.raw_size[1]}",
                             "framerate": f"{rate.numerator}/{rate.denominator}",
                             "pixel_format": opts.raw_pix_fmt}
    elif "%" in path or os.path.isdir(path):
        rate = opts.raw_rate or Fraction(25)
        options = {"framerate": f"{rate.numerator}/{rate.denominator}"}
        if os.path.isdir(path):
            if not any(Path(path).glob("*.png")):
                raise InputError(f"{path}: folder holds no .png files")
            options["pattern_type"] = "glob"
            path = os.path.join(glob_escape(path), "*.png")
        kwargs["format"] = "image2"
        kwargs["options"] = options
    else:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.getsize(path) == 0:
            raise InputError(f"{path}: empty file")
    try:
        return av.open(path, "r", **kwargs)
    except av.error.FFmpegError as exc:
        if not isinstance(path, str):
            raise InputError(f"{name}: not a YUV4MPEG2 stream ({_why(exc)}); stdin takes y4m only, e.g. "
                             "ffmpeg -i IN -f yuv4mpegpipe - | nvc encode - OUT.nvc") from None
        raise InputError(f"{name}: not a video PyAV can read ({_why(exc)})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{name}: {exc}") from None


def glob_escape(path: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in path)


def _why(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0] if text else type(exc).__name__


def codec_params(stream: av.stream.Stream) -> bytes:
    """An audio stream's codec parameters as a tiny NUT file (one placeholder packet).

    PyAV can only give a new output stream the exact parameters of an existing
    stream (``add_stream_from_template``), so the parameters travel as the
    smallest file libavformat reads back: the stream's header plus one byte.
    """
    buf = io.BytesIO()
    with av.open(buf, "w", format="nut") as out:
        target = out.add_stream_from_template(stream)
        out.start_encoding()
        packet = av.Packet(b"\0")
        packet.stream = target
        packet.pts = packet.dts = 0
        out.mux(packet)
    return buf.getvalue()


class VideoSource:
    """An opened input: :attr:`info`, then :meth:`items` once."""

    def __init__(self, path: str | BinaryIO, opts: InputOptions) -> None:
        self.name = path if isinstance(path, str) else "<stdin>"
        self.opts = opts
        self._container = _open_container(path, opts)
        videos = self._container.streams.video
        if not videos:
            self._container.close()
            raise InputError(f"{self.name}: no video stream")
        if not 0 <= opts.stream < len(videos):
            self._container.close()
            raise ConfigError("stream", opts.stream, f"0..{len(videos) - 1} (the input has {len(videos)} video "
                                                     "stream(s))")
        self._video = videos[opts.stream]
        set_codec_threads(self._video.codec_context, opts.threads)
        self._audio = list(self._container.streams.audio) if opts.audio else []
        self._audio = [s for s in self._audio if s.codec_context is not None]
        self.info = self._probe()
        self._warned_precision = False

    def _probe(self) -> SourceInfo:
        v = self._video
        cc = v.codec_context
        if not cc.width or not cc.height:
            raise InputError(f"{self.name}: video stream has no frame size")
        rate = v.average_rate or v.guessed_rate or cc.framerate or self.opts.raw_rate
        if not rate or rate <= 0:
            rate = Fraction(25)
            log.warning("input has no frame rate; assuming 25 fps")
        time_base = v.time_base or Fraction(1 / rate).limit_denominator(1 << 20)
        pix_fmt = cc.format.name if cc.format is not None else (cc.pix_fmt or "unknown")
        mode_rgb = self.opts.mode == "rgb"
        src_rgb = cc.format is not None and cc.format.is_rgb
        if mode_rgb:
            color = ColorInfo(_BT709, _RANGE_FULL, cc.color_primaries or _BT709, _transfer(cc.color_trc, src_rgb))
        elif src_rgb:
            color = ColorInfo(_BT709, _RANGE_LIMITED, cc.color_primaries or _BT709, _transfer(cc.color_trc, True))
        else:
            color = ColorInfo(int(cc.colorspace), _yuv_range(cc.color_range, pix_fmt), int(cc.color_primaries),
                              int(cc.color_trc))
        tracks: list[AudioTrack] = []
        kept = []
        for s in self._audio:
            try:
                params = codec_params(s)
            except (av.error.FFmpegError, ValueError) as exc:
                log.warning(f"audio stream {s.index} ({s.codec_context.name}) cannot be carried: {_why(exc)}")
                continue
            acc = s.codec_context
            tracks.append(AudioTrack(acc.name, int(acc.sample_rate or 0), int(acc.channels or 0),
                                     s.time_base or Fraction(1, max(1, acc.sample_rate or 1)), params))
            kept.append(s)
        self._audio = kept
        hint = v.frames or None
        if self.opts.frames is not None:
            hint = min(hint, self.opts.frames) if hint else self.opts.frames
        self._source_size = (cc.width, cc.height)
        width, height = self.opts.scale or self._source_size
        return SourceInfo(width, height, "444" if mode_rgb else "420", Fraction(rate), Fraction(time_base),
                          pix_fmt, color, tuple(tracks), hint)

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def seek_keyframe(self, pts: int) -> bool:
        """Move to the last keyframe at or before ``pts`` (in the stream's time base); False where the input
        cannot seek (a pipe, some raw formats), so the caller reads through instead."""
        try:
            self._container.seek(pts, backward=True, any_frame=False, stream=self._video)
        except (av.error.FFmpegError, OSError, ValueError):
            return False
        return True

    def to_planes(self, frame: av.VideoFrame) -> Planes:
        """One decoded frame as 8-bit planes in the coding form (4:2:0, or 4:4:4 in RGB mode)."""
        fmt = frame.format
        if (frame.width, frame.height) != self._source_size:
            w, h = self._source_size
            raise InputError(f"{self.name}: frame size changes mid-stream ({w}x{h} -> {frame.width}x{frame.height})")
        if not self._warned_precision:
            bits = max((c.bits for c in fmt.components), default=8)
            reduced = []
            if bits > 8:
                reduced.append(f"{bits}-bit samples to 8-bit")
            if self.opts.mode != "rgb" and not fmt.is_rgb and fmt.name not in ("yuv420p", "yuvj420p", "gray") and (
                    fmt.name.startswith(("yuv444", "yuv422", "yuvj444", "yuvj422", "yuv440", "nv16", "nv24"))):
                reduced.append("chroma to 4:2:0")
            if reduced:
                log.warning(f"{self.name}: {fmt.name} input; precision reduced: {' and '.join(reduced)}")
            self._warned_precision = True
        if self.opts.scale is not None and self.opts.scale != self._source_size:
            frame = frame.reformat(width=self.opts.scale[0], height=self.opts.scale[1], interpolation="LANCZOS")
        if self.opts.mode == "rgb":
            rgb = frame if fmt.name == "rgb24" else frame.reformat(format="rgb24")
            return rgb_to_ycbcr444(_packed(rgb, 3))
        if fmt.name not in ("yuv420p", "yuvj420p"):
            if fmt.is_rgb:
                frame = frame.reformat(format="yuv420p", dst_colorspace=_BT709, dst_color_range=_RANGE_LIMITED)
            else:
                frame = frame.reformat(format="yuv420p")
        return Planes(*(_plane(p) for p in frame.planes[:3]))

    def items(self) -> Iterator[VideoItem | AudioPacket]:
        """Frames (in the selected range) and audio packets, in an order fit for writing.

        After ``--ss`` every timestamp is moved back by the start time, so the
        selection starts at 0 in both video and audio.  The audio kept is the
        packets overlapping the selected video (see :mod:`nvcodec.io.audiorange`
        for the precision and the order).
        """
        opts = self.opts
        tb = self.info.time_base
        frame_dur = max(1, round(1 / (self.info.frame_rate * tb)))
        start = exact_seconds(opts.start)
        shift = round(start / tb)
        end: Fraction | None = None if opts.duration is None else start + exact_seconds(opts.duration)
        window = AudioWindow([t.time_base for t in self.info.audio], start, end)
        count = 0
        last_pts: int | None = None
        video_done = False
        tracks = {s.index: i for i, s in enumerate(self._audio)}
        try:
            for packet in self._container.demux([self._video, *self._audio]):
                if packet.stream.index in tracks:
                    if packet.size:
                        track = tracks[packet.stream.index]
                        yield from window.offer(AudioPacket(track, packet.pts, packet.dts, int(packet.duration or 0),
                                                            bool(packet.is_keyframe), bytes(packet)))
                        if video_done and all(window.passed(i) for i in tracks.values()):
                            return
                    continue
                if video_done:
                    if not tracks:
                        return
                    continue
                for frame in packet.decode():
                    pts = frame.pts
                    if pts is None:
                        pts = (last_pts + frame_dur) if last_pts is not None else 0
                    last_pts = pts
                    t = pts * tb
                    if start and pts < shift:  # in ticks, so a float --ss never misses its frame
                        continue
                    if end is not None and t >= end:
                        video_done = True
                        yield from window.finish(end)
                        break
                    yield from window.video(t)
                    yield VideoItem(self.to_planes(frame), pts - shift, int(frame.duration or frame_dur))
                    count += 1
                    if opts.frames is not None and count >= opts.frames:
                        video_done = True
                        yield from window.finish((pts + frame_dur) * tb)
                        break
        except av.error.FFmpegError as exc:
            if count == 0:
                raise InputError(f"{self.name}: cannot decode ({_why(exc)})") from None
            log.warning(f"{self.name}: decoding stopped after {count} frames ({_why(exc)})")
        if count == 0:
            raise InputError(f"{self.name}: no frames in the selected range")
        yield from window.finish()


def set_codec_threads(codec_context: av.codec.context.CodecContext, threads: int | None) -> None:
    """Frame and slice threading for an FFmpeg decoder or encoder, with ``threads`` of them (None: FFmpeg's
    choice, one per core); set before the codec opens, since FFmpeg reads it only then."""
    codec_context.thread_type = "AUTO"
    codec_context.thread_count = 0 if threads is None else threads


def exact_seconds(value: float) -> Fraction:
    """A command-line time as the rational it was meant to be (0.08 is 2/25, not 0.0800000000000000017)."""
    return Fraction(value).limit_denominator(1_000_000)


def _time(packet: av.Packet) -> Fraction | None:
    ts = packet.pts if packet.pts is not None else packet.dts
    return None if ts is None or packet.time_base is None else ts * packet.time_base


def _transfer(trc: int, rgb: bool) -> int:
    trc = int(trc or 0)
    if trc in (0, _UNSPECIFIED):
        return _SRGB_TRC if rgb else _UNSPECIFIED
    return trc


def _yuv_range(value: int, pix_fmt: str) -> int:
    if pix_fmt.startswith("yuvj"):
        return _RANGE_FULL
    return int(value or 0)


def _plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A plane's visible samples, read through its stride (odd sizes included)."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return np.ascontiguousarray(rows[:, : plane.width])


def _packed(frame: av.VideoFrame, channels: int) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return np.ascontiguousarray(rows[:, : frame.width * channels]).reshape(frame.height, frame.width, channels)


def open_source(path: str | BinaryIO, opts: InputOptions | None = None) -> VideoSource:
    """Open ``path`` (a file, a raw .yuv, a PNG pattern or folder, or a binary stream of y4m)."""
    return VideoSource(path, opts or InputOptions())


class DecodedPicture:
    """One decoded frame of a :class:`PictureReader`, held until its reader asks for planes.

    Its size and pixel format come first, so that a reader that scales by size (training halves wide
    frames) decides before paying for a conversion, and skipped frames cost no conversion at all.
    """

    def __init__(self, frame: av.VideoFrame) -> None:
        self._frame = frame

    @property
    def width(self) -> int:
        return int(self._frame.width)

    @property
    def height(self) -> int:
        return int(self._frame.height)

    @property
    def pix_fmt(self) -> str:
        return str(self._frame.format.name)

    def yuv420(self, width: int | None = None, height: int | None = None, interpolation: str | None = None,
               keep: tuple[str, ...] = ("yuv420p", "yuvj420p")) -> Planes:
        """8-bit 4:2:0 planes at ``width`` x ``height`` (default: the frame's own size, odd sizes kept).

        Formats in ``keep`` at their own size give their samples unchanged (full-range yuvj420p
        included: a decoded JPEG is compared sample for sample with what was coded); everything
        else goes through swscale with its defaults as PyAV applies them and ``interpolation``
        (PyAV's name; None: its default).  For RGB input that is the BT.601 matrix at the range the
        image carries, full (pure red is Y 76), not what :class:`VideoSource` makes of it; gray gets
        neutral chroma.
        """
        frame = self._frame
        w = frame.width if width is None else width
        h = frame.height if height is None else height
        if frame.format.name not in keep or (w, h) != (frame.width, frame.height):
            frame = frame.reformat(width=w, height=h, format="yuv420p", interpolation=interpolation)
        return Planes(*(_plane(p) for p in frame.planes[:3]))


class PictureReader:
    """The frames of a video or image file for evaluation and training, converted the way they always were.

    :class:`VideoSource` is the transcoder's reader: it converts RGB with BT.709 at limited range
    and records that in the stream.  Evaluation results and the training data were made with
    swscale's own default instead (BT.601, full range for RGB images), and changing that would move
    every BD-rate on RGB stills and shift what the models learn from, so their conversion stays
    theirs (:meth:`DecodedPicture.yuv420`), read here through the same opening, threading and error
    handling as every other input.  ``rate`` is the frame rate the stream states (None when it
    states none).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        self._container = _open_container(self.name, InputOptions())
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.name}: no video stream")
        self._video = self._container.streams.video[0]
        set_codec_threads(self._video.codec_context, None)
        rate = self._video.average_rate or self._video.guessed_rate
        self.rate: Fraction | None = Fraction(rate) if rate else None

    def __enter__(self) -> PictureReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def __iter__(self) -> Iterator[DecodedPicture]:
        try:
            for frame in self._container.decode(self._video):
                yield DecodedPicture(frame)
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.name}: cannot decode ({_why(exc)})") from None
