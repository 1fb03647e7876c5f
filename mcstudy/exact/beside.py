"""Compile the zone chain's level recursion on another CPU while the kernels compile.

On an empty Numba cache a host study's warm-up compiles its simulation kernel (most of
the wait) and, before its first point can start from the zone's stationary law, the
level recursion of ``mcstudy.exact.pressure`` (about 5 s). The two are independent, and
Numba compiles on one CPU; so when the machine has a second CPU,
:func:`compile_level_recursion` compiles the recursion in a child process
(``python -m mcstudy.exact.beside``: it solves one small chain by the recursion, which
saves the compiled functions in Numba's cache) while this process compiles the kernel.
When the parent then solves its own laws, Numba loads the recursion from the cache.

The child writes nothing but Numba's cache files (atomic, safe beside other writers); if
it fails, the parent compiles the recursion itself, as it would without a child.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable

from mcstudy.engine.jitcache import has_cache_index
from mcstudy.exact import pressure as _pressure
from mcstudy.exact.pressure import ZoneChain
from mcstudy.exact.stored import is_stored

PROBE_CHAIN = ZoneChain(
    managed_pages=200,
    wmark_min=10,
    wmark_low=15,
    wmark_high=20,
    alloc_rate=10.0,
    free_rate=9.0,
    kswapd_rate=1.0,
    gather_rate=1.0,
    reclaim_batch=8,
    direct_reclaim_batch=8,
)
"""a chain the recursion solves in milliseconds (201 levels, single-page allocations);
its argument types are those of every chain's"""


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def needs_recursion(chain: ZoneChain) -> bool:
    """Whether solving ``chain`` runs the level recursion (``stationary_distribution``'s
    "auto": single-page allocations and more states than GTH takes)."""
    states = 2 * chain.phases * (chain.managed_pages + 1)
    return chain.alloc_batch_pages == 1 and states > _pressure.GTH_MAX_STATES // 4


class Compiling:
    """The child process of :func:`compile_level_recursion`."""

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


def compile_level_recursion(chains: Iterable[ZoneChain]) -> Compiling | None:
    """Start compiling the level recursion in a child process, if solving ``chains``
    will need it and it is not compiled yet.

    None (nothing started) when no chain needs the recursion or every such law is in
    the store, when the recursion is in Numba's cache already, when JIT is off or when
    this process may use only one CPU. The child runs in its own session: a terminal's
    Ctrl-C reaches the parent, whose warm-up then stops it.
    """
    import numba

    if numba.config.DISABLE_JIT or _usable_cpus() < 2:
        return None
    if not any(needs_recursion(c) and not is_stored(c) for c in chains):
        return None
    if has_cache_index(_pressure._mg1_levels) and has_cache_index(_pressure._ramaswami):
        return None
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcstudy.exact.beside"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return None
    return Compiling(proc)


def _main() -> int:
    """The child: solve ``PROBE_CHAIN`` by the recursion (compiling and caching it)."""
    _pressure.stationary_distribution(PROBE_CHAIN, method="mg1")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
