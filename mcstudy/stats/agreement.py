"""Monte Carlo against exact: one rule for every model (``docs/model.md`` §6.1).

An estimate disagrees with its exact value when it lies more than ``Z_FLAG`` = 4 standard
errors away, or when the exact variance is zero (the estimate must equal the exact value)
and it differs. The standard error is the exact one where it is known (a Wilson
proportion: sqrt(p (1 - p) / n) at the exact p; a declared exact variance of one
sequence: sqrt(var / n)), else the run's own (its standard error, or half its 95 %
interval / 1.96). A run's own standard error from ``sequences`` sequences is itself
uncertain, so its z is read against Student's t with ``sequences - 1`` degrees of
freedom and reported as the normal z of the same tail probability (a few sequences do
not raise false alarms). A run's standard error of 0 with a non-zero exact variance
says nothing (``untestable``): no event was seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mcstudy.stats.interval import Z95

Z_FLAG = 4.0
"""|z| above which an estimate disagrees with its exact value."""
STATUSES = ("tested", "equal", "differs", "untestable", "missing")


@dataclass(frozen=True)
class ExactCheck:
    """One estimate at one point against its exact value.

    ``status``: ``tested`` (z computed), ``equal`` (no usable standard error, values
    equal), ``differs`` (zero exact variance, different values: a certain
    disagreement), ``untestable`` (no usable standard error) or ``missing`` (NaN
    estimate or exact value). ``inside``: the exact value lies in the stored 95 %
    interval.
    """

    status: str
    z: float
    se: float
    exact_se: bool
    inside: bool

    @property
    def disagrees(self) -> bool:
        """Beyond ``Z_FLAG`` standard errors, or a certain disagreement."""
        return self.status == "differs" or (self.status == "tested" and abs(self.z) > Z_FLAG)


def check_exact(
    estimate: float,
    exact: float,
    *,
    binomial: bool = False,
    n: float = math.nan,
    exact_var: float | None = None,
    stderr: float | None = None,
    ci: tuple[float, float] | None = None,
    sequences: float = math.inf,
) -> ExactCheck:
    """Compare ``estimate`` with ``exact`` (see the module docstring for the rule).

    ``binomial``: the estimate is a proportion of ``n`` independent trials (Wilson);
    ``exact_var``: the exact variance of one sequence's value (``n`` sequences);
    ``stderr`` / ``ci``: the run's own standard error and 95 % interval;
    ``sequences``: how many sequences that standard error comes from.
    """
    if ci is not None:
        lo, hi = ci
    elif stderr is not None:
        lo, hi = estimate - Z95 * stderr, estimate + Z95 * stderr
    else:
        lo = hi = math.nan
    inside = bool(lo <= exact <= hi)
    if not (math.isfinite(estimate) and math.isfinite(exact)):
        return ExactCheck("missing", math.nan, math.nan, False, inside)
    exact_se = binomial or exact_var is not None
    if binomial:
        se = math.sqrt(exact * (1.0 - exact) / n) if n > 0 else math.nan
    elif exact_var is not None:
        se = math.sqrt(max(exact_var, 0.0) / n) if n > 0 else math.nan
    elif stderr is not None:
        se = stderr
    elif ci is not None:
        se = (hi - lo) / (2.0 * Z95)
    else:
        se = math.nan
    if math.isfinite(se) and se > 0.0:
        z = (estimate - exact) / se
        if not exact_se and math.isfinite(sequences) and sequences >= 2:
            z = _normal_equivalent(z, sequences - 1.0)
        return ExactCheck("tested", z, se, exact_se, inside)
    if estimate == exact or math.isclose(estimate, exact, rel_tol=1e-12, abs_tol=0.0):
        return ExactCheck("equal", math.nan, se, exact_se, inside)
    if exact_se and se == 0.0:
        return ExactCheck("differs", math.nan, se, exact_se, inside)
    return ExactCheck("untestable", math.nan, se, exact_se, inside)


def _normal_equivalent(t: float, df: float) -> float:
    """The normal z with the same two-sided tail probability as ``t`` under Student's t."""
    from scipy import stats

    return math.copysign(float(stats.norm.isf(stats.t.sf(abs(t), df))), t)
