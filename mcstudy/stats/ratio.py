"""Ratio estimators with delta-method standard errors.

``ratio_of_sums``: sum(x_i) / sum(y_i) over n i.i.d. sequences (events per gather, per
split, per regeneration step...), where the events inside one sequence are neither
independent nor fixed in number. Its variance is the between-sequence one,
sum (x_i - r y_i)^2 / (n (n - 1)) / ybar^2: treating the events as independent trials
(Wilson) would be too narrow when they cluster.

``ratio_of_means``: xbar / ybar of two *independent* samples (importance-sampled cycles
over plain cycles), Var = Var(xbar) / ybar^2 + r^2 Var(ybar) / ybar^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    """A ratio estimate with its delta-method standard error (units of x per y)."""

    estimate: float
    stderr: float
    reason: str | None = None
    """Why the ratio or its standard error could not be estimated, else None."""


def ratio_of_sums(sx: float, sy: float, sxx: float, syy: float, sxy: float, n: int) -> Ratio:
    """sum(x) / sum(y) from the sums, squares and cross products of n sequences.

    NaN standard error (with the reason) for n < 2 or sum(y) <= 0; NaN estimate too
    when sum(y) <= 0.
    """
    if sy <= 0.0:
        return Ratio(math.nan, math.nan, "no denominator events")
    r = sx / sy
    if n < 2:
        return Ratio(r, math.nan, "fewer than 2 sequences")
    ss = sxx - 2.0 * r * sxy + r * r * syy  # sum (x - r y)^2
    var = max(ss, 0.0) / (n - 1) / n
    return Ratio(r, math.sqrt(var) / (sy / n))


def ratio_of_means(xbar: float, xvar: float, n: int, ybar: float, yvar: float, m: int) -> Ratio:
    """xbar / ybar of independent samples of sizes n and m, with sample variances."""
    r = xbar / ybar
    var = xvar / n / ybar**2 + r * r * yvar / m / ybar**2
    return Ratio(r, math.sqrt(var))
