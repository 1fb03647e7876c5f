"""A child process that compiles beside this one.

Numba compiles on one CPU. A kernel that calls independent functions (the host study's
zone path and its consumers) can have a child process compile one part into Numba's
on-disk cache while this process compiles the other; when this process then compiles
the caller, Numba loads the child's part from the cache. The child writes nothing but
Numba's cache files (written atomically, safe beside other writers); if it fails, the
parent compiles that part itself, as it would without a child.
"""

from __future__ import annotations

import os
import subprocess
import sys


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Beside:
    """A running child (``start``)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc

    def wait(self) -> bool:
        """Wait for the child; True if it exited cleanly."""
        return self.proc.wait() == 0

    def stop(self) -> None:
        """Kill the child (the parent is stopping)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


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
