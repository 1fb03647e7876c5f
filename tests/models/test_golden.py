"""Seeded golden results of every model (``tests/golden.py``): tallies and estimates bit
for bit, exact values to 1e-12. Regenerate only on purpose: ``pytest --update-golden``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mcstudy.models.host.scenarios import SMALL_BURSTY_HOST
from mcstudy.models.pressure.scenarios import RARE_ZONE, SMALL_ZONE
from tests.golden import check_golden
from tests.paths import REPO
from tests.simulate import simulate_model

_PRESSURE_SMALL = dict(
    SMALL_ZONE,
    alloc_rate=1.0,
    free_rate=0.6,
    kswapd_rate=0.06,
    warmup_s=50.0,
    horizon_s=200.0,
)
_THP_SMALL = dict(
    horizon_s=20.0,
    fault_rate=8.0,
    lifetime_s=2.0,
    munmap_split_rate=0.1,
    madvise_split_rate=0.05,
    deferred_split_rate=0.2,
    collapse_rate=1.0,
    pressure_fraction=0.2,
    pressure_episode_s=1.0,
    gather_rate=2.0,
    tables_per_gather=40,
    max_table_batch=7,
    gfp_nowait_fail_p=0.05,
    online_cpus=8,
    isolated_cpus=2,
    mm_cpus=3,
    rt_cycle_us=10000.0,
)

_HOST_SMALL = dict(SMALL_BURSTY_HOST, horizon_s=10.0, reclaim_split_rate=0.5)

#: name -> (model, params, sequences, seed, point, block size)
CASES = {
    "host_bursts": ("host", _HOST_SMALL, 12, 10, 2, 4),
    "host_steady": (
        "host",
        dict(
            _HOST_SMALL,
            load="steady",
            burst_alloc_rate=None,
            atomic_alloc_rate=0.0,
            refill_gfp="kernel",
            kernel="v6.14-pt-reclaim",
        ),
        8,
        11,
        0,
        3,
    ),
    "pressure_plain": ("pressure", _PRESSURE_SMALL, 48, 5, 3, 16),
    "pressure_extensions": (
        "pressure",
        dict(
            _PRESSURE_SMALL,
            burst_alloc_rate=3.0,
            burst_start_rate=0.02,
            burst_end_rate=0.2,
            boost_rate=0.01,
            boost_pages=8,
            rcu_grace_period_s=0.5,
            atomic_alloc_rate=0.1,
            khugepaged_collapse_rate=0.3,
            thp_split_rate=0.4,
            kernel="v6.15",
            ipi_policy="kernel_mode",
        ),
        32,
        6,
        1,
        8,
    ),
    "pressure_importance": (
        "pressure",
        dict(RARE_ZONE, warmup_s=1000.0, pilot_steps=1 << 14),
        96,
        7,
        2,
        32,
    ),
    "thp_aggregate": (
        "thp",
        dict(_THP_SMALL, table_policy="cache_k", cache_k=2, collapse_policy="fresh_table"),
        40,
        8,
        4,
        8,
    ),
    "thp_individual": (
        "thp",
        dict(
            _THP_SMALL,
            lifetime_dist="lognormal",
            lifetime_shape=1.2,
            table_policy="on_demand",
            split_gfp="atomic",
            gfp_atomic_fail_p=0.01,
            pressure_atomic_fail_p=0.3,
            ipi_policy="kernel_mode",
            rt_mm_share=0.5,
            kernel="v6.15",
        ),
        24,
        9,
        0,
        8,
    ),
}


def golden_result(name: str) -> tuple[dict, dict]:
    """(case, result) of golden case ``name``: tallies, estimates and exact values."""
    model, params, sequences, seed, point, block_size = CASES[name]
    tallies, est, exact = simulate_model(model, params, sequences, seed, point, block_size)
    case = {
        "model": model,
        "params": params,
        "sequences": sequences,
        "seed": seed,
        "point": point,
        "block_size": block_size,
    }
    return case, {"tallies": tallies.as_dict(), "estimates": est, "exact": exact}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name, update_golden):
    case, result = golden_result(name)
    check_golden(name, case, result, update_golden)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["pressure_plain", "thp_aggregate", "thp_individual", "host_bursts", "host_steady"]
)
def test_golden_without_jit(name):
    """The same kernels run as plain Python (NUMBA_DISABLE_JIT=1) give the golden result."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(REPO)!r});"
        "from tests.models.test_golden import golden_result; from tests.golden import encode;"
        f"print(json.dumps(encode(golden_result({name!r})[1]['tallies'])))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=900
    )
    assert out.returncode == 0, out.stderr[-2000:]
    stored = json.loads((REPO / "tests" / "data" / "golden" / f"{name}.json").read_text())
    assert json.loads(out.stdout.strip().splitlines()[-1]) == stored["tallies"]
