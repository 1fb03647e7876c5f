"""Ratio and quantile estimators, the score and clustered-Wilson intervals, and the one
convention for "cannot estimate" (NaN with a reason, never 0). Coverage itself is
measured by ``mcstudy validate`` (tests/validate)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcstudy.stats.interval import Z95, score_interval, t_inflation
from mcstudy.stats.mean import mean_and_variance, mean_from_sums
from mcstudy.stats.proportion import wilson, wilson_design_interval
from mcstudy.stats.quantile import count_quantile, mixed_poisson_quantile
from mcstudy.stats.ratio import ratio_of_means, ratio_of_sums


def test_ratio_of_sums_is_the_delta_method_over_sequences():
    rng = np.random.default_rng(5)
    y = rng.poisson(20.0, size=400).astype(float)
    x = rng.binomial(y.astype(int), 0.1).astype(float)
    r = ratio_of_sums(x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum(), len(x))
    est = x.sum() / y.sum()
    resid = x - est * y
    se = math.sqrt((resid**2).sum() / (len(x) * (len(x) - 1))) / y.mean()
    assert r.estimate == pytest.approx(est, rel=1e-15)
    assert r.stderr == pytest.approx(se, rel=1e-12)
    assert r.reason is None


def test_cannot_estimate_is_nan_with_a_reason_never_zero():
    no_den = ratio_of_sums(0.0, 0.0, 0.0, 0.0, 0.0, 10)
    assert math.isnan(no_den.estimate) and math.isnan(no_den.stderr) and no_den.reason
    one = ratio_of_sums(1.0, 4.0, 1.0, 16.0, 4.0, 1)
    assert one.estimate == 0.25 and math.isnan(one.stderr) and one.reason
    m = mean_from_sums(3.0, 9.0, 1)
    assert m.estimate == 3.0 and math.isnan(m.stderr) and m.reason
    assert math.isnan(mean_from_sums(0.0, 0.0, 0).estimate)
    assert math.isnan(mean_and_variance(2.0, 4.0, 1)[1])


def test_ratio_of_independent_means():
    r = ratio_of_means(2.0, 4.0, 100, 10.0, 25.0, 50)
    var = 4.0 / 100 / 100 + 0.2**2 * 25.0 / 50 / 100
    assert r.estimate == 0.2 and r.stderr == pytest.approx(math.sqrt(var), rel=1e-15)


def test_score_interval_is_poissons_at_the_effective_count():
    # 4 Poisson events in n sequences: mean 4/n, stderr 2/n; k = 4 / t_inflation^2
    n = 10_000
    lo, hi = score_interval(4.0 / n, 2.0 / n, n, 1.0)
    k = 4.0 / t_inflation(n) ** 2
    half = Z95 * math.sqrt(k + Z95**2 / 4)
    assert lo == pytest.approx((k + Z95**2 / 2 - half) * (4.0 / n) / k, rel=1e-12)
    assert hi == pytest.approx((k + Z95**2 / 2 + half) * (4.0 / n) / k, rel=1e-12)
    assert hi - 4.0 / n > 4.0 / n - lo  # skewed to the right
    # many events: the Student t interval
    lo, hi = score_interval(100.0, 1.0, 16, math.inf)
    t = t_inflation(16) * Z95
    assert (lo, hi) == pytest.approx((100.0 - t, 100.0 + t), rel=1e-3)
    # never [0, 0]: no event gives the caller's upper bound; NaN where it cannot estimate
    assert score_interval(0.0, 0.0, 16, 0.25) == (0.0, 0.25)
    assert all(math.isnan(v) for v in score_interval(1.0, math.nan, 1, 1.0))
    assert score_interval(2.0, 0.0, 16, 0.25) == (1.75, 2.25)  # every sequence alike


def test_wilson_design_is_wilson_at_the_effective_sample_size():
    p, n_eff = 0.1, 400.0
    se = math.sqrt(p * (1 - p) / n_eff) / t_inflation(10_000_000)
    lo, hi = wilson_design_interval(p, se, 10_000_000, 1.0)
    w = wilson(40, 400)
    assert (lo, hi) == pytest.approx((w.ci_low, w.ci_high), rel=1e-6)
    # clustered: a standard error twice the binomial one halves the effective sample
    lo2, hi2 = wilson_design_interval(p, 2 * se, 10_000_000, 1.0)
    w2 = wilson(10, 100)
    assert (lo2, hi2) == pytest.approx((w2.ci_low, w2.ci_high), rel=1e-6)
    assert wilson_design_interval(0.0, 0.0, 16, 1000.0) == pytest.approx(
        (0.0, wilson(0, 1000).ci_high)
    )


def test_mixed_poisson_quantile_of_poisson_samples():
    """Independent Poisson samples (one per "sequence"): the quantile is the Poisson one
    within its interval, and its interval covers about 95 % (seeded, 400 replications)."""
    rng = np.random.default_rng(3)
    lam, n = 50.0, 200
    exact = stats.poisson.ppf(0.99, lam)
    covered = 0
    for _ in range(400):
        y = rng.poisson(lam, n) - lam
        a = np.stack([y, y * y])
        q, lo, hi, se = mixed_poisson_quantile(a.sum(1), a @ a.T, n, 0.99, lam)
        covered += math.ceil(lo - 0.5) <= exact <= math.ceil(hi - 0.5)
    assert abs(math.ceil(q - 0.5) - exact) <= 4 * se + 1
    # 95 % of 400: binomial standard error 1.1 %; 4 standard errors
    assert abs(covered / 400 - 0.95) <= 4 * math.sqrt(0.95 * 0.05 / 400)


def test_count_quantile_inverts_wilson_intervals():
    counts = np.zeros(11, dtype=np.int64)
    counts[:5] = [900, 60, 25, 10, 5]  # 1000 units; the overflow bin (last) is empty
    est, lo, hi = count_quantile(counts, 1000, 0.99)
    assert est == 3.0  # F(2) = 0.985, F(3) = 0.995
    assert lo <= est <= hi
    assert all(math.isnan(v) for v in count_quantile(counts, 0, 0.99))
