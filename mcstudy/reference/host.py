"""Slow, obviously-correct simulation of the coupled host study (tests only).

One host-sequence is simulated event by event with real exponential holding times
(Gillespie), every clock redrawn after every event, Python's ``random.Random``: the
zone (docs/model.md §4.1 with bursts and GFP_ATOMIC allocations), the THPs (each one an
object with its own zap clock), khugepaged's collapses, the munmap gathers (walking
``tlb_remove_table()`` table by table) and the per-CPU table caches. A GFP_NOWAIT
allocation fails iff free <= min at that instant, a GFP_ATOMIC one iff free <= the
atomic mark; a gather whose attempt fails makes its next attempt ``round_s`` later (a
scheduled event between the exponential ones). It starts from a fixed state and discards ``warmup_s``; it shares no code
with the kernels (no uniformisation, no switch times, no aggregated population).

It follows the mainline IPI path (``broadcast``, ``sync_ipi``) and the
``kernel_mode`` / ``fresh_table`` variants that the tests compare.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from mcstudy.mechanisms.zone import Zone


@dataclass
class HostRef:
    """A small host (pages and events per second)."""

    zone: Zone
    """the zone (``mechanisms.zone``; single-page allocations, no watermark boost, no
    RCU-held batch pages); its ``gather_rate`` is the munmap gathers'"""
    thp_fault_rate: float = 0.0
    thp_lifetime_s: float = 1.0
    split_rate: float = 0.0
    collapse_rate: float = 0.0
    tables_per_gather: int = 1
    max_table_batch: int = 509
    split_cpus: int = 2
    cache_k: int = 2
    refill_rate: float = 1.0
    refill_nowait: bool = True
    fallback_ipi: bool = True
    rt_mm_share: float = 0.0
    kernel_prob: float = 0.05
    round_s: float = 0.0
    """a fallback's sync round: the gather's next attempt comes this much later"""


@dataclass
class HostOutcome:
    """Totals over the measured window."""

    horizon_s: float
    below_min_s: float = 0.0
    below_atomic_s: float = 0.0
    awake_s: float = 0.0
    thp_s: float = 0.0  # integral of the THP count
    splits: int = 0
    ondemand_fails: int = 0
    atomic_fails: int = 0
    cache_fails: int = 0
    gathers: int = 0
    fallbacks: int = 0
    iso_broadcast: int = 0  # broadcast IPIs at the isolated CPU, sync_ipi collapses
    iso_kernel_mode: int = 0
    fresh_fails: int = 0
    extra: dict[str, float] = field(default_factory=dict)


def _atomic_mark(m: int) -> int:
    m = m - m // 2
    return m - m // 4


def simulate(rng: random.Random, h: HostRef, warmup_s: float, horizon_s: float) -> HostOutcome:
    """One sequence: ``warmup_s`` discarded, then ``horizon_s`` measured."""
    z = h.zone
    if z.alloc_batch_pages != 1 or z.boosted or z.rcu_grace_period_s > 0.0:
        raise ValueError("the host reference has single-page allocations, no boost, no RCU")
    n = z.managed_pages
    mn, lw, hi = z.wmark_min, z.wmark_low, z.wmark_high
    amark = _atomic_mark(mn)
    f, awake, burst = hi, 0, 0
    thps = 0
    caches = [h.cache_k] * h.split_cpus
    timed = z.stall_mean_s > 0.0  # §4.13: stalls take time, allocating tasks
    tasks = z.alloc_tasks if timed else 1
    stalled: list[int] = []  # the stall phase (0-based) of each stalled task
    step = z.stall_phases / z.stall_mean_s if timed else 0.0
    t, end = 0.0, warmup_s + horizon_s
    out = HostOutcome(horizon_s)
    pending: list[list] = []  # gathers waiting for their next attempt: [time, left, rt_mm]
    while True:
        lam = (z.burst_alloc_rate or 0.0) if burst else z.alloc_rate
        rates = {
            "alloc": lam * (tasks - len(stalled)) / tasks,
            "stall": step * len(stalled),
            "free": z.free_rate,
            "kswapd": z.kswapd_rate if awake else 0.0,
            "atomic": z.atomic_alloc_rate,
            "phase": (z.burst_end_rate if burst else z.burst_start_rate)
            if z.burst_alloc_rate is not None
            else 0.0,
            "fault": h.thp_fault_rate,
            "zap": thps / h.thp_lifetime_s,
            "split": thps * h.split_rate,
            "collapse": h.collapse_rate,
            "gather": z.gather_rate,
            "refill": h.refill_rate * sum(1 for c in caches if c < h.cache_k),
        }
        total = sum(rates.values())
        dt = rng.expovariate(total)
        due = min(pending, key=lambda g: g[0]) if pending else None
        if due is not None and due[0] < t + dt:
            dt = due[0] - t  # memoryless clocks: the exponential ones are redrawn after
        lo_t, hi_t = max(t, warmup_s), min(t + dt, end)
        if hi_t > lo_t:  # the state held over [t, t + dt)
            span = hi_t - lo_t
            out.below_min_s += span * (f <= mn)
            out.below_atomic_s += span * (f <= amark)
            out.awake_s += span * awake
            out.thp_s += span * thps
        t += dt
        if t >= end:
            return out
        count = t >= warmup_s
        if due is not None and t == due[0]:
            pending.remove(due)
            _attempts(out, h, rng, pending, t, due[1], due[2], f <= mn, count)
            continue
        u = rng.random() * total
        ev = ""
        for name, r in rates.items():
            if u < r:
                ev = name
                break
            u -= r
        if ev == "alloc":
            if f <= lw:
                awake = 1
            if f > mn:
                f -= 1
            elif timed:
                stalled.append(0)  # the task enters direct reclaim; f is unchanged
            else:
                f = min(n, f + z.direct_reclaim_batch) - 1
        elif ev == "stall":
            i = rng.randrange(len(stalled))
            stalled[i] += 1
            if stalled[i] == z.stall_phases:  # the stall ends: its pages land, it retries
                f = min(n, f + z.direct_reclaim_batch)
                if f <= lw:
                    awake = 1
                if f > mn:
                    f -= 1
                    stalled.pop(i)
                else:
                    stalled[i] = 0
        elif ev == "free":
            f = min(n, f + 1)
        elif ev == "kswapd":
            f = min(n, f + z.reclaim_batch)
            if f > hi:
                awake = 0
        elif ev == "atomic":
            if f <= lw:
                awake = 1
            if f > amark:
                f -= 1
        elif ev == "phase":
            burst = 1 - burst
        elif ev == "fault":
            thps += 1
        elif ev == "zap":
            thps -= 1
        elif ev == "split":
            thps -= 1
            out.splits += count
            fail = f <= mn
            out.ondemand_fails += count and fail
            out.atomic_fails += count and f <= amark
            cpu = rng.randrange(h.split_cpus)
            if caches[cpu] > 0:
                caches[cpu] -= 1
            else:
                out.cache_fails += count and fail
        elif ev == "refill":
            below = [i for i, c in enumerate(caches) if c < h.cache_k]
            cpu = below[rng.randrange(len(below))]
            if not (h.refill_nowait and f <= mn):
                caches[cpu] += 1
        elif ev == "collapse":
            thps += 1
            in_rt_mm = rng.random() < h.rt_mm_share
            out.iso_broadcast += count
            out.iso_kernel_mode += count and in_rt_mm and rng.random() < h.kernel_prob
            out.fresh_fails += count and f <= mn  # fresh_table: the GFP_NOWAIT deposit
        elif ev == "gather":
            out.gathers += count
            in_rt_mm = rng.random() < h.rt_mm_share
            _attempts(out, h, rng, pending, t, h.tables_per_gather, in_rt_mm, f <= mn, count)


def _attempts(
    out: HostOutcome,
    h: HostRef,
    rng: random.Random,
    pending: list[list],
    t: float,
    left: int,
    in_rt_mm: bool,
    fails: bool,
    count: bool,
) -> None:
    """``tlb_remove_table()`` from the next table of a gather on, at time ``t``: while
    no batch page is held, __get_free_page(GFP_NOWAIT) fails iff ``fails``; a failure
    sends one table to ``tlb_remove_table_one()``, whose sync round delays the next
    attempt by ``round_s`` (scheduled in ``pending``); a success takes a batch."""
    while left > 0:
        if not fails:
            left -= h.max_table_batch
            continue
        out.fallbacks += count
        if h.fallback_ipi:
            out.iso_broadcast += count
            out.iso_kernel_mode += count and in_rt_mm and rng.random() < h.kernel_prob
        left -= 1
        if left > 0 and h.fallback_ipi and h.round_s > 0.0:
            pending.append([t + h.round_s, left, in_rt_mm])
            return
