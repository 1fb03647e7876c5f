"""The exact binomial sampler against scipy's distribution (chi-square and moments)."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import stats

from mcstudy.engine.rng import stream_new
from mcstudy.engine.sampling import binomial, poisson


@njit
def _draw_binomials(n, p, count, seed):
    st = stream_new(seed, 0, 0, 0)
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        out[i] = binomial(st, n, p)
    return out


@pytest.mark.parametrize(
    ("n", "p"),
    [(5, 0.3), (63, 0.1), (40, 0.9), (1000, 0.25), (100_000, 0.01), (500, 0.5)],
)
def test_binomial_chi_square(n, p):
    draws = _draw_binomials(n, p, 200_000, 17)
    assert draws.min() >= 0 and draws.max() <= n
    dist = stats.binom(n, p)
    lo, hi = int(dist.ppf(1e-4)), int(dist.ppf(1 - 1e-4))
    edges = np.arange(lo, hi + 2)
    observed = np.array(
        [(draws < lo).sum()] + [(draws == k).sum() for k in edges[:-1]] + [(draws > hi).sum()]
    )
    expected_p = np.concatenate([[dist.cdf(lo - 1)], dist.pmf(edges[:-1]), [dist.sf(hi)]])
    expected = expected_p * len(draws)
    # pool cells with small expectation into their neighbours
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    chi2 = ((obs - exp) ** 2 / exp).sum()
    # fixed seed: deterministic; reject only far in the tail (p-value 1e-4)
    assert stats.chi2.sf(chi2, len(obs) - 1) > 1e-4


def test_binomial_edge_cases():
    assert (_draw_binomials(10, 0.0, 10, 1) == 0).all()
    assert (_draw_binomials(10, 1.0, 10, 1) == 10).all()
    assert (_draw_binomials(0, 0.5, 10, 1) == 0).all()


def test_binomial_mean_within_4_standard_errors_large_n():
    n, p, count = 10**7, 0.3, 100_000
    draws = _draw_binomials(n, p, count, 5)
    se = (n * p * (1 - p) / count) ** 0.5
    assert abs(draws.mean() - n * p) < 4 * se


@njit
def _draw_poissons(mean, count, seed):
    st = stream_new(seed, 1, 0, 0)
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        out[i] = poisson(st, mean)
    return out


@pytest.mark.parametrize("mean", [0.3, 4.0, 9.9, 10.0, 57.0, 5000.0])
def test_poisson_chi_square(mean):
    draws = _draw_poissons(mean, 200_000, 23)
    dist = stats.poisson(mean)
    lo, hi = int(dist.ppf(1e-4)), int(dist.ppf(1 - 1e-4))
    ks = np.arange(lo, hi + 1)
    observed = np.array(
        [(draws < lo).sum()] + [(draws == k).sum() for k in ks] + [(draws > hi).sum()]
    )
    expected = np.concatenate([[dist.cdf(lo - 1)], dist.pmf(ks), [dist.sf(hi)]]) * len(draws)
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] == 0:
        obs, exp = obs[:-1], exp[:-1]
    # fixed seed: deterministic; reject only far in the tail (p-value 1e-4)
    assert stats.chi2.sf(((obs - exp) ** 2 / exp).sum(), len(obs) - 1) > 1e-4
    assert (_draw_poissons(0.0, 5, 1) == 0).all()
