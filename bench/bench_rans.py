"""Speed of the native rANS coder against constriction's ANS coder, on one 1080p P frame.

The workload is what a 1920x1080 P frame hands to the coder: z as 128 x 17 x 30
symbols on 128 factorized-style tables, then two checkerboard steps of
64 x 68 x 120 y symbols, each with its own Gaussian table (scale index drawn
from a spread that leans to small scales, as trained models produce).

constriction (https://bamler-lab.github.io/constriction/) is coded with its
``stack.AnsCoder``, four ways: ``Categorical`` with per-symbol probability rows
built from the same quantised tables (built before timing, or, in ``_gather``,
as part of it, which is what a caller holding table indexes must do);
``_grouped``, one fixed ``Categorical`` per table row (built before timing, as
our tables are) and each array coded row by row, its symbols grouped by row in
a stable order the decoder rebuilds from the indexes (grouping and scattering
timed), which is constriction's fastest path for these symbols; and
``QuantizedGaussian`` with the scale per symbol.  Our escapes become the escape
bin for the categorical runs, so constriction codes slightly less there.  All
constriction runs and ``nvc`` are single-threaded; ``nvc_two_ec`` is the
two-coder mode DCVC-RT uses above 1280x720, its halves on two threads.  Our
encoder object lives across repeats, as SequenceEncoder keeps it for a
sequence; everything a frame costs (queueing, coding, payload and output
arrays) is timed.  The coders take turns round by round, and both wall-clock
and CPU time are recorded: on a machine shared with other work the CPU-time
figures are the steady ones.

Prints one JSON document on stdout: best-of-N Msymbols/s per coder, direction
and clock (``cpu_`` keys: per CPU-second), and our speed as a multiple of each
constriction run's and of the fastest one per direction and clock.

    python bench/bench_rans.py [--repeat 30] [--seed 0]
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
from typing import Any

import numpy as np

from nvcodec import numerics
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


class Run:
    """One coder under test: encode() gives a payload, decode(payload) gives what check() accepts."""

    def __init__(self, encode: Callable[[], Any], decode: Callable[[Any], Any], check: Callable[[Any], bool],
                 size: Callable[[Any], int]) -> None:
        self.encode, self.decode, self.check, self.size = encode, decode, check, size


def bench_ours(w: dict, two_ec: bool) -> Run:
    z_sym, z_idx = w["z"]
    enc = RansEncoder(two_ec)  # one per sequence, as SequenceEncoder keeps it: its buffers are reused

    def encode() -> bytes:
        enc.encode(z_sym, z_idx, w["ztab"])
        for sym, idx, _ in w["steps"]:
            enc.encode(sym, idx, w["gauss"])
        return enc.flush()

    def decode(payload: bytes) -> list[np.ndarray]:
        d = RansDecoder(payload, two_ec)
        out = [d.decode(z_idx, w["ztab"])]
        out += [d.decode(idx, w["gauss"]) for _, idx, _ in w["steps"]]
        d.finish()
        return out

    def check(out: list[np.ndarray]) -> bool:
        return np.array_equal(out[0], z_sym) and all(
            np.array_equal(o, s[0]) for o, s in zip(out[1:], w["steps"], strict=True))

    return Run(encode, decode, check, len)


def _categorical_rows(table) -> np.ndarray:
    """Each table row as probabilities over its bins (escape bin included), zero-padded."""
    freq = np.diff(table.cdf.astype(np.float64), axis=1)
    keep = np.arange(freq.shape[1])[None, :] < (table.lengths - 1)[:, None]
    return np.ascontiguousarray(np.where(keep, freq, 0) / 65536.0, dtype=np.float32)


def bench_constriction(w: dict, variant: str) -> Run:
    """variant: "gaussian" (QuantizedGaussian, std per symbol), "categorical" (per-symbol
    probability rows built before timing) or "categorical_gather" (building them is timed)."""
    import constriction

    if variant == "categorical_grouped":
        return bench_constriction_grouped(w)

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

    def decode(compressed: np.ndarray) -> list[np.ndarray]:
        coder = constriction.stream.stack.AnsCoder(compressed)
        out = [coder.decode(cat, z_params())]
        out += [coder.decode(family, *y_params(k)) for k in range(len(y_syms))]
        return out

    def check(out: list[np.ndarray]) -> bool:
        return np.array_equal(out[0], z_sym_c) and all(
            np.array_equal(o, s) for o, s in zip(out[1:], y_syms, strict=True))

    return Run(encode, decode, check, lambda c: int(c.nbytes))


def _row_runs(idx: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """A stable order that groups the symbols by table row, and where each row's run ends.

    Per-frame work (the rows change every frame).  With at most 256 rows the
    indexes fit uint8, for which numpy's stable sort is a radix sort.
    """
    key = idx.astype(np.uint8) if rows <= 256 else idx
    return np.argsort(key, kind="stable"), np.cumsum(np.bincount(idx, minlength=rows))


def bench_constriction_grouped(w: dict) -> Run:
    """constriction with one fixed ``Categorical`` model per table row, built before timing as
    our tables are.  Each array is coded row by row (symbols grouped by row, in a stable order
    that the decoder rebuilds from the indexes it holds), so every call codes a run of symbols
    with one model, constriction's fastest path.  Grouping and the decoder's scatter are timed."""
    import constriction

    model = constriction.stream.model
    arrays = []
    z_sym, z_idx = w["z"]
    for table, sym, idx in [(w["ztab"], z_sym, z_idx)] + [(w["gauss"], s, i) for s, i, _ in w["steps"]]:
        rows = _categorical_rows(table)
        models = [model.Categorical(rows[r, : table.lengths[r] - 1].astype(np.float64), perfect=False)
                  for r in range(len(rows))]
        # As in the other categorical runs, escapes become the escape bin.
        v = np.clip(sym - table.offsets[idx], 0, table.lengths[idx] - 2).astype(np.int32)
        arrays.append((v, idx, models))

    def encode() -> np.ndarray:
        coder = constriction.stream.stack.AnsCoder()
        for sym, idx, models in reversed(arrays):
            order, ends = _row_runs(idx, len(models))
            grouped = sym[order]
            for r in reversed(range(len(models))):
                lo = ends[r - 1] if r else 0
                if ends[r] > lo:
                    coder.encode_reverse(grouped[lo : ends[r]], models[r])
        return coder.get_compressed()

    def decode(compressed: np.ndarray) -> list[np.ndarray]:
        coder = constriction.stream.stack.AnsCoder(compressed)
        outs = []
        for _, idx, models in arrays:
            order, ends = _row_runs(idx, len(models))
            grouped = np.empty(len(idx), np.int32)
            lo = 0
            for r in range(len(models)):
                if ends[r] > lo:
                    grouped[lo : ends[r]] = coder.decode(models[r], int(ends[r] - lo))
                lo = ends[r]
            out = np.empty_like(grouped)
            out[order] = grouped
            outs.append(out)
        return outs

    def check(out: list[np.ndarray]) -> bool:
        return all(np.array_equal(o, a[0]) for o, a in zip(out, arrays, strict=True))

    return Run(encode, decode, check, lambda c: int(c.nbytes))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    # The allocator setting every nvc command runs with (freed blocks stay in the process), for all
    # coders alike: without it each fresh output array of a round pays its page faults again.
    numerics.tune_allocator()

    print("building workload", file=sys.stderr)
    w = workload(args.seed)
    n = w["count"]
    setups = {
        "nvc": lambda: bench_ours(w, False),
        "nvc_two_ec": lambda: bench_ours(w, True),
        "constriction_categorical": lambda: bench_constriction(w, "categorical"),
        "constriction_categorical_gather": lambda: bench_constriction(w, "categorical_gather"),
        "constriction_categorical_grouped": lambda: bench_constriction(w, "categorical_grouped"),
        "constriction_gaussian": lambda: bench_constriction(w, "gaussian"),
    }
    coders = {name: make() for name, make in setups.items()}
    clocks = {"": time.perf_counter, "cpu_": time.process_time}
    best = {name: {f"{c}{d}_s": math.inf for c in clocks for d in ("encode", "decode")} for name in coders}
    # Round-robin: every coder is timed once per round, so that load from other
    # processes on a shared machine hits all of them alike; the best round counts.
    # Wall-clock time is the headline; CPU time (all threads of this process) is
    # kept too, as it hardly moves when other processes take turns on the cores.
    for rnd in range(args.repeat):
        print(f"round {rnd + 1}/{args.repeat}", file=sys.stderr)
        for name, run in coders.items():
            start = {c: f() for c, f in clocks.items()}
            payload = run.encode()
            mid = {c: f() for c, f in clocks.items()}
            out = run.decode(payload)
            end = {c: f() for c, f in clocks.items()}
            if not run.check(out):
                raise AssertionError(f"{name} did not decode what it encoded")
            b = best[name]
            for c in clocks:
                b[f"{c}encode_s"] = min(b[f"{c}encode_s"], mid[c] - start[c])
                b[f"{c}decode_s"] = min(b[f"{c}decode_s"], end[c] - mid[c])
            b["bytes"] = run.size(payload)
    runs = {}
    for name, r in best.items():
        for c in clocks:
            for d in ("encode", "decode"):
                r[f"{c}{d}_msym_s"] = n / r[f"{c}{d}_s"] / 1e6
        runs[name] = r
    baselines = [k for k in runs if k.startswith("constriction")]
    ratios = {
        f"{ours}_vs_{base}": {
            f"{c}{d}": runs[ours][f"{c}{d}_msym_s"] / runs[base][f"{c}{d}_msym_s"]
            for c in clocks
            for d in ("encode", "decode")
        }
        for ours in ("nvc", "nvc_two_ec")
        for base in baselines
    }
    keys = [f"{c}{d}" for c in clocks for d in ("encode", "decode")]
    fastest = {k: max(runs[b][f"{k}_msym_s"] for b in baselines) for k in keys}
    vs_fastest = {ours: {k: runs[ours][f"{k}_msym_s"] / fastest[k] for k in keys} for ours in ("nvc", "nvc_two_ec")}
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
