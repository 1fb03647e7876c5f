"""Proportions k/n with Wilson's score interval."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcstudy.stats.interval import Z95, t_inflation


@dataclass(frozen=True)
class Proportion:
    """A proportion k/n with its 95 % Wilson score interval (dimensionless)."""

    estimate: float
    ci_low: float
    ci_high: float
    n: int
    reason: str | None = None
    """Why it could not be estimated (NaN estimate), else None."""


def wilson(successes: int, n: int, z: float = Z95) -> Proportion:
    """Wilson score interval for ``successes`` out of ``n`` (NaN when n == 0).

    The ends are exactly 0 (1) when no (every) trial succeeded, so the interval never
    collapses: with k = 0 its upper end is z^2 / (n + z^2).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"invalid proportion {successes}/{n}")
    if n == 0:
        return Proportion(math.nan, math.nan, math.nan, 0, "no trials")
    phat = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (phat + z2 / (2 * n)) / denom
    half = z * math.sqrt(phat * (1.0 - phat) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Proportion(phat, low, high, n)


def wilson_from(phat: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``phat`` of ``n`` trials, ``n`` possibly
    fractional (an effective sample size); exact 0 and 1 ends as in :func:`wilson`."""
    if n <= 0 or math.isnan(phat):
        return math.nan, math.nan
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (phat + z2 / (2 * n)) / denom
    half = z * math.sqrt(max(phat * (1.0 - phat), 0.0) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if phat <= 0.0 else max(0.0, centre - half)
    high = 1.0 if phat >= 1.0 else min(1.0, centre + half)
    return low, high


def wilson_design_interval(
    estimate: float, stderr: float, n: int, zero_trials: float, seen: int | None = None
) -> tuple[float, float]:
    """95 % Wilson interval of a proportion in [0, 1] whose standard error comes from
    ``n`` clustered sequences: Wilson's score interval at the effective sample size
    p (1 - p) / stderr_t^2 (Kish's design effect; stderr_t widened by Student's t).
    Estimate 0 or 1 (no variance seen) uses ``zero_trials`` independent trials.

    ``seen``: how many of the ``n`` sequences had a non-zero value, where the model
    counts them. A mean of n values of which only k are non-zero has its standard error
    estimated from those k: Student's t then has min(k, n - 1) degrees of freedom, not
    n - 1 (a time fraction of a few pressure episodes in 16 sequences; ``docs/model.md``
    §6.1: 93 % coverage with n - 1, 96 % with k, measured)."""
    if math.isnan(estimate):
        return math.nan, math.nan
    if estimate in (0.0, 1.0) or stderr == 0.0:
        return wilson_from(estimate, zero_trials) if zero_trials > 0 else (math.nan, math.nan)
    if math.isnan(stderr):
        return math.nan, math.nan
    se = stderr * t_inflation(n if seen is None else max(min(n, seen + 1), 2))
    if not math.isfinite(se):
        return math.nan, math.nan
    return wilson_from(estimate, estimate * (1.0 - estimate) / (se * se))
