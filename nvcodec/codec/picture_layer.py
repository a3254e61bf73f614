"""nvc's picture layer: what the networks left of a picture, coded with an integer 8x8 transform.

nvc-compact's pictures stop near 34-38 dB whatever the rate: its transforms set the ceiling.  The
layer codes the difference between the source and the decoded picture, plane by plane, as JPEG and
H.264 code pictures: an 8x8 DCT, a uniform quantiser, and the coefficients as magnitude classes
(:mod:`nvcodec.entropy.magnitude_classes`) under one geometric law per plane kind and frequency band.
On colour development stills it matches x264 at its top rates (``bench/probes/probe_residual_layer.py``).

The decoder's half is integer arithmetic only (:func:`reconstruct`): the picture it adds the layer to
is already exact, so the enhanced picture is exact too, on any machine.  The encoder's forward
transform and quantiser are its own choice (floats); only the symbols matter.

What a frame carries (the caller places it): ``params`` (the step in 1/16 and one row byte per
context) and, in the frame's rANS stream, per plane (Y, U, V) the classes of every coefficient band by
band, each band's blocks in raster order and each block's positions in raster order, then the plane's
raw bits (a sign and the bits under the leading one of each non-zero coefficient, in the same order).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nvcodec.entropy.magnitude_classes import (
    GEOMETRIC_ROWS,
    MAX_CLASS,
    RAW_ROW,
    best_row,
    check_classes,
    check_raw,
    classes_of,
    raw_bits,
    row_bits,
    values_from_bits,
)
from nvcodec.entropy.rans import CdfTable, RansDecoder, RansEncoder
from nvcodec.errors import StreamError
from nvcodec.media import Planes

BLOCK = 8
#: the 8-point DCT basis in integers (about 64 x sqrt(8) times the orthonormal one; HEVC's values):
#: BASIS @ BASIS.T is 32,768 times the identity to within 0.2 %
BASIS = np.array([
    [64, 64, 64, 64, 64, 64, 64, 64],
    [89, 75, 50, 18, -18, -50, -75, -89],
    [83, 36, -36, -83, -83, -36, 36, 83],
    [75, -18, -89, -50, 50, 89, 18, -75],
    [64, -64, -64, 64, 64, -64, -64, 64],
    [50, -89, 18, 75, -75, -18, 89, -50],
    [36, -83, 83, -36, -36, 83, -83, 36],
    [18, -50, 75, -89, 89, -75, 50, -18],
], dtype=np.int64)
#: BASIS.T @ c @ BASIS over 2 ** BASIS_SHIFT is the orthonormal inverse of c
BASIS_SHIFT = 15
#: quantisation steps are sent in 1/2 ** STEP_SHIFT
STEP_SHIFT = 4
MIN_STEP16 = 1 << STEP_SHIFT  # a step of one grey level
MAX_STEP16 = 64 << STEP_SHIFT
#: frequency bands: a coefficient at (i, j) is in band min(i + j, BANDS - 1)
BANDS = 8
BAND = np.minimum(np.add.outer(np.arange(BLOCK), np.arange(BLOCK)), BANDS - 1)
#: one geometric row per (plane kind: luma, chroma) and band
CONTEXTS = 2 * BANDS
#: the encoder's rounding offset: a coefficient rounds up from this fraction of a step past a multiple
ROUNDING = 1 / 3
#: the largest coefficient symbol the classes can carry
MAX_SYMBOL = (1 << MAX_CLASS) - 1


@dataclass(frozen=True)
class LayerCode:
    """What the encoder writes for a picture's layer: its parameters and the arrays of the rANS stream."""

    params: bytes  # the step (u16, big-endian, in 1/16) and CONTEXTS row bytes
    arrays: list[tuple[np.ndarray, np.ndarray]]  # (symbols, table rows) in stream order


def params_size() -> int:
    return 2 + CONTEXTS


def _blocks(plane: np.ndarray) -> np.ndarray:
    """[rows, cols, 8, 8] blocks of a plane, zero beyond its edges."""
    h, w = plane.shape
    padded = np.zeros((-(-h // BLOCK) * BLOCK, -(-w // BLOCK) * BLOCK), dtype=plane.dtype)
    padded[:h, :w] = plane
    return padded.reshape(padded.shape[0] // BLOCK, BLOCK, padded.shape[1] // BLOCK, BLOCK).transpose(0, 2, 1, 3)


def _plane(blocks: np.ndarray, h: int, w: int) -> np.ndarray:
    rows, cols = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(rows * BLOCK, cols * BLOCK)[:h, :w]


def quantise(residual: np.ndarray, step16: int) -> np.ndarray:
    """The encoder's symbols for a residual plane: [rows, cols, 8, 8] integers."""
    coefficients = BASIS @ _blocks(residual.astype(np.float64)) @ BASIS.T / float(1 << BASIS_SHIFT)
    step = step16 / float(1 << STEP_SHIFT)
    symbols = np.sign(coefficients) * np.floor(np.abs(coefficients) / step + ROUNDING)
    return np.clip(symbols, -MAX_SYMBOL, MAX_SYMBOL).astype(np.int64)


def reconstruct(symbols: np.ndarray, step16: int, h: int, w: int) -> np.ndarray:
    """The residual plane ([h, w] integers) the symbols stand for: integer arithmetic only, so the encoder
    and every decoder compute the same one."""
    coefficients = symbols.astype(np.int64) * np.int64(step16)
    shift = BASIS_SHIFT + STEP_SHIFT
    blocks = (BASIS.T @ coefficients @ BASIS + (1 << (shift - 1))) >> shift
    return _plane(blocks, h, w)


def _apply(decoded: Planes, symbols: list[np.ndarray], step16: int) -> Planes:
    planes = []
    for name, plane_symbols in zip("yuv", symbols, strict=True):
        base = getattr(decoded, name)
        residual = reconstruct(plane_symbols, step16, *base.shape)
        planes.append(np.clip(base.astype(np.int64) + residual, 0, 255).astype(np.uint8))
    return Planes(*planes, chroma=decoded.chroma)


def _band_classes(symbols: np.ndarray) -> list[np.ndarray]:
    """The symbols of each band, in stream order (blocks in raster order, positions in raster order)."""
    flat = symbols.reshape(-1, BLOCK * BLOCK)
    return [flat[:, (b == BAND).reshape(-1)].reshape(-1) for b in range(BANDS)]


def plan(source: Planes, decoded: Planes, step16: int, table: CdfTable) -> tuple[LayerCode, Planes]:
    """The layer that brings ``decoded`` towards ``source`` at ``step16``, and the picture it decodes to."""
    if not MIN_STEP16 <= step16 <= MAX_STEP16:
        raise ValueError(f"picture layer step {step16}/16 outside {MIN_STEP16}..{MAX_STEP16}")
    symbols = [quantise(getattr(source, n).astype(np.int64) - getattr(decoded, n).astype(np.int64), step16)
               for n in "yuv"]
    values = [_band_classes(plane) for plane in symbols]  # [plane][band], in stream order
    classes = [[classes_of(band) for band in plane] for plane in values]
    # one row per band for luma, one per band for both chroma planes together
    bits = row_bits(table)
    rows = np.array([best_row(classes[0][b], bits) for b in range(BANDS)]
                    + [best_row(np.concatenate((classes[1][b], classes[2][b])), bits) for b in range(BANDS)])
    arrays: list[tuple[np.ndarray, np.ndarray]] = []
    for index in range(3):
        kind = 0 if index == 0 else 1
        arrays += [(c, np.full(len(c), rows[kind * BANDS + b])) for b, c in enumerate(classes[index])]
        raw = np.concatenate([raw_bits(v, c) for v, c in zip(values[index], classes[index], strict=True)])
        arrays.append((raw, np.full(len(raw), RAW_ROW)))
    params = step16.to_bytes(2, "big") + bytes(int(r) for r in rows)
    return LayerCode(params, arrays), _apply(decoded, symbols, step16)


def write(coder: RansEncoder, table: CdfTable, code: LayerCode) -> None:
    for symbols, rows in code.arrays:
        coder.encode(symbols, rows, table)


def read(coder: RansDecoder, table: CdfTable, params: bytes, decoded: Planes) -> Planes:
    """The picture ``decoded`` enhanced by the layer read from ``coder``, checked as it is read."""
    if len(params) != params_size():
        raise StreamError(f"picture layer has {len(params)} parameter bytes, not {params_size()}")
    step16 = int.from_bytes(params[:2], "big")
    if not MIN_STEP16 <= step16 <= MAX_STEP16:
        raise StreamError(f"picture layer step {step16}/16 outside {MIN_STEP16}..{MAX_STEP16}")
    rows = np.frombuffer(params[2:], dtype=np.uint8).astype(np.int32)
    if rows.max(initial=0) >= GEOMETRIC_ROWS:
        raise StreamError(f"picture layer table rows {rows.tolist()} (0..{GEOMETRIC_ROWS - 1})")
    symbols = []
    for index, name in enumerate("yuv"):
        h, w = getattr(decoded, name).shape
        blocks = (-(-h // BLOCK)) * (-(-w // BLOCK))
        kind = 0 if index == 0 else 1
        band_classes = []
        for band in range(BANDS):
            count = blocks * int((band == BAND).sum())
            got = coder.decode(np.full(count, rows[kind * BANDS + band], dtype=np.int32), table)
            check_classes(got, "picture layer has a coefficient")
            band_classes.append(got.astype(np.int64))
        ordered = np.concatenate(band_classes)
        raw = coder.decode(np.full(int(ordered.sum()), RAW_ROW, dtype=np.int32), table)
        check_raw(raw, "picture layer has a coefficient")
        values = values_from_bits(ordered, raw)
        flat = np.zeros((blocks, BLOCK * BLOCK), dtype=np.int64)
        start = 0
        for band in range(BANDS):
            positions = (band == BAND).reshape(-1)
            count = blocks * int(positions.sum())
            flat[:, positions] = values[start:start + count].reshape(blocks, -1)
            start += count
        symbols.append(flat.reshape(-(-h // BLOCK), -(-w // BLOCK), BLOCK, BLOCK))
    return _apply(decoded, symbols, step16)
