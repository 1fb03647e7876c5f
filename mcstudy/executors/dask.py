"""``--executor dask``: points as tasks on a Dask distributed cluster.

By default a ``LocalCluster`` of ``workers`` processes with one task slot each and
``threads`` Numba threads per task (``workers x threads`` <= cores). With
``scheduler="tcp://host:8786"`` the sweep joins an existing cluster (for instance one
started with dask-jobqueue's ``SLURMCluster``); each task then uses ``threads`` Numba
threads, or by default the worker's Numba thread count divided by its task slots.

Workers only compute and return results; the coordinator verifies and commits them. A
worker that dies takes nothing committed with it: the scheduler reruns its tasks on
other workers (Dask's ``allowed-failures``), and a task Dask gives up on comes back as
``TaskLost`` with the reason (the sweep records a ``failed`` point, to be rerun with
``--retry-failed``).
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mcstudy.executors.base import TaskLost
from mcstudy.executors.errors import ExecutorError
from mcstudy.executors.signals import sigint_blocked
from mcstudy.executors.threads import available_cores, thread_environment


class DaskExecutor:
    """Points on a Dask cluster (a new LocalCluster, or the one at ``scheduler``)."""

    name = "dask"

    def __init__(
        self,
        scheduler: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
        cores: int | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.shares_cache = scheduler is None  # a LocalCluster runs on this machine
        self.client: Any = None
        self.cluster: Any = None
        if threads is not None and threads < 1:
            raise ExecutorError(f"--threads {threads}: expected at least 1")
        if scheduler is not None:
            if workers is not None:
                raise ExecutorError(
                    "--workers sizes a new LocalCluster; with --scheduler the workers of "
                    "that cluster are used (start more workers to scale it)"
                )
            self.workers = None
            self.threads = threads
            return
        cores = available_cores() if cores is None else cores
        if workers is not None and workers < 1:
            raise ExecutorError(f"--workers {workers}: expected at least 1")
        if workers is None:
            t = 1 if threads is None else threads
            w = max(1, cores // t)
        else:
            w = workers
            t = max(1, cores // w) if threads is None else threads
        if w * t > cores:
            raise ExecutorError(
                f"--workers {w} x --threads {t} = {w * t} threads exceeds the {cores} "
                "available cores; lower --workers or --threads"
            )
        self.workers, self.threads = w, t

    def describe(self) -> dict[str, Any]:
        address = None
        if self.client is not None:
            address = self.client.scheduler.address
        return {
            "executor": self.name,
            "scheduler": self.scheduler or f"LocalCluster {address}",
            "workers": self.workers,
            "threads_per_worker": self.threads,
            "numba_threads": self.threads,
        }

    def __enter__(self) -> DaskExecutor:
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            try:
                self.client = Client(self.scheduler, timeout="30s")
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(
                    f"--scheduler {self.scheduler}: cannot connect to the Dask scheduler ({exc})"
                ) from None
            return self
        # workers started with SIGINT blocked never see Ctrl-C (sent to the whole process
        # group on a terminal): this process stops the sweep and ends them
        with sigint_blocked():
            self.cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                env=thread_environment(self.threads),
            )
        self.client = Client(self.cluster)
        return self

    def __exit__(self, exc_type: type[BaseException] | None = None, *exc: object) -> None:
        interrupted = exc_type is not None and issubclass(exc_type, KeyboardInterrupt)
        if interrupted and self.cluster is not None:
            _kill_local_workers(self.cluster)  # do not wait for their points in flight
        timeout = 5 if interrupted else None
        if self.client is not None:
            self.client.close(timeout=timeout)
            self.client = None
        if self.cluster is not None:
            self.cluster.close(timeout=timeout)
            self.cluster = None

    def map(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], label: Callable[[Any], str] = str
    ) -> Iterator[tuple[Any, Any]]:
        """Submit ``fn(task)`` for every task; yield ``(task, result or TaskLost)``."""
        from distributed import as_completed

        if self.client is None:
            raise RuntimeError("DaskExecutor.map outside its context (use `with executor:`)")
        token = uuid.uuid4().hex[:10]
        futures = {}
        for task in tasks:
            fut = self.client.submit(fn, task, key=f"mcstudy-{label(task)}-{token}", pure=False)
            futures[fut] = task
        try:
            for fut in as_completed(list(futures)):
                task = futures.pop(fut)
                try:
                    result: Any = fut.result()
                except Exception as exc:  # KilledWorker, CancelledError, lost scheduler
                    result = TaskLost(
                        type(exc).__name__, f"Dask could not compute this point: {exc}"
                    )
                fut.release()
                yield task, result
        finally:
            for fut in futures:
                fut.cancel()


def _kill_local_workers(cluster: Any) -> None:
    """SIGKILL the worker processes of a LocalCluster this process started."""
    for nanny in list(getattr(cluster, "workers", {}).values()):
        proc = getattr(getattr(nanny, "process", None), "process", None)
        pid = getattr(proc, "pid", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
