"""Speed of the native rANS coder against constriction's ANS coder, on one 1080p P frame.

The workload is what a 1920x1080 P frame hands to the coder: z as 128 x 17 x 30
symbols on 128 factorized-style tables, then two checkerboard steps of
64 x 68 x 120 y symbols, each with its own Gaussian table (scale index drawn
from a spread that leans to small scales, as trained models produce).

constriction (https://bamler-lab.github.io/constriction/) is coded with its
``stack.AnsCoder`` and per-symbol model parameters, three ways: ``Categorical``
rows built from the same quantised tables (its fastest option; the per-symbol
probability rows are built before timing, or, in ``_gather``, as part of it,
which is what a caller holding table indexes must do), and
``QuantizedGaussian`` with the scale per symbol.  Our escapes become the escape
bin for the categorical runs, so constriction codes slightly less there.  All
constriction runs and ``nvc`` are single-threaded; ``nvc_two_ec`` is the
two-coder mode DCVC-RT uses above 1280x720, its halves on two threads.  Our
encoder object lives across repeats, as a codec keeps it for a sequence.

Prints one JSON document on stdout: best-of-N Msymbols/s per coder and
direction, and our speed as a multiple of each constriction run's and of the fastest.

    python bench/bench_rans.py [--repeat 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np

from nvcodec.entropy.rans import CdfTable, RansDecoder, RansEncoder, quantize_pmfs

Y_SHAPE = (64, 68, 120)  # channels x (1088/16) x (1920/16), per step
Z_SHAPE = (128, 17, 30)  # channels x ceil(1088/64) x ceil(1920/64)
SCALE_MIN, SCALE_MAX, LEVELS = 0.11, 16.0, 128


def _phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def gaussian_table() -> tuple[CdfTable, np.ndarray]:
    """The 128 Gaussian rows (computed in float64 here: close to, not equal to, the reference's)."""
    scales = np.exp(np.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), LEVELS))
    half = np.full(LEVELS, 8)
    for i in range(8, 1, -1):
        half = np.where(_phi(i / scales) > 0.9999, i, half)
    width = 2 * half.max() + 1
    v = np.arange(width)[None, :] - half[:, None]
    pmf = (_phi((v + 0.5) / scales[:, None]) - _phi((v - 0.5) / scales[:, None])).astype(np.float32)
    tail = (2 * _phi((-half - 0.5) / scales)).astype(np.float32)
    cdf, lengths = quantize_pmfs(pmf, (2 * half + 1).astype(np.int32), tail)
    return CdfTable(cdf, lengths, -half), scales


def z_table(rng: np.random.Generator) -> tuple[CdfTable, np.ndarray]:
    """128 discretised logistic rows over -8..8 with assorted widths; also their pmfs."""
    widths = rng.uniform(0.3, 3.0, Z_SHAPE[0])
    v = np.arange(-8, 9)[None, :]

    def cdf(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-x / widths[:, None]))

    pmf = (cdf(v + 0.5) - cdf(v - 0.5)).astype(np.float32)
    tail = (cdf(np.full((1, 1), -8.5))[:, 0] + 1 - cdf(np.full((1, 1), 8.5))[:, 0]).astype(np.float32)
    q, lengths = quantize_pmfs(pmf, np.full(Z_SHAPE[0], 17, np.int32), tail)
    return CdfTable(q, lengths, np.full(Z_SHAPE[0], -8, np.int32)), pmf / pmf.sum(1, keepdims=True)


def workload(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    gauss, scales = gaussian_table()
    ztab, zpmf = z_table(rng)
    per_channel = Z_SHAPE[1] * Z_SHAPE[2]
    z_idx = np.repeat(np.arange(Z_SHAPE[0], dtype=np.int32), per_channel)
    z_sym = np.concatenate([rng.choice(17, per_channel, p=zpmf[c]) - 8 for c in range(Z_SHAPE[0])])
    steps = []
    n = int(np.prod(Y_SHAPE))
    for _ in range(2):
        # Mostly small scales, a shoulder of medium ones, a few large.
        idx = np.concatenate(
            [rng.integers(0, 25, n * 6 // 10), rng.integers(25, 70, n * 3 // 10), rng.integers(70, 128, n)]
        )[:n]
        rng.shuffle(idx)
        sym = np.clip(np.rint(rng.normal(0, scales[idx])), -128, 127)
        steps.append((sym.astype(np.int32), idx.astype(np.int32), scales[idx]))
    return {
        "gauss": gauss,
        "ztab": ztab,
        "zpmf": zpmf,
        "z": (z_sym.astype(np.int32), z_idx),
        "steps": steps,
        "count": len(z_sym) + sum(len(s[0]) for s in steps),
    }


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def bench_ours(w: dict, two_ec: bool, repeat: int) -> dict:
    z_sym, z_idx = w["z"]
    enc = RansEncoder(two_ec)  # one per sequence, as a codec keeps it: its buffers are reused

    def encode() -> bytes:
        enc.encode(z_sym, z_idx, w["ztab"])
        for sym, idx, _ in w["steps"]:
            enc.encode(sym, idx, w["gauss"])
        return enc.flush()

    t_enc, payload = best_of(encode, repeat)

    def decode() -> list[np.ndarray]:
        d = RansDecoder(payload, two_ec)
        out = [d.decode(z_idx, w["ztab"])]
        out += [d.decode(idx, w["gauss"]) for _, idx, _ in w["steps"]]
        d.finish()
        return out

    t_dec, out = best_of(decode, repeat)
    assert np.array_equal(out[0], z_sym)
    assert all(np.array_equal(o, s[0]) for o, s in zip(out[1:], w["steps"], strict=True))
    return {"encode_s": t_enc, "decode_s": t_dec, "bytes": len(payload)}


def _categorical_rows(table) -> np.ndarray:
    """Each table row as probabilities over its bins (escape bin included), zero-padded."""
    freq = np.diff(table.cdf.astype(np.float64), axis=1)
    keep = np.arange(freq.shape[1])[None, :] < (table.lengths - 1)[:, None]
    return np.ascontiguousarray(np.where(keep, freq, 0) / 65536.0, dtype=np.float32)


def bench_constriction(w: dict, repeat: int, variant: str) -> dict:
    """variant: "gaussian" (QuantizedGaussian, std per symbol), "categorical" (per-symbol
    probability rows built before timing) or "categorical_gather" (building them is timed)."""
    import constriction

    model = constriction.stream.model
    z_sym, z_idx = w["z"]
    z_rows = _categorical_rows(w["ztab"])
    z_sym_c = (z_sym - w["ztab"].offsets[z_idx]).astype(np.int32)
    if variant == "gaussian":
        family = model.QuantizedGaussian(-128, 127)
        zero = [np.zeros(len(s[0])) for s in w["steps"]]
        y_syms = [s[0] for s in w["steps"]]

        def y_params(k: int) -> tuple:
            return (zero[k], w["steps"][k][2])
    else:
        family = model.Categorical(perfect=False)
        g = w["gauss"]
        g_rows = _categorical_rows(g)
        # Our escapes have no counterpart here: they become the escape bin (less work for constriction).
        y_syms = [np.clip(s - g.offsets[i], 0, g.lengths[i] - 2).astype(np.int32) for s, i, _ in w["steps"]]
        prebuilt = [np.ascontiguousarray(g_rows[i]) for _, i, _ in w["steps"]]

        def y_params(k: int) -> tuple:
            if variant == "categorical_gather":
                return (np.ascontiguousarray(g_rows[w["steps"][k][1]]),)
            return (prebuilt[k],)

    cat = model.Categorical(perfect=False)
    z_pre = np.ascontiguousarray(z_rows[z_idx])

    def z_params() -> np.ndarray:
        return np.ascontiguousarray(z_rows[z_idx]) if variant == "categorical_gather" else z_pre

    def encode() -> np.ndarray:
        coder = constriction.stream.stack.AnsCoder()
        for k in reversed(range(len(y_syms))):
            coder.encode_reverse(y_syms[k], family, *y_params(k))
        coder.encode_reverse(z_sym_c, cat, z_params())
        return coder.get_compressed()

    t_enc, compressed = best_of(encode, repeat)

    def decode() -> list[np.ndarray]:
        coder = constriction.stream.stack.AnsCoder(compressed)
        out = [coder.decode(cat, z_params())]
        out += [coder.decode(family, *y_params(k)) for k in range(len(y_syms))]
        return out

    t_dec, out = best_of(decode, repeat)
    assert np.array_equal(out[0], z_sym_c)
    assert all(np.array_equal(o, s) for o, s in zip(out[1:], y_syms, strict=True))
    return {"encode_s": t_enc, "decode_s": t_dec, "bytes": int(compressed.nbytes)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    print("building workload", file=sys.stderr)
    w = workload(args.seed)
    n = w["count"]
    runs = {}
    for name, fn in [
        ("nvc", lambda: bench_ours(w, False, args.repeat)),
        ("nvc_two_ec", lambda: bench_ours(w, True, args.repeat)),
        ("constriction_categorical", lambda: bench_constriction(w, args.repeat, "categorical")),
        ("constriction_categorical_gather", lambda: bench_constriction(w, args.repeat, "categorical_gather")),
        ("constriction_gaussian", lambda: bench_constriction(w, args.repeat, "gaussian")),
    ]:
        print(f"running {name}", file=sys.stderr)
        r = fn()
        r["encode_msym_s"] = n / r["encode_s"] / 1e6
        r["decode_msym_s"] = n / r["decode_s"] / 1e6
        runs[name] = r
    baselines = [k for k in runs if k.startswith("constriction")]
    ratios = {
        f"{ours}_vs_{base}": {
            "encode": runs[ours]["encode_msym_s"] / runs[base]["encode_msym_s"],
            "decode": runs[ours]["decode_msym_s"] / runs[base]["decode_msym_s"],
        }
        for ours in ("nvc", "nvc_two_ec")
        for base in baselines
    }
    fastest = {d: max(runs[b][f"{d}_msym_s"] for b in baselines) for d in ("encode", "decode")}
    vs_fastest = {
        ours: {d: runs[ours][f"{d}_msym_s"] / fastest[d] for d in ("encode", "decode")}
        for ours in ("nvc", "nvc_two_ec")
    }
    doc = {
        "workload": {
            "symbols": n,
            "z_shape": Z_SHAPE,
            "y_step_shape": Y_SHAPE,
            "y_steps": 2,
            "seed": args.seed,
            "repeat": args.repeat,
        },
        "host": {"machine": platform.machine(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "runs": runs,
        "ratios": ratios,
        "vs_fastest_constriction": vs_fastest,
    }
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
