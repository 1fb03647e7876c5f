"""Zone pressure model: Monte Carlo against the exact solver, the Gillespie reference,
neutral extensions, reproducibility. Tolerances: 4 standard errors, fixed seeds."""

from __future__ import annotations

import dataclasses
import math

import numba
import numpy as np
import pytest
from pydantic import ValidationError

from mcstudy.engine.blocks import BlockPlan, run_blocks
from mcstudy.engine.rng import stream_key, stream_new
from mcstudy.engine.sampling import poisson
from mcstudy.mechanisms.zone import Zone
from mcstudy.mechanisms.zone_events import GUIDE_AMBIGUOUS, choose_exact
from mcstudy.mechanisms.zone_tables import event_tables
from mcstudy.models.pressure.model import PressureModel
from mcstudy.models.pressure.scenarios import SMALL_ZONE
from mcstudy.reference.pressure import ZoneRef, simulate_reference

MODEL = PressureModel()
TOL = 4.0


def run(params: dict, sequences: int, block_size: int = 16, seed: int = 7):
    p = MODEL.Params.model_validate(params)
    prep = MODEL.prepare(p)
    plan = BlockPlan(sequences, block_size)
    key = stream_key(seed, 0)
    tal = run_blocks(
        lambda a, b: MODEL.simulate(prep, key, plan, a, b),
        plan,
        MODEL.tallies,
    )
    return MODEL.estimates(prep, tal), MODEL.exact(p), tal


SMALL = dict(SMALL_ZONE)
# light, medium and heavy pressure (P(free <= min) ~ 1e-3, 0.04, 0.4)
REFERENCE_CASES = {
    "light": dict(SMALL, alloc_rate=1.0, free_rate=0.8, kswapd_rate=0.2),
    "medium": dict(SMALL, alloc_rate=1.0, free_rate=0.6, kswapd_rate=0.06),
    "heavy": dict(SMALL, alloc_rate=1.0, free_rate=0.3, kswapd_rate=0.04),
}
# marks far apart: the aggregated steps of the awake regime (f + 4 R <= high) are used
WIDE = dict(
    SMALL,
    managed_pages=1000,
    wmark_min=30,
    wmark_low=150,
    wmark_high=400,
    alloc_rate=1.0,
    free_rate=0.5,
    kswapd_rate=0.06,
    warmup_s=20000.0,
    horizon_s=20000.0,
)


@pytest.mark.parametrize("case", [*REFERENCE_CASES, "wide"])
def test_reference_chain_matches_exact(case):
    params = dict(warmup_s=1500.0, horizon_s=3000.0)
    params.update(WIDE if case == "wide" else REFERENCE_CASES[case])
    est, ex, _ = run(params, 512)
    assert 1e-4 < ex["nowait_fail_prob_exact"] < 0.9
    for k in (
        "nowait_fail_prob",
        "time_below_min_frac",
        "stalls_per_s",
        "kswapd_awake_frac",
        "kswapd_wakeups_per_s",
        "fallbacks_per_s",
        "sync_ipis_per_s",
    ):
        se = est[f"{k}_stderr"]
        assert se > 0, k
        assert abs(est[k] - ex[f"{k}_exact"]) <= TOL * se, (case, k, est[k], ex[f"{k}_exact"], se)
    assert est["nowait_fail_prob_ci_low"] <= est["nowait_fail_prob"]
    assert est["nowait_fail_prob"] <= est["nowait_fail_prob_ci_high"]
    # fallbacks: every table of a failing gather; broadcast to 63 other CPUs
    assert ex["fallbacks_per_s_exact"] == pytest.approx(0.5 * 3 * ex["nowait_fail_prob_exact"])
    assert ex["sync_ipis_per_s_exact"] == pytest.approx(63 * ex["fallbacks_per_s_exact"])


@pytest.mark.parametrize(
    "extension",
    [
        dict(atomic_alloc_rate=0.4),
        dict(burst_alloc_rate=2.5, burst_start_rate=0.02, burst_end_rate=0.1),
        dict(alloc_batch_pages=3),
    ],
)
def test_extensions_with_exact_solution(extension):
    params = dict(REFERENCE_CASES["medium"], warmup_s=1500.0, horizon_s=3000.0, **extension)
    est, ex, _ = run(params, 512)
    for k in ("nowait_fail_prob", "time_below_min_frac", "stalls_per_s", "atomic_fails_per_s"):
        se = est[f"{k}_stderr"]
        if ex[f"{k}_exact"] == 0.0:
            assert est[k] == 0.0
            continue
        assert abs(est[k] - ex[f"{k}_exact"]) <= TOL * se, (extension, k)


ZONE_KEYS = tuple(f.name for f in dataclasses.fields(Zone))


def _ref_means(z: ZoneRef, n: int, warm: float, hor: float) -> dict[str, tuple[float, float]]:
    outs = simulate_reference(11, n, z, warm, hor)

    def ms(vals):
        a = np.asarray(vals, dtype=float)
        return a.mean(), a.std(ddof=1) / math.sqrt(len(a))

    return {
        "time_below_min_frac": ms([o.time_below_min_s / hor for o in outs]),
        "kswapd_awake_frac": ms([o.time_awake_s / hor for o in outs]),
        "stalls_per_s": ms([o.stalls / hor for o in outs]),
        "fallbacks_per_s": ms([o.fallbacks / hor for o in outs]),
        "kswapd_wakeups_per_s": ms([o.wakeups / hor for o in outs]),
    }


@pytest.mark.parametrize(
    ("extension", "ref"),
    [
        (
            dict(boost_rate=0.05, boost_pages=4, wmark_high=30),
            dict(boost_rate=0.05, boost_pages=4, max_boost=45),
        ),
        (
            dict(rcu_grace_period_s=2.0, gather_rate=2.0, tables_per_gather=5, max_table_batch=2),
            dict(rcu_grace_period_s=2.0, gather_rate=2.0, tables_per_gather=5, max_table_batch=2),
        ),
    ],
)
def test_extensions_match_gillespie_reference(extension, ref):
    base = REFERENCE_CASES["medium"]
    params = dict(base, warmup_s=800.0, horizon_s=1000.0, **extension)
    est, ex, _ = run(params, 256)
    assert ex == {}  # no exact solution for these extensions
    kw = {**base, **ref}  # zone fields and tables_per_gather
    z = ZoneRef(
        Zone(**{k: v for k, v in kw.items() if k in ZONE_KEYS}),
        **{k: v for k, v in kw.items() if k not in ZONE_KEYS},
    )
    want = _ref_means(z, 96, 800.0, 1000.0)
    for k, (m, se_ref) in want.items():
        se = math.hypot(est[f"{k}_stderr"], se_ref)
        assert abs(est[k] - m) <= TOL * se, (extension, k, est[k], m, se)


def test_neutral_extensions_are_bit_identical():
    base = dict(REFERENCE_CASES["light"], warmup_s=50.0, horizon_s=200.0)
    _, _, ref = run(base, 64)
    for neutral in (
        dict(burst_alloc_rate=5.0),  # no burst ever starts
        dict(boost_pages=8, watermark_boost_factor=20000),  # boost_rate = 0
        dict(rcu_grace_period_s=0.0, atomic_alloc_rate=0.0, alloc_batch_pages=1),
        dict(khugepaged_collapse_rate=3.0, thp_split_rate=1.0),  # outputs only
    ):
        _, _, tal = run({**base, **neutral}, 64)
        assert tal.ints == ref.ints, neutral
        assert [s.value for s in tal.floats] == [s.value for s in ref.floats], neutral


def test_thread_count_does_not_change_results():
    params = dict(REFERENCE_CASES["medium"], warmup_s=50.0, horizon_s=200.0)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        _, _, one = run(params, 96, block_size=8)
        numba.set_num_threads(max(2, old))
        _, _, many = run(params, 96, block_size=8)
    finally:
        numba.set_num_threads(old)
    assert one.ints == many.ints
    assert [s.value for s in one.floats] == [s.value for s in many.floats]


def test_event_selection_guide_matches_exact_comparison():
    p = MODEL.Params.model_validate(dict(REFERENCE_CASES["heavy"], atomic_alloc_rate=0.1))
    t = event_tables(p.zone())
    # every guide bucket either is ambiguous or agrees with the exact 64-bit comparison
    # at both ends of the bucket
    st = stream_new(1, 2, 3, 4)
    for r in range(2):
        for b in range(0, t.guide.shape[1], 7):
            g = int(t.guide[r, b])
            if g == GUIDE_AMBIGUOUS:
                continue
            u = np.uint64(b << 20)
            assert choose_exact(st, u, r, t.ev_n, t.ev_type, t.thr_hi, t.thr_lo, t.thr_always) == g
            u = np.uint64((b << 20) | 0xFFFFF)
            assert choose_exact(st, u, r, t.ev_n, t.ev_type, t.thr_hi, t.thr_lo, t.thr_always) == g
    # probabilities: rate / Lambda to 2**-64
    lam = 1.0 + 0.3 + 0.04 + 0.5 + 0.1
    assert t.rate == pytest.approx(lam)
    assert t.prob(1, 0) == pytest.approx(1.0 / lam, rel=1e-15)
    assert t.prob(0, 2) == 0.0  # no kswapd event while asleep


def test_poisson_sampler_moments():
    from numba import njit

    @njit
    def draws(mean, n):
        st = stream_new(5, 6, 0, 0)
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            out[i] = poisson(st, mean)
        return out

    for mean in (0.7, 6.0, 37.5, 1e6):
        x = draws(mean, 40000)
        se = math.sqrt(mean / len(x))
        assert abs(x.mean() - mean) <= TOL * se, mean
        assert x.var() == pytest.approx(mean, rel=0.05)


def test_bad_parameters_are_rejected():
    good = dict(REFERENCE_CASES["light"])
    for bad in (
        dict(wmark_low=5),  # below min
        dict(wmark_high=200),  # above managed pages
        dict(mm_cpus=100),
        dict(alloc_rate=-1.0),
        dict(estimator="splitting"),
        dict(alloc_rate=0.0, free_rate=0.0, gather_rate=0.0),
    ):
        with pytest.raises(ValidationError):
            MODEL.Params.model_validate({**good, **bad})


def test_khugepaged_ipis_and_profiles():
    p = MODEL.Params.model_validate(dict(REFERENCE_CASES["light"], khugepaged_collapse_rate=2.0))
    assert MODEL.derived(p)["khugepaged_ipis_per_s"] == 2.0 * 63
    p = MODEL.Params.model_validate(
        dict(REFERENCE_CASES["light"], kernel="v6.14-pt-reclaim", khugepaged_collapse_rate=2.0)
    )
    ex = MODEL.exact(p)
    assert ex["sync_ipis_per_s_exact"] == 0.0  # fallbacks free by call_rcu()
    assert ex["fallbacks_per_s_exact"] > 0.0
    assert MODEL.derived(p)["khugepaged_ipis_per_s"] == 2.0 * 63  # collapse still IPIs
    p = MODEL.Params.model_validate(dict(REFERENCE_CASES["light"], kernel="v6.3-baremetal"))
    assert MODEL.exact(p)["fallbacks_per_s_exact"] == 0.0


def test_aggregated_steps_are_the_exact_multinomial():
    from itertools import product

    from mcstudy.mechanisms.zone_events import (
        AGG_STEPS,
        EV_ALLOC,
        EV_FREE,
        EV_GATHER,
        EV_KSWAPD,
    )

    p = MODEL.Params.model_validate(REFERENCE_CASES["medium"])
    t = event_tables(p.zone())
    on, _guide, n, types, hi, lo, always, df, g, steps = t.agg
    assert on and tuple(steps) == AGG_STEPS
    for r in (0, 1):
        # brute force over all event sequences of the regime (dummy = the rest)
        evs = [EV_ALLOC, EV_FREE, EV_GATHER, EV_KSWAPD]
        jump = {EV_ALLOC: -1, EV_FREE: 1, EV_GATHER: 0, EV_KSWAPD: 8, -1: 0}
        w = {e: t.prob(r, e) for e in evs}
        w[-1] = 1.0 - sum(w.values())
        want: dict[tuple[int, int], float] = {}
        for seq in product(list(w), repeat=AGG_STEPS[r]):
            pr = math.prod(w[e] for e in seq)
            key = (sum(jump[e] for e in seq), seq.count(EV_GATHER))
            want[key] = want.get(key, 0.0) + pr
        want = {k: v for k, v in want.items() if v > 0}
        got = {}
        prev = 0
        for j in range(int(n[r])):
            cum = 1 << 64 if always[r, j] else (int(hi[r, j]) << 32) | int(lo[r, j])
            k = int(types[r, j])
            got[(int(df[r, k]), int(g[r, k]))] = (cum - prev) / 2.0**64
            prev = cum
        assert prev == 1 << 64
        assert set(got) == set(want), r
        for key, v in want.items():
            assert got[key] == pytest.approx(v, rel=1e-9, abs=1e-18), (r, key)
    # off the reference chain the aggregation is off
    q = MODEL.Params.model_validate(dict(REFERENCE_CASES["medium"], atomic_alloc_rate=0.1))
    assert event_tables(q.zone()).agg[0] is False


_NOJIT_CASES = {
    "plain": dict(horizon_s=300.0),
    "aggregated": dict(
        managed_pages=1000, wmark_min=30, wmark_low=150, wmark_high=400, kswapd_rate=0.06,
        free_rate=0.5, horizon_s=2000.0, warmup_s=2000.0,
    ),
    "extensions": dict(
        horizon_s=300.0, atomic_alloc_rate=0.2, rcu_grace_period_s=1.0, boost_rate=0.05,
        boost_pages=4, burst_alloc_rate=2.0, burst_start_rate=0.05,
    ),
    "importance": dict(estimator="importance", pilot_steps=2000, plain_cycles=2),
}  # fmt: skip


def _nojit_tallies() -> dict:
    out = {}
    for name, extra in _NOJIT_CASES.items():
        p = dict(REFERENCE_CASES["medium"], warmup_s=100.0)
        p.update(extra)
        _, _, tal = run(p, 6, block_size=2, seed=5)
        out[name] = [tal.ints, [s.value.hex() for s in tal.floats]]
    return out


def test_bit_identical_without_jit():
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "import test_model as t; print(json.dumps(t._nojit_tallies()))"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    here = str(__import__("pathlib").Path(__file__).parent)
    res = subprocess.run(
        [sys.executable, "-c", code, here], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(res.stdout.strip().splitlines()[-1]) == _nojit_tallies()
