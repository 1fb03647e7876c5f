"""The zone's path for the host study as a jump chain (``@njit``; ``docs/model.md`` §11.6).

The zone is the real zone on the levels of a fine band (``docs/model.md`` §4.14,
``zone_grid.levels``: single pages from just below min up to min + W, ``coarse_pages``
pages elsewhere; every page a level when ``coarse_pages`` is 1). Its events keep their
real rates; their rules are ``zone_events.zone_event`` (instantaneous stalls) and
``zone_event_timed`` (stalls that take time, §4.13), applied to the level's position,
and a real target ``x`` between two levels goes to the upper one with probability
``(x - below) / (above - below)``, else to the lower one (the exact solver's
``zone_grid.bracket``).

Uniformised at the real rates, a host-hour of the ``bursts`` load would cost about 1e9
events, nearly all of them allocations or frees that stay on their coarse level. The
chain is therefore simulated by its jump chain (Gillespie): in each state every event
type's outcome is computed (its real target, its two levels and their probabilities),
the outcomes that leave the state exactly as it is (same level, kswapd, phase and
stalled tasks, nothing counted) are left out, and the state is held for an exponential
time of the remaining total rate. Off the band an allocation then moves one level at
``lambda / s``; in the band the real rates apply. The cost is one jump per change of
state, the law is the CTMC's exactly, the switch times of the state code are the jump
times, and the time fractions are time integrals.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit

from mcstudy.engine.buffers import push
from mcstudy.engine.sampling import standard_normal, uniform, uniform_open0
from mcstudy.mechanisms.zone_events import (
    C_AFAIL,
    C_STALL,
    C_WAKE,
    EV_ALLOC,
    EV_ATOMIC,
    EV_FREE,
    EV_KSWAPD,
    GUIDE_AMBIGUOUS,
    N_EVENT_TYPES,
    choose_event,
    choose_exact,
    zone_event,
    zone_event_timed,
)
from mcstudy.mechanisms.zone_tables import TWO64, build_tables, regime_rates

CODE_BELOW_MIN = 1
CODE_BELOW_ATOMIC = 2
CODE_AWAKE = 4


AGG_MOVES = 8
"""Moves drawn at once in the steady band, far from its edges (``jump_run``)."""


def _move_law(rr, chain, m: int) -> dict[int, Fraction]:
    """Law of the net change of free pages over ``m`` moves of one regime (rates ``rr``):
    allocations, frees, kswapd batches and GFP_ATOMIC allocations, each with its fixed
    step, in proportion to their rates."""
    step = {
        EV_ALLOC: -chain.alloc_batch_pages,
        EV_FREE: 1,
        EV_KSWAPD: chain.reclaim_batch,
        EV_ATOMIC: -1,
    }
    total = sum(Fraction(rr[e]) for e in step)
    law: dict[int, Fraction] = {0: Fraction(1)}
    if total == 0:
        return law
    one: dict[int, Fraction] = {}
    for e, d in step.items():  # an allocation and a GFP_ATOMIC one both take a page
        if rr[e] > 0:
            one[d] = one.get(d, Fraction(0)) + Fraction(rr[e]) / total
    for _ in range(m):
        nxt: dict[int, Fraction] = {}
        for d0, p0 in law.items():
            for d1, p1 in one.items():
                nxt[d0 + d1] = nxt.get(d0 + d1, Fraction(0)) + p0 * p1
        law = nxt
    return law


def move_tables(chain) -> tuple[np.ndarray, ...]:
    """Per regime, the net change of 1 and of ``AGG_MOVES`` moves (``_move_law``) as exact
    64-bit thresholds with guide tables over the index of the change in ``deltas``:
    (deltas, guide_1, n_1, type_1, hi_1, lo_1, always_1, guide_m, n_m, ...), and each
    regime's move share ``q_move / q`` (float64, for the count of moves before the next
    other event)."""
    rates = regime_rates(chain)
    laws1 = [_move_law(rr, chain, 1) for rr in rates]
    lawsm = [_move_law(rr, chain, AGG_MOVES) for rr in rates]
    deltas = sorted({d for law in laws1 + lawsm for d in law})
    if len(deltas) > 127:  # the guide tables hold int8 indices
        raise ValueError("too many distinct page changes for the move tables")
    index = {d: i for i, d in enumerate(deltas)}
    out = [np.array(deltas, dtype=np.int64)]
    for laws in (laws1, lawsm):
        masses = []
        for law in laws:
            cum, prev, m = Fraction(0), 0, [0] * len(deltas)
            for d in deltas:
                cum += law.get(d, Fraction(0))
                c = math.floor(cum * TWO64)
                m[index[d]] = c - prev
                prev = c
            masses.append(m)
        t = build_tables(masses, 0.0)
        out += [t.guide, t.ev_n, t.ev_type, t.thr_hi, t.thr_lo, t.thr_always]
    share = np.zeros(len(rates))
    for r, rr in enumerate(rates):
        total = sum(Fraction(x) for x in rr)
        moves = sum(Fraction(rr[e]) for e in (EV_ALLOC, EV_FREE, EV_KSWAPD, EV_ATOMIC))
        share[r] = float(moves / total) if total > 0 else 0.0
    out.append(share)
    return tuple(out)


def jump_rates(chain) -> tuple[np.ndarray, ...]:
    """(ev_n, ev_type, rate, *``move_tables``) per regime ``kw + 2 burst + 4 cfg`` of the
    zone ``chain`` (``zone_tables.regime_rates``): the event types with a positive rate
    and their rates (events/s), in type order, then the move tables of the steady band."""
    rates = regime_rates(chain)
    n_reg = len(rates)
    ev_n = np.zeros(n_reg, dtype=np.int64)
    ev_type = np.zeros((n_reg, N_EVENT_TYPES), dtype=np.int64)
    rate = np.zeros((n_reg, N_EVENT_TYPES), dtype=np.float64)
    for r, rr in enumerate(rates):
        for ev, x in enumerate(rr):
            v = float(x)
            if v > 0.0:
                ev_type[r, ev_n[r]] = ev
                rate[r, ev_n[r]] = v
                ev_n[r] += 1
    return (ev_n, ev_type, rate, *move_tables(chain))


@njit(cache=True)
def gamma_int(st, k):
    """Sum of ``k`` standard exponentials (Gamma(k, 1)), exactly in law.

    Small ``k``: minus the log of a product of ``k`` uniforms in (0, 1]. Large ``k``:
    Marsaglia and Tsang's rejection method (2000) with its squeeze.
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


@njit(cache=True, inline="always")
def steady_band(f, kw, P):
    """In this state every allocation, free, kswapd batch and GFP_ATOMIC allocation moves
    the zone by its fixed step to another single-page level and changes nothing else:
    kswapd awake (no wake-up), f above min (no stall, no failure), f + R within the fine
    band, at most high (kswapd stays awake) and below the cap. The total rate is then
    the regime's, the same in every such state."""
    return (
        kw != 0
        and f > P.wmark_min
        and f - P.alloc_batch_pages >= P.band_lo
        and f + P.reclaim_batch <= P.band_hi
        and f + P.reclaim_batch <= P.wmark_high
        and f + P.reclaim_batch < P.managed_pages
    )


@njit(cache=True, inline="always")
def steady_steps(f, P):
    """Events after which a state of ``steady_band`` is surely still one: each moves
    down by at most ``max(alloc_batch_pages, 1)`` and up by at most
    ``max(reclaim_batch, 1)`` pages."""
    down = max(P.alloc_batch_pages, 1)
    up = max(P.reclaim_batch, 1)
    lo = min(f - P.wmark_min - 1, f - P.alloc_batch_pages - P.band_lo) // down
    top = min(P.band_hi, P.wmark_high, P.managed_pages - 1) - P.reclaim_batch
    return max(min(lo, (top - f) // up), 0)


@njit(cache=True, inline="always")
def neighbours(x, P):
    """The levels (below, above) around a real free-page count ``x`` (0..N); both ``x``
    when it is a level (``zone_grid.levels``, the grid of ``zone_events.snap_level``)."""
    s = P.coarse_pages
    if s == 1 or (x >= P.band_lo and x <= P.band_hi) or x >= P.managed_pages or x <= 0:
        return x, x
    if x > P.band_hi:
        off = (x - P.band_hi) % s
        if off == 0:
            return x, x
        below = x - off
        return below, min(below + s, P.managed_pages)
    off = (P.band_lo - x) % s
    if off == 0:
        return x, x
    above = x + off
    return max(above - s, 0), above


@njit(cache=True, inline="always")
def outcome(ev, f, kw, bu, cfg, P, stall):
    """Event ``ev`` applied to (f, kw, bu, cfg) by the zone's rules: (real target, kw, bu,
    cfg, stall, wake-up, GFP_ATOMIC failure)."""
    timed, s_start, s_adv, s_end, s_restart, _ph = stall
    if timed != 0:
        x, k2, b2, _bst, _held, c2, st_, w_, _g, _fb, a_ = zone_event_timed(
            ev, f, kw, bu, 0, 0, cfg, P, s_start, s_adv, s_end, s_restart
        )
        return x, k2, b2, c2, st_, w_, a_
    x, k2, b2, _bst, _held, st_, w_, _g, _fb, a_ = zone_event(ev, f, kw, bu, 0, 0, P)
    return x, k2, b2, cfg, st_, w_, a_


@njit(cache=True, inline="always")
def move_rate(r, x, k2, b2, c2, counted, f, kw, bu, cfg, P):
    """Rate ``r`` of an event times the probability that its outcome changes the state
    or counts something (the rest is a null event, left out of the jump chain)."""
    if counted != 0 or k2 != kw or b2 != bu or c2 != cfg:
        return r
    a, b = neighbours(x, P)
    if a == b:
        return r if x != f else 0.0
    w = (x - a) / (b - a)
    if f == a:
        return r * w
    if f == b:
        return r * (1.0 - w)
    return r


@njit(cache=True, inline="always")
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
def jump_run(st, f, kw, bu, cfg, P, amark, horizon, jump, stall, cnt, codes, times):
    """The jump chain from (f, kw, bu, cfg) over ``[0, horizon)``; the times at which the
    state code changes, and the new codes, go to ``times``/``codes``.

    ``jump``: ``jump_rates`` of the chain; ``stall``: ``zone_events.stall_arrays``.
    Returns (codes, times, switches, jumps, time fraction at or below min, at or below
    the atomic mark, kswapd awake); ``cnt`` receives stalls, wake-ups and GFP_ATOMIC
    failures.
    """
    ev_n, ev_type, rate, deltas = jump[:4]
    g1, n1, t1, hi1, lo1, al1 = jump[4:10]
    gm, nm, tm, him, lom, alm = jump[10:16]
    share = jump[16]
    mn = P.wmark_min
    code = state_code(f, kw, mn, amark)
    n_sw = np.int64(0)
    moves = np.zeros(N_EVENT_TYPES)  # move rate of each event type in this state
    jumps = 0
    t = 0.0
    below = 0.0
    below_a = 0.0
    awake = 0.0
    stalls = 0
    wakes = 0
    afails = 0
    while True:
        reg = kw + 2 * bu + 4 * cfg
        ne = ev_n[reg]
        if steady_band(f, kw, P):
            # a run of moves at one total rate q: its k holding times are i.i.d. Exp(q)
            # whatever the moves, so the run takes Gamma(k) / q (one draw per run); the
            # code cannot change before its last event
            q = 0.0
            for e in range(ne):
                q += rate[reg, e]
            # the moves before the next other event (phase, stall): geometric with the
            # regime's move share; moves are i.i.d. steps, drawn AGG_MOVES at a time
            # (their net change) while that many cannot leave the steady band
            sh = share[reg]
            if sh >= 1.0:
                left = np.int64(1) << np.int64(62)
            elif sh <= 0.0:
                left = np.int64(0)
            else:
                g = math.floor(math.log(uniform_open0(st)) / math.log(sh))
                left = np.int64(min(g, 4.0e18))
            k = 0
            ev = -1
            safe = steady_steps(f, P)
            while True:
                if left == 0:
                    # the other event: one of the regime's non-move types by its rate
                    target = uniform(st) * (q * (1.0 - sh))
                    acc = 0.0
                    for e in range(ne):
                        t_e = ev_type[reg, e]
                        if t_e == EV_ALLOC or t_e == EV_FREE or t_e == EV_KSWAPD:
                            continue
                        if t_e == EV_ATOMIC:
                            continue
                        ev = t_e
                        acc += rate[reg, e]
                        if target < acc:
                            break
                    k += 1
                    break
                if left >= AGG_MOVES and safe >= AGG_MOVES:
                    d, u = choose_event(st, reg, gm)
                    if d == GUIDE_AMBIGUOUS:
                        d = choose_exact(st, u, reg, nm, tm, him, lom, alm)
                    f += deltas[d]
                    k += AGG_MOVES
                    left -= AGG_MOVES
                    safe -= AGG_MOVES
                    continue
                d, u = choose_event(st, reg, g1)
                if d == GUIDE_AMBIGUOUS:
                    d = choose_exact(st, u, reg, n1, t1, hi1, lo1, al1)
                f += deltas[d]
                k += 1
                left -= 1
                if safe > 0:
                    safe -= 1
                    continue
                if not steady_band(f, kw, P):
                    ev = EV_ALLOC  # a move: nothing more to apply
                    break
                safe = steady_steps(f, P)
            dt = gamma_int(st, k) / q
            end = t + dt >= horizon
            held = horizon - t if end else dt
            awake += held  # kswapd is awake, f above min and the atomic mark
            if end:
                break
            t += dt
            jumps += k
            if ev != EV_ALLOC and ev != EV_FREE and ev != EV_KSWAPD and ev != EV_ATOMIC:
                x, k2, b2, c2, s_, w_, a_ = outcome(ev, f, kw, bu, cfg, P, stall)
                a, b = neighbours(x, P)
                f = x if a == b else (b if uniform(st) * (b - a) < x - a else a)
                kw, bu, cfg = k2, b2, c2
                stalls += s_
                wakes += w_
                afails += a_
            new = state_code(f, kw, mn, amark)
            if new != code:
                times, _ = push(times, n_sw, t)
                codes, n_sw = push(codes, n_sw, new)
                code = new
            continue
        tot = 0.0
        for e in range(ne):
            x, k2, b2, c2, s_, w_, a_ = outcome(ev_type[reg, e], f, kw, bu, cfg, P, stall)
            m = move_rate(rate[reg, e], x, k2, b2, c2, s_ + w_ + a_, f, kw, bu, cfg, P)
            moves[e] = m
            tot += m
        if tot > 0.0:
            dt = -math.log(uniform_open0(st)) / tot
        else:
            dt = math.inf
        end = t + dt >= horizon
        held = horizon - t if end else dt
        if code & CODE_BELOW_MIN:
            below += held
        if code & CODE_BELOW_ATOMIC:
            below_a += held
        if kw != 0:
            awake += held
        if end:
            break
        t += dt
        # the event: the first type whose cumulative move rate exceeds U x total
        target = uniform(st) * tot
        acc = 0.0
        chosen = -1
        for e in range(ne):
            m = moves[e]
            if m > 0.0:
                chosen = e
                acc += m
                if target < acc:
                    break
        x, k2, b2, c2, s_, w_, a_ = outcome(ev_type[reg, chosen], f, kw, bu, cfg, P, stall)
        a, b = neighbours(x, P)
        if a == b:
            f_new = x
        elif s_ + w_ + a_ == 0 and k2 == kw and b2 == bu and c2 == cfg and (f == a or f == b):
            f_new = b if f == a else a  # only the level changes: the other one
        else:
            f_new = b if uniform(st) * (b - a) < x - a else a
        f, kw, bu, cfg = f_new, k2, b2, c2
        stalls += s_
        wakes += w_
        afails += a_
        jumps += 1
        new = state_code(f, kw, mn, amark)
        if new != code:
            times, _ = push(times, n_sw, t)
            codes, n_sw = push(codes, n_sw, new)
            code = new
    cnt[C_STALL] += stalls
    cnt[C_WAKE] += wakes
    cnt[C_AFAIL] += afails
    return codes, times, n_sw, jumps, below / horizon, below_a / horizon, awake / horizon
