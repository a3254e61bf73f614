"""Small convolutions recomputed in the DCVC-RT reference's summation order.

torch computes a convolution with oneDNN unless the input is small (batch 1,
no groups, kernel at most 3x3 and at most 20480 input values, ATen's rule);
those small ones go through im2col and a BLAS sgemm.  How that sgemm splits
its reduction decides the last bit of every output, and it is a property of
the BLAS build, its settings and the CPU it runs on (MKL with ``MKL_CBWR``, or
on another CPU model, orders it differently).

The reference's order depends on the number of output positions (columns of
the product):

* 12 or more: the reduction is cut into blocks of at most 192 (a reduction
  shorter than two blocks into two equal halves, an odd last product on its
  own), each block is summed from zero with fused multiply-adds in order, and
  the blocks are added one by one onto the bias; with fewer than 12 output
  channels, the ones after the last full group of four take the narrow order
  (``nvcodec._kernels.blocked_gemm``);
* 2 to 11: the products, each rounded to float, are
  added one by one onto the bias, except for the few leading columns of an
  output row that its vectorised loop peels off to reach 16-byte alignment,
  which sum every second group of four products apart
  (``nvcodec._kernels.narrow_gemm``, native/gemm/blocked_gemm.h has the rule);
* 1 (a 1x1 hyperprior on a 1x1 latent, or the stride-2 layer that makes such a
  latent): four unfused accumulators after a head of ((K - 1) mod 4) + 1
  products, reduced as (0 + 2) + (1 + 3), the bias added last; the last
  M mod 4 output rows use eight accumulators after a head of four and add the
  leftover products after the reduction
  (``nvcodec._kernels.single_column_gemm``).  This is the order for 16-byte
  aligned inputs and weights: that BLAS orders a single column differently
  when either buffer starts off a 16-byte boundary.  torch allocates tensors
  64-byte aligned, and the layers with one position read fresh tensors (the
  rounded z, an im2col buffer), so the aligned case is the one that occurs;
  nvc computes it whatever the alignment, so that its encoder and decoder agree.

The blocked order (for 15 and more positions) and the plain sequential one
(for 2, 4 and 8) were derived from the conformance traces
(../shared/conformance/trace).  The traces show outputs, not trees, and hold
no other position counts, so the rest was read off a BLAS that reproduces
every traced layer bit for bit (torch 2.13's MKL without ``MKL_CBWR`` on an
AMD EPYC): a sum with +2^40 at term i, -2^40 at term j and ones elsewhere
returns the number of ones outside the smallest subtree holding both, which
rebuilds each output's whole summation tree (bias included), and a product
that is inexact in float shows whether it was fused.  Probed over K = 1..512,
1 to 24 positions and eight output rows (each row's alignment phase), then
checked on random data for 360 layer shapes with every channel count modulo 4
(``bench/probe_blas_order.py``); the single-position tree reproduces the
traced 1x1 hyperprior layers bit for bit.  nvc computes all of this in its own kernels, so under the conformance
profile these layers agree with the reference on any CPU.

The profile switches this on around coding calls (:func:`enabled`); training
and other callers get torch's own convolution.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

#: ATen sends a convolution with at most this many input values to im2col + sgemm
SLOW_PATH_MAX_INPUT = 20480
#: products with at least this many output positions: blocked fused sums (see the module docstring)
BLOCKED_MIN_POSITIONS = 12
#: a single output position: unfused products in four (eight) lanes after a head, the bias added last;
#: 2 to BLOCKED_MIN_POSITIONS - 1: unfused products added in order onto the bias (mostly)
SINGLE_POSITION = 1

_state = threading.local()


def active() -> bool:
    return getattr(_state, "depth", 0) > 0


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """Compute eligible convolutions in the reference order for the enclosed calls (this thread)."""
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _output_size(x: torch.Tensor, conv: nn.Conv2d) -> tuple[int, int]:
    kh, kw = conv.kernel_size
    (sh, sw), (ph, pw) = _pair(conv.stride), _pair(conv.padding)
    return (x.shape[2] + 2 * ph - kh) // sh + 1, (x.shape[3] + 2 * pw - kw) // sw + 1


def eligible(x: torch.Tensor, conv: nn.Conv2d) -> bool:
    """Whether torch would run this convolution through sgemm (every position count now has a known order)."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or conv.weight.dtype != torch.float32:
        return False
    if x.dim() != 4 or x.shape[0] != 1 or conv.groups != 1 or conv.padding_mode != "zeros":
        return False
    if torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad):
        return False
    if isinstance(conv.padding, str) or _pair(conv.dilation) != (1, 1):
        return False
    kh, kw = conv.kernel_size
    return not ((kh > 3 and kw > 3) or x.numel() > SLOW_PATH_MAX_INPUT)


def conv2d(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` through im2col and the native product in the reference's order (only when :func:`eligible`)."""
    from nvcodec import _kernels

    kh, kw = conv.kernel_size
    (sh, sw), (ph, pw) = _pair(conv.stride), _pair(conv.padding)
    out_h, out_w = _output_size(x, conv)
    if (kh, kw, sh, sw, ph, pw) == (1, 1, 1, 1, 0, 0):
        columns = x[0].reshape(x.shape[1], -1)
    else:
        # rows ordered (channel, kernel row, kernel column), as ATen's im2col orders them
        columns = F.unfold(x, (kh, kw), padding=(ph, pw), stride=(sh, sw))[0]
    weight = conv.weight.detach().reshape(conv.out_channels, -1)
    bias = None if conv.bias is None else conv.bias.detach().contiguous().numpy()
    positions = out_h * out_w
    if positions >= BLOCKED_MIN_POSITIONS:
        kernel = _kernels.blocked_gemm
    elif positions == SINGLE_POSITION:
        kernel = _kernels.single_column_gemm
    else:
        kernel = _kernels.narrow_gemm
    out = kernel(weight.contiguous().numpy(), columns.detach().contiguous().numpy(), bias)
    return torch.from_numpy(out).reshape(1, conv.out_channels, out_h, out_w)


class Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that follows the reference's summation order while :func:`enabled` is in effect.

    Same parameters and state-dict keys as ``nn.Conv2d``, so checkpoints load unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if active() and eligible(x, self):
            return conv2d(x, self)
        return super().forward(x)
