"""The hyperprior's side of a frame, z: its input, the coder's rounding and training's rate.

Both frame types code z first, with a factorized prior per qp, and decode y's prior
from it; the padding of y before the hyper encoder and the rounding of z are the same
for I and P frames.
"""

from __future__ import annotations

import torch

from nvcodec.codec.frames import pad_replicate
from nvcodec.codec.surrogate import LIKELIHOOD_MIN, rate_sample, ste_round
from nvcodec.entropy.factorized import FactorizedPrior


def hyper_input(y: torch.Tensor) -> torch.Tensor:
    """y replicate-padded to a multiple of 4, as the hyper encoder's two stride-2 stages need."""
    h, w = y.shape[-2:]
    return pad_replicate(y, -(-h // 4) * 4, -(-w // 4) * 4)


def round_z(z: torch.Tensor) -> torch.Tensor:
    """The coder's z_hat: rounded and held to the int8 symbols the table codes."""
    # nan_to_num: see entropy.context.quantize_step (identity on every finite value)
    return torch.nan_to_num(torch.clamp(torch.round(z), -128.0, 127.0), nan=0.0)


def z_bits(prior: FactorizedPrior, z: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Training's z: (z_hat for the hyper decoder, straight-through; bits per sample)."""
    likelihood = prior.likelihood(rate_sample(z.float(), hard_rate), qp).clamp_min(LIKELIHOOD_MIN)
    return ste_round(z), (-torch.log2(likelihood)).flatten(1).sum(1)
