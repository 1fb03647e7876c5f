"""Slow, obviously-correct pure-Python simulator of the THP model (tests/benchmarks only).

It follows every PMD mapping individually with Python's ``random.Random`` and re-draws
the next event from all competing clocks after every event (no aggregation, no
pre-computed split times, no stationary start: it starts empty and relies on
``warmup_s``). It shares no code with the JIT kernels; the rules are those of
``mcstudy.models.thp`` written out directly.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from dataclasses import dataclass, field

from mcstudy.kernel.policies import collapse_policy, ipi_policy, table_policy
from mcstudy.kernel.profiles import get_profile
from mcstudy.models.thp.params import ThpParams


@dataclass
class ThpOutcome:
    """What one sequence measured over [warmup_s, warmup_s + horizon_s)."""

    thp_time_avg: float = 0.0
    deposit_time_avg: float = 0.0
    reserve_time_avg: float = 0.0
    thp_end: int = 0
    deposit_peak: int = 0
    splits: int = 0
    split_failures: int = 0
    cache_misses: int = 0
    collapses: int = 0
    collapse_rounds: int = 0
    fresh_failures: int = 0
    rcu_frees: int = 0
    gathers: int = 0
    fallbacks: int = 0
    fallback_rounds: int = 0
    isolated_ipis: int = 0
    cycles: int = 0
    cycle_counts: Counter = field(default_factory=Counter)  # count -> cycles (>= 1 only)

    @property
    def hit_cycles(self) -> int:
        return sum(self.cycle_counts.values())

    @property
    def cycle_max(self) -> int:
        return max(self.cycle_counts, default=0)


def _draw_lifetime(rng: random.Random, p: ThpParams) -> float:
    if p.lifetime_dist == "lognormal":
        mu = math.log(p.lifetime_s) - 0.5 * p.lifetime_shape**2
        return rng.lognormvariate(mu, p.lifetime_shape)
    if p.lifetime_dist == "pareto":
        xm = p.lifetime_s * (p.lifetime_shape - 1.0) / p.lifetime_shape
        return xm * rng.paretovariate(p.lifetime_shape)
    return rng.expovariate(1.0 / p.lifetime_s)


def simulate_thp_reference(rng: random.Random, p: ThpParams) -> ThpOutcome:
    """One sequence of the THP model, event by event."""
    prof = get_profile(p.kernel)
    ipol = ipi_policy(p.ipi_policy)
    cpol = collapse_policy(p.collapse_policy)
    tpol = table_policy(p.table_policy)
    t0 = p.warmup_s
    t1 = p.warmup_s + p.horizon_s
    out = ThpOutcome()
    sig = p.split_rates()  # [class][env]
    fail_split = p.split_fail_p()
    nowait = (p.gfp_nowait_fail_p, p.pressure_fail_p)
    batch = p.batch()
    cpus = p.n_split_cpus()
    spacing = p.spacing_us() * 1e-6
    cycle = p.rt_cycle_us * 1e-6
    n_cycles = math.floor(p.horizon_s / cycle * (1.0 + 1e-12))
    out.cycles = n_cycles
    cycle_hits: Counter = Counter()

    env = 1 if (p.pressure_fraction > 0 and rng.random() < p.pressure_fraction) else 0
    to_calm = 1.0 / p.pressure_episode_s
    to_pressure = (
        p.pressure_fraction / ((1.0 - p.pressure_fraction) * p.pressure_episode_s)
        if p.pressure_fraction > 0
        else 0.0
    )

    members: list[list[int]] = [[], [], []]  # mapping ids per class
    where: dict[int, tuple[int, int]] = {}  # id -> (class, index in members[class])
    zaps: list[tuple[float, int]] = []  # heap of (zap time, id); lazy deletion
    next_id = 0
    deposits = 0
    levels = [0] * cpus
    cached = 0

    def add(c: int, now: float) -> None:
        nonlocal next_id, deposits
        i = next_id
        next_id += 1
        where[i] = (c, len(members[c]))
        members[c].append(i)
        if c < 2:
            life = _draw_lifetime(rng, p)
        else:
            life = rng.expovariate(1.0 / p.fork_child_lifetime_s)
        heapq.heappush(zaps, (now + life, i))
        deposits += 1  # pgtable_trans_huge_deposit()

    def remove(i: int) -> None:
        nonlocal deposits
        c, k = where.pop(i)
        last = members[c].pop()
        if last != i:
            members[c][k] = last
            where[last] = (c, k)
        deposits -= 1  # zap_deposited_table() or withdraw at split

    def deliver_rounds(now: float, rounds: int, in_rt_mm: bool) -> None:
        for r in range(rounds):
            ok = ipol.sends_rounds and (in_rt_mm or not ipol.mm_only)
            if ok and ipol.kernel_mode_only:
                ok = rng.random() < 1.0 - p.rt_user_fraction
            if ok:
                out.isolated_ipis += 1
                k = int((now + r * spacing - t0) / cycle)
                if k < n_cycles:
                    cycle_hits[k] += 1

    def on_collapse(now: float) -> None:
        counting = now >= t0
        in_rt_mm = rng.random() < p.rt_mm_share
        sync = fallback = False
        if not cpol.fresh_table:
            sync = True
        else:
            fresh_ok = True
            if tpol.deposit and p.fresh_table_gfp == "nowait":
                fresh_ok = rng.random() >= nowait[env]
            if not fresh_ok:
                if counting:
                    out.fresh_failures += 1
                sync = True
            elif cpol.old_table_by_rcu:
                if counting:
                    out.rcu_frees += 1
            elif prof.uses_tlb_remove_table:
                fallback = rng.random() < nowait[env]  # the gather's batch page
        rounds = 0
        if sync and prof.khugepaged_sync_ipi and ipol.sends_rounds:
            rounds = 1
        if fallback:
            if prof.fallback_sends_ipi and ipol.sends_rounds:
                rounds = 1
            elif counting:
                out.rcu_frees += 1
        if counting:
            out.collapses += 1
            out.collapse_rounds += rounds
            deliver_rounds(now, rounds, in_rt_mm)

    def on_gather(now: float) -> None:
        out.gathers += 1
        in_rt_mm = rng.random() < p.rt_mm_share
        if not prof.uses_tlb_remove_table:
            return
        held = 0  # tables in the current batch page; 0 = no batch page
        have_batch = False
        fallbacks = 0
        for _table in range(p.tables_per_gather):
            if not have_batch:
                if rng.random() < nowait[env]:
                    fallbacks += 1  # tlb_remove_table_one()
                    continue
                have_batch = True
                held = 0
            held += 1
            if held == batch:
                have_batch = False
        out.fallbacks += fallbacks
        if prof.fallback_sends_ipi and ipol.sends_rounds:
            out.fallback_rounds += fallbacks
            deliver_rounds(now, fallbacks, in_rt_mm)
        else:
            out.rcu_frees += fallbacks

    now = 0.0
    while True:
        n = [len(m) for m in members]
        refill_cpus = (
            [j for j in range(cpus) if levels[j] < p.cache_k] if tpol.per_cpu_cache else []
        )
        rates = {
            "env": to_calm if env == 1 else to_pressure,
            "fault": p.fault_rate,
            "zero": p.zero_fault_rate,
            "collapse": p.collapse_rate,
            "fork": p.fork_rate if p.fork_copy_prob > 0 else 0.0,
            "split0": sig[0][env] * n[0],
            "split1": sig[1][env] * n[1],
            "split2": sig[2][env] * n[2],
            "refill": p.cache_refill_rate * len(refill_cpus),
            "gather": p.gather_rate if now >= t0 else 0.0,
        }
        total = sum(rates.values())
        while zaps and zaps[0][1] not in where:
            heapq.heappop(zaps)
        t_zap = zaps[0][0] if zaps else math.inf
        t_clock = now + rng.expovariate(total) if total > 0 else math.inf
        if now < t0 < min(t_clock, t_zap):
            # gathers start at t0: stop the clocks there and draw again
            t_next, what = t0, "restart"
        elif t_zap <= t_clock:
            t_next, what = t_zap, "zap"
        else:
            t_next, what = t_clock, ""
        t_next = min(t_next, t1)
        # time averages over the measured window
        lo = max(now, t0)
        if t_next > lo:
            dt = t_next - lo
            total_n = sum(n)
            out.thp_time_avg += total_n * dt
            out.deposit_time_avg += deposits * dt
            if tpol.deposit:
                out.reserve_time_avg += deposits * dt
            elif tpol.per_cpu_cache:
                out.reserve_time_avg += cached * dt
            out.deposit_peak = max(out.deposit_peak, deposits)
        now = t_next
        if now >= t1:
            break
        if what == "restart":
            continue
        if what == "zap":
            _, i = heapq.heappop(zaps)
            remove(i)
            continue
        u = rng.random() * total
        for name, r in rates.items():
            if u < r:
                what = name
                break
            u -= r
        else:
            what = name
        if what == "env":
            env = 1 - env
        elif what == "fault":
            add(0, now)
        elif what == "zero":
            add(1, now)
        elif what == "collapse":
            add(0, now)
            on_collapse(now)
        elif what == "fork":
            copies = sum(1 for c in (0, 1) for _ in members[c] if rng.random() < p.fork_copy_prob)
            for _ in range(copies):
                add(2, now)
        elif what.startswith("split"):
            c = int(what[-1])
            i = members[c][rng.randrange(len(members[c]))]
            remove(i)
            miss = False
            failed = False
            if not tpol.deposit and not tpol.per_cpu_cache:
                miss = True
            elif tpol.per_cpu_cache:
                j = rng.randrange(cpus)
                if levels[j] > 0:
                    levels[j] -= 1
                    cached -= 1
                else:
                    miss = True
            if miss:
                failed = rng.random() < fail_split[env]
            if now >= t0:
                out.splits += 1
                out.cache_misses += int(miss)
                out.split_failures += int(failed)
        elif what == "refill":
            j = refill_cpus[rng.randrange(len(refill_cpus))]
            levels[j] += 1
            cached += 1
        elif what == "gather":
            on_gather(now)

    h = p.horizon_s
    out.thp_time_avg /= h
    out.deposit_time_avg /= h
    out.reserve_time_avg /= h
    out.thp_end = sum(len(m) for m in members)
    out.cycle_counts = Counter(cycle_hits.values())
    return out


def simulate_thp_reference_many(seed: int, sequences: int, p: ThpParams) -> list[ThpOutcome]:
    """``sequences`` independent sequences."""
    rng = random.Random(seed)
    return [simulate_thp_reference(rng, p) for _ in range(sequences)]
