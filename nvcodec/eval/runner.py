"""Run codecs over sources and rate points; measure; compare with BD-rate; describe as JSON.

For every source, codec and rate point the runner records the rate (bits, bpp,
kbit/s), the quality of the *decoded* frames (PSNR-Y/U/V and PSNR-YUV 6:1:1,
mean over frames, as DCVC-RT reports), encode and decode speed, and each
frame's type, bits and PSNR-YUV (so I/P cost can be read off).  BD-rates on
PSNR-YUV against every anchor codec present (x264, x265, JPEG) are computed per
source and averaged per kind (videos, images); each kind also gets a mean RD
curve for plotting.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata

import numpy as np

from nvcodec.eval.codecs import Codec
from nvcodec.eval.sources import Source
from nvcodec.metrics import (
    BdRate,
    FrameQuality,
    bd_rate,
    bd_rate_implementation,
    bits_per_pixel,
    frame_quality,
    kbit_per_second,
    mean_quality,
)

#: codecs every other codec is compared against, in this order
ANCHORS = ("x264", "x265", "jpeg")
SCHEMA = "nvc-eval-1"


@dataclass(frozen=True)
class FrameResult:
    type: str
    bits: int
    psnr_yuv: float


@dataclass(frozen=True)
class PointResult:
    """One codec at one rate point on one source."""

    codec: str
    parameter: str
    value: int
    bits: int
    bpp: float
    kbps: float
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    encode_fps: float | None  # None: too fast for the clock to see
    decode_fps: float | None
    frames: list[FrameResult]

    def by_type(self) -> dict[str, dict[str, float]]:
        """Count, mean bits and mean PSNR-YUV of the I and of the P frames."""
        out = {}
        for kind in ("I", "P"):
            chosen = [f for f in self.frames if f.type == kind]
            if chosen:
                out[kind] = {"count": len(chosen), "mean_bits": float(np.mean([f.bits for f in chosen])),
                             "mean_psnr_yuv": float(np.mean([f.psnr_yuv for f in chosen]))}
        return out


@dataclass
class SourceResult:
    name: str
    path: str
    kind: str
    width: int
    height: int
    frames: int
    fps: float
    points: list[PointResult] = field(default_factory=list)
    #: bd_rate[test codec][anchor codec]
    bd_rate: dict[str, dict[str, BdRate]] = field(default_factory=dict)

    def curve(self, codec: str) -> list[PointResult]:
        return sorted((p for p in self.points if p.codec == codec), key=lambda p: p.bpp)


@dataclass(frozen=True)
class Progress:
    """Reported before each rate point is coded; ``done`` of ``total`` points finished so far."""

    source: str
    codec: str
    parameter: str
    value: int
    done: int
    total: int


@dataclass
class Report:
    sources: list[SourceResult]
    codecs: dict[str, dict[str, object]]
    settings: dict[str, object]

    def summary(self) -> dict[str, dict[str, object]]:
        """Per kind of source: mean BD-rates over sources and a mean RD curve per codec."""
        out: dict[str, dict[str, object]] = {}
        for kind in ("video", "image"):
            group = [s for s in self.sources if s.kind == kind]
            if not group:
                continue
            bd: dict[str, dict[str, object]] = {}
            for test in self.codecs:
                for anchor in ANCHORS:
                    values = [s.bd_rate[test][anchor].percent for s in group
                              if anchor in s.bd_rate.get(test, {})]
                    if not values:
                        continue
                    defined = [v for v in values if v is not None]
                    bd.setdefault(test, {})[anchor] = {
                        "mean_percent": float(np.mean(defined)) if defined else None,
                        "defined": len(defined), "sources": len(values)}
            out[kind] = {"sources": len(group), "bd_rate": bd, "mean_curves": _mean_curves(group, self.codecs)}
            out[kind]["psnr_monotonic_in_parameter"] = _monotonic_summary(group, self.codecs)
            if kind == "video":
                out[kind]["p_to_i_bits"] = _p_to_i_summary(group, self.codecs)
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "schema": SCHEMA,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "hardware": hardware_info(),
            "settings": self.settings,
            "bd_rate_method": f"{bd_rate_implementation()} on PSNR-YUV 6:1:1 vs bpp; percent of the anchor's rate",
            "codecs": self.codecs,
            "summary": self.summary(),
            "sources": [_source_dict(s) for s in self.sources],
        }


def evaluate(sources: Sequence[Source], codecs: Sequence[Codec], intra_period: int = -1,
             progress: Callable[[Progress], None] | None = None) -> Report:
    """Code every source with every codec at each of its rate points and compare the results.

    Still-image-only codecs skip video sources.  Raises whatever a codec raises:
    a run is meant to be complete or to fail loudly, not to leave holes.
    """
    names = [c.name for c in codecs]
    if len(set(names)) != len(names):
        raise ValueError(f"codec names must be unique, got {names}")
    plan = [(s, c) for s in sources for c in codecs if s.kind == "image" or not c.stills_only]
    total = sum(len(c.values) for _, c in plan)
    results = {id(s): _empty_result(s) for s in sources}
    done = 0
    for source, codec in plan:
        for value in codec.values:
            if progress is not None:
                progress(Progress(source.name, codec.name, codec.parameter, value, done, total))
            results[id(source)].points.append(_measure(source, codec, value, intra_period))
            done += 1
    ordered = [results[id(s)] for s in sources]
    for result in ordered:
        result.bd_rate = _bd_rates(result, names)
    settings = {"intra_period": intra_period,
                "rate_points": {c.name: {"parameter": c.parameter, "values": list(c.values)} for c in codecs}}
    return Report(ordered, {c.name: c.describe() for c in codecs}, settings)


def _empty_result(source: Source) -> SourceResult:
    return SourceResult(source.name, source.path, source.kind, source.width, source.height,
                        len(source.frames), source.fps)


def _measure(source: Source, codec: Codec, value: int, intra_period: int) -> PointResult:
    coded = codec.code(source.frames, value, intra_period, source.fps)
    n = len(source.frames)
    if not len(coded.decoded) == len(coded.frame_bits) == len(coded.frame_types) == n:
        raise RuntimeError(f"{codec.name} {codec.parameter}={value} returned {len(coded.decoded)} frames, "
                           f"{len(coded.frame_bits)} sizes and {len(coded.frame_types)} types "
                           f"for {n} frames of {source.name}")
    pairs = zip(source.frames, coded.decoded, strict=True)
    qualities: list[FrameQuality] = [frame_quality(ref, out) for ref, out in pairs]
    seq = mean_quality(qualities)
    bits = int(sum(coded.frame_bits))
    return PointResult(
        codec=codec.name, parameter=codec.parameter, value=value, bits=bits,
        bpp=bits_per_pixel(bits, source.width, source.height, n), kbps=kbit_per_second(bits, n, source.fps),
        psnr_y=seq.y, psnr_u=seq.u, psnr_v=seq.v, psnr_yuv=seq.yuv,
        encode_fps=_fps(n, coded.encode_seconds), decode_fps=_fps(n, coded.decode_seconds),
        frames=[FrameResult(t, b, q.yuv)
                for t, b, q in zip(coded.frame_types, coded.frame_bits, qualities, strict=True)],
    )


def _fps(frames: int, seconds: float) -> float | None:
    return frames / seconds if seconds > 0 else None


def _bd_rates(result: SourceResult, codecs: Sequence[str]) -> dict[str, dict[str, BdRate]]:
    curves = {c: result.curve(c) for c in codecs}
    out: dict[str, dict[str, BdRate]] = {}
    for test in codecs:
        for anchor in ANCHORS:
            if anchor == test or not curves.get(anchor) or not curves[test]:
                continue
            a, t = curves[anchor], curves[test]
            out.setdefault(test, {})[anchor] = bd_rate([p.bpp for p in a], [p.psnr_yuv for p in a],
                                                       [p.bpp for p in t], [p.psnr_yuv for p in t])
    return out


def p_to_i_bit_ratio(points: Sequence[PointResult]) -> list[float]:
    """What a P frame costs relative to an I frame of the same PSNR, per rate point.

    The I frames of all rate points form one curve (PSNR-YUV -> log bits); each
    point's mean P frame is set against that curve at its own PSNR.  Points whose
    P quality lies outside the I curve's range are left out rather than
    extrapolated, so a codec whose P frames never reach its I quality gets no ratio.
    """
    i_curve = sorted((t["I"]["mean_psnr_yuv"], math.log(t["I"]["mean_bits"]))
                     for t in (p.by_type() for p in points) if "I" in t and t["I"]["mean_bits"] > 0)
    if len(i_curve) < 2:
        return []
    psnrs, log_bits = np.array([c[0] for c in i_curve]), np.array([c[1] for c in i_curve])
    ratios = []
    for point in points:
        p_frames = point.by_type().get("P")
        if p_frames is None or not psnrs[0] <= p_frames["mean_psnr_yuv"] <= psnrs[-1]:
            continue
        i_bits = math.exp(float(np.interp(p_frames["mean_psnr_yuv"], psnrs, log_bits)))
        ratios.append(p_frames["mean_bits"] / i_bits)
    return ratios


def psnr_monotonic(points: Sequence[PointResult]) -> bool:
    """Whether PSNR-YUV moves strictly one way along the rate parameter (qp up or crf/q down)."""
    psnrs = [p.psnr_yuv for p in sorted(points, key=lambda p: p.value)]
    steps = np.diff(psnrs)
    return len(psnrs) < 2 or bool((steps > 0).all() or (steps < 0).all())


def _monotonic_summary(group: Sequence[SourceResult], codecs: dict[str, object]) -> dict[str, dict[str, int]]:
    """Per codec: on how many sources PSNR is monotonic in the rate parameter."""
    out: dict[str, dict[str, int]] = {}
    for codec in codecs:
        curves = [[p for p in s.points if p.codec == codec] for s in group]
        curves = [c for c in curves if c]
        if curves:
            out[codec] = {"monotonic": sum(psnr_monotonic(c) for c in curves), "sources": len(curves)}
    return out


def _p_to_i_summary(group: Sequence[SourceResult], codecs: dict[str, object]) -> dict[str, dict[str, object]]:
    """Mean P/I bit ratio at equal PSNR per codec over the video sources (see ``p_to_i_bit_ratio``)."""
    out: dict[str, dict[str, object]] = {}
    for codec in codecs:
        ratios = [r for s in group for r in p_to_i_bit_ratio(s.curve(codec))]
        if any(p.codec == codec for s in group for p in s.points):
            out[codec] = {"mean_ratio": float(np.mean(ratios)) if ratios else None, "points": len(ratios)}
    return out


def _mean_curves(group: Sequence[SourceResult], codecs: dict[str, object]) -> dict[str, list[dict[str, float]]]:
    """Per codec and rate point, bpp and PSNR-YUV averaged over the sources that have that point."""
    out: dict[str, list[dict[str, float]]] = {}
    for codec in codecs:
        by_value: dict[int, list[PointResult]] = {}
        for source in group:
            for point in source.points:
                if point.codec == codec:
                    by_value.setdefault(point.value, []).append(point)
        points = [{"value": v, "bpp": float(np.mean([p.bpp for p in ps])),
                   "psnr_yuv": float(np.mean([p.psnr_yuv for p in ps])), "sources": len(ps)}
                  for v, ps in by_value.items()]
        if points:
            out[codec] = sorted(points, key=lambda p: p["bpp"])
    return out


def _source_dict(result: SourceResult) -> dict[str, object]:
    doc = asdict(result)
    doc["points"] = [dict(asdict(p), by_type=p.by_type()) for p in result.points]
    doc["bd_rate"] = {t: {a: asdict(bd) for a, bd in anchors.items()} for t, anchors in result.bd_rate.items()}
    return doc


def hardware_info() -> dict[str, object]:
    """What produced the numbers: CPU model and cores, versions of torch, PyAV and Python."""
    info: dict[str, object] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
    for package in ("torch", "av", "numpy", "nvcodec"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    torch = sys.modules.get("torch")  # only when a run loaded it (nvc); baselines alone never do
    if torch is not None:
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
