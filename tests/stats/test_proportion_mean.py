"""Wilson intervals and means with standard errors."""

from __future__ import annotations

import math

import pytest

from mcstudy.stats.interval import Z95
from mcstudy.stats.mean import mean_from_sums
from mcstudy.stats.proportion import wilson


def test_wilson_known_values():
    # Wilson score interval for 5/10 at 95 %: (0.2366, 0.7634)
    w = wilson(5, 10)
    assert w.ci_low == pytest.approx(0.236593, abs=1e-6)
    assert w.ci_high == pytest.approx(0.763407, abs=1e-6)
    # 0 successes: lower end is 0, upper z^2/(n+z^2)
    w0 = wilson(0, 100)
    assert w0.ci_low == 0.0
    assert w0.ci_high == pytest.approx(Z95**2 / (100 + Z95**2), rel=1e-12)
    w1 = wilson(100, 100)
    assert w1.ci_high == 1.0
    assert math.isnan(wilson(0, 0).estimate)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_mean_from_sums_matches_direct_computation():
    values = [1, 2, 2, 3, 7, 0, 0, 1]
    m = mean_from_sums(sum(values), sum(v * v for v in values), len(values))
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    assert m.estimate == pytest.approx(mean)
    assert m.stderr == pytest.approx(math.sqrt(var / len(values)))
    assert m.n == len(values)


def test_mean_from_sums_integer_path_is_exact_for_tiny_variance():
    # 10^9 values of 2 and a single 3: float cancellation would lose the variance
    n = 10**9
    total = 2 * n + 1
    total_sq = 4 * n + 5
    m = mean_from_sums(total, float(total_sq), n + 1)
    expected_var = (total_sq - total**2 / (n + 1)) / n
    assert m.stderr == pytest.approx(math.sqrt(expected_var / (n + 1)), rel=1e-9)
