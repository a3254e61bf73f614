"""Explicit motion for nvc's P frames (an nvc extension of DCVC-RT, signalled in the SPS).

DCVC-RT has no motion vectors: its P frames read the previous frame's feature as it lies and
must learn to follow motion implicitly, which took its authors GPU-weeks of training.  With
explicit motion the encoder searches, per 16 x 16 block (one latent position of a P frame),
the vector that best predicts the block from the previous decoded frame, codes the vectors,
and both sides warp the reference before the networks see it:

* the reference feature (1/8 resolution) is warped by the same vectors, so the context path
  reads a feature aligned with the frame being coded;
* the picture a ``reference_skip`` model's pixel gate blends in is the warped frame;
* block skip copies the warped block (a motion skip).

All-zero vectors leave every tensor exactly as it was, so a model trained without motion codes
the same frames, and one stream syntax serves both.

Vectors are in quarter-pel units, ``(vy, vx)`` per block: block pixel (y, x) is predicted from
the reference at (y + vy / 4, x + vx / 4), by bilinear interpolation with edge replication in
float32 in a fixed order (:func:`warp`), each product and sum its own operation: both sides
compute the same bits under the stream's numerics profile.  The feature warps with the same
vector at 1/32 of a feature position (8 pixels).

Syntax, at the start of a P-frame payload when the SPS has the motion flag (before block
skip's ``skip_prob``)::

    motion:u8      0: no vectors (all zero), nothing else follows; 1: a field follows
    params:u8[8]   (motion 1) the table row, 0..GEOMETRIC_ROWS-1, of each class context
    field          (motion 1) in the frame's rANS stream, before the skip map and z:
                   the residuals r = v - predictor (the left vector in the first row, else
                   the median of left, top and top-right, top-left in the last column) as
                   class k = bit_length(|r|) (0..MAX_CLASS), first the positions with (row +
                   column) even, rows of contexts 0 (vy) and 1 (vx); then the others, context
                   2 + 3 * component + bucket of the classes of their four (even) neighbours;
                   then one array of raw bits: per residual with k > 0 (same order) its sign
                   (1: negative) and the k - 1 bits of |r| under its leading one, highest first

The decoder refuses a class above MAX_CLASS, a row outside the table and any vector beyond
MAX_QPEL in either component.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nvcodec import _kernels
from nvcodec.entropy.magnitude_classes import (
    GEOMETRIC_ROWS,
    MAX_CLASS,
    RAW_ROW,
    check_classes,
    check_raw,
    classes_of,
    raw_bits,
    row_bits,
    values_from_bits,
)
from nvcodec.entropy.magnitude_classes import (
    class_table as class_table,  # the motion field's table, as callers name it
)
from nvcodec.entropy.rans import CdfTable, RansDecoder, RansEncoder
from nvcodec.errors import StreamError

#: pixels per side of a motion block: one position of the P-frame latent
BLOCK = 16
#: the largest vector component, in quarter pels (64 pixels)
MAX_QPEL = 256
#: residuals are coded as magnitude classes (nvcodec.entropy.magnitude_classes): |residual| <= 2 * MAX_QPEL
#: < 2 ** MAX_CLASS; row g of the class table has P(k) proportional to ((g + 1) / 64) ** k
assert 2 * MAX_QPEL < 2 ** MAX_CLASS
#: class contexts: two in the first half of the checkerboard (one per component), three
#: neighbourhood buckets per component in the second
CONTEXTS = 8
#: integer-pel search range around the best predictor
SEARCH_RANGE = 16
#: the motion cost is SAD + MOTION_LAMBDA_SCALE / sqrt(lambda) * bits: the frame's lambda prices a
#: squared error in bits; for an absolute error the square root carries it over (as H.264's
#: lambda_motion = sqrt(lambda_mode) does).  Chosen on the development clips with the weights trained
#: with motion (21 frames, qp 24-63, BD-rate against 1): 0.5 +5.9 %, 2 -1.7 %, 3 -0.9 %, 4 +1.1 %
MOTION_LAMBDA_SCALE = 2.0

#: a motion field: int32 [h, w, 2] (vy, vx) in quarter pels, one vector per 16 x 16 block
Field = np.ndarray


def search_lambda(lam: float) -> float:
    """The motion search's weight of a bit against the SAD of luma on [0, 1]."""
    return MOTION_LAMBDA_SCALE / math.sqrt(lam)


# -- prediction ---------------------------------------------------------------------------------


def warp(x: torch.Tensor, field: torch.Tensor, block: int, denominator: int) -> torch.Tensor:
    """``x`` [B, C, H, W] moved by a per-block field [B, h, w, 2] (1/``denominator`` of a sample).

    ``block``: samples per side of one vector's block in ``x`` (16 for frames, 2 for the 1/8
    feature); ``denominator``: 4 for frames (quarter pels), 32 for the feature.  Each output
    sample is ((a * wx0 + b * wx1) * wy0 + (c * wx0 + d * wx1) * wy1) / denominator^2, every
    product and sum a separate float operation (no fused multiply-add), so the encoder and the
    decoder get the same bits.  Differentiable in ``x`` (training warps its own references).
    """
    b, c, h, w = x.shape
    per_sample = field.to(x.device, torch.int64).repeat_interleave(block, 1).repeat_interleave(block, 2)[:, :h, :w]
    rows = torch.arange(h, device=x.device, dtype=torch.int64)[None, :, None]
    cols = torch.arange(w, device=x.device, dtype=torch.int64)[None, None, :]
    sy = rows * denominator + per_sample[..., 0]
    sx = cols * denominator + per_sample[..., 1]
    iy = torch.div(sy, denominator, rounding_mode="floor")
    ix = torch.div(sx, denominator, rounding_mode="floor")
    fy, fx = sy - iy * denominator, sx - ix * denominator
    y0, y1 = iy.clamp(0, h - 1), (iy + 1).clamp(0, h - 1)
    x0, x1 = ix.clamp(0, w - 1), (ix + 1).clamp(0, w - 1)
    flat = x.reshape(b, c, h * w)

    def gather(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        index = (yy * w + xx).reshape(b, 1, h * w).expand(b, c, h * w)
        return torch.gather(flat, 2, index).reshape(b, c, h, w)

    dtype = x.dtype
    wx0, wx1 = (denominator - fx).to(dtype)[:, None], fx.to(dtype)[:, None]
    wy0, wy1 = (denominator - fy).to(dtype)[:, None], fy.to(dtype)[:, None]
    top = gather(y0, x0) * wx0 + gather(y0, x1) * wx1
    bottom = gather(y1, x0) * wx0 + gather(y1, x1) * wx1
    return (top * wy0 + bottom * wy1) * (1.0 / (denominator * denominator))


def _native_warp(x: torch.Tensor, field: torch.Tensor, block: int, denominator: int) -> torch.Tensor:
    """:func:`warp` through ``_kernels.motion_warp`` (native/motion/warp.h) where it computes the same
    bits: one CPU float32 sample and int32 field, no gradient wanted; else :func:`warp` itself.

    The coder's path (no autograd, CPU tensors) is over 20x faster this way for frames (a 720p frame
    on one thread: about 50 ms in torch, 1.3 ms natively; the 96-channel feature about 5x), with
    identical values; training (gradients, batches) and CUDA tensors keep the torch version."""
    native = (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4 and x.shape[0] == 1
              and field.device.type == "cpu" and field.dtype == torch.int32 and field.dim() == 4
              and field.shape[0] == 1 and not (torch.is_grad_enabled() and x.requires_grad))
    if not native:
        return warp(x, field, block, denominator)
    out = _kernels.motion_warp(x[0].detach().contiguous().numpy(), field[0].contiguous().numpy(), block, denominator)
    return torch.from_numpy(out)[None]


def warp_frame(frame: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """A [B, 3, H, W] frame moved by a [B, h, w, 2] field of quarter-pel vectors, one per 16 x 16 block
    (:func:`warp`; natively for the coder, see :func:`_native_warp`)."""
    return _native_warp(frame, field, BLOCK, 4)


def warp_feature(feature: torch.Tensor, field: torch.Tensor) -> torch.Tensor:
    """The 1/8-resolution feature moved by the same vectors: 2 x 2 positions per block, 1/32 steps
    (natively for the coder, as :func:`warp_frame`)."""
    return _native_warp(feature, field, BLOCK // 8, 32)


def as_batch(field: Field, device: torch.device | str = "cpu") -> torch.Tensor:
    """One coded field as the [1, h, w, 2] tensor :func:`warp` takes."""
    return torch.as_tensor(np.ascontiguousarray(field), device=device)[None]


# -- the encoder's search -----------------------------------------------------------------------


def luma(x: torch.Tensor) -> np.ndarray:
    """Luma of a [1, 3, H, W] frame as the float32 array the native search reads."""
    return np.ascontiguousarray(x[0, 0].detach().to("cpu", torch.float32).numpy())


def search(x: torch.Tensor, reference: torch.Tensor, lam: float, previous: Field | None = None,
           search_range: int = SEARCH_RANGE) -> Field:
    """The field that predicts [1, 3, H, W] ``x`` best from ``reference``, vectors' bits counted."""
    return _kernels.motion_search(luma(x), luma(reference), search_lambda(lam), search_range, previous)


def predictors(field: Field) -> np.ndarray:
    """Each block's predictor: in the first row its left neighbour's vector, below it the
    component-wise median of its left, top and top-right neighbours' (top-left for the last column;
    (0, 0) outside the frame).  The native rule, the one the search and the decoder use."""
    return _kernels.motion_predictor(np.ascontiguousarray(field, dtype=np.int32)).astype(np.int64)


# -- coding the field ---------------------------------------------------------------------------


def _first_half(h: int, w: int) -> np.ndarray:
    rows, cols = np.indices((h, w))
    return (rows + cols) % 2 == 0


def _neighbour_buckets(classes: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Per block of the second half: 0, 1 or 2 from the summed classes of its four (first-half)
    neighbours, one component at a time ([h, w, 2] in, [n_second, 2] out)."""
    masked = np.where(first[..., None], classes, 0)
    padded = np.pad(masked, ((1, 1), (1, 1), (0, 0)))
    total = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    bucket = np.where(total == 0, 0, np.where(total <= 4, 1, 2))
    return bucket[~first]


def _context_rows(classes: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Context of each class symbol, in coding order: (first-half contexts [n1, 2], second [n2, 2])."""
    n1 = int(first.sum())
    first_ctx = np.broadcast_to(np.array([0, 1]), (n1, 2))
    second_ctx = 2 + 3 * np.array([0, 1])[None, :] + _neighbour_buckets(classes, first)
    return first_ctx, second_ctx


@dataclass(frozen=True)
class FieldCode:
    """What the encoder writes for a field: the 8 parameter bytes and the arrays of the rANS stream."""

    params: bytes
    arrays: list[tuple[np.ndarray, np.ndarray]]  # (symbols, table rows) per handed-over array


def plan_field(field: Field, table: CdfTable) -> FieldCode:
    """The residual classes, their contexts' best rows and the raw bits of a non-zero field."""
    residuals = field.astype(np.int64) - predictors(field)
    classes = classes_of(residuals)
    h, w, _ = field.shape
    first = _first_half(h, w)
    first_ctx, second_ctx = _context_rows(classes, first)
    ordered = np.concatenate((classes[first], classes[~first]))  # [n, 2], coding order
    contexts = np.concatenate((first_ctx, second_ctx))
    bits = row_bits(table)
    rows = np.zeros(CONTEXTS, dtype=np.int64)
    for ctx in range(CONTEXTS):
        seen = ordered[contexts == ctx]
        if seen.size:
            histogram = np.bincount(seen, minlength=MAX_CLASS + 1)
            rows[ctx] = int(np.argmin(bits @ histogram))
    res_ordered = np.concatenate((residuals[first], residuals[~first]))
    raw = raw_bits(res_ordered.reshape(-1), ordered.reshape(-1))
    n1 = int(first.sum())
    arrays = [
        (ordered[:n1].reshape(-1), rows[first_ctx].reshape(-1)),
        (ordered[n1:].reshape(-1), rows[second_ctx].reshape(-1)),
        (raw, np.full(len(raw), RAW_ROW)),
    ]
    return FieldCode(bytes(int(r) for r in rows), arrays)


def encode_field(coder: RansEncoder, table: CdfTable, code: FieldCode) -> None:
    for symbols, rows in code.arrays:
        coder.encode(symbols, rows, table)


def decode_field(coder: RansDecoder, table: CdfTable, params: bytes, h: int, w: int) -> Field:
    """The [h, w] field of a P frame whose motion byte is 1 (``params``: its 8 bytes), checked as it
    is read."""
    if len(params) != CONTEXTS or any(p >= GEOMETRIC_ROWS for p in params):
        raise StreamError(f"P frame has motion table rows {list(params)} (0..{GEOMETRIC_ROWS - 1})")
    rows = np.frombuffer(params, dtype=np.uint8).astype(np.int32)
    first = _first_half(h, w)
    n1, n2 = int(first.sum()), int((~first).sum())
    classes = np.zeros((h, w, 2), dtype=np.int64)
    got = coder.decode(np.tile(rows[[0, 1]], n1), table).reshape(n1, 2)
    check_classes(got, "P frame has a motion residual")
    classes[first] = got
    second_ctx = 2 + 3 * np.array([0, 1])[None, :] + _neighbour_buckets(classes, first)
    got = coder.decode(rows[second_ctx].reshape(-1), table).reshape(n2, 2)
    check_classes(got, "P frame has a motion residual")
    classes[~first] = got
    ordered = np.concatenate((classes[first], classes[~first])).reshape(-1)
    raw_count = int(ordered.sum())  # a sign and k - 1 bits per non-zero residual: k bits
    raw = coder.decode(np.full(raw_count, RAW_ROW, dtype=np.int32), table)
    check_raw(raw, "P frame has a motion")
    residual_ordered = values_from_bits(ordered, raw)
    residuals = np.zeros((h, w, 2), dtype=np.int64)
    residuals[first] = residual_ordered[: 2 * n1].reshape(n1, 2)
    residuals[~first] = residual_ordered[2 * n1:].reshape(n2, 2)
    return _integrate(residuals)


def _integrate(residuals: np.ndarray) -> Field:
    """Vectors from residuals in raster order, each checked against MAX_QPEL (natively: each vector's
    predictor needs the vectors before it)."""
    if np.abs(residuals).max(initial=0) > 4 * MAX_QPEL:
        raise StreamError(f"P frame has a motion residual beyond +-{4 * MAX_QPEL} quarter pels")
    try:
        return _kernels.motion_integrate(np.ascontiguousarray(residuals, dtype=np.int32))
    except ValueError as exc:
        raise StreamError(f"P frame has a {exc}") from None
