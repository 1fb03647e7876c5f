"""Dask executor: a real 2-worker LocalCluster gives the same bits as a local run, also
for adaptive precision; killing a Dask worker in the middle of a sweep loses no point."""

from __future__ import annotations

import json
import logging
import os
import signal

import pytest

from mcstudy.executors.dask import DaskExecutor
from mcstudy.executors.local import LocalExecutor
from mcstudy.storage.points import read_point
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import SweepOptions, run_sweep
from tests.models import faulty_model
from tests.sweep.helpers import assert_same_results, status_of, write_config

distributed = pytest.importorskip("distributed")
QUIET = SweepOptions(show_progress=False)


@pytest.fixture(scope="module")
def cluster():
    """An existing 2-worker cluster to join with --scheduler; its workers sleep 0.4 s in
    every point of the fault-injection model (and only there)."""
    old = os.environ.get(faulty_model.SLEEP_ENV)
    os.environ[faulty_model.SLEEP_ENV] = "0.4"
    try:
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
            env={"NUMBA_NUM_THREADS": "1"},
        ) as lc:
            yield lc
    finally:
        if old is None:
            os.environ.pop(faulty_model.SLEEP_ENV, None)
        else:
            os.environ[faulty_model.SLEEP_ENV] = old


@pytest.mark.slow
def test_dask_local_cluster_matches_local_run(tmp_path):
    study = load_study(write_config(tmp_path))
    local = run_sweep(study, tmp_path / "local.run", LocalExecutor(workers=1), QUIET)
    executor = DaskExecutor(workers=2, threads=1)
    res = run_sweep(study, tmp_path / "dask.run", executor, QUIET)
    assert executor.client is None and executor.cluster is None  # shut down afterwards
    errors = [
        read_point(p).get("error")
        for p in sorted((tmp_path / "dask.run" / "points").iterdir())
        if read_point(p).get("error")
    ]
    assert res.counts == {"done": 6, "failed": 0, "pending": 0}, errors[:2]
    assert_same_results(local.dataset, res.dataset)
    prov = json.loads(res.dataset.attrs["provenance"])
    assert prov["executor"] == "dask" and prov["workers"] == 2
    workers = {
        read_point(p)["provenance"]["worker"] for p in (tmp_path / "dask.run" / "points").iterdir()
    }
    assert all(w.startswith("tcp://") for w in workers)


@pytest.mark.slow
def test_adaptive_precision_is_the_same_on_dask(tmp_path, cluster):
    cfg = write_config(tmp_path, extra_study="target_rel_err = 0.08\nmax_sequences = 100_000")
    study = load_study(cfg)
    local = run_sweep(study, tmp_path / "local.run", LocalExecutor(workers=1), QUIET)
    on_dask = run_sweep(
        study, tmp_path / "dask.run", DaskExecutor(scheduler=cluster.scheduler_address), QUIET
    )
    assert_same_results(local.dataset, on_dask.dataset)
    seqs = local.dataset.sequences.values.ravel()
    assert len(set(seqs.tolist())) > 1  # points really stopped at different sizes


def test_cli_joins_an_existing_cluster(tmp_path, cluster):
    from click.testing import CliRunner

    from mcstudy.cli import main
    from mcstudy.storage.dataset import open_dataset

    cfg = write_config(tmp_path)
    out = tmp_path / "cli.nc"
    args = ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"]
    res = CliRunner().invoke(
        main, [*args, "--executor", "dask", "--scheduler", cluster.scheduler_address]
    )
    assert res.exit_code == 0, res.output
    assert "6 computed" in res.output and "dask:" in res.output
    local = run_sweep(load_study(cfg), tmp_path / "local.run", LocalExecutor(workers=1), QUIET)
    assert_same_results(local.dataset, open_dataset(out))
    res = CliRunner().invoke(main, [*args, "--scheduler", cluster.scheduler_address])
    assert res.exit_code == 2 and "needs --executor dask" in res.output


@pytest.mark.slow
def test_killing_a_dask_worker_mid_sweep_loses_no_point(tmp_path, cluster):
    cfg = write_config(tmp_path, model=faulty_model.NAME)
    study = load_study(cfg)
    executor = DaskExecutor(scheduler=cluster.scheduler_address, threads=1)
    killed: list[int] = []

    def kill_one_worker(index, body):
        if killed:
            return
        pids = executor.client.run(os.getpid)  # {worker address: pid}
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        killed.append(victim)

    res = run_sweep(study, tmp_path / "dask.run", executor, QUIET, on_commit=kill_one_worker)
    assert killed, "no worker was killed"
    assert res.counts == {"done": 6, "failed": 0, "pending": 0} and res.computed == 6
    assert (status_of(res.dataset) == 1).all()
    pids = {
        read_point(p)["provenance"]["pid"] for p in (tmp_path / "dask.run" / "points").iterdir()
    }
    assert len(pids - set(killed)) >= 1
    reference = run_sweep(study, tmp_path / "ref.run", LocalExecutor(workers=1), QUIET)
    assert_same_results(reference.dataset, res.dataset)
