"""The example sbatch array script on a real single-node SLURM (munge + slurmctld + slurmd
started here, as root, from a minimal slurm.conf in a temporary directory).

Skips cleanly when SLURM or munge is not installed (Debian: ``apt-get install
slurm-wlm munge``) or when not running as root. The sharding logic itself is also
tested without SLURM, through the SLURM_ARRAY_* variables (test_shards_merge.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.executors.local import LocalExecutor
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.points import read_point
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import SweepOptions, run_sweep
from tests.paths import REPO
from tests.sweep.helpers import assert_same_results, write_config

SCRIPT = REPO / "configs" / "slurm" / "array.sbatch"
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(shutil.which(p) is None for p in DAEMONS + CLIENTS),
        reason="SLURM or munge not installed (apt-get install slurm-wlm munge)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="a private slurmd needs root"),
]

SLURM_CONF = """\
ClusterName=mcstudytest
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/munge.sock
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60, **kw)


def _kill_pidfile(path: Path) -> None:
    try:
        pid = int(path.read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError, IndexError):
        pass


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """A private single-node SLURM; yields the environment that talks to it."""
    d = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool"):
        (d / sub).mkdir()
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    host = socket.gethostname().split(".")[0]
    conf = d / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=host,
            dir=d,
            ctld_port=_free_port(),
            d_port=_free_port(),
            cpus=os.cpu_count() or 1,
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for name in list(env):
        if name.startswith("SLURM_") and name != "SLURM_CONF":
            env.pop(name)  # not inside another job's environment
    started: list[Path] = []
    try:
        munge = _run(
            [
                "munged",
                "--force",
                f"--socket={d}/munge/munge.sock",
                f"--key-file={key}",
                f"--log-file={d}/munge/munged.log",
                f"--pid-file={d}/munge/munged.pid",
                f"--seed-file={d}/munge/munged.seed",
            ],
            env,
        )
        started.append(d / "munge" / "munged.pid")
        assert munge.returncode == 0, f"munged failed: {munge.stderr}"
        ctld = _run(["slurmctld", "-f", str(conf), "-i"], env)
        started.append(d / "slurmctld.pid")
        assert ctld.returncode == 0, f"slurmctld failed: {ctld.stderr}"
        slurmd = _run(["slurmd", "-f", str(conf), "-N", host], env)
        started.append(d / "slurmd.pid")
        assert slurmd.returncode == 0, f"slurmd failed: {slurmd.stderr}"
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = _run(["sinfo", "-h", "-o", "%T"], env).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        assert state == "idle", (
            f"the SLURM node did not come up ({state!r}):\n"
            + (d / "slurmctld.log").read_text(errors="replace")[-2000:]
            + (d / "slurmd.log").read_text(errors="replace")[-2000:]
        )
        yield env
    finally:
        _run(["scancel", "--user=root"], env)
        for pidfile in reversed(started):
            _kill_pidfile(pidfile)


def _wait_for_job(env: dict[str, str], job: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queued = _run(["squeue", "-h", "-j", job, "-o", "%i %T"], env).stdout.strip()
        if not queued:
            return
        time.sleep(0.5)
    raise AssertionError(f"array job {job} still queued after {timeout} s: {queued}")


def test_sbatch_array_script_then_merge(tmp_path, slurm):
    cfg = write_config(tmp_path)
    out = tmp_path / "arr.nc"
    env = {**slurm, "MCSTUDY": f"{sys.executable} -m mcstudy.cli"}
    sub = _run(
        [
            "sbatch",
            "--parsable",
            "--array=0-2",
            "--cpus-per-task=1",
            "--time=00:10:00",
            f"--chdir={tmp_path}",
            f"--output={tmp_path}/slurm-%A_%a.out",
            str(SCRIPT),
            str(cfg),
            "--out",
            str(out),
        ],
        env,
        cwd=REPO,
    )
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip().split(";")[0]
    _wait_for_job(slurm, job)

    logs = sorted(tmp_path.glob(f"slurm-{job}_*.out"))
    text = "\n".join(p.read_text() for p in logs)
    assert len(logs) == 3, text
    for task in range(3):
        assert f"shard {task}/3: (2 points" in text, text
    assert not out.exists()  # shards never write the dataset: merge does

    res = CliRunner().invoke(main, ["merge", str(tmp_path / "arr.run")])
    assert res.exit_code == 0 and "6 done, 0 failed, 0 pending" in res.output, res.output
    merged = open_dataset(out)
    local = run_sweep(
        load_study(cfg),
        tmp_path / "local.run",
        LocalExecutor(workers=1),
        SweepOptions(show_progress=False),
    )
    assert_same_results(local.dataset, merged)

    prov = json.loads(merged.attrs["provenance"])
    assert prov["slurm_array_jobs"] == [job]
    assert prov["shards"] == ["0/3", "1/3", "2/3"]
    body = read_point(tmp_path / "arr.run" / "points" / "point-0000004.json")
    facts = body["provenance"]
    assert facts["slurm"]["array_job_id"] == job and facts["slurm"]["array_task_id"] == "1"
    assert facts["slurm"]["cpus_per_task"] == "1" and facts["numba_threads"] == 1
    assert facts["shard"] == "1/3"
