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


def test_a_time_fraction_seen_by_few_sequences_covers_with_their_degrees_of_freedom():
    """A time fraction from 16 sequences of which about 7 reach the mark (each a skewed
    share of time, gamma with CV 0.88; the host's GFP_ATOMIC fraction): Student's t at
    n - 1 = 15 degrees of freedom covers about 93 %, at the k sequences that saw it
    about 95.5 %. 4000 replications, tolerance 4 standard errors of a 95 % coverage."""
    import numpy as np

    from mcstudy.stats.proportion import wilson_design_interval

    rng = np.random.default_rng(19)
    n, reps, pi, shape, scale = 16, 4000, 0.45, 1.3, 1e-3
    exact = pi * shape * scale
    hit = rng.random((reps, n)) < pi
    x = hit * rng.gamma(shape, scale, (reps, n))
    m, se, k = x.mean(1), x.std(1, ddof=1) / math.sqrt(n), hit.sum(1)

    def coverage(seen: bool) -> float:
        ok = 0
        for i in range(reps):
            lo, hi = wilson_design_interval(m[i], se[i], n, float(n), int(k[i]) if seen else None)
            ok += lo <= exact <= hi
        return ok / reps

    tol = 4 * math.sqrt(0.95 * 0.05 / reps)
    assert abs(coverage(True) - 0.95) <= tol
    assert coverage(False) < 0.95 - tol
