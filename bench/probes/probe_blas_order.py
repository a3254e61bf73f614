"""Reads the summation order of torch's small-convolution path off this machine and compares it with nvc's.

torch runs a small convolution (batch 1, at most 20480 input values) as im2col and a BLAS sgemm, and
that BLAS decides the last bit of every output by how it orders each reduction.  This tool reveals the
order without looking inside the BLAS: for a 1x1 convolution over K inputs (products) plus the bias,
it sets leaf i to +2^40, leaf j to -2^40 and every other leaf to 1.  Wherever the two big values meet,
the ones already added to either of them are lost, so the output counts the ones outside the smallest
subtree that holds i and j; over all pairs this rebuilds the whole tree.  Every output row gets the
same patterns in ``--phases`` consecutive rows, since a vectorised BLAS may treat rows differently by
their alignment.

It then runs the same patterns through nvc's reference-order convolution
(nvcodec.models.reference_conv) and reports the shapes whose trees differ.  The trees cover output
row counts that are multiples of the phases; a second pass compares both convolutions on random data
for layer shapes with every output row count modulo 4 (1x1, 2x2 stride 2 and 3x3 kernels).  On a machine whose BLAS
computed the DCVC-RT conformance vectors (torch 2.13's MKL without MKL_CBWR on an AMD EPYC reproduces
every traced layer), no shape differs; elsewhere the output shows how that BLAS orders its sums.

    python bench/probes/probe_blas_order.py [--k 8,13,64] [--positions 1-24] [--phases 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

# The profile's kernel caps, but not MKL_CBWR (which changes MKL's order): torch reads them at import.
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nvcodec.models import reference_conv  # noqa: E402

BIG = 2.0**40


def leaf_patterns(k: int, phases: int) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Weights and bias of one output row per (pair, phase); leaf k is the bias."""
    pairs = [(i, j) for i in range(k + 1) for j in range(i + 1, k + 1)]
    weight = np.ones((phases * len(pairs), k), np.float32)
    bias = np.ones(phases * len(pairs), np.float32)
    for p, (i, j) in enumerate(pairs):
        rows = slice(phases * p, phases * (p + 1))
        for leaf, value in ((i, BIG), (j, -BIG)):
            if leaf == k:
                bias[rows] = value
            else:
                weight[rows, leaf] = value
    return pairs, weight, bias


def meeting_sizes(out: np.ndarray, pairs: list[tuple[int, int]], k: int, phases: int) -> np.ndarray:
    """sizes[phase, position, i, j]: how many leaves the smallest subtree holding i and j has."""
    n = k + 1
    sizes = np.zeros((phases, out.shape[1], n, n), np.int64)
    for p, (i, j) in enumerate(pairs):
        got = n - np.rint(out[phases * p : phases * (p + 1)]).astype(np.int64)
        sizes[:, :, i, j] = sizes[:, :, j, i] = got
    return sizes


def trees(k: int, positions: int, phases: int) -> tuple[np.ndarray, np.ndarray]:
    """Meeting sizes of torch's own convolution and of nvc's reference-order one, same patterns."""
    pairs, weight, bias = leaf_patterns(k, phases)
    x = torch.ones(1, k, 1, positions)
    conv = reference_conv.Conv2d(k, len(bias), 1).requires_grad_(False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight)[:, :, None, None])
        conv.bias.copy_(torch.from_numpy(bias))
        theirs = F.conv2d(x, conv.weight, conv.bias)[0].reshape(len(bias), positions).numpy()
        with reference_conv.enabled():
            ours = conv(x)[0].reshape(len(bias), positions).numpy()
    return meeting_sizes(theirs, pairs, k, phases), meeting_sizes(ours, pairs, k, phases)


def random_mismatches(seed: int = 0) -> tuple[int, list[dict]]:
    """Layers whose outputs on random data differ between torch's convolution and nvc's."""
    torch.manual_seed(seed)
    shapes, differ = 0, []
    for cin, cout, kernel, stride, pad in [(128, 70, 1, 1, 0), (300, 71, 2, 2, 0), (37, 73, 3, 1, 1),
                                           (1200, 6, 1, 1, 0), (64, 5, 3, 2, 1), (512, 128, 1, 1, 0)]:
        conv = reference_conv.Conv2d(cin, cout, kernel, stride=stride, padding=pad).requires_grad_(False)
        for h in range(1, 5):
            for w in range(1, 6):
                x = torch.randn(1, cin, h * stride, w * stride)
                if not reference_conv.eligible(x, conv):
                    continue
                theirs = F.conv2d(x, conv.weight, conv.bias, stride=stride, padding=pad)
                with reference_conv.enabled():
                    ours = conv(x)
                shapes += 1
                if not torch.equal(theirs, ours):
                    differ.append({"layer": [cin, cout, kernel, stride, pad], "output": list(theirs.shape[2:]),
                                   "values": int((theirs != ours).sum())})
    return shapes, differ


def parse_range(text: str) -> list[int]:
    values: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        values += list(range(int(lo), int(hi or lo) + 1))
    return values


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", default="1,4,5,8,9,13,16,27,64", help="reduction lengths, e.g. 8,13 or 1-16")
    ap.add_argument("--positions", default="1-24", help="output positions (columns), e.g. 1-24")
    ap.add_argument("--phases", type=int, default=8, help="consecutive output rows per pattern")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    report = {"torch": torch.__version__, "shapes": 0, "differ": []}
    for k in parse_range(args.k):
        for positions in parse_range(args.positions):
            if k * positions > reference_conv.SLOW_PATH_MAX_INPUT:
                continue
            theirs, ours = trees(k, positions, args.phases)
            differ = (theirs != ours).any(axis=(2, 3))
            report["shapes"] += 1
            if differ.any():
                where = [[int(r), int(c)] for r, c in zip(*np.nonzero(differ), strict=True)]
                report["differ"].append({"k": k, "positions": positions, "phase_and_position": where[:16]})
    report["random_shapes"], report["random_differ"] = random_mismatches()
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0 if not report["differ"] and not report["random_differ"] else 1


if __name__ == "__main__":
    sys.exit(main())
