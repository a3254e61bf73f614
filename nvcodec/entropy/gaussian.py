"""The conditional Gaussian model of y: scale table, quantised CDFs, scale -> index.

y is coded as a zero-mean Gaussian residual around a predicted mean; the
predicted scale picks one of 128 pre-quantised CDFs.  Everything here must
agree bit for bit between encoder and decoder, so index computation follows
the reference's float32 expression exactly (a float64 log would move a few
scales to the neighbouring bin).

The tables are built with torch's float32 kernels, whose exp, erf and even
linspace differ by an ulp between instruction sets and MKL code paths (row 120
of the table moves with them).  Built under the ``cpu-avx2-t2`` numerics
profile they are exactly the reference's; a stream's profile therefore also
fixes its tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SCALE_MIN = 0.11
SCALE_MAX = 16.0
SCALE_LEVELS = 128
_LOG_MIN = math.log(SCALE_MIN)
_LOG_STEP_RECIP = 1.0 / ((math.log(SCALE_MAX) - _LOG_MIN) / (SCALE_LEVELS - 1))
_SUPPORT_MAX = 8


def scale_table() -> torch.Tensor:
    """The 128 table scales, log-uniform from 0.11 to 16 (float32, as the reference builds them)."""
    return torch.exp(torch.linspace(math.log(SCALE_MIN), math.log(SCALE_MAX), SCALE_LEVELS))


def gaussian_pmfs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per scale level: pmf over -c..c, tail mass, pmf length, offset (-c).

    c is the smallest half-width in 2..8 whose CDF exceeds 0.9999 (8 if none).
    """
    table = scale_table()
    center = torch.zeros_like(table) + _SUPPORT_MAX
    dist = torch.distributions.normal.Normal(0.0, torch.zeros_like(center) + table)
    for i in range(_SUPPORT_MAX, 1, -1):
        probs = dist.cdf(torch.zeros_like(center) + i)
        center = torch.where(probs > torch.zeros_like(center) + 0.9999, torch.zeros_like(center) + i, center)
    center = center.int()
    length = 2 * center + 1
    max_length = int(length.max())
    samples = (torch.arange(max_length) - center[:, None]).float()
    dist = torch.distributions.normal.Normal(0.0, torch.zeros_like(samples) + table[:, None])
    upper = dist.cdf(samples + 0.5)
    lower = dist.cdf(samples - 0.5)
    pmf = upper - lower
    tail = 2 * lower[:, :1]
    return (
        pmf.numpy(),
        tail.reshape(-1).numpy(),
        length.numpy().astype(np.int32),
        (-center).numpy().astype(np.int32),
    )


@dataclass(frozen=True)
class ScaleIndexer:
    """Maps predicted scales to table indices and to the skip decision.

    ``skip_threshold`` is DCVC-RT's ``force_zero_thres``: elements whose
    (clamped) scale is not above it are forced to zero and not coded at all.
    """

    skip_threshold: float | None = None

    def indices(self, scales: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 table indices of ``scales`` and the coded-element mask (None: all coded)."""
        clamped = scales.clamp(SCALE_MIN, SCALE_MAX)
        index = ((torch.log(clamped) - _LOG_MIN) * _LOG_STEP_RECIP).to(dtype=torch.uint8)
        coded = None if self.skip_threshold is None else clamped > self.skip_threshold
        return index, coded
