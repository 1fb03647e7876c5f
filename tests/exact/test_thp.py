"""Exact THP / IPI solvers against brute-force chains, enumeration and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from mcstudy.exact.gather import fallbacks_pmf, gather_exact
from mcstudy.exact.thp import (
    IpiInput,
    PopulationInput,
    cache_chain_mmpp,
    cache_level_law,
    compound_poisson_pmf,
    env_generator,
    expected_max_of_iid,
    gather_fallbacks_pgf,
    hit_prob_modulated,
    ipi_exact,
    lifetime_law,
    modulated_means,
    pmf_quantile,
    population_exact,
    sojourn_mean,
    thinned_pmf,
)


def _stationary(gen: np.ndarray) -> np.ndarray:
    a = gen.T.copy()
    a[-1, :] = 1.0
    b = np.zeros(len(gen))
    b[-1] = 1.0
    return np.linalg.solve(a, b)


def test_env_generator_fraction_and_episode_length():
    q, pi = env_generator(0.2, 5.0)
    assert pi @ q == pytest.approx([0.0, 0.0], abs=1e-15)
    assert pi[1] == pytest.approx(0.2)
    assert 1.0 / q[1, 0] == pytest.approx(5.0)  # mean episode
    assert 1.0 / q[0, 1] == pytest.approx(20.0)  # mean calm period: 5 (1 - 0.2) / 0.2
    q0, pi0 = env_generator(0.0, 5.0)
    assert (q0 == 0).all() and list(pi0) == [1.0, 0.0]
    with pytest.raises(ValueError):
        env_generator(1.0, 5.0)


def test_modulated_means_equal_truncated_env_population_chain():
    """E[N; env] of the Markov-modulated M/M/inf queue against the (env, N) chain."""
    lam, nu, phi, ep = 3.0, np.array([0.5, 1.7]), 0.3, 2.0
    q, pi = env_generator(phi, ep)
    nmax = 80
    size = 2 * (nmax + 1)
    gen = np.zeros((size, size))
    for e in range(2):
        for n in range(nmax + 1):
            a = e * (nmax + 1) + n
            gen[a, (1 - e) * (nmax + 1) + n] += q[e, 1 - e]
            if n < nmax:
                gen[a, a + 1] += lam
            if n > 0:
                gen[a, a - 1] += n * nu[e]
    gen -= np.diag(gen.sum(axis=1))
    law = _stationary(gen).reshape(2, nmax + 1)
    brute = law @ np.arange(nmax + 1)
    m = modulated_means(lam * pi, nu, q)
    np.testing.assert_allclose(m, brute, rtol=1e-10)


def test_population_exact_poisson_cases_and_flags():
    sig = np.array([[0.1, 0.1], [0.2, 0.2], [0.1, 0.1]])
    base = dict(
        fault_rate=4.0,
        zero_fault_rate=1.0,
        collapse_rate=0.5,
        lifetime_s=2.0,
        lifetime_dist="exponential",
        lifetime_shape=1.0,
        sig=sig,
        fork_rate=0.0,
        fork_copy_prob=0.0,
        fork_child_lifetime_s=1.0,
        pressure_fraction=0.0,
        pressure_episode_s=1.0,
    )
    pop = population_exact(PopulationInput(**base))
    assert pop.exact and pop.poisson
    assert pop.means[0, 0] == pytest.approx(4.5 / (0.5 + 0.1))
    assert pop.means[1, 0] == pytest.approx(1.0 / (0.5 + 0.2))
    # unmodulated pressure episodes change nothing
    pop2 = population_exact(PopulationInput(**{**base, "pressure_fraction": 0.3}))
    assert pop2.mean == pytest.approx(pop.mean) and pop2.poisson
    # deferred splits under pressure: exact means, not Poisson
    sig_d = sig.copy()
    sig_d[0, 1] += 1.0
    pop3 = population_exact(PopulationInput(**{**base, "sig": sig_d, "pressure_fraction": 0.3}))
    assert pop3.exact and not pop3.poisson and pop3.mean < pop.mean
    # forks: mean by Little's law on the copies, not Poisson
    pop4 = population_exact(PopulationInput(**{**base, "fork_rate": 0.5, "fork_copy_prob": 0.2}))
    feed = 0.5 * 0.2 * (pop.means[0, 0] + pop.means[1, 0])
    assert pop4.means[2, 0] == pytest.approx(feed / (1.0 + 0.1))
    assert pop4.exact and not pop4.poisson
    # heavy tails: insensitivity gives a Poisson law with mean lambda E[min(X, Exp(sigma))]
    pop5 = population_exact(
        PopulationInput(**{**base, "lifetime_dist": "pareto", "lifetime_shape": 2.5})
    )
    assert pop5.poisson
    assert pop5.means[0, 0] == pytest.approx(4.5 * sojourn_mean("pareto", 2.0, 2.5, 0.1))
    # heavy tails under modulation: no exact value
    pop6 = population_exact(
        PopulationInput(
            **{**base, "lifetime_dist": "lognormal", "sig": sig_d, "pressure_fraction": 0.3}
        )
    )
    assert not pop6.exact


@pytest.mark.parametrize(("dist", "shape"), [("lognormal", 1.5), ("pareto", 1.8), ("pareto", 3.0)])
@pytest.mark.parametrize("sigma", [0.0, 0.01, 1.0])
def test_sojourn_mean_two_integral_forms(dist, shape, sigma):
    """E[min(X, Exp(sigma))]: survival-function integral vs E[(1 - exp(-sigma X)) / sigma]."""
    mean = 10.0
    law = lifetime_law(dist, mean, shape)
    assert law.mean() == pytest.approx(mean)
    got = sojourn_mean(dist, mean, shape, sigma)
    if sigma == 0.0:
        assert got == mean
        return
    other, _ = integrate.quad(
        lambda x: -math.expm1(-sigma * x) / sigma * law.pdf(x), 0, np.inf, limit=500
    )
    assert got == pytest.approx(other, rel=1e-6)
    assert sojourn_mean("exponential", mean, 1.0, sigma) == pytest.approx(1 / (1 / mean + sigma))


def test_cache_level_law_matches_birth_death_chain():
    k, rho, s = 5, 0.7, 1.3
    gen = np.zeros((k + 1, k + 1))
    for i in range(k + 1):
        if i < k:
            gen[i, i + 1] = rho
        if i > 0:
            gen[i, i - 1] = s
    gen -= np.diag(gen.sum(axis=1))
    np.testing.assert_allclose(cache_level_law(k, rho, s), _stationary(gen), rtol=1e-12)
    assert cache_level_law(0, rho, s).tolist() == [1.0]
    assert cache_level_law(3, 0.0, s)[0] == 1.0


def test_cache_chain_mmpp_reduces_to_unmodulated_law():
    law = cache_level_law(4, 0.8, 2.0)
    fails, miss, level = cache_chain_mmpp(4, 0.8, (2.0, 2.0), (0.3, 0.3), 0.0, 1.0)
    assert miss == pytest.approx(law[0])
    assert fails == pytest.approx(2.0 * law[0] * 0.3)
    assert level == pytest.approx(np.arange(5) @ law)
    # equal rates in both environments: the environment does not matter
    fails2, miss2, _ = cache_chain_mmpp(4, 0.8, (2.0, 2.0), (0.3, 0.3), 0.4, 3.0)
    assert fails2 == pytest.approx(fails) and miss2 == pytest.approx(miss)
    # heavier use in pressure drains the cache: more misses than the average rate would give
    _, miss3, _ = cache_chain_mmpp(4, 0.8, (0.5, 5.0), (0.0, 1.0), 0.2, 30.0)
    assert miss3 > cache_level_law(4, 0.8, 0.8 * 0.5 + 0.2 * 5.0)[0]


@pytest.mark.parametrize(("n", "p", "batch"), [(1, 0.3, 509), (7, 0.4, 3), (64, 0.05, 5)])
@pytest.mark.parametrize("z", [0.0, 0.37, 1.0])
def test_gather_pgf_matches_pmf(n, p, batch, z):
    pmf = fallbacks_pmf(n, p, batch)
    assert gather_fallbacks_pgf(n, p, batch, z) == pytest.approx(
        float(pmf @ z ** np.arange(len(pmf))), rel=1e-12, abs=1e-15
    )


def test_thinned_pmf_equals_binomial_mixture():
    pmf = fallbacks_pmf(12, 0.3, 4)
    keep = 0.35
    direct = np.zeros(len(pmf))
    for f, w in enumerate(pmf):
        direct[: f + 1] += w * stats.binom.pmf(np.arange(f + 1), f, keep)
    np.testing.assert_allclose(thinned_pmf(pmf, keep), direct, atol=1e-15)
    np.testing.assert_array_equal(thinned_pmf(pmf, 1.0), pmf)


def test_compound_poisson_pmf_equals_direct_mixture():
    sev = np.array([0.2, 0.5, 0.0, 0.3])
    lam = 1.7
    got = compound_poisson_pmf(lam, sev)
    # direct: sum over the number of events of Poisson weight x n-fold convolution
    direct = np.zeros(40)
    conv = np.array([1.0])
    for n in range(60):
        w = stats.poisson.pmf(n, lam)
        direct[: min(len(conv), 40)] += w * conv[:40]
        conv = np.convolve(conv, sev)
    np.testing.assert_allclose(got[:40], direct, atol=1e-14)
    assert got.sum() == pytest.approx(1.0, abs=1e-12)
    # Poisson thinning: Bernoulli(q) severities give Poisson(lam q)
    thin = compound_poisson_pmf(2.5, np.array([0.6, 0.4]))
    np.testing.assert_allclose(thin[:30], stats.poisson.pmf(np.arange(30), 1.0), atol=1e-14)


def test_expected_max_and_quantile():
    pmf = stats.poisson.pmf(np.arange(60), 2.0)
    # n = 2 by enumeration
    cdf = np.cumsum(pmf)
    e2 = sum(k * (cdf[k] ** 2 - (cdf[k - 1] ** 2 if k else 0.0)) for k in range(60))
    assert expected_max_of_iid(pmf, 2) == pytest.approx(e2, rel=1e-12)
    assert expected_max_of_iid(pmf, 1) == pytest.approx(2.0, rel=1e-12)
    assert pmf_quantile(pmf, 0.99) == stats.poisson.ppf(0.99, 2.0)


def test_hit_prob_modulated_limits():
    q, pi = env_generator(0.3, 2.0)
    assert hit_prob_modulated(q, pi, np.array([4.0, 4.0]), 0.1) == pytest.approx(
        1 - math.exp(-0.4), rel=1e-12
    )
    q0, pi0 = env_generator(0.0, 2.0)
    assert hit_prob_modulated(q0, pi0, np.array([4.0, 0.0]), 0.1) == pytest.approx(
        1 - math.exp(-0.4), rel=1e-12
    )
    # slow environment: a mixture of the two Poisson hit probabilities
    qs, pis = env_generator(0.3, 1e9)
    mix = 0.7 * (1 - math.exp(-0.1)) + 0.3 * (1 - math.exp(-1.0))
    assert hit_prob_modulated(qs, pis, np.array([1.0, 10.0]), 0.1) == pytest.approx(mix, rel=1e-6)


def _ipi(**kw) -> IpiInput:
    base = dict(
        collapse_rate=2.0,
        collapse_policy="sync_ipi",
        deposit=True,
        fresh_nowait=False,
        khugepaged_sync=True,
        uses_trt=True,
        fallback_ipi=True,
        ipi_policy="broadcast",
        gather_rate=0.0,
        tables_per_gather=64,
        max_table_batch=509,
        nowait_p=(0.1, 1.0),
        rt_mm_share=0.5,
        kernel_prob=0.2,
        pressure_fraction=0.0,
        pressure_episode_s=1.0,
        rt_cycle_s=1e-3,
        sync_round_s=0.0,
        cycles=1000,
    )
    base.update(kw)
    return IpiInput(**base)


@pytest.mark.parametrize(
    ("kw", "rounds", "iso", "fresh", "rcu"),
    [
        ({}, 2.0, 2.0, 0.0, 0.0),
        ({"ipi_policy": "mm_cpumask"}, 2.0, 1.0, 0.0, 0.0),
        ({"ipi_policy": "kernel_mode"}, 2.0, 0.2, 0.0, 0.0),
        ({"ipi_policy": "rcu"}, 0.0, 0.0, 0.0, 0.0),
        ({"khugepaged_sync": False}, 0.0, 0.0, 0.0, 0.0),
        # fresh table: the old one goes through a gather of one table: a round iff it fails
        ({"collapse_policy": "fresh_table"}, 0.2, 0.2, 0.0, 0.0),
        ({"collapse_policy": "fresh_table", "fallback_ipi": False}, 0.0, 0.0, 0.0, 0.2),
        ({"collapse_policy": "fresh_table", "uses_trt": False}, 0.0, 0.0, 0.0, 0.0),
        # a GFP_NOWAIT fresh table fails with 0.1: mainline sync; else the gather of one
        ({"collapse_policy": "fresh_table", "fresh_nowait": True}, 0.2 + 1.8 * 0.1, 0.38, 0.2, 0),
        (
            {"collapse_policy": "fresh_table", "fresh_nowait": True, "deposit": False},
            0.2,
            0.2,
            0,
            0,
        ),
        ({"collapse_policy": "rcu_free"}, 0.0, 0.0, 0.0, 2.0),
        ({"collapse_policy": "rcu_free", "fresh_nowait": True}, 0.2, 0.2, 0.2, 1.8),
    ],
)
def test_collapse_ipis_by_policy(kw, rounds, iso, fresh, rcu):
    ex = ipi_exact(_ipi(**kw))
    assert ex.collapse_rounds_per_s == pytest.approx(rounds)
    assert ex.isolated_collapse_per_s == pytest.approx(iso)
    assert ex.fresh_failures_per_s == pytest.approx(fresh)
    assert ex.rcu_frees_per_s == pytest.approx(rcu)
    assert ex.fallback_rounds_per_s == 0.0


def test_gather_fallback_ipis_and_cycle_law():
    inp = _ipi(
        collapse_rate=0.0,
        gather_rate=30.0,
        tables_per_gather=20,
        max_table_batch=6,
        nowait_p=(0.3, 1),
    )
    ex = ipi_exact(inp)
    f = gather_exact(20, 0.3, 6).fallbacks_mean
    assert ex.fallback_rounds_per_s == pytest.approx(30.0 * f)
    assert ex.isolated_fallback_per_s == pytest.approx(30.0 * f)
    # broadcast, instantaneous bursts: P(hit) = 1 - exp(-rate P P(F >= 1))
    pf = gather_exact(20, 0.3, 6).fallback_prob
    assert ex.hit_prob == pytest.approx(1 - math.exp(-30.0 * 1e-3 * pf), rel=1e-10)
    assert ex.cycle_pmf[0] == pytest.approx(1 - ex.hit_prob, rel=1e-10)
    mean = float(np.arange(len(ex.cycle_pmf)) @ ex.cycle_pmf)
    assert mean == pytest.approx(30.0 * 1e-3 * f, rel=1e-10)
    # kernel_mode: the per-cycle mean is thinned by rt_mm_share x P(kernel mode)
    km = ipi_exact(_ipi(**{**inp.__dict__, "ipi_policy": "kernel_mode"}))
    assert float(np.arange(len(km.cycle_pmf)) @ km.cycle_pmf) == pytest.approx(
        mean * 0.5 * 0.2, rel=1e-10
    )
    # spread bursts: no exact hit probability
    assert math.isnan(ipi_exact(_ipi(**{**inp.__dict__, "sync_round_s": 1e-5})).hit_prob)
