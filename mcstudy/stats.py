"""Estimators with intervals: Wilson for proportions, standard errors for means.

All functions take exact integer or float sums (as reduced by ``engine.blocks``) and
return plain floats. 95 % intervals use z = 1.959963984540054.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Proportion:
    """A proportion k/n with its 95 % Wilson score interval."""

    estimate: float
    ci_low: float
    ci_high: float
    n: int


@dataclass(frozen=True)
class Mean:
    """A sample mean with its standard error (and sample size)."""

    estimate: float
    stderr: float
    n: int

    @property
    def ci_low(self) -> float:
        return self.estimate - Z95 * self.stderr

    @property
    def ci_high(self) -> float:
        return self.estimate + Z95 * self.stderr

    @property
    def rel_err(self) -> float:
        """Relative standard error (inf when the estimate is 0)."""
        if self.estimate == 0.0:
            return math.inf if self.stderr > 0 or self.n == 0 else 0.0
        return self.stderr / abs(self.estimate)


def wilson(successes: int, n: int, z: float = Z95) -> Proportion:
    """Wilson score interval for ``successes`` out of ``n`` (NaN when n == 0)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"invalid proportion {successes}/{n}")
    if n == 0:
        return Proportion(math.nan, math.nan, math.nan, 0)
    phat = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (phat + z2 / (2 * n)) / denom
    half = z * math.sqrt(phat * (1.0 - phat) / n + z2 / (4.0 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Proportion(phat, low, high, n)


def mean_from_sums(total: float, total_sq: float, n: int) -> Mean:
    """Mean and standard error from the sum and the sum of squares of n values."""
    if n <= 0:
        return Mean(math.nan, math.nan, 0)
    m = total / n
    if n == 1:
        return Mean(m, math.nan, 1)
    if float(total).is_integer() and float(total_sq).is_integer():
        # integer-valued samples: the sum of squared deviations exactly
        ss = float(Fraction(int(total_sq)) - Fraction(int(total)) ** 2 / n)
    else:
        ss = total_sq - total * m
    var = max(ss, 0.0) / (n - 1)
    return Mean(m, math.sqrt(var / n), n)
