"""THP model: Monte Carlo against the exact values (tolerance 4 standard errors, fixed
seeds, so deterministic), policy invariants, and reproducibility."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from scipy import stats

from mcstudy.exact.thp import sojourn_mean
from tests.paths import REPO
from tests.simulate import simulate_model


def simulate(params: dict, sequences: int, seed: int = 1, point: int = 0, block_size: int = 8):
    return simulate_model("thp", params, sequences, seed, point, block_size)


def within(est: float, exact: float, se: float, k: float = 4.0) -> bool:
    return abs(est - exact) <= k * se


# a small host: mean 20 PMD-mapped THPs
SMALL = {
    "horizon_s": 20.0,
    "fault_rate": 8.0,
    "lifetime_s": 2.0,
    "munmap_split_rate": 0.1,
    "madvise_split_rate": 0.05,
    "collapse_rate": 1.0,
    "online_cpus": 8,
    "isolated_cpus": 2,
    "mm_cpus": 3,
}


@pytest.mark.parametrize(
    "extra",
    [
        {},  # exponential lifetimes: the aggregated chain
        {"lifetime_dist": "lognormal", "lifetime_shape": 1.2},  # individual THPs
        {"lifetime_dist": "pareto", "lifetime_shape": 2.5},
    ],
    ids=["exponential", "lognormal", "pareto"],
)
def test_deposit_count_is_poisson_in_steady_state(extra):
    """docs/model.md §5.3 and M/G/inf insensitivity: N(t) ~ Poisson(lambda E[min(X, Exp(sigma))])."""
    params = {**SMALL, **extra}
    n = 3000
    _, est, ex = simulate(params, n, seed=11)
    sig = 0.15
    lam = 9.0
    mean = lam * sojourn_mean(params.get("lifetime_dist", "exponential"), 2.0,
                              params.get("lifetime_shape", 1.0), sig)  # fmt: skip
    assert ex["thp_mean_exact"] == pytest.approx(mean, rel=1e-9)
    assert ex["thp_var_exact"] == pytest.approx(mean, rel=1e-9)
    # N at the end of the horizon: mean and variance (Poisson: Var(s^2) = (m + 2 m^2) / n)
    assert within(est["thp_end_mean"], mean, math.sqrt(mean / n))
    assert within(est["thp_end_var"], mean, math.sqrt((mean + 2 * mean * mean) / n))
    # time averages: deposit bytes = 4096 x mappings
    assert within(est["thp_mean"], mean, est["thp_mean_stderr"])
    assert within(est["deposit_bytes_mean"], 4096 * mean, est["deposit_bytes_mean_stderr"])
    assert est["deposit_page_seconds"] == pytest.approx(est["deposit_bytes_mean"] / 4096 * 3600)
    # the time-p99 brackets the Poisson quantile
    p99 = stats.poisson.ppf(0.99, mean) * 4096
    assert ex["deposit_bytes_p99_exact"] == p99
    assert est["deposit_bytes_p99_ci_low"] <= p99 <= est["deposit_bytes_p99_ci_high"]
    assert est["deposit_bytes_peak"] > est["deposit_bytes_p99"] * 0.9


def test_deposit_share_is_one_512th_exactly():
    """One deposited table per PMD mapping through faults, zero page, collapses and forks."""
    params = {
        **SMALL,
        "zero_fault_rate": 3.0,
        "zero_write_rate": 0.2,
        "fork_rate": 0.5,
        "fork_copy_prob": 0.3,
        "fork_child_lifetime_s": 0.7,
        "pressure_fraction": 0.3,
        "pressure_episode_s": 1.0,
        "deferred_split_rate": 1.0,
    }
    for extra in ({}, {"lifetime_dist": "lognormal", "lifetime_shape": 1.0}):
        _, est, ex = simulate({**params, **extra}, 64)
        assert est["deposit_share_of_thp"] == 1 / 512 == ex["deposit_share_of_thp_exact"]
        assert est["deposit_bytes_mean"] == est["thp_mean"] * 4096  # exact in floating point
    # exponential: exact means with modulation and forks (not Poisson)
    _, est, ex = simulate(params, 1000, seed=4)
    assert math.isnan(ex["thp_var_exact"])
    assert within(est["thp_mean"], ex["thp_mean_exact"], est["thp_mean_stderr"])
    assert within(
        est["splits_per_hour"], ex["splits_per_hour_exact"], est["splits_per_hour_stderr"]
    )


def test_on_demand_failures_under_pressure_episodes_match_exact():
    params = {
        **SMALL,
        "table_policy": "on_demand",
        "deferred_split_rate": 1.5,
        "pressure_fraction": 0.2,
        "pressure_episode_s": 2.0,
        "gfp_nowait_fail_p": 0.02,
        "pressure_fail_p": 0.7,
    }
    _, est, ex = simulate(params, 2000, seed=5)
    for name in ("splits_per_hour", "split_alloc_failures_per_hour"):
        assert within(est[name], ex[f"{name}_exact"], est[f"{name}_stderr"]), name
    assert est["split_cache_miss_prob"] == 1.0
    assert ex["split_alloc_failures_per_hour_mmpp"] == pytest.approx(
        ex["split_alloc_failures_per_hour_exact"], rel=0.05
    )
    lo, hi = (
        est["split_alloc_failures_per_hour_ci_low"],
        est["split_alloc_failures_per_hour_ci_high"],
    )
    assert lo < est["split_alloc_failures_per_hour"] < hi
    # GFP_ATOMIC variant: its own probabilities
    atomic = {
        **params,
        "split_gfp": "atomic",
        "gfp_atomic_fail_p": 0.0,
        "pressure_atomic_fail_p": 0.2,
    }
    _, est_a, ex_a = simulate(atomic, 2000, seed=5)
    assert within(
        est_a["split_alloc_failures_per_hour"],
        ex_a["split_alloc_failures_per_hour_exact"],
        est_a["split_alloc_failures_per_hour_stderr"],
    )
    assert ex_a["split_alloc_failures_per_hour_exact"] < ex["split_alloc_failures_per_hour_exact"]


@pytest.mark.parametrize("cache_k", [1, 3])
def test_cache_k_matches_birth_death_exact(cache_k):
    params = {
        **SMALL,
        "table_policy": "cache_k",
        "cache_k": cache_k,
        "cache_refill_rate": 0.4,
        "split_cpus": 2,
        "gfp_nowait_fail_p": 0.5,
    }
    tallies, est, ex = simulate(params, 2000, seed=6)
    miss = ex["split_cache_miss_prob_exact"]
    n = tallies["splits"]
    assert 0.05 < miss < 0.9
    assert within(est["split_cache_miss_prob"], miss, math.sqrt(miss * (1 - miss) / n))
    assert within(
        est["split_alloc_failures_per_hour"],
        ex["split_alloc_failures_per_hour_exact"],
        est["split_alloc_failures_per_hour_stderr"],
    )
    assert within(
        est["reserve_bytes_mean"], ex["reserve_bytes_mean_exact"], est["reserve_bytes_mean_stderr"]
    )
    assert ex["split_alloc_failures_per_hour_mmpp"] == pytest.approx(
        ex["split_alloc_failures_per_hour_exact"], rel=1e-9
    )


def test_large_fast_cache_never_fails_and_on_demand_at_p1_always_fails():
    hard = {**SMALL, "gfp_nowait_fail_p": 1.0, "pressure_fail_p": 1.0}
    t_cache, est, _ = simulate(
        {
            **hard,
            "table_policy": "cache_k",
            "cache_k": 64,
            "cache_refill_rate": 100.0,
            "split_cpus": 1,
        },
        200,
    )
    assert t_cache["splits"] > 1000
    assert t_cache["split_failures"] == 0 and t_cache["cache_misses"] == 0
    assert est["reserve_bytes_mean"] == pytest.approx(64 * 4096, rel=0.01)
    t_od, est, ex = simulate({**hard, "table_policy": "on_demand"}, 200)
    assert t_od["splits"] > 1000
    assert t_od["split_failures"] == t_od["splits"] == t_od["cache_misses"]
    assert est["reserve_bytes_mean"] == 0.0
    t_dep, _, ex = simulate({**hard, "table_policy": "deposit"}, 200)
    assert t_dep["split_failures"] == 0 and ex["split_alloc_failures_per_hour_exact"] == 0.0
    # the THP population is the same under every policy (common random numbers)
    assert t_dep["splits"] == t_od["splits"] == t_cache["splits"]


def test_empty_cache_is_on_demand_bitwise():
    params = {
        **SMALL,
        "gfp_nowait_fail_p": 0.3,
        "pressure_fraction": 0.2,
        "deferred_split_rate": 1.0,
    }
    a, _, _ = simulate({**params, "table_policy": "on_demand"}, 50, seed=3)
    b, _, _ = simulate({**params, "table_policy": "cache_k", "cache_k": 0}, 50, seed=3)
    assert a["split_failures"] > 0
    assert a.as_dict() == b.as_dict()


RT = {
    "horizon_s": 30.0,
    "fault_rate": 0.0,
    "collapse_rate": 40.0,
    "rt_cycle_us": 10_000.0,
    "ipi_cost_us": 3.0,
    "online_cpus": 16,
    "isolated_cpus": 4,
    "mm_cpus": 5,
    "rt_mm_share": 0.5,
    "rt_user_fraction": 0.7,
    "kernel_mode_fraction": 0.25,
}


@pytest.mark.parametrize("policy", ["broadcast", "mm_cpumask", "kernel_mode", "rcu"])
def test_isolated_cpu_ipis_follow_poisson_thinning(policy):
    """Collapses are Poisson; each reaches the tagged isolated CPU independently."""
    _, est, ex = simulate({**RT, "ipi_policy": policy}, 400, seed=8)
    q1 = {"broadcast": 1.0, "mm_cpumask": 0.5, "kernel_mode": 0.5 * 0.3, "rcu": 0.0}[policy]
    rate = 40.0 * q1
    assert ex["isolated_cpu_ipis_per_s_exact"] == pytest.approx(rate)
    targets = {"broadcast": 15, "mm_cpumask": 4 + 4 * 0.5, "kernel_mode": 4 * 0.25 + 4 * 0.15}
    assert ex["collapse_ipis_per_s_exact"] == pytest.approx(
        (40.0 if policy != "rcu" else 0.0) * targets.get(policy, 0.0)
    )
    if policy == "rcu":
        assert est["isolated_cpu_ipis_per_s"] == 0.0 and est["rt_cycle_hit_prob"] == 0.0
        return
    assert within(est["isolated_cpu_ipis_per_s"], rate, est["isolated_cpu_ipis_per_s_stderr"])
    m = rate * 0.01  # per RT cycle
    hit = 1 - math.exp(-m)
    n = est["rt_cycles"]
    assert ex["rt_cycle_hit_prob_exact"] == pytest.approx(hit, rel=1e-12)
    assert within(est["rt_cycle_hit_prob"], hit, math.sqrt(hit * (1 - hit) / n))
    assert est["rt_cycle_ipis_p99"] == ex["rt_cycle_ipis_p99_exact"] == stats.poisson.ppf(0.99, m)
    assert within(
        est["rt_cycle_ipis_max"], ex["rt_cycle_ipis_max_exact"], est["rt_cycle_ipis_max_stderr"]
    )
    assert est["rt_added_latency_us_p99"] == est["rt_cycle_ipis_p99"] * 3.0


def test_gather_fallback_bursts_match_compound_poisson():
    """Instantaneous bursts of fallback rounds: per-cycle law from the Panjer recursion."""
    params = {
        **RT,
        "collapse_rate": 5.0,
        "gather_rate": 20.0,
        "tables_per_gather": 12,
        "max_table_batch": 4,
        "gfp_nowait_fail_p": 0.4,
        "sync_round_us": 0.0,
        "ipi_policy": "kernel_mode",
    }
    _, est, ex = simulate(params, 400, seed=9)
    for name in ("fallback_sync_per_s", "isolated_cpu_ipis_per_s", "collapse_sync_per_s"):
        assert within(est[name], ex[f"{name}_exact"], est[f"{name}_stderr"]), name
    hit = ex["rt_cycle_hit_prob_exact"]
    assert within(est["rt_cycle_hit_prob"], hit, math.sqrt(hit * (1 - hit) / est["rt_cycles"]))
    assert within(
        est["rt_cycle_ipis_max"], ex["rt_cycle_ipis_max_exact"], est["rt_cycle_ipis_max_stderr"]
    )
    assert est["rt_cycle_ipis_max_all"] >= est["rt_cycle_ipis_max"]


@pytest.mark.parametrize(
    ("kernel", "collapse_policy", "rounds", "rcu"),
    [
        ("v6.3-baremetal", "fresh_table", False, False),  # tlb_remove_page(): no batch page
        ("v6.14-pt-reclaim", "fresh_table", False, True),  # fallback by call_rcu()
        ("v6.15", "fresh_table", True, False),
        ("v6.15", "rcu_free", False, True),
    ],
)
def test_profiles_and_collapse_policies(kernel, collapse_policy, rounds, rcu):
    params = {
        **RT,
        "kernel": kernel,
        "collapse_policy": collapse_policy,
        "gfp_nowait_fail_p": 0.5,
        "gather_rate": 5.0,
        "tables_per_gather": 3,
    }
    tallies, est, ex = simulate(params, 100, seed=10)
    assert (tallies["collapse_rounds"] > 0) == rounds
    assert (tallies["fallback_rounds"] > 0) == (kernel == "v6.15")
    assert (tallies["rcu_frees"] > 0) == rcu
    assert within(
        est["rcu_held_bytes_mean"],
        ex["rcu_held_bytes_mean_exact"],
        est["rcu_held_bytes_mean_stderr"],
    )
    assert tallies["fresh_failures"] == 0  # fresh_table_gfp = "kernel" never fails


def test_fresh_table_nowait_failures_counted():
    params = {
        **RT,
        "collapse_policy": "fresh_table",
        "fresh_table_gfp": "nowait",
        "pressure_fraction": 0.25,
        "pressure_episode_s": 0.5,
    }
    _, est, ex = simulate(params, 300, seed=12)
    for name in ("fresh_alloc_failures_per_hour", "collapse_sync_per_s", "isolated_cpu_ipis_per_s"):
        assert within(est[name], ex[f"{name}_exact"], est[f"{name}_stderr"]), name
    assert ex["fresh_alloc_failures_per_hour_exact"] == pytest.approx(40.0 * 0.25 * 3600)


def test_reference_simulator_agrees():
    """Kernel (stationary start) vs the event-by-event reference (empty start + warm-up)."""
    from mcstudy.models.thp.params import ThpParams
    from mcstudy.reference.thp import simulate_thp_reference_many

    params = {
        **SMALL,
        "horizon_s": 15.0,
        "zero_fault_rate": 2.0,
        "zero_write_rate": 0.2,
        "deferred_split_rate": 0.5,
        "fork_rate": 0.3,
        "fork_copy_prob": 0.3,
        "fork_child_lifetime_s": 1.0,
        "pressure_fraction": 0.2,
        "pressure_episode_s": 2.0,
        "gfp_nowait_fail_p": 0.05,
        "pressure_fail_p": 0.8,
        "table_policy": "cache_k",
        "cache_k": 2,
        "cache_refill_rate": 0.5,
        "split_cpus": 3,
        "collapse_policy": "fresh_table",
        "gather_rate": 2.0,
        "tables_per_gather": 5,
        "max_table_batch": 2,
        "ipi_policy": "kernel_mode",
        "rt_mm_share": 0.6,
        "rt_user_fraction": 0.5,
        "rt_cycle_us": 50_000.0,
        "ipi_cost_us": 10_000.0,
        "lifetime_dist": "lognormal",
        "lifetime_shape": 0.8,
    }
    n = 300
    _, est, _ = simulate(params, n, seed=13)
    ref = simulate_thp_reference_many(14, n, ThpParams.model_validate({**params, "warmup_s": 25.0}))
    h = params["horizon_s"]

    def check(name: str, values: list[float], scale: float = 1.0) -> None:
        v = np.asarray(values, dtype=float)
        se = math.hypot(est[f"{name}_stderr"] / scale, v.std(ddof=1) / math.sqrt(len(v)))
        assert abs(est[name] / scale - v.mean()) <= 4 * se, name

    check("thp_mean", [o.thp_time_avg for o in ref])
    check("reserve_bytes_mean", [o.reserve_time_avg for o in ref], 4096)
    check("deposit_bytes_peak", [o.deposit_peak for o in ref], 4096)
    check("splits_per_hour", [o.splits / h * 3600 for o in ref])
    check("split_alloc_failures_per_hour", [o.split_failures / h * 3600 for o in ref])
    check("fallback_sync_per_s", [o.fallback_rounds / h for o in ref])
    check("isolated_cpu_ipis_per_s", [o.isolated_ipis / h for o in ref])
    check("rt_cycle_ipis_max", [o.cycle_max for o in ref])


def test_bits_do_not_depend_on_threads_and_seed_matters():
    params = {**SMALL, "table_policy": "cache_k", "gather_rate": 3.0, "pressure_fraction": 0.1}
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, _, _ = simulate(params, 24, block_size=3)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two, _, _ = simulate(params, 24, block_size=3)
    finally:
        numba.set_num_threads(before)
    assert one.as_dict() == two.as_dict()
    other, _, _ = simulate(params, 24, seed=2, block_size=3)
    assert other.as_dict() != one.as_dict()


_NOJIT_CASE = {
    **SMALL,
    "horizon_s": 3.0,
    "zero_fault_rate": 1.0,
    "pressure_fraction": 0.3,
    "pressure_episode_s": 0.5,
    "deferred_split_rate": 1.0,
    "gfp_nowait_fail_p": 0.2,
    "table_policy": "cache_k",
    "cache_k": 1,
    "gather_rate": 3.0,
    "tables_per_gather": 3,
    "max_table_batch": 2,
    "ipi_policy": "kernel_mode",
    "rt_mm_share": 0.5,
    "rt_cycle_us": 100_000.0,
}


def _nojit_tallies(dist: str) -> dict:
    t, _, _ = simulate({**_NOJIT_CASE, "lifetime_dist": dist}, 4, seed=7, block_size=2)
    return {k: (v if isinstance(v, int) else float(v).hex()) for k, v in t.as_dict().items()}


def test_disable_jit_gives_identical_tallies():
    """The same kernels run as plain Python (NUMBA_DISABLE_JIT=1) give the same bits."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(REPO)!r});"
        "from tests.models.thp.test_model import _nojit_tallies;"
        "print(json.dumps([_nojit_tallies('exponential'), _nojit_tallies('lognormal')]))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO
    )
    nojit = json.loads(res.stdout.strip().splitlines()[-1])
    assert nojit == [_nojit_tallies("exponential"), _nojit_tallies("lognormal")]


@pytest.mark.parametrize("lifetime", ["exponential", "lognormal"])
def test_deposit_policy_reserve_integrals_are_the_deposits(lifetime):
    """Under the deposit policy the reserve is the deposit: their time integrals, and so
    their drift tallies, agree exactly, on both the aggregated (exponential lifetimes)
    and the individual path. (The aggregated path once reused the reserve's first-half
    integral as a departure rate.)"""
    params = {**SMALL, "table_policy": "deposit", "fork_rate": 0.5, "fork_copy_prob": 0.3}
    if lifetime != "exponential":
        params |= {"lifetime_dist": lifetime, "lifetime_shape": 1.0}
    _, est, _ = simulate(params, 64)
    assert est["reserve_bytes_drift"] == est["deposit_bytes_drift"]
    assert est["reserve_bytes_mean"] == est["deposit_bytes_mean"]
