"""Calibration logic: vmstat rates, the GFP_NOWAIT zone, the kernel formula check."""

from __future__ import annotations

import pytest

from mcstudy.calibrate.calibration import (
    calibrate,
    compare_with_kernel,
    live_vmstat_snapshots,
    nowait_zone,
    vmstat_rates,
)
from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import parse_zoneinfo
from tests.paths import PROC

DATA = PROC


def test_rates_arithmetic():
    before = {"pgalloc_normal": 1000, "pgalloc_dma32": 0, "pgfree": 5000,
              "pgsteal_kswapd": 10, "pgsteal_direct": 0, "thp_split_pmd": 1,
              "thp_collapse_alloc": 2, "thp_fault_alloc": 0}  # fmt: skip
    after = {"pgalloc_normal": 4000, "pgalloc_dma32": 1000, "pgfree": 10000,
             "pgsteal_kswapd": 210, "pgsteal_direct": 0, "thp_split_pmd": 3,
             "thp_collapse_alloc": 6, "thp_fault_alloc": 4}  # fmt: skip
    params, info = vmstat_rates(before, after, 2.0, "Normal")
    assert params["alloc_rate"] == 1500.0
    # frees minus reclaim, times the zone's share (3000 of 4000) of allocations
    assert params["free_rate"] == pytest.approx((5000 - 200) * 0.75 / 2.0)
    assert params["thp_split_rate"] == 1.0 and params["khugepaged_collapse_rate"] == 2.0
    assert info["thp_fault_rate"] == 2.0 and info["kswapd_reclaim_pages_per_s"] == 100.0
    old = {"pgalloc_normal": 0, "pgfree": 0, "thp_split": 0, "pgsteal_kswapd_normal": 0}
    new = {"pgalloc_normal": 10, "pgfree": 20, "thp_split": 4, "pgsteal_kswapd_normal": 5}
    params, _ = vmstat_rates(old, new, 1.0, "Normal")
    assert params["thp_split_rate"] == 4.0 and params["free_rate"] == 15.0


def test_nowait_zone_is_the_highest_populated_up_to_normal():
    zones = parse_zoneinfo(DATA / "zoneinfo")
    assert nowait_zone(zones, 0).name == "Normal"
    without_normal = [z for z in zones if z.name != "Normal"]
    assert nowait_zone(without_normal, 0).name == "DMA32"
    with pytest.raises(McStudyError, match=r"node 1 not in zoneinfo \(nodes: \[0\]\)"):
        nowait_zone(zones, 1)
    movable = [z for z in zones if z.name in ("Movable", "Device")]
    with pytest.raises(McStudyError, match="no populated DMA/DMA32/Normal zone"):
        nowait_zone(movable, 0)


def test_kernel_formulas_match_every_shipped_zone():
    zones = parse_zoneinfo(DATA / "zoneinfo")
    formula, thp, matches = compare_with_kernel(zones)
    assert thp and formula.min_free_kbytes == 67584
    assert matches == dict.fromkeys(["DMA", "DMA32", "Normal", "Movable", "Device"], True)
    # another watermark_scale_factor moves low/high away from the file's marks
    _, _, matches = compare_with_kernel(zones, watermark_scale_factor=100)
    assert not matches["Normal"]


def test_calibrate_without_vmstat_gives_the_zone_only():
    cal = calibrate(DATA / "zoneinfo", None)
    assert cal.zone.name == "Normal" and cal.zones[0].name == "DMA"
    assert cal.params == {
        "managed_pages": 5394266, "wmark_min": 14769, "wmark_low": 20163, "wmark_high": 25557,
    }  # fmt: skip
    assert cal.info == {"zone": "Normal", "node": 0, "boost": 0, "free_pages": cal.zone.free}


def test_rates_refuse_bad_intervals_and_swapped_snapshots():
    with pytest.raises(McStudyError, match="expected seconds between"):
        vmstat_rates({"pgfree": 1}, {"pgfree": 2}, 0.0, "Normal")
    with pytest.raises(McStudyError, match="went backwards"):
        vmstat_rates({"pgfree": 2}, {"pgfree": 1}, 1.0, "Normal")


def test_live_vmstat_snapshots_read_a_file_twice(tmp_path, monkeypatch):
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("pgfree 5\npgalloc_normal 3\n")
    waits = []

    def sleep(seconds: float) -> None:
        vmstat.write_text("pgfree 9\npgalloc_normal 4\n")

    monkeypatch.setattr("mcstudy.calibrate.calibration.time.sleep", sleep)
    before, after, seconds = live_vmstat_snapshots(0.5, vmstat, waits.append)
    assert before == {"pgfree": 5, "pgalloc_normal": 3}
    assert after == {"pgfree": 9, "pgalloc_normal": 4}
    assert waits == [0.5] and seconds >= 0.0
    with pytest.raises(McStudyError, match="expected seconds between"):
        live_vmstat_snapshots(0.0, vmstat)


def test_a_quiet_live_machine_is_read_again_until_it_allocates(tmp_path, monkeypatch):
    """Frees without an allocation in the first wait (seen on an idle CI machine over
    0.2 s) make the live reading wait again, not fail; it gives up after the limit."""
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("pgfree 5\npgalloc_normal 3\n")
    states = iter(["pgfree 35\npgalloc_normal 3\n", "pgfree 40\npgalloc_normal 7\n"])
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds
        vmstat.write_text(next(states))

    monkeypatch.setattr("mcstudy.calibrate.calibration.time.sleep", sleep)
    monkeypatch.setattr("mcstudy.calibrate.calibration.time.monotonic", lambda: clock[0])
    waits = []
    _, after, seconds = live_vmstat_snapshots(0.2, vmstat, waits.append)
    assert after == {"pgfree": 40, "pgalloc_normal": 7}
    assert waits == [0.2, 0.2] and seconds == pytest.approx(0.4)
    # never allocating: gives up after `most` seconds with the last reading
    vmstat.write_text("pgfree 5\npgalloc_normal 3\n")

    def quiet(seconds: float) -> None:
        clock[0] += seconds

    monkeypatch.setattr("mcstudy.calibrate.calibration.time.sleep", quiet)
    clock[0] = 0.0
    _, after, seconds = live_vmstat_snapshots(1.0, vmstat, most=3.0)
    assert after["pgalloc_normal"] == 3 and seconds == pytest.approx(3.0)
