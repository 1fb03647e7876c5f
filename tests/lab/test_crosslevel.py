"""The timed-stall chain in the lab and the cross-level predictions (docs/lab.md §5), on the
recorded run of ``mcstudy lab`` (arm64, Debian's 6.1 cloud kernel, default levels 0, 300
and 400 MiB, with PSI): no emulator."""

from __future__ import annotations

import math
import re
from dataclasses import fields, replace

import pytest

from mcstudy.exact.pressure import solve, solve_truncated
from mcstudy.lab.crosslevel import (
    CROSS_ROWS,
    LOAD_RATES,
    cross_level_notes,
    cross_predictions,
    predict_from,
    with_load,
)
from mcstudy.lab.zone import ZoneCalibration, timed_prediction, timed_stall_law, towards
from mcstudy.lab.zonerows import CHAIN_ROWS, TIMED
from mcstudy.mechanisms.zone import Zone
from mcstudy.models.host.params import HostParams

LEVELS = (300, 400)


def level(res, mib):
    return next(lv for lv in res.levels if lv.mib == mib)


def zone_rows_of(res, mib) -> dict:
    return {r.quantity: r for r in res.rows if r.phase == f"zone {mib} MiB"}


@pytest.fixture(scope="module")
def cross(zone_result):
    """Every level predicted by the other level's chains (four chains solved)."""
    return cross_predictions(zone_result.levels)


@pytest.fixture(scope="module")
def itself(zone_result):
    """Each level predicted by its own chains through the cross-level path."""
    out = {}
    for mib in LEVELS:
        zc = level(zone_result, mib).calibration
        out[mib] = predict_from(mib, zc, mib, zc)
    return out


# ----------------------------------------------------------------- the timed-stall chain


def test_the_stall_law_is_the_host_studys_default():
    f = HostParams.model_fields
    assert timed_stall_law() == (f["alloc_tasks"].default, f["stall_phases"].default) == (4, 1)


@pytest.mark.parametrize("mib", LEVELS)
def test_timed_chain_is_calibrates_stall_time_on_the_levels_chain(zone_result, mib):
    zc = level(zone_result, mib).calibration
    t = zc.timed_chain
    # calibrate's PSI figure: some / allocstall over the level, "mixed" (kswapd ran)
    assert t.stall_mean_s == zc.psi_per_stall_s and 0.03 < t.stall_mean_s < 0.07
    assert "mixed" in zc.psi_is and not zc.timed_note
    assert (t.alloc_tasks, t.stall_phases) == timed_stall_law()
    assert replace(t, stall_mean_s=0.0, alloc_tasks=1, stall_phases=1) == zc.chain
    # solved as the host study solves it (solve_truncated(): the level predicted from
    # itself, below, solves it again), on a zone cut above high
    assert t.wmark_high < zc.timed_solved_pages < t.managed_pages
    assert 0 < zc.timed_below_min_prob < 1 and zc.timed_stalls_per_s > 0


@pytest.mark.parametrize("mib", LEVELS)
def test_timed_rows_are_twins_of_the_chain_rows(zone_result, mib):
    rows = zone_rows_of(zone_result, mib)
    zc = level(zone_result, mib).calibration
    twins = [q for q in rows if q.endswith(TIMED)]
    assert twins == [q + TIMED for q in rows if q in CHAIN_ROWS]
    assert len(twins) == 6
    for q in twins:
        base, twin = rows[q.removesuffix(TIMED)], rows[q]
        assert (twin.measured, twin.halfwidth, twin.source) == (
            base.measured,
            base.halfwidth,
            base.source,
        )
        want = zc.timed_stalls_per_s if q.startswith("stalls") else zc.timed_below_min_prob
        assert twin.predicted == want and base.predicted != want
        assert "timed-stall zone chain" in twin.basis and "4 allocating tasks" in twin.basis
        assert twin.label.endswith("[timed stalls]")


@pytest.mark.parametrize("mib", LEVELS)
def test_timed_stalls_move_the_predictions_towards_the_guest(zone_result, mib):
    """The recorded run: the timed chain predicts 2.2-4.4 times the instantaneous chain's
    time at or below min and stall rate, all still far below the guest's (docs/lab.md §5)."""
    rows = zone_rows_of(zone_result, mib)
    for q in ("time_below_min_frac", "stalls_per_s", "nowait_fail_prob"):
        inst, timed = rows[q].predicted, rows[q + TIMED].predicted
        assert 2.0 < timed / inst < 5.0
        assert timed < rows[q].measured / 10


@pytest.mark.parametrize("mib", LEVELS)
def test_the_notes_say_which_way_timed_stalls_move(zone_result, mib):
    (line,) = [n for n in zone_result.zone_notes if n.startswith(f"{mib} MiB: with stalls that")]
    zc = level(zone_result, mib).calibration
    assert f"{1e3 * zc.psi_per_stall_s:.1f} ms per stall" in line
    for what in ("time at or below min", "stalls", "first-attempt failures"):
        assert re.search(
            rf"{what} x[0-9.]+, towards the guest \(the guest's [0-9.e+]+ times it\)", line
        )


def test_towards():
    assert towards(1e-4, 3e-4, 0.2) == "x3, towards the guest (the guest's 667 times it)"
    assert towards(1e-4, 3e-4, 2e-5) == "x3, away from the guest"
    assert towards(1e-4, 3e-4, 0.0) == "x3, away from the guest"  # guest 0: by difference
    assert towards(2e-4, 1e-4, 0.0) == "x0.5, towards the guest"
    assert towards(1e-4, math.nan, 0.1) == "not compared"


def test_no_psi_no_timed_chain():
    zc = ZoneCalibration(zone="DMA", chain=SMALL, seconds=10.0, stalls_per_s=1.0, kswapd_cpu_frac=0)
    timed_prediction(zc)
    assert zc.timed_chain is None and math.isnan(zc.timed_below_min_prob)
    assert "no PSI stall time" in zc.timed_note
    assert [p.stalls for p in predict_from(1, zc, 1, zc)] == ["instantaneous"]


# ----------------------------------------------------------------- cross-level

SMALL = Zone(
    managed_pages=400,
    wmark_min=20,
    wmark_low=30,
    wmark_high=40,
    alloc_rate=50.0,
    free_rate=20.0,
    kswapd_rate=1.0,
    gather_rate=2.0,
    direct_reclaim_batch=16,
)


def test_with_load_takes_the_other_chains_rates_only():
    other = replace(
        SMALL,
        managed_pages=900,
        wmark_min=25,
        alloc_rate=70.0,
        free_rate=10.0,
        gather_rate=9.0,
        kswapd_rate=3.0,
        direct_reclaim_batch=40,
        stall_mean_s=0.2,
    )
    mixed = with_load(SMALL, other)
    for f in fields(Zone):
        want = getattr(other if f.name in LOAD_RATES else SMALL, f.name)
        assert getattr(mixed, f.name) == want, f.name
    assert LOAD_RATES == ("alloc_rate", "free_rate", "gather_rate")


@pytest.mark.parametrize("mib", LEVELS)
def test_a_level_predicted_from_itself_is_its_own_prediction(zone_result, itself, mib):
    zc = level(zone_result, mib).calibration
    rows = zone_rows_of(zone_result, mib)
    inst, timed = itself[mib]
    assert (inst.stalls, timed.stalls) == ("instantaneous", "timed")
    assert inst.chain == zc.chain and timed.chain == zc.timed_chain
    for q in CROSS_ROWS:
        assert inst.predicted(q) == rows[q].predicted
        assert timed.predicted(q) == rows[q + TIMED].predicted
    assert (inst.below_min_prob, inst.stalls_per_s) == (
        zc.below_min_prob,
        zc.predicted_stalls_per_s,
    )
    assert (timed.below_min_prob, timed.stalls_per_s) == (
        zc.timed_below_min_prob,
        zc.timed_stalls_per_s,
    )
    if mib == LEVELS[0]:  # and the timed answers are solve_truncated()'s on the timed chain
        assert timed.below_min_prob == solve_truncated(zc.timed_chain)[1].below_min_prob


def test_pairs_in_run_order_with_or_without_the_level_itself():
    a = ZoneCalibration(zone="DMA", chain=SMALL, seconds=10.0, stalls_per_s=1.0, kswapd_cpu_frac=0)
    b = replace(a, chain=replace(SMALL, alloc_rate=40.0))

    class Lv:
        def __init__(self, mib, cal):
            self.mib, self.calibration = mib, cal

    levels = [Lv(0, None), Lv(1, a), Lv(2, b)]
    pairs = [(p.calibrated_mib, p.predicted_mib) for p in cross_predictions(levels)]
    assert pairs == [(1, 2), (2, 1)]
    every = cross_predictions(levels, itself=True)
    assert [(p.calibrated_mib, p.predicted_mib) for p in every] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert every[0].below_min_prob == solve(SMALL).below_min_prob
    assert every[1].below_min_prob == solve(replace(SMALL, alloc_rate=40.0)).below_min_prob


def test_cross_level_uses_the_other_levels_chain_with_this_levels_load(zone_result, cross):
    a, b = (level(zone_result, m).calibration for m in LEVELS)
    preds = cross
    assert [(p.calibrated_mib, p.predicted_mib, p.stalls) for p in preds] == [
        (300, 400, "instantaneous"),
        (300, 400, "timed"),
        (400, 300, "instantaneous"),
        (400, 300, "timed"),
    ]
    inst = preds[0]
    want = replace(a.chain, alloc_rate=b.chain.alloc_rate, free_rate=b.chain.free_rate)
    want = replace(want, gather_rate=b.chain.gather_rate)
    assert inst.chain == want
    assert inst.chain.kswapd_rate == a.chain.kswapd_rate != b.chain.kswapd_rate
    assert inst.chain.direct_reclaim_batch == 50 != b.chain.direct_reclaim_batch
    assert inst.below_min_prob == solve(want).below_min_prob
    timed = preds[1]
    assert timed.chain == with_load(a.timed_chain, b.chain)
    assert timed.chain.stall_mean_s == a.psi_per_stall_s != b.psi_per_stall_s
    # the recorded run: 300 MiB's chain (kswapd slower per load) predicts more pressure at
    # 400 MiB than 400 MiB's own chain, and 400 MiB's chain less at 300 MiB than 300's own
    assert preds[0].below_min_prob > 3 * b.below_min_prob
    assert preds[2].below_min_prob < a.below_min_prob / 3


def test_cross_level_notes_give_predicted_over_guest(zone_result, cross):
    lines = [n for n in zone_result.zone_notes if n.startswith("cross-level")]
    assert len(lines) == 4
    preds = cross
    for line, p in zip(lines, preds, strict=True):
        assert line.startswith(
            f"cross-level, {p.stalls} stalls: {p.predicted_mib} MiB predicted by the "
            f"{p.calibrated_mib} MiB chain"
        )
        rows = zone_rows_of(zone_result, p.predicted_mib)
        for q in CROSS_ROWS:
            r = rows[q]
            own = rows[q + (TIMED if p.stalls == "timed" else "")].predicted
            ratio = p.predicted(q) / r.measured
            assert re.search(
                rf"{q} {p.predicted(q):.3g} / {r.measured:.3g} ± {r.halfwidth:.2g} = "
                rf"x{ratio:.3g} \(own chain x{own / r.measured:.3g}\)",
                line,
            ), (q, line)


def test_a_guest_value_of_zero_gives_a_bound_not_a_ratio():
    from mcstudy.lab.checks import _row
    from mcstudy.probe.noise import Background

    bg = Background(0.0, 0.0, 5, 0.002, 0.95, False)
    row = _row(
        "zone 2 MiB", "nowait_fail_prob", "x", "1/gather", "trace", "b", 0.0, 0.0, bg, "zone"
    )
    zc = ZoneCalibration(zone="DMA", chain=SMALL, seconds=10.0, stalls_per_s=1.0, kswapd_cpu_frac=0)
    other = replace(zc, chain=replace(SMALL, alloc_rate=40.0))
    preds = predict_from(1, zc, 2, other)
    (line,) = cross_level_notes(preds, [row])
    p = preds[0].below_min_prob
    assert p > 0
    assert f"nowait_fail_prob {p:.3g} / 0 ± 0.002 = guest 0 (upper bound 0.002)" in line
    assert f"at least x{p / 0.002:.3g}" in line
    # a level predicted from itself is no cross-level line
    assert cross_level_notes(predict_from(1, zc, 1, zc), [row]) == []


def test_cross_level_reaches_the_terminal_dataset_and_report(zone_result, tmp_path):
    from mcstudy.lab.dataset import build_lab_dataset
    from mcstudy.lab.table import render_lab_table
    from mcstudy.report.build import write_report
    from mcstudy.storage.dataset import open_dataset, write_dataset

    path = write_dataset(build_lab_dataset(zone_result, {}), tmp_path / "lab.nc")
    ds = open_dataset(path)
    text = render_lab_table(ds)
    assert text.count("zone: cross-level, ") == 4
    assert text.count("[timed stalls]") == 12
    html = write_report(path, tmp_path / "lab.html", convergence_seconds=0).read_text()
    assert html.count("cross-level, timed stalls: 400 MiB predicted by the 300 MiB chain") == 1
