"""The zone pressure chain as ``@njit`` code (``docs/model.md`` §4.1, §4.4): one event, one
trajectory.

The chain is simulated by uniformisation: events arrive as a Poisson process of rate
Lambda (the largest total event rate over the four regimes kswapd asleep/awake x load
calm/burst), and each event is of type j with probability rate_j(regime) / Lambda, the
rest being a dummy event that changes nothing. One event costs one 32-bit word (a
second word only when it ties a threshold's high word, probability < 1e-8): the
thresholds are exact 64-bit fixed-point cumulative probabilities. Given the number n of
events in the counted horizon [0, T], the event epochs are uniform order statistics, so
every visited state Y_0 .. Y_n occupies T / (n + 1) of the horizon in expectation; the
time fractions below are these conditional expectations (Rao-Blackwellised), which
needs no exponential draw (no logarithm) per event.

Event rules (kernel functions they stand for):

* ALLOC (``__alloc_pages()``, ``alloc_batch_pages`` = kb pages): f <= low wakes kswapd
  (``wake_all_kswapds()``); f > min: f -= kb, else one direct-reclaim stall
  (``__alloc_pages_direct_reclaim()``, D pages) then f = min(cap, f + D) - kb.
* FREE (``free_unref_page()``): f = min(cap, f + 1).
* KSWAPD (``balance_pgdat()``, awake only): f = min(cap, f + R); if f > high kswapd
  sleeps and a watermark boost is cleared.
* GATHER (``tlb_remove_table()``): each batch-page attempt ``__get_free_page(GFP_NOWAIT
  | __GFP_NOWARN)`` wakes kswapd if f <= low and fails iff f <= min, sending the
  remaining tables to ``tlb_remove_table_one()``; with an RCU grace period each
  successful batch page is held (``tlb_remove_table_free()`` -> ``call_rcu()``).
* ATOMIC (GFP_ATOMIC): wakes kswapd if f <= low; takes a page iff f > 0.375 x min.
* With timed stalls (``stall_mean_s`` > 0, ``zone_event_timed``; docs/model.md §4.13)
  the state also holds the stalled-task configuration cfg (tasks per stall phase, the
  regime is then kw + 2 x burst + 4 x cfg): ALLOC (a running task) at f <= min stalls
  the task, f unchanged; STALL + j moves a task on from stall phase j + 1, and from the
  last phase its D pages land (f = min(cap, f + D)), kswapd wakes if f <= low, and the
  task retries: f > min takes kb pages, else it stalls again.
* PHASE: calm <-> burst load phase.  BOOST (``boost_watermark()``): boost += pageblock,
  capped, kswapd woken.  RCU_GP: a grace period ends, held batch pages are freed.

Here min, low, high include the boost, and cap = N - held pages.

With a fine band (``coarse_pages`` > 1, docs/model.md §4.14) f stays a real free-page
count on the band's levels: every event applies the rule above with real rates, then
``snap_level`` rounds a result between two levels to one of them, keeping its mean (one
more 32-bit word, drawn only when the result is not a level). The uniformisation rate is
then the real zone's.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from mcstudy.engine.rng import next_u32
from mcstudy.mechanisms.zone import MAX_STALL_PHASES, Zone, stall_moves
from mcstudy.mechanisms.zone_grid import band

EV_ALLOC, EV_FREE, EV_KSWAPD, EV_GATHER, EV_ATOMIC, EV_PHASE, EV_BOOST, EV_RCU_GP = range(8)
EV_STALL = 8
"""first of ``MAX_STALL_PHASES`` stall events: EV_STALL + j moves one stalled task on from
stall phase j + 1 (from the last phase: its stall ends, §4.13)"""
N_EVENT_TYPES = EV_STALL + MAX_STALL_PHASES  # real event types (EV_DUMMY excluded)
EV_DUMMY = N_EVENT_TYPES
_STALL_NAMES = tuple(f"stall_phase_{j + 1}" for j in range(MAX_STALL_PHASES))
EVENT_NAMES = (
    "alloc",
    "free",
    "kswapd",
    "gather",
    "atomic",
    "phase",
    "boost",
    "rcu_gp",
    *_STALL_NAMES,
)


class ZoneInts(NamedTuple):
    """The zone chain's integer parameters as its kernels take them (pages unless said;
    a named tuple: passed by value, with no reference counting in the event loop, and
    read by name)."""

    managed_pages: int
    wmark_min: int
    wmark_low: int
    wmark_high: int
    reclaim_batch: int
    """pages one kswapd batch reclaims"""
    direct_reclaim_batch: int
    """pages one direct-reclaim stall frees"""
    alloc_batch_pages: int
    """pages per blocking allocation"""
    tables_per_gather: int
    """page tables one gather frees"""
    max_table_batch: int
    """tables one batch page holds (``MAX_TABLE_BATCH``)"""
    rcu: int
    """1: batch pages are held for an RCU grace period; 0: freed at once"""
    boost_pages: int
    max_boost: int
    atomic_mark: int
    """GFP_ATOMIC order-0 mark"""
    initial_free: int
    """free pages at the start of a sequence that does not start stationary"""
    coarse_pages: int
    """pages per level outside the fine band (1: every page a level, no rounding)"""
    band_lo: int
    """lowest free-page count of the fine band (``zone_grid.band``)"""
    band_hi: int
    """highest free-page count of the fine band"""


def zone_ints(
    zone: Zone,
    atomic_mark: int,
    tables_per_gather: int = 1,
    max_table_batch: int = 1,
    initial_free: int | None = None,
) -> ZoneInts:
    """``zone`` (the one zone record) as the kernels take it: its pages and batches, the
    GFP_ATOMIC mark, a gather's tables and a batch page's capacity (for a chain whose
    gathers are zone events), and the start of a sequence that is not stationary
    (default: all pages free). The only place a ``ZoneInts`` is built."""
    lo, hi = band(zone)
    return ZoneInts(
        managed_pages=zone.managed_pages,
        wmark_min=zone.wmark_min,
        wmark_low=zone.wmark_low,
        wmark_high=zone.wmark_high,
        reclaim_batch=zone.reclaim_batch,
        direct_reclaim_batch=zone.direct_reclaim_batch,
        alloc_batch_pages=zone.alloc_batch_pages,
        tables_per_gather=tables_per_gather,
        max_table_batch=max_table_batch,
        rcu=int(zone.rcu_grace_period_s > 0.0),
        boost_pages=zone.boost_pages,
        max_boost=zone.max_boost,
        atomic_mark=atomic_mark,
        initial_free=zone.managed_pages if initial_free is None else initial_free,
        coarse_pages=zone.coarse_pages,
        band_lo=lo,
        band_hi=hi,
    )


# per-trajectory event counters
C_STALL, C_WAKE, C_GATHER, C_GFAIL, C_FALLBACK, C_AFAIL = range(6)
N_COUNTERS = 6


GUIDE_BITS = 12
"""Guide table (Chen & Asau 1974): the top GUIDE_BITS of the first 32-bit word pick a
bucket; a bucket lying inside one event's interval gives the event at once (all but
about #events / 4096 of the draws), a bucket holding a threshold falls back to the exact
64-bit comparison."""
_GUIDE_SHIFT = np.uint64(32 - GUIDE_BITS)
GUIDE_AMBIGUOUS = -1


@njit(cache=True, inline="always")
def choose_event(st, r, guide):
    """Event type of one uniformised step in regime ``r`` from the guide table, or
    GUIDE_AMBIGUOUS with the drawn word; the caller then calls ``choose_exact``.

    The event is the first j with U < C_j, U a 64-bit uniform (high word first) and C_j
    the cumulative thresholds. Inlined helpers must stay free of calls that take arrays
    and of loops: Numba then keeps reference-count operations on every array argument in
    the caller's event loop, which costs more than the event itself.
    """
    u_hi = next_u32(st)
    return np.int64(guide[r, u_hi >> _GUIDE_SHIFT]), u_hi


@njit(cache=True)
def choose_exact(st, u_hi, r, ev_n, ev_type, thr_hi, thr_lo, thr_always):
    """Exact 64-bit comparison of U = (u_hi, lazily drawn low word) with C_j, in order."""
    u_lo = np.uint64(0)
    have_lo = False
    for j in range(ev_n[r]):
        if thr_always[r, j] != 0:
            return ev_type[r, j]
        th = thr_hi[r, j]
        if u_hi < th:
            return ev_type[r, j]
        if u_hi == th:
            if not have_lo:
                u_lo = next_u32(st)
                have_lo = True
            if u_lo < thr_lo[r, j]:
                return ev_type[r, j]
    return EV_DUMMY


@njit(cache=True)
def draw_event(st, r, tables):
    """Event type of one uniformised step in regime ``r`` (``choose_event``, then
    ``choose_exact`` where the guide table is ambiguous); ``tables``:
    ``EventTables.kernel_args()``.

    Not inlined: a call per event measured faster than the two calls written out in the
    event loops (the pressure case of ``mcstudy bench``: 37 ms against 52 ms for 8
    sequences, one thread). The aggregated draws (``agg_regime``) stay written out: the
    same call there made the case 2-4 times slower.
    """
    guide, ev_n, ev_type, thr_hi, thr_lo, thr_always = tables
    ev, u = choose_event(st, r, guide)
    if ev == GUIDE_AMBIGUOUS:
        ev = choose_exact(st, u, r, ev_n, ev_type, thr_hi, thr_lo, thr_always)
    return ev


@njit(cache=True, inline="always")
def snap_level(st, x, P):
    """A real free-page count ``x`` (0..N) as a level of a zone with a fine band
    (``P.coarse_pages`` > 1, ``zone_grid.levels``): itself when it is a level, else the
    level above it with probability (x - below) / (above - below), exactly (one 32-bit
    word U: above iff U (above - below) < (x - below) 2**32), else the level below."""
    s = P.coarse_pages
    if x >= P.band_lo and x <= P.band_hi:
        return x
    if x >= P.managed_pages or x <= 0:
        return x
    if x > P.band_hi:
        off = (x - P.band_hi) % s
        if off == 0:
            return x
        below = x - off
        above = min(below + s, P.managed_pages)
    else:
        off = (P.band_lo - x) % s
        if off == 0:
            return x
        above = x + off
        below = max(above - s, 0)
    u = np.uint64(next_u32(st))
    if u * np.uint64(above - below) < np.uint64(x - below) << np.uint64(32):
        return above
    return below


@njit(cache=True)
def gather_rcu(f, kw, held, mn, lw, tables, batch):
    """A gather whose successful batch pages wait for an RCU grace period: each attempt
    takes a page (held) while f > min; once one fails, the remaining tables fall back.
    Returns (f, kw, held, woken, failed, fallbacks)."""
    rem = tables
    first = True
    woken = 0
    failed = 0
    fallbacks = 0
    while rem > 0:
        if f <= lw and kw == 0:
            kw = 1
            woken = 1
        if f > mn:
            f -= 1
            held += 1
            rem -= batch
        else:
            if first:
                failed = 1
            fallbacks += rem
            rem = 0
        first = False
    return f, kw, held, woken, failed, fallbacks


@njit(cache=True, inline="always")
def zone_event(ev, f, kw, bu, bst, held, P):
    """Apply one event to the state (f, kw, bu, bst, held); ``P`` is the parameter tuple
    (``ZoneInts``). Returns the new state and this event's (stall, wake-up, failing
    gather, fallbacks, GFP_ATOMIC failure) counts."""
    mn = P.wmark_min + bst
    lw = P.wmark_low + bst
    cap = P.managed_pages - held
    stall = 0
    wake = 0
    gfail = 0
    fb = 0
    afail = 0
    if ev == EV_ALLOC:
        if f <= lw and kw == 0:
            kw = 1
            wake = 1
        if f > mn:
            f -= P.alloc_batch_pages
        else:
            stall = 1
            f = min(cap, f + P.direct_reclaim_batch) - P.alloc_batch_pages
        if f < 0:
            f = 0
    elif ev == EV_FREE:
        if f < cap:
            f += 1
    elif ev == EV_KSWAPD:
        f = min(cap, f + P.reclaim_batch)
        if f > P.wmark_high + bst:
            kw = 0
            bst = 0
    elif ev == EV_GATHER:
        if P.rcu == 0:
            # the batch page is returned at once: every attempt sees the same f
            if f <= lw and kw == 0:
                kw = 1
                wake = 1
            if f <= mn:
                gfail = 1
                fb = P.tables_per_gather
        else:
            f, kw, held, wake, gfail, fb = gather_rcu(
                f, kw, held, mn, lw, P.tables_per_gather, P.max_table_batch
            )
    elif ev == EV_ATOMIC:
        if f <= lw and kw == 0:
            kw = 1
            wake = 1
        if f > P.atomic_mark:
            f -= 1
        else:
            afail = 1
    elif ev == EV_PHASE:
        bu = 1 - bu
    elif ev == EV_BOOST:
        bst = min(bst + P.boost_pages, P.max_boost)
        if kw == 0:
            kw = 1
            wake = 1
    elif ev == EV_RCU_GP:
        f += held
        held = 0
    return f, kw, bu, bst, held, stall, wake, gfail, fb, afail


def stall_arrays(
    zone: Zone,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The stall moves of ``zone`` as the timed kernels take them: (timed, start, advance,
    end, restart, phases), arrays over the stalled-task configurations (``Zone.stall_states``;
    ``advance[c, j]`` is -1 for the last phase: that move ends the stall). ``timed`` is 0
    and the arrays are placeholders without timed stalls."""
    configs = zone.stall_states
    if zone.timed_stalls:
        start, advance, end, restart = stall_moves(configs)
    else:
        start, advance, end, restart = [0], [[-1]], [0], [0]
    adv = np.full((len(configs), MAX_STALL_PHASES), -1, dtype=np.int64)
    for i, row in enumerate(advance):
        adv[i, : len(row)] = row
    return (
        int(zone.timed_stalls),
        np.array(start, dtype=np.int64),
        adv,
        np.array(end, dtype=np.int64),
        np.array(restart, dtype=np.int64),
        zone.phases,
    )


@njit(cache=True)
def zone_event_timed(ev, f, kw, bu, bst, held, cfg, P, s_start, s_adv, s_end, s_restart):
    """``zone_event`` of a chain whose direct-reclaim stalls take time: an allocation at
    or below min stalls its task (``cfg`` = the stalled-task configuration), a stall
    event moves a task on or ends its stall and retries; other events as ``zone_event``.
    Returns the state with ``cfg`` and the counts of ``zone_event``."""
    if ev == EV_DUMMY:
        return f, kw, bu, bst, held, cfg, 0, 0, 0, 0, 0
    if ev == EV_ALLOC or ev >= EV_STALL:
        mn = P.wmark_min + bst
        lw = P.wmark_low + bst
        stall = 0
        wake = 0
        if ev == EV_ALLOC:
            if f <= lw and kw == 0:
                kw = 1
                wake = 1
            if f > mn:
                f = max(f - P.alloc_batch_pages, 0)
            else:
                stall = 1
                cfg = s_start[cfg]
            return f, kw, bu, bst, held, cfg, stall, wake, 0, 0, 0
        nxt = s_adv[cfg, ev - EV_STALL]
        if nxt >= 0:
            return f, kw, bu, bst, held, nxt, 0, 0, 0, 0, 0
        f = min(P.managed_pages - held, f + P.direct_reclaim_batch)
        if f <= lw and kw == 0:
            kw = 1
            wake = 1
        if f > mn:
            f = max(f - P.alloc_batch_pages, 0)
            cfg = s_end[cfg]
        else:
            stall = 1
            cfg = s_restart[cfg]
        return f, kw, bu, bst, held, cfg, stall, wake, 0, 0, 0
    f, kw, bu, bst, held, s_, w_, g_, fb_, a_ = zone_event(ev, f, kw, bu, bst, held, P)
    return f, kw, bu, bst, held, cfg, s_, w_, g_, fb_, a_


@njit(cache=True)
def run_events_timed(st, n, f, kw, bu, bst, held, cfg, P, tables, stall):
    """``run_events`` with timed stalls (regime kw + 2 burst + 4 cfg; no aggregation)."""
    _t, s_start, s_adv, s_end, s_restart, _ph = stall
    for _ in range(n):
        r = kw + 2 * bu + 4 * cfg
        ev = draw_event(st, r, tables)
        f, kw, bu, bst, held, cfg, _s, _w, _g, _fb, _a = zone_event_timed(
            ev, f, kw, bu, bst, held, cfg, P, s_start, s_adv, s_end, s_restart
        )
        if P.coarse_pages > 1:
            f = snap_level(st, f, P)
    return f, kw, bu, bst, held, cfg


@njit(cache=True)
def observe_events_timed(st, n, f, kw, bu, bst, held, cfg, P, tables, stall, cnt):
    """``observe_events`` with timed stalls; returns (state..., cfg, below, awake,
    held_sum)."""
    _t, s_start, s_adv, s_end, s_restart, _ph = stall
    below = 0
    awake = 0
    held_sum = 0
    i = 0
    while True:
        if f <= P.wmark_min + bst:
            below += 1
        awake += kw
        held_sum += held
        if i == n:
            break
        r = kw + 2 * bu + 4 * cfg
        ev = draw_event(st, r, tables)
        if ev == EV_GATHER:
            cnt[C_GATHER] += 1
        f, kw, bu, bst, held, cfg, s_, w_, g_, fb_, a_ = zone_event_timed(
            ev, f, kw, bu, bst, held, cfg, P, s_start, s_adv, s_end, s_restart
        )
        if P.coarse_pages > 1:
            f = snap_level(st, f, P)
        cnt[C_STALL] += s_
        cnt[C_WAKE] += w_
        cnt[C_GFAIL] += g_
        cnt[C_FALLBACK] += fb_
        cnt[C_AFAIL] += a_
        i += 1
    return f, kw, bu, bst, held, cfg, below, awake, held_sum


AGG_STEPS = (8, 4)
"""Events drawn at once far from the marks: kswapd asleep, kswapd awake (see
``agg_regime``)."""


@njit(cache=True, inline="always")
def agg_regime(agg_on, n_left, f, kw, bu, bst, held, P):
    """Regime whose next AGG_STEPS[r] events may be drawn at once, else -1.

    Calm phase, no boost or held pages (the aggregation is only built for the reference
    chain), and the events cannot touch a mark or the cap: kswapd asleep with
    f >= low + M and f + M <= N: allocations and gathers see f > low (no wake-up, no
    stall, no failure), frees are not capped; kswapd awake with f >= min + M and
    f + R M <= min(high, N): no stall or failure, kswapd cannot go to sleep, nothing is
    capped. Only the net change of f and the number of gathers then matter.
    """
    if not agg_on or bu != 0:
        return -1
    if kw == 0:
        m0 = AGG_STEPS[0]
        if n_left >= m0 and f >= P.wmark_low + m0 and f + m0 <= P.managed_pages:
            return 0
        return -1
    m1 = AGG_STEPS[1]
    if (
        n_left >= m1
        and f >= P.wmark_min + m1
        and f + P.reclaim_batch * m1 <= min(P.wmark_high, P.managed_pages)
    ):
        return 1
    return -1


@njit(cache=True)
def run_events(st, n, f, kw, bu, bst, held, P, tables, agg):
    """``n`` uniformised steps without observation (warm-up); returns the state.
    ``tables``: ``EventTables.kernel_args()``, ``agg``: its ``agg``."""
    agg_on, aguide, an, atype, ahi, alo, aalw, adf, _ag, asteps = agg
    i = 0
    while i < n:
        ra = agg_regime(agg_on, n - i, f, kw, bu, bst, held, P)
        if ra >= 0:
            k, u = choose_event(st, ra, aguide)
            if k == GUIDE_AMBIGUOUS:
                k = choose_exact(st, u, ra, an, atype, ahi, alo, aalw)
            f += adf[ra, k]
            i += asteps[ra]
            continue
        ev = draw_event(st, kw + 2 * bu, tables)
        f, kw, bu, bst, held, _s, _w, _g, _fb, _a = zone_event(ev, f, kw, bu, bst, held, P)
        if P.coarse_pages > 1:
            f = snap_level(st, f, P)
        i += 1
    return f, kw, bu, bst, held


@njit(cache=True)
def observe_events(st, n, f, kw, bu, bst, held, P, tables, agg, cnt):
    """``n`` steps of the counted horizon: visits of Y_0 .. Y_n below min and awake, the
    sum of held pages over the visits, event counts into ``cnt`` (``C_*`` layout);
    returns (state..., below, awake, held_sum).

    Exact aggregation (``agg_regime``): where the next M events cannot touch a mark or
    the cap, their joint effect is the net change of f and the number of gathers, and
    its law is the multinomial of M uniformised steps of that regime, drawn with one
    word from the ``agg`` tables; the M - 1 inner states are above min and keep kswapd's
    state. ``tables``: ``EventTables.kernel_args()``, ``agg``: its ``agg``.
    """
    agg_on, aguide, an, atype, ahi, alo, aalw, adf, ag, asteps = agg
    below = 0
    awake = 0
    held_sum = 0
    stalls = 0
    wakes = 0
    gathers = 0
    gfails = 0
    fbs = 0
    afails = 0
    i = 0
    while True:
        if f <= P.wmark_min + bst:
            below += 1
        awake += kw
        held_sum += held
        if i == n:
            break
        ra = agg_regime(agg_on, n - i, f, kw, bu, bst, held, P)
        if ra >= 0:
            k, u = choose_event(st, ra, aguide)
            if k == GUIDE_AMBIGUOUS:
                k = choose_exact(st, u, ra, an, atype, ahi, alo, aalw)
            f += adf[ra, k]
            gathers += ag[ra, k]
            awake += (asteps[ra] - 1) * kw
            i += asteps[ra]
            continue
        ev = draw_event(st, kw + 2 * bu, tables)
        gathers += ev == EV_GATHER
        f, kw, bu, bst, held, s_, w_, g_, fb_, a_ = zone_event(ev, f, kw, bu, bst, held, P)
        if P.coarse_pages > 1:
            f = snap_level(st, f, P)
        stalls += s_
        wakes += w_
        gfails += g_
        fbs += fb_
        afails += a_
        i += 1
    cnt[C_STALL] += stalls
    cnt[C_WAKE] += wakes
    cnt[C_GATHER] += gathers
    cnt[C_GFAIL] += gfails
    cnt[C_FALLBACK] += fbs
    cnt[C_AFAIL] += afails
    return f, kw, bu, bst, held, below, awake, held_sum
