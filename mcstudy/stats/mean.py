"""Means of per-sequence values, from the sums the block engine reduces."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from mcstudy.stats.interval import Z95, t_inflation


@dataclass(frozen=True)
class Mean:
    """A sample mean with its standard error and sample size (units of the values)."""

    estimate: float
    stderr: float
    n: int
    reason: str | None = None
    """Why the mean or its standard error could not be estimated, else None."""

    @property
    def ci_low(self) -> float:
        """Student's t 95 % interval, low end."""
        return self.estimate - Z95 * t_inflation(self.n) * self.stderr

    @property
    def ci_high(self) -> float:
        """Student's t 95 % interval, high end."""
        return self.estimate + Z95 * t_inflation(self.n) * self.stderr

    @property
    def rel_err(self) -> float:
        """Relative standard error (inf when the estimate is 0)."""
        if self.estimate == 0.0:
            return math.inf if self.stderr > 0 or self.n == 0 else 0.0
        return self.stderr / abs(self.estimate)


def mean_from_sums(total: float, total_sq: float, n: int) -> Mean:
    """Mean and standard error from the sum and the sum of squares of n values.

    Integer-valued samples get their sum of squared deviations exactly (rationals), so
    a large mean does not cancel the variance away.
    """
    if n <= 0:
        return Mean(math.nan, math.nan, 0, "no sequences")
    m = total / n
    if n == 1:
        return Mean(m, math.nan, 1, "one sequence: no standard error")
    if float(total).is_integer() and float(total_sq).is_integer():
        ss = float(Fraction(int(total_sq)) - Fraction(int(total)) ** 2 / n)
    else:
        ss = total_sq - total * m
    var = max(ss, 0.0) / (n - 1)
    return Mean(m, math.sqrt(var / n), n)


def mean_and_variance(total: float, total_sq: float, n: int) -> tuple[float, float]:
    """(mean, sample variance) of n values from their sum and sum of squares, in floats.

    The variance is NaN for n < 2 (cannot estimate). Used where a ratio estimator needs
    the variance of one factor (``mcstudy.stats.ratio.ratio_of_means``).
    """
    m = total / n
    return m, max(total_sq - total * m, 0.0) / (n - 1) if n > 1 else math.nan
