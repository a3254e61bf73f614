"""The codecs an evaluation compares, behind one small interface.

Every codec turns a list of frames and one rate-point value into the bits of
each frame, the decoded frames and the time spent encoding and decoding; the
runner does the rest (metrics, BD-rate, JSON).  Baselines run through PyAV's
bundled FFmpeg so that the comparison needs nothing outside the package:

* ``nvc``: a model spec and a qp (0..63, higher is better quality);
* ``x264`` / ``x265``: preset medium, no B-frames, the same intra period as nvc
  (scene-cut detection off, so I frames fall exactly there), a sweep of crf;
* ``jpeg``: FFmpeg's baseline JPEG encoder (mjpeg) for still images, a sweep of
  its quantiser scale q (2..31, lower is better quality, ``ffmpeg -q:v``).

Bits are counted from what each codec emits: every nvc unit (the SPS included),
every packet (x264/x265 put their parameter sets in the first packet; none of
them has out-of-band extradata here), every JPEG file with its headers.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from nvcodec.codec.frames import Planes
from nvcodec.errors import ConfigError
from nvcodec.settings import P_OFFSET_KNEE, default_p_offset

#: keyint standing for "no periodic I frame" (intra period -1) in x264/x265
LONG_GOP = 1 << 20


@dataclass(frozen=True)
class CodedSequence:
    """What one codec made of one sequence at one rate point."""

    frame_bits: list[int]
    frame_types: list[str]  # "I" or "P", in display order
    decoded: list[Planes]
    encode_seconds: float
    decode_seconds: float


class Codec(ABC):
    """A codec and its sweep: ``parameter`` names what ``values`` set (qp, crf, q).

    ``stills_only`` codecs (JPEG) are run on still images only.
    """

    def __init__(self, name: str, parameter: str, values: Sequence[int], stills_only: bool = False) -> None:
        if not values:
            raise ConfigError(f"{name} {parameter}", list(values), "at least one rate point")
        self.name = name
        self.parameter = parameter
        self.values = tuple(values)
        self.stills_only = stills_only

    @abstractmethod
    def describe(self) -> dict[str, object]:
        """The settings a reader needs to reproduce this codec's results (recorded in the JSON)."""

    @abstractmethod
    def code(self, frames: Sequence[Planes], value: int, intra_period: int, fps: float) -> CodedSequence:
        """Encode and decode ``frames`` at rate point ``value``; ``intra_period`` -1 means one I frame."""


class NvcCodec(Codec):
    """nvc with one model: encode (no reconstruction, as the transcoder does), then decode the stream.

    Before the first timed run at a frame size, one I and one P frame are coded
    untimed: torch picks and caches its kernels on first use at a shape, a
    one-off cost that would otherwise halve the fps of short evaluation clips
    while a real transcode pays it once.
    """

    def __init__(self, model_spec: str | None, qps: Sequence[int], device: str = "auto",
                 numerics: str | None = None, name: str = "nvc", p_offset: int | None = None,
                 motion: bool | None = None, intra_refine: int = 0, layer: bool | None = None) -> None:
        """``p_offset``: how many qp under each rate point's I frame its P frames are coded (at least qp 0);
        None: as the encoder chooses by default (``CodingSettings.resolved``).  ``motion``: explicit
        motion on or off (None: the encoder's default).  ``intra_refine``: the encoder's effort on I frames.
        ``layer``: whether rate points above the knee take the picture layer (None: the encoder's default)."""
        super().__init__(name, "qp", tuple(qps))
        self.model_spec = model_spec
        self.intra_refine = intra_refine
        self.p_offset = p_offset
        self.motion = motion
        self.layer = layer
        self.device = device
        self.numerics = numerics
        self._model = None
        self._warmed: set[tuple[int, int]] = set()

    @property
    def model(self):
        if self._model is None:
            from nvcodec.models.registry import resolve_model
            from nvcodec.training.lineage import register_lineage

            register_lineage()  # a candidate from nvc train --export may be in a config training grew
            self._model = resolve_model(self.model_spec)
        return self._model

    def describe(self) -> dict[str, object]:
        from nvcodec.settings import CodingSettings

        model = self.model
        return {"codec": "nvc", "model": model.name, "config": model.config.name, "sha256": model.sha256,
                "device": self.device, "numerics": self.numerics or "default for the device",
                "structure": f"low-delay P at {self._p_rule()}, DCVC-RT hierarchical qp (+8/+4/0)",
                "block_skip": self._block_skip(),
                "motion": CodingSettings(motion=self.motion).motion_for(model.inter.cfg),
                "intra_refine": self.intra_refine,
                "layer": self._layer(),
                "rate": self._rate_rule()}

    def _layer(self) -> bool:
        from nvcodec.settings import CodingSettings

        return CodingSettings(layer=self.layer).layer_for(self.model.inter.cfg)

    def _rate_rule(self) -> str:
        from nvcodec.settings import LAYER_KNEE, LAYER_P_KNEE, LAYER_P_TOP_STEP, LAYER_TOP_STEP

        if not self._layer():
            return "qp of the I frame (higher is better)"
        return (f"-q (higher is better): the I frame's qp up to {LAYER_KNEE}; above it qp {LAYER_KNEE} plus a "
                f"picture layer whose step falls geometrically from 64 to {LAYER_TOP_STEP:g} at 63; P frames at "
                f"the qp of -q's rule up to {LAYER_P_KNEE}, above it that qp plus a layer falling from 64 to "
                f"{LAYER_P_TOP_STEP:g}")

    def _block_skip(self) -> bool:
        from nvcodec.settings import CodingSettings

        return CodingSettings().block_skip_for(self.model.inter.cfg)

    def _p_rule(self) -> str:
        if self.p_offset is not None:
            return f"qp - {self.p_offset} (at least 0)"
        return (f"qp - {default_p_offset(self._block_skip())} (at least 0) up to qp {P_OFFSET_KNEE}, the "
                "offset narrowing to 0 at qp 63")

    def code(self, frames: Sequence[Planes], value: int, intra_period: int, fps: float) -> CodedSequence:
        from nvcodec.settings import CodingSettings

        options = {} if self.numerics is None else {"numerics": self.numerics}
        qp_p = None if self.p_offset is None else max(0, value - self.p_offset)
        settings = CodingSettings(qp_i=value, qp_p=qp_p, intra_period=intra_period, motion=self.motion,
                                  layer=self.layer, **options)
        if frames and (frames[0].height, frames[0].width) not in self._warmed:
            self._run(frames[:2], settings)
            self._warmed.add((frames[0].height, frames[0].width))
        return self._run(frames, settings)

    def _run(self, frames: Sequence[Planes], settings) -> CodedSequence:
        from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder

        encoder = SequenceEncoder(self.model, settings, device=self.device, reconstruct=False,
                                  intra_refine=self.intra_refine)
        chunks: list[bytes] = []
        bits: list[int] = []
        types: list[str] = []
        start = time.perf_counter()
        for frame in frames:
            encoded = encoder.encode(frame)
            data = b"".join(u.to_bytes() for u in encoded.units)
            chunks.append(data)
            bits.append(8 * len(data))
            types.append(encoded.plan.frame_type.name)
        encode_seconds = time.perf_counter() - start
        decoder = SequenceDecoder(self.model, settings.skip_threshold, device=self.device,
                                  numerics=self.numerics)
        start = time.perf_counter()
        decoded = list(decoder.decode_stream(b"".join(chunks)))
        decode_seconds = time.perf_counter() - start
        return CodedSequence(bits, types, decoded, encode_seconds, decode_seconds)


class LibavCodec(Codec):
    """A PyAV (FFmpeg) encoder/decoder pair fed 4:2:0 planes, one packet per frame."""

    encoder: str
    decoder: str
    pix_fmt = "yuv420p"

    def _options(self, value: int, keyint: int) -> dict[str, str]:
        raise NotImplementedError

    def _configure(self, context, value: int) -> None:
        """Settings PyAV exposes as attributes rather than options."""

    def code(self, frames: Sequence[Planes], value: int, intra_period: int, fps: float) -> CodedSequence:
        import av

        if not frames:
            raise ValueError("no frames to code")
        width, height = frames[0].width, frames[0].height
        padded_w, padded_h = width + width % 2, height + height % 2
        keyint = LONG_GOP if intra_period == -1 else intra_period
        context = av.CodecContext.create(self.encoder, "w")
        context.width, context.height, context.pix_fmt = padded_w, padded_h, self.pix_fmt
        rate = Fraction(fps).limit_denominator(1001)
        context.time_base, context.framerate = 1 / rate, rate
        context.options = self._options(value, keyint)
        self._configure(context, value)
        packets = []
        start = time.perf_counter()
        for index, frame in enumerate(frames):
            av_frame = _to_av_frame(frame, padded_w, padded_h, self.pix_fmt)
            av_frame.pts = index
            packets.extend(context.encode(av_frame))
        packets.extend(context.encode(None))
        encode_seconds = time.perf_counter() - start
        if len(packets) != len(frames):
            raise RuntimeError(f"{self.encoder} made {len(packets)} packets for {len(frames)} frames")
        header_bits = 8 * len(context.extradata or b"")
        bits = [8 * p.size for p in packets]
        bits[0] += header_bits
        types = ["I" if p.is_keyframe else "P" for p in packets]

        decoder = av.CodecContext.create(self.decoder, "r")
        start = time.perf_counter()
        out = []
        for packet in packets:
            out.extend(decoder.decode(packet))
        out.extend(decoder.decode(None))
        decode_seconds = time.perf_counter() - start
        decoded = [_decoded_planes(f, width, height) for f in out]
        return CodedSequence(bits, types, decoded, encode_seconds, decode_seconds)


class X26xCodec(LibavCodec):
    """libx264 or libx265 at preset medium, no B-frames, constant rate factor."""

    def __init__(self, name: str, crfs: Sequence[int], preset: str = "medium") -> None:
        if name not in ("x264", "x265"):
            raise ConfigError("codec", name, "x264 or x265")
        super().__init__(name, "crf", tuple(crfs))
        self.preset = preset
        self.encoder = f"lib{name}"
        self.decoder = "h264" if name == "x264" else "hevc"

    def _params(self, keyint: int) -> str:
        params = f"bframes=0:keyint={keyint}:min-keyint={keyint}:scenecut=0"
        return params + (":log-level=error" if self.name == "x265" else "")

    def _options(self, value: int, keyint: int) -> dict[str, str]:
        return {"preset": self.preset, "crf": str(value), f"{self.name}-params": self._params(keyint)}

    def describe(self) -> dict[str, object]:
        import av

        return {"codec": self.name, "encoder": self.encoder, "preset": self.preset, "rate": "crf",
                "params": self._params(LONG_GOP).replace(f"keyint={LONG_GOP}", "keyint=<intra period>"),
                "keyint_for_intra_period_-1": LONG_GOP, "pix_fmt": "yuv420p",
                "threads": "encoder default", "ffmpeg": _ffmpeg_version(av)}


class JpegCodec(LibavCodec):
    """Baseline JPEG (FFmpeg mjpeg, 4:2:0) for still images; ``q`` 2..31, lower is better quality.

    The planes are labelled full range (yuvj420p) but passed unchanged, so JPEG
    codes the very samples the other codecs code.
    """

    encoder = "mjpeg"
    decoder = "mjpeg"
    pix_fmt = "yuvj420p"

    def __init__(self, qualities: Sequence[int]) -> None:
        for q in qualities:
            if not 2 <= q <= 31:
                raise ConfigError("jpeg q", q, "2..31 (lower is better quality)")
        super().__init__("jpeg", "q", tuple(qualities), stills_only=True)

    def _options(self, value: int, keyint: int) -> dict[str, str]:
        return {}

    def _configure(self, context, value: int) -> None:
        # FFmpeg's -q:v: a fixed quantiser scale, enforced through the quantiser bounds
        context.qmin = context.qmax = value

    def describe(self) -> dict[str, object]:
        import av

        return {"codec": "jpeg", "encoder": "mjpeg", "rate": "q (ffmpeg -q:v, lower is better)",
                "pix_fmt": "yuvj420p (4:2:0 samples unchanged)", "ffmpeg": _ffmpeg_version(av)}


def _to_av_frame(frame: Planes, width: int, height: int, pix_fmt: str):
    """A PyAV frame holding ``frame``'s planes, edge-padded to ``width`` x ``height`` (even).

    Each plane is written through its line size, which FFmpeg may pad beyond the width.
    """
    import av

    out = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(out.planes, (frame.y, frame.u, frame.v), strict=True):
        rows = np.pad(data, ((0, plane.height - data.shape[0]), (0, plane.line_size - data.shape[1])), mode="edge")
        plane.update(np.ascontiguousarray(rows))
    return out


def _decoded_planes(frame, width: int, height: int) -> Planes:
    """A baseline decoder's output frame cropped back to the coded ``width`` x ``height``.

    The samples are taken as they are (yuvj420p included): they are compared sample for sample with
    what was coded, and the encoder saw them edge-padded to even sizes (``_to_av_frame``).  This is
    the baselines' own decoded output, not a source: sources come through ``nvcodec.io``.
    """
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        raise RuntimeError(f"a baseline decoder returned {frame.format.name} for 4:2:0 input")
    cw, ch = (width + 1) // 2, (height + 1) // 2
    sizes = ((width, height), (cw, ch), (cw, ch))
    planes = []
    for plane, (w, h) in zip(frame.planes[:3], sizes, strict=True):
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(-1, plane.line_size)
        planes.append(np.ascontiguousarray(rows[:h, :w]))
    return Planes(*planes)


def _ffmpeg_version(av_module) -> str:
    versions = getattr(av_module, "library_versions", {})
    codec = versions.get("libavcodec")
    return f"PyAV {av_module.__version__}, libavcodec {'.'.join(map(str, codec))}" if codec else av_module.__version__
