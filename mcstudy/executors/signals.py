"""Signals and worker processes: where SIGINT must not land.

On a terminal, Ctrl-C sends SIGINT to the whole process group: the coordinator and its
worker processes. Workers must not react (a traceback from each, or a point recorded
as failed): the coordinator ends them. Kept free of heavy imports, like ``threads``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread while the block runs: processes and threads started
    meanwhile inherit the mask and never see SIGINT (a Dask LocalCluster's workers);
    a SIGINT that arrives meanwhile is delivered when the block ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def ignore_sigint() -> None:
    """In a worker process: ignore SIGINT (the coordinator ends the worker)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
