"""Building blocks shared by the intra and inter networks.

The sub-module names (``adaptor``, ``dc.0``, ``dc.2``, ``dc.3``, ``ffn.0``,
``ffn.2``, ``down``, ``up.conv.0``, ``conv``) are part of the checkpoint format:
the published DCVC-RT weights load by name, so they must not change.  The
arithmetic order inside each block is also fixed, because conformance is
bit-exact: keep every sum and product in the order written here (in-place
variants of the same operations give the same bits; reassociation does not).
"""

from __future__ import annotations

import torch
from torch import nn

from nvcodec.models.reference_conv import Conv2d


def wsilu(x: torch.Tensor) -> torch.Tensor:
    """``sigmoid(4x) * x``.

    Without autograd the three element-wise passes write into one fresh buffer instead of three
    (with the in-place residual adds, a 720p P-frame encode took 0.429 -> 0.382 CPU-seconds, median
    of 6 alternating rounds).  Each element sees the same roundings either way, so the bits are the
    same (identical streams).
    """
    if torch.is_grad_enabled():
        return torch.sigmoid(4.0 * x) * x
    return torch.mul(x, 4.0).sigmoid_().mul_(x)


def add_residual(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out + x``, in place on ``out`` (a block's own fresh result) when autograd is off."""
    return out + x if torch.is_grad_enabled() else out.add_(x)


class WSiLU(nn.Module):
    """``x * sigmoid(4x)``: a sharper SiLU, DCVC-RT's only non-linearity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return wsilu(x)


class WSiLUChunkAdd(nn.Module):
    """WSiLU, then fold the channel halves onto each other (a gated FFN without gates)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = wsilu(x).chunk(2, 1)
        return first + second


class DepthConvBlock(nn.Module):
    """Depthwise-separable residual block followed by a pointwise FFN.

    An ``adaptor`` (1x1) exists only when the channel count changes or when the
    caller forces one; the published checkpoints rely on exactly this rule.
    ``expansion`` is the FFN's hidden width over ``out_ch`` before the halves are folded (DCVC-RT:
    4); the FFN is three quarters of a block's multiply-adds, so it is the knob that buys CPU speed.
    """

    def __init__(
        self, in_ch: int, out_ch: int, shortcut: bool = False, force_adaptor: bool = False, expansion: int = 4
    ):
        super().__init__()
        if expansion < 2 or expansion % 2:
            raise ValueError(f"FFN expansion must be an even number of at least 2, got {expansion}")
        self.adaptor = Conv2d(in_ch, out_ch, 1) if (in_ch != out_ch or force_adaptor) else None
        self.shortcut = shortcut
        self.dc = nn.Sequential(
            Conv2d(out_ch, out_ch, 1),
            WSiLU(),
            Conv2d(out_ch, out_ch, 3, padding=1, groups=out_ch),
            Conv2d(out_ch, out_ch, 1),
        )
        self.ffn = nn.Sequential(
            Conv2d(out_ch, out_ch * expansion, 1),
            WSiLUChunkAdd(),
            Conv2d(out_ch * expansion // 2, out_ch, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.adaptor is not None:
            x = self.adaptor(x)
        out = add_residual(self.dc(x), x)
        out = add_residual(self.ffn(out), out)
        if self.shortcut:
            out = add_residual(out, x)
        return out


class SubpelConv2x(nn.Module):
    """Convolution to 4x the channels, then a 2x pixel shuffle (learned upsampling)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, padding: int = 0):
        super().__init__()
        self.conv = nn.Sequential(
            Conv2d(in_ch, out_ch * 4, kernel_size=kernel_size, padding=padding),
            nn.PixelShuffle(2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ResidualBlockWithStride2(nn.Module):
    """2x2 stride-2 downsampling followed by a shortcut DepthConvBlock."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int = 4):
        super().__init__()
        self.down = Conv2d(in_ch, out_ch, 2, stride=2)
        self.conv = DepthConvBlock(out_ch, out_ch, shortcut=True, expansion=expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.down(x))


class ResidualBlockUpsample(nn.Module):
    """Sub-pixel 2x upsampling (1x1 kernel) followed by a shortcut DepthConvBlock."""

    def __init__(self, in_ch: int, out_ch: int, expansion: int = 4):
        super().__init__()
        self.up = SubpelConv2x(in_ch, out_ch, 1)
        self.conv = DepthConvBlock(out_ch, out_ch, shortcut=True, expansion=expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


def depth_conv_stack(first_in: int, width: int, count: int, expansion: int = 4) -> list[nn.Module]:
    """``count`` DepthConvBlocks, the first adapting ``first_in`` channels to ``width``."""
    return [DepthConvBlock(first_in if i == 0 else width, width, expansion=expansion) for i in range(count)]


def qp_rows(table: torch.Tensor, qp: int | torch.Tensor) -> torch.Tensor:
    """The rows of a per-qp table (``[qp_count, C, 1, 1]``) that scale a batch.

    An ``int`` is the coder's one frame (a batch of one row, as a slice); a tensor of qps is
    training's batch, one row per sample.  Both give the same values for the same qp.
    """
    return table[qp : qp + 1] if isinstance(qp, int) else table[qp]
