"""Signed integers coded as a magnitude class under a chosen geometric law, then raw bits.

nvc codes its own integer syntax (motion-vector residuals, the picture layer's coefficients) the same
way: each value's class k (0 for zero, else floor(log2 |v|) + 1) goes through rANS under one of
``GEOMETRIC_ROWS`` geometric laws, the row chosen per context by the encoder and sent as a byte; then
each non-zero value's sign and the k - 1 bits under its leading one go as equiprobable bits.  The
classes carry what is predictable (how large values run in a context), the raw bits what is not.
"""

from __future__ import annotations

import numpy as np

from nvcodec.entropy.rans import CdfTable, pmf_to_quantized_cdf
from nvcodec.errors import StreamError

#: the largest class: magnitudes up to 2^MAX_CLASS - 1
MAX_CLASS = 10
#: geometric laws with ratios 1/64 .. 63/64, one row each
GEOMETRIC_ROWS = 63
#: the row of a raw (equiprobable) bit
RAW_ROW = GEOMETRIC_ROWS


def class_table() -> CdfTable:
    """Rows 0..GEOMETRIC_ROWS-1: classes 0..MAX_CLASS under a geometric law; row RAW_ROW: one bit."""
    classes = MAX_CLASS + 1
    width = classes + 2
    cdf = np.zeros((GEOMETRIC_ROWS + 1, width), dtype=np.int32)
    lengths = np.zeros(GEOMETRIC_ROWS + 1, dtype=np.int32)
    for g in range(GEOMETRIC_ROWS):
        ratio = (g + 1) / 64
        pmf = ratio ** np.arange(classes, dtype=np.float64)
        pmf = np.append(pmf / pmf.sum() * (1 - 1e-6), 1e-6).astype(np.float32)
        row = pmf_to_quantized_cdf(pmf)
        cdf[g, : len(row)] = row
        lengths[g] = len(row)
    raw = pmf_to_quantized_cdf(np.array([0.5 - 5e-7, 0.5 - 5e-7, 1e-6], dtype=np.float32))
    cdf[RAW_ROW, : len(raw)] = raw
    lengths[RAW_ROW] = len(raw)
    return CdfTable(cdf, lengths, np.zeros(GEOMETRIC_ROWS + 1, dtype=np.int32))


def row_bits(table: CdfTable) -> np.ndarray:
    """[GEOMETRIC_ROWS, MAX_CLASS + 1]: bits of each class under each geometric row."""
    counts = np.diff(table.cdf[:GEOMETRIC_ROWS, : MAX_CLASS + 2].astype(np.float64), axis=1)
    return -np.log2(counts / 65536.0)


def classes_of(values: np.ndarray) -> np.ndarray:
    """Each value's class: 0 for zero, else floor(log2 |v|) + 1."""
    magnitude = np.abs(values)
    out = np.zeros(values.shape, dtype=np.int64)
    nonzero = magnitude > 0
    out[nonzero] = np.floor(np.log2(magnitude[nonzero])).astype(np.int64) + 1
    return out


def best_row(classes: np.ndarray, bits: np.ndarray) -> int:
    """The geometric row that codes ``classes`` in the fewest bits (``bits``: :func:`row_bits`)."""
    histogram = np.bincount(classes.reshape(-1), minlength=MAX_CLASS + 1)
    return int(np.argmin(bits @ histogram))


def raw_bits(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Per non-zero value, in order: its sign (1: negative), then the k - 1 bits of its magnitude
    under the leading one, highest first."""
    k = classes.astype(np.int64)
    nonzero = k > 0
    v, k = values.astype(np.int64)[nonzero], k[nonzero]
    column = np.arange(MAX_CLASS)[None, :]
    shift = np.maximum(k[:, None] - 1 - column, 0)
    table = (np.abs(v)[:, None] >> shift) & 1
    table[:, 0] = v < 0
    return np.ascontiguousarray(table[column < k[:, None]], dtype=np.int32)


def check_classes(classes: np.ndarray, what: str) -> None:
    if classes.size and (classes.min() < 0 or classes.max() > MAX_CLASS):
        raise StreamError(f"{what} class outside 0..{MAX_CLASS}")


def check_raw(raw: np.ndarray, what: str) -> None:
    if raw.size and (raw.min() < 0 or raw.max() > 1):
        raise StreamError(f"{what} bit that is neither 0 nor 1")


def values_from_bits(classes: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Signed values from their classes (in order) and the raw bits (a sign, then the k - 1 bits
    under the leading one, highest first), all at once: each value's bits start where the classes
    before it end."""
    k = classes.astype(np.int64)
    start = np.cumsum(k) - k
    nonzero = k > 0
    out = np.zeros(len(k), dtype=np.int64)
    if not nonzero.any():
        return out
    bits = raw.astype(np.int64)
    ks, starts = k[nonzero], start[nonzero]
    magnitude = np.ones(len(ks), dtype=np.int64)
    for j in range(MAX_CLASS - 1):  # mantissa bit j of every value that has one
        has = ks - 1 > j
        magnitude[has] = (magnitude[has] << 1) | bits[starts[has] + 1 + j]
    negative = bits[starts] == 1
    out[nonzero] = np.where(negative, -magnitude, magnitude)
    return out
