"""Differentiable forward passes of the intra and inter models, for training.

They follow the coding path of :mod:`nvcodec.codec.frame_coding` step by step
(the same spatial-context schedule, the same q-maps and quantisation steps) but
replace rounding by its training surrogates:

* the rate is measured on ``value + U(-0.5, 0.5)`` (a smooth stand-in for the
  integer the coder will see), with the Gaussian or factorized likelihood;
* what the synthesis network and the next context step receive is the rounded
  value with a straight-through gradient, as at inference.

Every sample in a batch may use its own qp: per-qp parameters are gathered
per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nvcodec.codec.frames import pad_replicate
from nvcodec.entropy.context import masks_2step, masks_4step
from nvcodec.entropy.gaussian import SCALE_MIN
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel

_LIKELIHOOD_MIN = 1e-9


@dataclass
class FrameOutput:
    x_hat: torch.Tensor  # [B, 3, H, W], unclamped for intra; inter: clamped, straight-through gradient
    bits: torch.Tensor  # [B] estimated bits of the frame (y + z)
    feature: torch.Tensor | None = None  # inter: the new reference feature


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


def _noisy(x: torch.Tensor) -> torch.Tensor:
    return x + torch.empty_like(x).uniform_(-0.5, 0.5)


def _rate_sample(x: torch.Tensor, hard_rate: bool) -> torch.Tensor:
    """What the rate is measured on: the noisy proxy, or the rounded value the coder codes (straight-through).

    The noise proxy charges a latent element about as much as its noise interval costs even where the
    coder sends a near-certain zero: on foreman, the shipped model's rounded symbols cost 0.33x (qp 0)
    to 0.82x (qp 63) of the bits the proxy reports for I frames, 0.37x-0.87x for P frames.  But the
    straight-through rate has no gradient at a zero symbol, so nothing holds small residuals at zero:
    300 intra steps with it on the shipped model moved every qp 5-26 % up in rate along the same
    curve, and the real loss at each qp's lambda rose 1.6 % (300 steps with the proxy: 0.3 %).
    """
    return ste_round(x) if hard_rate else _noisy(x)


def gaussian_bits(residual: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """Bits of a noisy residual under a zero-mean Gaussian of the given scale (per element)."""
    residual, scales = residual.float(), lower_bound(scales.float(), SCALE_MIN)  # rates in float32 under autocast
    upper = 0.5 * torch.erfc(-(residual + 0.5) / (scales * 2**0.5))
    lower = 0.5 * torch.erfc(-(residual - 0.5) / (scales * 2**0.5))
    likelihood = (upper - lower).clamp_min(_LIKELIHOOD_MIN)
    return -torch.log2(likelihood)


def _z_bits(prior, z: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_hat for the hyper decoder, bits per sample)."""
    likelihood = prior.likelihood(_rate_sample(z.float(), hard_rate), qp).clamp_min(_LIKELIHOOD_MIN)
    return ste_round(z), (-torch.log2(likelihood)).flatten(1).sum(1)


def _hyper_input(y: torch.Tensor) -> torch.Tensor:
    h, w = y.shape[-2:]
    return pad_replicate(y, -(-h // 4) * 4, -(-w // 4) * 4)


def _step(y_scaled, scales, means, mask, hard_rate: bool = False):
    """One context step: (y_hat contribution, bits per sample) at the mask's positions."""
    residual = y_scaled - means
    bits = (gaussian_bits(_rate_sample(residual, hard_rate), scales) * mask).flatten(1).sum(1)
    return (ste_round(residual) + means) * mask, bits


def intra_forward(model: IntraModel, x: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False) -> FrameOutput:
    y = model.enc(x, model.q_scale_enc[qp])
    z_hat, bits = _z_bits(model.bit_estimator_z, model.hyper_enc(_hyper_input(y)), qp, hard_rate)
    _, c, h, w = y.shape
    params = model.y_prior_fusion(model.hyper_dec(z_hat))[:, :, :h, :w]
    q_enc, q_dec, scales, means = model.split_params(params)
    common = model.y_spatial_prior_reduction(params)
    y = y * q_enc
    masks = masks_4step(c, h, w, y.dtype, y.device)
    y_hat = None
    for step in range(4):
        if step:
            scales, means = model.step_prior(step, y_hat, common)
        contribution, step_bits = _step(y, scales, means, masks[step], hard_rate)
        y_hat = contribution if y_hat is None else y_hat + contribution
        bits = bits + step_bits
    x_hat = model.dec(y_hat * q_dec, model.q_scale_dec[qp])
    return FrameOutput(x_hat, bits)


def inter_forward(model: InterModel, x: torch.Tensor, qp: torch.Tensor, ref_frame: torch.Tensor | None,
                  ref_feature: torch.Tensor | None, hard_rate: bool = False,
                  anchor: torch.Tensor | None = None) -> FrameOutput:
    """One P frame.  ``ref_frame`` is the previous decoded frame, ``ref_feature`` its decoder feature
    (None after an I frame or a reset); the reference feature comes from the feature when there is
    one, else from the pixels.  A ``reference_skip`` model also blends the pixels into its output, an
    ``anchor_skip`` model the ``anchor`` (the sequence's decoded I frame; by default ``ref_frame``
    when the reference comes from pixels, as for the first P frame)."""
    if anchor is None and ref_feature is None:
        anchor = ref_frame
    ref = model.reference_feature(ref_frame, ref_feature)
    f1 = model.feature_extractor.conv1(ref)
    ctx_t = f1 * model.q_feature[qp]
    ctx = model.feature_extractor.conv2(f1)
    y = model.encoder(x, ctx, model.q_encoder[qp])
    z_hat, bits = _z_bits(model.bit_estimator_z, model.hyper_encoder(_hyper_input(y)), qp, hard_rate)
    params = model.prior_params(z_hat, ctx_t)
    q_dec, scales, means = params.chunk(3, 1)
    q_dec = lower_bound(q_dec, 0.5)
    y = y * torch.reciprocal(q_dec)
    _, c, h, w = y.shape
    masks = masks_2step(c, h, w, y.dtype, y.device)
    y_hat_0, bits0 = _step(y, scales, means, masks[0], hard_rate)
    scales, means = model.step_prior(y_hat_0, params)
    y_hat_1, bits1 = _step(y, scales, means, masks[1], hard_rate)
    feature = model.decoder((y_hat_0 + y_hat_1) * q_dec, ctx, model.q_decoder[qp], ref_feature)
    blended = model.gate_pixels(ref_frame, anchor)
    x_hat = ste_clamp(model.recon_generation_net.unclamped(feature, model.q_recon[qp], blended))
    return FrameOutput(x_hat, bits + bits0 + bits1, feature)


def yuv_mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample distortion, weighted 6:1:1 over Y, Cb, Cr as the PSNR-YUV metric is."""
    per_channel = (x_hat.float() - x).pow(2).mean(dim=(2, 3))
    return (6 * per_channel[:, 0] + per_channel[:, 1] + per_channel[:, 2]) / 8
