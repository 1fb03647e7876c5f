"""The reference zone pressure chain (docs/model.md §4.1), many copies stepped with NumPy.

``chains`` independent copies advance one event per step (Gillespie's direct method,
vectorised across copies): an exponential holding time with the state's total rate,
then one uniform to pick which clock fired. Benchmark baseline and a cross-check.
"""

from __future__ import annotations

import numpy as np

from mcstudy.bench.baselines.pressure_common import ChainTotals, check_reference_chain
from mcstudy.exact.pressure import ZoneChain


def simulate_pressure_numpy(
    c: ZoneChain,
    steps: int,
    chains: int,
    seed: int,
    burn_in_steps: int = 0,
    initial_free: int | None = None,
) -> tuple[ChainTotals, np.ndarray]:
    """Run ``chains`` copies for ``burn_in_steps + steps`` events each from
    (``initial_free`` (default N) free pages, kswapd asleep).

    Returns the totals over the counted steps and each copy's fraction of time with
    f <= min (for a between-copies standard error).
    """
    check_reference_chain(c)
    rng = np.random.default_rng(seed)
    n = c.managed_pages
    lam, mu, gam, rho = c.alloc_rate, c.free_rate, c.gather_rate, c.kswapd_rate
    f0 = n if initial_free is None else initial_free
    if not 0 <= f0 <= n:
        raise ValueError("initial_free must be in 0..managed_pages")
    f = np.full(chains, f0, dtype=np.int64)
    awake = np.zeros(chains, dtype=bool)
    time = np.zeros(chains)
    below = np.zeros(chains)
    tot = ChainTotals()
    for step in range(burn_in_steps + steps):
        counting = step >= burn_in_steps
        total = lam + mu + gam + rho * awake
        dt = rng.exponential(1.0, chains) / total
        if counting:
            time += dt
            below += dt * (f <= c.wmark_min)
            tot.awake_time += float(dt[awake].sum())
        u = rng.random(chains) * total
        is_alloc = u < lam
        is_free = (u >= lam) & (u < lam + mu)
        is_gather = (u >= lam + mu) & (u < lam + mu + gam)
        is_reclaim = u >= lam + mu + gam
        wakes = (is_alloc | is_gather) & (f <= c.wmark_low) & ~awake
        awake |= wakes
        stall = is_alloc & (f <= c.wmark_min)
        if counting:
            tot.events += chains
            tot.allocations += int(is_alloc.sum())
            tot.frees += int(is_free.sum())
            tot.stalls += int(stall.sum())
            tot.gathers += int(is_gather.sum())
            tot.failed_gathers += int((is_gather & (f <= c.wmark_min)).sum())
            tot.kswapd_wakeups += int(wakes.sum())
            tot.reclaims += int(is_reclaim.sum())
        f = np.where(stall, np.minimum(n, f + c.direct_reclaim_batch) - 1, f)
        f = np.where(is_alloc & ~stall, f - 1, f)
        f = np.where(is_free, np.minimum(n, f + 1), f)
        f = np.where(is_reclaim, np.minimum(n, f + c.reclaim_batch), f)
        awake &= ~(is_reclaim & (f > c.wmark_high))
    tot.time = float(time.sum())
    tot.below_min_time = float(below.sum())
    return tot, below / np.where(time > 0, time, 1.0)
