"""Grid sensitivity indices against cases with known answers (4 SE / fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest

from mcstudy.report.sensitivity import grid_sensitivity

DIMS = ["a", "b"]


def grid(f, la: int = 5, lb: int = 4) -> np.ndarray:
    a = np.linspace(0.0, 1.0, la)[:, None]
    b = np.linspace(0.0, 1.0, lb)[None, :]
    return f(a, b) + np.zeros((la, lb))


def test_additive_function_has_exact_first_order_shares() -> None:
    # y = 3a + b: no interaction, shares are the variances of the two terms
    y = grid(lambda a, b: 3 * a + b)
    res = grid_sensitivity("y", y, np.zeros_like(y), DIMS)
    va = np.var(3 * np.linspace(0, 1, 5))
    vb = np.var(np.linspace(0, 1, 4))
    a, b = res.indices
    assert a.first == pytest.approx(va / (va + vb), rel=1e-12)
    assert b.first == pytest.approx(vb / (va + vb), rel=1e-12)
    assert a.total == pytest.approx(a.first, rel=1e-12)
    assert b.total == pytest.approx(b.first, rel=1e-12)
    assert res.noise_share == 0.0
    assert [ix.dim for ix in res.ranked()] == ["a", "b"]
    assert a.effect_range == pytest.approx(3.0)


def test_pure_interaction_has_zero_first_order() -> None:
    # y = (a - 1/2)(b - 1/2) on symmetric levels: all variance is interaction
    y = grid(lambda a, b: (a - 0.5) * (b - 0.5))
    res = grid_sensitivity("y", y, np.zeros_like(y), DIMS)
    for ix in res.indices:
        assert abs(ix.first) < 1e-12
        assert ix.total == pytest.approx(1.0, rel=1e-12)


def test_noise_is_removed_and_covered_by_the_interval() -> None:
    # y = a + noise: b has no effect. The noise-corrected S_a is unbiased for 1 (its
    # spread over grids is about 0.041 here), and b's interval covers 0.
    rng = np.random.default_rng(5)
    truth = grid(lambda a, b: a, 6, 6)
    se = np.full(truth.shape, 0.15)
    trials = 40
    first_a, resolved_b, covered_a = [], 0, 0
    for _ in range(trials):
        y = truth + se * rng.standard_normal(truth.shape)
        res = grid_sensitivity("y", y, se, DIMS, n_boot=100)
        a, b = res.indices
        first_a.append(a.first)
        resolved_b += b.resolved
        covered_a += a.first_lo <= 1.0 <= a.first_hi
        assert 0.0 < res.noise_share < 1.0
    mean_se = np.std(first_a) / np.sqrt(trials)
    assert abs(np.mean(first_a) - 1.0) < 4 * mean_se
    assert np.std(first_a) < 0.06
    assert resolved_b <= 0.1 * trials
    assert covered_a >= 0.85 * trials


def test_unusable_inputs() -> None:
    y = grid(lambda a, b: a + b)
    assert grid_sensitivity("y", np.full_like(y, 2.0), np.zeros_like(y), DIMS) is None
    y2 = y.copy()
    y2[0, 0] = np.nan
    assert grid_sensitivity("y", y2, np.zeros_like(y), DIMS) is None
    with pytest.raises(ValueError):
        grid_sensitivity("y", y, np.zeros((2, 2)), DIMS)
