"""Two-sided 95 % intervals: the normal quantile, clipped normal intervals, unions."""

from __future__ import annotations

import math

Z95 = 1.959963984540054
"""The 0.975 quantile of the standard normal: half-width of a 95 % interval in SEs."""


def normal_interval(
    estimate: float, stderr: float, low: float = -math.inf, high: float = math.inf
) -> tuple[float, float]:
    """``estimate +- Z95 stderr`` clipped to ``[low, high]``; NaN ends (cannot estimate)
    when the estimate or its standard error is NaN."""
    if math.isnan(estimate) or math.isnan(stderr):
        return math.nan, math.nan
    return max(low, estimate - Z95 * stderr), min(high, estimate + Z95 * stderr)


def union(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    """The smallest interval holding ``a`` and ``b``; a NaN end of one is ignored.

    Used where two intervals are valid in different regimes (e.g. Wilson's, which treats
    events as independent, and a delta-method one, which allows for clustering): the
    union keeps the coverage of both.
    """
    lows = [x for x in (a[0], b[0]) if not math.isnan(x)]
    highs = [x for x in (a[1], b[1]) if not math.isnan(x)]
    return (min(lows) if lows else math.nan, max(highs) if highs else math.nan)
