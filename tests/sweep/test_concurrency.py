"""Concurrent writers of one run directory: shards started together (a SLURM array) all
succeed; a kill at any instant of the directory's creation leaves nothing that blocks the
next run; a second run of the same output is refused, naming the first."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.rundir import RunDir
from mcstudy.study import load_study
from mcstudy.sweep.point import point_code_version
from tests.paths import REPO
from tests.sweep.helpers import assert_same_results, write_config


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _run(args: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mcstudy", "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        **kw,
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    cfg = write_config(tmp)
    out = tmp / "ref.nc"
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"])
    assert res.exit_code == 0
    return cfg, open_dataset(out)


@pytest.mark.slow
def test_shards_started_together_all_succeed(tmp_path, reference):
    cfg, ref = reference
    for rep in range(3):
        out = tmp_path / f"array{rep}.nc"
        procs = [
            _run([str(cfg), "--out", str(out), "--shard", f"{i}/4", "--threads", "1", "--quiet"])
            for i in range(4)
        ]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        assert [rc for rc, _ in results] == [0, 0, 0, 0], results
        res = CliRunner().invoke(main, ["merge", str(out.with_suffix(".run"))])
        assert res.exit_code == 0, res.output
        assert_same_results(ref, open_dataset(out))


_CREATOR = """
import sys
from pathlib import Path
from mcstudy.storage.rundir import RunDir
from mcstudy.study import load_study
from mcstudy.sweep.point import point_code_version
study = load_study(sys.argv[1])
code = point_code_version(study.model)
print("ready", flush=True)
for i in range(100000):
    RunDir(Path(sys.argv[2]) / f"r{i}.run").prepare(study, code, f"r{i}.nc")
"""


@pytest.mark.slow
def test_a_kill_at_any_instant_of_creation_leaves_a_usable_directory(tmp_path):
    cfg = write_config(tmp_path)
    study = load_study(cfg)
    code = point_code_version(study.model)
    rng = random.Random(7)
    for k in range(12):
        base = tmp_path / f"kill{k}"
        base.mkdir()
        proc = subprocess.Popen(
            [sys.executable, "-c", _CREATOR, str(cfg), str(base)],
            stdout=subprocess.PIPE,
            env=_env(),
        )
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        made = sorted(base.glob("r*.run"), key=lambda p: int(p.stem[1:]))
        assert made, "nothing was created before the kill"
        for run_dir in made:  # every directory that exists is a whole run directory
            assert sorted(p.name for p in run_dir.iterdir()) == ["lock", "points", "study.json"]
        leftovers = [p for p in base.iterdir() if not p.name.endswith(".run")]
        assert all(p.name.startswith(".r") and p.name.endswith(".partial") for p in leftovers)
        # the directory the kill interrupted (the next one) can be created and used
        nxt = RunDir(base / f"r{len(made)}.run")
        nxt.prepare(study, code, "x.nc")
        RunDir(made[-1]).prepare(study, code, "x.nc")


@pytest.mark.slow
def test_a_killed_run_start_never_blocks_resume_or_restart(tmp_path, reference):
    cfg, ref = reference
    rng = random.Random(11)
    for k in range(6):
        out = tmp_path / f"k{k}.nc"
        proc = _run([str(cfg), "--out", str(out), "--quiet", "--no-report"])
        time.sleep(rng.uniform(1.0, 4.0))  # imports, config, creation, first points
        proc.kill()
        proc.wait()
        flag = "--resume" if k % 2 else "--restart"
        res = CliRunner().invoke(
            main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report", flag]
        )
        assert res.exit_code == 0, (k, res.output)
        assert_same_results(ref, open_dataset(out))


@pytest.mark.slow
def test_a_second_run_of_the_same_output_is_refused_naming_the_first(tmp_path):
    cfg = tmp_path / "slow.toml"
    cfg.write_text(
        write_config(tmp_path)
        .read_text()
        .replace("sequences = 10_000", "sequences = 400_000")
        .replace("[1, 509, 2000]", "[50000, 100000, 200000]")
    )
    out = tmp_path / "x.nc"
    first = _run([str(cfg), "--out", str(out), "--threads", "1", "--quiet", "--no-report"])
    run_dir = out.with_suffix(".run")
    deadline = time.monotonic() + 120
    while not list((run_dir / "points").glob("point-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None
    second = _run([str(cfg), "--out", str(out), "--resume", "--quiet", "--no-report"])
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2, err
    assert f"is in use by a whole run (pid {first.pid}" in err
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert CliRunner().invoke(main, ["status", str(out)]).exit_code == 0
