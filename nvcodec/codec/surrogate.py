"""Training's stand-ins for what the coder does without gradients: rounding, floors, clamps, and bits.

The frame contracts (:mod:`nvcodec.codec.intra_codec`, :mod:`nvcodec.codec.inter_codec`)
use these in their ``forward`` passes:

* the rate is measured on ``value + U(-0.5, 0.5)`` (a smooth stand-in for the integer the
  coder will see) or, with ``hard_rate``, on the rounded value itself, under the Gaussian
  (or the hyperprior's factorized) likelihood;
* what the synthesis network and the next context step receive is the rounded value with a
  straight-through gradient, as at inference.

Each has the value of the coder's operation (``ste_round`` is exactly ``round``; ``lower_bound``
exactly ``clamp_min``); ``ste_clamp`` may differ from ``clamp`` by a rounding of the last bit.
"""

from __future__ import annotations

import torch

from nvcodec.entropy.gaussian import SCALE_MIN

#: the smallest likelihood a rate counts (so that a far-off sample costs about 30 bits, not infinity)
LIKELIHOOD_MIN = 1e-9


def ste_round(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


class _LowerBound(torch.autograd.Function):
    """``max(x, bound)`` whose gradient still reaches ``x`` below the bound when it would raise ``x``.

    A plain ``clamp_min`` gives no gradient there, so a scale or quantisation step that starts
    below its floor would stay stuck at the floor however much the loss wants it larger.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, bound: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        passes = (x >= ctx.bound) | (grad < 0)
        return grad * passes, None


def lower_bound(x: torch.Tensor, bound: float) -> torch.Tensor:
    return _LowerBound.apply(x, bound)


def ste_clamp(x: torch.Tensor, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    """Clamp with a straight-through gradient, so pixels outside the range are pulled back in."""
    return x + (x.clamp(low, high) - x).detach()


def rate_sample(x: torch.Tensor, hard_rate: bool) -> torch.Tensor:
    """What the rate is measured on: the noisy proxy, or the rounded value the coder codes (straight-through).

    The noise proxy charges a latent element about as much as its noise interval costs even where the
    coder sends a near-certain zero: on foreman, the shipped model's rounded symbols cost 0.33x (qp 0)
    to 0.82x (qp 63) of the bits the proxy reports for I frames, 0.37x-0.87x for P frames.  But the
    straight-through rate has no gradient at a zero symbol, so nothing holds small residuals at zero:
    300 intra steps with it on the shipped model moved every qp 5-26 % up in rate along the same
    curve, and the real loss at each qp's lambda rose 1.6 % (300 steps with the proxy: 0.3 %).
    """
    return ste_round(x) if hard_rate else x + torch.empty_like(x).uniform_(-0.5, 0.5)


def gaussian_bits(residual: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Bits of a residual sample under a zero-mean Gaussian of the given scale (per element)."""
    residual, scales = residual.float(), lower_bound(scales.float(), SCALE_MIN)  # rates in float32 under autocast
    upper = 0.5 * torch.erfc(-(residual + 0.5) / (scales * 2**0.5))
    lower = 0.5 * torch.erfc(-(residual - 0.5) / (scales * 2**0.5))
    likelihood = (upper - lower).clamp_min(LIKELIHOOD_MIN)
    return -torch.log2(likelihood)
