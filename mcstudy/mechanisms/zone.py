"""The zone: the one parameter record of the zone pressure chain (``docs/model.md`` §4.1).

The pressure model (``PressureParams.zone()``), the host study (``HostSetup.zone`` and
its scaled ``chain``), the exact solver (``mcstudy.exact.pressure``; ``ZoneChain`` there
is this record), the reference simulators (``mcstudy.reference``), the event tables
(``zone_tables.event_tables``) and the lab's calibrated zone (``mcstudy.lab.zone``) all
take a :class:`Zone`; no other record declares the zone's fields (a test checks it).
The user-facing parameter schemas (``PressureParams``, ``HostParams``) declare them as
config fields and build a :class:`Zone` from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

NEUTRAL_BOOST_PAGES = 512
"""``boost_pages`` of a zone without watermark boost (``pageblock_nr_pages`` on x86-64
with 4 KiB pages; unused while ``max_boost`` is 0)"""


def atomic_min_mark(wmark_min: int) -> int:
    """GFP_ATOMIC order-0 mark (pages): ``__zone_watermark_ok()`` with ALLOC_MIN_RESERVE
    and ALLOC_NON_BLOCK: ``min -= min / 2; min -= min / 4`` (integer division, v6.3+)."""
    m = wmark_min - wmark_min // 2
    return m - m // 4


MAX_ALLOC_TASKS = 16
"""Largest ``alloc_tasks``: the event tables hold one regime per stalled-task
configuration"""
MAX_STALL_PHASES = 4
"""Largest Erlang shape of a stall (``stall_phases``)"""
MAX_STALL_CONFIGS = 256
"""Largest number of stalled-task configurations (``stall_configs``)"""


@lru_cache(maxsize=64)
def stall_configs(tasks: int, phases: int) -> tuple[tuple[int, ...], ...]:
    """Every way ``tasks`` allocating tasks can be stalled: tuples (n_1 .. n_phases) of
    tasks in each phase of their stall, with n_1 + .. + n_phases <= tasks; ordered by the
    number stalled, then lexicographically, so index 0 is "none stalled"."""

    def rec(left: int, width: int) -> list[tuple[int, ...]]:
        if width == 0:
            return [()]
        return [(a, *rest) for a in range(left + 1) for rest in rec(left - a, width - 1)]

    return tuple(sorted(rec(tasks, phases), key=lambda c: (sum(c), tuple(-x for x in c))))


def stall_moves(
    configs: tuple[tuple[int, ...], ...],
) -> tuple[list[int], list[list[int]], list[int], list[int]]:
    """Index maps of the stall events over ``configs``: (start, advance, end, restart):
    ``start[c]``: one more task in phase 1 (-1 when none runs); ``advance[c][j]``: one task
    of phase j + 1 moves on to phase j + 2 (-1 if phase j + 1 is empty or the last);
    ``end[c]``: one task of the last phase leaves its stall; ``restart[c]``: one task of
    the last phase starts a new stall in phase 1 (-1 where the last phase is empty)."""
    index = {c: i for i, c in enumerate(configs)}
    tasks = max(sum(c) for c in configs)
    m = len(configs[0])
    start, advance, end, restart = [], [], [], []
    for c in configs:
        start.append(index[(c[0] + 1, *c[1:])] if sum(c) < tasks else -1)
        adv = []
        for j in range(m):
            if j == m - 1 or c[j] == 0:
                adv.append(-1)
            else:
                d = list(c)
                d[j] -= 1
                d[j + 1] += 1
                adv.append(index[tuple(d)])
        advance.append(adv)
        if c[m - 1] == 0:
            end.append(-1)
            restart.append(-1)
        else:
            d = list(c)
            d[m - 1] -= 1
            end.append(index[tuple(d)])
            d[0] += 1
            restart.append(index[tuple(d)])
    return start, advance, end, restart


@dataclass(frozen=True)
class Zone:
    """One zone and its load (pages, and events per second); extension fields default to
    neutral values, which give the reference chain of ``docs/model.md`` §4.1."""

    managed_pages: int
    """N: ``zone_managed_pages()``, pages"""
    wmark_min: int
    """WMARK_MIN without boost (``__setup_per_zone_wmarks()``), pages"""
    wmark_low: int
    """WMARK_LOW without boost, pages: at or below it an allocation wakes kswapd
    (``wake_all_kswapds()``)"""
    wmark_high: int
    """WMARK_HIGH without boost, pages: above it kswapd sleeps (``balance_pgdat()``)"""
    alloc_rate: float
    """blocking allocations (``__alloc_pages()``), pages/s, calm phase"""
    free_rate: float
    """page frees other than by reclaim (``free_unref_page()``), pages/s"""
    kswapd_rate: float
    """kswapd reclaim batches (``balance_pgdat()``) per second while awake, batches/s"""
    gather_rate: float
    """mmu_gathers freeing page tables (``tlb_remove_table()``), gathers/s"""
    reclaim_batch: int = 32
    """pages one kswapd batch reclaims (SWAP_CLUSTER_MAX)"""
    direct_reclaim_batch: int = 32
    """pages one direct-reclaim stall frees (``__alloc_pages_direct_reclaim()``)"""
    alloc_batch_pages: int = 1
    """pages taken per blocking allocation (extension)"""
    atomic_alloc_rate: float = 0.0
    """GFP_ATOMIC allocations, pages/s (extension)"""
    burst_alloc_rate: float | None = None
    """blocking allocations in the burst phase, pages/s (extension; None: no bursts)"""
    burst_start_rate: float = 0.0
    """calm -> burst switches per second (extension)"""
    burst_end_rate: float = 0.0
    """burst -> calm switches per second (extension)"""
    boost_rate: float = 0.0
    """watermark boost events (``boost_watermark()``) per second (extension)"""
    boost_pages: int = NEUTRAL_BOOST_PAGES
    """pages one boost adds (``pageblock_nr_pages``)"""
    max_boost: int = 0
    """largest boost, pages (``boost_watermark()``: high x watermark_boost_factor / 10000,
    at least a pageblock; 0: boosts do nothing)"""
    rcu_grace_period_s: float = 0.0
    """mean RCU grace period holding batch pages (``tlb_remove_table_free()`` ->
    ``call_rcu()``), seconds (extension; 0: freed at once)"""
    stall_mean_s: float = 0.0
    """mean duration of one direct-reclaim stall (``__alloc_pages_direct_reclaim()``),
    seconds (extension, ``docs/model.md`` §4.13; 0: a stall is instantaneous)"""
    alloc_tasks: int = 1
    """K: tasks making the blocking allocations, each at ``alloc_rate / K`` while it runs
    (used with timed stalls: a stalled task does not allocate)"""
    stall_phases: int = 1
    """Erlang shape of a stall's duration (1: exponential; used with timed stalls)"""
    coarse_pages: int = 1
    """pages per level of the chain outside its fine band (``docs/model.md`` §4.14,
    ``zone_grid.levels()``); 1: one level per page, the chain of §4.1. Pages, marks and
    rates are the real zone's either way"""
    fine_band_pages: int = 0
    """W: with ``coarse_pages`` > 1, the levels from just below min (and the GFP_ATOMIC
    mark) up to min + W are single pages; at least D + ``alloc_batch_pages``
    (``zone_grid.DEFAULT_FINE_BAND_PAGES`` is the documented default)"""

    def __post_init__(self) -> None:
        n = self.managed_pages
        if n < 1:
            raise ValueError("managed_pages must be >= 1")
        if not 0 <= self.wmark_min <= self.wmark_low <= self.wmark_high < n:
            raise ValueError("need 0 <= wmark_min <= wmark_low <= wmark_high < managed_pages")
        for name in (
            "alloc_rate",
            "free_rate",
            "kswapd_rate",
            "gather_rate",
            "atomic_alloc_rate",
            "burst_start_rate",
            "burst_end_rate",
            "boost_rate",
            "rcu_grace_period_s",
            "stall_mean_s",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0")
        b = self.burst_alloc_rate
        if b is not None and not (math.isfinite(b) and b >= 0.0):
            raise ValueError("burst_alloc_rate must be finite and >= 0")
        if self.reclaim_batch < 1 or self.direct_reclaim_batch < 1 or self.alloc_batch_pages < 1:
            raise ValueError("batches must be >= 1 page")
        if self.boost_pages < 1 or self.max_boost < 0:
            raise ValueError("boost_pages must be >= 1 and max_boost >= 0")
        if not 1 <= self.alloc_tasks <= MAX_ALLOC_TASKS:
            raise ValueError(f"alloc_tasks must be in 1..{MAX_ALLOC_TASKS}")
        if not 1 <= self.stall_phases <= MAX_STALL_PHASES:
            raise ValueError(f"stall_phases must be in 1..{MAX_STALL_PHASES}")
        if self.coarse_pages < 1 or self.fine_band_pages < 0:
            raise ValueError("coarse_pages must be >= 1 and fine_band_pages >= 0")
        if self.coarse_pages > 1:
            if self.fine_band_pages < self.direct_reclaim_batch + self.alloc_batch_pages:
                raise ValueError(
                    f"fine_band_pages ({self.fine_band_pages}) must be at least "
                    "direct_reclaim_batch + alloc_batch_pages "
                    f"({self.direct_reclaim_batch + self.alloc_batch_pages}) when "
                    "coarse_pages > 1: a stall at min must land inside the fine band"
                )
            if self.boost_rate > 0.0 or self.rcu_grace_period_s > 0.0:
                raise ValueError(
                    "coarse_pages > 1 (a fine band) has no watermark boost and no RCU-held "
                    "batch pages"
                )
        if self.timed_stalls and len(stall_configs(self.alloc_tasks, self.stall_phases)) > (
            MAX_STALL_CONFIGS
        ):
            raise ValueError(
                f"alloc_tasks = {self.alloc_tasks} with stall_phases = {self.stall_phases} "
                f"gives more than {MAX_STALL_CONFIGS} stalled-task configurations"
            )

    @property
    def bursty(self) -> bool:
        """The load switches between a calm and a burst phase."""
        return self.burst_alloc_rate is not None and self.burst_start_rate > 0.0

    @property
    def phases(self) -> int:
        return 2 if self.bursty else 1

    @property
    def timed_stalls(self) -> bool:
        """Direct-reclaim stalls take time (``stall_mean_s`` > 0): the state then holds
        the stalled tasks per stall phase (``stall_configs``)."""
        return self.stall_mean_s > 0.0

    @property
    def stall_states(self) -> tuple[tuple[int, ...], ...]:
        """The stalled-task configurations of this zone (one, all running, without timed
        stalls); index 0 is the one with no stalled task."""
        if not self.timed_stalls:
            return ((0,),)
        return stall_configs(self.alloc_tasks, self.stall_phases)

    @property
    def boosted(self) -> bool:
        """Watermark boosts happen and raise the marks."""
        return self.boost_rate > 0.0 and self.max_boost > 0

    @property
    def is_reference(self) -> bool:
        """No extension is active: the reference chain (``docs/model.md`` §4.1)."""
        return (
            not self.bursty
            and self.boost_rate == 0.0
            and self.rcu_grace_period_s == 0.0
            and self.alloc_batch_pages == 1
            and self.atomic_alloc_rate == 0.0
            and not self.timed_stalls
            and self.coarse_pages == 1
        )

    def exact_chain(self) -> Zone | None:
        """This zone as the exact solver takes it (``mcstudy.exact.pressure``): inactive
        extension fields set to their neutral values, so one chain has one record; None
        when a watermark boost or RCU-held batch pages, which the solver lacks, are on."""
        if self.boosted or self.rcu_grace_period_s > 0.0:
            return None
        b = self.bursty
        t = self.timed_stalls
        return replace(
            self,
            fine_band_pages=self.fine_band_pages if self.coarse_pages > 1 else 0,
            alloc_tasks=self.alloc_tasks if t else 1,
            stall_phases=self.stall_phases if t else 1,
            burst_alloc_rate=self.burst_alloc_rate if b else None,
            burst_start_rate=self.burst_start_rate if b else 0.0,
            burst_end_rate=self.burst_end_rate if b else 0.0,
            boost_rate=0.0,
            boost_pages=NEUTRAL_BOOST_PAGES,
            max_boost=0,
        )
