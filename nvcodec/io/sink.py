"""Writing decoded planes (and passed-through audio) to a file, a PNG sequence or a pipe.

The kind of output follows the target: ``-`` or a binary stream gets y4m;
``.y4m`` y4m; ``.yuv`` raw planes; ``.rgb`` raw rgb24 (RGB mode); a name with a
printf pattern (``%04d``) or ending in ``/`` a PNG sequence; anything else a
container PyAV knows by its extension.  mp4, mov and ts get what plays
everywhere: H.264 High, 8-bit 4:2:0, at crf 16 (visually lossless); mkv, avi
and nut get lossless FFV1 and webm lossless VP9, and ``lossless`` makes mp4,
mov and ts exact too (x264 at qp 0).  ``-c:v`` and ``--crf`` choose otherwise.

Output files are reproducible: the same frames give the same bytes whatever
the machine's cores or ``threads`` (FFmpeg's bitexact muxing, and x264/x265
at a fixed number of frame threads, which otherwise shapes their output).

Files are written under a temporary name in the target's folder and renamed
by :meth:`VideoSink.close`; :meth:`VideoSink.abort` removes them, so a failed
or interrupted run leaves no partial output and never damages an existing file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from nvcodec.color import ycbcr444_to_rgb
from nvcodec.errors import ConfigError, StreamError
from nvcodec.io.source import set_codec_threads
from nvcodec.media import AudioPacket, AudioTrack, ChromaFormat, ColorInfo, Planes

log = logging.getLogger("nvcodec.io")

_LOSSLESS_DEFAULTS: dict[str, tuple[str, dict[str, str]]] = {
    "matroska": ("ffv1", {}),
    "nut": ("ffv1", {}),
    "avi": ("ffv1", {}),
    "webm": ("libvpx-vp9", {"lossless": "1"}),
}
#: lossless x264 at preset veryfast: a lossless file is as exact at any preset, and beside the neural decoder
#: on two cores medium's extra search (3.7 % smaller files) cut 720p decoding from 5.2 to 3.9 fps
_X264_LOSSLESS = ("libx264", {"qp": "0", "preset": "veryfast"})
#: what mp4/mov/ts get by default: High profile 8-bit 4:2:0, which browsers and players decode, at a crf
#: where x264's own loss sits well under nvc's (visually lossless)
PLAYABLE_CRF = 16
_X264_PLAYABLE = ("libx264", {"crf": str(PLAYABLE_CRF), "preset": "medium", "profile": "high"})
#: frame threads of x264 and x265, fixed: their output depends on it, and it must not depend on the machine
ENCODER_FRAME_THREADS = 4
#: video encoders that take a crf; --crf with any other is refused rather than ignored
CRF_ENCODERS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1")
#: muxers that store an audio packet starting before the first frame without shifting every stream
_NEGATIVE_TS_OK = ("matroska", "webm", "mpegts")


@dataclass(frozen=True)
class StreamDescription:
    """What the sink writes: frame geometry and colour, timing, audio tracks."""

    width: int
    height: int
    chroma: ChromaFormat
    color: ColorInfo
    frame_rate: Fraction
    time_base: Fraction
    audio: tuple[AudioTrack, ...] = ()


@dataclass(frozen=True)
class OutputOptions:
    codec: str | None = None  # -c:v
    crf: int | None = None
    threads: int | None = None  # FFmpeg encoder threads (--threads) where they do not change the bytes
    lossless: bool = False  # mp4/mov/ts: exact frames (x264 qp 0) instead of the playable default
    quiet: bool = False  # silence the output encoder's own log (x265 prints a banner otherwise)
    format: str | None = None  # -f: the output format whatever the target's name says


#: ``-f`` names of the outputs nvc writes itself
_FORMAT_KINDS = {"y4m": "y4m", "yuv4mpegpipe": "y4m", "rawvideo": "yuv", "image2": "png"}


def output_kind(target: str | BinaryIO, format: str | None = None) -> str:
    """``y4m``, ``yuv``, ``rgb``, ``png`` or ``av`` (a PyAV container)."""
    if format is not None:
        kind = _FORMAT_KINDS.get(format, "av")
        if kind in ("png", "yuv", "av") and (not isinstance(target, str) or target == "-"):
            raise ConfigError("format", format, "y4m on stdout (-f y4m); other formats need a file name")
        return kind
    if not isinstance(target, str) or target == "-":
        return "y4m"
    lower = target.lower()
    if "%" in os.path.basename(target) or target.endswith(("/", os.sep)):
        return "png"
    for ext, kind in ((".y4m", "y4m"), (".yuv", "yuv"), (".rgb", "rgb")):
        if lower.endswith(ext):
            return kind
    if lower.endswith(".png"):
        raise ConfigError("output", target, "a PNG sequence needs a pattern such as frame%04d.png, or a folder/")
    return "av"


def _temp_name(target: Path) -> Path:
    """A fresh file beside ``target`` (same folder, so the final rename is atomic), with normal permissions."""
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent)
    os.fchmod(fd, default_file_mode())
    os.close(fd)
    return Path(name)


def default_file_mode() -> int:
    """0o666 less the umask: what ``open()`` would have given (mkstemp gives 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class VideoSink:
    """Base of the output kinds: frames and audio in, :meth:`close` to commit, :meth:`abort` to drop."""

    def __init__(self, desc: StreamDescription) -> None:
        self.desc = desc
        self.frames = 0

    def write_video(self, planes: Planes, pts: int, duration: int) -> None:
        raise NotImplementedError

    def write_audio(self, packet: AudioPacket) -> None:
        """Kinds without audio drop it (and said so when opened)."""

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class _FileSink(VideoSink):
    """A sink writing one byte stream: to a temporary file renamed on close, or to a given stream."""

    def __init__(self, desc: StreamDescription, target: str | BinaryIO) -> None:
        super().__init__(desc)
        if isinstance(target, str) and target != "-":
            self._final: Path | None = Path(target)
            self._temp: Path | None = _temp_name(self._final)
            self._out: BinaryIO = open(self._temp, "wb")  # noqa: SIM115 - closed in close/abort
        else:
            self._final = self._temp = None
            self._out = target  # type: ignore[assignment]
        if desc.audio:
            log.warning(f"{self.kind} output has no audio: {len(desc.audio)} audio track(s) dropped")

    kind = "raw"

    def close(self) -> None:
        try:
            self._out.flush()
            if self._temp is not None:
                self._out.close()
                os.replace(self._temp, self._final)
                self._temp = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if self._temp is not None:
            # closing flushes what is buffered, which fails again on a full disk: the file goes regardless
            with contextlib.suppress(Exception):
                self._out.close()
            self._temp.unlink(missing_ok=True)
            self._temp = None


class Y4mSink(_FileSink):
    kind = "y4m"

    def __init__(self, desc: StreamDescription, target: str | BinaryIO) -> None:
        super().__init__(desc, target)
        rate = Fraction(desc.frame_rate)
        limited = rate.limit_denominator(1 << 30)
        rate = limited if limited.numerator > 0 else rate  # a tiny rate must not round to F0:1
        chroma = "C444" if desc.chroma == "444" else "C420jpeg"
        rng = {1: " XCOLORRANGE=LIMITED", 2: " XCOLORRANGE=FULL"}.get(desc.color.range, "")
        self._out.write(f"YUV4MPEG2 W{desc.width} H{desc.height} F{rate.numerator}:{rate.denominator} Ip A1:1 "
                        f"{chroma}{rng}\n".encode("ascii"))

    def write_video(self, planes: Planes, pts: int, duration: int) -> None:
        self._out.write(b"FRAME\n")
        for plane in (planes.y, planes.u, planes.v):
            self._out.write(np.ascontiguousarray(plane).tobytes())
        self.frames += 1


class RawSink(_FileSink):
    kind = "raw"

    def __init__(self, desc: StreamDescription, target: str, rgb: bool) -> None:
        if rgb and desc.chroma != "444":
            raise ConfigError("output", target, ".rgb output needs a stream coded in RGB mode (--pix-fmt rgb)")
        self._rgb = rgb
        super().__init__(desc, target)

    def write_video(self, planes: Planes, pts: int, duration: int) -> None:
        if self._rgb:
            self._out.write(ycbcr444_to_rgb(planes).tobytes())
        else:
            for plane in (planes.y, planes.u, planes.v):
                self._out.write(np.ascontiguousarray(plane).tobytes())
        self.frames += 1


def _to_rgb(planes: Planes, color: ColorInfo) -> np.ndarray:
    """RGB for display: the exact inverse in RGB mode, swscale with the stream's matrix and range otherwise."""
    if planes.chroma == "444":
        return ycbcr444_to_rgb(planes)
    frame = _av_frame(planes, "yuv420p")
    matrix = color.matrix if color.matrix in (1, 4, 5, 6, 7, 9) else 5
    rgb = frame.reformat(format="rgb24", src_colorspace=matrix, src_color_range=2 if color.range == 2 else 1)
    plane = rgb.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : 3 * planes.width].reshape(planes.height, planes.width, 3).copy()


class PngSink(VideoSink):
    """frame%04d.png (numbered from 1, like FFmpeg's image2) or folder/000001.png."""

    def __init__(self, desc: StreamDescription, target: str) -> None:
        super().__init__(desc)
        if target.endswith(("/", os.sep)):
            target = os.path.join(target, "%06d.png")
        self._pattern = Path(target)
        folder = self._pattern.parent
        folder.mkdir(parents=True, exist_ok=True)
        try:
            self._pattern.name % 1
        except (TypeError, ValueError):
            raise ConfigError("output", target, "a PNG pattern with one integer field, e.g. frame%04d.png") from None
        self._temp = Path(tempfile.mkdtemp(prefix=".nvc-partial-", dir=folder))
        self._names: list[str] = []
        self._codec = av.CodecContext.create("png", "w")
        # one thread: each file is written as its frame arrives, which a frame-threaded encoder would delay
        self._codec.width, self._codec.height, self._codec.pix_fmt = desc.width, desc.height, "rgb24"
        if desc.audio:
            log.warning(f"PNG output has no audio: {len(desc.audio)} audio track(s) dropped")

    def write_video(self, planes: Planes, pts: int, duration: int) -> None:
        frame = av.VideoFrame.from_ndarray(_to_rgb(planes, self.desc.color), format="rgb24")
        data = b"".join(bytes(p) for p in self._codec.encode(frame))
        name = self._pattern.name % (self.frames + 1)
        (self._temp / name).write_bytes(data)
        self._names.append(name)
        self.frames += 1

    def close(self) -> None:
        for name in self._names:
            os.replace(self._temp / name, self._pattern.parent / name)
        shutil.rmtree(self._temp, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self._temp, ignore_errors=True)


def _av_frame(planes: Planes, pix_fmt: str) -> av.VideoFrame:
    """A PyAV frame holding ``planes``, written through each plane's stride."""
    frame = av.VideoFrame(planes.width, planes.height, pix_fmt)
    sources = [planes.y, planes.u, planes.v]
    if pix_fmt == "yuv444p" and planes.chroma == "420":
        h, w = planes.height, planes.width
        sources[1:] = [np.repeat(np.repeat(p, 2, 0), 2, 1)[:h, :w] for p in sources[1:]]
    for plane, src in zip(frame.planes, sources, strict=True):
        buf = np.zeros((plane.height, plane.line_size), np.uint8)
        buf[:, : src.shape[1]] = src
        plane.update(buf)
    return frame


class AvSink(VideoSink):
    """Any container PyAV writes, by extension; lossless by default, audio remuxed from its parameters."""

    def __init__(self, desc: StreamDescription, target: str, opts: OutputOptions) -> None:
        super().__init__(desc)
        _check_rationals(desc, target)
        self._final = Path(target)
        self._temp = _temp_name(self._final)
        self._templates: list[av.container.InputContainer] = []
        try:
            # bitexact: no random segment UID (Matroska) or version strings, so the same frames give the same file
            self._out = av.open(str(self._temp), "w", format=opts.format, options={"fflags": "+bitexact"})
        except (ValueError, av.error.FFmpegError) as exc:
            self._temp.unlink(missing_ok=True)
            raise ConfigError("output", target, "a file name whose extension names a format "
                                                f"({_cause(exc)})") from None
        try:
            self._setup(desc, opts)
        except BaseException:
            self.abort()
            raise

    def _setup(self, desc: StreamDescription, opts: OutputOptions) -> None:
        fmt_name = self._out.format.name.split(",")[0]
        if fmt_name in _NEGATIVE_TS_OK:
            # An audio packet can start before the first frame (AAC priming, or the packet sounding at --ss);
            # by default libavformat would move every stream later to make it non-negative, shifting the video
            # away from its source timestamps.  Matroska and MPEG-TS store it as it is (mp4 and mov through an
            # edit list, by themselves).
            self._out.options["avoid_negative_ts"] = "disabled"
        codec, options = _LOSSLESS_DEFAULTS.get(fmt_name, _X264_LOSSLESS if opts.lossless else _X264_PLAYABLE)
        options = dict(options)
        if opts.codec:
            x264 = _X264_LOSSLESS if opts.lossless else _X264_PLAYABLE
            codec, options = opts.codec, (dict(x264[1]) if opts.codec == "libx264" else {})
        if opts.crf is not None:
            if codec not in CRF_ENCODERS:
                raise ConfigError("crf", opts.crf, f"an output whose video encoder takes a crf ({codec} has none; "
                                                   f"choose one with -c:v, e.g. libx264)")
            if opts.lossless:
                raise ConfigError("crf", opts.crf, "no crf with --lossless")
            # a lossy file is for keeping: FFmpeg's default preset, not the fast lossless one
            options = {k: v for k, v in options.items() if k not in ("qp", "lossless", "preset")}
            options["crf"] = str(opts.crf)
        if desc.width % 2 or desc.height % 2:
            options.pop("profile", None)  # odd sizes go out as 4:4:4, which High profile does not hold
        if codec == "libx264":
            options["x264-params"] = f"threads={ENCODER_FRAME_THREADS}"
        elif codec == "libx265":
            options["x265-params"] = (f"frame-threads={ENCODER_FRAME_THREADS}:"
                                      f"log-level={'none' if opts.quiet else 'error'}")
        try:
            self._stream = self._out.add_stream(codec, rate=desc.frame_rate, options=options)
        except (ValueError, av.error.FFmpegError) as exc:
            raise ConfigError("codec", codec, f"a video encoder this FFmpeg has and {fmt_name} takes "
                                              f"({_cause(exc)})") from None
        formats = [f.name for f in (self._stream.codec_context.codec.video_formats or [])]
        odd = desc.width % 2 or desc.height % 2
        exact = opts.lossless or codec != "libx264" or "qp" in options
        wanted = ["yuv444p", "gbrp", "rgb24"] if desc.chroma == "444" and exact else ["yuv420p", "yuv444p", "gbrp",
                                                                                       "rgb24"]
        if odd and codec.startswith("libx26"):
            wanted.remove("yuv420p")  # H.264/5 4:2:0 needs even sizes; repeat chroma into 4:4:4 instead
            log.warning("odd frame size: written as 4:4:4 (chroma repeated), which fewer players decode, since "
                        f"{codec} needs even sizes for 4:2:0")
        self._pix_fmt = next((f for f in wanted if not formats or f in formats), formats[0] if formats else "yuv420p")
        if self._pix_fmt not in wanted:
            log.warning(f"{codec} takes none of {', '.join(wanted)}: converting to {self._pix_fmt} (lossy)")
        cc = self._stream.codec_context
        set_codec_threads(cc, opts.threads)
        cc.flags |= av.codec.context.Flags.bitexact
        cc.width, cc.height, cc.pix_fmt = desc.width, desc.height, self._pix_fmt
        self._stream.time_base = desc.time_base
        cc.time_base = desc.time_base
        rgb_out = self._pix_fmt in ("gbrp", "rgb24")
        # a 4:4:4 stream coded from RGB going out as 4:2:0 (the playable default) is converted through RGB
        self._via_rgb = desc.chroma == "444" and self._pix_fmt == "yuv420p"
        cc.color_range = 2 if rgb_out else 1 if self._via_rgb else desc.color.range
        cc.colorspace = 0 if rgb_out else 1 if self._via_rgb else desc.color.matrix
        cc.color_primaries = desc.color.primaries
        cc.color_trc = desc.color.transfer
        self._audio_streams: list[av.stream.Stream | None] = []
        for i, track in enumerate(desc.audio):
            self._audio_streams.append(self._add_audio(i, track, fmt_name))

    def _add_audio(self, i: int, track: AudioTrack, fmt_name: str) -> av.stream.Stream | None:
        try:
            template = av.open(io.BytesIO(track.params), "r")
            self._templates.append(template)
            if not template.streams.audio:
                raise ValueError("no audio stream in the codec parameters")
            _check_muxable(fmt_name, template.streams.audio[0])
            stream = self._out.add_stream_from_template(template.streams.audio[0])
            stream.time_base = track.time_base
            return stream
        except (ValueError, av.error.FFmpegError) as exc:
            log.warning(f"audio track {i} ({track.codec}) cannot go into {fmt_name}: dropped ({exc})")
            return None

    def write_video(self, planes: Planes, pts: int, duration: int) -> None:
        if self._pix_fmt in ("gbrp", "rgb24"):
            frame = av.VideoFrame.from_ndarray(_to_rgb(planes, self.desc.color), format="rgb24")
            if self._pix_fmt != "rgb24":
                frame = frame.reformat(format=self._pix_fmt)
        elif self._via_rgb:
            frame = av.VideoFrame.from_ndarray(_to_rgb(planes, self.desc.color), format="rgb24").reformat(
                format="yuv420p", dst_colorspace=1, dst_color_range=1)
        elif self._pix_fmt in ("yuv420p", "yuv444p"):
            frame = _av_frame(planes, self._pix_fmt)
        else:
            frame = _av_frame(planes, "yuv444p" if planes.chroma == "444" else "yuv420p").reformat(
                format=self._pix_fmt)
        frame.pts = pts
        frame.time_base = self.desc.time_base
        try:
            for packet in self._stream.encode(frame):
                self._out.mux(packet)
        except (av.error.FFmpegError, OSError) as exc:
            if self.frames == 0:  # the encoder opens on the first frame, and may refuse the picture then
                raise ConfigError("output", str(self._final), f"an encoder that takes a {self.desc.width}x"
                                  f"{self.desc.height} picture ({self._stream.codec_context.name} refuses it: "
                                  f"{_cause(exc)}); y4m, .yuv and PNG take any size") from None
            raise OSError(f"{self._final}: writing failed ({_cause(exc)})") from None
        self.frames += 1

    def write_audio(self, packet: AudioPacket) -> None:
        stream = self._audio_streams[packet.track] if packet.track < len(self._audio_streams) else None
        if stream is None:
            return
        out = av.Packet(packet.data)
        out.stream = stream
        out.time_base = self.desc.audio[packet.track].time_base
        out.pts, out.dts = packet.pts, packet.dts
        out.duration = packet.duration
        out.is_keyframe = packet.keyframe
        try:
            self._out.mux(out)
        except av.error.FFmpegError as exc:
            # the muxer takes a track's packets in time order only: one out of order is the stream's fault
            raise StreamError(f"audio track {packet.track}: packet at {packet.pts} cannot be written after the "
                              f"ones before it ({_cause(exc)})") from None

    def close(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._out.mux(packet)
            self._out.close()
        except BaseException:
            self.abort()
            raise
        self._close_templates()
        os.replace(self._temp, self._final)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the output is being thrown away
            self._out.close()
        self._close_templates()
        self._temp.unlink(missing_ok=True)

    def _close_templates(self) -> None:
        for template in self._templates:
            template.close()
        self._templates = []


#: container muxers store frame rates and time bases as fractions of 32-bit signed integers
_MAX_RATIONAL_TERM = (1 << 31) - 1


def _check_rationals(desc: StreamDescription, target: str) -> None:
    """Refuse, before anything is opened, a frame rate or time base the container cannot store."""
    for what, value in (("frame rate", desc.frame_rate), ("time base", desc.time_base),
                        *((f"audio track {i} time base", t.time_base) for i, t in enumerate(desc.audio))):
        value = Fraction(value)
        if not (0 < value.numerator <= _MAX_RATIONAL_TERM and 0 < value.denominator <= _MAX_RATIONAL_TERM):
            raise ConfigError("output", target, f"a format that stores the stream's {what} {value} (containers "
                                                "take 32-bit fractions; y4m, .yuv and PNG have no such limit)")


def _cause(exc: BaseException) -> str:
    """What FFmpeg said, without the temporary file name it said it about (the user never chose that name)."""
    text = str(exc)
    return text.split(": '", 1)[0] if "partial" in text else text


def _check_muxable(fmt_name: str, template: av.stream.Stream) -> None:
    """Raise if the ``fmt_name`` muxer refuses a stream like ``template``.

    Some muxers only refuse a codec when writing the trailer (PCM in mp4,
    FLAC in mov), after every frame has been coded; a tiny file in memory
    with one dummy packet finds out first, so the track can be dropped with a
    warning instead of failing the whole output at the end.
    """
    try:
        with av.open(io.BytesIO(), "w", format=fmt_name) as probe:
            stream = probe.add_stream_from_template(template)
            probe.start_encoding()
            packet = av.Packet(bytes(64))
            packet.stream = stream
            packet.time_base = stream.time_base
            packet.pts = packet.dts = 0
            probe.mux(packet)
    except av.error.FFmpegError:
        raise ValueError(f"the {fmt_name} muxer refuses {template.codec_context.name}") from None


def open_sink(target: str | BinaryIO, desc: StreamDescription, opts: OutputOptions | None = None) -> VideoSink:
    """The sink for ``target`` (see the module docstring for how the kind is chosen)."""
    opts = opts or OutputOptions()
    kind = output_kind(target, opts.format)
    if kind == "y4m":
        return Y4mSink(desc, target)
    if kind in ("yuv", "rgb"):
        return RawSink(desc, target, rgb=kind == "rgb")  # type: ignore[arg-type]
    if kind == "png":
        return PngSink(desc, target)  # type: ignore[arg-type]
    return AvSink(desc, target, opts)  # type: ignore[arg-type]
