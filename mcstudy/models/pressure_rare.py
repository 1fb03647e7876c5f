"""Rare GFP_NOWAIT failures: regenerative importance sampling (``estimator = "importance"``).

Under light pressure P(free <= min) is 1e-6 .. 1e-12 and plain trajectories never
see it. The chain is regenerative: every return to a fixed state s* starts an
independent cycle, and for any set B (renewal-reward theorem)

    P(state in B) = E[steps in B per cycle] / E[steps per cycle]

on the uniformised chain (each step lasts 1/Lambda on average). The estimator

* chooses s* as the most visited state of a pilot trajectory (an independent
  sub-stream; any recurrent state is valid, a frequent one gives short cycles);
* estimates the denominator E[C] from ``plain_cycles`` ordinary cycles per sequence;
* estimates the numerator from one *importance* cycle per sequence: from s* the event
  probabilities of each regime r (kswapd asleep/awake x load phase) are exponentially
  tilted, p'_j = p_j exp(-theta_r J_j) / 1, with J_j the event's jump in free pages
  (minus the boost for boost events) and theta_r > 0 the root of
  sum_j p_j exp(-theta_r J_j) = 1 (Cramer-Lundberg; theta_r = 0 when the regime drifts
  down anyway). The tilted chain runs down to min quickly. At the first step with
  free <= min the ordinary probabilities are restored, so the likelihood ratio
  L = prod p_j / p'_j (exact ratio of the 64-bit fixed-point masses) stays fixed for
  the rest of the cycle. The cycle's numerator is L x (steps in B after that time),
  an unbiased estimate of E[steps in B per cycle] (Siegmund 1976; Glynn & Iglehart
  1989 for the regenerative form).

Numerator and denominator are independent unbiased means; the ratio has a bias of
order 1/n, far below its standard error, and its delta-method standard error is
sqrt(Var(Y)/n + p^2 Var(C)/n_c) / mean(C). Gathers arrive as a Poisson process, so
their failure probability is P(free <= min) (PASTA). Reported with it: the relative
error (stderr / estimate) and the effective sample size p (1 - p) / stderr^2, the
number of independent gathers plain sampling would need for the same precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from mcstudy.engine.blocks import BlockPlan, Tallies
from mcstudy.engine.rng import stream_key, stream_new
from mcstudy.engine.sampling import poisson
from mcstudy.errors import McStudyError
from mcstudy.models.pressure import (
    FLOAT_TALLIES,
    INT_TALLIES,
    EventTables,
    PreparedPressure,
    PressureParams,
    build_tables,
)
from mcstudy.models.pressure_kernels import (
    EV_ALLOC,
    EV_ATOMIC,
    EV_BOOST,
    EV_FREE,
    EV_GATHER,
    EV_KSWAPD,
    GUIDE_AMBIGUOUS,
    IP_F0,
    IP_MAX_BOOST,
    IP_MIN,
    IP_N,
    N_EVENT_TYPES,
    choose_event,
    choose_exact,
    run_events,
    zone_event,
)
from mcstudy.stats import Z95

SUBSTREAM_PILOT = 4
SUBSTREAM_IS = 5
SUBSTREAM_PLAIN = 6
MAX_CYCLE_STEPS = 1 << 40
_TWO64 = 1 << 64


# --------------------------------------------------------------------------- tilting


def event_jumps(p: PressureParams) -> list[float]:
    """Interior jump of the distance free - min (pages) of each event type."""
    j = [0.0] * N_EVENT_TYPES
    j[EV_ALLOC] = -float(p.alloc_batch_pages)
    j[EV_FREE] = 1.0
    j[EV_KSWAPD] = float(p.reclaim_batch)
    j[EV_ATOMIC] = -1.0
    if p.rcu_grace_period_s > 0.0:
        j[EV_GATHER] = -float(math.ceil(p.tables_per_gather / p.batch()))
    if p.max_boost() > 0:
        j[EV_BOOST] = -float(p.boost_pages)
    return j


def cramer_root(probs: list[float], jumps: list[float]) -> float:
    """theta > 0 with sum_j p_j (exp(-theta J_j) - 1) = 0, or 0 if the drift is <= 0
    or no jump is negative (the set below is then not rare from this regime)."""
    drift = sum(pr * jj for pr, jj in zip(probs, jumps, strict=True))
    if drift <= 0.0 or not any(pr > 0 and jj < 0 for pr, jj in zip(probs, jumps, strict=True)):
        return 0.0

    def g(t: float) -> float:
        return sum(pr * math.expm1(-t * jj) for pr, jj in zip(probs, jumps, strict=True))

    hi = 1e-3
    while g(hi) < 0.0:
        hi *= 2.0
        if hi > 700.0:
            return 0.0
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if g(mid) < 0.0:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Tilt:
    thetas: tuple[float, ...]
    tables: EventTables
    ratio: np.ndarray
    """ratio[r, type] = p / p' (type EV_DUMMY: 1)"""


def tilted_tables(p: PressureParams, orig: EventTables) -> Tilt:
    """Per-regime exponentially tilted event tables and exact likelihood ratios."""
    jumps = event_jumps(p)
    masses = []
    thetas = []
    ratio = np.ones((4, N_EVENT_TYPES + 1))
    for r in range(4):
        w = list(orig.mass[r])
        total = sum(w)
        if total == 0:
            masses.append(w)
            thetas.append(0.0)
            continue
        theta = cramer_root([x / _TWO64 for x in w], jumps)
        thetas.append(theta)
        if theta == 0.0:
            masses.append(w)
            continue
        raw = [x * math.exp(-theta * jj) for x, jj in zip(w, jumps, strict=True)]
        scale = total / sum(raw)
        wt = [max(1, round(x * scale)) if x0 > 0 else 0 for x, x0 in zip(raw, w, strict=True)]
        big = max(range(N_EVENT_TYPES), key=lambda t: wt[t])
        wt[big] += total - sum(wt)  # same total mass: the dummy keeps its probability
        masses.append(wt)
        for t in range(N_EVENT_TYPES):
            if w[t] > 0:
                ratio[r, t] = w[t] / wt[t]
    return Tilt(tuple(thetas), build_tables(masses, orig.rate), ratio)


# --------------------------------------------------------------------------- kernels


@njit(cache=True)
def _pilot(k0, k1, n_warm_mean, n_steps, P, guide, ev_n, ev_type, thr_hi, thr_lo, thr_always, agg):
    """Encoded states of ``n_steps`` steps after the warm-up (choice of s*)."""
    st = stream_new(k0, k1, 0, SUBSTREAM_PILOT)
    n_warm = poisson(st, n_warm_mean)
    f, kw, bu, bst, held = run_events(
        st, n_warm, P[IP_F0], 0, 0, 0, 0, P, guide, ev_n, ev_type, thr_hi, thr_lo, thr_always, agg
    )
    keys = np.empty(n_steps, dtype=np.int64)
    nf = P[IP_N] + 1
    nb = P[IP_MAX_BOOST] + 1
    for i in range(n_steps):
        keys[i] = f + nf * (kw + 2 * (bu + 2 * (bst + nb * held)))
        ev, u = choose_event(st, kw + 2 * bu, guide)
        if ev == GUIDE_AMBIGUOUS:
            ev = choose_exact(st, u, kw + 2 * bu, ev_n, ev_type, thr_hi, thr_lo, thr_always)
        f, kw, bu, bst, held, _s, _w, _g, _fb, _a = zone_event(ev, f, kw, bu, bst, held, P)
    return keys


@njit(cache=True)
def _plain_cycle(st, s0, P, guide, ev_n, ev_type, thr_hi, thr_lo, thr_always):
    """One regeneration cycle from s0 back to s0: (steps, awake steps, wake-ups, ok)."""
    f0, kw0, bu0, bst0, held0 = s0
    f, kw, bu, bst, held = s0
    steps = 0
    awake = 0
    wakes = 0
    while True:
        awake += kw
        ev, u = choose_event(st, kw + 2 * bu, guide)
        if ev == GUIDE_AMBIGUOUS:
            ev = choose_exact(st, u, kw + 2 * bu, ev_n, ev_type, thr_hi, thr_lo, thr_always)
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
    guide,
    ev_n,
    ev_type,
    thr_hi,
    thr_lo,
    thr_always,
    tguide,
    tev_n,
    tev_type,
    tthr_hi,
    tthr_lo,
    tthr_always,
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
        if f <= P[IP_MIN] + bst:
            tilted = False
            below += 1
        r = kw + 2 * bu
        if tilted:
            ev, u = choose_event(st, r, tguide)
            if ev == GUIDE_AMBIGUOUS:
                ev = choose_exact(st, u, r, tev_n, tev_type, tthr_hi, tthr_lo, tthr_always)
            lr *= ratio[r, ev]
        else:
            ev, u = choose_event(st, r, guide)
            if ev == GUIDE_AMBIGUOUS:
                ev = choose_exact(st, u, r, ev_n, ev_type, thr_hi, thr_lo, thr_always)
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
    guide,
    ev_n,
    ev_type,
    thr_hi,
    thr_lo,
    thr_always,
    tguide,
    tev_n,
    tev_type,
    tthr_hi,
    tthr_lo,
    tthr_always,
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
            guide,
            ev_n,
            ev_type,
            thr_hi,
            thr_lo,
            thr_always,
            tguide,
            tev_n,
            tev_type,
            tthr_hi,
            tthr_lo,
            tthr_always,
            ratio,
        )
        ok_all = ok_all and ok
        out_i[1] += steps
        if hit:
            out_i[12] += 1
        y = lr * below
        out_f[13] += y
        out_f[14] += y * y
        y = lr * stalls
        out_f[15] += y
        out_f[16] += y * y
        y = lr * fbs
        out_f[17] += y
        out_f[18] += y * y
        y = lr * afails
        out_f[19] += y
        out_f[20] += y * y
        for _c in range(n_plain):
            c, a, w, ok = _plain_cycle(
                pl_st, s0, ip, guide, ev_n, ev_type, thr_hi, thr_lo, thr_always
            )
            ok_all = ok_all and ok
            out_i[1] += c
            out_i[8] += 1
            out_i[9] += c
            out_i[10] += a
            out_i[11] += w
            out_f[21] += float(c) * float(c)
            out_f[22] += float(a) * float(a)
            out_f[23] += float(a) * float(c)
            out_f[24] += float(w) * float(w)
            out_f[25] += float(w) * float(c)
    out_i[0] = n_seq
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
    guide,
    ev_n,
    ev_type,
    thr_hi,
    thr_lo,
    thr_always,
    tguide,
    tev_n,
    tev_type,
    tthr_hi,
    tthr_lo,
    tthr_always,
    ratio,
    n_int,
    n_float,
):
    """Per-block tallies of importance + plain regeneration cycles."""
    out_i = np.zeros((n_blocks, n_int), dtype=np.int64)
    out_f = np.zeros((n_blocks, n_float), dtype=np.float64)
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
            guide,
            ev_n,
            ev_type,
            thr_hi,
            thr_lo,
            thr_always,
            tguide,
            tev_n,
            tev_type,
            tthr_hi,
            tthr_lo,
            tthr_always,
            ratio,
            out_i[b],
            out_f[b],
        )
    return out_i, out_f, oks


# --------------------------------------------------------------------------- wrapper

# _importance_block writes tallies by position: check the layout it assumes
assert INT_TALLIES[:2] == ("sequences", "events")
assert INT_TALLIES[8:13] == (
    "plain_cycles",
    "plain_cycle_steps",
    "plain_awake_steps",
    "plain_wakeups",
    "is_cycles_hit",
)
assert FLOAT_TALLIES[13:26] == (
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
)


@dataclass(frozen=True)
class Regeneration:
    """s* = (free, kswapd, burst, boost, held) and the tilt used from it."""

    state: tuple[int, int, int, int, int]
    tilt: Tilt


def regeneration(prepared: PreparedPressure, key: tuple[int, int]) -> Regeneration:
    """The regeneration state from the pilot (cached per point key) and the tilt."""
    if key in prepared.cache:
        return prepared.cache[key]
    p = prepared.params
    t = prepared.tables
    keys = _pilot(
        key[0],
        key[1],
        t.rate * p.warmup_s,
        p.pilot_steps,
        prepared.ip,
        t.guide,
        t.ev_n,
        t.ev_type,
        t.thr_hi,
        t.thr_lo,
        t.thr_always,
        t.agg,
    )
    vals, counts = np.unique(keys, return_counts=True)
    k = int(vals[np.argmax(counts)])
    nf = p.managed_pages + 1
    nb = int(prepared.ip[IP_MAX_BOOST]) + 1
    f, rest = k % nf, k // nf
    kw, rest = rest % 2, rest // 2
    bu, rest = rest % 2, rest // 2
    bst, held = rest % nb, rest // nb
    state = (int(f), int(kw), int(bu), int(bst), int(held))
    reg = Regeneration(state, tilted_tables(p, t))
    prepared.cache[key] = reg
    return reg


def simulate_importance(
    prepared: PreparedPressure,
    key: tuple[int, int],
    plan: BlockPlan,
    first_block: int,
    n_blocks: int,
) -> tuple[np.ndarray, np.ndarray]:
    reg = regeneration(prepared, key)
    t = prepared.tables
    tt = reg.tilt.tables
    out_i, out_f, oks = simulate_importance_blocks(
        key[0],
        key[1],
        first_block,
        n_blocks,
        plan.block_size,
        plan.sequences,
        prepared.params.plain_cycles,
        reg.state,
        prepared.ip,
        t.guide,
        t.ev_n,
        t.ev_type,
        t.thr_hi,
        t.thr_lo,
        t.thr_always,
        tt.guide,
        tt.ev_n,
        tt.ev_type,
        tt.thr_hi,
        tt.thr_lo,
        tt.thr_always,
        reg.tilt.ratio,
        len(INT_TALLIES),
        len(FLOAT_TALLIES),
    )
    if not oks.all():
        raise McStudyError(
            f"importance sampling: a regeneration cycle exceeded {MAX_CYCLE_STEPS} events "
            f"(regeneration state {reg.state}); use estimator = 'plain'"
        )
    return out_i, out_f


def _mean_var(s: float, s2: float, n: int) -> tuple[float, float]:
    m = s / n
    return m, max(s2 - s * m, 0.0) / (n - 1) if n > 1 else math.nan


def importance_estimates(prepared: PreparedPressure, tallies: Tallies) -> dict[str, Any]:
    """Estimates with delta-method errors from importance and plain cycle tallies."""
    lam = prepared.tables.rate
    n = int(tallies["sequences"])
    nc = int(tallies["plain_cycles"])
    cbar, cvar = _mean_var(float(tallies["plain_cycle_steps"]), tallies["plain_cycle_steps_sq"], nc)

    def over_cycle(num: str, num_sq: str) -> tuple[float, float]:
        ybar, yvar = _mean_var(tallies[num], tallies[num_sq], n)
        r = ybar / cbar
        var = yvar / n / cbar**2 + r * r * cvar / nc / cbar**2
        return r, math.sqrt(var)

    def plain_ratio(num: str, num_sq: str, cross: str) -> tuple[float, float]:
        s = float(tallies[num])
        r = s / float(tallies["plain_cycle_steps"])
        ss = tallies[num_sq] - 2.0 * r * tallies[cross] + r * r * tallies["plain_cycle_steps_sq"]
        var = max(ss, 0.0) / (nc - 1) / nc if nc > 1 else math.nan
        return r, math.sqrt(var) / cbar

    pb, pb_se = over_cycle("is_below", "is_below_sq")
    st, st_se = over_cycle("is_stalls", "is_stalls_sq")
    fb, fb_se = over_cycle("is_fallbacks", "is_fallbacks_sq")
    af, af_se = over_cycle("is_afails", "is_afails_sq")
    aw, aw_se = plain_ratio("plain_awake_steps", "plain_awake_sq", "plain_awake_x_steps")
    wk, wk_se = plain_ratio("plain_wakeups", "plain_wakeups_sq", "plain_wakeups_x_steps")
    if not prepared.uses_tlb_remove_table:
        fb, fb_se = 0.0, 0.0
    ipi_mean = prepared.fallback_ipi.mean
    return {
        "nowait_fail_prob": pb,
        "nowait_fail_prob_stderr": pb_se,
        "nowait_fail_prob_ci_low": max(0.0, pb - Z95 * pb_se),
        "nowait_fail_prob_ci_high": min(1.0, pb + Z95 * pb_se),
        "nowait_fail_prob_rel_err": pb_se / pb if pb > 0 else math.nan,
        "nowait_fail_prob_ess": pb * (1 - pb) / pb_se**2 if pb_se > 0 else math.nan,
        "time_below_min_frac": pb,
        "time_below_min_frac_stderr": pb_se,
        "kswapd_awake_frac": aw,
        "kswapd_awake_frac_stderr": aw_se,
        "stalls_per_s": lam * st,
        "stalls_per_s_stderr": lam * st_se,
        "kswapd_wakeups_per_s": lam * wk,
        "kswapd_wakeups_per_s_stderr": lam * wk_se,
        "fallbacks_per_s": lam * fb,
        "fallbacks_per_s_stderr": lam * fb_se,
        "sync_ipis_per_s": lam * fb * ipi_mean,
        "sync_ipis_per_s_stderr": lam * fb_se * ipi_mean,
        "atomic_fails_per_s": lam * af,
        "atomic_fails_per_s_stderr": lam * af_se,
        "sequences": n,
    }


def warmup_rare(model: Any) -> None:
    """Compile the importance-sampling kernels on a tiny chain."""
    params = model.Params.model_validate(
        {**model.warmup_params(), "estimator": "importance", "pilot_steps": 64, "plain_cycles": 1}
    )
    prepared = model.prepare(params)
    plan = BlockPlan(sequences=2, block_size=1)
    simulate_importance(prepared, stream_key(1, 0), plan, 0, 2)
