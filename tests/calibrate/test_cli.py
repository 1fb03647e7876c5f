"""``mcstudy calibrate`` on the shipped /proc snapshots, the live machine, and bad input."""

from __future__ import annotations

import mmap
import threading
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.calibrate.cli import calibrate_command
from mcstudy.cli import main
from mcstudy.study import load_study
from tests.paths import PROC

DATA = PROC
ARGS = [
    "--zoneinfo", str(DATA / "zoneinfo"),
    "--vmstat", str(DATA / "vmstat.before"),
    "--vmstat-after", str(DATA / "vmstat.after"),
    "--interval", "12.14",
]  # fmt: skip


def test_shipped_snapshots(tmp_path, repo_root):
    out = tmp_path / "calib.toml"
    res = CliRunner().invoke(main, ["calibrate", *ARGS, "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "min_free_kbytes = 67584 KiB (raised by khugepaged for THP" in res.output
    assert res.output.count(" yes") == 5 and " NO" not in res.output
    frag = tomllib.loads(out.read_text())
    p = frag["params"]
    assert (p["managed_pages"], p["wmark_min"], p["wmark_low"], p["wmark_high"]) == (
        5394266, 14769, 20163, 25557,
    )  # fmt: skip
    before = dict(line.split() for line in (DATA / "vmstat.before").read_text().splitlines())
    after = dict(line.split() for line in (DATA / "vmstat.after").read_text().splitlines())
    d_alloc = int(after["pgalloc_normal"]) - int(before["pgalloc_normal"])
    assert p["alloc_rate"] == pytest.approx(d_alloc / 12.14, rel=1e-5)
    assert set(p) >= {"free_rate", "thp_split_rate", "khugepaged_collapse_rate"}
    assert "thp_fault_rate" in frag["calibration"]
    # the fragment is accepted by `mcstudy run --params`
    study = load_study(repo_root / "configs" / "pressure.toml", params_files=[out])
    assert study.params["managed_pages"] == 5394266
    assert study.params["alloc_rate"] == p["alloc_rate"]


def test_zoneinfo_only_prints_fragment():
    res = CliRunner().invoke(calibrate_command, ["--zoneinfo", str(DATA / "zoneinfo")])
    assert res.exit_code == 0, res.output
    assert "[params]\nmanaged_pages = 5394266\nwmark_min = 14769" in res.output
    assert "alloc_rate" not in res.output.split("[params]")[1]


@pytest.mark.live
@pytest.mark.skipif(not Path("/proc/zoneinfo").exists(), reason="needs a Linux /proc")
def test_live_machine(tmp_path):
    """The live reading, with this test faulting in 1 MiB of fresh anonymous memory every
    50 ms meanwhile: an idle VM was seen to allocate no page for 10 s at a time (145 of
    150 readings 0.2 s apart without a pgalloc move), longer than the reading waits."""
    out = tmp_path / "live.toml"
    done = threading.Event()

    def allocate() -> None:
        while not done.is_set():
            with mmap.mmap(-1, 1 << 20) as m:
                for off in range(0, 1 << 20, 4096):
                    m[off] = 1
            done.wait(0.05)

    worker = threading.Thread(target=allocate, daemon=True)
    worker.start()
    try:
        res = CliRunner().invoke(calibrate_command, ["--interval", "0.2", "-o", str(out)])
    finally:
        done.set()
        worker.join()
    assert res.exit_code == 0, res.output
    assert "GFP_NOWAIT zone:" in res.output
    p = tomllib.loads(out.read_text())["params"]
    assert p["wmark_min"] <= p["wmark_low"] <= p["wmark_high"] < p["managed_pages"]
    assert p["alloc_rate"] >= 0.0


def test_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "zoneinfo"
    lines = (DATA / "zoneinfo").read_text().splitlines()
    lines[4] = "        min      ???"
    bad.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(calibrate_command, ["--zoneinfo", str(bad)])
    assert res.exit_code == 2
    assert f"{bad}:5: unrecognised line" in res.output
    cut = tmp_path / "vmstat"
    cut.write_text((DATA / "vmstat.after").read_text()[:300].rsplit("\n", 1)[0] + "\nnr_fre")
    res = CliRunner().invoke(
        calibrate_command,
        ["--zoneinfo", str(DATA / "zoneinfo"), "--vmstat", str(cut),
         "--vmstat-after", str(DATA / "vmstat.after"), "--interval", "1"],
    )  # fmt: skip
    assert res.exit_code == 2 and f"{cut}:" in res.output and "'nr_fre'" in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["--vmstat", str(DATA / "vmstat.before")],  # without --vmstat-after/--interval
        ["--vmstat", str(DATA / "vmstat.after"), "--vmstat-after",
         str(DATA / "vmstat.before"), "--interval", "1"],  # swapped
        ["--vmstat", str(DATA / "vmstat.before"), "--vmstat-after",
         str(DATA / "vmstat.after"), "--interval", "0"],
        ["--node", "3"],
    ],
)  # fmt: skip
def test_bad_arguments(args):
    res = CliRunner().invoke(calibrate_command, ["--zoneinfo", str(DATA / "zoneinfo"), *args])
    assert res.exit_code == 2, res.output
    assert "mcstudy: error:" in res.output


def test_output_is_written_atomically(tmp_path):
    target = tmp_path / "calib.toml"
    target.write_text("old")
    res = CliRunner().invoke(
        calibrate_command, ["--zoneinfo", str(tmp_path / "missing"), "-o", str(target)]
    )
    assert res.exit_code == 2 and "not found" in res.output
    assert target.read_text() == "old"  # untouched on error
    assert list(tmp_path.iterdir()) == [target]
