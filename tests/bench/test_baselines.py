"""The benchmark baselines simulate the same models as the kernels (checked at 4 SE).

A baseline that computed something else would make its speed meaningless, so each is
checked against the exact solvers before the benchmark trusts it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcstudy.bench.baselines.gather_numpy import simulate_gathers_numpy
from mcstudy.bench.baselines.gather_python import simulate_gathers_per_attempt
from mcstudy.bench.baselines.pressure_numpy import simulate_pressure_numpy
from mcstudy.bench.baselines.pressure_simpy import simulate_pressure_simpy
from mcstudy.exact.gather import gather_exact
from mcstudy.exact.pressure import ZoneChain, solve

Z = 4.0  # tolerance in standard errors

GATHER = {"n_tables": 1100, "fail_p": 0.3, "max_table_batch": 509}


def _check_gather(tot, ipi_targets, deliver_prob):
    ex = gather_exact(GATHER["n_tables"], GATHER["fail_p"], GATHER["max_table_batch"])
    n = tot.sequences
    mean_f = tot.fallbacks / n
    assert abs(mean_f - ex.fallbacks_mean) <= Z * math.sqrt(ex.fallbacks_var / n)
    mean_a = tot.alloc_attempts / n
    assert abs(mean_a - ex.alloc_attempts_mean) <= Z * math.sqrt(ex.alloc_attempts_var / n)
    hit = tot.gathers_with_fallback / n
    q = ex.fallback_prob
    assert abs(hit - q) <= Z * math.sqrt(q * (1 - q) / n)
    ipi_mean = ex.fallbacks_mean * ipi_targets * deliver_prob
    ipi = tot.sync_ipis / n
    ipi_sd = math.sqrt(max(tot.sync_ipis_sq / n - ipi**2, 1e-12))
    assert abs(ipi - ipi_mean) <= Z * ipi_sd / math.sqrt(n)


@pytest.mark.parametrize("deliver_prob", [1.0, 0.25])
def test_gather_per_attempt_python_matches_exact(deliver_prob):
    tot = simulate_gathers_per_attempt(
        3, 20_000, **GATHER, ipi_targets=3, deliver_prob=deliver_prob
    )
    assert tot.sequences == 20_000
    _check_gather(tot, 3, deliver_prob)


@pytest.mark.parametrize("deliver_prob", [1.0, 0.25])
def test_gather_numpy_matches_exact(deliver_prob):
    tot = simulate_gathers_numpy(
        4, 50_000, **GATHER, ipi_targets=3, deliver_prob=deliver_prob, chunk=16_384
    )
    assert tot.sequences == 50_000  # several chunks, the last one partial
    _check_gather(tot, 3, deliver_prob)


def test_gather_baselines_degenerate_cases():
    one = simulate_gathers_per_attempt(1, 10, 5, 1.0, 509, 2, 1.0)
    assert (one.fallbacks, one.alloc_attempts, one.sync_ipis) == (50, 50, 100)
    none = simulate_gathers_numpy(1, 10, 1018, 0.0, 509)
    assert (none.fallbacks, none.alloc_attempts, none.gathers_with_fallback) == (0, 20, 0)


# A small chain that crosses its watermarks often (fast mixing, cheap to solve exactly).
CHAIN = ZoneChain(
    managed_pages=40,
    wmark_min=4,
    wmark_low=8,
    wmark_high=12,
    alloc_rate=1.0,
    free_rate=0.8,
    kswapd_rate=0.1,
    gather_rate=0.5,
    reclaim_batch=4,
    direct_reclaim_batch=4,
)


def _event_rate(ex) -> float:
    """Stationary events per second: every clock, kswapd's only while awake."""
    c = CHAIN
    return c.alloc_rate + c.free_rate + c.gather_rate + c.kswapd_rate * ex.kswapd_awake_prob


def _z(values: np.ndarray, exact: float) -> float:
    return abs(values.mean() - exact) / (values.std(ddof=1) / math.sqrt(values.size))


def test_pressure_simpy_matches_exact_stationary_chain():
    ex = solve(CHAIN)
    rows = []
    for seed in range(12):
        t = simulate_pressure_simpy(CHAIN, 3000.0, seed, burn_in=1000.0)
        assert t.time == pytest.approx(3000.0)
        assert t.events == t.allocations + t.frees + t.gathers + t.reclaims
        rows.append(
            (
                t.events / t.time,
                t.below_min_time / t.time,
                t.awake_time / t.time,
                t.stalls / t.time,
                t.kswapd_wakeups / t.time,
                t.failed_gathers / max(t.gathers, 1),
            )
        )
    a = np.array(rows)
    assert _z(a[:, 0], _event_rate(ex)) <= Z
    assert _z(a[:, 1], ex.below_min_prob) <= Z
    assert _z(a[:, 2], ex.kswapd_awake_prob) <= Z
    assert _z(a[:, 3], ex.stalls_per_s) <= Z
    assert _z(a[:, 4], ex.kswapd_wakeups_per_s) <= Z
    assert _z(a[:, 5], ex.below_min_prob) <= Z  # PASTA: gathers fail as often as f <= min


def test_pressure_numpy_matches_exact_stationary_chain():
    ex = solve(CHAIN)
    tot, below = simulate_pressure_numpy(CHAIN, 1500, 2048, 5, burn_in_steps=2500)
    assert tot.events == 1500 * 2048
    assert tot.events == tot.allocations + tot.frees + tot.gathers + tot.reclaims
    assert _z(below, ex.below_min_prob) <= Z
    assert tot.events / tot.time == pytest.approx(_event_rate(ex), rel=0.02)
    assert tot.awake_time / tot.time == pytest.approx(ex.kswapd_awake_prob, abs=0.02)


def test_pressure_baselines_reject_extensions():
    bursty = ZoneChain(**{**vars(CHAIN), "alloc_batch_pages": 2})
    with pytest.raises(ValueError, match="reference chain"):
        simulate_pressure_simpy(bursty, 1.0, 0)
    with pytest.raises(ValueError, match="reference chain"):
        simulate_pressure_numpy(bursty, 1, 1, 0)


def test_pressure_baselines_start_at_initial_free():
    # the first holding time is spent where the chain starts
    _, below = simulate_pressure_numpy(CHAIN, 1, 500, 2, initial_free=0)
    assert np.all(below == 1.0)
    _, below = simulate_pressure_numpy(CHAIN, 1, 500, 2)  # default: all N pages free
    assert np.all(below == 0.0)
    t = simulate_pressure_simpy(CHAIN, 1e-9, 3, initial_free=CHAIN.wmark_min)
    assert t.events == 0 and t.below_min_time == t.time == pytest.approx(1e-9)
    for bad in (-1, CHAIN.managed_pages + 1):
        with pytest.raises(ValueError, match="initial_free"):
            simulate_pressure_simpy(CHAIN, 1.0, 0, initial_free=bad)
        with pytest.raises(ValueError, match="initial_free"):
            simulate_pressure_numpy(CHAIN, 1, 1, 0, initial_free=bad)
