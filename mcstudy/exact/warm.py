"""Compiling the zone chain's level recursion only when a run will use it.

A study whose zone laws need the level recursion of ``mcstudy.exact.pressure``
(``_mg1_levels``, ``_ramaswami``) pays its compilation (about 4 s on an empty Numba
cache) before its first point starts; a study whose laws are all in the store
(``mcstudy.exact.stored``) never runs it. :func:`recursion_needed` says which;
:func:`compile_level_recursion` compiles it in the warm-up, where the run says it is
compiling (the host study's warm-up zone is solved by GTH, which compiles nothing).
"""

from __future__ import annotations

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


def needs_recursion(chain: ZoneChain) -> bool:
    """Whether solving ``chain`` may run the level recursion (``stationary_distribution``'s
    "auto": single-page allocations and more states than GTH takes). It counts every
    state, where "auto" counts the closed class, which can be smaller: at worst the
    recursion is compiled for a law that GTH then solves."""
    states = 2 * chain.phases * (chain.managed_pages + 1)
    return chain.alloc_batch_pages == 1 and states > _pressure.GTH_MAX_STATES // 4


def recursion_needed(chains: Iterable[ZoneChain]) -> bool:
    """Whether solving ``chains`` runs the recursion: some law needs it and is not in
    the store."""
    return any(needs_recursion(c) and not is_stored(c) for c in chains)


def recursion_cached() -> bool:
    """Whether the level recursion's kernels are in Numba's cache (a point that needs them
    then loads them when it solves its law: no warm-up is needed for them)."""
    return all(has_cache_index(f) for f in (_pressure._mg1_levels, _pressure._ramaswami))


def compile_level_recursion() -> None:
    """Compile (or load from Numba's cache) the recursion by solving ``PROBE_CHAIN``."""
    _pressure.stationary_distribution(PROBE_CHAIN, method="mg1")
