"""``--executor local``: this process, or spawned worker processes on this machine.

With one worker (the default) tasks run in this process with ``threads`` Numba
threads, in a helper thread: the main thread only waits for results, so Ctrl-C stops
the sweep at once even while a kernel computes (the task in flight is abandoned). With
``workers > 1`` they run in a ``ProcessPoolExecutor`` of freshly spawned
processes, each capped at ``threads`` Numba threads before Numba is imported, so
``workers x threads`` never exceeds the cores (checked up front). A worker process that
dies (OOM killer, segfault) breaks the pool: its tasks are resubmitted to a new pool,
and each task that was in flight then is retried alone, so a task that kills its
worker again (``MAX_WORKER_DEATHS`` times) is reported lost and the innocent bystanders
are not. If the consumer stops early (Ctrl-C, an error while committing), the worker
processes are killed at once rather than left to finish their points.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from mcstudy.executors.base import TaskLost
from mcstudy.executors.threads import available_cores, init_worker_process, plan_threads

MAX_WORKER_DEATHS = 2


class LocalExecutor:
    """Points in this process (``workers == 1``) or in spawned worker processes."""

    name = "local"
    shares_cache = True
    """workers run on this machine and share its Numba disk cache"""

    def __init__(
        self, workers: int | None = None, threads: int | None = None, cores: int | None = None
    ) -> None:
        self.cores = available_cores() if cores is None else cores
        self.workers, self.threads = plan_threads(workers, threads, self.cores)

    def describe(self) -> dict[str, Any]:
        return {
            "executor": self.name,
            "workers": self.workers,
            "threads_per_worker": self.threads,
            "numba_threads": self.threads,
        }

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any], label: Callable[[Any], str] = str
    ) -> Iterator[tuple[Any, Any]]:
        """Compute ``fn(task)`` for every task; yield ``(task, result)`` as they complete."""
        tasks = list(tasks)
        if not tasks:
            return
        if self.workers == 1:
            yield from self._in_process(fn, tasks)
        else:
            yield from self._in_pool(fn, tasks)

    def _in_process(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[Any, Any]]:
        results: queue.SimpleQueue = queue.SimpleQueue()
        stop = threading.Event()
        end = object()

        def work() -> None:
            try:
                for task in tasks:
                    if stop.is_set():
                        break
                    results.put((task, fn(task), None))
            except BaseException as exc:  # fn never raises for a task; anything else is ours
                results.put((None, None, exc))
            finally:
                results.put(end)

        thread = threading.Thread(target=work, name="mcstudy-points", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    item = results.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is end:
                    break
                task, result, exc = item
                if exc is not None:
                    raise exc
                yield task, result
        finally:
            stop.set()  # an abandoned run: the thread ends after its task in flight

    def _in_pool(self, fn: Callable[[Any], Any], tasks: list[Any]) -> Iterator[tuple[Any, Any]]:
        pending = deque(range(len(tasks)))  # positions in ``tasks``
        deaths: Counter[int] = Counter()
        context = multiprocessing.get_context("spawn")
        window = 2 * self.workers
        while pending:
            pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=init_worker_process,
                initargs=(self.threads,),
            )
            inflight: dict[Future, int] = {}
            lost: list[int] = []
            finished = False
            try:
                while (pending or inflight) and not lost:
                    while pending and len(inflight) < window:
                        suspect = deaths[pending[0]] > 0
                        if suspect and inflight:
                            break  # a task that was in flight when a worker died runs alone
                        pos = pending.popleft()
                        try:
                            inflight[pool.submit(fn, tasks[pos])] = pos
                        except BrokenProcessPool:  # broke since the last wait
                            pending.appendleft(pos)
                            break
                        if suspect:
                            break
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        pos = inflight.pop(fut)
                        exc = fut.exception()
                        if isinstance(exc, BrokenProcessPool):
                            lost.append(pos)
                        elif exc is not None:  # e.g. a task that cannot be pickled
                            yield tasks[pos], TaskLost(type(exc).__name__, str(exc))
                        else:
                            yield tasks[pos], fut.result()
                if lost:  # the pool broke: everything still in flight is lost too
                    for fut, pos in inflight.items():
                        if fut.done() and fut.exception() is None:
                            yield tasks[pos], fut.result()
                        else:
                            lost.append(pos)
                    inflight.clear()
                finished = True
            finally:
                if not finished:  # the consumer stopped (Ctrl-C, an error): end the workers
                    _kill_workers(pool)
                pool.shutdown(wait=finished and not lost, cancel_futures=True)
            for pos in sorted(lost, reverse=True):
                deaths[pos] += 1
                if deaths[pos] >= MAX_WORKER_DEATHS:
                    yield (
                        tasks[pos],
                        TaskLost(
                            "WorkerProcessDied",
                            f"a worker process died while this point was in flight "
                            f"({deaths[pos]} times; out of memory or a crash?)",
                        ),
                    )
                else:
                    pending.appendleft(pos)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the worker processes of ``pool`` now (their tasks are abandoned)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, ValueError, AttributeError):
            pass
