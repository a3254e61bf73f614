"""What the frame contracts hand back: training's output, and the symbols the coder writes."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nvcodec.entropy.context import QuantizedStep


@dataclass
class Symbols:
    """A frame's latent as the entropy coder writes it, in stream order: z, then each context step."""

    z_hat: torch.Tensor  # [B, hyper, h/4, w/4], integer-valued (the coder's B is 1)
    steps: list[QuantizedStep]


@dataclass
class FrameOutput:
    """A training forward pass of a batch of frames."""

    x_hat: torch.Tensor  # [B, 3, H, W], unclamped for intra; inter: clamped, straight-through gradient
    bits: torch.Tensor  # [B] estimated bits of the frame (y + z)
    feature: torch.Tensor | None = None  # inter: the new reference feature
    symbols: Symbols | None = None  # the pass's rounded latent (detached), when asked for
