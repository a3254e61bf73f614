"""nvc's picture layer: what the networks left of a picture, coded with an integer 8x8 transform.

nvc-compact's pictures stop near 34-38 dB whatever the rate: its transforms set the ceiling.  The
layer codes the difference between the source and the decoded picture, plane by plane, as JPEG and
H.264 code pictures: an 8x8 DCT, a uniform quantiser, and the coefficients as magnitude classes
(:mod:`nvcodec.entropy.magnitude_classes`) under one geometric law per plane kind and frequency band.
On colour development stills it matches x264 at its top rates (``bench/probes/probe_residual_layer.py``).

The decoder's half is integer arithmetic only (:func:`reconstruct`): the picture it adds the layer to
is already exact, so the enhanced picture is exact too, on any machine.  The encoder's forward
transform and quantiser are its own choice (floats); only the symbols matter.

What a frame carries (the caller places it): ``params`` (the step in 1/16 and how many bands are
coded; those above are zero) and, in the frame's rANS stream, band by band from the lowest up: the
rows of the laws the band uses (six bits each, for the contexts some block is in: luma's, then
chroma's), then the band's classes in the Y, U and V planes (blocks in raster order, each block's
positions in raster order); after the last band, every non-zero coefficient's raw bits (a sign and the
bits under its leading one) in the classes' order.  A band's context is what its block holds in the
bands under it, so the decoder knows it before reading the band and the whole layer decodes in
vectors: the detail a block has at low frequencies says how much it has at high ones.
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
BANDS = 12
BAND = np.minimum(np.add.outer(np.arange(BLOCK), np.arange(BLOCK)), BANDS - 1)
#: each band's positions in a block's raster order
BAND_POSITIONS = [np.flatnonzero(BAND.reshape(-1) == b) for b in range(BANDS)]
#: a band above the first has its law chosen by what its block holds below it (the classes of the
#: lower bands summed: 0, 1-2, 3-6, 7 or more) and in the band just below (0, 1-2, 3 or more)
LOWER_EDGES = np.array([1, 3, 7])
BELOW_EDGES = np.array([1, 3])
BAND_CONTEXTS = (len(LOWER_EDGES) + 1) * (len(BELOW_EDGES) + 1)
#: a context's row is sent in this many equiprobable bits
ROW_BITS = 6
#: the encoder's rounding offset: a coefficient rounds up from this fraction of a step past a multiple
ROUNDING = 1 / 3
#: the largest coefficient symbol the classes can carry
MAX_SYMBOL = (1 << MAX_CLASS) - 1
#: plane kinds: luma has its own laws, the two chroma planes share theirs
KINDS = (0, 1, 1)


@dataclass(frozen=True)
class LayerCode:
    """What the encoder writes for a picture's layer: its parameters and the arrays of the rANS stream."""

    params: bytes  # the step (u16, big-endian, in 1/16) and the number of bands coded (u8)
    arrays: list[tuple[np.ndarray, np.ndarray]]  # (symbols, table rows) in stream order


def params_size() -> int:
    return 3


def is_empty(code: LayerCode) -> bool:
    """True when the layer changes nothing (every coefficient zero): not worth sending."""
    return code.params[2] == 0


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


def _contexts(band: int, lower: np.ndarray, below: np.ndarray) -> np.ndarray:
    """Each block's context in ``band`` from the classes it holds in the bands under it (``lower``: all of
    them summed, ``below``: the band just under): known to the decoder before it reads the band."""
    if band == 0:
        return np.zeros(len(lower), dtype=np.int64)
    return (np.searchsorted(LOWER_EDGES, lower, side="right") * (len(BELOW_EDGES) + 1)
            + np.searchsorted(BELOW_EDGES, below, side="right"))


def _row_symbols(rows: np.ndarray) -> np.ndarray:
    """Each row's ROW_BITS bits, highest first, rows in order."""
    shifts = np.arange(ROW_BITS - 1, -1, -1)
    return ((rows.astype(np.int64)[:, None] >> shifts) & 1).reshape(-1).astype(np.int32)


def plan(source: Planes, decoded: Planes, step16: int, table: CdfTable) -> tuple[LayerCode, Planes]:
    """The layer that brings ``decoded`` towards ``source`` at ``step16``, and the picture it decodes to."""
    if not MIN_STEP16 <= step16 <= MAX_STEP16:
        raise ValueError(f"picture layer step {step16}/16 outside {MIN_STEP16}..{MAX_STEP16}")
    symbols = [quantise(getattr(source, n).astype(np.int64) - getattr(decoded, n).astype(np.int64), step16)
               for n in "yuv"]
    flat = [s.reshape(-1, BLOCK * BLOCK) for s in symbols]
    classes = [classes_of(f) for f in flat]
    lower = [np.zeros(len(f), dtype=np.int64) for f in flat]
    below = [np.zeros(len(f), dtype=np.int64) for f in flat]
    nonzero = [b for b, positions in enumerate(BAND_POSITIONS) if any(c[:, positions].any() for c in classes)]
    coded = max(nonzero, default=-1) + 1  # the bands above are zero throughout and cost nothing
    bits = row_bits(table)
    arrays: list[tuple[np.ndarray, np.ndarray]] = []
    raw: list[np.ndarray] = [np.zeros(0, dtype=np.int32)]
    for band, positions in enumerate(BAND_POSITIONS[:coded]):
        band_classes = [c[:, positions] for c in classes]
        contexts = [_contexts(band, lower[i], below[i]) for i in range(3)]
        rows = np.zeros((2, BAND_CONTEXTS), dtype=np.int64)
        for kind in (0, 1):
            planes = [i for i in range(3) if KINDS[i] == kind]
            used = np.unique(np.concatenate([contexts[i] for i in planes]))
            for context in used:
                chosen = np.concatenate([band_classes[i][contexts[i] == context].reshape(-1) for i in planes])
                rows[kind, context] = best_row(chosen, bits)
            arrays.append((_row_symbols(rows[kind, used]), np.full(ROW_BITS * len(used), RAW_ROW)))
        for i in range(3):
            row_of_block = rows[KINDS[i], contexts[i]]
            arrays.append((band_classes[i].reshape(-1), np.repeat(row_of_block, len(positions))))
            raw.append(raw_bits(flat[i][:, positions].reshape(-1), band_classes[i].reshape(-1)))
            below[i] = band_classes[i].sum(axis=1)
            lower[i] += below[i]
    every_raw = np.concatenate(raw)
    arrays.append((every_raw, np.full(len(every_raw), RAW_ROW)))
    return LayerCode(step16.to_bytes(2, "big") + bytes([coded]), arrays), _apply(decoded, symbols, step16)


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
    coded = params[2]
    if coded > BANDS:
        raise StreamError(f"picture layer codes {coded} bands (0..{BANDS})")
    shapes = [getattr(decoded, n).shape for n in "yuv"]
    counts = [(-(-h // BLOCK)) * (-(-w // BLOCK)) for h, w in shapes]
    lower = [np.zeros(n, dtype=np.int64) for n in counts]
    below = [np.zeros(n, dtype=np.int64) for n in counts]
    order: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]  # the classes in stream order, for the raw bits
    for band, positions in enumerate(BAND_POSITIONS[:coded]):
        contexts = [_contexts(band, lower[i], below[i]) for i in range(3)]
        rows = np.zeros((2, BAND_CONTEXTS), dtype=np.int64)
        for kind in (0, 1):
            used = np.unique(np.concatenate([contexts[i] for i in range(3) if KINDS[i] == kind]))
            if len(used):
                got = coder.decode(np.full(ROW_BITS * len(used), RAW_ROW, dtype=np.int32), table)
                check_raw(got, "picture layer has a row")
                values = got.reshape(-1, ROW_BITS).astype(np.int64) @ (1 << np.arange(ROW_BITS - 1, -1, -1))
                if values.max() >= GEOMETRIC_ROWS:
                    raise StreamError(f"picture layer table row {int(values.max())} (0..{GEOMETRIC_ROWS - 1})")
                rows[kind, used] = values
        for i in range(3):
            rows_needed = np.repeat(rows[KINDS[i], contexts[i]], len(positions)).astype(np.int32)
            got = coder.decode(rows_needed, table)
            check_classes(got, "picture layer has a coefficient")
            band_classes = got.astype(np.int64).reshape(counts[i], len(positions))
            order.append(band_classes.reshape(-1))
            below[i] = band_classes.sum(axis=1)
            lower[i] += below[i]
    ordered = np.concatenate(order)
    raw = coder.decode(np.full(int(ordered.sum()), RAW_ROW, dtype=np.int32), table)
    check_raw(raw, "picture layer has a coefficient")
    values = values_from_bits(ordered, raw)
    symbols = [np.zeros((n, BLOCK * BLOCK), dtype=np.int64) for n in counts]
    start = 0
    for positions in BAND_POSITIONS[:coded]:
        for i in range(3):
            count = counts[i] * len(positions)
            symbols[i][:, positions] = values[start:start + count].reshape(counts[i], len(positions))
            start += count
    blocks = [s.reshape(-(-h // BLOCK), -(-w // BLOCK), BLOCK, BLOCK)
              for s, (h, w) in zip(symbols, shapes, strict=True)]
    return _apply(decoded, blocks, step16)
