"""Narrowing a trained inter model's FFNs without starting its training again.

An FFN holds three quarters of a DepthConvBlock's multiply-adds and its hidden
tensor is the largest one a block writes, so halving every FFN of the P-frame
model is the cheapest way to buy CPU speed (about 0.6x the time of a 720p P
frame, ``bench/bench_widths.py --field ffn_expansion``).  Training on two
cores is slow, so the narrow model starts as close to the wide one as a
linear fit can put it:

* each hidden unit of an FFN (after WSiLUChunkAdd folds its two halves) is
  scored by what it adds to the block's output on real frames: its variance
  times the energy of its read-out column;
* the weakest half is dropped in a few rounds, and after each round the
  read-out layer is refitted by least squares on the units kept, so that it
  predicts the wide FFN's output from them (the dropped units' mean goes into
  the bias).  Every statistic is a second moment collected once, so the fit
  is exact for the calibration frames and costs no gradient steps.

Blocks are fitted independently on the wide model's own activations; the
training stage that follows the pruning repairs what that leaves.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from nvcodec.errors import ModelError
from nvcodec.models.bundle import CodecModel
from nvcodec.models.config import ModelConfig
from nvcodec.models.inter import InterModel
from nvcodec.models.layers import DepthConvBlock

#: the kept set is chosen in this many rounds of dropping, refitting between them
ROUNDS = 4
#: ridge on the hidden units' covariance, relative to its mean diagonal (keeps the fit well posed)
RIDGE = 1e-4


def is_ffn_narrowing(old: ModelConfig, new: ModelConfig) -> bool:
    """True when ``new`` is ``old`` with only narrower inter FFNs."""
    same_otherwise = dataclasses.replace(new.inter, ffn_expansion=old.inter.ffn_expansion) == old.inter
    return (old.intra == new.intra and same_otherwise
            and new.inter.ffn_expansion < old.inter.ffn_expansion)


class _Moments:
    """Running first and second moments of one FFN's folded hidden units (float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.total: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def add(self, hidden: torch.Tensor) -> None:
        flat = hidden.detach().transpose(0, 1).reshape(hidden.shape[1], -1).double()
        if self.total is None:
            self.total = torch.zeros(flat.shape[0], dtype=torch.float64)
            self.outer = torch.zeros(flat.shape[0], flat.shape[0], dtype=torch.float64)
        self.count += flat.shape[1]
        self.total += flat.sum(dim=1).cpu()
        self.outer += (flat @ flat.T).cpu()

    def mean_and_covariance(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.count == 0 or self.total is None or self.outer is None:
            raise ModelError("FFN pruning saw no calibration data for a block")
        mean = self.total / self.count
        return mean, self.outer / self.count - torch.outer(mean, mean)


def _blocks(model: nn.Module) -> dict[str, DepthConvBlock]:
    return {name: m for name, m in model.named_modules() if isinstance(m, DepthConvBlock)}


def collect_moments(inter: InterModel, run_calibration: Callable[[], None]) -> dict[str, _Moments]:
    """Moments of every FFN's folded hidden units while ``run_calibration`` runs the inter model."""
    moments = {name: _Moments() for name in _blocks(inter)}
    handles = [block.ffn[1].register_forward_hook(lambda _m, _i, out, key=name: moments[key].add(out))
               for name, block in _blocks(inter).items()]
    try:
        with torch.no_grad():
            run_calibration()
    finally:
        for h in handles:
            h.remove()
    return moments


def _refit(read_out: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor,
           keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight, bias shift) of the least-squares read-out from ``keep`` that best predicts ``read_out``'s.

    Minimises E||W g + b - (W' g_keep + b')||^2 over the calibration moments: W' = W C[:, K] C[K, K]^-1,
    b' - b = W mu - W' mu_K.
    """
    c_kk = cov[keep][:, keep]
    ridge = RIDGE * float(c_kk.diagonal().mean().clamp_min(1e-12))
    c_kk = c_kk + ridge * torch.eye(len(keep), dtype=torch.float64)
    weight = torch.linalg.solve(c_kk, (read_out @ cov[:, keep]).T).T
    shift = read_out @ mean - weight @ mean[keep]
    return weight, shift


def choose_units(read_out: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor, kept: int) -> torch.Tensor:
    """Indices (sorted) of the ``kept`` hidden units to keep, dropping the weakest in rounds."""
    keep = torch.arange(read_out.shape[1])
    weight = read_out
    for r in range(ROUNDS):
        target = kept + (len(keep) - kept) * (ROUNDS - r - 1) // (ROUNDS - r)
        score = cov[keep, keep].clamp_min(0) * weight.pow(2).sum(dim=0)
        keep = keep[score.argsort(descending=True)[:target]].sort().values
        weight, _ = _refit(read_out, mean, cov, keep)
    return keep


def _narrow_block(old: DepthConvBlock, new: DepthConvBlock, moments: _Moments) -> None:
    old_half, new_half = old.ffn[2].in_channels, new.ffn[2].in_channels
    read_out = old.ffn[2].weight[:, :, 0, 0].double()
    mean, cov = moments.mean_and_covariance()
    keep = choose_units(read_out, mean, cov, new_half)
    weight, shift = _refit(read_out, mean, cov, keep)
    # hidden unit j is ffn.0 rows j and old_half + j (WSiLUChunkAdd adds the two halves)
    rows = torch.cat((keep, keep + old_half))
    new.ffn[0].weight.copy_(old.ffn[0].weight[rows])
    new.ffn[0].bias.copy_(old.ffn[0].bias[rows])
    new.ffn[2].weight.copy_(weight[:, :, None, None].to(new.ffn[2].weight.dtype))
    new.ffn[2].bias.copy_((old.ffn[2].bias.double() + shift).to(new.ffn[2].bias.dtype))


def narrow_ffns(model: CodecModel, target: ModelConfig, run_calibration: Callable[[InterModel], None]) -> CodecModel:
    """``model`` in ``target`` (narrower inter FFNs), fitted on what ``run_calibration`` feeds it.

    ``run_calibration(inter)`` must run P-frame forward passes of ``inter`` on real frames.
    """
    if not is_ffn_narrowing(model.config, target):
        raise ModelError(f"cannot narrow {model.config.name} into {target.name}: only the inter FFN "
                         "expansion may change, and only downwards")
    old = model.inter
    moments = collect_moments(old, lambda: run_calibration(old))
    new = InterModel(target.inter).to(model.device)
    with torch.no_grad():
        old_state = old.state_dict()
        for name, tensor in new.state_dict().items():
            if old_state[name].shape == tensor.shape:
                tensor.copy_(old_state[name])
        new_blocks = _blocks(new)
        for name, block in _blocks(old).items():
            _narrow_block(block, new_blocks[name], moments[name])
    return CodecModel(f"{target.name}-training", target, model.intra, new, sha256="")
