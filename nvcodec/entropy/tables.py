"""Quantised CDF tables, built once per model and kept resident in the coder."""

from __future__ import annotations

from functools import lru_cache

from nvcodec.entropy.factorized import FactorizedPrior
from nvcodec.entropy.gaussian import gaussian_pmfs
from nvcodec.entropy.rans import CdfTable, quantize_pmfs


@lru_cache(maxsize=1)
def gaussian_table() -> CdfTable:
    """The 128 Gaussian CDFs for y (model-independent, so built once per process)."""
    pmf, tail, length, offset = gaussian_pmfs()
    cdf, cdf_length = quantize_pmfs(pmf, length, tail)
    return CdfTable(cdf, cdf_length, offset)


def factorized_table(prior: FactorizedPrior) -> CdfTable:
    """One CDF row per (qp, channel) of a z prior: row = qp * channels + channel."""
    pmf, tail, length, offset = prior.pmf_table()
    cdf, cdf_length = quantize_pmfs(pmf, length, tail)
    return CdfTable(cdf, cdf_length, offset)
