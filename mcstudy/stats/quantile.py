"""Quantiles of binned distributions with distribution-free 95 % intervals."""

from __future__ import annotations

import math

import numpy as np

from mcstudy.stats.interval import Z95
from mcstudy.stats.proportion import wilson


def quantile_from_cdf(
    cdf: np.ndarray, cdf_se: np.ndarray, lo: float, width: float, q: float
) -> tuple[float, float, float]:
    """(quantile, low, high) of an integer count from cumulative fractions at bin edges.

    ``cdf[b]`` = P(X < lo + b width) for b = 0..bins, and 1 for the overflow column;
    ``cdf_se`` their standard errors. The interval inverts the pointwise band
    ``cdf +- Z95 cdf_se``. NaN (cannot estimate) when the quantile falls in the
    underflow or overflow bin, or an interval end does.
    """
    edges = lo + width * np.arange(len(cdf), dtype=np.float64)
    edges[-1] = math.inf

    def first(values: np.ndarray) -> int:
        idx = int(np.searchsorted(values >= q, True)) if np.any(values >= q) else len(values)
        return idx

    b = first(cdf)
    if b == 0 or b >= len(cdf) - 1:
        return math.nan, math.nan, math.nan
    frac = (q - cdf[b - 1]) / (cdf[b] - cdf[b - 1]) if cdf[b] > cdf[b - 1] else 1.0
    x = edges[b - 1] + frac * width
    est = math.ceil(x) - 1.0
    b_lo = first(cdf + Z95 * cdf_se)
    b_hi = first(cdf - Z95 * cdf_se)
    low = edges[b_lo - 1] if b_lo >= 1 else math.nan
    high = edges[b_hi] - 1.0 if b_hi < len(cdf) - 1 else math.nan
    return est, low, high


def count_quantile(counts: np.ndarray, n: int, q: float) -> tuple[float, float, float]:
    """Quantile of a per-unit count from its histogram, with a distribution-free 95 %
    interval.

    ``counts[k]`` units saw k events (the last entry: overflow). The interval inverts
    Wilson intervals of F(k) = P(count <= k) (units treated as independent). NaN when
    the quantile lies in the overflow bin or no unit was seen.
    """
    if n == 0:
        return math.nan, math.nan, math.nan
    cum = np.cumsum(counts[:-1])
    est = lo = hi = math.nan
    for k, c in enumerate(cum):
        w = wilson(int(c), n)
        if math.isnan(lo) and w.ci_high >= q:
            lo = float(k)
        if math.isnan(est) and c / n >= q:
            est = float(k)
        if w.ci_low >= q:
            hi = float(k)
            break
    return est, lo, hi
