"""Training's view of the frame contracts: their forward passes, and the distortion training weighs.

The passes are the contracts' own (:meth:`nvcodec.codec.intra_codec.IntraCodec.forward`,
:meth:`nvcodec.codec.inter_codec.InterCodec.forward`), the same pipelines the coder runs with
rounding replaced by its training surrogates (:mod:`nvcodec.codec.surrogate`).  Every sample
in a batch may use its own qp.
"""

from __future__ import annotations

import torch

from nvcodec.codec.inter_codec import InterCodec
from nvcodec.codec.intra_codec import IntraCodec
from nvcodec.codec.outputs import FrameOutput
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel

__all__ = ["FrameOutput", "inter_forward", "intra_forward", "yuv_mse"]


def intra_forward(model: IntraModel, x: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False) -> FrameOutput:
    """One I frame per sample; x_hat unclamped."""
    return IntraCodec(model).forward(x, qp, hard_rate)


def inter_forward(model: InterModel, x: torch.Tensor, qp: torch.Tensor, ref_frame: torch.Tensor | None,
                  ref_feature: torch.Tensor | None, hard_rate: bool = False) -> FrameOutput:
    """One P frame per sample.  ``ref_frame`` is the previous decoded frame, ``ref_feature`` its decoder
    feature (None after an I frame or a reset); the reference feature comes from the feature when there
    is one, else from the pixels, and a ``reference_skip`` model blends the pixels into its output."""
    return InterCodec(model).forward(x, qp, ref_frame, ref_feature, hard_rate)


def yuv_mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample distortion, weighted 6:1:1 over Y, Cb, Cr as the PSNR-YUV metric is."""
    per_channel = (x_hat.float() - x).pow(2).mean(dim=(2, 3))
    return (6 * per_channel[:, 0] + per_channel[:, 1] + per_channel[:, 2]) / 8
