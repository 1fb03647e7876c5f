"""Gather model: Monte Carlo against the exact DP, policies, and reproducibility."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from mcstudy.exact.gather import gather_exact
from mcstudy.models.registry import get_model
from mcstudy.reference.gather import simulate_gathers_reference
from tests import paths
from tests.paths import REPO
from tests.simulate import simulate_model

GOLDEN_FILE = paths.GOLDEN / "gather_tallies.json"


def simulate(params: dict, sequences: int, seed: int = 1, point: int = 0, block_size: int = 4096):
    return simulate_model("gather", params, sequences, seed, point, block_size)


def within(est: float, exact: float, se: float, k: float = 4.0) -> bool:
    if se == 0.0:
        return est == pytest.approx(exact, rel=1e-12, abs=1e-15)
    return abs(est - exact) <= k * se


@pytest.mark.parametrize("n", [1, 508, 509, 510, 1018, 5000])
@pytest.mark.parametrize("p", [1e-4, 0.01, 0.3])
def test_estimates_within_4_standard_errors_of_exact(n, p):
    """Tolerance: 4 standard errors of the estimate (fixed seed, so deterministic)."""
    seqs = 200_000
    params = {
        "tables_per_gather": n,
        "gfp_nowait_fail_p": p,
        "ipi_policy": "kernel_mode",
        "online_cpus": 16,
        "mm_cpus": 6,
        "kernel_mode_fraction": 0.3,
    }
    _, est, ex = simulate(params, seqs, seed=12345)
    assert est["sequences"] == seqs
    # the estimator's true standard error (the estimated one is 0 when no variation was seen)
    true = gather_exact(n, p, 509)
    se_f = max(est["fallbacks_stderr"], (true.fallbacks_var / seqs) ** 0.5)
    se_a = max(est["alloc_attempts_stderr"], (true.alloc_attempts_var / seqs) ** 0.5)
    assert within(est["fallbacks_mean"], ex["fallbacks_mean_exact"], se_f)
    pf = ex["fallback_prob_exact"]
    assert within(est["fallback_prob"], pf, (pf * (1 - pf) / seqs) ** 0.5)
    assert est["fallback_prob_ci_low"] <= est["fallback_prob"] <= est["fallback_prob_ci_high"]
    assert within(est["alloc_attempts_mean"], ex["alloc_attempts_mean_exact"], se_a)
    assert within(est["sync_ipis_mean"], ex["sync_ipis_mean_exact"], est["sync_ipis_stderr"])
    # the standard error itself matches the exact variance (within 10 % at this size)
    if ex["fallbacks_var_exact"] > 0 and p >= 0.01:
        exact_se = (ex["fallbacks_var_exact"] / seqs) ** 0.5
        assert est["fallbacks_stderr"] == pytest.approx(exact_se, rel=0.1)


def test_bursty_pressure_matches_mixture():
    params = {
        "tables_per_gather": 2000,
        "gfp_nowait_fail_p": 1e-3,
        "pressure_episode_prob": 0.05,
        "pressure_fail_p": 0.6,
    }
    _, est, ex = simulate(params, 200_000, seed=3)
    assert within(est["fallbacks_mean"], ex["fallbacks_mean_exact"], est["fallbacks_stderr"])
    pf = ex["fallback_prob_exact"]
    assert within(est["fallback_prob"], pf, (pf * (1 - pf) / 200_000) ** 0.5)


def test_broadcast_ipis_are_targets_times_fallbacks():
    params = {"tables_per_gather": 1018, "gfp_nowait_fail_p": 0.3, "online_cpus": 64}
    tallies, _est, _ = simulate(params, 50_000)
    assert tallies["sync_ipis"] == 63 * tallies["fallbacks"]


@pytest.mark.parametrize(
    ("overrides", "fallbacks_zero"),
    [
        ({"ipi_policy": "rcu"}, False),
        ({"kernel": "v6.14-pt-reclaim"}, False),
        ({"kernel": "v6.3-baremetal"}, True),
    ],
)
def test_profiles_and_policies_without_ipis(overrides, fallbacks_zero):
    params = {"tables_per_gather": 1018, "gfp_nowait_fail_p": 0.3, **overrides}
    tallies, est, ex = simulate(params, 20_000)
    assert tallies["sync_ipis"] == 0 and ex["sync_ipis_mean_exact"] == 0.0
    assert (tallies["fallbacks"] == 0) == fallbacks_zero
    assert est["sequences"] == 20_000


def test_mm_cpumask_counts_other_mm_cpus():
    params = {
        "tables_per_gather": 1,
        "gfp_nowait_fail_p": 1.0,
        "ipi_policy": "mm_cpumask",
        "mm_cpus": 5,
    }
    tallies, _, ex = simulate(params, 1000)
    assert tallies["fallbacks"] == 1000 and tallies["sync_ipis"] == 4000
    assert ex["sync_ipis_mean_exact"] == 4.0


def test_munmap_front_end_sets_table_count():
    params = {"munmap_mib": 1024, "gfp_nowait_fail_p": 0.0}
    model = get_model("gather")
    p = model.Params.model_validate(params)
    assert model.derived(p)["tables_per_gather_used"] == 513
    _, est, _ = simulate(params, 1000)
    assert est["alloc_attempts_mean"] == 2.0  # 513 tables = one full batch of 509 + 4


def test_reference_simulator_agrees_with_exact():
    n, p, batch = 1018, 0.3, 509
    outcomes = simulate_gathers_reference(7, 5000, n, p, batch, ipi_targets=3, deliver_prob=0.5)
    f = np.array([o.fallbacks for o in outcomes], dtype=float)
    a = np.array([o.alloc_attempts for o in outcomes], dtype=float)
    d = np.array([o.sync_ipis for o in outcomes], dtype=float)
    ex = gather_exact(n, p, batch)
    se = f.std(ddof=1) / len(f) ** 0.5
    assert abs(f.mean() - ex.fallbacks_mean) < 4 * se
    assert abs(a.mean() - ex.alloc_attempts_mean) < 4 * a.std(ddof=1) / len(a) ** 0.5
    assert abs(d.mean() - ex.fallbacks_mean * 1.5) < 4 * d.std(ddof=1) / len(d) ** 0.5


def test_same_seed_same_bits_different_seed_differs():
    params = {"tables_per_gather": 1018, "gfp_nowait_fail_p": 0.3, "ipi_policy": "kernel_mode"}
    a, _, _ = simulate(params, 30_000, seed=5)
    b, _, _ = simulate(params, 30_000, seed=5)
    c, _, _ = simulate(params, 30_000, seed=6)
    assert a.as_dict() == b.as_dict()
    assert a.as_dict() != c.as_dict()


def test_thread_count_does_not_change_bits():
    params = {"tables_per_gather": 5000, "gfp_nowait_fail_p": 0.3, "ipi_policy": "kernel_mode"}
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, _, _ = simulate(params, 50_000, block_size=1024)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two, _, _ = simulate(params, 50_000, block_size=1024)
    finally:
        numba.set_num_threads(before)
    assert one.as_dict() == two.as_dict()


_GOLDEN_CASE = {
    "params": {
        "tables_per_gather": 1018,
        "gfp_nowait_fail_p": 0.3,
        "ipi_policy": "kernel_mode",
        "pressure_episode_prob": 0.1,
        "pressure_fail_p": 0.7,
    },
    "sequences": 3000,
    "seed": 99,
    "block_size": 512,
}


def _golden_tallies() -> dict:
    c = _GOLDEN_CASE
    t, _, _ = simulate(c["params"], c["sequences"], seed=c["seed"], block_size=c["block_size"])
    return {k: (v if isinstance(v, int) else float(v).hex()) for k, v in t.as_dict().items()}


def test_golden_tallies_bitwise(update_golden):
    """Seeded golden result; regenerate with ``pytest --update-golden`` after an intended change."""
    got = _golden_tallies()
    if update_golden:
        GOLDEN_FILE.write_text(json.dumps({"case": _GOLDEN_CASE, "tallies": got}, indent=1) + "\n")
    stored = json.loads(GOLDEN_FILE.read_text())
    assert stored["case"] == _GOLDEN_CASE
    assert got == stored["tallies"]


def test_disable_jit_gives_identical_tallies():
    """The pure-Python execution of the same kernels (NUMBA_DISABLE_JIT=1) matches bitwise."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(REPO)!r}); from tests.models.gather.test_model import _golden_tallies;"
        "print(json.dumps(_golden_tallies()))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == _golden_tallies()
