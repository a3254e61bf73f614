"""Spatial context coding of y: the four-step (I) and two-step (P) schedules.

Each step codes one dense 64-channel-per-group slice of y: the latent's
channels are split into groups and, inside every 2x2 cell of the latent plane,
exactly one group is "active" at each position in each step.  Step t's
scales and means are predicted from everything decoded in steps < t, so the
decoder runs the same prediction network between steps.

I frames (4 groups)::

    step 0: group g at cell position g          positions: 0 1
    step 1: group g at position [3, 2, 1, 0][g]            2 3
    step 2: group g at position [2, 3, 0, 1][g]
    step 3: group g at position [1, 0, 3, 2][g]

P frames (2 groups): step 0 codes group 0 on the even checkerboard and group 1
on the odd one; step 1 the complement.

Within a step the active elements of all groups are folded into one
``latent/groups``-channel grid (exactly one group is non-zero per position),
flattened in (channel, row, column) order and, with a skip threshold, filtered
to the elements whose scale is above it.  The float expressions below mirror
the reference's so the grids, indices and reconstructions are bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_POSITIONS_4 = ((0, 1, 2, 3), (3, 2, 1, 0), (2, 3, 0, 1), (1, 0, 3, 2))


def _tile(cell: tuple[tuple[int, int], tuple[int, int]], height: int, width: int, dtype, device) -> torch.Tensor:
    mask = torch.tensor(cell, dtype=dtype, device=device)
    mask = mask.repeat((height + 1) // 2, (width + 1) // 2)[:height, :width]
    return mask[None, None]


def _position_mask(position: int, height: int, width: int, dtype, device) -> torch.Tensor:
    cell = [[0, 0], [0, 0]]
    cell[position // 2][position % 2] = 1
    return _tile(((cell[0][0], cell[0][1]), (cell[1][0], cell[1][1])), height, width, dtype, device)


def masks_4step(channels: int, height: int, width: int, dtype, device) -> list[torch.Tensor]:
    """One [1, channels, H, W] 0/1 mask per I-frame step."""
    ones = torch.ones((1, channels // 4, height, width), dtype=dtype, device=device)
    pos = [_position_mask(p, height, width, dtype, device) for p in range(4)]
    return [torch.cat([ones * pos[p] for p in order], dim=1) for order in _POSITIONS_4]


def masks_2step(channels: int, height: int, width: int, dtype, device) -> list[torch.Tensor]:
    """One [1, channels, H, W] 0/1 mask per P-frame step."""
    ones = torch.ones((1, channels // 2, height, width), dtype=dtype, device=device)
    even = _tile(((1, 0), (0, 1)), height, width, dtype, device)
    odd = _tile(((0, 1), (1, 0)), height, width, dtype, device)
    return [torch.cat((ones * even, ones * odd), dim=1), torch.cat((ones * odd, ones * even), dim=1)]


class MaskCache:
    """Masks depend only on shape, dtype and device; build them once per frame size."""

    def __init__(self) -> None:
        self._cache: dict[tuple, list[torch.Tensor]] = {}

    def get(self, steps: int, channels: int, height: int, width: int, dtype, device) -> list[torch.Tensor]:
        key = (steps, channels, height, width, dtype, str(device))
        if key not in self._cache:
            build = masks_4step if steps == 4 else masks_2step
            self._cache[key] = build(channels, height, width, dtype, device)
        return self._cache[key]


def fold(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Fold the channel groups of a masked tensor into one grid (one group active per position)."""
    if groups == 4:
        x0, x1, x2, x3 = x.chunk(4, 1)
        return (x0 + x1) + (x2 + x3)
    x0, x1 = x.chunk(2, 1)
    return x0 + x1


def unfold(grid: torch.Tensor, means: torch.Tensor, mask: torch.Tensor, groups: int) -> torch.Tensor:
    """Decoder side of :func:`fold`: spread decoded symbols back to all groups, add means, mask."""
    return (torch.cat((grid,) * groups, dim=1) + means) * mask


@dataclass
class QuantizedStep:
    """One step's result on the encoder side."""

    symbols: torch.Tensor  # [1, C, H, W] float: the quantised residual (0 outside the step's mask)
    y_hat: torch.Tensor  # symbols + masked means
    scales: torch.Tensor  # scales * mask


def quantize_step(
    y: torch.Tensor, scales: torch.Tensor, means: torch.Tensor, mask: torch.Tensor, skip_threshold: float | None,
    keep: torch.Tensor | None = None,
) -> QuantizedStep:
    """Quantise the residual of y at one step's positions (round half to even, clamp to int8).

    With a skip threshold, elements whose scale is not above it become exactly
    the mean: the decoder knows this from the scale alone and reads nothing.  ``keep`` (1 or 0
    per position, [1, 1, H, W]) does the same for the positions of skipped blocks.
    """
    scales_hat = scales * mask
    means_hat = means * mask
    y_q = torch.round((y - means_hat) * mask)
    if skip_threshold is not None:
        y_q = y_q * (scales_hat > skip_threshold)
    if keep is not None:
        y_q = y_q * keep
    # A feature chain that has overflowed (a model driven far outside its training, e.g. long
    # drift at the lowest qp) gives NaN here.  The decoder only ever sees the symbols written,
    # so the encoder must continue from those same symbols, and NaN has no symbol: it is coded
    # as 0.  Finite values are untouched, so conforming streams do not change.
    y_q = torch.nan_to_num(torch.clamp(y_q, -128.0, 127.0), nan=0.0)
    return QuantizedStep(symbols=y_q, y_hat=y_q + means_hat, scales=scales_hat)
