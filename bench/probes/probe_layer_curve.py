"""Stills coded by nvc with the picture layer above a base qp, against x264, in real streams.

The curve is nvc alone at ``--qps`` and then, from ``--base`` on, the base qp with the picture layer at
each of ``--steps`` (coarse to fine): one rate knob from nvc's bottom to far past its ceiling.  Every
stream is decoded and checked against the encoder's pictures.  Reports each still's BD-rate against
x264 (crf ``--crfs``, the evaluation's codec) where the curves overlap, both quality ranges, and the
mean.  Choose the base and steps on development stills; run the evaluation set after the choice:

    python bench/probes/probe_layer_curve.py ../shared/data/images/skimage/{astronaut,coffee}.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nvcodec import numerics  # noqa: E402

numerics.prepare_environment()

import numpy as np  # noqa: E402

from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder  # noqa: E402
from nvcodec.eval import build_codecs, run_evaluation  # noqa: E402
from nvcodec.eval.sources import load_source  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402
from nvcodec.metrics.psnr import frame_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402


def still(path: str):
    """The picture as the evaluation reads it (its colour conversion), so x264 and nvc see the same one."""
    return load_source(path).frames[0]


def point(model, planes, qp: int, step: float | None) -> tuple[float, float]:
    """(bpp, PSNR-YUV) of one still as a stream, decoded and checked."""
    settings = CodingSettings(qp_i=qp, layer_step=step)
    coded = SequenceEncoder(model, settings, device="cpu").encode(planes)
    data = b"".join(u.to_bytes() for u in coded.units)
    (decoded,) = SequenceDecoder(model, settings.skip_threshold, device="cpu", chroma=planes.chroma).decode_stream(data)
    assert all(np.array_equal(getattr(decoded, n), getattr(coded.reconstruction, n)) for n in "yuv"), "decoder differs"
    q = frame_quality(planes, decoded)
    return 8 * len(data) / planes.y.size, (6 * q.y + q.u + q.v) / 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--model", default="nvc-compact")
    parser.add_argument("--qps", default="0,16,32", help="nvc alone, under the base")
    parser.add_argument("--base", type=int, default=48)
    parser.add_argument("--steps", default="32,24,16,12,8,6,4", help="the layer's steps above the base, coarse first")
    parser.add_argument("--crfs", default="18,22,26,30,34,38,42")
    args = parser.parse_args()
    model = resolve_model(args.model)
    x264 = build_codecs(("x264",), crfs=[int(v) for v in args.crfs.split(",")])
    rates = [(int(q), None) for q in args.qps.split(",")] + [(args.base, None)]
    rates += [(args.base, float(s)) for s in args.steps.split(",")]
    bds, tops = [], []
    for path in args.paths:
        planes = still(path)
        curve = [point(model, planes, qp, step) for qp, step in rates]
        anchor = sorted((p.bpp, p.psnr_yuv) for p in run_evaluation([path], x264).sources[0].points)
        result = bd_rate([r for r, _ in anchor], [q for _, q in anchor], [r for r, _ in curve], [q for _, q in curve])
        name = Path(path).name
        shown = f"{result.percent:+.1f} %" if result.percent is not None else f"undefined ({result.reason})"
        print(f"{name}: BD-rate against x264 {shown}; nvc {curve[0][1]:.2f}-{curve[-1][1]:.2f} dB, "
              f"x264 {anchor[0][1]:.2f}-{anchor[-1][1]:.2f} dB; nvc bpp " + " ".join(f"{r:.3f}" for r, _ in curve),
              flush=True)
        tops.append(curve[-1][1])
        if result.percent is not None:
            bds.append(result.percent)
    print(f"mean BD-rate against x264 {np.mean(bds):+.2f} % ({len(bds)} of {len(args.paths)} defined); "
          f"mean top {np.mean(tops):.2f} dB")


if __name__ == "__main__":
    main()
