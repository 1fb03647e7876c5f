"""Block kernels of the pressure model (``docs/model.md`` §4.6, §4.9): ``@njit`` code only.

* plain trajectories (``simulate_pressure_blocks``): per sequence an initial state drawn
  from the exact stationary law (or a fixed one), a Poisson number of warm-up events,
  then a Poisson number of counted events of the uniformised chain
  (``mcstudy.mechanisms.zone_events``) in two halves, tallying counts, Rao-Blackwellised
  time fractions, the products the ratio estimator needs and, per trajectory, the change
  of the time fractions from the first half to the second (the transient check);
* regenerative importance sampling (``simulate_importance_blocks``): per sequence one
  tilted cycle from the regeneration state and ``plain_cycles`` ordinary cycles.

Both write the columns of ``TALLIES``, the one layout the estimators read by name.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mcstudy.engine.rng import next_double, stream_new
from mcstudy.engine.sampling import poisson
from mcstudy.engine.tallies import TallyLayout
from mcstudy.mechanisms.zone_events import (
    C_AFAIL,
    C_FALLBACK,
    C_GATHER,
    C_GFAIL,
    C_STALL,
    C_WAKE,
    N_COUNTERS,
    draw_event,
    observe_events,
    observe_events_timed,
    run_events,
    run_events_timed,
    zone_event,
)

SUBSTREAM_EVENTS = 1
SUBSTREAM_COUNTS = 2
SUBSTREAM_INIT = 3
SUBSTREAM_PILOT = 4
SUBSTREAM_IS = 5
SUBSTREAM_PLAIN = 6
MAX_CYCLE_STEPS = 1 << 40
"""A regeneration cycle longer than this is abandoned (the estimator reports it)."""

TALLIES = TallyLayout(
    ints=(
        "sequences",
        "events",
        "stalls",
        "wakeups",
        "gathers",
        "failing_gathers",
        "fallbacks",
        "atomic_fails",
        # importance sampling
        "plain_cycles",
        "plain_cycle_steps",
        "plain_awake_steps",
        "plain_wakeups",
        "is_cycles_hit",
    ),
    floats=(
        "below_frac",
        "below_frac_sq",
        "awake_frac",
        "awake_frac_sq",
        "stalls_sq",
        "wakeups_sq",
        "gathers_sq",
        "failing_sq",
        "failing_x_gathers",
        "fallbacks_sq",
        "atomic_fails_sq",
        "held_mean",
        "held_mean_sq",
        # second minus first half of the counted window, per trajectory (transient check)
        "below_frac_drift",
        "below_frac_drift_sq",
        "awake_frac_drift",
        "awake_frac_drift_sq",
        # importance sampling
        "is_below",
        "is_below_sq",
        "is_stalls",
        "is_stalls_sq",
        "is_fallbacks",
        "is_fallbacks_sq",
        "is_afails",
        "is_afails_sq",
        "plain_cycle_steps_sq",
        "plain_awake_sq",
        "plain_awake_x_steps",
        "plain_wakeups_sq",
        "plain_wakeups_x_steps",
    ),
)
N_INT, N_FLOAT = TALLIES.n_int, TALLIES.n_float
_i, _f = TALLIES.int_col, TALLIES.float_col
I_SEQ, I_EVENTS, I_STALLS, I_WAKE = _i("sequences"), _i("events"), _i("stalls"), _i("wakeups")
I_GATH, I_GFAIL, I_FB = _i("gathers"), _i("failing_gathers"), _i("fallbacks")
I_AFAIL = _i("atomic_fails")
I_PLAIN_CYCLES, I_PLAIN_STEPS = _i("plain_cycles"), _i("plain_cycle_steps")
I_PLAIN_AWAKE, I_PLAIN_WAKE = _i("plain_awake_steps"), _i("plain_wakeups")
I_IS_HIT = _i("is_cycles_hit")
F_BELOW, F_BELOW2, F_AWAKE, F_AWAKE2 = (
    _f("below_frac"),
    _f("below_frac_sq"),
    _f("awake_frac"),
    _f("awake_frac_sq"),
)
F_STALL2, F_WAKE2, F_GATH2 = _f("stalls_sq"), _f("wakeups_sq"), _f("gathers_sq")
F_GFAIL2, F_GFAILXG = _f("failing_sq"), _f("failing_x_gathers")
F_FB2, F_AFAIL2 = _f("fallbacks_sq"), _f("atomic_fails_sq")
F_HELD, F_HELD2 = _f("held_mean"), _f("held_mean_sq")
F_BELOW_DRIFT, F_BELOW_DRIFT2 = _f("below_frac_drift"), _f("below_frac_drift_sq")
F_AWAKE_DRIFT, F_AWAKE_DRIFT2 = _f("awake_frac_drift"), _f("awake_frac_drift_sq")
F_IS_BELOW, F_IS_BELOW2 = _f("is_below"), _f("is_below_sq")
F_IS_STALLS, F_IS_STALLS2 = _f("is_stalls"), _f("is_stalls_sq")
F_IS_FB, F_IS_FB2 = _f("is_fallbacks"), _f("is_fallbacks_sq")
F_IS_AFAIL, F_IS_AFAIL2 = _f("is_afails"), _f("is_afails_sq")
F_PLAIN_STEPS2 = _f("plain_cycle_steps_sq")
F_PLAIN_AWAKE2, F_PLAIN_AWAKE_X = _f("plain_awake_sq"), _f("plain_awake_x_steps")
F_PLAIN_WAKE2, F_PLAIN_WAKE_X = _f("plain_wakeups_sq"), _f("plain_wakeups_x_steps")


# --------------------------------------------------------------------------- plain trajectories


@njit(cache=True)
def initial_state(init_st, init_cdf, n_levels, f0, phases):
    """(f, kswapd, burst, stalled-task configuration) at the start of a sequence: drawn
    from the stationary law when ``init_cdf`` (cumulative pi[cfg x phases + b, k, f] in C
    order, ``n_levels`` values of f) is given, else (f0, asleep, calm, none stalled)."""
    if init_cdf.shape[0] == 0:
        return f0, 0, 0, 0
    idx = np.searchsorted(init_cdf, next_double(init_st), side="right")
    idx = min(idx, init_cdf.shape[0] - 1)
    f = idx % n_levels
    rest = idx // n_levels
    return f, rest % 2, (rest // 2) % phases, rest // (2 * phases)


@njit(cache=True)
def _pressure_block(
    k0,
    k1,
    block,
    n_seq,
    ip,
    n_warm_mean,
    n_hor_mean,
    init_cdf,
    init_levels,
    tables,
    agg,
    stall,
    out_i,
    out_f,
):
    ev_st = stream_new(k0, k1, block, SUBSTREAM_EVENTS)
    cnt_st = stream_new(k0, k1, block, SUBSTREAM_COUNTS)
    init_st = stream_new(k0, k1, block, SUBSTREAM_INIT)
    cnt = np.zeros(N_COUNTERS, dtype=np.int64)
    events = 0
    timed = stall[0] != 0
    for _ in range(n_seq):
        f, kw, bu, cfg = initial_state(init_st, init_cdf, init_levels, ip.initial_free, stall[5])
        bst = 0
        held = 0
        n_warm = poisson(cnt_st, n_warm_mean)
        n_hor = poisson(cnt_st, n_hor_mean)
        if timed:
            f, kw, bu, bst, held, cfg = run_events_timed(
                ev_st, n_warm, f, kw, bu, bst, held, cfg, ip, tables, stall
            )
        else:
            f, kw, bu, bst, held = run_events(
                ev_st, n_warm, f, kw, bu, bst, held, ip, tables, agg
            )  # fmt: skip
        cnt[:] = 0
        # the counted horizon in two halves (by events): Y_0 .. Y_n1, then Y_n1 .. Y_n
        n1 = n_hor // 2
        if timed:
            f, kw, bu, bst, held, cfg, below1, awake1, held1 = observe_events_timed(
                ev_st, n1, f, kw, bu, bst, held, cfg, ip, tables, stall, cnt
            )
        else:
            f, kw, bu, bst, held, below1, awake1, held1 = observe_events(
                ev_st, n1, f, kw, bu, bst, held, ip, tables, agg, cnt
            )  # fmt: skip
        dup_below = 1 if f <= ip.wmark_min + bst else 0
        dup_awake = kw
        dup_held = held
        if timed:
            f, kw, bu, bst, held, cfg, below2, awake2, held2 = observe_events_timed(
                ev_st, n_hor - n1, f, kw, bu, bst, held, cfg, ip, tables, stall, cnt
            )
        else:
            f, kw, bu, bst, held, below2, awake2, held2 = observe_events(
                ev_st, n_hor - n1, f, kw, bu, bst, held, ip, tables, agg, cnt
            )  # fmt: skip
        below = below1 + below2 - dup_below
        awake = awake1 + awake2 - dup_awake
        held_sum = held1 + held2 - dup_held
        events += n_warm + n_hor
        visits = float(n_hor + 1)
        fb = float(below) / visits
        fa = float(awake) / visits
        hm = float(held_sum) / visits
        if n_hor - n1 > 0:
            db = float(below2 - dup_below) / float(n_hor - n1) - float(below1) / float(n1 + 1)
            da = float(awake2 - dup_awake) / float(n_hor - n1) - float(awake1) / float(n1 + 1)
        else:
            db = 0.0
            da = 0.0
        out_i[I_STALLS] += cnt[C_STALL]
        out_i[I_WAKE] += cnt[C_WAKE]
        out_i[I_GATH] += cnt[C_GATHER]
        out_i[I_GFAIL] += cnt[C_GFAIL]
        out_i[I_FB] += cnt[C_FALLBACK]
        out_i[I_AFAIL] += cnt[C_AFAIL]
        out_f[F_BELOW] += fb
        out_f[F_BELOW2] += fb * fb
        out_f[F_AWAKE] += fa
        out_f[F_AWAKE2] += fa * fa
        out_f[F_STALL2] += float(cnt[C_STALL]) ** 2
        out_f[F_WAKE2] += float(cnt[C_WAKE]) ** 2
        out_f[F_GATH2] += float(cnt[C_GATHER]) ** 2
        out_f[F_GFAIL2] += float(cnt[C_GFAIL]) ** 2
        out_f[F_GFAILXG] += float(cnt[C_GFAIL]) * float(cnt[C_GATHER])
        out_f[F_FB2] += float(cnt[C_FALLBACK]) ** 2
        out_f[F_AFAIL2] += float(cnt[C_AFAIL]) ** 2
        out_f[F_HELD] += hm
        out_f[F_HELD2] += hm * hm
        out_f[F_BELOW_DRIFT] += db
        out_f[F_BELOW_DRIFT2] += db * db
        out_f[F_AWAKE_DRIFT] += da
        out_f[F_AWAKE_DRIFT2] += da * da
    out_i[I_SEQ] = n_seq
    out_i[I_EVENTS] = events


@njit(cache=True, parallel=True)
def simulate_pressure_blocks(
    k0,
    k1,
    first_block,
    n_blocks,
    block_size,
    sequences,
    ip,
    n_warm_mean,
    n_hor_mean,
    init_cdf,
    init_levels,
    tables,
    agg,
    stall,
):
    """Per-block tallies (``TALLIES``) of plain trajectories; ``init_cdf`` is the
    cumulative stationary law over ``init_levels`` free-page levels (empty: fixed start);
    ``stall``: ``zone_events.stall_arrays`` of the zone."""
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        _pressure_block(
            k0, k1, block, n_seq, ip, n_warm_mean, n_hor_mean, init_cdf, init_levels, tables,
            agg, stall, out_i[b], out_f[b],
        )  # fmt: skip
    return out_i, out_f


# --------------------------------------------------------------------------- importance cycles


@njit(cache=True)
def pilot_states(k0, k1, n_warm_mean, n_steps, P, tables, agg):
    """Encoded states of ``n_steps`` steps after the warm-up (choice of s*)."""
    st = stream_new(k0, k1, 0, SUBSTREAM_PILOT)
    n_warm = poisson(st, n_warm_mean)
    f, kw, bu, bst, held = run_events(
        st,
        n_warm,
        P.initial_free,
        0,
        0,
        0,
        0,
        P,
        tables,
        agg,
    )
    keys = np.empty(n_steps, dtype=np.int64)
    nf = P.managed_pages + 1
    nb = P.max_boost + 1
    for i in range(n_steps):
        keys[i] = f + nf * (kw + 2 * (bu + 2 * (bst + nb * held)))
        ev = draw_event(st, kw + 2 * bu, tables)
        f, kw, bu, bst, held, _s, _w, _g, _fb, _a = zone_event(ev, f, kw, bu, bst, held, P)
    return keys


@njit(cache=True)
def _plain_cycle(st, s0, P, tables):
    """One regeneration cycle from s0 back to s0: (steps, awake steps, wake-ups, ok)."""
    f0, kw0, bu0, bst0, held0 = s0
    f, kw, bu, bst, held = s0
    steps = 0
    awake = 0
    wakes = 0
    while True:
        awake += kw
        ev = draw_event(st, kw + 2 * bu, tables)
        f, kw, bu, bst, held, _s, w_, _g, _fb, _a = zone_event(ev, f, kw, bu, bst, held, P)
        wakes += w_
        steps += 1
        if f == f0 and kw == kw0 and bu == bu0 and bst == bst0 and held == held0:
            return steps, awake, wakes, True
        if steps >= MAX_CYCLE_STEPS:
            return steps, awake, wakes, False


@njit(cache=True)
def _is_cycle(
    st,
    s0,
    P,
    tables,
    ttables,
    ratio,
):
    """One importance cycle: tilted until free <= min, then ordinary.

    Returns (L, steps below min, stalls, fallbacks, GFP_ATOMIC failures, steps, hit, ok).
    All the counted events need free <= min, so they all happen after the switch, when
    L no longer changes: each is weighted by the same L.
    """
    f0, kw0, bu0, bst0, held0 = s0
    f, kw, bu, bst, held = s0
    lr = 1.0
    tilted = True
    below = 0
    stalls = 0
    fbs = 0
    afails = 0
    steps = 0
    while True:
        if f <= P.wmark_min + bst:
            tilted = False
            below += 1
        r = kw + 2 * bu
        if tilted:
            ev = draw_event(st, r, ttables)
            lr *= ratio[r, ev]
        else:
            ev = draw_event(st, r, tables)
        f, kw, bu, bst, held, s_, _w, _g, fb_, a_ = zone_event(ev, f, kw, bu, bst, held, P)
        stalls += s_
        fbs += fb_
        afails += a_
        steps += 1
        if f == f0 and kw == kw0 and bu == bu0 and bst == bst0 and held == held0:
            return lr, below, stalls, fbs, afails, steps, not tilted, True
        if steps >= MAX_CYCLE_STEPS:
            return lr, below, stalls, fbs, afails, steps, not tilted, False


@njit(cache=True)
def _importance_block(
    k0,
    k1,
    block,
    n_seq,
    n_plain,
    s0,
    ip,
    tables,
    ttables,
    ratio,
    out_i,
    out_f,
):
    is_st = stream_new(k0, k1, block, SUBSTREAM_IS)
    pl_st = stream_new(k0, k1, block, SUBSTREAM_PLAIN)
    ok_all = True
    for _ in range(n_seq):
        lr, below, stalls, fbs, afails, steps, hit, ok = _is_cycle(
            is_st,
            s0,
            ip,
            tables,
            ttables,
            ratio,
        )
        ok_all = ok_all and ok
        out_i[I_EVENTS] += steps
        if hit:
            out_i[I_IS_HIT] += 1
        y = lr * below
        out_f[F_IS_BELOW] += y
        out_f[F_IS_BELOW2] += y * y
        y = lr * stalls
        out_f[F_IS_STALLS] += y
        out_f[F_IS_STALLS2] += y * y
        y = lr * fbs
        out_f[F_IS_FB] += y
        out_f[F_IS_FB2] += y * y
        y = lr * afails
        out_f[F_IS_AFAIL] += y
        out_f[F_IS_AFAIL2] += y * y
        for _c in range(n_plain):
            c, a, w, ok = _plain_cycle(pl_st, s0, ip, tables)
            ok_all = ok_all and ok
            out_i[I_EVENTS] += c
            out_i[I_PLAIN_CYCLES] += 1
            out_i[I_PLAIN_STEPS] += c
            out_i[I_PLAIN_AWAKE] += a
            out_i[I_PLAIN_WAKE] += w
            out_f[F_PLAIN_STEPS2] += float(c) * float(c)
            out_f[F_PLAIN_AWAKE2] += float(a) * float(a)
            out_f[F_PLAIN_AWAKE_X] += float(a) * float(c)
            out_f[F_PLAIN_WAKE2] += float(w) * float(w)
            out_f[F_PLAIN_WAKE_X] += float(w) * float(c)
    out_i[I_SEQ] = n_seq
    return ok_all


@njit(cache=True, parallel=True)
def simulate_importance_blocks(
    k0,
    k1,
    first_block,
    n_blocks,
    block_size,
    sequences,
    n_plain,
    s0,
    ip,
    tables,
    ttables,
    ratio,
):
    """Per-block tallies (``TALLIES``) of importance + plain regeneration cycles, and
    whether every cycle returned within ``MAX_CYCLE_STEPS``."""
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    oks = np.zeros(n_blocks, dtype=np.bool_)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        oks[b] = _importance_block(
            k0,
            k1,
            block,
            n_seq,
            n_plain,
            s0,
            ip,
            tables,
            ttables,
            ratio,
            out_i[b],
            out_f[b],
        )
    return out_i, out_f, oks
