"""The zone's path for the host study (``@njit``; ``docs/model.md`` §11.6).

One sequence of the zone pressure chain (the rules of
``mcstudy.mechanisms.zone_events``: allocations, frees, kswapd, GFP_ATOMIC, burst phases,
direct-reclaim stalls) on the levels of a fine band (``docs/model.md`` §4.14), over
``[0, horizon)``, started from the chain's exact stationary law, and the times at which
it crosses the marks that decide allocation failures:

* bit 0: free pages at or below ``wmark_min`` (a GFP_NOWAIT allocation fails);
* bit 1: at or below the GFP_ATOMIC mark (a GFP_ATOMIC allocation fails);
* bit 2: kswapd awake (reclaim running).

The path is the chain's jump chain (``zone_jump.jump_run``): one exponential holding
time per change of state, null events (an allocation that stays on its coarse level)
left out, so the switch times are exact and cost one jump each.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mcstudy.engine.sampling import uniform
from mcstudy.models.host.zone_jump import (
    CODE_AWAKE,
    CODE_BELOW_ATOMIC,
    CODE_BELOW_MIN,
    jump_run,
    state_code,
)

__all__ = ["CODE_AWAKE", "CODE_BELOW_ATOMIC", "CODE_BELOW_MIN", "bit_path", "zone_path"]


@njit(cache=True)
def stationary_state(st, cdf, nf, phases):
    """(phase, kswapd, level, stalled-task configuration) drawn from the stationary
    law (``cdf`` over the states in the order configuration, phase, kswapd, level;
    ``phases`` burst phases, 1 or 2; configuration 0 without timed stalls)."""
    u = uniform(st)
    i = np.searchsorted(cdf, u, side="right")
    if i >= cdf.shape[0]:
        i = cdf.shape[0] - 1
    while i > 0 and cdf[i] == cdf[i - 1]:  # a state of probability 0 (rounding at the top)
        i -= 1
    block = i // (2 * nf)
    k = (i // nf) % 2
    return block % phases, k, i % nf, block // phases


@njit(cache=True)
def zone_path(ev_st, start_st, cdf, nf, pos, P, amark, horizon, jump, stall, cnt, buf):
    """One stationary path of the zone over ``[0, horizon)`` (``zone_jump.jump_run``).

    ``cdf``: the exact stationary law over the states, cumulative; ``nf`` levels whose
    free pages are ``pos`` (``zone_grid.levels``); ``jump``: ``zone_jump.jump_rates``;
    ``stall``: ``zone_events.stall_arrays`` of the chain. ``buf`` = (codes, times) work
    arrays (they grow; returned). Returns (buf, initial code, switches, jumps, time
    fraction below min, below the atomic mark, awake).
    """
    codes, times = buf
    bu, kw, lv, cfg = stationary_state(start_st, cdf, nf, stall[5])
    f = pos[lv]
    code0 = state_code(f, kw, P.wmark_min, amark)
    codes, times, n_sw, jumps, below, below_a, awake = jump_run(
        ev_st, f, kw, bu, cfg, P, amark, horizon, jump, stall, cnt, codes, times
    )
    return (codes, times), code0, n_sw, jumps, below, below_a, awake


@njit(cache=True)
def bit_path(code0, codes, times, n_sw, bit, out):
    """The flips of one bit of the code: (initial state, switch times, count) in the form
    ``mcstudy.mechanisms.rt_ipi`` takes a pressure path."""
    if out.shape[0] < n_sw + 1:
        out = np.empty(n_sw + 1, dtype=np.float64)
    e0 = 1 if code0 & bit else 0
    e = e0
    m = 0
    for a in range(n_sw):
        e_new = 1 if codes[a] & bit else 0
        if e_new != e:
            out[m] = times[a]
            m += 1
            e = e_new
    return e0, out, m
