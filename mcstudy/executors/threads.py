"""Cores and thread counts: worker processes x Numba threads never exceed the cores.

Kept free of heavy imports (no Numba, no NumPy): a spawned worker process imports this
module to run :func:`init_worker_process` *before* anything imports Numba, so that
``NUMBA_NUM_THREADS`` is in force when Numba reads its configuration.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping

from mcstudy.executors.errors import ExecutorError
from mcstudy.executors.signals import ignore_sigint

# Thread pools of numerical libraries that a worker process must not multiply.
_BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores(environ: Mapping[str, str] | None = None) -> int:
    """CPU cores this process may use.

    Inside a SLURM job with ``--cpus-per-task``, that allocation
    (``SLURM_CPUS_PER_TASK``); otherwise the CPU affinity mask of the process (which
    cgroups, ``taskset`` and batch systems restrict), or ``os.cpu_count()``.
    """
    environ = os.environ if environ is None else environ
    slurm = environ.get("SLURM_CPUS_PER_TASK")
    if slurm and environ.get("SLURM_JOB_ID"):
        try:
            n = int(slurm)
        except ValueError:
            n = 0
        if n >= 1:
            return n
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def plan_threads(
    workers: int | None, threads: int | None, cores: int, *, what: str = "worker processes"
) -> tuple[int, int]:
    """(worker processes, Numba threads per worker) for ``cores`` cores.

    Defaults: one worker using every core; with ``workers`` given, the cores shared
    equally. Raises ExecutorError when ``workers x threads`` exceeds ``cores``.
    """
    if workers is not None and workers < 1:
        raise ExecutorError(f"--workers {workers}: expected at least 1")
    if threads is not None and threads < 1:
        raise ExecutorError(f"--threads {threads}: expected at least 1")
    w = 1 if workers is None else workers
    t = max(1, cores // w) if threads is None else threads
    if w * t > cores:
        raise ExecutorError(
            f"--workers {w} x --threads {t} = {w * t} threads exceeds the {cores} available "
            f"cores; lower --workers or --threads ({what} x Numba threads must fit the cores)"
        )
    return w, t


def thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that cap a worker process at ``threads`` Numba threads
    (and single-threaded BLAS/OpenMP, which mcstudy kernels do not use)."""
    env = {"NUMBA_NUM_THREADS": str(threads)}
    env.update({name: "1" for name in _BLAS_VARS})
    return env


def init_worker_process(threads: int) -> None:
    """Initializer of a spawned worker: set thread limits, then fix Numba's count.

    Runs before the worker unpickles its first task (which imports Numba). Also starts
    a watchdog that ends the worker if its coordinator dies (even by SIGKILL), so no
    orphan keeps computing points that nobody will commit, and ignores SIGINT (Ctrl-C
    reaches the whole process group; the coordinator ends its workers).
    """
    ignore_sigint()  # Ctrl-C reaches the process group: the coordinator ends workers
    parent = os.getppid()
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    os.environ.update(thread_environment(threads))
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)
