"""The reference zone pressure chain (docs/model.md §4.1) as a SimPy process model.

A straightforward discrete-event version, as a user of SimPy would write it: one
process per clock (blocking allocations, frees, gathers), each sleeping an exponential
time between its events, and a kswapd process that waits for a wake-up and then
reclaims ``reclaim_batch`` pages at rate rho until free pages exceed the high mark
(``balance_pgdat()``; memoryless clocks make this exact). Benchmark baseline and a
cross-check of the chain; it shares no code with the JIT kernels.
"""

from __future__ import annotations

import random

import simpy

from mcstudy.bench.baselines.pressure_common import ChainTotals, check_reference_chain
from mcstudy.exact.pressure import ZoneChain


class _Zone:
    """Free pages ``f``, kswapd state, and the time integrals since ``last``."""

    def __init__(
        self, env: simpy.Environment, c: ZoneChain, tot: ChainTotals, burn_in: float, f0: int
    ):
        self.env = env
        self.c = c
        self.tot = tot
        self.burn_in = burn_in
        self.f = f0
        self.awake = False
        self.wake = env.event()
        self.last = 0.0

    def advance(self) -> None:
        """Accumulate time integrals up to now (only past the burn-in)."""
        now = self.env.now
        start = max(self.last, self.burn_in)
        if now > start:
            dt = now - start
            self.tot.time += dt
            if self.f <= self.c.wmark_min:
                self.tot.below_min_time += dt
            if self.awake:
                self.tot.awake_time += dt
        self.last = now

    def counting(self) -> bool:
        return self.env.now >= self.burn_in

    def wakeup_kswapd(self) -> None:
        """``wakeup_kswapd()`` when f <= low."""
        if self.f <= self.c.wmark_low and not self.awake:
            self.awake = True
            if self.counting():
                self.tot.kswapd_wakeups += 1
            self.wake.succeed()
            self.wake = self.env.event()


def _allocator(z: _Zone, rng: random.Random):
    c = z.c
    while True:
        yield z.env.timeout(rng.expovariate(c.alloc_rate))
        z.advance()
        z.wakeup_kswapd()
        stall = z.f <= c.wmark_min
        if stall:  # __alloc_pages_direct_reclaim()
            z.f = min(c.managed_pages, z.f + c.direct_reclaim_batch) - 1
        else:
            z.f -= 1
        if z.counting():
            z.tot.events += 1
            z.tot.allocations += 1
            z.tot.stalls += stall


def _freer(z: _Zone, rng: random.Random):
    c = z.c
    while True:
        yield z.env.timeout(rng.expovariate(c.free_rate))
        z.advance()
        z.f = min(c.managed_pages, z.f + 1)
        if z.counting():
            z.tot.events += 1
            z.tot.frees += 1


def _gatherer(z: _Zone, rng: random.Random):
    c = z.c
    while True:
        yield z.env.timeout(rng.expovariate(c.gather_rate))
        z.advance()
        z.wakeup_kswapd()
        if z.counting():
            z.tot.events += 1
            z.tot.gathers += 1
            z.tot.failed_gathers += z.f <= c.wmark_min


def _kswapd(z: _Zone, rng: random.Random):
    c = z.c
    while True:
        yield z.wake
        while True:
            yield z.env.timeout(rng.expovariate(c.kswapd_rate))
            z.advance()
            z.f = min(c.managed_pages, z.f + c.reclaim_batch)
            if z.counting():
                z.tot.events += 1
                z.tot.reclaims += 1
            if z.f > c.wmark_high:
                z.awake = False
                break


def simulate_pressure_simpy(
    c: ZoneChain,
    horizon: float,
    seed: int,
    burn_in: float = 0.0,
    initial_free: int | None = None,
) -> ChainTotals:
    """Simulate the chain from (``initial_free`` (default N) free pages, kswapd asleep)
    for ``burn_in + horizon`` seconds.

    Tallies cover (burn_in, burn_in + horizon]; events before the burn-in are simulated
    but not counted.
    """
    check_reference_chain(c)
    f0 = c.managed_pages if initial_free is None else initial_free
    if not 0 <= f0 <= c.managed_pages:
        raise ValueError("initial_free must be in 0..managed_pages")
    env = simpy.Environment()
    tot = ChainTotals()
    z = _Zone(env, c, tot, burn_in, f0)
    rng = random.Random(seed)
    for proc, rate in (
        (_allocator, c.alloc_rate),
        (_freer, c.free_rate),
        (_gatherer, c.gather_rate),
    ):
        if rate > 0.0:
            env.process(proc(z, rng))
    if c.kswapd_rate > 0.0:
        env.process(_kswapd(z, rng))
    env.run(until=burn_in + horizon)
    z.advance()
    return tot
