"""How -q's top maps onto the picture layer: candidate knees and top steps on development sources.

Above ``LAYER_KNEE`` nvc's own models code I frames with the networks at the knee plus a picture layer
whose step falls from 64 to ``LAYER_TOP_STEP`` at -q 63; above ``LAYER_P_KNEE`` the P frames carry one
too, down to ``LAYER_P_TOP_STEP``.  Each candidate ``KNEE:P_KNEE:TOP:P_TOP`` codes every source at
``--levels`` through the encoder's own resolution of -q, real streams
decoded and checked, and is reported against x264 (the evaluation's codec) and against the networks
alone at the same levels (``--no-layer``), where the curves overlap, with both quality ranges.  Choose on
development sources only:

    python bench/probes/probe_quality_scale.py --candidates 40:52:11:7.5,52:52:11:7.5 --frames 9 CLIP...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nvcodec import numerics  # noqa: E402

numerics.prepare_environment()

import numpy as np  # noqa: E402

from nvcodec import settings as coding  # noqa: E402
from nvcodec.eval import build_codecs, run_evaluation  # noqa: E402
from nvcodec.eval.sources import load_source  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_layer_curve import coded_point  # noqa: E402


def point(model, frames, level: int, layer: bool | None) -> tuple[float, float]:
    """(bpp, PSNR-YUV averaged over frames) of the frames coded as one stream at ``-q level``."""
    return coded_point(model, frames, coding.CodingSettings(qp_i=level, layer=layer))


def bd(anchor, curve) -> float | None:
    result = bd_rate([r for r, _ in anchor], [q for _, q in anchor], [r for r, _ in curve], [q for _, q in curve])
    return result.percent


def shown(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.1f} %"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--model", default="nvc-compact")
    parser.add_argument("--candidates", default="40:52:11:7.5",
                        help="KNEE:P_KNEE:TOP_STEP:P_TOP_STEP, comma-separated")
    parser.add_argument("--levels", default="16,32,40,44,48,52,56,60,63")
    parser.add_argument("--crfs", default="18,22,26,30,34,38,42")
    parser.add_argument("--frames", type=int, default=1, help="frames of each source (1: the first picture)")
    args = parser.parse_args()
    model = resolve_model(args.model)
    levels = [int(v) for v in args.levels.split(",")]
    x264 = build_codecs(("x264",), crfs=[int(v) for v in args.crfs.split(",")])
    candidates = [tuple(float(v) for v in c.split(":")) for c in args.candidates.split(",")]
    results: dict[str, list[tuple[float | None, float | None, float]]] = {}
    for path in args.paths:
        frames = load_source(path, args.frames).frames[: args.frames]
        anchor = sorted((p.bpp, p.psnr_yuv) for p in
                        run_evaluation([path], x264, max_frames=args.frames).sources[0].points)
        alone = [point(model, frames, level, False) for level in levels]
        name = Path(path).name
        print(f"{name}: x264 {anchor[0][1]:.2f}-{anchor[-1][1]:.2f} dB; networks alone {shown(bd(anchor, alone))} "
              f"against x264, {alone[0][1]:.2f}-{alone[-1][1]:.2f} dB: "
              + " ".join(f"{r:.3f}/{q:.2f}" for r, q in alone), flush=True)
        for knee, p_knee, top, p_top in candidates:
            coding.LAYER_KNEE, coding.LAYER_P_KNEE = int(knee), int(p_knee)
            coding.LAYER_TOP_STEP, coding.LAYER_P_TOP_STEP = top, p_top
            curve = [alone[i] if level <= knee else point(model, frames, level, None)
                     for i, level in enumerate(levels)]
            against_x264, against_alone = bd(anchor, curve), bd(alone, curve)
            key = f"{int(knee)}:{int(p_knee)}:{top:g}:{p_top:g}"
            results.setdefault(key, []).append((against_x264, against_alone, curve[-1][1]))
            print(f"  knees:top {key}: {shown(against_x264)} against x264, "
                  f"{shown(against_alone)} against the networks alone, {curve[0][1]:.2f}-{curve[-1][1]:.2f} dB: "
                  + " ".join(f"{r:.3f}/{q:.2f}" for r, q in curve), flush=True)
    for key, rows in results.items():
        x = [r[0] for r in rows if r[0] is not None]
        a = [r[1] for r in rows if r[1] is not None]
        print(f"knees:top {key}: mean {np.mean(x) if x else float('nan'):+.2f} % against x264 ({len(x)} of "
              f"{len(rows)} defined), {np.mean(a) if a else float('nan'):+.2f} % against the networks alone "
              f"({len(a)} defined); mean top {np.mean([r[2] for r in rows]):.2f} dB")


if __name__ == "__main__":
    main()
