"""Block skip on and off (and its distortion weight) on the development clips: BD-rate and P/I.

    .venv/bin/python bench/probes/probe_block_skip.py [--weights 2,3,4] [--frames 21] [--p-offset 12] [--only bikes]

Each clip of bench/dev_set.json is coded at qp 0-63 by the shipped model without block skip and
with it at each distortion weight (``nvcodec.codec.block_skip.DISTORTION_WEIGHT``), both with the
P frames ``--p-offset`` (default 12) under the I frame; printed per clip: the BD-rate (PSNR-YUV)
against block skip off, and the mean P/I bit ratio at equal PSNR (``nvcodec.eval.p_to_i_bit_ratio``'s
rule).  Training-split clips only: how the weight was chosen without looking at the evaluation set.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nvcodec.numerics import prepare_environment  # noqa: E402

prepare_environment()

import numpy as np  # noqa: E402

from nvcodec.codec import block_skip  # noqa: E402
from nvcodec.codec.sequence import SequenceEncoder  # noqa: E402
from nvcodec.eval.sources import load_source  # noqa: E402
from nvcodec.metrics import bd_rate, frame_quality  # noqa: E402
from nvcodec.models.registry import resolve_model  # noqa: E402
from nvcodec.settings import P_QP_OFFSET, CodingSettings  # noqa: E402

QPS = (0, 12, 24, 36, 48, 63)


def code(model, frames, qp: int, skip: bool, p_offset: int = P_QP_OFFSET) -> dict[str, float]:
    encoder = SequenceEncoder(model, CodingSettings(qp_i=qp, qp_p=max(0, qp - p_offset), block_skip=skip))
    kinds = {"I": ([], []), "P": ([], [])}
    for frame in frames:
        encoded = encoder.encode(frame)
        bits, psnrs = kinds[encoded.plan.frame_type.name]
        bits.append(8 * encoded.size_bytes)
        psnrs.append(frame_quality(frame, encoded.reconstruction).yuv)
    all_bits = kinds["I"][0] + kinds["P"][0]
    return {"bpp": sum(all_bits) / (frames[0].width * frames[0].height * len(frames)),
            "psnr": float(np.mean(kinds["I"][1] + kinds["P"][1])),
            "i_bits": float(np.mean(kinds["I"][0])), "i_psnr": float(np.mean(kinds["I"][1])),
            "p_bits": float(np.mean(kinds["P"][0])), "p_psnr": float(np.mean(kinds["P"][1]))}


def p_to_i(points: list[dict[str, float]]) -> float | None:
    curve = sorted((p["i_psnr"], math.log(p["i_bits"])) for p in points)
    psnrs, log_bits = np.array([c[0] for c in curve]), np.array([c[1] for c in curve])
    ratios = [p["p_bits"] / math.exp(float(np.interp(p["p_psnr"], psnrs, log_bits)))
              for p in points if psnrs[0] <= p["p_psnr"] <= psnrs[-1]]
    return float(np.mean(ratios)) if ratios else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--weights", default=str(block_skip.DISTORTION_WEIGHT))
    parser.add_argument("--frames", type=int, default=21)
    parser.add_argument("--only", default="", help="comma-separated parts of clip names to keep")
    parser.add_argument("--p-offset", type=int, default=P_QP_OFFSET,
                        help="P frames this many qp under the I frame, with block skip and without (the same "
                             "for both, so that the comparison is of block skip alone)")
    args = parser.parse_args()
    dev = json.loads((ROOT / "bench" / "dev_set.json").read_text())
    model = resolve_model(None)
    weights = [float(w) for w in args.weights.split(",")]
    report = {}
    keep = [k for k in args.only.split(",") if k]
    for video in dev["videos"]:
        if keep and not any(k in video for k in keep):
            continue
        source = load_source(args.data / video, args.frames)
        off = [code(model, source.frames, qp, False, args.p_offset) for qp in QPS]
        row = {"off": {"p_to_i": p_to_i(off)}}
        for weight in weights:
            block_skip.DISTORTION_WEIGHT = weight
            on = [code(model, source.frames, qp, True, args.p_offset) for qp in QPS]
            bd = bd_rate([p["bpp"] for p in off], [p["psnr"] for p in off],
                         [p["bpp"] for p in on], [p["psnr"] for p in on])
            row[f"weight {weight:g}"] = {"bd_rate_percent": bd.percent, "p_to_i": p_to_i(on),
                                         "bd_note": bd.reason}
        report[source.name] = row
        print(json.dumps({source.name: row}), flush=True)
    print(json.dumps(report, indent=1))
    defined = [r[w]["bd_rate_percent"] for r in report.values() for w in r if w != "off"]
    if defined:
        print("per weight, mean BD-rate and P/I over the clips:")
        for weight in weights:
            key = f"weight {weight:g}"
            bds = [r[key]["bd_rate_percent"] for r in report.values() if r[key]["bd_rate_percent"] is not None]
            pis = [r[key]["p_to_i"] for r in report.values() if r[key]["p_to_i"] is not None]
            print(f"  {weight:g}: BD {np.mean(bds):+.2f} % ({len(bds)} clips), P/I {np.mean(pis):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
