"""The whole analysis on guest consoles recorded from real runs: rows, verdict, dataset,
table and report section (no emulator needed)."""

from __future__ import annotations

import json
import math

from mcstudy.exact.pressure import solve
from mcstudy.lab.arch import get_arch
from mcstudy.lab.dataset import build_lab_dataset, is_lab_dataset
from mcstudy.lab.experiment import analyse, law_verdict
from mcstudy.lab.guestrun import kernel_cmdline
from mcstudy.lab.table import render_lab_table
from mcstudy.storage.dataset import open_dataset, write_dataset


def rows_by(res):
    return {(r.phase, r.quantity): r for r in res.rows}


def test_arm64_guest_under_pressure(arm64_run, tmp_path):
    console, req, prep = arm64_run
    spec = get_arch("arm64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 60.0)
    assert res.profile.name == "v6.15" and res.online == 2
    rows = rows_by(res)
    t = rows[("munmap", "tables_per_gather")]
    # isolated 128 MiB region: 64 PTE tables + its PMD and PUD tables, every gather
    assert (t.measured, t.predicted, t.agrees) == (66.0, 66.0, True)
    assert rows[("munmap", "gathers_off_prediction")].measured == 0
    assert rows[("munmap", "tlb_remove_table_per_gather")].measured == 66.0
    fb = rows[("fallback", "fallbacks_observed")]
    assert fb.measured == fb.predicted > 0 and fb.agrees
    ipi = rows[("fallback", "sync_ipis_per_fallback")]
    assert ipi.predicted == 1.0 and ipi.agrees and abs(ipi.measured - 1.0) < 0.05
    assert rows[("fallback", "fail_rule")].measured == 1.0
    # the within-gather law: failures persist, so neither model law fits
    law, _ = law_verdict(res.rows)
    assert law == "neither"
    assert not rows[("law: all-or-nothing gathers", "all_fail_given_first")].agrees
    assert not rows[("law: independent attempts", "attempt_lag1_corr")].agrees
    assert 0.5 < res.law_facts["persistence"] < 1.0
    # the zone chain calibrated from the guest
    z = rows[("zone 350 MiB", "nowait_fail_prob")]
    assert math.isfinite(z.predicted) and 0.0 < z.measured < 1.0
    assert rows[("zone 350 MiB", "stalls_per_s")].measured > 0
    assert any("direct reclaim is instantaneous" in n for n in res.zone_notes)
    # every noise interval is a finite non-negative half-width
    assert all(r.halfwidth >= 0 and math.isfinite(r.halfwidth) for r in res.rows)

    ds = open_dataset(write_dataset(build_lab_dataset(res, {"test": True}), tmp_path / "lab.nc"))
    assert is_lab_dataset(ds) and ds.sizes["check"] == len(res.rows)
    assert ds.sizes["gather"] == 400 and list(ds.level.values) == [0, 350]
    assert int(ds.gather_fallbacks.sum()) == fb.measured
    zone = res.levels[1].calibration.chain  # the zone record the exact solver took
    assert ds.zone_wmark_min.values[1] == zone.wmark_min and zone.reclaim_batch == 32
    assert ds.zone_below_min_prob_model.values[1] == solve(zone).below_min_prob
    assert ds.attrs["law_followed"] == "neither"
    assert json.loads(ds.attrs["params"])["gathers"] == 200
    text = render_lab_table(ds)
    assert (
        "page tables freed per gather" in text and "neither independent nor all-or-nothing" in text
    )
    assert "/root" not in text and "/home" not in text  # no machine path in the output


def test_amd64_guest_never_calls_tlb_remove_table(amd64_run):
    console, req, prep = amd64_run
    spec = get_arch("amd64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 30.0)
    assert res.profile.name == "v6.3-baremetal"
    rows = rows_by(res)
    calls = rows[("munmap", "tlb_remove_table_per_gather")]
    assert (calls.measured, calls.predicted, calls.agrees) == (0.0, 0.0, True)
    freed = rows[("munmap", "tables_per_gather")]  # through ___pte_free_tlb() & co
    assert (freed.measured, freed.predicted) == (66.0, 66.0)
    assert rows[("fallback", "fallbacks_observed")].measured == 0
    assert not any(r.scope == "law" for r in res.rows)
    assert law_verdict(res.rows)[0] == "none"


def test_report_section(arm64_run, tmp_path):
    from mcstudy.document.blocks import TableBlock
    from mcstudy.lab import section
    from mcstudy.report.catalog import builders_for

    console, req, prep = arm64_run
    spec = get_arch("arm64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 60.0)
    path = write_dataset(build_lab_dataset(res, {}), tmp_path / "lab.nc")
    ds = open_dataset(path)
    assert section.build in builders_for(("lab",))
    sec = section.lab_section(ds, path.name)
    (table,) = [b for b in sec.blocks if isinstance(b, TableBlock)]
    assert len(table.rows) == ds.sizes["check"] and table.header[-1] == "agrees"

    from mcstudy.report.build import write_report

    html = write_report(path, tmp_path / "lab.html", convergence_seconds=0)
    text = html.read_text()
    assert "Kernel lab" in text and "tlb_remove_table" in text


def test_a_run_without_failures_leaves_the_law_undetermined(arm64_run):
    from dataclasses import replace as dc_replace

    from mcstudy.lab.checks import law_rows

    console, req, prep = arm64_run
    spec = get_arch("arm64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 60.0)
    calm = dc_replace(res.levels[0], mib=1)  # the level without churn: no attempt failed
    rows, facts = law_rows([calm], 66, 509, 0.99, reps=50)
    assert facts["first_fails"] == 0 and len(rows) == 9
    assert law_verdict(rows)[0] == "undetermined"
