"""``mcstudy calibrate`` on nonsense: every case exits 2 with one line naming the file (and
the line where there is one), never a traceback, never a fragment of impossible numbers.
So do time parameters the kernels cannot honour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.errors import ConfigError
from mcstudy.study import load_study
from tests.paths import PROC, REPO

ZONEINFO = (PROC / "zoneinfo").read_text()
BEFORE = (PROC / "vmstat.before").read_text()
AFTER = (PROC / "vmstat.after").read_text()


def calibrate(*args: str):
    return CliRunner().invoke(main, ["calibrate", *args])


def _files(tmp_path: Path, zoneinfo: str = ZONEINFO, before: str = BEFORE, after: str = AFTER):
    z, b, a = tmp_path / "zoneinfo", tmp_path / "before", tmp_path / "after"
    z.write_text(zoneinfo)
    b.write_text(before)
    a.write_text(after)
    return z, b, a


def _normal_line(text: str, key: str) -> int:
    """1-based line number of ``key`` in the Normal zone of a zoneinfo text."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Node 0, zone   Normal"))
    return next(i for i in range(start, len(lines)) if lines[i].split()[:1] == [key]) + 1


def _assert_refused(res, *fragments: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.startswith("mcstudy: error: ")
    assert len(res.output.strip().splitlines()) == 1, res.output
    for f in fragments:
        assert f in res.output, (f, res.output)


def _drop_line(text: str, number: int) -> str:
    lines = text.split("\n")
    del lines[number - 1]
    return "\n".join(lines)


def test_truncated_zoneinfo_is_not_an_old_kernel(tmp_path):
    line = _normal_line(ZONEINFO, "managed")
    z, _, _ = _files(tmp_path, _drop_line(ZONEINFO, line))
    header = ZONEINFO.split("\n").index(
        next(x for x in ZONEINFO.split("\n") if "zone   Normal" in x)
    )
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:{header + 1}:", "'managed'", "truncated")
    cut = "\n".join(ZONEINFO.split("\n")[: _normal_line(ZONEINFO, "present")])
    z.write_text(cut)
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:", "no 'managed' line")


def test_boost_above_min_is_a_damaged_file(tmp_path):
    line = _normal_line(ZONEINFO, "boost")
    lines = ZONEINFO.split("\n")
    lines[line - 1] = "        boost    99999999"
    z, _, _ = _files(tmp_path, "\n".join(lines))
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:", "boost 99999999 outside 0..min")


def test_counters_going_backwards_name_the_counter_and_both_files(tmp_path):
    lines = BEFORE.split("\n")
    i = next(k for k, x in enumerate(lines) if x.startswith("pgalloc_normal "))
    lines[i] = "pgalloc_normal 999999999999999"
    z, b, a = _files(tmp_path, before="\n".join(lines))
    res = calibrate(
        "--zoneinfo", str(z), "--vmstat", str(b), "--vmstat-after", str(a), "--interval", "10"
    )
    _assert_refused(res, f"{a}: counter pgalloc_normal went backwards", str(b))


@pytest.mark.parametrize("interval", ["nan", "inf", "-inf", "1e-300", "1e300", "0", "-1"])
def test_intervals_that_make_no_rate(tmp_path, interval):
    z, b, a = _files(tmp_path)
    res = calibrate(
        "--zoneinfo", str(z), "--vmstat", str(b), "--vmstat-after", str(a), "--interval", interval
    )
    _assert_refused(res, f"--interval {float(interval)!r}", "expected seconds between")


@pytest.mark.parametrize("interval", ["nan", "1e300", "0"])
def test_live_waits_that_cannot_be_honoured(interval):
    res = calibrate("--interval", interval)
    if not Path("/proc/zoneinfo").exists():
        pytest.skip("needs a Linux /proc")
    _assert_refused(res, "--interval", "expected seconds between")


def test_a_5000_digit_number_names_its_line(tmp_path):
    lines = BEFORE.split("\n")
    lines[3] = lines[3].split()[0] + " " + "9" * 5000
    z, b, a = _files(tmp_path, before="\n".join(lines))
    res = calibrate(
        "--zoneinfo", str(z), "--vmstat", str(b), "--vmstat-after", str(a), "--interval", "1"
    )
    _assert_refused(res, f"{b}:4: a number of 5000 digits")
    z.write_text(ZONEINFO.replace("pages free", "pages free 1" + "0" * 30 + " #", 1))
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:", "digits")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_devices_and_fifos_are_refused_before_reading(tmp_path):
    _assert_refused(calibrate("--zoneinfo", "/dev/zero"), "/dev/zero: not a regular file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it would block forever
    _assert_refused(calibrate("--zoneinfo", str(fifo)), f"{fifo}: not a regular file")
    z, _, a = _files(tmp_path)
    res = calibrate(
        "--zoneinfo", str(z), "--vmstat", str(fifo), "--vmstat-after", str(a), "--interval", "1"
    )
    _assert_refused(res, f"{fifo}: not a regular file")
    res = calibrate("--zoneinfo", str(tmp_path))  # refused by the option's own check
    assert res.exit_code == 2 and "is a directory" in res.output


def test_binary_and_empty_files(tmp_path):
    z = tmp_path / "zoneinfo"
    z.write_bytes(b"Node 0, zone Normal\n\xff\xfe")
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:2: not text")
    z.write_text("")
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:1: empty file")


def test_free_pages_beyond_managed(tmp_path):
    line = _normal_line(ZONEINFO, "pages")
    lines = ZONEINFO.split("\n")
    lines[line - 1] = "  pages free     99999999999"
    z, _, _ = _files(tmp_path, "\n".join(lines))
    _assert_refused(calibrate("--zoneinfo", str(z)), f"{z}:", "free pages exceed")


def test_time_parameters_the_kernel_cannot_honour():
    cfg = REPO / "configs" / "pressure-validation.toml"
    with pytest.raises(ConfigError, match="expected less than or equal to 1000000000"):
        load_study(cfg, ["warmup_s=1e300"])
    with pytest.raises(ConfigError, match="events per sequence"):
        load_study(cfg, ["alloc_rate=1e300"])
    with pytest.raises(ConfigError, match="events per sequence"):
        load_study(cfg, ["horizon_s=1e9", "sweep.free_rate=[1e4]"])
    load_study(cfg, ["warmup_s=1e6"])  # long, but honoured


def _vmstat_args(z: Path, b: Path, a: Path, interval: str = "10") -> list[str]:
    return [
        "--zoneinfo",
        str(z),
        "--vmstat",
        str(b),
        "--vmstat-after",
        str(a),
        "--interval",
        interval,
    ]


def test_identical_snapshots_give_no_rates(tmp_path):
    z, b, a = _files(tmp_path, after=BEFORE)
    _assert_refused(calibrate(*_vmstat_args(z, b, a)), f"{a}: identical to {b}", "later")


def test_a_vmstat_without_pgalloc_is_refused(tmp_path):
    no_alloc = "\n".join(x for x in AFTER.split("\n") if not x.startswith("pgalloc_"))
    z, b, a = _files(tmp_path, after=no_alloc)
    _assert_refused(calibrate(*_vmstat_args(z, b, a)), f"{a}: no pgalloc_<zone> counters")
    # pgalloc_* copied from the first snapshot: no allocation between the readings
    copied = [x for x in AFTER.split("\n") if not x.startswith("pgalloc_")]
    copied += [x for x in BEFORE.split("\n") if x.startswith("pgalloc_")]
    z, b, a = _files(tmp_path, after="\n".join(copied) + "\n")
    _assert_refused(
        calibrate(*_vmstat_args(z, b, a)),
        f"{a}: no pgalloc_<zone> counter moved",
        "pgfree moved by",
        "further apart",
    )
    # only the zone's own counter missing: named
    no_normal = "\n".join(x for x in AFTER.split("\n") if not x.startswith("pgalloc_normal "))
    z, b, a = _files(tmp_path, after=no_normal)
    _assert_refused(calibrate(*_vmstat_args(z, b, a)), f"{a}: no pgalloc_normal counter")


@pytest.mark.parametrize("counter", ["pgalloc_normal", "pgfree", "thp_split_pmd"])
def test_a_counter_that_jumps_beyond_any_machine_is_refused(tmp_path, counter):
    lines = AFTER.split("\n")
    i = next(k for k, x in enumerate(lines) if x.startswith(counter + " "))
    lines[i] = f"{counter} {int(lines[i].split()[1]) + 10**16}"  # 1e15 pages/s over 10 s
    z, b, a = _files(tmp_path, after="\n".join(lines))
    _assert_refused(calibrate(*_vmstat_args(z, b, a)), f"{a}: ", "per second over 10 s", "1e+10")
