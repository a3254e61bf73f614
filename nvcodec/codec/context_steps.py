"""The spatial-context steps of y: one schedule that training, the encoder and the decoder all run.

y is coded in steps (4 for I frames, 2 for P frames; the masks are in
:mod:`nvcodec.entropy.context`).  Step 0 is coded under the prior the hyperprior
(and, for P frames, the temporal context) predicts; every later step under the prior
the model's spatial network predicts from the y_hat of all steps before it.  Each step
contributes y_hat at its own positions only, and y_hat is their sum.

:class:`ContextSchedule` is that description, once.  What differs between the three
paths is only how one step turns its prior into y_hat, and each is one small class here:

* :class:`TrainingSteps`: the rate of the step's residual (noisy, or rounded with
  ``hard_rate``) and the rounded residual with a straight-through gradient;
* :class:`EncoderSteps`: the coder's quantisation (:func:`quantize_step`), keeping each
  step's symbols for the entropy coder;
* :class:`DecoderSteps`: symbols read from the entropy coder, spread back over the groups.

Given the same y and priors, the three produce the same y_hat (training's equals the
coder's wherever the coder's int8 clamp does not bite), so a frame contract that runs one
schedule cannot train one thing and code another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch

from nvcodec.codec.surrogate import gaussian_bits, rate_sample, ste_round
from nvcodec.entropy.context import MaskCache, QuantizedStep, fold, masks_2step, masks_4step, quantize_step, unfold

#: the prior of step t >= 1 from the y_hat of steps 0..t-1: (scales, means)
SpatialPrior = Callable[[int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class StepRunner(Protocol):
    def __call__(self, step: int, scales: torch.Tensor, means: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The step's y_hat (zero outside ``mask``) under its prior."""
        ...


@dataclass(frozen=True)
class ContextSchedule:
    """The steps of one frame type: how many, their masks, and which prior codes each."""

    steps: int  # also the number of channel groups whose active elements fold into one grid per step

    def masks(self, channels: int, height: int, width: int, dtype: torch.dtype, device: torch.device,
              cache: MaskCache | None = None) -> list[torch.Tensor]:
        """One [1, channels, height, width] 0/1 mask per step (from ``cache`` when given)."""
        if cache is not None:
            return cache.get(self.steps, channels, height, width, dtype, device)
        build = masks_4step if self.steps == 4 else masks_2step
        return build(channels, height, width, dtype, device)

    def run(self, masks: list[torch.Tensor], first: tuple[torch.Tensor, torch.Tensor], prior: SpatialPrior,
            runner: StepRunner) -> torch.Tensor:
        """y_hat of every step: step 0 under ``first`` (scales, means), step t under ``prior(t, y_hat so far)``."""
        scales, means = first
        y_hat = None
        for step, mask in enumerate(masks):
            if step:
                scales, means = prior(step, y_hat)
            part = runner(step, scales, means, mask)
            y_hat = part if y_hat is None else y_hat + part
        return y_hat


#: I frames: four steps over four channel groups
INTRA_STEPS = ContextSchedule(4)
#: P frames: two checkerboard steps over two channel groups
INTER_STEPS = ContextSchedule(2)


@dataclass
class TrainingSteps:
    """Training's steps: the rate of each residual under its Gaussian, and its rounding (straight-through).

    ``bits`` starts as the frame's z bits and gains each step's, per sample.  ``keep`` ([1, 1, h, w]
    0/1, block skip) and ``skip_threshold`` (DCVC-RT's force_zero_thres) are the coder's rules for
    elements it does not code: they become their mean and cost nothing.  Training uses neither
    (None), so its rate charges every element.  With ``record`` each step is also kept, detached,
    as the coder would hand it to the entropy coder (``quantized``).
    """

    y: torch.Tensor  # y as quantised: scaled by the q-map (I) or divided by the quantisation step (P)
    bits: torch.Tensor
    hard_rate: bool = False
    keep: torch.Tensor | None = None
    skip_threshold: float | None = None
    record: bool = False
    quantized: list[QuantizedStep] = field(default_factory=list)

    def __call__(self, step: int, scales: torch.Tensor, means: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        residual = self.y - means
        counted = mask
        coded = self._coded(scales, mask)
        if coded is not None:
            residual = residual * coded
            counted = mask * coded
        bits = (gaussian_bits(rate_sample(residual, self.hard_rate), scales) * counted).flatten(1).sum(1)
        self.bits = self.bits + bits
        rounded = ste_round(residual)
        y_hat = (rounded + means) * mask
        if self.record:
            self.quantized.append(QuantizedStep(symbols=(rounded * mask).detach(), y_hat=y_hat.detach(),
                                                scales=(scales * mask).detach()))
        return y_hat

    def _coded(self, scales: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
        """1 where the coder sends the element, 0 where it sends nothing (None: everywhere)."""
        coded = None
        if self.skip_threshold is not None:
            coded = (scales * mask > self.skip_threshold).to(scales.dtype)
        if self.keep is not None:
            coded = self.keep if coded is None else coded * self.keep
        return coded


@dataclass
class EncoderSteps:
    """The coder's steps on the encoder's side; ``quantized`` keeps each step for the entropy coder."""

    y: torch.Tensor  # as for TrainingSteps
    skip_threshold: float | None
    keep: torch.Tensor | None = None  # [1, 1, h, w] 0/1: positions of blocks not skipped
    quantized: list[QuantizedStep] = field(default_factory=list)

    def __call__(self, step: int, scales: torch.Tensor, means: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q = quantize_step(self.y, scales, means, mask, self.skip_threshold, self.keep)
        self.quantized.append(q)
        return q.y_hat


#: reads one step's folded symbols given its folded scales and the kept positions (zeros where not coded)
StepReader = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]


@dataclass
class DecoderSteps:
    """The coder's steps on the decoder's side: each step's grid from ``read``, spread back over the groups."""

    read: StepReader
    groups: int
    keep: torch.Tensor | None = None

    def __call__(self, step: int, scales: torch.Tensor, means: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        grid = self.read(fold(scales * mask, self.groups), self.keep)
        return unfold(grid, means, mask, self.groups)
