"""Monte Carlo against exact values: tail probabilities where counts are small, and one
family-wise level over every comparison of a study (``docs/model.md`` §6.1). Fixed
seeds; rates are judged in standard errors of their binomial count."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcstudy.findings import all_zero_finding, family_disagreements, study_findings
from mcstudy.models.registry import get_model
from mcstudy.stats.agreement import (
    FAMILY_ALPHA,
    check_exact,
    holm,
    poisson_p,
)

GATHER = get_model("gather")
HOST = get_model("host")


def test_one_event_where_a_hundredth_was_expected_is_no_disagreement():
    # the case: gather-grid at p = 1e-6 with 10,000 gathers saw one fallback
    prob = check_exact(1e-4, 1e-6, binomial=True, n=10_000)
    assert prob.z == pytest.approx(9.9, abs=0.05)  # what the 4-SE rule flagged
    assert prob.test == "binomial"
    assert prob.p == pytest.approx(2 * (1 - (1 - 1e-6) ** 10_000), rel=1e-6)  # about 0.02
    assert prob.p > FAMILY_ALPHA
    mean = check_exact(1e-4, 1e-6, exact_var=1e-6, n=10_000)  # Poisson count, dispersion 1
    assert mean.test == "poisson-exact"
    assert mean.p == pytest.approx(2 * stats.poisson.sf(0, 0.01), rel=1e-9)
    assert all(math.isnan(x) for x in holm([prob.p, mean.p]))  # neither is flagged


def test_poisson_tails_are_exact_at_integers():
    for k, mu in ((0, 3.0), (2, 0.1), (10, 30.0), (45, 30.0)):
        lo, hi = stats.poisson.cdf(k, mu), stats.poisson.sf(k - 1, mu)
        assert poisson_p(k, mu) == pytest.approx(min(1.0, 2 * min(lo, hi)), rel=1e-9)


def test_a_count_judged_by_its_own_standard_error_uses_the_poisson_tail_when_wider():
    n = 1_000_000
    # 10 events where 30 were expected: a z of -6.3 on the run's own standard error,
    # but 10 or fewer events at a mean of 30 happen with probability 7e-5
    c = check_exact(10 / n, 30 / n, stderr=math.sqrt(10) / n, sequences=n, counts=True)
    assert c.test == "poisson-effective"
    assert c.p == pytest.approx(2 * stats.poisson.cdf(10, 30.0), rel=1e-6)
    plain = check_exact(10 / n, 30 / n, stderr=math.sqrt(10) / n, sequences=n)
    assert plain.test == "t" and plain.p < c.p / 1000


def test_holm_steps_down():
    levels = holm([0.001, 0.04, 0.03, 0.005, math.nan], alpha=0.05)
    assert levels[0] == pytest.approx(0.05 / 4) and levels[3] == pytest.approx(0.05 / 3)
    assert all(math.isnan(x) for x in (levels[1], levels[2], levels[4]))


def _gather_grid(rng: np.random.Generator, n: int, shift: dict[int, float] | None = None):
    """Values of the fallback probability at the 9 x 9 (p, tables) points of gather-grid
    for 4 kernels (324 points), drawn from the exact binomial law (``shift``: points whose
    true probability is another)."""
    values = {}
    ps = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.1, 0.3, 0.5]
    batches = [1, 1, 1, 1, 1, 1, 2, 10, 197]  # ceil(tables / 509) of the grid's sizes
    i = 0
    for _kernel in range(4):
        for p in ps:
            for b in batches:
                exact = 1.0 - (1.0 - p) ** b
                true = (shift or {}).get(i, exact)
                k = int(rng.binomial(n, true))
                values[i] = {
                    "fallback_prob": k / n,
                    "fallback_prob_exact": exact,
                    "fallback_prob_ci_low": 0.0,
                    "fallback_prob_ci_high": 1.0,
                    "sequences": n,
                }
                i += 1
    return values


def test_a_correct_324_point_sweep_is_rarely_flagged():
    """Family-wise: over 100 correct sweeps of 10,000 gathers a point, at most
    FAMILY_ALPHA of them + 4 standard errors show a disagreement; the 4-SE rule on the
    exact standard error flagged about a third of them (every event at p = 1e-6)."""
    rng = np.random.default_rng(20240601)
    studies = 100
    flagged = old = 0
    for _ in range(studies):
        values = _gather_grid(rng, 10_000)
        flagged += bool(family_disagreements(GATHER.estimate_specs, values))
        old += any(
            abs(check_exact(v["fallback_prob"], v["fallback_prob_exact"], binomial=True, n=1e4).z)
            > 4
            for v in values.values()
        )
    se = math.sqrt(FAMILY_ALPHA * (1 - FAMILY_ALPHA) / studies)
    assert flagged <= studies * (FAMILY_ALPHA + 4 * se)
    assert old >= 10  # the old rule's false alarms, for contrast


def test_a_real_disagreement_is_flagged_with_its_tail_probability_and_level():
    rng = np.random.default_rng(7)
    # point 30: p = 1e-3 at one batch (exact 0.001), simulated at 0.004
    values = _gather_grid(rng, 10_000, shift={30: 0.004})
    found = family_disagreements(GATHER.estimate_specs, values)
    assert [(f.point, f.estimate, f.kind) for f in found] == [(30, "fallback_prob", "disagreement")]
    msg = found[0].message
    assert "exact binomial tails give p = " in msg and "below its family-wise level" in msg
    # 316 comparisons: at 8 points the exact probability is 1 (no variance, equal)
    assert "Holm over the study's 316 comparisons at 0.01" in msg


def test_a_different_value_at_zero_exact_variance_is_always_flagged():
    values = {i: {"fallbacks_mean": 0.0, "fallbacks_mean_exact": 0.0} for i in range(500)}
    values[3] = {
        "fallbacks_mean": 1e-4,
        "fallbacks_stderr": 1e-4,
        "fallbacks_mean_exact": 0.0,
        "fallbacks_var_exact": 0.0,
        "sequences": 10_000,
    }
    found = family_disagreements(GATHER.estimate_specs, values)
    assert [(f.point, f.estimate) for f in found] == [(3, "fallbacks_mean")]
    assert "a certain disagreement" in found[0].message


def _host_values(zero: bool = True, exact: float = 123.4776) -> dict:
    """One host point's values: every estimate 0 (or one event) with positive exact values."""
    values: dict = {"sequences": 4}
    for spec in HOST.point_specs():  # one per cell of an output dimension
        values[spec.name] = 0.0 if spec.interval != "normal" else 19_000.0
        if spec.exact is not None:
            values[spec.exact] = 0.0
    values["fallbacks_per_hour_exact"] = exact
    values["nowait_fail_prob_exact"] = 5.4e-5 if exact > 0 else 0.0
    mainline = HOST.main_spec()  # a cell of isolated_cpu_ipis_per_hour
    values[mainline.exact] = 2.0 * exact
    if not zero:
        values["fallbacks_per_hour"] = 7.5
    return values


def test_a_study_whose_every_event_estimate_is_0_gets_its_vacuous_finding():
    values = {i: _host_values() for i in range(4)}
    found = study_findings(HOST, values, [])
    assert [(f.point, f.kind) for f in found] == [(None, "vacuous")]
    msg = found[0].message
    assert "every event estimate is 0 at all 4 points" in msg and "4 sequences per point" in msg
    assert "too short" in msg
    assert "fallbacks_per_hour 123 tables/h" in msg and "nowait_fail_prob 5.4e-05" in msg
    assert f"{HOST.main_key()} 247 IPIs/h" in msg  # a cell, with its variable's units
    # one event anywhere, or events that cannot happen: no such finding
    assert all_zero_finding(HOST, {**values, 2: _host_values(zero=False)}) == []
    assert all_zero_finding(HOST, {i: _host_values(exact=0.0) for i in range(4)}) == []
