"""A real run of ``mcstudy lab`` (arm64, Debian's 6.1 cloud kernel, default levels 0, 300
and 400 MiB, 2000 gathers each) with the stall trace, the fast zone sampler and the
zone-independent workload, recorded with ``--console-log`` on a 2-core machine without
KVM: the zone rows are checked on it without an emulator (docs/lab.md §5)."""

from __future__ import annotations

import gzip
import math
from dataclasses import replace

import pytest

from mcstudy.lab.arch import get_arch
from mcstudy.lab.console import parse_console
from mcstudy.lab.errors import LabError
from mcstudy.lab.experiment import analyse, stall_buffer_stats
from mcstudy.lab.guestrun import LabRequest, kernel_cmdline
from mcstudy.lab.zonerows import span_of, zone_rows
from mcstudy.lab.zonetrace import parse_stalls
from tests.lab.conftest import LAB, analysed_zone, recorded

CONSOLE = "console-arm64-6.1-zone.txt.gz"
PACKAGE = "linux-image-6.1.0-57-cloud-arm64-unsigned"
RELEASE = "6.1.0-57-cloud-arm64"
NEW_ROWS = (
    "nowait_fail_prob",
    "time_below_min_frac",
    "time_below_min_frac_unboosted",
    "stalls_per_s",
    "mean_stall_ms",
    "stall_cv",
    "pages_per_stall",
    "stall_reclaim_position",
    "nowait_fail_prob_independent",
    "time_below_min_frac_independent",
    # the timed-stall chain's twins (same measurement, tests/lab/test_crosslevel.py)
    "nowait_fail_prob_timed",
    "time_below_min_frac_timed",
    "time_below_min_frac_unboosted_timed",
    "stalls_per_s_timed",
    "nowait_fail_prob_independent_timed",
    "time_below_min_frac_independent_timed",
)


def console_text() -> str:
    return gzip.decompress((LAB / CONSOLE).read_bytes()).decode()


def analysed(tmp_path, text: str | None = None):
    return analysed_zone(tmp_path, text)


@pytest.fixture(scope="module")
def result(zone_result):
    return zone_result


def zone(res, mib: int) -> dict:
    return {r.quantity: r for r in res.rows if r.phase == f"zone {mib} MiB"}


@pytest.mark.parametrize("mib", [300, 400])
def test_every_zone_row_is_there_with_its_source(result, mib):
    rows = zone(result, mib)
    assert tuple(rows) == NEW_ROWS
    assert rows["time_below_min_frac"].source.startswith("fast sampler")
    assert rows["stalls_per_s"].source.startswith("stall trace")
    for r in rows.values():
        assert math.isfinite(r.measured) and math.isfinite(r.halfwidth) and r.halfwidth > 0


@pytest.mark.parametrize("mib", [300, 400])
def test_stall_rows_follow_the_trace(result, mib):
    lv = next(lv for lv in result.levels if lv.mib == mib)
    t0, t1 = span_of(lv.run)
    stalls = [s for s in lv.stalls.stalls if t0 <= s.start <= t1]
    rows = zone(result, mib)
    assert rows["stalls_per_s"].measured == pytest.approx(len(stalls) / (t1 - t0))
    mean_ms = 1e3 * sum(s.seconds for s in stalls) / len(stalls)
    assert rows["mean_stall_ms"].measured == pytest.approx(mean_ms)
    # one tracepoint pair per allocstall: the trace and the counter agree to 1 %
    assert len(stalls) == pytest.approx(lv.calibration.allocstalls, rel=0.01)
    # the pages a stall reclaims: the trace's nr_reclaimed against pgsteal_direct/allocstall
    assert rows["pages_per_stall"].agrees
    # the predicted stall time is calibrate's PSI some / allocstall from the level's /proc
    assert rows["mean_stall_ms"].predicted == pytest.approx(1e3 * lv.calibration.psi_per_stall_s)
    assert "mixed" in lv.calibration.psi_is  # kswapd ran: PSI's figure is neither bound
    # a stall's LRU pages are not all freed at its end
    assert 0.5 < rows["stall_reclaim_position"].measured < 0.9
    assert not rows["stall_reclaim_position"].agrees


@pytest.mark.parametrize("mib", [300, 400])
def test_independent_workload(result, mib):
    lv = next(lv for lv in result.levels if lv.mib == mib)
    run, blocks = lv.indep
    gathers = [g for b in blocks for g in b]
    assert len(gathers) == run.done == 2000
    # one page table per munmap: a single batch-page attempt, none left in the batch page
    assert all(len(g.attempts) >= 1 for g in gathers)
    firsts = sum(1 for g in gathers if g.attempts[0].failed)
    assert zone(result, mib)["nowait_fail_prob_independent"].measured == pytest.approx(
        firsts / 2000
    )


@pytest.mark.parametrize("mib", [300, 400])
def test_time_below_min_boosted_and_unboosted(result, mib):
    lv = next(lv for lv in result.levels if lv.mib == mib)
    t0, t1 = span_of(lv.run)
    own = [q for q in lv.watch if q.zone == "DMA" and t0 <= q.end_ms * 1e-3 <= t1]
    rows = zone(result, mib)
    r = rows["time_below_min_frac"]
    assert r.measured == pytest.approx(sum(q.below for q in own) / sum(q.samples for q in own))
    # 12,000 samples or more, about 100-160 per second (TCG): a fifth to a quarter of the
    # time at or below the boosted min, with between-batch noise of 30 % (300 MiB) and 58 %
    # (400 MiB) of the value: the pressure varies over seconds (docs/lab.md §5)
    assert sum(q.samples for q in own) > 12000 and 0.2 < r.measured < 0.3
    assert 0.25 * r.measured < r.halfwidth < 0.6 * r.measured
    # the zone without its boost: at most a few samples at or below min, as the chain (no
    # boost) predicts; its noise half-width is under 0.002
    u = rows["time_below_min_frac_unboosted"]
    assert u.measured < 1e-3 and u.agrees and u.halfwidth < 2e-3


def test_lost_stall_events_stop_the_run(tmp_path):
    text = console_text()
    bad = stall_buffer_stats("@cpu 0\nentries: 5\noverrun: 3\n@cpu 1\noverrun: 0\n")
    assert bad == {0: {"entries": 5, "overrun": 3}, 1: {"overrun": 0}}
    console = parse_console(text)
    lv = console.levels[1]
    lv.files["stall_stats"] = "@cpu 0\nentries: 5\noverrun: 3\n"
    spec = get_arch("arm64")
    _, _, prep = recorded("arm64", tmp_path)
    req = LabRequest(arch="arm64")
    with pytest.raises(LabError, match="the stall trace lost events on CPU 0"):
        analyse(console, req, spec, prep, kernel_cmdline(req, spec), 300.0)


def test_stall_trace_of_the_recording_pairs_cleanly():
    console = parse_console(console_text())
    for lv in console.levels[1:]:
        st = parse_stalls(lv.files["stalls"])
        assert st.ends_without_begin == 0 and len(st.stalls) > 100


@pytest.mark.slow
def test_older_recordings_keep_their_three_zone_rows(tmp_path):
    """A console recorded before the stall trace and the fast sampler: the same three
    quantities from the same sources as before (earlier datasets stay comparable)."""
    from tests.lab.test_recorded_kernels import analysed as analysed_kernel

    res = analysed_kernel("6.12", tmp_path)
    rows = zone(res, 300)
    assert tuple(rows) == ("nowait_fail_prob", "time_below_min_frac", "stalls_per_s")
    assert rows["time_below_min_frac"].source.startswith("samples of /proc/zoneinfo")
    assert rows["stalls_per_s"].source == "vmstat allocstall"


def test_a_kernel_without_the_stall_tracepoints(result):
    """No vmscan direct-reclaim tracepoints: stalls per second from allocstall, the stall
    rows kept as "not measurable on this kernel" with the reason (no number, no verdict)."""
    lv = next(lv for lv in result.levels if lv.mib == 300)
    why = "no tracepoint vmscan/mm_vmscan_direct_reclaim_begin in the kernel's tracefs"
    bare = replace(lv, stalls=None, stall_missing={"vmscan/mm_vmscan_direct_reclaim_begin": why})
    rows = {r.quantity: r for r in zone_rows(bare, 0.95)}
    assert rows["stalls_per_s"].source == "vmstat allocstall"
    for q in ("mean_stall_ms", "stall_cv", "pages_per_stall", "stall_reclaim_position"):
        assert rows[q].not_measurable == why
        assert math.isnan(rows[q].measured) and not rows[q].agrees
    # the LRU passes alone missing: only where a stall frees its pages is not measurable
    lru = "no tracepoint vmscan/mm_vmscan_lru_shrink_inactive in the kernel's tracefs"
    noruns = replace(lv.stalls, stalls=[replace(s, passes=[]) for s in lv.stalls.stalls])
    part = replace(lv, stalls=noruns, stall_missing={"vmscan/mm_vmscan_lru_shrink_inactive": lru})
    rows = [r for r in zone_rows(part, 0.95)]
    pos = [r for r in rows if r.quantity == "stall_reclaim_position"]
    assert len(pos) == 1 and pos[0].not_measurable == lru
    assert next(r for r in rows if r.quantity == "mean_stall_ms").not_measurable == ""


def test_the_support_artefact_lists_the_tracepoints():
    console = parse_console(console_text())
    lines = console.files["support"].splitlines()
    for e in ("direct_reclaim_begin", "direct_reclaim_end", "lru_shrink_inactive"):
        assert f"tracepoint vmscan/mm_vmscan_{e} yes" in lines
    assert "file /proc/pressure/memory yes" in lines


@pytest.mark.parametrize("mib", [300, 400])
def test_rendered_cells_show_the_fraction_rows_noise(result, mib):
    """The report's cells (3 decimals for units with a '/', else 1): the CV and the
    position within a stall keep their noise visible (0.019 printed '0' with unit '1')."""
    from mcstudy.document.checks import fmt_number

    rows = zone(result, mib)
    for q in ("stall_cv", "stall_reclaim_position"):
        r = rows[q]
        cell = fmt_number(r.halfwidth, r.unit)
        assert cell != "0" and float(cell) == pytest.approx(r.halfwidth, abs=5e-4)
