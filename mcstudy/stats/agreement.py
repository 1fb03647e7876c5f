"""Monte Carlo against exact: one rule for every model (``docs/model.md`` §6.1).

Each estimate with an exact value gets a two-sided tail probability ``p`` of a deviation
at least as large as the one seen, if the exact value were right:

* a proportion of independent trials (interval ``wilson``): the exact binomial tails of
  its k successes of n at the exact p;
* a mean count with a declared exact variance of one sequence: Poisson tails at the
  exact dispersion (the total is read as k = total / c effective events, c = exact
  variance / exact mean, against the exact n mean / c; c = 1 is Poisson itself);
* any other estimate: Student's t with ``sequences - 1`` degrees of freedom on
  z = (estimate - exact) / its own standard error (a few sequences do not raise false
  alarms); for a count (interval ``score``) also the Poisson tails at its effective
  number of events k = (estimate / standard error)^2, and the larger of the two
  probabilities (a count of a few events is skewed, a z is not).

One tail probability is not a verdict: a study compares hundreds of (point, estimate)
pairs, and at 4 standard errors a 324-point sweep would be flagged by chance now and
then (as would a count of 1 where 0.01 were expected, by a z of 9.9). The pairs of a
whole study are one family: Holm's step-down procedure (:func:`holm`) flags a pair
only when its p lies below its family-wise level, so that a correct simulation raises
a disagreement in any study with probability at most ``FAMILY_ALPHA``. A zero exact
variance with a different estimate is a certain disagreement (p = 0). A run's
standard error of 0 with a non-zero exact variance says nothing (``untestable``): no
event was seen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mcstudy.stats.interval import Z95

Z_FLAG = 4.0
"""|z| above which a drift between two halves of a window is a transient (the models'
own checks, ``checks.py``); exact comparisons use :data:`FAMILY_ALPHA`."""
FAMILY_ALPHA = 0.01
"""Family-wise error rate of the exact comparisons of one study (Holm)."""
STATUSES = ("tested", "equal", "differs", "untestable", "missing")
TESTS = {
    "binomial": "exact binomial tails",
    "poisson-exact": "Poisson tails at the exact dispersion",
    "poisson-effective": "Poisson tails at the effective number of events",
    "t": "Student's t",
    "normal": "normal",
}


@dataclass(frozen=True)
class ExactCheck:
    """One estimate at one point against its exact value.

    ``status``: ``tested`` (p computed), ``equal`` (no usable standard error, values
    equal), ``differs`` (zero exact variance, different values: a certain
    disagreement, p = 0), ``untestable`` (no usable standard error) or ``missing`` (NaN
    estimate or exact value). ``z``: (estimate - exact) / standard error, as the normal
    z of the same tail probability when the standard error is the run's own;
    ``p``: the two-sided tail probability (NaN unless tested or differs); ``test``: the
    key of :data:`TESTS` that gave it. ``inside``: the exact value lies in the stored
    95 % interval.
    """

    status: str
    z: float
    se: float
    exact_se: bool
    inside: bool
    p: float = math.nan
    test: str = ""

    @property
    def comparable(self) -> bool:
        """Part of the family of comparisons: tested, or a certain disagreement."""
        return self.status in ("tested", "differs")


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
    counts: bool = False,
) -> ExactCheck:
    """Compare ``estimate`` with ``exact`` (see the module docstring for the rule).

    ``binomial``: the estimate is a proportion of ``n`` independent trials;
    ``exact_var``: the exact variance of one sequence's value (``n`` sequences);
    ``stderr`` / ``ci``: the run's own standard error and 95 % interval;
    ``sequences``: how many sequences that standard error comes from; ``counts``: the
    estimate is a non-negative mean of event counts (interval ``score``).
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
        if binomial:
            k = round(estimate * n)
            return ExactCheck(
                "tested", z, se, True, inside, binomial_p(k, round(n), exact), "binomial"
            )
        if exact_var is not None:
            c = exact_var / exact if exact > 0.0 else math.nan
            if math.isfinite(c) and c > 0.0 and estimate >= 0.0:
                p = poisson_p(estimate * n / c, exact * n / c)
                return ExactCheck("tested", z, se, True, inside, p, "poisson-exact")
            return ExactCheck("tested", z, se, True, inside, _normal_p(z), "normal")
        test = "normal"
        if math.isfinite(sequences) and sequences >= 2:
            p = _t_p(z, sequences - 1.0)
            z = _normal_equivalent(p, z) if p > 0.0 else z
            test = "t"
        else:
            p = _normal_p(z)
        if counts and estimate > 0.0 and exact >= 0.0:
            k = (estimate / se) ** 2  # effective events of size se^2 / estimate
            p_k = poisson_p(k, exact * k / estimate)
            if p_k > p:
                p, test = p_k, "poisson-effective"
        return ExactCheck("tested", z, se, False, inside, p, test)
    if estimate == exact or math.isclose(estimate, exact, rel_tol=1e-12, abs_tol=0.0):
        return ExactCheck("equal", math.nan, se, exact_se, inside)
    if exact_se and se == 0.0:
        return ExactCheck("differs", math.nan, se, exact_se, inside, 0.0, "")
    return ExactCheck("untestable", math.nan, se, exact_se, inside)


def check_spec(spec: Any, values: Mapping[str, Any]) -> ExactCheck | None:
    """:func:`check_exact` of one declared estimate (``mcstudy.models.contract.
    EstimateSpec``) at one point's ``values``; None when it or its exact value is not
    there."""
    est, exact = _number(values, spec.name), _number(values, spec.exact)
    if est is None or exact is None:
        return None
    lo = _number(values, spec.ci[0]) if spec.ci else None
    hi = _number(values, spec.ci[1]) if spec.ci else None
    n = _number(values, spec.n)
    seqs = _number(values, "sequences")
    return check_exact(
        est,
        exact,
        binomial=spec.interval == "wilson",
        n=math.nan if n is None else n,
        exact_var=_number(values, spec.exact_var),
        stderr=_number(values, spec.stderr),
        ci=None if lo is None or hi is None else (lo, hi),
        sequences=math.inf if seqs is None or not math.isfinite(seqs) else seqs,
        counts=spec.interval == "score",
    )


def _number(values: Mapping[str, Any], name: str | None) -> float | None:
    if name is None or name not in values or values[name] is None:
        return None
    return float(values[name])


def holm(pvalues: Sequence[float], alpha: float = FAMILY_ALPHA) -> list[float]:
    """Holm's step-down procedure over one family: for each p its family-wise level
    alpha / (m - rank) where it is rejected, NaN where it is not (NaN p-values are not
    part of the family). Rejections have family-wise error rate at most ``alpha``
    under any dependence between the p-values."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    m = len(order)
    levels = [math.nan] * len(pvalues)
    for rank, (p, i) in enumerate(order):
        level = alpha / (m - rank)
        if p > level:
            break
        levels[i] = level
    return levels


def binomial_p(k: int, n: int, p0: float) -> float:
    """Two-sided exact binomial tail probability of k successes of n at p0 (twice the
    smaller tail, at most 1)."""
    from scipy import special

    if n <= 0:
        return math.nan
    if p0 <= 0.0 or p0 >= 1.0:
        return 1.0 if k == round(p0 * n) else 0.0
    low = float(special.bdtr(k, n, p0))  # P(X <= k)
    high = float(special.bdtrc(k - 1, n, p0)) if k > 0 else 1.0  # P(X >= k)
    return min(1.0, 2.0 * min(low, high))


def poisson_p(k: float, mu: float) -> float:
    """Two-sided Poisson tail probability of ``k`` events at mean ``mu`` (twice the
    smaller tail, at most 1); a fractional k (effective events) by the regularised
    incomplete gamma functions, which give Poisson's tails at integers."""
    from scipy import special

    if mu <= 0.0:
        return 1.0 if k <= 0.0 else 0.0
    low = float(special.gammaincc(k + 1.0, mu))  # P(X <= k)
    high = float(special.gammainc(k, mu)) if k > 0.0 else 1.0  # P(X >= k)
    return min(1.0, 2.0 * min(low, high))


def _normal_p(z: float) -> float:
    from scipy import special

    return float(2.0 * special.ndtr(-abs(z)))


def _t_p(t: float, df: float) -> float:
    from scipy import special

    return float(2.0 * special.stdtr(df, -abs(t)))


def _normal_equivalent(p: float, t: float) -> float:
    """The normal z with the same two-sided tail probability ``p`` (sign of ``t``)."""
    from scipy import special

    return math.copysign(-float(special.ndtri(p / 2.0)), t)
