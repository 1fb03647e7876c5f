"""Measured vs predicted on synthetic worker results: agreement only where the kernel
behaves as the model says, disagreement flagged where it does not."""

from __future__ import annotations

import math

import pytest

from mcstudy.probe.checks import build_checks
from mcstudy.probe.noise import row_level

from .conftest import BASE_CAL, fake_raw


def _row(checks, phase, quantity):
    (row,) = [c for c in checks if c.phase == phase and c.quantity == quantity]
    return row


def test_model_kernel_agrees_everywhere(profile):
    checks = build_checks(fake_raw(), profile)
    assert len(checks) == 28
    assert all(c.agrees for c in checks), [c.label for c in checks if not c.agrees]
    assert {c.scope for c in checks} == {"this mm", "other CPUs", "machine"}
    # the same Bonferroni level on every row
    assert {c.background.level for c in checks} == {row_level(28)}


def test_measured_values_in_row_units(profile):
    checks = build_checks(fake_raw(thps=64), profile)
    dep = _row(checks, "thp_fault", "deposit_per_thp_fault")
    assert dep.measured == pytest.approx(1.0)
    assert _row(checks, "thp_fault", "page_tables_allocated").predicted == 66
    assert _row(checks, "thp_split", "deposit_reused_per_split").measured == pytest.approx(1.0)
    ipi = _row(checks, "collapse", "sync_ipis_per_collapse")
    bg = sum(BASE_CAL) / len(BASE_CAL)
    assert ipi.measured == pytest.approx((64 + 1 - bg) / 64)
    assert ipi.predicted == 1.0
    assert _row(checks, "munmap_4k_isolated", "page_tables_freed").predicted == 35
    assert _row(checks, "munmap_4k_adjacent", "page_tables_freed").predicted == 31
    assert _row(checks, "munmap_4k_adjacent", "fallback_ipis_per_cpu").predicted == 0.0


def test_kernel_without_deposit_is_flagged(profile):
    checks = build_checks(fake_raw(deposit=0.0), profile)
    dep = _row(checks, "thp_fault", "deposit_per_thp_fault")
    assert not dep.agrees
    assert dep.measured == pytest.approx(0.0)


def test_on_demand_table_at_split_is_flagged(profile):
    checks = build_checks(fake_raw(split_alloc=64), profile)
    reuse = _row(checks, "thp_split", "deposit_reused_per_split")
    assert not reuse.agrees
    assert reuse.measured == pytest.approx(0.0)


def test_collapse_without_sync_ipi_is_flagged(profile):
    checks = build_checks(fake_raw(ipis_per_collapse=0.0), profile)
    assert not _row(checks, "collapse", "sync_ipis_per_collapse").agrees


def test_collapse_ipi_to_two_cpus_is_flagged(profile):
    # one IPI per collapse is predicted per other CPU; twice that must not pass
    checks = build_checks(fake_raw(ipis_per_collapse=2.0), profile)
    assert not _row(checks, "collapse", "sync_ipis_per_collapse").agrees


def test_wrong_munmap_table_count_is_flagged(profile):
    checks = build_checks(fake_raw(munmap_extra_freed=2), profile)
    for nb in ("isolated", "adjacent"):
        assert not _row(checks, f"munmap_4k_{nb}", "page_tables_freed").agrees


def test_fallback_ipis_beyond_noise_are_flagged(profile):
    checks = build_checks(fake_raw(fallback_ipis=20), profile)
    assert not _row(checks, "munmap_4k_isolated", "fallback_ipis_per_cpu").agrees
    few = build_checks(fake_raw(fallback_ipis=1), profile)
    assert _row(few, "munmap_4k_isolated", "fallback_ipis_per_cpu").agrees


def test_noise_scales_to_row_units(profile):
    checks = build_checks(fake_raw(thps=64), profile)
    ipi = _row(checks, "collapse", "sync_ipis_per_collapse")
    assert ipi.halfwidth == pytest.approx(ipi.background.halfwidth / 64)
    assert math.isfinite(ipi.halfwidth) and ipi.halfwidth > 0
    # the worker's own VmPTE has no background at all: agreement must be exact
    dep = _row(checks, "thp_fault", "deposit_per_thp_fault")
    assert dep.halfwidth == 0.0
    off_by_one = fake_raw(deposit=65 / 64)  # one stray table in 64 faults
    assert not _row(build_checks(off_by_one, profile), "thp_fault", "deposit_per_thp_fault").agrees


def test_burst_in_background_widens_machine_rows(profile):
    raw = fake_raw()
    # another process exits during one no-work window of the split phase: -250 tables
    raw["phases"][1]["baselines"][3]["counters"]["PageTables_kB"] = -1000
    raw["phases"][5]["window"]["counters"]["PageTables_kB"] += 4 * 200
    checks = build_checks(raw, profile)
    row = _row(checks, "munmap_4k_isolated", "pagetables_freed")
    assert row.background.burst >= 250
    assert row.agrees  # a 200-table burst is within the largest burst this run saw
    # the per-mm row for the same quantity is unaffected (exact counter, no burst)
    assert _row(checks, "munmap_4k_isolated", "page_tables_freed").background.burst == 0
    # IPI counts accumulate with time: no burst floor, their own phase's interval
    assert _row(checks, "munmap_4k_isolated", "tlb_shootdowns").background.burst == 0


def test_thp_fault_fallbacks_are_accounted(profile):
    # 8 of 64 faults fell back to 4 KiB pages: each allocated a PTE table, no deposit
    raw = fake_raw(thps=64)
    fault = raw["phases"][0]
    fault["facts"]["thps_mapped"] = 56
    fault["window"]["counters"]["thp_fault_alloc"] = 56
    checks = build_checks(raw, profile)
    assert _row(checks, "thp_fault", "page_tables_allocated").predicted == 66
    dep = _row(checks, "thp_fault", "deposit_per_thp_fault")
    assert dep.measured == pytest.approx(1.0) and dep.agrees
