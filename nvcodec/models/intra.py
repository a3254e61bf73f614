"""The intra (I-frame) model, DCVC-RT's DMCI.

Only the networks live here; which symbols are coded and in what order is the
job of the I-frame contract, :mod:`nvcodec.codec.intra_codec`.  Module names
match the published checkpoint ``cvpr2025_image.pth.tar``.

Every stage that reads a per-qp table takes ``qp`` as an ``int`` (the coder's
frame) or a tensor with one qp per sample (training's batch).

Data flow (encoder; the decoder starts at z_hat)::

    x (3xHxW) -pixel_unshuffle 8-> enc_1 -*q_scale_enc[qp]-> enc_2 -> y (N x H/16)
    y -pad to 4-> hyper_enc -> z -round-> z_hat -> hyper_dec -> y_prior_fusion -> params
    params + y -4-step spatial context-> y_hat -> dec_1 -*q_scale_dec[qp]-> dec_2 -> x_hat
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nvcodec.entropy.factorized import FactorizedPrior
from nvcodec.models.config import INTRA_QP_COUNT, IntraConfig
from nvcodec.models.layers import (
    DepthConvBlock,
    ResidualBlockUpsample,
    ResidualBlockWithStride2,
    depth_conv_stack,
    qp_rows,
)
from nvcodec.models.reference_conv import Conv2d

PIXEL_CHANNELS = 3 * 8 * 8


class IntraEncoder(nn.Module):
    def __init__(self, cfg: IntraConfig):
        super().__init__()
        self.enc_1 = DepthConvBlock(PIXEL_CHANNELS, cfg.feature)
        self.enc_2 = nn.Sequential(
            *depth_conv_stack(cfg.feature, cfg.feature, cfg.enc_blocks),
            Conv2d(cfg.feature, cfg.latent, 3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor, q_scale: torch.Tensor) -> torch.Tensor:
        out = self.enc_1(F.pixel_unshuffle(x, 8))
        return self.enc_2(out * q_scale)


class IntraDecoder(nn.Module):
    def __init__(self, cfg: IntraConfig):
        super().__init__()
        self.dec_1 = nn.Sequential(
            ResidualBlockUpsample(cfg.latent, cfg.feature),
            *depth_conv_stack(cfg.feature, cfg.feature, cfg.dec_blocks),
        )
        self.dec_2 = DepthConvBlock(cfg.feature, PIXEL_CHANNELS)

    def forward(self, y_hat: torch.Tensor, q_scale: torch.Tensor) -> torch.Tensor:
        out = self.dec_1(y_hat) * q_scale
        return F.pixel_shuffle(self.dec_2(out), 8)


class IntraModel(nn.Module):
    """DMCI: hyperprior image codec with a four-step spatial context model."""

    qp_count = INTRA_QP_COUNT

    def __init__(self, cfg: IntraConfig | None = None):
        super().__init__()
        cfg = cfg or IntraConfig()
        cfg.validate()
        self.cfg = cfg
        n, z = cfg.latent, cfg.hyper
        self.bit_estimator_z = FactorizedPrior(self.qp_count, z)
        self.enc = IntraEncoder(cfg)
        self.hyper_enc = nn.Sequential(
            DepthConvBlock(n, z),
            ResidualBlockWithStride2(z, z),
            ResidualBlockWithStride2(z, z),
        )
        self.hyper_dec = nn.Sequential(
            ResidualBlockUpsample(z, z),
            ResidualBlockUpsample(z, z),
            DepthConvBlock(z, n),
        )
        self.y_prior_fusion = nn.Sequential(
            *depth_conv_stack(n, n * 2, cfg.prior_fusion_blocks),
            Conv2d(n * 2, n * 2 + 2, 1),
        )
        self.y_spatial_prior_reduction = Conv2d(n * 2 + 2, n, 1)
        self.y_spatial_prior_adaptor_1 = DepthConvBlock(n * 2, n * 2, force_adaptor=True)
        self.y_spatial_prior_adaptor_2 = DepthConvBlock(n * 2, n * 2, force_adaptor=True)
        self.y_spatial_prior_adaptor_3 = DepthConvBlock(n * 2, n * 2, force_adaptor=True)
        self.y_spatial_prior = nn.Sequential(
            *depth_conv_stack(n * 2, n * 2, cfg.spatial_prior_blocks),
            Conv2d(n * 2, n * 2, 1),
        )
        self.dec = IntraDecoder(cfg)
        self.q_scale_enc = nn.Parameter(torch.ones((self.qp_count, cfg.feature, 1, 1)))
        self.q_scale_dec = nn.Parameter(torch.ones((self.qp_count, cfg.feature, 1, 1)))

    # -- stages -------------------------------------------------------------
    def analysis(self, x: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
        return self.enc(x, qp_rows(self.q_scale_enc, qp))

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        """z (before rounding) of a y padded to a multiple of 4."""
        return self.hyper_enc(y)

    def prior_params(self, z_hat: torch.Tensor, y_size: tuple[int, int]) -> torch.Tensor:
        """hyper_dec + fusion, cropped to y's size: [q maps (2) | scales (N) | means (N)]."""
        params = self.y_prior_fusion(self.hyper_dec(z_hat))
        return params[:, :, : y_size[0], : y_size[1]].contiguous()

    @staticmethod
    def split_params(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The two q-maps (in [0.5, 2]) for y before and y_hat after quantisation, then scales, means."""
        q_enc, q_dec = (torch.sigmoid(params[:, :2, :, :]) * 1.5 + 0.5).chunk(2, 1)
        scales, means = params[:, 2:, :, :].chunk(2, 1)
        return q_enc, q_dec, scales, means

    def step_prior(self, step: int, y_hat_so_far: torch.Tensor, common: torch.Tensor):
        """Scales and means of spatial step 1..3 from what steps before it decoded."""
        adaptor = (self.y_spatial_prior_adaptor_1, self.y_spatial_prior_adaptor_2,
                   self.y_spatial_prior_adaptor_3)[step - 1]
        return self.y_spatial_prior(adaptor(torch.cat((y_hat_so_far, common), dim=1))).chunk(2, 1)

    def synthesis_unclamped(self, y_hat: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
        """The pixels before the final clamp: training needs them (a clamped output passes no gradient)."""
        return self.dec(y_hat, qp_rows(self.q_scale_dec, qp))

    def synthesis(self, y_hat: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
        return self.synthesis_unclamped(y_hat, qp).clamp_(0, 1)
