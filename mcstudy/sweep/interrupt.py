"""Ctrl-C during ``mcstudy run``: stop within a second, keep every committed point.

The first SIGINT raises ``KeyboardInterrupt`` in the main thread, which only waits for
results (points compute in a helper thread, in worker processes or on Dask workers): the
sweep stops taking results, the point in flight is abandoned (never recorded as failed),
worker processes are ended, and the command prints how to resume and exits with status
130. A second SIGINT exits at once. Worker processes ignore SIGINT themselves (it reaches
the whole process group on a terminal): their coordinator ends them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shell's status of a command ended by Ctrl-C."""


def exit_now(status: int = EXIT_INTERRUPTED) -> None:
    """Flush stdout and stderr and end the process at once (helper threads may still be
    inside a Numba kernel; nothing is left half-written: every write is atomic)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _second(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"\nmcstudy: interrupted again: exiting now\n")
    os._exit(EXIT_INTERRUPTED)


def _first(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, _second)
    raise KeyboardInterrupt


@contextmanager
def sigint_handler() -> Iterator[None]:
    """Within the block, the first SIGINT raises KeyboardInterrupt and a second one ends
    the process with status 130 (no-op outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
