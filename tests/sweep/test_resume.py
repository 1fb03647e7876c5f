"""Resume: a run killed with SIGKILL mid-sweep, then resumed, equals an uninterrupted run
bit for bit (all variables and attributes; of the provenance only the documented run
facts - hosts, executor, threads, timings - may differ)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.checked import read_checked, write_checked
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.rundir import RUN_FORMAT, RUN_FORMAT_VERSION
from tests.sweep.helpers import assert_same_results

# six points of ~0.1-0.4 s each on one thread: long enough to be killed in the middle
SLOW = """
[study]
name = "slow"
model = "gather"
seed = 2023
sequences = 20_000
block_size = 2048

[params]
kernel = "v6.15"
ipi_policy = "kernel_mode"

[sweep]
gfp_nowait_fail_p = [0.5, 0.6]
tables_per_gather = [50000, 100000, 200000]
"""


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _done_in_manifest(path: Path) -> int:
    try:
        return json.loads(path.read_text())["counts"]["done"]
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_bit_identical(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW)
    out = tmp_path / "killed.nc"
    manifest = tmp_path / "killed.run" / "manifest.json"
    args = [str(cfg), "--out", str(out), "--threads", "1", "--quiet", "--no-report"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mcstudy.cli", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        done = _done_in_manifest(manifest)
        if done >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert not out.exists()  # no final dataset from a killed run
    points = sorted((tmp_path / "killed.run" / "points").glob("point-*.json"))
    assert 2 <= len(points) < 6
    st = cli("status", str(out))
    assert f"{len(points)} done, 0 failed, {6 - len(points)} pending" in st.output

    res = cli("run", *args, "--resume")
    assert res.exit_code == 0, res.output
    assert f"{6 - len(points)} computed, {len(points)} kept" in res.output

    reference = tmp_path / "reference.nc"
    assert cli("run", str(cfg), "--out", str(reference), "--quiet", "--no-report").exit_code == 0
    resumed, uninterrupted = open_dataset(out), open_dataset(reference)
    assert_same_results(uninterrupted, resumed)
    prov = json.loads(resumed.attrs["provenance"])
    assert prov["points_reused"] == len(points) and prov["points"]["done"] == 6


def test_existing_results_are_never_silently_replaced(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW.replace("sequences = 20_000", "sequences = 1000"))
    out = str(tmp_path / "x.nc")
    assert cli("run", str(cfg), "--out", out, "--quiet", "--no-report").exit_code == 0
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", out, "--quiet", "--no-report"])
    assert res.exit_code == 2
    assert "already holds 6 point result(s)" in res.output and "--resume" in res.output
    res = cli("run", str(cfg), "--out", out, "--quiet", "--no-report", "--restart")
    assert res.exit_code == 0 and "6 computed, 0 kept" in res.output
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", out, "--restart", "--resume"])
    assert res.exit_code == 2 and "do not combine" in res.output


def test_resume_refuses_results_of_another_code_version(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW.replace("sequences = 20_000", "sequences = 1000"))
    out = str(tmp_path / "x.nc")
    assert cli("run", str(cfg), "--out", out, "--quiet", "--no-report").exit_code == 0
    study_file = tmp_path / "x.run" / "study.json"
    info = read_checked(study_file, RUN_FORMAT, RUN_FORMAT_VERSION)
    info["code_version"]["sources_sha256"] = "f" * 64  # as if computed by other kernels
    write_checked(study_file, RUN_FORMAT, RUN_FORMAT_VERSION, info)
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", out, "--resume"])
    assert res.exit_code == 2
    assert "different code version" in res.output and "ffffffffffff" in res.output
    st = cli("status", out)
    assert "note: this mcstudy is" in st.output


def test_damaged_run_directory_is_one_clear_error(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(SLOW.replace("sequences = 20_000", "sequences = 1000"))
    out = str(tmp_path / "x.nc")
    assert cli("run", str(cfg), "--out", out, "--quiet", "--no-report").exit_code == 0
    (tmp_path / "x.run" / "study.json").write_text("{}")
    for args in (["run", str(cfg), "--out", out, "--resume"], ["status", out], ["merge", out]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "study.json" in res.output, args
        assert "Traceback" not in res.output
    res = CliRunner().invoke(main, ["status", str(tmp_path / "nowhere.run")])
    assert res.exit_code == 2 and "run directory not found" in res.output
