"""Factorized ("bit estimator") prior for the hyper-latent z.

Each (qp, channel) pair owns a small monotone network whose sigmoid output is
a CDF.  Coding uses quantised tables built from it once per model; the network
itself is only evaluated at table-build time (and in training).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

#: the support of a z symbol is searched in [-SUPPORT_MAX, SUPPORT_MAX]
SUPPORT_MAX = 8
_TAIL_LOW = 1e-4
_TAIL_HIGH = 0.9999


class _CdfLayer(nn.Module):
    """One layer of the monotone CDF network: ``x*softplus(h) + b`` (+ tanh gate)."""

    def __init__(self, qp_count: int, channels: int, final: bool):
        super().__init__()
        self.h = nn.Parameter(torch.empty(qp_count, channels, 1, 1).normal_(0, 0.01))
        self.b = nn.Parameter(torch.empty(qp_count, channels, 1, 1).normal_(0, 0.01))
        self.a = None if final else nn.Parameter(torch.empty(qp_count, channels, 1, 1).normal_(0, 0.01))

    def forward(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        h = torch.index_select(self.h, 0, rows)
        b = torch.index_select(self.b, 0, rows)
        x = x * F.softplus(h) + b
        if self.a is None:
            return x
        a = torch.index_select(self.a, 0, rows)
        return x + torch.tanh(x) * torch.tanh(a)


class FactorizedPrior(nn.Module):
    """Per-qp, per-channel learned CDF of z (state-dict prefix ``bit_estimator_z``)."""

    def __init__(self, qp_count: int, channels: int):
        super().__init__()
        self.qp_count = qp_count
        self.channels = channels
        self.f1 = _CdfLayer(qp_count, channels, final=False)
        self.f2 = _CdfLayer(qp_count, channels, final=False)
        self.f3 = _CdfLayer(qp_count, channels, final=False)
        self.f4 = _CdfLayer(qp_count, channels, final=True)

    def logits(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        for layer in (self.f1, self.f2, self.f3, self.f4):
            x = layer(x, rows)
        return x

    def cdf(self, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """CDF at ``x`` of shape [len(rows), channels, 1, L] for the given qp rows."""
        return torch.sigmoid(self.logits(x, rows))

    def likelihood(self, z_hat: torch.Tensor, qp: torch.Tensor) -> torch.Tensor:
        """Probability mass of integer z values per sample qp (training and estimates)."""
        upper = self.logits(z_hat + 0.5, qp)
        lower = self.logits(z_hat - 0.5, qp)
        # the difference of sigmoids, taken on the side where it is numerically stable
        sign = -torch.sign(upper + lower)
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    @torch.no_grad()
    def pmf_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per (qp, channel) row: pmf over the support, tail mass, pmf length, offset.

        The support of each row runs from the first integer -m whose CDF is
        below 1e-4 to the first m with CDF above 0.9999 (each at least 2, at most 8),
        and the escape mass is CDF(-m_lo - 0.5) + 1 - CDF(m_hi).  The float32
        evaluation order matches the reference so the quantised tables are identical.
        """
        device = self.f1.h.device
        rows = torch.arange(self.qp_count, device=device, dtype=torch.int32)
        zeros = torch.zeros((self.qp_count, self.channels, 1, 1), device=device)

        lo = zeros + SUPPORT_MAX
        hi = zeros + SUPPORT_MAX
        for i in range(SUPPORT_MAX, 1, -1):
            below = self.cdf(zeros - i, rows) < zeros + _TAIL_LOW
            lo = torch.where(below, zeros + i, lo)
            above = self.cdf(zeros + i, rows) > zeros + _TAIL_HIGH
            hi = torch.where(above, zeros + i, hi)
        lo = lo.int()
        hi = hi.int()

        start = zeros - lo
        length = hi + lo + 1
        max_length = int(length.max())
        samples = torch.arange(max_length, device=device)[None, None, None, :] + start
        lower = self.cdf(samples - 0.5, rows)
        upper = self.cdf(samples + 0.5, rows)
        pmf = (upper - lower)[:, :, 0, :]
        top = self.cdf(hi.to(torch.float32), rows)
        tail = lower[:, :, 0, :1] + (1.0 - top[:, :, 0, -1:])

        return (
            pmf.reshape(-1, max_length).cpu().numpy(),
            tail.reshape(-1).cpu().numpy(),
            length.reshape(-1).cpu().numpy().astype(np.int32),
            (-lo).reshape(-1).cpu().numpy().astype(np.int32),
        )
