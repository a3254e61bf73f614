"""The I-frame contract: what training optimises and what the coder codes, from one description.

An :class:`IntraCodec` wraps an :class:`~nvcodec.models.intra.IntraModel` (it holds no
weights of its own, so checkpoints are the model's) and runs its one pipeline three ways:

* :meth:`IntraCodec.forward`: training's differentiable pass over a batch, one qp per
  sample, with rounding replaced by its surrogates (:mod:`nvcodec.codec.surrogate`);
* :meth:`IntraCodec.compress`: the encoder's pass, which returns the symbols the
  entropy coder writes (:class:`~nvcodec.codec.outputs.Symbols`) and the reconstruction;
* :meth:`IntraCodec.decompress`: the decoder's, which reads the symbols step by step.

All three share the prior networks and the four context steps (:data:`INTRA_STEPS`);
:mod:`nvcodec.codec.frame_coding` puts the symbols into the rANS stream.

Data flow::

    x -analysis(qp)-> y -pad to 4-> hyper -> z -round-> z_hat -> prior -> [q_enc | q_dec | scales | means]
    y * q_enc -4 context steps-> y_hat -synthesis(y_hat * q_dec, qp)-> x_hat
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nvcodec.codec.context_steps import INTRA_STEPS, DecoderSteps, EncoderSteps, SpatialPrior, StepReader, TrainingSteps
from nvcodec.codec.hyperprior import hyper_input, round_z, z_bits
from nvcodec.codec.outputs import FrameOutput, Symbols
from nvcodec.entropy.context import MaskCache
from nvcodec.models.intra import IntraModel


@dataclass
class _Prior:
    """What the hyperprior predicts for y: its two q-maps, step 0's prior, and the later steps' prior."""

    q_enc: torch.Tensor
    q_dec: torch.Tensor
    first: tuple[torch.Tensor, torch.Tensor]
    later: SpatialPrior


class IntraCodec:
    """The I-frame contract of one intra model (see the module docstring)."""

    schedule = INTRA_STEPS

    def __init__(self, model: IntraModel) -> None:
        self.model = model

    def _prior(self, z_hat: torch.Tensor, size: tuple[int, int]) -> _Prior:
        params = self.model.prior_params(z_hat, size)
        q_enc, q_dec, scales, means = self.model.split_params(params)
        common = self.model.y_spatial_prior_reduction(params)

        def later(step: int, y_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.model.step_prior(step, y_hat, common)

        return _Prior(q_enc, q_dec, (scales, means), later)

    def forward(self, x: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False,
                skip_threshold: float | None = None, keep_symbols: bool = False) -> FrameOutput:
        """Training's pass: x_hat unclamped, bits per sample (see :class:`TrainingSteps`).

        ``qp``: one per sample.  ``skip_threshold``: the coder's force-zero rule, which training
        leaves off; with it and ``hard_rate`` the pass rounds exactly what the coder codes, and
        ``keep_symbols`` hands those symbols back (``FrameOutput.symbols``).
        """
        return self.forward_latent(self.model.analysis(x, qp), qp, hard_rate, skip_threshold, keep_symbols)

    def forward_latent(self, y: torch.Tensor, qp: torch.Tensor, hard_rate: bool = False,
                       skip_threshold: float | None = None, keep_symbols: bool = False) -> FrameOutput:
        """:meth:`forward` from the analysis' output on: the encoder's latent refinement moves ``y`` itself."""
        z_hat, bits = z_bits(self.model.bit_estimator_z, self.model.hyper_analysis(hyper_input(y)), qp, hard_rate)
        _, c, h, w = y.shape
        prior = self._prior(z_hat, (h, w))
        y = y * prior.q_enc
        steps = TrainingSteps(y, bits, hard_rate, skip_threshold=skip_threshold, record=keep_symbols)
        y_hat = self.schedule.run(self.schedule.masks(c, h, w, y.dtype, y.device), prior.first, prior.later, steps)
        symbols = Symbols(z_hat.detach(), steps.quantized) if keep_symbols else None
        return FrameOutput(self.model.synthesis_unclamped(y_hat * prior.q_dec, qp), steps.bits, symbols=symbols)

    @torch.no_grad()
    def quantisation_map(self, y: torch.Tensor) -> torch.Tensor:
        """The q-map the encoder scales ``y`` by before rounding (one rounding step of y is its inverse)."""
        z_hat = round_z(self.model.hyper_analysis(hyper_input(y)))
        return self._prior(z_hat, tuple(y.shape[-2:])).q_enc

    @torch.no_grad()
    def compress(self, x: torch.Tensor, qp: int, skip_threshold: float | None,
                 masks: MaskCache | None = None, y: torch.Tensor | None = None) -> tuple[Symbols, torch.Tensor]:
        """The symbols of a [1, 3, H, W] frame (padded to 16) and its reconstruction (clamped).

        ``y``: the latent to code instead of the analysis of ``x`` (the encoder's refinement found it);
        everything after the analysis, and so the decoder's picture, is unchanged.
        """
        if y is None:
            y = self.model.analysis(x, qp)
        z_hat = round_z(self.model.hyper_analysis(hyper_input(y)))
        _, c, h, w = y.shape
        prior = self._prior(z_hat, (h, w))
        y = y * prior.q_enc
        steps = EncoderSteps(y, skip_threshold)
        y_hat = self.schedule.run(self.schedule.masks(c, h, w, y.dtype, y.device, masks), prior.first, prior.later,
                                  steps)
        return Symbols(z_hat, steps.quantized), self.model.synthesis(y_hat * prior.q_dec, qp)

    @torch.no_grad()
    def decompress(self, z_hat: torch.Tensor, read: StepReader, qp: int, size: tuple[int, int],
                   masks: MaskCache | None = None) -> torch.Tensor:
        """The reconstruction from a decoded z_hat, reading each step's symbols with ``read``.

        ``size``: y's height and width (the padded frame's over 16).
        """
        prior = self._prior(z_hat, size)
        scales = prior.first[0]
        step_masks = self.schedule.masks(self.model.cfg.latent, size[0], size[1], scales.dtype, scales.device, masks)
        y_hat = self.schedule.run(step_masks, prior.first, prior.later, DecoderSteps(read, self.schedule.steps))
        return self.model.synthesis(y_hat * prior.q_dec, qp)
