"""Where pressure trajectories start (``docs/model.md`` §4.6): from the exact stationary
law where it exists, else after a warm-up chosen from the chain's time scales; and the
transient check that catches a warm-up too short. Tolerances in standard errors, fixed
seeds."""

from __future__ import annotations

import pytest

from mcstudy.findings import study_findings
from mcstudy.models.pressure.start import exact_chain, relaxation_time_s, start_plan
from mcstudy.models.registry import get_model
from mcstudy.sweep.point import point_findings
from tests.simulate import simulate_model

MODEL = get_model("pressure")
# the audit's example: all pages free at the start, the drift needs ~18 s to reach the marks
EXAMPLE = dict(
    managed_pages=3000,
    wmark_min=150,
    wmark_low=190,
    wmark_high=230,
    alloc_rate=2000.0,
    free_rate=1850.0,
    kswapd_rate=10.0,
    gather_rate=20.0,
    tables_per_gather=1,
    horizon_s=50.0,
)
QUANTITIES = ("nowait_fail_prob", "time_below_min_frac", "kswapd_awake_frac", "stalls_per_s")


def run(params: dict, sequences: int = 256):
    _, est, ex = simulate_model("pressure", params, sequences, 7, 0, 16)
    prepared = MODEL.prepare(MODEL.Params.model_validate(params))
    values = {**est, **ex}
    return est, ex, study_findings(MODEL, {0: values}, point_findings(MODEL, prepared, values))


def test_default_start_is_stationary_and_unbiased():
    est, ex, found = run(EXAMPLE)
    assert est["stationary_start"] == 1 and est["warmup_s_used"] == 0.0
    for k in QUANTITIES:
        assert abs(est[k] - ex[f"{k}_exact"]) <= 4 * est[f"{k}_stderr"], k
    assert [f for f in found if f.kind in ("disagreement", "transient")] == []


def test_a_short_warm_up_from_a_fixed_start_is_flagged():
    *_, found = run({**EXAMPLE, "initial_free": 3000, "warmup_s": 5.0})
    kinds = {(f.kind, f.estimate) for f in found}
    assert ("transient", "kswapd_awake_frac") in kinds
    assert ("disagreement", "kswapd_awake_frac") in kinds  # z about -60


def test_the_automatic_warm_up_from_a_fixed_start_is_long_enough():
    params = {**EXAMPLE, "initial_free": 3000}
    p = MODEL.Params.model_validate(params)
    # descent from 3000 to 190 pages at 150 pages/s, then ten kswapd cycles
    assert relaxation_time_s(p, 3000) == pytest.approx(
        (3000 - 190) / 150 + 10 * (40 / 150 + 40 / (10 * 32 - 150))
    )
    est, ex, found = run(params)
    assert est["stationary_start"] == 0 and est["warmup_s_used"] == pytest.approx(
        relaxation_time_s(p, 3000)
    )
    for k in QUANTITIES:
        assert abs(est[k] - ex[f"{k}_exact"]) <= 4 * est[f"{k}_stderr"], k
    assert [f for f in found if f.kind == "transient"] == []


def test_a_balanced_zone_wanders_and_a_large_one_says_so():
    p = MODEL.Params.model_validate({**EXAMPLE, "free_rate": 2000.0, "initial_free": 3000})
    assert relaxation_time_s(p, 3000) == pytest.approx((3000 - 190) ** 2 / 4000)
    big = MODEL.Params.model_validate(
        {**EXAMPLE, "managed_pages": 300_000, "free_rate": 2000.0, "initial_free": 300_000}
    )
    plan = start_plan(big, 4020.0)
    assert plan.warmup_cut and not plan.stationary
    assert plan.warmup_s * 4020.0 == pytest.approx(2e7)


@pytest.mark.slow
def test_large_zones_are_solved_on_a_cut_down_zone():
    """A 5M-page zone whose allocations outpace frees is solved exactly on fewer pages,
    and the result does not depend on where the zone was cut."""
    big = dict(EXAMPLE, managed_pages=5_000_000, wmark_min=14769, wmark_low=20163,
               wmark_high=25557, alloc_rate=10_500.0, free_rate=10_000.0, kswapd_rate=50.0)  # fmt: skip
    chain = exact_chain(MODEL.Params.model_validate(big))
    assert chain is not None and chain.managed_pages < 2_000_000
    exact_big = MODEL.exact(MODEL.Params.model_validate(big))
    exact_cut = MODEL.exact(MODEL.Params.model_validate({**big, "managed_pages": 1_500_000}))
    for k, v in exact_big.items():
        assert v == pytest.approx(exact_cut[k], rel=1e-9, abs=1e-300), k
    # a zone that frees faster than it allocates sits at its cap: no cut
    assert exact_chain(MODEL.Params.model_validate({**big, "alloc_rate": 9_000.0})) is None
