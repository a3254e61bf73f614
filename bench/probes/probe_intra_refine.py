"""What the encoder's I-frame latent refinement buys: the same stills coded with and without it.

Each still is coded as a one-frame sequence and decoded; bytes and PSNR-YUV are the stream's, and the
decoder's picture is checked to be the encoder's.  Run on development stills (never the evaluation set):

    python bench/probes/probe_intra_refine.py --iterations 0,20,50 ../shared/data/images/skimage/*.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from nvcodec import numerics  # noqa: E402

numerics.prepare_environment()

import numpy as np  # noqa: E402

from nvcodec.codec.sequence import SequenceDecoder, SequenceEncoder  # noqa: E402
from nvcodec.io import open_source  # noqa: E402
from nvcodec.metrics.bdrate import bd_rate  # noqa: E402
from nvcodec.metrics.psnr import frame_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.settings import CodingSettings  # noqa: E402


def first_planes(path: str):
    with open_source(path) as source:
        return next(i for i in source.items() if hasattr(i, "planes")).planes


def code(model, planes, qp: int, iterations: int) -> tuple[int, float, float]:
    """(bytes, PSNR-YUV, seconds) of one still coded at ``qp``."""
    encoder = SequenceEncoder(model, CodingSettings(qp_i=qp), device="cpu", intra_refine=iterations)
    t0 = time.perf_counter()
    frame = encoder.encode(planes)
    seconds = time.perf_counter() - t0
    data = b"".join(u.to_bytes() for u in frame.units)
    decoded = list(SequenceDecoder(model, CodingSettings().skip_threshold, device="cpu").decode_stream(data))
    rec = frame.reconstruction
    assert all(np.array_equal(getattr(decoded[0], p), getattr(rec, p)) for p in "yuv"), "decoder differs"
    return len(data), frame_quality(planes, decoded[0]).yuv, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--model", default="nvc-compact")
    parser.add_argument("--iterations", default="0,30")
    parser.add_argument("--qps", default="12,36,63")
    args = parser.parse_args()
    model = resolve_model(args.model)
    counts = [int(v) for v in args.iterations.split(",")]
    qps = [int(v) for v in args.qps.split(",")]
    bds: dict[int, list[float]] = {n: [] for n in counts[1:]}
    for path in args.paths:
        planes = first_planes(path)
        curves: dict[int, tuple[list[float], list[float]]] = {n: ([], []) for n in counts}
        for qp in qps:
            cells = []
            for n in counts:
                size, psnr, seconds = code(model, planes, qp, n)
                bpp = 8 * size / (planes.y.shape[0] * planes.y.shape[1])
                curves[n][0].append(bpp)
                curves[n][1].append(psnr)
                cells.append(f"{n}: {bpp:.4f} bpp {psnr:.3f} dB {seconds:.1f} s")
            print(f"{Path(path).name} qp {qp}: " + " | ".join(cells), flush=True)
        if len(qps) >= 4:
            for n in counts[1:]:
                bd = bd_rate(*curves[counts[0]], *curves[n])
                if bd.percent is None:
                    print(f"{Path(path).name}: {n} iterations: BD-rate undefined ({bd.reason})", flush=True)
                    continue
                bds[n].append(bd.percent)
                print(f"{Path(path).name}: {n} iterations against {counts[0]}: BD-rate {bd.percent:+.2f} %",
                      flush=True)
    for n, values in bds.items():
        if values:
            print(f"mean BD-rate of {n} iterations against {counts[0]}: {sum(values) / len(values):+.2f} % "
                  f"over {len(values)} stills")


if __name__ == "__main__":
    main()
