"""Block skip: P-frame blocks that repeat the previous decoded frame (an nvc extension of DCVC-RT).

One latent position of a P frame covers a 16 x 16 block of pixels.  Where the encoder marks a
block skipped, no latent element of that position is coded (the decoder takes the prior's mean,
as for DCVC-RT's low-scale elements), the decoded feature keeps the reference feature there and
the block's pixels are the previous decoded frame's.  A fixed camera's background then costs a
fraction of a bit per block instead of being coded again, frame after frame, at the P frames'
lower quality.  Streams say they use it in the SPS (``SpsUnit.block_skip``); DCVC-RT streams
never do.

Syntax, at the start of a P-frame payload when the SPS has the flag::

    skip_prob:u8    0: no block skipped, no map follows; else the probability, in 64ths, of a
                    skip at the first half of the checkerboard
    map             (skip_prob > 0) in the frame's rANS stream, before z: the flags of the
                    positions with (row + column) even, row-major, each coded with skip_prob;
                    then the others, each with the probability its four (even) neighbours give

The encoder's choice is rate-distortion: a block is skipped when the bits its latent would cost
outweigh, at the frame's lambda, how much worse copying is than coding it (``choose_skips``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from nvcodec.entropy.rans import CdfTable, RansDecoder, RansEncoder

#: pixels per side of a block: one position of the P-frame latent
BLOCK = 16
#: probabilities are coded in steps of 1/PROB_STEPS, from 1 to PROB_STEPS - 1 of them
PROB_STEPS = 64
#: the encoder weighs distortion this many times its lambda: a skipped block's error stays in the
#: reference of the frames after it (chosen on the development clips: bench/probe_block_skip.py)
DISTORTION_WEIGHT = 3.0


def flag_table() -> CdfTable:
    """Row r codes a flag that is 1 with probability r / PROB_STEPS (row 0 is unused)."""
    rows = np.zeros((PROB_STEPS, 4), dtype=np.int32)
    for r in range(PROB_STEPS):
        ones = min(max(round(65535 * r / PROB_STEPS), 1), 65534)
        rows[r] = (0, 65535 - ones, 65535, 65536)
    return CdfTable(rows, np.full(PROB_STEPS, 4, np.int32), np.zeros(PROB_STEPS, np.int32))


def _first_half(height: int, width: int) -> np.ndarray:
    rows, cols = np.indices((height, width))
    return (rows + cols) % 2 == 0


def _second_half_rows(skips: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Table rows of the second-half flags: (n + 1/4) / (N + 1/2) with n of the N neighbours skipped."""
    marked = np.pad(skips & first, 1).astype(np.int64)
    present = np.pad(first, 1).astype(np.int64)
    n = marked[:-2, 1:-1] + marked[2:, 1:-1] + marked[1:-1, :-2] + marked[1:-1, 2:]
    total = present[:-2, 1:-1] + present[2:, 1:-1] + present[1:-1, :-2] + present[1:-1, 2:]
    # round(PROB_STEPS * (4n + 1) / (4N + 2)) in integers, so that both sides agree exactly
    num, den = PROB_STEPS * (4 * n + 1), 4 * total + 2
    rows = (2 * num + den) // (2 * den)
    return np.clip(rows, 1, PROB_STEPS - 1)[~first].astype(np.int32)


def first_half_prob(skips: np.ndarray) -> int:
    """skip_prob for a map (0 when nothing is skipped)."""
    if not skips.any():
        return 0
    first = _first_half(*skips.shape)
    share = float(skips[first].mean())
    return int(min(max(round(share * PROB_STEPS), 1), PROB_STEPS - 1))


def encode_map(coder: RansEncoder, table: CdfTable, skips: np.ndarray, prob: int) -> None:
    first = _first_half(*skips.shape)
    flags = skips.astype(np.int32)
    coder.encode(flags[first], np.full(int(first.sum()), prob, np.int32), table)
    coder.encode(flags[~first], _second_half_rows(skips, first), table)


def decode_map(coder: RansDecoder, table: CdfTable, prob: int, height: int, width: int) -> np.ndarray:
    first = _first_half(height, width)
    skips = np.zeros((height, width), dtype=bool)
    skips[first] = coder.decode(np.full(int(first.sum()), prob, np.int32), table) != 0
    skips[~first] = coder.decode(_second_half_rows(skips, first), table) != 0
    return skips


def map_bits(skips: np.ndarray) -> float:
    """What ``encode_map`` will spend on a map, in bits (the skip_prob byte included)."""
    prob = first_half_prob(skips)
    if prob == 0:
        return 8.0
    first = _first_half(*skips.shape)
    p_first = np.full(int(first.sum()), prob / PROB_STEPS)
    p_second = _second_half_rows(skips, first) / PROB_STEPS
    p = np.concatenate((p_first, p_second))
    s = np.concatenate((skips[first], skips[~first]))
    return 8.0 + float(-np.log2(np.where(s, p, 1.0 - p)).sum())


# -- the encoder's choice ---------------------------------------------------------------------


def block_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean 6:1:1 weighted squared error per 16 x 16 block of two padded [1, 3, H, W] frames."""
    d = (a.float() - b.float()).square()
    d = (6.0 * d[:, 0] + d[:, 1] + d[:, 2]) / 8.0
    return F.avg_pool2d(d[:, None], BLOCK)[0, 0]


def latent_bits(symbols: torch.Tensor, scales: torch.Tensor, coded: torch.Tensor) -> torch.Tensor:
    """Estimated bits per latent position of quantised residuals under their Gaussians."""
    s = scales.float().clamp_min(0.11)
    normal = torch.distributions.Normal(0.0, 1.0)
    p = normal.cdf((symbols + 0.5) / s) - normal.cdf((symbols - 0.5) / s)
    bits = -torch.log2(p.clamp_min(1e-9)) * coded
    return bits.sum(1)[0]


def choose_skips(bits: torch.Tensor, copy_error: torch.Tensor, code_error: torch.Tensor,
                 lam: float) -> np.ndarray:
    """The blocks whose latent bits outweigh what copying loses, flags and map included.

    ``bits``: estimated bits of each position's latent; ``copy_error`` / ``code_error``: each
    block's mean squared error copied and coded; ``lam``: the frame's lambda (per pixel, MSE on
    [0, 1]).  The flags' own cost depends on how many are set, so the share is iterated; a map
    that costs more than all it saves is dropped.
    """
    gain = (bits - DISTORTION_WEIGHT * lam * BLOCK * BLOCK * (copy_error - code_error)).cpu().numpy()
    p = 0.5
    skips = np.zeros(gain.shape, dtype=bool)
    for _ in range(3):
        skips = gain + math.log2(1.0 - p) - math.log2(p) >= 0
        p = min(max(float(skips.mean()), 1.0 / PROB_STEPS), 1.0 - 1.0 / PROB_STEPS)
    # conservative: each skip's gain net of its own flag must pay for the whole map
    net = float((gain[skips] + math.log2(1.0 - p) - math.log2(p)).sum())
    if skips.any() and net <= map_bits(skips) - 8.0:
        return np.zeros_like(skips)
    return skips


def expand(skips: np.ndarray | torch.Tensor, factor: int, device: torch.device) -> torch.Tensor:
    """A [1, 1, h * factor, w * factor] bool mask of a per-position map [h, w], or [B, 1, ...] of one
    map per sample [B, h, w] (training batches, each sample coded as the encoder would)."""
    mask = torch.as_tensor(skips, device=device)
    batch = mask[None] if mask.dim() == 2 else mask
    return batch.repeat_interleave(factor, 1).repeat_interleave(factor, 2)[:, None]


def coded_positions(skips: np.ndarray | torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[1, 1, h, w] ([B, 1, h, w] for per-sample maps): 1 at the latent positions that are coded, 0 at
    those of skipped blocks."""
    return (~expand(skips, 1, device)).to(dtype)
