"""Rare-event estimator of the pressure model (regenerative importance sampling)."""

from __future__ import annotations

import math

import pytest

from mcstudy.engine.blocks import BlockPlan, run_blocks
from mcstudy.engine.rng import stream_key
from mcstudy.mechanisms.zone_events import EV_ALLOC, EV_FREE, EV_KSWAPD
from mcstudy.mechanisms.zone_tables import event_tables
from mcstudy.models.pressure.model import PressureModel
from mcstudy.models.pressure.rare import cramer_root, tilted_tables
from mcstudy.models.pressure.scenarios import RARE_ZONE

MODEL = PressureModel()

RARE = dict(RARE_ZONE, warmup_s=1000.0)


def run(params: dict, sequences: int, seed: int = 3):
    p = MODEL.Params.model_validate(params)
    prep = MODEL.prepare(p)
    plan = BlockPlan(sequences, 256)
    key = stream_key(seed, 0)
    tal = run_blocks(
        lambda a, b: MODEL.simulate(prep, key, plan, a, b),
        plan,
        MODEL.tallies,
    )
    return MODEL.estimates(prep, tal), MODEL.exact(p), prep


def test_rare_failure_probability_within_own_interval():
    # The 95 % interval is a random interval: over seeds 1..20 (4096 cycles each) it held
    # the exact value 18 times (z-scores of rms 1.27: heavy-tailed likelihood ratios make
    # the sample variance a slight underestimate). The seed is fixed, so this is stable.
    est, ex, _ = run(RARE, 4096, seed=6)
    exact = ex["nowait_fail_prob_exact"]
    assert exact < 1e-7  # ~4.9e-11: plain Monte Carlo would need ~1e12 gathers
    assert est["nowait_fail_prob_ci_low"] <= exact <= est["nowait_fail_prob_ci_high"]
    assert est["nowait_fail_prob_rel_err"] < 0.1
    assert est["nowait_fail_prob_ess"] > 1e12
    # all rare outputs are consistent with the exact chain
    for k in ("time_below_min_frac", "stalls_per_s", "kswapd_awake_frac", "kswapd_wakeups_per_s"):
        assert abs(est[k] - ex[f"{k}_exact"]) <= 4.0 * est[f"{k}_stderr"], k


@pytest.mark.parametrize(
    "extra",
    [
        dict(),
        dict(kswapd_rate=0.05, wmark_low=40, wmark_high=60),  # not rare: theta small
        dict(free_rate=1.2, kswapd_rate=0.05),  # mass near N: the asleep regime is tilted too
        dict(atomic_alloc_rate=0.2, kswapd_rate=0.1),
    ],
)
def test_importance_estimates_match_exact(extra):
    est, ex, _ = run({**RARE, **extra}, 2048)
    for k in ("nowait_fail_prob", "stalls_per_s", "kswapd_awake_frac", "atomic_fails_per_s"):
        if ex[f"{k}_exact"] < 1e-13:
            # the tilt targets free <= min; events rarer than that (kswapd awake when
            # frees outrun allocations, GFP_ATOMIC failures below 0.375 min) are estimated
            # without bias but mostly seen as 0
            continue
        se = est[f"{k}_stderr"]
        assert abs(est[k] - ex[f"{k}_exact"]) <= 4.0 * se, (extra, k, est[k], ex[f"{k}_exact"])


def test_importance_is_reproducible():
    a, _, _ = run(RARE, 512, seed=9)
    b, _, _ = run(RARE, 512, seed=9)
    assert a == b


def test_cramer_root():
    # walk: -1 w.p. 0.3, +1 w.p. 0.5, 0 otherwise: 0.3 e^t + 0.5 e^-t = 0.8 -> t = ln(5/3)
    assert cramer_root([0.3, 0.5, 0.2], [-1.0, 1.0, 0.0]) == pytest.approx(math.log(5 / 3))
    assert cramer_root([0.5, 0.3], [-1.0, 1.0]) == 0.0  # drifts down already


def test_tilt_keeps_dummy_mass_and_ratios_are_exact():
    p = MODEL.Params.model_validate(RARE)
    t = event_tables(p.zone())
    tilt = tilted_tables(p, t)
    assert tilt.thetas[0] == 0.0  # asleep: allocations outrun frees already
    assert tilt.thetas[1] > 0.0
    for r in (0, 1):
        assert sum(tilt.tables.mass[r]) == sum(t.mass[r])
    m, mt = t.mass[1], tilt.tables.mass[1]
    assert mt[EV_ALLOC] > m[EV_ALLOC] and mt[EV_FREE] < m[EV_FREE] and mt[EV_KSWAPD] < m[EV_KSWAPD]
    for ev in (EV_ALLOC, EV_FREE, EV_KSWAPD):
        assert tilt.ratio[1, ev] == m[ev] / mt[ev]
