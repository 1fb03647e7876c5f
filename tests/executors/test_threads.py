"""Worker processes x Numba threads never oversubscribe the cores."""

from __future__ import annotations

import pytest

from mcstudy.executors.dask import DaskExecutor
from mcstudy.executors.errors import ExecutorError
from mcstudy.executors.local import LocalExecutor
from mcstudy.executors.threads import available_cores, plan_threads, thread_environment


def test_plan_threads_defaults_and_limits():
    assert plan_threads(None, None, 8) == (1, 8)
    assert plan_threads(4, None, 8) == (4, 2)
    assert plan_threads(3, None, 8) == (3, 2)
    assert plan_threads(None, 2, 8) == (1, 2)
    assert plan_threads(2, 4, 8) == (2, 4)
    with pytest.raises(ExecutorError, match="exceeds the 8 available cores"):
        plan_threads(3, 3, 8)
    with pytest.raises(ExecutorError, match="exceeds"):
        plan_threads(16, None, 8)


def test_cores_follow_slurm_allocation():
    env = {"SLURM_JOB_ID": "1", "SLURM_CPUS_PER_TASK": "3"}
    assert available_cores(env) == 3
    assert available_cores({"SLURM_CPUS_PER_TASK": "3"}) == available_cores({})
    assert available_cores({}) >= 1


def test_thread_environment_caps_numba_and_blas():
    env = thread_environment(3)
    assert env["NUMBA_NUM_THREADS"] == "3" and env["OMP_NUM_THREADS"] == "1"


def test_executor_options_are_checked_before_anything_starts():
    assert LocalExecutor(workers=2, cores=4).threads == 2
    with pytest.raises(ExecutorError):
        LocalExecutor(workers=3, threads=2, cores=4)
    local_cluster = DaskExecutor(cores=4)
    assert (local_cluster.workers, local_cluster.threads) == (4, 1)
    assert (DaskExecutor(threads=2, cores=4).workers, DaskExecutor(workers=1, cores=4).threads) == (
        2,
        4,
    )
    with pytest.raises(ExecutorError, match="exceeds"):
        DaskExecutor(workers=4, threads=2, cores=4)
    with pytest.raises(ExecutorError, match="--workers sizes a new LocalCluster"):
        DaskExecutor(scheduler="tcp://127.0.0.1:1", workers=2)
    assert DaskExecutor(scheduler="tcp://127.0.0.1:1").threads is None
