"""Slow, obviously-correct Gillespie simulation of the zone pressure chain (tests and
benchmarks only).

It draws real exponential holding times with Python's ``random.Random`` and follows the
rules of docs/model.md §4.1 event by event, with the same extensions as the JIT model
(timed direct-reclaim stalls, §4.13, as a list of stalled tasks and their stall phases); it
shares no code with the kernels (uniformisation, guide tables, Rao-Blackwellised time
fractions).

A zone with a fine band (``coarse_pages`` > 1, docs/model.md §4.14) is followed on its
levels (``zone_grid.levels``: the one definition of where they are): each event applies
the real rule to the level's free pages, then a target between two levels goes to one of
them with the probability that keeps its mean (one extra uniform draw per such event).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from mcstudy.mechanisms.zone import Zone
from mcstudy.mechanisms.zone_grid import levels


@dataclass
class ZoneRef:
    """A zone (``mechanisms.zone.Zone``, extension fields neutral by default) and the
    gathers' table counts."""

    zone: Zone
    tables_per_gather: int = 1
    max_table_batch: int = 509


@dataclass
class TrajectoryOutcome:
    """Totals over the counted horizon (seconds and counts)."""

    horizon_s: float
    time_below_min_s: float
    time_awake_s: float
    stalls: int
    wakeups: int
    gathers: int
    failing_gathers: int
    fallbacks: int
    atomic_fails: int
    below_min_entries: int = 0
    """transitions from f > min to f <= min in the counted window (episode starts)"""
    stalled_task_s: float = 0.0
    """integral of the number of stalled tasks over the counted window (task-seconds)"""


def simulate_trajectory(
    rng: random.Random, z: ZoneRef, warmup_s: float, horizon_s: float
) -> TrajectoryOutcome:
    """One trajectory from the idle state; only [warmup_s, warmup_s + horizon_s] counts."""
    zone = z.zone
    f = zone.managed_pages
    timed = zone.stall_mean_s > 0.0
    grid = levels(zone).tolist() if zone.coarse_pages > 1 else None

    def snap(x: int) -> int:
        """A real target (pages) as a level: itself without a fine band, else one of the
        two levels around it, the upper with probability (x - lower) / (upper - lower)."""
        if grid is None:
            return x
        j = bisect.bisect_right(grid, x) - 1
        lower = grid[j]
        if lower == x:
            return x
        upper = grid[j + 1]
        return upper if rng.random() * (upper - lower) < x - lower else lower

    # timed stalls: each stalled task's current stall phase (1 .. stall_phases)
    stalled: list[int] = []
    phase_rate = zone.stall_phases / zone.stall_mean_s if timed else 0.0
    awake = False
    burst = False
    boost = 0
    held = 0
    t = 0.0
    end = warmup_s + horizon_s
    out = TrajectoryOutcome(horizon_s, 0.0, 0.0, 0, 0, 0, 0, 0, 0)
    amark_half = zone.wmark_min - zone.wmark_min // 2
    atomic_mark = amark_half - amark_half // 4
    bursty = zone.burst_alloc_rate is not None and zone.burst_start_rate > 0

    def wake(counting: bool) -> None:
        nonlocal awake
        if not awake:
            awake = True
            if counting:
                out.wakeups += 1

    def allocate(f: int, mn: int, lw: int, counting: bool) -> tuple[int, bool]:
        """One batch allocation at ``f`` free pages: wakes kswapd at or below low; above
        min it takes the batch (free pages after, True), else it is a stall (f, False)."""
        if f <= lw:
            wake(counting)
        if f > mn:
            return snap(max(f - zone.alloc_batch_pages, 0)), True
        if counting:
            out.stalls += 1
        return f, False

    while True:
        lam = zone.burst_alloc_rate if burst else zone.alloc_rate
        running = (zone.alloc_tasks - len(stalled)) / zone.alloc_tasks if timed else 1.0
        rates = [
            ("alloc", lam / zone.alloc_batch_pages * running),
            ("free", zone.free_rate),
            ("kswapd", zone.kswapd_rate if awake else 0.0),
            ("gather", zone.gather_rate),
            ("atomic", zone.atomic_alloc_rate),
            ("phase", (zone.burst_end_rate if burst else zone.burst_start_rate) if bursty else 0.0),
            ("boost", zone.boost_rate if zone.max_boost > 0 else 0.0),
            ("grace_period", 1.0 / zone.rcu_grace_period_s if zone.rcu_grace_period_s > 0 else 0.0),
            ("stall_step", phase_rate * len(stalled)),
        ]
        total = sum(r for _, r in rates)
        dt = -math.log(1.0 - rng.random()) / total
        # time spent in the current state, clipped to the counted window
        lo, hi = max(t, warmup_s), min(t + dt, end)
        if hi > lo:
            if f <= zone.wmark_min + boost:
                out.time_below_min_s += hi - lo
            if awake:
                out.time_awake_s += hi - lo
            out.stalled_task_s += len(stalled) * (hi - lo)
        t += dt
        if t >= end:
            return out
        counting = t >= warmup_s
        x = rng.random() * total
        live = [(n, r) for n, r in rates if r > 0.0]
        name = live[-1][0]  # x can round up to total
        for cand, r in live:
            if x < r:
                name = cand
                break
            x -= r
        mn, lw, cap = zone.wmark_min + boost, zone.wmark_low + boost, zone.managed_pages - held
        was_above = f > mn
        if name == "alloc" and timed:
            # one running task allocates; at or below min it enters a stall of
            # stall_phases exponential phases, f unchanged
            f, ok = allocate(f, mn, lw, counting)
            if not ok:
                stalled.append(1)
        elif name == "stall_step":
            i = int(rng.random() * len(stalled))  # every stalled task moves on at one rate
            i = min(i, len(stalled) - 1)
            if stalled[i] < zone.stall_phases:
                stalled[i] += 1
            else:
                # the stall ends: its pages land, then the task retries its allocation
                f, ok = allocate(min(cap, f + zone.direct_reclaim_batch), mn, lw, counting)
                if ok:
                    stalled.pop(i)
                else:
                    f = snap(f)
                    stalled[i] = 1
        elif name == "alloc":
            f, ok = allocate(f, mn, lw, counting)
            if not ok:
                f = snap(max(min(cap, f + zone.direct_reclaim_batch) - zone.alloc_batch_pages, 0))
        elif name == "free":
            f = snap(min(cap, f + 1))
        elif name == "kswapd":
            f = min(cap, f + zone.reclaim_batch)
            if f > zone.wmark_high + boost:
                awake = False
                boost = 0
            f = snap(f)
        elif name == "gather":
            if counting:
                out.gathers += 1
            left = z.tables_per_gather
            first = True
            while left > 0:  # one tlb_remove_table() batch-page attempt per loop
                if f <= lw:
                    wake(counting)
                if f > mn:
                    if zone.rcu_grace_period_s > 0:
                        f -= 1
                        held += 1
                    left -= z.max_table_batch
                else:
                    if counting:
                        out.failing_gathers += 1 if first else 0
                        out.fallbacks += left
                    left = 0
                first = False
        elif name == "atomic":
            if f <= lw:
                wake(counting)
            if f > atomic_mark:
                f = snap(f - 1)
            elif counting:
                out.atomic_fails += 1
        elif name == "phase":
            burst = not burst
        elif name == "boost":
            boost = min(boost + zone.boost_pages, zone.max_boost)
            wake(counting)
        elif name == "grace_period":
            f += held
            held = 0
        if counting and was_above and f <= zone.wmark_min + boost:
            out.below_min_entries += 1


def simulate_reference(
    seed: int, sequences: int, z: ZoneRef, warmup_s: float, horizon_s: float
) -> list[TrajectoryOutcome]:
    """``sequences`` independent trajectories."""
    rng = random.Random(seed)
    return [simulate_trajectory(rng, z, warmup_s, horizon_s) for _ in range(sequences)]
