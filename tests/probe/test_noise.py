"""Background noise intervals: formula, floors, and coverage of the predictive interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mcstudy.probe.noise import background, burst_size, poisson_upper, row_level


def test_row_level_is_bonferroni():
    assert row_level(28) == pytest.approx(1 - 0.05 / 28)
    with pytest.raises(ValueError):
        row_level(0)


def test_poisson_upper_garwood():
    assert poisson_upper(0) == pytest.approx(3.6889, abs=1e-4)  # -ln(0.025)
    assert poisson_upper(10) == pytest.approx(18.390, abs=1e-3)


def test_predictive_interval_formula():
    xs = [10.0, 12.0, 9.0, 11.0, 13.0, 8.0, 10.0, 11.0]
    bg = background(xs, 0.95)
    s2 = np.var(xs, ddof=1)
    assert bg.mean == pytest.approx(np.mean(xs))
    # under-dispersed counts: the Poisson floor (upper bound of the mean) sets the noise
    assert bg.poisson_floor
    q = stats.t.ppf(0.975, 7)
    v = max(s2, poisson_upper(sum(xs)) / 8)
    assert bg.halfwidth == pytest.approx(q * math.sqrt(v * (1 + 1 / 8)))


def test_silent_background_keeps_a_poisson_floor():
    bg = background([0.0] * 8, 0.99)
    assert bg.poisson_floor and bg.sd == pytest.approx(math.sqrt(poisson_upper(0) / 8))
    assert bg.halfwidth > 1.0
    exact = background([0.0] * 8, 0.99, poisson=False)
    assert exact.halfwidth == 0.0 and not exact.poisson_floor


def test_burst_floor():
    assert burst_size([]) == 0.0 and burst_size([[]]) == 0.0
    assert burst_size([[0, 1, 0, -250, 2]]) == 250
    # each group against its own median: long windows' steady counts are not jumps
    assert burst_size([[50, 52, 49, 51], [0, 1, 0, 300]]) == 299.5
    bg = background([0.0, 1.0, 0.0, 1.0], 0.95, burst=299.5)
    assert bg.halfwidth == 299.5 and bg.burst_floor
    assert not background([0.0, 1.0, 0.0, 1.0], 0.95).burst_floor


def test_predictive_interval_covers_poisson_background():
    # fixed seed: the phase's background falls inside the interval at least at the level
    rng = np.random.default_rng(20230419)
    level, trials, k = 0.95, 4000, 8
    hits = 0
    for _ in range(trials):
        lam = rng.uniform(0.5, 40.0)
        base = rng.poisson(lam, k).astype(float)
        phase = float(rng.poisson(lam))
        bg = background(list(base), level)
        hits += abs(phase - bg.mean) <= bg.halfwidth
    coverage = hits / trials
    se = math.sqrt(level * (1 - level) / trials)
    assert coverage >= level - 4 * se
