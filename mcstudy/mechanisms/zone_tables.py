"""Uniformised event tables of the pressure chain (``docs/model.md`` §4.4, §4.5).

Per regime r = kswapd + 2 x burst, the event types with non-zero rate and their
cumulative probabilities as exact 64-bit fixed-point thresholds (floor(2**64 x exact
ratio of the rates)); a guide table that picks the event from the top bits of one
32-bit word; and, for the reference chain, the exact joint law of (net change of free
pages, gathers) over several events far from the watermarks. They are built from the one
zone record, ``mechanisms.zone.Zone``, by :func:`event_tables`, for the pressure model
and the host study alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import numpy as np

from mcstudy.mechanisms.zone import Zone
from mcstudy.mechanisms.zone_events import (
    AGG_STEPS,
    EV_ALLOC,
    EV_ATOMIC,
    EV_BOOST,
    EV_DUMMY,
    EV_FREE,
    EV_GATHER,
    EV_KSWAPD,
    EV_PHASE,
    EV_RCU_GP,
    EV_STALL,
    GUIDE_AMBIGUOUS,
    GUIDE_BITS,
    N_EVENT_TYPES,
)

TWO64 = 1 << 64


@dataclass(frozen=True)
class EventTables:
    """Uniformised event selection: per regime r = kswapd + 2 x burst (+ 4 x stalled-task
    configuration with timed stalls), the event types
    with non-zero rate and their cumulative probabilities as exact 64-bit fixed point."""

    rate: float
    """Lambda: uniformisation rate (events/s)"""
    guide: np.ndarray
    """guide[r, bucket]: the event type of every U in the bucket, or GUIDE_AMBIGUOUS"""
    ev_n: np.ndarray
    ev_type: np.ndarray
    thr_hi: np.ndarray
    thr_lo: np.ndarray
    thr_always: np.ndarray
    mass: tuple[tuple[int, ...], ...]
    """mass[r][type]: probability x 2**64 of each event type (integers)"""
    agg: tuple[Any, ...] = ()
    """aggregated far-from-the-marks steps (``aggregate_tables``), for the kernels"""

    def kernel_args(self) -> tuple[Any, ...]:
        """The tables as one argument of the ``@njit`` kernels: (guide, ev_n, ev_type,
        thr_hi, thr_lo, thr_always); a kernel unpacks it once, outside its event loop.
        Not ``agg``, itself a tuple: a parallel (``prange``) driver cannot take a tuple
        inside its argument tuple (Numba's gufunc wrapper rejects it)."""
        return (self.guide, self.ev_n, self.ev_type, self.thr_hi, self.thr_lo, self.thr_always)

    def prob(self, regime: int, ev: int) -> float:
        return self.mass[regime][ev] / TWO64


def regime_rates(p: Zone) -> list[list[float | Fraction]]:
    """rates[r][type] (events/s) for regimes r = kswapd + 2 x burst + 4 x cfg, cfg the
    stalled-task configuration (``Zone.stall_states``; only 0 without timed stalls)."""
    out: list[list[float | Fraction]] = []
    configs = p.stall_states
    for r in range(4 * len(configs)):
        kw, bu, cfg = r & 1, (r >> 1) & 1, configs[r >> 2]
        lam = (p.burst_alloc_rate or 0.0) if bu == 1 else p.alloc_rate
        rates: list[float | Fraction] = [0.0] * N_EVENT_TYPES
        if bu == 1 and not p.bursty:
            out.append(rates)  # unreachable regime
            continue
        rates[EV_ALLOC] = lam / p.alloc_batch_pages
        if p.timed_stalls:  # running tasks only; each stalled task moves on at m / mean
            running = p.alloc_tasks - sum(cfg)
            rates[EV_ALLOC] = Fraction(lam / p.alloc_batch_pages) * running / p.alloc_tasks
            step = Fraction(p.stall_phases) / Fraction(p.stall_mean_s)
            for j, n_j in enumerate(cfg):
                rates[EV_STALL + j] = n_j * step
        rates[EV_FREE] = p.free_rate
        rates[EV_KSWAPD] = p.kswapd_rate if kw == 1 else 0.0
        rates[EV_GATHER] = p.gather_rate
        rates[EV_ATOMIC] = p.atomic_alloc_rate
        if p.bursty:
            rates[EV_PHASE] = p.burst_start_rate if bu == 0 else p.burst_end_rate
        if p.boosted:  # a boost of 0 pages (max_boost 0) is no event
            rates[EV_BOOST] = p.boost_rate
        if p.rcu_grace_period_s > 0.0:  # grace periods ending
            rates[EV_RCU_GP] = 1.0 / p.rcu_grace_period_s
        out.append(rates)
    return out


def build_tables(masses: list[list[int]], rate: float) -> EventTables:
    """Threshold tables from integer masses (probability x 2**64) per regime and type."""
    n_reg = len(masses)
    width = len(masses[0])
    ev_n = np.zeros(n_reg, dtype=np.int64)
    ev_type = np.zeros((n_reg, width), dtype=np.int64)
    thr_hi = np.zeros((n_reg, width), dtype=np.uint64)
    thr_lo = np.zeros((n_reg, width), dtype=np.uint64)
    thr_always = np.zeros((n_reg, width), dtype=np.int64)
    for r, m in enumerate(masses):
        if sum(m) > TWO64:
            raise ValueError("event masses exceed 1")
        order = sorted((t for t in range(width) if m[t] > 0), key=lambda t: -m[t])
        cum = 0
        for j, t in enumerate(order):
            cum += m[t]
            ev_type[r, j] = t
            if cum >= TWO64:
                thr_always[r, j] = 1
            else:
                thr_hi[r, j] = cum >> 32
                thr_lo[r, j] = cum & 0xFFFFFFFF
        ev_n[r] = len(order)
    return EventTables(
        rate,
        _guide(ev_n, ev_type, thr_hi, thr_lo, thr_always),
        ev_n,
        ev_type,
        thr_hi,
        thr_lo,
        thr_always,
        tuple(tuple(int(x) for x in m) for m in masses),
    )


def _guide(ev_n, ev_type, thr_hi, thr_lo, thr_always) -> np.ndarray:
    """Guide table: for each bucket of the high word's top GUIDE_BITS, the event type
    when the whole bucket [lo, hi] of 64-bit values maps to one event, else ambiguous."""
    n_reg = len(ev_n)
    nb = 1 << GUIDE_BITS
    width = 1 << (64 - GUIDE_BITS)
    guide = np.full((n_reg, nb), GUIDE_AMBIGUOUS, dtype=np.int8)
    for r in range(n_reg):
        cums = []
        for j in range(int(ev_n[r])):
            c = TWO64 if thr_always[r, j] else (int(thr_hi[r, j]) << 32) | int(thr_lo[r, j])
            cums.append((c, int(ev_type[r, j])))
        bounds = np.array([c for c, _ in cums] + [TWO64 + 1], dtype=object)
        types = [t for _, t in cums] + [EV_DUMMY]
        lo = np.arange(nb, dtype=object) * width
        # event of value v: first j with v < C_j
        first_lo = np.searchsorted(bounds, lo, side="right")
        first_hi = np.searchsorted(bounds, lo + (width - 1), side="right")
        same = first_lo == first_hi
        guide[r, same] = np.array(types, dtype=np.int8)[first_lo[same].astype(np.int64)]
    return guide


def event_tables(p: Zone) -> EventTables:
    """The uniformised chain of zone ``p``: Lambda = the largest total rate over regimes, and
    P(type j | regime r) = rate_j(r) / Lambda as floor(2**64 x exact ratio)."""
    rates = regime_rates(p)
    totals = [sum(Fraction(x) for x in rr) for rr in rates]
    lam = max(totals)
    if lam <= 0:
        raise ValueError("all event rates are zero")
    masses = []
    for rr in rates:
        cum = Fraction(0)
        prev = 0
        m = []
        for x in rr:
            cum += Fraction(x)
            c = math.floor(cum / lam * TWO64)
            m.append(c - prev)
            prev = c
        masses.append(m)
    tables = build_tables(masses, float(lam))
    return replace(tables, agg=aggregate_tables(p, tables))


def _multinomial_outcomes(
    w: dict[int, int], jumps: dict[int, int], steps: int
) -> dict[tuple[int, int], int]:
    """(net change of f, gathers) -> probability x 2**(64 steps) over ``steps`` events
    with masses ``w`` (the rest is the dummy, jump 0)."""
    types = [t for t in w if w[t] > 0]
    wd = TWO64 - sum(w[t] for t in types)
    out: dict[tuple[int, int], int] = {}

    def rec(j: int, left: int, coef: int, weight: int, df: int, g: int) -> None:
        if j == len(types):
            key = (df, g)
            out[key] = out.get(key, 0) + coef * weight * wd**left
            return
        t = types[j]
        for c in range(left + 1):
            rec(
                j + 1,
                left - c,
                coef * math.comb(left, c),
                weight * w[t] ** c,
                df + c * jumps[t],
                g + (c if t == EV_GATHER else 0),
            )

    rec(0, steps, 1, 1, 0, 0)
    return out


def aggregate_tables(p: Zone, t: EventTables) -> tuple[Any, ...]:
    """Joint law of (net change of f, gathers) over AGG_STEPS[r] events of the calm
    regimes r = 0 (kswapd asleep) and 1 (awake), for the reference chain: the exact
    multinomial of the per-event fixed-point masses, as threshold tables.

    Returns (agg_on, guide, n, type, hi, lo, always, df, gathers, steps) for the
    kernels; ``agg_on`` is False (placeholder tables) off the reference chain.
    """
    allowed = {EV_ALLOC, EV_FREE, EV_GATHER, EV_KSWAPD}
    on = p.is_reference and all(
        t.mass[r][e] == 0 for r in (0, 1) for e in range(N_EVENT_TYPES) if e not in allowed
    )
    steps = np.array(AGG_STEPS, dtype=np.int64)
    if not on:
        z = np.zeros((2, 1), dtype=np.int64)
        u = np.zeros((2, 1), dtype=np.uint64)
        return (
            False,
            np.zeros((2, 1 << GUIDE_BITS), dtype=np.int8),
            np.zeros(2, dtype=np.int64),
            z,
            u,
            u,
            z,
            z,
            z,
            steps,
        )
    jumps = {EV_ALLOC: -1, EV_FREE: 1, EV_GATHER: 0, EV_KSWAPD: p.reclaim_batch}
    per_regime = []
    for r in (0, 1):
        w = {e: t.mass[r][e] for e in allowed}
        outcomes = _multinomial_outcomes(w, jumps, int(steps[r]))
        keys = sorted(outcomes)
        total = TWO64 ** int(steps[r])
        cum = prev = 0
        masses = []
        for k in keys:
            cum += outcomes[k]
            c = (cum << 64) // total
            masses.append(c - prev)
            prev = c
        per_regime.append((keys, masses))
    width = max(len(k) for k, _ in per_regime)
    if width > 127:
        raise ValueError("too many aggregated outcomes for the int8 guide table")
    masses = [m + [0] * (width - len(m)) for _, m in per_regime]
    agg = build_tables(masses, t.rate)
    df = np.zeros((2, width), dtype=np.int64)
    gs = np.zeros((2, width), dtype=np.int64)
    for r, (keys, _) in enumerate(per_regime):
        for j, (d, g) in enumerate(keys):
            df[r, j] = d
            gs[r, j] = g
    return (
        True,
        agg.guide,
        agg.ev_n,
        agg.ev_type,
        agg.thr_hi,
        agg.thr_lo,
        agg.thr_always,
        df,
        gs,
        steps,
    )
