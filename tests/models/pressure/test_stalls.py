"""The pressure model with timed direct-reclaim stalls (docs/model.md §4.13): the kernel's
estimates against the exact law, and stall_mean_s = 0 as today's chain."""

from __future__ import annotations

import pytest

from mcstudy.models.pressure.scenarios import SMALL_ZONE
from tests.simulate import simulate_model

TOL = 4.0  # standard errors
MEDIUM = dict(SMALL_ZONE, alloc_rate=1.0, free_rate=0.6, kswapd_rate=0.06)
KEYS = (
    "nowait_fail_prob",
    "time_below_min_frac",
    "stalls_per_s",
    "kswapd_awake_frac",
    "kswapd_wakeups_per_s",
    "fallbacks_per_s",
)


@pytest.mark.parametrize(
    "extra",
    [
        dict(stall_mean_s=2.0, alloc_tasks=4),
        dict(stall_mean_s=5.0, alloc_tasks=3, stall_phases=2),
        dict(
            stall_mean_s=1.0,
            alloc_tasks=2,
            burst_alloc_rate=3.0,
            burst_start_rate=0.01,
            burst_end_rate=0.1,
            atomic_alloc_rate=0.05,
        ),
    ],
    ids=["exp-K4", "erlang2-K3", "bursty-atomic-K2"],
)
def test_timed_stalls_match_exact(extra):
    params = dict(MEDIUM, horizon_s=3000.0, **extra)
    _tal, est, ex = simulate_model("pressure", params, 256, 21, 0, 32)
    assert 1e-3 < ex["time_below_min_frac_exact"] < 0.5
    for k in KEYS:
        se = est[f"{k}_stderr"]
        assert se > 0, k
        assert abs(est[k] - ex[f"{k}_exact"]) <= TOL * se, (k, est[k], ex[f"{k}_exact"], se)


def test_timed_stalls_change_the_answer():
    """Long stalls keep the zone at min: the kernel sees more time below min than the
    instantaneous chain (the exact values differ by far more than the intervals)."""
    base = dict(MEDIUM, horizon_s=3000.0)
    _t, e0, x0 = simulate_model("pressure", base, 128, 3, 0, 32)
    _t, e1, x1 = simulate_model(
        "pressure", dict(base, stall_mean_s=10.0, alloc_tasks=4), 128, 3, 0, 32
    )
    assert x1["time_below_min_frac_exact"] > 1.3 * x0["time_below_min_frac_exact"]
    assert e1["time_below_min_frac"] - e0["time_below_min_frac"] > 4 * (
        e1["time_below_min_frac_stderr"] + e0["time_below_min_frac_stderr"]
    )


def test_zero_stall_time_ignores_tasks_and_shape():
    """stall_mean_s = 0: alloc_tasks and stall_phases change no draw."""
    p = dict(MEDIUM, horizon_s=200.0)
    a = simulate_model("pressure", p, 16, 5, 0, 8)
    b = simulate_model("pressure", dict(p, alloc_tasks=9, stall_phases=3), 16, 5, 0, 8)
    assert a[0].ints == b[0].ints
    assert [x.value for x in a[0].floats] == [x.value for x in b[0].floats]


def test_importance_refuses_timed_stalls():
    from mcstudy.models.registry import get_model

    with pytest.raises(ValueError, match="timed stalls"):
        get_model("pressure").Params.model_validate(
            dict(MEDIUM, stall_mean_s=1.0, estimator="importance")
        )


def test_reference_simulator_matches_exact():
    """The Gillespie reference (continuous time, one list entry per stalled task) against
    the exact law: time below min, stalls, stalled tasks and below-min episodes per
    second, within 4 standard errors across trajectories."""
    import math

    from mcstudy.exact.pressure import solve
    from mcstudy.reference.pressure import ZoneRef, simulate_reference

    p = get_params(dict(MEDIUM, stall_mean_s=5.0, alloc_tasks=3, stall_phases=2))
    zone = p.zone()
    ex = solve(zone.exact_chain())
    runs = simulate_reference(11, 40, ZoneRef(zone, tables_per_gather=3), 300.0, 1500.0)
    h = runs[0].horizon_s
    cols = {
        "below": ([r.time_below_min_s / h for r in runs], ex.below_min_prob),
        "stalls": ([r.stalls / h for r in runs], ex.stalls_per_s),
        "stalled": ([r.stalled_task_s / h for r in runs], ex.stalled_tasks_mean),
        "entries": ([r.below_min_entries / h for r in runs], ex.below_min_entries_per_s),
        "awake": ([r.time_awake_s / h for r in runs], ex.kswapd_awake_prob),
    }
    for name, (xs, exact) in cols.items():
        n = len(xs)
        mean = sum(xs) / n
        se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1) / n)
        assert se > 0, name
        assert abs(mean - exact) <= TOL * se, (name, mean, exact, se)


def get_params(d):
    from mcstudy.models.registry import get_model

    return get_model("pressure").Params.model_validate(d)
