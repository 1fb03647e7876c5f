"""The zone's path for the host study (``@njit``; ``docs/model.md`` §11.6).

One sequence of the zone pressure chain (the rules of
``mcstudy.mechanisms.zone_events``: allocations, frees, kswapd, GFP_ATOMIC, burst phases)
over ``[0, horizon)``, started from the chain's exact stationary law, and the times at
which it crosses the marks that decide allocation failures:

* bit 0: free pages at or below ``wmark_min`` (a GFP_NOWAIT allocation fails);
* bit 1: at or below the GFP_ATOMIC mark (a GFP_ATOMIC allocation fails);
* bit 2: kswapd awake (reclaim running).

The chain is uniformised: ``n ~ Poisson(Lambda horizon)`` events, whose epochs are then
``n`` uniform order statistics on the horizon. Only the epochs at which the state code
changes are needed; with ``S_j`` the sum of ``j`` standard exponentials, the epochs are
distributed as ``horizon S_j / S_{n+1}``, so one Gamma variate per switch (and one at the
end) gives the exact switch times, without a draw per event. Far from the marks, runs of
events are drawn at once as in the pressure model (``agg_regime``); their inner states
cannot change the code.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcstudy.engine.buffers import push
from mcstudy.engine.sampling import poisson, standard_normal, uniform, uniform_open0
from mcstudy.mechanisms.zone_events import (
    C_AFAIL,
    C_STALL,
    C_WAKE,
    GUIDE_AMBIGUOUS,
    agg_regime,
    choose_event,
    choose_exact,
    zone_event,
    zone_event_timed,
)

CODE_BELOW_MIN = 1
CODE_BELOW_ATOMIC = 2
CODE_AWAKE = 4


@njit(cache=True)
def gamma_int(st, k):
    """Sum of ``k`` standard exponentials (Gamma(k, 1)), exactly in law.

    Small ``k``: minus the log of a product of ``k`` uniforms in (0, 1]. Large ``k``:
    Marsaglia and Tsang's rejection method (2000) with its squeeze. The draws are
    called samplers, not inlined ones (each inlined draw site costs compile time).
    """
    if k <= 0:
        return 0.0
    if k < 12:
        prod = 1.0
        for _ in range(k):
            prod *= uniform_open0(st)
        return -math.log(prod)
    d = k - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = standard_normal(st)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = uniform_open0(st)
        x2 = x * x
        if u < 1.0 - 0.0331 * x2 * x2:
            return d * v
        if math.log(u) < 0.5 * x2 + d * (1.0 - v + math.log(v)):
            return d * v


@njit(cache=True)
def stationary_state(st, cdf, nf, phases):
    """(phase, kswapd, free pages, stalled-task configuration) drawn from the stationary
    law (``cdf`` over the states in the order configuration, phase, kswapd, free pages;
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
def state_code(f, kw, mn, amark):
    """Bits of the state that the allocations see (``CODE_*``)."""
    code = 0
    if f <= mn:
        code |= CODE_BELOW_MIN
    if f <= amark:
        code |= CODE_BELOW_ATOMIC
    if kw != 0:
        code |= CODE_AWAKE
    return code


@njit(cache=True)
def zone_run(st, n, f, kw, bu, P, amark, tables, cnt, idx, codes):
    """``n`` uniformised steps from (f, kw, bu); the epochs (1-based event indices) at
    which the state code changes go to ``idx``/``codes``.

    Returns (idx, codes, n_switches, visits below min, below the atomic mark, awake).
    The visit counts are over the states Y_0 .. Y_n (Rao-Blackwellised time fractions,
    ``docs/model.md`` §4.6); ``cnt`` receives stalls, wake-ups and GFP_ATOMIC failures.
    """
    guide, ev_n, ev_type, thr_hi, thr_lo, thr_always, agg = tables
    agg_on, aguide, an, atype, ahi, alo, aalw, adf, _ag, asteps = agg
    mn = P.wmark_min
    code = state_code(f, kw, mn, amark)
    n_sw = np.int64(0)
    below = 0
    below_a = 0
    awake = 0
    stalls = 0
    wakes = 0
    afails = 0
    i = 0
    while True:
        below += code & CODE_BELOW_MIN
        below_a += (code & CODE_BELOW_ATOMIC) >> 1
        awake += kw
        if i == n:
            break
        ra = agg_regime(agg_on, n - i, f, kw, bu, 0, 0, P)
        if ra >= 0:
            k, u = choose_event(st, ra, aguide)
            if k == GUIDE_AMBIGUOUS:
                k = choose_exact(st, u, ra, an, atype, ahi, alo, aalw)
            f += adf[ra, k]
            awake += (asteps[ra] - 1) * kw
            i += asteps[ra]
        else:
            r = kw + 2 * bu
            ev, u = choose_event(st, r, guide)
            if ev == GUIDE_AMBIGUOUS:
                ev = choose_exact(st, u, r, ev_n, ev_type, thr_hi, thr_lo, thr_always)
            f, kw, bu, _b, _h, s_, w_, _g, _fb, a_ = zone_event(ev, f, kw, bu, 0, 0, P)
            stalls += s_
            wakes += w_
            afails += a_
            i += 1
        new = state_code(f, kw, mn, amark)
        if new != code:
            idx, _ = push(idx, n_sw, i)
            codes, n_sw = push(codes, n_sw, new)
            code = new
    cnt[C_STALL] += stalls
    cnt[C_WAKE] += wakes
    cnt[C_AFAIL] += afails
    return idx, codes, n_sw, below, below_a, awake


@njit(cache=True)
def zone_run_timed(st, n, f, kw, bu, cfg, P, amark, tables, stall, cnt, idx, codes):
    """``zone_run`` of a chain whose direct-reclaim stalls take time (``docs/model.md``
    §4.13: regime kw + 2 burst + 4 configuration, no aggregated steps); ``stall`` is
    ``zone_events.stall_arrays`` of the chain."""
    guide, ev_n, ev_type, thr_hi, thr_lo, thr_always, _agg = tables
    _t, s_start, s_adv, s_end, s_restart, _ph = stall
    mn = P.wmark_min
    code = state_code(f, kw, mn, amark)
    n_sw = np.int64(0)
    below = 0
    below_a = 0
    awake = 0
    stalls = 0
    wakes = 0
    afails = 0
    i = 0
    while True:
        below += code & CODE_BELOW_MIN
        below_a += (code & CODE_BELOW_ATOMIC) >> 1
        awake += kw
        if i == n:
            break
        r = kw + 2 * bu + 4 * cfg
        ev, u = choose_event(st, r, guide)
        if ev == GUIDE_AMBIGUOUS:
            ev = choose_exact(st, u, r, ev_n, ev_type, thr_hi, thr_lo, thr_always)
        f, kw, bu, _b, _h, cfg, s_, w_, _g, _fb, a_ = zone_event_timed(
            ev, f, kw, bu, 0, 0, cfg, P, s_start, s_adv, s_end, s_restart
        )
        stalls += s_
        wakes += w_
        afails += a_
        i += 1
        new = state_code(f, kw, mn, amark)
        if new != code:
            idx, _ = push(idx, n_sw, i)
            codes, n_sw = push(codes, n_sw, new)
            code = new
    cnt[C_STALL] += stalls
    cnt[C_WAKE] += wakes
    cnt[C_AFAIL] += afails
    return idx, codes, n_sw, below, below_a, awake


@njit(cache=True)
def switch_times(st, idx, n_sw, n, horizon, times):
    """Times of the switches at epochs ``idx[:n_sw]`` among ``n`` uniform order statistics
    on ``[0, horizon)``: ``horizon S_j / S_{n+1}`` with ``S`` partial sums of standard
    exponentials (one Gamma variate per switch)."""
    if times.shape[0] < n_sw:
        times = np.empty(idx.shape[0], dtype=np.float64)
    s = 0.0
    prev = 0
    for a in range(n_sw):
        s += gamma_int(st, idx[a] - prev)
        prev = idx[a]
        times[a] = s
    total = s + gamma_int(st, n + 1 - prev)
    for a in range(n_sw):
        times[a] = horizon * (times[a] / total)
    return times


@njit(cache=True)
def zone_path(ev_st, cnt_st, time_st, n_mean, cdf, nf, P, amark, horizon, tables, stall, cnt, buf):
    """One stationary path of the zone over ``[0, horizon)``.

    ``stall``: ``zone_events.stall_arrays`` of the chain (its first entry 1 when
    direct-reclaim stalls take time). ``buf`` = (idx, codes, times) work arrays (they
    grow; returned). Returns (buf, initial code, switches, events, visits below min,
    below atomic, awake).
    """
    idx, codes, times = buf
    bu, kw, f, cfg = stationary_state(cnt_st, cdf, nf, stall[5])
    n = poisson(cnt_st, n_mean)
    code0 = state_code(f, kw, P.wmark_min, amark)
    if stall[0] != 0:
        idx, codes, n_sw, below, below_a, awake = zone_run_timed(
            ev_st, n, f, kw, bu, cfg, P, amark, tables, stall, cnt, idx, codes
        )
    else:
        idx, codes, n_sw, below, below_a, awake = zone_run(
            ev_st, n, f, kw, bu, P, amark, tables, cnt, idx, codes
        )
    times = switch_times(time_st, idx, n_sw, n, horizon, times)
    return (idx, codes, times), code0, n_sw, n, below, below_a, awake


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
