"""Ratio, Poisson and quantile estimators, interval helpers, and the one convention for
"cannot estimate" (NaN with a reason, never 0)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcstudy.stats.interval import Z95, normal_interval, union
from mcstudy.stats.mean import mean_and_variance, mean_from_sums
from mcstudy.stats.poisson import garwood
from mcstudy.stats.quantile import count_quantile, quantile_from_cdf
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


def test_normal_interval_and_union():
    assert normal_interval(0.5, 0.1) == pytest.approx((0.5 - Z95 * 0.1, 0.5 + Z95 * 0.1))
    assert normal_interval(0.05, 0.1, 0.0, 1.0)[0] == 0.0
    assert all(math.isnan(v) for v in normal_interval(0.5, math.nan, 0.0, 1.0))
    assert union((0.1, 0.3), (0.2, 0.5)) == (0.1, 0.5)
    assert union((0.1, 0.3), (math.nan, math.nan)) == (0.1, 0.3)
    assert all(math.isnan(v) for v in union((math.nan, math.nan), (math.nan, math.nan)))


@pytest.mark.parametrize("count", [0, 1, 7, 250])
def test_garwood_is_the_exact_chi_square_interval(count):
    lo, hi = garwood(count, 2.0)
    assert hi > 0.0  # never [0, 0]: with no event the upper end is 3.689 / exposure
    if count == 0:
        assert lo == 0.0 and hi == pytest.approx(-math.log(0.025) / 2.0, rel=1e-12)
    else:
        # P(X >= count | lo) = 0.025 and P(X <= count | hi) = 0.025
        assert stats.poisson.sf(count - 1, lo * 2.0) == pytest.approx(0.025, rel=1e-9)
    assert stats.poisson.cdf(count, hi * 2.0) == pytest.approx(0.025, rel=1e-9)


def test_count_quantile_inverts_wilson_intervals():
    counts = np.zeros(11, dtype=np.int64)
    counts[:5] = [900, 60, 25, 10, 5]  # 1000 units; the overflow bin (last) is empty
    est, lo, hi = count_quantile(counts, 1000, 0.99)
    assert est == 3.0  # F(2) = 0.985, F(3) = 0.995
    assert lo <= est <= hi
    assert all(math.isnan(v) for v in count_quantile(counts, 0, 0.99))


def test_quantile_from_cdf_of_a_uniform_count():
    # X uniform on 0..99, bins of width 10 from 0: cdf at edges 0, 10, ..., 100, overflow
    cdf = np.array([0.0, *(np.arange(1, 11) / 10.0), 1.0])
    est, lo, hi = quantile_from_cdf(cdf, np.full(cdf.shape, 0.01), 0.0, 10.0, 0.5)
    assert est == 49.0 and lo <= est <= hi
