"""The P-frame contract: what training optimises and what the coder codes, from one description.

An :class:`InterCodec` wraps an :class:`~nvcodec.models.inter.InterModel` (no weights of
its own) and runs its one pipeline three ways, as the I-frame contract does
(:mod:`nvcodec.codec.intra_codec`): :meth:`InterCodec.forward` for training,
:meth:`InterCodec.compress` (:meth:`~InterCodec.analyse` then :meth:`~InterCodec.code`)
for the encoder, :meth:`InterCodec.decompress` for the decoder.  All share the two
checkerboard context steps (:data:`INTER_STEPS`) and how a P frame uses its reference:

* the reference feature comes from the stored decoded feature when there is one, else
  (after an I frame or a reset) from the reference's pixels;
* a ``reference_skip`` model's pixel gate blends the reference picture into the output;
* block skip (nvc's, :mod:`nvcodec.codec.block_skip`): a skip map leaves the skipped
  blocks' latent positions uncoded (their prior's mean), keeps the reference feature there
  and shows the previous decoded frame's pixels (:func:`with_skips`).

Data flow::

    reference -> F -> F1 -*q_feature-> ctx_t;  F1 -> ctx
    x, ctx -analysis(qp)-> y -pad to 4-> hyper -> z -round-> z_hat
    z_hat, ctx_t -> prior -> [q_dec | scales | means];  y / max(q_dec, 0.5) -2 context steps-> y_hat
    y_hat * q_dec, ctx -synthesis(qp)-> feature (the next reference) -reconstruct(qp, gate)-> x_hat
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nvcodec.codec import block_skip
from nvcodec.codec.context_steps import INTER_STEPS, DecoderSteps, EncoderSteps, SpatialPrior, StepReader, TrainingSteps
from nvcodec.codec.hyperprior import hyper_input, round_z, z_bits
from nvcodec.codec.outputs import FrameOutput, Symbols
from nvcodec.codec.surrogate import lower_bound, ste_clamp
from nvcodec.entropy.context import MaskCache
from nvcodec.errors import ModelError
from nvcodec.models.inter import InterModel

#: a block-skip map: one flag per latent position (16 x 16 pixels), True where the block is skipped
SkipMap = np.ndarray | torch.Tensor


@dataclass
class Reference:
    """The decoded picture buffer: the previous frame's pixels and/or its decoder feature."""

    frame: torch.Tensor | None
    feature: torch.Tensor | None
    qp: int  # qp of the frame that produced it (a reset regenerates pixels with it)


@dataclass
class Analysis:
    """The encoder's half of a P frame, before y is quantised (block skip decides from it)."""

    ctx: torch.Tensor  # the temporal context the synthesis reads
    y: torch.Tensor  # divided by the quantisation step
    z_hat: torch.Tensor
    params: torch.Tensor  # [q_dec | scales | means] of step 0, as the step-1 prior reads them (q_dec unfloored)
    q_dec: torch.Tensor  # the quantisation step, floored at 0.5

    @property
    def first(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Step 0's scales and means."""
        _, scales, means = self.params.chunk(3, 1)
        return scales, means


def _step_size(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(q_dec floored at 0.5, step 0's scales, means) of the prior's output."""
    q_dec, scales, means = params.chunk(3, 1)
    return lower_bound(q_dec, 0.5), scales, means


def with_skips(feature: torch.Tensor, frame: torch.Tensor, ref_feature: torch.Tensor | None,
               shown: torch.Tensor | None, skips: SkipMap | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The skipped blocks' feature from the reference (when it has one) and pixels from ``shown``."""
    if skips is None or not skips.any():
        return feature, frame
    if shown is None:
        raise ModelError("block skip copies from the previous decoded frame, and none was given")
    if ref_feature is not None:
        feature = torch.where(block_skip.expand(skips, 2, feature.device), ref_feature, feature)
    return feature, torch.where(block_skip.expand(skips, block_skip.BLOCK, frame.device), shown, frame)


class InterCodec:
    """The P-frame contract of one inter model (see the module docstring)."""

    schedule = INTER_STEPS

    def __init__(self, model: InterModel) -> None:
        self.model = model

    # -- what every path shares ---------------------------------------------------------------
    def _contexts(self, frame: torch.Tensor | None, feature: torch.Tensor | None,
                  qp: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(ctx, ctx_t) of a reference: the synthesis' context and the entropy model's."""
        f1, ctx_t = self.model.temporal_context(self.model.reference_feature(frame, feature), qp)
        return self.model.context(f1), ctx_t

    def _later(self, params: torch.Tensor) -> SpatialPrior:
        def later(step: int, y_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.model.step_prior(y_hat, params)

        return later

    def gate_picture(self, frame: torch.Tensor | None) -> torch.Tensor | None:
        """The picture the pixel gate blends in: the reference's pixels, for a ``reference_skip`` model."""
        return frame if self.model.cfg.reference_skip else None

    # -- training -------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, qp: torch.Tensor, ref_frame: torch.Tensor | None,
                ref_feature: torch.Tensor | None, hard_rate: bool = False, *, skips: SkipMap | None = None,
                shown: torch.Tensor | None = None, skip_threshold: float | None = None,
                keep_symbols: bool = False) -> FrameOutput:
        """Training's pass over a batch, one qp per sample: x_hat clamped (straight-through), bits, feature.

        ``ref_frame`` is the reference's pixels (the previous decoded frame, or a reset's), ``ref_feature``
        its decoder feature (None after an I frame or a reset).  ``skips`` (one map for the batch) with
        ``shown`` (the previous decoded frame) and ``skip_threshold`` are the coder's rules for what it
        does not code, which training leaves off; with them and ``hard_rate`` the pass rounds exactly
        what the coder codes, and ``keep_symbols`` hands those symbols back (``FrameOutput.symbols``).
        """
        ctx, ctx_t = self._contexts(ref_frame, ref_feature, qp)
        y = self.model.analysis(x, ctx, qp)
        z_hat, bits = z_bits(self.model.bit_estimator_z, self.model.hyper_analysis(hyper_input(y)), qp, hard_rate)
        params = self.model.prior_params(z_hat, ctx_t)
        q_dec, scales, means = _step_size(params)
        y = y * torch.reciprocal(q_dec)
        _, c, h, w = y.shape
        keep = block_skip.coded_positions(skips, y.dtype, y.device) if skips is not None else None
        steps = TrainingSteps(y, bits, hard_rate, keep, skip_threshold, record=keep_symbols)
        y_hat = self.schedule.run(self.schedule.masks(c, h, w, y.dtype, y.device), (scales, means),
                                  self._later(params), steps)
        feature = self.model.synthesis_feature(y_hat * q_dec, ctx, qp)
        x_hat = ste_clamp(self.model.reconstruct_unclamped(feature, qp, self.gate_picture(ref_frame)))
        feature, x_hat = with_skips(feature, x_hat, ref_feature, shown, skips)
        symbols = Symbols(z_hat.detach(), steps.quantized) if keep_symbols else None
        return FrameOutput(x_hat, steps.bits, feature, symbols)

    # -- the encoder ----------------------------------------------------------------------------
    @torch.no_grad()
    def analyse(self, x: torch.Tensor, qp: int, ref: Reference) -> Analysis:
        """Everything before y is quantised, for a [1, 3, H, W] frame padded to 16."""
        ctx, ctx_t = self._contexts(ref.frame, ref.feature, qp)
        y = self.model.analysis(x, ctx, qp)
        z_hat = round_z(self.model.hyper_analysis(hyper_input(y)))
        params = self.model.prior_params(z_hat, ctx_t)
        q_dec, _, _ = _step_size(params)
        return Analysis(ctx, y * torch.reciprocal(q_dec), z_hat, params, q_dec)

    @torch.no_grad()
    def code(self, a: Analysis, qp: int, ref: Reference, skip_threshold: float | None,
             skips: SkipMap | None = None, masks: MaskCache | None = None, reconstruct: bool = True
             ) -> tuple[Symbols, torch.Tensor, torch.Tensor | None]:
        """(symbols, new feature, pixels or None) of an analysed frame, ``skips`` left uncoded.

        The feature and pixels are those of the coded blocks: :func:`with_skips` then puts the
        skipped ones in (the encoder first compares the two to choose).
        """
        _, c, h, w = a.y.shape
        keep = block_skip.coded_positions(skips, a.y.dtype, a.y.device) if skips is not None else None
        steps = EncoderSteps(a.y, skip_threshold, keep)
        y_hat = self.schedule.run(self.schedule.masks(c, h, w, a.y.dtype, a.y.device, masks), a.first,
                                  self._later(a.params), steps)
        feature = self.model.synthesis_feature(y_hat * a.q_dec, a.ctx, qp)
        frame = self.model.reconstruct(feature, qp, self.gate_picture(ref.frame)) if reconstruct else None
        return Symbols(a.z_hat, steps.quantized), feature, frame

    def compress(self, x: torch.Tensor, qp: int, ref: Reference, skip_threshold: float | None,
                 skips: SkipMap | None = None, shown: torch.Tensor | None = None,
                 masks: MaskCache | None = None, reconstruct: bool = True) -> tuple[Symbols, Reference]:
        """The symbols of a frame and the reference it leaves (pixels only when ``reconstruct``,
        always with ``skips``), given the encoder's skip map."""
        symbols, feature, frame = self.code(self.analyse(x, qp, ref), qp, ref, skip_threshold, skips, masks,
                                            reconstruct or skips is not None)
        if skips is not None:
            feature, frame = with_skips(feature, frame, ref.feature, shown, skips)
        return symbols, Reference(frame=frame, feature=feature, qp=qp)

    # -- the decoder ----------------------------------------------------------------------------
    @torch.no_grad()
    def decompress(self, z_hat: torch.Tensor, read: StepReader, qp: int, ref: Reference,
                   skips: SkipMap | None = None, shown: torch.Tensor | None = None,
                   masks: MaskCache | None = None) -> Reference:
        """The new reference (pixels and feature) from a decoded z_hat, reading each step with ``read``."""
        ctx, ctx_t = self._contexts(ref.frame, ref.feature, qp)
        params = self.model.prior_params(z_hat, ctx_t)
        q_dec, scales, means = _step_size(params)
        _, c, h, w = means.shape
        keep = block_skip.coded_positions(skips, means.dtype, means.device) if skips is not None else None
        y_hat = self.schedule.run(self.schedule.masks(c, h, w, means.dtype, means.device, masks), (scales, means),
                                  self._later(params), DecoderSteps(read, self.schedule.steps, keep))
        feature = self.model.synthesis_feature(y_hat * q_dec, ctx, qp)
        frame = self.model.reconstruct(feature, qp, self.gate_picture(ref.frame))
        feature, frame = with_skips(feature, frame, ref.feature, shown, skips)
        return Reference(frame=frame, feature=feature, qp=qp)


@torch.no_grad()
def regenerate_reference(model: InterModel, ref: Reference) -> Reference:
    """A reset: predict the next frame from pixels, not from the propagated feature.

    The pixels are the reconstruction of the stored feature with the qp that produced it, without
    what a pixel gate blends in.  Without a gate the decoder already holds exactly those pixels;
    with one, the displayed frame depends on every frame before it (a reference skip blends in the
    previous decoded frame), and an encoder would have to reconstruct every P frame to follow it,
    where this costs both sides one reconstruction per reset.  After an I frame there is no
    feature, and the I frame's pixels are the reference.
    """
    frame = ref.frame
    if ref.feature is not None and (frame is None or model.cfg.reference_skip):
        frame = model.reconstruct_ungated(ref.feature, ref.qp)
    return Reference(frame=frame, feature=None, qp=ref.qp)
