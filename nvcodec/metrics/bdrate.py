"""Bjøntegaard delta rate: the average rate difference of two RD curves at equal quality.

Each curve is log10(rate) as a function of quality (PSNR), interpolated through
its points by a piecewise cubic Hermite interpolant (PCHIP, the method of the
JCT-VC/JVET common-test-condition sheets, which unlike VCEG-M33's single cubic
cannot overshoot between points).  The two interpolants are integrated over the
quality range both curves cover; the mean difference ``d`` of log10 rates gives
``(10**d - 1) * 100`` percent: negative means the test codec needs fewer bits.

The well-kept ``bjontegaard`` package (FAU-LMS, cross-checked against the JVET
Excel sheet) computes it when installed (``pip install nvcodec[eval]``); without
it the same PCHIP integral is computed here in numpy, so the core install and
the test suite need neither it nor scipy.  Both give the same value to ~1e-12.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Implementation = Literal["auto", "bjontegaard", "nvc"]


@dataclass(frozen=True)
class BdRate:
    """A BD-rate in percent, or None with the reason it is undefined.

    ``overlap`` is the share of the two curves' combined quality range that both
    cover; below ~0.75 the number extrapolates little but says little, too.
    """

    percent: float | None
    overlap: float
    reason: str | None = None


def bd_rate_implementation(implementation: Implementation = "auto") -> str:
    """Which code computes BD-rates (recorded next to results)."""
    if implementation == "nvc" or (implementation == "auto" and _bjontegaard() is None):
        return "nvc pchip"
    module = _bjontegaard()
    if module is None:
        raise ImportError("the bjontegaard package is not installed (pip install nvcodec[eval])")
    return f"bjontegaard {module.__version__} pchip"


def bd_rate(anchor_rates: Sequence[float], anchor_quality: Sequence[float],
            test_rates: Sequence[float], test_quality: Sequence[float],
            implementation: Implementation = "auto") -> BdRate:
    """BD-rate of the test curve against the anchor, in percent of the anchor's rate.

    Rates may be in any unit common to both curves (bpp, kbit/s); points may come in
    any order.  Undefined (``percent`` None) when a curve has fewer than two points,
    a rate that is not positive, quality that does not rise strictly with rate, or
    when the curves share no quality range.
    """
    anchor, why = _curve(anchor_rates, anchor_quality, "anchor")
    if anchor is None:
        return BdRate(None, 0.0, why)
    test, why = _curve(test_rates, test_quality, "test")
    if test is None:
        return BdRate(None, 0.0, why)
    (qa, la), (qt, lt) = anchor, test
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    span = max(qa[-1], qt[-1]) - min(qa[0], qt[0])
    overlap = max(hi - lo, 0.0) / span if span > 0 else 0.0
    if hi <= lo:
        return BdRate(None, 0.0, "the curves share no quality range")
    if implementation == "nvc" or (implementation == "auto" and _bjontegaard() is None):
        mean_log_diff = (_pchip_integral(qt, lt, lo, hi) - _pchip_integral(qa, la, lo, hi)) / (hi - lo)
        percent = (10.0 ** mean_log_diff - 1.0) * 100.0
    else:
        module = _bjontegaard()
        if module is None:
            raise ImportError("the bjontegaard package is not installed (pip install nvcodec[eval])")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its overlap warning; we return the overlap instead
            percent = float(module.bd_rate(10.0 ** la, qa, 10.0 ** lt, qt, method="pchip",
                                           require_matching_points=False, min_overlap=0.0))
    return BdRate(float(percent), float(overlap))


def _curve(rates: Sequence[float], quality: Sequence[float], which: str):
    """(quality ascending, log10 rate) arrays, or None and why the curve is unusable."""
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError(f"{which} curve: {r.size} rates but {q.size} quality values")
    if r.size < 2:
        return None, f"the {which} curve has fewer than two points"
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))) or np.any(r <= 0):
        return None, f"the {which} curve has a rate that is zero, negative or not finite"
    order = np.argsort(q, kind="stable")
    q, r = q[order], r[order]
    if np.any(np.diff(q) <= 0) or np.any(np.diff(r) <= 0):
        return None, f"the {which} curve's quality does not rise strictly with its rate"
    return (q, np.log10(r)), None


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Node derivatives of the shape-preserving PCHIP interpolant (Fritsch–Carlson, as SciPy).

    Interior nodes take the weighted harmonic mean of the neighbouring secant
    slopes (zero at a local extremum); end nodes a one-sided three-point estimate
    clipped so the curve keeps its shape.  Two points give the straight line.
    """
    h = np.diff(x)
    m = np.diff(y) / h
    if x.size == 2:
        return np.array([m[0], m[0]])
    d = np.empty_like(x)
    w1 = 2.0 * h[1:] + h[:-1]
    w2 = h[1:] + 2.0 * h[:-1]
    flat = (np.sign(m[1:]) != np.sign(m[:-1])) | (m[1:] == 0.0) | (m[:-1] == 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = (w1 + w2) / (w1 / m[:-1] + w2 / m[1:])
    d[1:-1] = np.where(flat, 0.0, harmonic)
    d[0] = _end_slope(h[0], h[1], m[0], m[1])
    d[-1] = _end_slope(h[-1], h[-2], m[-1], m[-2])
    return d


def _end_slope(h0: float, h1: float, m0: float, m1: float) -> float:
    d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    if np.sign(d) != np.sign(m0):
        return 0.0
    if np.sign(m0) != np.sign(m1) and abs(d) > abs(3.0 * m0):
        return 3.0 * m0
    return d


def _pchip_integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] (inside [x0, xn]) of the PCHIP interpolant through (x, y).

    On each interval the Hermite cubic is y_k + d_k t + c2 t² + c3 t³ in t = x - x_k,
    whose antiderivative is integrated in closed form over the part inside [lo, hi].
    """
    d = _pchip_slopes(x, y)
    total = 0.0
    for k in range(x.size - 1):
        a, b = max(lo, x[k]), min(hi, x[k + 1])
        if b <= a:
            continue
        h = x[k + 1] - x[k]
        m = (y[k + 1] - y[k]) / h
        c2 = (3.0 * m - 2.0 * d[k] - d[k + 1]) / h
        c3 = (d[k] + d[k + 1] - 2.0 * m) / (h * h)

        def antiderivative(t: float, k: int = k, c2: float = c2, c3: float = c3) -> float:
            return y[k] * t + d[k] * t * t / 2.0 + c2 * t ** 3 / 3.0 + c3 * t ** 4 / 4.0

        total += antiderivative(b - x[k]) - antiderivative(a - x[k])
    return float(total)


_BJONTEGAARD_UNSET = object()
_bjontegaard_module = _BJONTEGAARD_UNSET


def _bjontegaard():
    """The bjontegaard module, or None when not installed (imported once, lazily: it loads matplotlib)."""
    global _bjontegaard_module
    if _bjontegaard_module is _BJONTEGAARD_UNSET:
        try:
            import bjontegaard
        except ImportError:
            bjontegaard = None
        _bjontegaard_module = bjontegaard
    return _bjontegaard_module
