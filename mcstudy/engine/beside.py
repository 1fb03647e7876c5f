"""A child process that compiles beside this one.

Numba compiles on one CPU. A kernel that calls independent functions (the host study's
zone path and its consumers) can have a child process compile one part into Numba's
on-disk cache while this process compiles the other; when this process then compiles
the caller, Numba loads the child's part from the cache. The child writes nothing but
Numba's cache files (written atomically, safe beside other writers); if it fails, the
parent compiles that part itself, as it would without a child.

A child never outlives its parent by more than a moment: the parent kills its children
when it stops (``stop()``, and at interpreter exit: a Ctrl-C during ``mcstudy run``'s
warm-up abandons the compiling thread), and a child calls :func:`watch_parent`, which
ends it when its parent has gone (killed outright, with no exit handler run).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
import time


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_RUNNING: set[Beside] = set()
"""children started and not yet waited for or stopped"""


class Beside:
    """A running child (``start``)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        _RUNNING.add(self)

    def wait(self) -> bool:
        """Wait for the child; True if it exited cleanly."""
        try:
            return self.proc.wait() == 0
        finally:
            _RUNNING.discard(self)

    def stop(self) -> None:
        """Kill the child (the parent is stopping)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _RUNNING.discard(self)


@atexit.register
def _stop_all() -> None:
    for child in list(_RUNNING):
        child.stop()


def watch_parent(every_s: float = 0.5) -> None:
    """In a child: end this process (exit status 3) as soon as its parent has gone, from
    a daemon thread that looks every ``every_s`` seconds."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="mcstudy-watch-parent", daemon=True).start()


def start(module: str, args: list[str]) -> Beside | None:
    """Run ``python -m module *args`` beside this process, or None when that cannot help
    (JIT off, one usable CPU) or cannot start. The child has its own session: a
    terminal's Ctrl-C reaches only the parent, which must ``stop()`` it."""
    import numba

    if numba.config.DISABLE_JIT or usable_cpus() < 2:
        return None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None
    return Beside(proc)
