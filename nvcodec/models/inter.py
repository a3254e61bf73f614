"""The inter (P-frame) model, DCVC-RT's DMC.

Conditional coding without motion: the previous frame's decoder feature (or,
after an I frame or a reset, its pixels) is turned into a context ``ctx`` that
both the encoder and the decoder concatenate with their inputs, and into a
temporal prior ``ctx_t`` for the entropy model.  Module names match the
published checkpoint ``cvpr2025_video.pth.tar``.  Which symbols are coded and in
what order is the job of the P-frame contract, :mod:`nvcodec.codec.inter_codec`.

Data flow::

    reference -feature_adaptor_{i,p}-> F -conv1-> F1 -*q_feature-> ctx_t
                                            F1 -conv2-> ctx
    x, ctx -encoder (*q_encoder)-> y -> hyper_encoder -> z_hat -> hyper_decoder --+
    ctx_t -temporal_prior_encoder-------------------------------------------------+-> y_prior_fusion
    y -2-step checkerboard context-> y_hat -decoder(ctx, *q_decoder)-> feature (next reference)
    feature -recon_generation_net (*q_recon)-> x_hat
    (reference_skip: x_hat += gate(feature) * (previous decoded frame - x_hat), before the clamp)

Every stage that reads a per-qp table takes ``qp`` as an ``int`` (the coder's
frame) or a tensor with one qp per sample (training's batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nvcodec.entropy.factorized import FactorizedPrior
from nvcodec.errors import ModelError
from nvcodec.models.config import INTER_QP_COUNT, InterConfig
from nvcodec.models.layers import (
    DepthConvBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride2,
    SubpelConv2x,
    depth_conv_stack,
    qp_rows,
)
from nvcodec.models.reference_conv import Conv2d

PIXEL_CHANNELS = 3 * 8 * 8


class FeatureExtractor(nn.Module):
    def __init__(self, cfg: InterConfig):
        super().__init__()
        d = cfg.feature
        self.conv1 = nn.Sequential(*depth_conv_stack(d, d, cfg.extractor_conv1_blocks, cfg.ffn_expansion))
        self.conv2 = nn.Sequential(*depth_conv_stack(d, d, cfg.extractor_conv2_blocks, cfg.ffn_expansion))


class Encoder(nn.Module):
    def __init__(self, cfg: InterConfig):
        super().__init__()
        d = cfg.feature
        self.conv1 = Conv2d(PIXEL_CHANNELS, cfg.view, 1)
        self.conv2 = nn.Sequential(*depth_conv_stack(cfg.view + d, d, cfg.encoder_conv2_blocks, cfg.ffn_expansion))
        self.conv3 = DepthConvBlock(d, d, expansion=cfg.ffn_expansion)
        self.down = Conv2d(d, cfg.latent, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, ctx: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        feature = self.conv1(F.pixel_unshuffle(x, 8))
        feature = self.conv3(self.conv2(torch.cat((feature, ctx), dim=1)))
        return self.down(feature * q)


class Decoder(nn.Module):
    def __init__(self, cfg: InterConfig):
        super().__init__()
        d = cfg.feature
        self.up = SubpelConv2x(cfg.latent, d, 3, padding=1)
        self.conv1 = nn.Sequential(*depth_conv_stack(d * 2, d, cfg.decoder_conv1_blocks, cfg.ffn_expansion))
        self.conv2 = Conv2d(d, d, 1)

    def forward(self, y_hat: torch.Tensor, ctx: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(torch.cat((self.up(y_hat), ctx), dim=1))) * q


class ReconGeneration(nn.Module):
    def __init__(self, cfg: InterConfig):
        super().__init__()
        self.conv = nn.Sequential(*depth_conv_stack(cfg.feature, cfg.recon, cfg.recon_blocks, cfg.ffn_expansion))
        self.head = Conv2d(cfg.recon, PIXEL_CHANNELS, 1)
        # reference_skip: a second head that blends each pixel between the first head's output
        # (gate 0) and the previous decoded frame (gate 1), so that a block can be copied without
        # passing through the feature. A blend rather than a sum: from a closed gate the gradient
        # then points at the reference wherever it is nearer the source than the head's output
        # (still areas), while the sum's gradient only opens the gate together with a change to
        # the head that makes room for it, and in a pilot it stayed shut
        self.gate = Conv2d(cfg.recon, PIXEL_CHANNELS, 1) if cfg.reference_skip else None

    def unclamped(self, feature: torch.Tensor, q: torch.Tensor, reference: torch.Tensor | None = None,
                  ungated: bool = False) -> torch.Tensor:
        """The pixels before the final clamp: training needs them, because a hard clamp passes no
        gradient to an output that has left [0, 1] and such an output would never come back.

        ``reference`` (the previous decoded frame, same padded size) is required with a gate, unless
        ``ungated`` asks for the head's own output.
        """
        hidden = self.conv(feature) * q
        blocks = self.head(hidden)
        if self.gate is not None and not ungated:
            if reference is None:
                raise ModelError("this P-frame model blends in a reference picture, and none was given")
            blocks = blocks + self.gate(hidden) * (F.pixel_unshuffle(reference, 8) - blocks)
        return F.pixel_shuffle(blocks, 8)

    def forward(self, feature: torch.Tensor, q: torch.Tensor, reference: torch.Tensor | None = None,
                ungated: bool = False) -> torch.Tensor:
        return torch.clamp(self.unclamped(feature, q, reference, ungated), 0.0, 1.0)


class _Wrapped(nn.Module):
    """A Sequential under the attribute ``conv`` (the checkpoint's nesting)."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class InterModel(nn.Module):
    """DMC: conditional P-frame codec with a two-step checkerboard context model."""

    qp_count = INTER_QP_COUNT

    def __init__(self, cfg: InterConfig | None = None):
        super().__init__()
        cfg = cfg or InterConfig()
        cfg.validate()
        self.cfg = cfg
        d, y, z, e = cfg.feature, cfg.latent, cfg.hyper, cfg.ffn_expansion
        self.bit_estimator_z = FactorizedPrior(self.qp_count, z)
        self.feature_adaptor_i = DepthConvBlock(PIXEL_CHANNELS, d, expansion=e)
        self.feature_adaptor_p = Conv2d(d, d, 1)
        self.feature_extractor = FeatureExtractor(cfg)
        self.encoder = Encoder(cfg)
        self.hyper_encoder = _Wrapped(
            DepthConvBlock(y, z, expansion=e), ResidualBlockWithStride2(z, z, e), ResidualBlockWithStride2(z, z, e)
        )
        self.hyper_decoder = _Wrapped(
            ResidualBlockUpsample(z, z, e), ResidualBlockUpsample(z, z, e), DepthConvBlock(z, y, expansion=e)
        )
        self.temporal_prior_encoder = ResidualBlockWithStride2(d, y * 2, e)
        self.y_prior_fusion = _Wrapped(
            *depth_conv_stack(y * 3, y * 3, cfg.prior_fusion_blocks, e), Conv2d(y * 3, y * 3, 1)
        )
        self.y_spatial_prior = _Wrapped(
            *depth_conv_stack(y * 4, y * 3, cfg.spatial_prior_blocks, e), Conv2d(y * 3, y * 2, 1)
        )
        self.decoder = Decoder(cfg)
        self.recon_generation_net = ReconGeneration(cfg)
        self.q_encoder = nn.Parameter(torch.ones((self.qp_count, d, 1, 1)))
        self.q_decoder = nn.Parameter(torch.ones((self.qp_count, d, 1, 1)))
        self.q_feature = nn.Parameter(torch.ones((self.qp_count, d, 1, 1)))
        self.q_recon = nn.Parameter(torch.ones((self.qp_count, cfg.recon, 1, 1)))

    # -- stages -------------------------------------------------------------
    def reference_feature(self, frame: torch.Tensor | None, feature: torch.Tensor | None) -> torch.Tensor:
        """F: from the stored feature when there is one, else from the pixel reference."""
        if feature is not None:
            return self.feature_adaptor_p(feature)
        return self.feature_adaptor_i(F.pixel_unshuffle(frame, 8))

    def temporal_context(self, ref: torch.Tensor, qp: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(F1, ctx_t): the first half of the feature extractor and the entropy-model context."""
        f1 = self.feature_extractor.conv1(ref)
        return f1, f1 * qp_rows(self.q_feature, qp)

    def context(self, f1: torch.Tensor) -> torch.Tensor:
        return self.feature_extractor.conv2(f1)

    def analysis(self, x: torch.Tensor, ctx: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
        return self.encoder(x, ctx, qp_rows(self.q_encoder, qp))

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        """z (before rounding) of a y padded to a multiple of 4."""
        return self.hyper_encoder(y)

    def prior_params(self, z_hat: torch.Tensor, ctx_t: torch.Tensor) -> torch.Tensor:
        """[quant_step | scales | means] for step 0, each ``latent`` channels."""
        temporal = self.temporal_prior_encoder(ctx_t)
        _, _, h, w = temporal.shape
        hyper = self.hyper_decoder(z_hat)[:, :, :h, :w].contiguous()
        return self.y_prior_fusion(torch.cat((hyper, temporal), dim=1))

    def step_prior(self, y_hat_0: torch.Tensor, params: torch.Tensor):
        """Scales and means of the second checkerboard step."""
        return self.y_spatial_prior(torch.cat((y_hat_0, params), dim=1)).chunk(2, 1)

    def synthesis_feature(self, y_hat: torch.Tensor, ctx: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
        """The new decoded feature (the next frame's reference)."""
        return self.decoder(y_hat, ctx, qp_rows(self.q_decoder, qp))

    def reconstruct_unclamped(self, feature: torch.Tensor, qp: int | torch.Tensor,
                              reference: torch.Tensor | None = None) -> torch.Tensor:
        """The pixels before the clamp (training); ``reference``: the picture a gated model blends in."""
        return self.recon_generation_net.unclamped(feature, qp_rows(self.q_recon, qp), reference)

    def reconstruct(self, feature: torch.Tensor, qp: int | torch.Tensor,
                    reference: torch.Tensor | None = None) -> torch.Tensor:
        return self.recon_generation_net(feature, qp_rows(self.q_recon, qp), reference)

    def reconstruct_ungated(self, feature: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
        """The pixels of ``feature`` alone, whatever a pixel gate would blend in: what a reset predicts from."""
        return self.recon_generation_net(feature, qp_rows(self.q_recon, qp), ungated=True)
