"""Garwood's exact interval for a Poisson rate."""

from __future__ import annotations


def garwood(count: int, exposure: float) -> tuple[float, float]:
    """Exact (central, conservative) 95 % interval for a rate: ``count`` events seen in
    ``exposure`` (rate units = 1 / exposure units). With no event the low end is 0 and
    the high end 3.689 / exposure, never 0."""
    from scipy import stats  # lazily: a cold import of scipy.stats costs about a second

    lo = 0.0 if count == 0 else stats.chi2.ppf(0.025, 2 * count) / 2.0
    hi = stats.chi2.ppf(0.975, 2 * count + 2) / 2.0
    return lo / exposure, hi / exposure
