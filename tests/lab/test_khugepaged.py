"""khugepaged rows (mcstudy.lab.khugepaged.khugepaged_rows): collapses of the region
``labwork thp`` offered, the rounds collapse_huge_page() sent and their callbacks on the
other CPUs, against the profile's ``khugepaged_sync_ipi``. The phase's output is written
here in the format labwork prints; the rows are also checked through the analysis of the
recorded 6.1 console with such a phase added."""

from __future__ import annotations

import gzip
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mcstudy.kernel.profiles import get_profile
from mcstudy.lab.arch import get_arch
from mcstudy.lab.experiment import analyse
from mcstudy.lab.guestdata import parse_ptwork
from mcstudy.lab.guestrun import LabRequest, kernel_cmdline
from mcstudy.lab.khugepaged import khugepaged_rows
from mcstudy.probe.predict import ProfileMatch

T = "/sys/kernel/tracing/events/lab"
KM = "/sys/kernel/mm/transparent_hugepage/khugepaged"
SETTINGS = """collapse_probe collapse_huge_page
enabled always [madvise] never
khugepaged/scan_sleep_millisecs 10
khugepaged/pages_to_scan 4096
khugepaged/max_ptes_none 511
"""


def snap(
    edge: str,
    collapses: int,
    calls: int,
    rounds: int,
    callbacks: dict[int, int],
    allocated: int | None = None,
    alloc_failed: int = 0,
    sysfs: bool = True,
) -> str:
    """One snapshot of the phase's files: vmstat (THPs mapped, huge pages allocated for a
    collapse and failed allocations), khugepaged's pages_collapsed and full_scans, and
    the three trace histograms."""
    cb = "\n".join(f"{{ cpu: {c} }} hitcount: {n}" for c, n in callbacks.items())
    allocated = collapses if allocated is None else allocated
    out = (
        f"@file {edge} /proc/vmstat\nnr_free_pages 1000\nnr_anon_transparent_hugepages "
        f"{collapses}\npgfree 5\nthp_collapse_alloc {allocated}\n"
        f"thp_collapse_alloc_failed {alloc_failed}\n@end\n"
    )
    if sysfs:
        out += (
            f"@file {edge} {KM}/pages_collapsed\n{collapses}\n@end\n"
            f"@file {edge} {KM}/full_scans\n{3 if collapses else 0}\n@end\n"
        )
    return out + (
        f"@file {edge} {T}/kcollapse/hist\n{{ common_pid: 31 }} hitcount: {calls}\n@end\n"
        f"@file {edge} {T}/ksync/hist\n{{ common_pid: 31 }} hitcount: {rounds}\n@end\n"
        f"@file {edge} {T}/callback/hist\n# comment\n{cb}\n\nTotals:\n    Hits: 1\n@end\n"
    )


def phase(
    collapsed,
    rounds,
    callbacks,
    idle_callbacks=(0,) * 8,
    done=None,
    ranges=16,
    allocated=None,
    alloc_failed=0,
    sysfs=True,
) -> str:
    """labwork thp output: 1 s no-work windows, one 3 s work window over 16 PMD ranges
    (``allocated``: attempts that got their huge page, default ``collapsed``)."""
    out = "@region 4194304 20971520\n@maps\n00400000-01400000 rw-p 00000000 00:00 0\n@end\n"
    t = 10_000_000_000
    base = {0: 5, 1: 7}
    for b, extra in enumerate(idle_callbacks):
        out += snap("begin", 0, 0, 0, base, sysfs=sysfs)
        base = {0: base[0] + extra, 1: base[1]}
        out += snap("end", 0, 0, 0, base, sysfs=sysfs)
        out += f"@window idle {b} 0 {t} {t + 1_000_000_000}\n"
        t += 1_000_000_000
    out += snap("begin", 0, 0, 0, base, sysfs=sysfs)
    calls = (collapsed if allocated is None else allocated) + alloc_failed
    out += snap(
        "end",
        collapsed,
        calls,
        rounds,
        {0: base[0] + callbacks, 1: base[1]},
        allocated=allocated,
        alloc_failed=alloc_failed,
        sysfs=sysfs,
    )
    out += f"@window work 0 {ranges} {t} {t + 3_000_000_000}\n"
    return out + f"@done {collapsed if done is None else done}\n"


class _Quiet(ProfileMatch):
    """A profile whose collapse sends no round (the x86 native-flush change of 7.x)."""

    @property
    def profile(self):
        return replace(get_profile("v6.15"), khugepaged_sync_ipi=False)


def profile(sync: bool) -> ProfileMatch:
    return ProfileMatch("v6.15", (), ()) if sync else _Quiet("quiet", (), ())


def rows_of(text, sync=True, settings=SETTINGS, online=2):
    from mcstudy.lab.experiment import parse_facts

    run = parse_ptwork(text) if text is not None else None
    rows = khugepaged_rows(run, parse_facts(settings), profile(sync), online, 0.99)
    return {r.quantity: r for r in rows}


def test_one_round_and_one_callback_per_collapse_agree():
    by = rows_of(phase(16, 16, 16))
    c = by["collapses_observed"]
    assert (c.measured, c.predicted) == (16.0, 16.0) and c.agrees
    assert "16 collapse_huge_page() calls" in c.source and "max_ptes_none 511" in c.basis
    assert by["collapse_rounds"].measured == 1.0 and by["collapse_rounds"].agrees
    ipi = by["sync_ipis_per_collapse"]
    assert ipi.measured == 1.0 and ipi.predicted == 1.0 and ipi.agrees
    assert ipi.scope == "other CPUs"


def test_a_kernel_whose_collapse_sends_no_round_disagrees_with_a_broadcasting_profile():
    by = rows_of(phase(16, 0, 0))
    assert by["collapse_rounds"].measured == 0.0 and not by["collapse_rounds"].agrees
    assert by["sync_ipis_per_collapse"].measured == 0.0
    assert not by["sync_ipis_per_collapse"].agrees
    quiet = rows_of(phase(16, 0, 0), sync=False)
    assert quiet["collapse_rounds"].agrees and quiet["sync_ipis_per_collapse"].agrees


def test_background_callbacks_are_subtracted_and_widen_the_noise():
    by = rows_of(phase(16, 16, 16 + 6, idle_callbacks=(2,) * 8))
    ipi = by["sync_ipis_per_collapse"]
    # 2 callbacks per 1 s idle window -> 6 expected in the 3 s work window
    assert ipi.measured == pytest.approx(1.0)
    assert ipi.halfwidth > 0


def test_fewer_collapses_than_ranges_is_reported_not_hidden():
    by = rows_of(phase(5, 5, 5, done=5))
    c = by["collapses_observed"]
    assert c.measured == 5.0 and c.predicted == 16.0 and not c.agrees
    assert "5 of 16 2 MiB ranges mapped huge" in c.source


def test_a_phase_that_could_not_run_keeps_its_rows_with_the_reason():
    by = rows_of(None, settings="error no /sys/kernel/mm/transparent_hugepage/khugepaged\n")
    assert set(by) == {"collapses_observed", "collapse_rounds", "sync_ipis_per_collapse"}
    for r in by.values():
        assert math.isnan(r.measured) and not r.agrees
        assert "no /sys/kernel/mm/transparent_hugepage/khugepaged" in r.not_measurable
    none = rows_of(phase(0, 0, 0, done=0))
    assert none["collapses_observed"].measured == 0.0
    assert "no collapse attempt of khugepaged got its huge page" in (
        none["sync_ipis_per_collapse"].not_measurable
    )


def test_without_the_round_probes_the_round_rows_are_not_measurable():
    text = re.sub(
        r"@file \w+ \S+/(ksync|callback)/hist\n.*?@end\n", "", phase(16, 16, 16), flags=re.S
    )
    assert "ksync" not in text and "@done" in text
    by = rows_of(text)
    assert by["collapses_observed"].measured == 16.0
    assert "tlb_remove_table_smp_sync" in by["collapse_rounds"].not_measurable


def test_the_recorded_run_with_a_khugepaged_phase(arm64_run):
    console, req, prep = arm64_run
    files = {**console.files, "khugepaged_settings": SETTINGS, "khugepaged": phase(16, 16, 16)}
    spec = get_arch("arm64")
    req = replace(req, khugepaged_mib=16)
    res = analyse(replace(console, files=files), req, spec, prep, kernel_cmdline(req, spec), 60.0)
    by = {(r.phase, r.quantity): r for r in res.rows}
    assert by[("khugepaged", "sync_ipis_per_collapse")].agrees
    assert by[("khugepaged", "collapses_observed")].measured == 16.0
    # an older console without the phase has no khugepaged rows
    old = analyse(
        console, LabRequest(**{**req.__dict__, "khugepaged_mib": 0}), spec, prep, "", 60.0
    )
    assert not any(r.phase == "khugepaged" for r in old.rows)


def test_failed_huge_page_allocations_are_neither_collapses_nor_rounds_owed():
    """collapse_huge_page() returns before its round when the huge page cannot be
    allocated (thp_collapse_alloc_failed); such attempts are not collapses, and the rounds
    are per attempt that got its page. One attempt failing after its round (isolation)
    leaves 17 rounds for 17 allocations and 16 collapses."""
    by = rows_of(phase(16, 17, 17, allocated=17, alloc_failed=377))
    c = by["collapses_observed"]
    assert (c.measured, c.predicted) == (16.0, 16.0) and c.agrees
    assert "17 got their huge page" in c.source and "377 did not" in c.source
    assert "394 collapse_huge_page() calls" in c.source and "3 full scans" in c.source
    r = by["collapse_rounds"]
    assert r.measured == 1.0 and r.agrees and "(17)" in r.source
    assert by["sync_ipis_per_collapse"].measured == 1.0 and by["sync_ipis_per_collapse"].agrees


def test_a_phase_that_timed_out_says_so():
    by = rows_of(phase(5, 5, 5, done=5))
    c = by["collapses_observed"]
    assert "ended by its time limit" in c.source and "5 of 16 2 MiB ranges" in c.source
    assert (
        "all 16 2 MiB ranges mapped huge" in rows_of(phase(16, 16, 16))["collapses_observed"].source
    )


def test_without_khugepaged_counters_the_thps_mapped_count():
    """Runs made before the phase read pages_collapsed: the THPs mapped are the collapses."""
    by = rows_of(phase(16, 16, 16, allocated=16, alloc_failed=9, sysfs=False))
    c = by["collapses_observed"]
    assert c.measured == 16.0 and "nr_anon_transparent_hugepages" in c.source
    assert by["collapse_rounds"].measured == 1.0


@pytest.mark.parametrize(
    ("name", "prof", "failed"),
    [("arm64-6.1", "v6.15", 377), ("amd64-7.2", "v7.0-pt-reclaim", 1102)],
)
def test_recorded_runs_whose_huge_page_allocations_failed(name, prof, failed):
    """The khugepaged phases of a quiet matrix (6.1 arm64, 7.2 amd64): after the pressure
    levels most of khugepaged's huge-page allocations failed; counted as collapses they
    made 0.04 and 0.02 rounds per collapse. Per attempt that got its page: 1, as the
    source says (7.2.13 amd64 has no 'skip redundant sync IPIs' change: 17 rounds)."""
    from mcstudy.lab.console import parse_console
    from mcstudy.lab.experiment import parse_facts

    path = Path(__file__).parents[1] / "data" / "lab" / f"console-{name}-khugepaged.txt.gz"
    console = parse_console(gzip.decompress(path.read_bytes()).decode())
    run = parse_ptwork(console.files["khugepaged"])
    settings = parse_facts(console.files["khugepaged_settings"])
    rows = khugepaged_rows(run, settings, ProfileMatch(prof, (), ()), 2, 0.99)
    by = {r.quantity: r for r in rows}
    c = by["collapses_observed"]
    assert (c.measured, c.predicted) == (16.0, 16.0) and c.agrees
    assert f"{failed} did not" in c.source
    for q in ("collapse_rounds", "sync_ipis_per_collapse"):
        assert by[q].predicted == 1.0
        assert by[q].measured == pytest.approx(1.0, abs=0.07) and by[q].agrees, by[q]
