"""Training's view of the frame contracts: their forward passes, and the distortion training weighs.

The passes are the contracts' own (:meth:`nvcodec.codec.intra_codec.IntraCodec.forward`,
:meth:`nvcodec.codec.inter_codec.InterCodec.forward`), the same pipelines the coder runs with
rounding replaced by its training surrogates (:mod:`nvcodec.codec.surrogate`).  Every sample
in a batch may use its own qp.
"""

from __future__ import annotations

import numpy as np
import torch

from nvcodec.codec import motion
from nvcodec.codec.frame_coding import skips_after_coding
from nvcodec.codec.inter_codec import InterCodec, Reference, SkipMap
from nvcodec.codec.intra_codec import IntraCodec
from nvcodec.codec.outputs import FrameOutput
from nvcodec.models.inter import InterModel
from nvcodec.models.intra import IntraModel
from nvcodec.models.lambdas import lambda_for_qp

__all__ = ["FrameOutput", "coder_skips", "inter_forward", "intra_forward", "motion_compensated", "yuv_mse"]


def intra_forward(model: IntraModel, x: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False) -> FrameOutput:
    """One I frame per sample; x_hat unclamped."""
    return IntraCodec(model).forward(x, qp, hard_rate)


def inter_forward(model: InterModel, x: torch.Tensor, qp: torch.Tensor, ref_frame: torch.Tensor | None,
                  ref_feature: torch.Tensor | None, hard_rate: bool = False, skips: SkipMap | None = None,
                  skip_threshold: float | None = None) -> FrameOutput:
    """One P frame per sample.  ``ref_frame`` is the previous decoded frame, ``ref_feature`` its decoder
    feature (None after an I frame or a reset); the reference feature comes from the feature when there
    is one, else from the pixels, and a ``reference_skip`` model blends the pixels into its output.
    ``skips`` ([B, h, w], see :func:`coder_skips`) leaves blocks uncoded and copies them from
    ``ref_frame``; ``skip_threshold`` leaves low-scale elements uncoded, as the coder does."""
    return InterCodec(model).forward(x, qp, ref_frame, ref_feature, hard_rate, skips=skips,
                                     shown=ref_frame if skips is not None else None,
                                     skip_threshold=skip_threshold)


@torch.no_grad()
def coder_skips(model: InterModel, x: torch.Tensor, qp: torch.Tensor, ref_frame: torch.Tensor,
                ref_feature: torch.Tensor | None, lambda_max: float, skip_threshold: float | None) -> np.ndarray:
    """[B, h, w]: the blocks the encoder would skip in each sample's P frame.

    Each sample is coded whole first and its map chosen by the encoder's rule for such a frame
    (:func:`nvcodec.codec.frame_coding.skips_after_coding`); block skip copies from ``ref_frame``,
    the previous decoded frame (moved, with motion).  Streams made with block skip hold P frames
    whose skipped blocks carry the reference's feature into the next frame's context: a model
    trained without them never meets that mix.
    """
    codec = InterCodec(model)
    with torch.autocast(x.device.type, enabled=False):  # the coder's float32, whatever training runs in
        maps = [_coded_skips(codec, x[i: i + 1], int(qp[i]), ref_frame[i: i + 1],
                             None if ref_feature is None else ref_feature[i: i + 1], lambda_max, skip_threshold)
                for i in range(x.shape[0])]
    return np.stack(maps)


def _coded_skips(codec: InterCodec, x: torch.Tensor, q: int, ref_frame: torch.Tensor,
                 ref_feature: torch.Tensor | None, lambda_max: float, skip_threshold: float | None) -> np.ndarray:
    ref = Reference(frame=ref_frame.detach().float(), qp=q,
                    feature=None if ref_feature is None else ref_feature.detach().float())
    x = x.float()
    symbols, _, frame = codec.code(codec.analyse(x, q, ref), q, ref, skip_threshold)
    return skips_after_coding(x, ref.frame, symbols, frame, skip_threshold, lambda_for_qp(q, lambda_max))[0]


def motion_compensated(x: torch.Tensor, ref_frame: torch.Tensor, ref_feature: torch.Tensor | None,
                       lams: list[float], previous: list[np.ndarray | None]
                       ) -> tuple[torch.Tensor, torch.Tensor | None, list[np.ndarray]]:
    """The references of a batch of P frames moved as the encoder moves them.

    Each sample's field comes from the coder's own search (:func:`nvcodec.codec.motion.search`)
    of its frame in its previous decoded frame, at its lambda, seeded by its previous field; the
    warps are the coder's and pass gradients to the references.  Returns the moved frame and
    feature and the fields (the next frame's seeds).
    """
    fields = [motion.search(x[i: i + 1], ref_frame[i: i + 1], lams[i], previous[i]) for i in range(x.shape[0])]
    vectors = torch.as_tensor(np.stack(fields), device=x.device)
    frame = motion.warp_frame(ref_frame, vectors)
    feature = motion.warp_feature(ref_feature, vectors) if ref_feature is not None else None
    return frame, feature, fields


def yuv_mse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-sample distortion, weighted 6:1:1 over Y, Cb, Cr as the PSNR-YUV metric is."""
    per_channel = (x_hat.float() - x).pow(2).mean(dim=(2, 3))
    return (6 * per_channel[:, 0] + per_channel[:, 1] + per_channel[:, 2]) / 8
