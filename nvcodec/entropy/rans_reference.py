"""A slow, obviously-correct rANS coder in pure Python.

It exists so that tests can put the native coder and this one on the same random
input and compare bytes (the habit of dav1d's checkasm): every rule of the DCVC-RT
payload format is written here once more, as plainly as possible, without any of
the native code's speed tricks (reciprocals, lookup tables, threads).  Nothing in
the codec path imports it.

Format summary (shared with ``native/rans``):

* 32-bit state, lower bound ``L = 2**23``, 16-bit probabilities, bytes emitted
  while ``x >= freq << 15``; the final state is written as 4 bytes little-endian
  at the front, and the decoder reads forward from there.
* A value ``v = symbol - offset`` outside ``[0, length - 2)`` is sent as the
  escape bin ``length - 2`` followed by 2-bit bypass chunks: the chunk count as a
  run of 3s closed by a remainder below 3, then the chunks, least significant
  first, of ``2 * (v - (length - 2))`` (too large) or ``-2 * v - 1`` (negative).
* Symbols are pushed last-first so the decoder pops them in natural order.
* Two-coder mode: every array is split at ``n // 2``; the payload is coder 0's
  bytes followed by coder 1's bytes reversed, with the common tail stored once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PRECISION = 16
RANS_L = 1 << 23
BYPASS_BITS = 2
MAX_BYPASS_CHUNKS = 17

__all__ = [
    "Table",
    "decode_payload",
    "encode_payload",
    "merge_streams",
    "pmf_to_quantized_cdf",
]


class Table:
    """A CDF table as plain Python lists (rows, lengths, offsets)."""

    def __init__(self, cdf: np.ndarray, lengths: np.ndarray, offsets: np.ndarray) -> None:
        self.cdf = [list(map(int, row)) for row in np.asarray(cdf)]
        self.lengths = [int(v) for v in lengths]
        self.offsets = [int(v) for v in offsets]


def _encode_one(x: int, out: list[int], table: Table, row: int, symbol: int) -> int:
    """Push one symbol onto state ``x``; emitted bytes go to ``out`` (reversed order)."""
    cdf = table.cdf[row]
    max_value = table.lengths[row] - 2
    value = symbol - table.offsets[row]
    if value < 0 or value >= max_value:
        raw = -2 * value - 1 if value < 0 else 2 * (value - max_value)
        n_chunks = 0
        while raw >> (BYPASS_BITS * n_chunks):
            n_chunks += 1
        bins = []
        count = n_chunks
        while count >= 3:
            bins.append(3)
            count -= 3
        bins.append(count)
        bins += [(raw >> (BYPASS_BITS * j)) & 3 for j in range(n_chunks)]
        for b in reversed(bins):
            while x >= (1 << (PRECISION - BYPASS_BITS)) << 15:
                out.append(x & 0xFF)
                x >>= 8
            x = (x << BYPASS_BITS) | b
        value = max_value
    start = cdf[value]
    freq = cdf[value + 1] - start
    while x >= freq << 15:
        out.append(x & 0xFF)
        x >>= 8
    return (x // freq << PRECISION) + x % freq + start


def encode_stream(items: Sequence[tuple[np.ndarray, np.ndarray, Table]]) -> bytes:
    """One coder: all (symbols, indexes, table) arrays, decodable in the given order."""
    if sum(len(s) for s, _, _ in items) == 0:
        return b""
    x = RANS_L
    out: list[int] = []
    for symbols, indexes, table in reversed(items):
        for i in range(len(symbols) - 1, -1, -1):
            x = _encode_one(x, out, table, int(indexes[i]), int(symbols[i]))
    out += [(x >> 24) & 0xFF, (x >> 16) & 0xFF, (x >> 8) & 0xFF, x & 0xFF]
    return bytes(reversed(out))


def merge_streams(s0: bytes, s1: bytes) -> bytes:
    """Two-coder payload: s0 then s1 reversed, the tail the two share kept once."""
    if not s0 or not s1:
        return s0 + s1[::-1]
    shared = 0
    for i in range(min(len(s0), len(s1), 8)):
        if s0[-1 - i] != 0 or s1[-1 - i] != 0:
            break
        shared += 1
    if shared == 0 and s0[-1] == s1[-1]:
        shared = 1
    return s0 + s1[: len(s1) - shared][::-1]


def encode_payload(items: Sequence[tuple[np.ndarray, np.ndarray, Table]], two_ec: bool) -> bytes:
    """A frame payload from its arrays in decoding order (z, then the y steps)."""
    if not two_ec:
        return encode_stream(items)
    halves: tuple[list, list] = ([], [])
    for symbols, indexes, table in items:
        h = len(symbols) // 2
        halves[0].append((symbols[:h], indexes[:h], table))
        halves[1].append((symbols[h:], indexes[h:], table))
    return merge_streams(encode_stream(halves[0]), encode_stream(halves[1]))


class _Reader:
    """Forward byte reader that yields zeros past the end and remembers it did."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.overrun = False
        self.x: int | None = None

    def byte(self) -> int:
        if self.pos < len(self.data):
            self.pos += 1
            return self.data[self.pos - 1]
        self.overrun = True
        return 0

    def start(self) -> None:
        if self.x is None:
            self.x = sum(self.byte() << (8 * k) for k in range(4))
            if self.x < RANS_L:
                self.overrun = True
                self.x = RANS_L

    def bits(self) -> int:
        assert self.x is not None
        val = self.x & 3
        self.x >>= BYPASS_BITS
        if self.x < RANS_L:
            self.x = (self.x << 8) | self.byte()
        return val

    def symbol(self, table: Table, row: int) -> int:
        self.start()
        assert self.x is not None
        cdf = table.cdf[row]
        max_value = table.lengths[row] - 2
        cum = self.x & 0xFFFF
        s = 0
        while cdf[s + 1] <= cum:
            s += 1
        self.x = (cdf[s + 1] - cdf[s]) * (self.x >> PRECISION) + cum - cdf[s]
        while self.x < RANS_L:
            self.x = (self.x << 8) | self.byte()
        value = s
        if value == max_value:
            val = self.bits()
            n = val
            while val == 3 and n <= MAX_BYPASS_CHUNKS:
                val = self.bits()
                n += val
            if n > MAX_BYPASS_CHUNKS:
                self.overrun = True
                n = 0
            raw = 0
            for j in range(n):
                raw |= self.bits() << (BYPASS_BITS * j)
            value = -(raw >> 1) - 1 if raw & 1 else (raw >> 1) + max_value
        return value + table.offsets[row]


def decode_payload(
    payload: bytes, items: Sequence[tuple[np.ndarray, Table]], two_ec: bool
) -> tuple[list[np.ndarray], bool]:
    """Decode every (indexes, table) array; returns the symbols and whether the data sufficed."""
    readers = [_Reader(payload)]
    if two_ec:
        readers.append(_Reader(payload[::-1]))
    result = []
    for indexes, table in items:
        n = len(indexes)
        h = n // 2 if two_ec else n
        out = np.zeros(n, dtype=np.int64)
        for i in range(n):
            r = readers[0] if i < h else readers[1]
            out[i] = r.symbol(table, int(indexes[i]))
        result.append(out)
    return result, not any(r.overrun for r in readers)


def pmf_to_quantized_cdf(pmf: Sequence[float] | np.ndarray) -> list[int]:
    """16-bit CDF of a float32 pmf (its last entry the tail mass), as DCVC-RT builds it."""
    p32 = np.asarray(pmf, dtype=np.float32)
    scaled = p32 * np.float32(1 << PRECISION)  # the product is rounded to float32
    freqs = [0] + [int(math.floor(float(v) + 0.5)) for v in scaled]  # round half away from zero
    total = sum(freqs)
    freqs = [((1 << PRECISION) * f) // total for f in freqs]
    cdf = list(np.cumsum(freqs).astype(int))
    cdf[-1] = 1 << PRECISION
    for i in range(len(cdf) - 1):
        if cdf[i] == cdf[i + 1]:
            best, steal = None, -1
            for j in range(len(cdf) - 1):
                f = cdf[j + 1] - cdf[j]
                if f > 1 and (best is None or f < best):
                    best, steal = f, j
            if steal < 0:
                raise ValueError("no bin to steal a unit of frequency from")
            if steal < i:
                for j in range(steal + 1, i + 1):
                    cdf[j] -= 1
            else:
                for j in range(i + 1, steal + 1):
                    cdf[j] += 1
    return [int(c) for c in cdf]
