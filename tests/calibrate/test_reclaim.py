"""Reclaim dynamics of ``mcstudy calibrate``: PSI, stalls, kswapd's CPU time, khugepaged."""

from __future__ import annotations

import errno
import math
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.calibrate import reclaim
from mcstudy.calibrate.calibration import calibrate, live_snapshots
from mcstudy.calibrate.reclaim import ReclaimInput, reclaim_values
from mcstudy.cli import main
from mcstudy.errors import McStudyError
from mcstudy.kernel import procfs, procfs_reclaim
from mcstudy.kernel.procfs import ProcFormatError
from mcstudy.kernel.procfs_reclaim import parse_pid_stat, parse_pid_stats, parse_psi
from tests.paths import PROC

PSI0 = (
    "some avg10=1.50 avg60=0.75 avg300=0.20 total=1000000\n"
    "full avg10=0.50 avg60=0.25 avg300=0.05 total=400000\n"
)
PSI1 = (
    "some avg10=9.12 avg60=3.04 avg300=0.80 total=1800000\n"
    "full avg10=2.00 avg60=0.90 avg300=0.20 total=600000\n"
)


def stat_line(pid: int, comm: str, utime: int, stime: int, start: int = 12) -> str:
    """A /proc/PID/stat line of a kernel thread (52 fields, as v6 prints)."""
    rest = ["S", "2", "0", "0", "0", "-1", "2230336", "0", "0", "0", "0", str(utime),
            str(stime), "0", "0", "20", "0", "1", "0", str(start)] + ["0"] * 32  # fmt: skip
    return f"{pid} ({comm}) " + " ".join(rest)


def vm(allocstall=0, steal_d=0, scan_d=0, steal_k=0, scan_k=0, throttle=0, collapse=0, **kw):
    out = {
        "pgalloc_normal": 1000, "pgfree": 1000, "allocstall_normal": 0,
        "allocstall_movable": allocstall, "pgsteal_direct": steal_d, "pgscan_direct": scan_d,
        "pgsteal_kswapd": steal_k, "pgscan_kswapd": scan_k,
        "pgscan_direct_throttle": throttle, "thp_collapse_alloc": collapse, "compact_stall": 0,
    }  # fmt: skip
    out.update(kw)
    return out


def test_real_fixtures_parse():
    psi = parse_psi(PROC / "pressure.memory")
    assert set(psi) == {"some", "full"} and psi["some"].total_us == 0
    (k,) = parse_pid_stats(PROC / "kswapd.stat")
    assert k.comm == "kswapd0" and k.kthread and k.cpu_ticks == 0 and k.starttime == 12
    two = parse_psi(PSI1)
    assert two["some"].total_us == 1800000 and two["full"].avg10 == 2.0


@pytest.mark.parametrize(
    ("text", "line", "what"),
    [
        ("some avg10=0.00 avg60=0.00 avg300=0.00 total=x\n", 1, "expected 'some|full"),
        ("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull total=3\n", 2, "expected"),
        ("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 1, "no 'some' line"),
        ("some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n" * 2, 2, "a second 'some'"),
        ("some avg10=100.50 avg60=0.00 avg300=0.00 total=1\n", 1, "above 100 %"),
        ("", 1, "empty file"),
    ],
)
def test_malformed_psi_names_file_and_line(tmp_path, text, line, what):
    path = tmp_path / "memory"
    path.write_text(text)
    with pytest.raises(ProcFormatError, match=rf"^{path}:{line}: .*{what}"):
        parse_psi(path)


def test_pid_stat_comm_with_spaces_and_parens_and_bad_lines(tmp_path):
    (st,) = parse_pid_stats(stat_line(7, "a (b) c", 3, 4) + "\n")
    assert (st.comm, st.utime, st.stime) == ("a (b) c", 3, 4)
    path = tmp_path / "k.stat"
    path.write_text(stat_line(47, "kswapd0", 1, 2) + "\n47 (kswapd0) S 2 0\n")
    with pytest.raises(ProcFormatError, match=rf"^{path}:2: expected a /proc/PID/stat line"):
        parse_pid_stats(path)
    path.write_text(stat_line(47, "kswapd0", 1, 2) + "\n" + stat_line(47, "kswapd0", 1, 2))
    with pytest.raises(ProcFormatError, match=rf"^{path}:2: PID 47 appears twice"):
        parse_pid_stats(path)


def test_direct_scan_leaves_out_throttle_events():
    """pgscan_direct_throttle counts throttled reclaimers, not pages scanned."""
    a = vm(allocstall=0, scan_d=0, throttle=0)
    b = vm(allocstall=4, steal_d=200, scan_d=400, throttle=1000)
    v = reclaim_values(a, b, 2.0)
    assert v.info["direct_scan_per_stall"] == 100.0
    assert v.info["pages_per_direct_stall"] == 50.0 and v.info["direct_reclaim_batch"] == 50
    assert v.info["direct_reclaim_efficiency"] == 0.5


def test_stalls_kswapd_psi_values():
    a, b = vm(), vm(allocstall=40, steal_d=1920, scan_d=2400, steal_k=64000, scan_k=80000)
    inp = ReclaimInput(
        psi=(parse_psi(PSI0), parse_psi(PSI1)),
        kswapd=(
            [parse_pid_stat(stat_line(47, "kswapd0", 100, 300))],
            [parse_pid_stat(stat_line(47, "kswapd0", 150, 450))],
        ),
    )
    v = reclaim_values(a, b, 4.0, inp).info
    assert v["direct_reclaim_stalls"] == 40
    lo, hi = v["direct_reclaim_stalls_per_s_95"]
    assert lo < 10.0 < hi and lo == pytest.approx(28.58 / 4, rel=1e-3)
    assert v["kswapd_cpu_s"] == 2.0 and v["kswapd_cpu_frac"] == 0.5
    assert v["kswapd_speed_pages_per_cpu_s"] == 32000.0
    # the lab's formula: pgsteal_kswapd / SWAP_CLUSTER_MAX / CPU seconds
    assert v["kswapd_rate"] == 64000 / 32 / 2.0 == reclaim.kswapd_rate(64000, 2.0)
    assert v["psi_some_frac"] == pytest.approx(0.8 / 4.0)
    assert v["psi_full_frac"] == pytest.approx(0.2 / 4.0)
    assert v["psi_some_per_stall_s"] == pytest.approx(0.8 / 40)
    assert v["psi_stall_time_is"].startswith("mixed: neither bound (kswapd ran 2 CPU s")


def test_psi_per_stall_is_a_lower_bound_only_without_kswapd_and_compaction():
    a, b = vm(), vm(allocstall=10, steal_d=320)
    same = [parse_pid_stat(stat_line(47, "kswapd0", 5, 5))]
    inp = ReclaimInput(psi=(parse_psi(PSI0), parse_psi(PSI1)), kswapd=(same, same))
    v = reclaim_values(a, b, 4.0, inp).info
    assert v["psi_stall_time_is"].startswith("lower bound")
    v = reclaim_values(a, {**b, "compact_stall": 3}, 4.0, inp).info
    assert "3 direct compaction stalls" in v["psi_stall_time_is"]


def test_zero_stalls_give_an_upper_bound_not_a_division():
    same = [parse_pid_stat(stat_line(47, "kswapd0", 5, 5))]
    inp = ReclaimInput(psi=(parse_psi(PSI0), parse_psi(PSI1)), kswapd=(same, same))
    v = reclaim_values(vm(), vm(), 10.0, inp)
    assert v.info["direct_reclaim_stalls"] == 0
    # 95 % two-sided Garwood bound of 0 events: -ln(0.025) = 3.689
    assert v.info["direct_reclaim_stalls_upper_per_s"] == pytest.approx(-math.log(0.025) / 10)
    for key in ("pages_per_direct_stall", "psi_some_per_stall_s", "kswapd_speed_pages_per_cpu_s"):
        assert key not in v.info
    assert any(n.startswith("no direct-reclaim stall seen in 10 s") for n in v.notes)
    assert v.info["psi_some_frac"] == pytest.approx(0.08)
    assert reclaim.direct_reclaim_batch(0, 0) == 32


def test_kswapd_thread_that_disappears():
    k0 = [
        parse_pid_stat(stat_line(47, "kswapd0", 10, 10)),
        parse_pid_stat(stat_line(48, "kswapd1", 10, 10)),
    ]
    k1 = [parse_pid_stat(stat_line(47, "kswapd0", 30, 40))]
    v = reclaim_values(vm(), vm(steal_k=3200), 1.0, ReclaimInput(kswapd=(k0, k1)))
    assert v.info["kswapd_threads"] == 1 and v.info["kswapd_cpu_s"] == 0.5
    assert any("kswapd1 (PID 48) disappeared" in n and "lower bound" in n for n in v.notes)
    # a reused PID (another start time) is another thread, not a counter gone backwards
    k1 = [parse_pid_stat(stat_line(47, "kswapd0", 1, 1, start=999))]
    v = reclaim_values(vm(), vm(), 1.0, ReclaimInput(kswapd=(k0[:1], k1)))
    assert "kswapd_cpu_s" not in v.info
    assert any("no kswapd thread in both" in n for n in v.notes)


def test_counters_that_go_backwards_are_errors():
    k0 = [parse_pid_stat(stat_line(47, "kswapd0", 10, 10))]
    k1 = [parse_pid_stat(stat_line(47, "kswapd0", 9, 12))]
    inp = ReclaimInput(kswapd=(k0, k1), kswapd_names=("k.before", "k.after"))
    with pytest.raises(McStudyError, match=r"^k\.after:1: kswapd0 \(PID 47\) utime/stime went"):
        reclaim_values(vm(), vm(), 1.0, inp)
    inp = ReclaimInput(psi=(parse_psi(PSI1), parse_psi(PSI0)), psi_names=("p0", "p1"))
    with pytest.raises(McStudyError, match=r"^p1:1: some total went backwards"):
        reclaim_values(vm(), vm(), 1.0, inp)


def test_psi_faster_than_wall_time_or_full_above_some_is_an_error():
    inp = ReclaimInput(psi=(parse_psi(PSI0), parse_psi(PSI1)), psi_names=("p0", "p1"))
    with pytest.raises(McStudyError, match=r"^p1:1: some total grew by 0.8 s in an interval"):
        reclaim_values(vm(), vm(), 0.5, inp)
    bad = PSI1.replace("total=600000", "total=3000000")
    inp = ReclaimInput(psi=(parse_psi(PSI0), parse_psi(bad)), psi_names=("p0", "p1"))
    with pytest.raises(McStudyError, match=r"full stall time .* exceeds some"):
        reclaim_values(vm(), vm(), 4.0, inp)


def test_missing_psi_and_eopnotsupp(tmp_path, monkeypatch):
    psi, message = reclaim.read_psi(tmp_path / "memory")
    assert psi is None
    assert message.startswith(f"no PSI: {tmp_path / 'memory'} not found (a kernel without")
    assert "docs/model.md §8.1.1" in message
    path = tmp_path / "memory"
    path.write_text(PSI0)

    def refuse(*args, **kwargs):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(procfs_reclaim, "open", refuse, raising=False)
    psi, message = reclaim.read_psi(path)
    assert psi is None and f"{path} reading it fails with EOPNOTSUPP" in message
    monkeypatch.undo()
    assert reclaim.read_psi(path)[0] is not None


def test_live_snapshots_without_psi_still_calibrate(tmp_path):
    """A host without PSI: one message naming the file, the rest calibrated."""
    proc = tmp_path / "proc"
    (proc / "47").mkdir(parents=True)
    (proc / "47" / "stat").write_text(stat_line(47, "kswapd0", 3, 4) + "\n")
    (proc / "50").mkdir()
    (proc / "50" / "stat").write_text(stat_line(50, "kswapd-impostor", 3, 4).replace(
        "2230336", "4194560") + "\n")  # fmt: skip
    khd = tmp_path / "khugepaged"
    khd.mkdir()
    (khd / "pages_to_scan").write_text("4096\n")
    (khd / "scan_sleep_millisecs").write_text("5000\n")
    vmstat = tmp_path / "vmstat"
    text = (PROC / "vmstat.before").read_text()
    vmstat.write_text(text)
    snaps, inp = live_snapshots(
        0.001, vmstat, most=0.002, psi=tmp_path / "none", proc=proc, khugepaged=khd
    )
    assert inp.psi is None and inp.psi_missing.startswith(f"no PSI: {tmp_path / 'none'}")
    assert [s.comm for s in inp.kswapd[0]] == ["kswapd0"]
    assert inp.khugepaged.collapses_per_s_bound == pytest.approx(4096 / 512 / 5.0)
    after = text.replace("pgalloc_normal ", "pgalloc_normal 1")
    cal = calibrate(PROC / "zoneinfo", (snaps[0], procfs.parse_vmstat(after), 1.0), reclaim=inp)
    assert len(cal.messages) == 1 and "no PSI" in cal.messages[0]
    assert "psi_some_frac" not in cal.info and cal.info["kswapd_cpu_s"] == 0.0
    assert cal.info["khugepaged_scan_pace_per_s"] == pytest.approx(1.6)


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_cli_file_mode_writes_reclaim_values(tmp_path):
    before = (PROC / "vmstat.before").read_text()
    after = (PROC / "vmstat.after").read_text()
    after = after.replace("allocstall_movable 14", "allocstall_movable 74").replace(
        "pgsteal_direct 29", "pgsteal_direct 2909"
    )
    khd = tmp_path / "khd"
    khd.mkdir()
    (khd / "pages_to_scan").write_text("8192\n")
    (khd / "scan_sleep_millisecs").write_text("10000\n")
    out = tmp_path / "calib.toml"
    args = [
        "calibrate", "--zoneinfo", str(PROC / "zoneinfo"),
        "--vmstat", _write(tmp_path, "v0", before), "--vmstat-after", _write(tmp_path, "v1", after),
        "--interval", "12.14",
        "--pressure", _write(tmp_path, "p0", PSI0), "--pressure-after", _write(tmp_path, "p1", PSI1),
        "--kswapd-stat", str(PROC / "kswapd.stat"),
        "--kswapd-stat-after", _write(tmp_path, "k1", stat_line(47, "kswapd0", 20, 100) + "\n"),
        "--khugepaged", str(khd), "-o", str(out),
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    frag = tomllib.loads(out.read_text())
    c = frag["calibration"]
    assert c["direct_reclaim_stalls"] == 60 and c["pages_per_direct_stall"] == 48.0
    assert c["psi_some_per_stall_s"] == pytest.approx(0.8 / 60, rel=1e-5)
    assert c["kswapd_cpu_s"] == 1.2 and c["khugepaged_scan_pace_per_s"] == 1.6
    assert "khugepaged_collapse_rate" in frag["params"]
    assert "kswapd_rate" not in frag["params"]  # [params] keeps its keys
    text = out.read_text()
    assert "psi_some_frac = 0.0658979  # fraction of time; d total of 'some'" in text


@pytest.mark.parametrize(
    ("which", "text", "match"),
    [
        ("--pressure-after", "some avg10=1.00 total=5\n", r"p1:1: expected 'some\|full"),
        ("--kswapd-stat-after", "47 (kswapd0) S\n", r"k1:1: expected a /proc/PID/stat"),
        ("--kswapd-stat-after", stat_line(9, "bash", 1, 1).replace("2230336", "4194560"),
         r"k1:1: PID 9 \(bash\) is not named kswapd"),
        ("--pressure-after", PSI0.replace("1000000", "10"), r"p1:1: some total went backwards"),
    ],
)  # fmt: skip
def test_cli_bad_reclaim_input_writes_nothing(tmp_path, which, text, match):
    out = tmp_path / "calib.toml"
    files = {
        "--pressure": _write(tmp_path, "p0", PSI0),
        "--pressure-after": _write(tmp_path, "p1", PSI1),
        "--kswapd-stat": str(PROC / "kswapd.stat"),
        "--kswapd-stat-after": _write(tmp_path, "k1", stat_line(47, "kswapd0", 2, 2)),
    }
    files[which] = _write(tmp_path, "p1" if "pressure" in which else "k1", text)
    args = [
        "calibrate", "--zoneinfo", str(PROC / "zoneinfo"),
        "--vmstat", str(PROC / "vmstat.before"), "--vmstat-after", str(PROC / "vmstat.after"),
        "--interval", "12.14", "-o", str(out),
    ]  # fmt: skip
    for k, v in files.items():
        args += [k, v]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1
    assert res.output.startswith("mcstudy: error: ")
    assert re.search(match, res.output), res.output
    assert not out.exists()


def test_cli_pairs_must_come_together(tmp_path):
    args = [
        "calibrate", "--zoneinfo", str(PROC / "zoneinfo"),
        "--vmstat", str(PROC / "vmstat.before"), "--vmstat-after", str(PROC / "vmstat.after"),
        "--interval", "12.14", "--pressure", str(PROC / "pressure.memory"),
    ]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2 and "give --pressure and --pressure-after together" in res.output
    res = CliRunner().invoke(main, ["calibrate", "--pressure", str(PROC / "pressure.memory")])
    assert res.exit_code == 2 and "--pressure needs --zoneinfo" in res.output
