"""Rare GFP_NOWAIT failures: regenerative importance sampling (``estimator = "importance"``,
``docs/model.md`` §4.9).

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

import numpy as np

from mcstudy.engine.blocks import BlockPlan, run_driver
from mcstudy.errors import McStudyError
from mcstudy.mechanisms.zone_events import (
    EV_ALLOC,
    EV_ATOMIC,
    EV_BOOST,
    EV_FREE,
    EV_GATHER,
    EV_KSWAPD,
    N_EVENT_TYPES,
)
from mcstudy.mechanisms.zone_tables import TWO64, EventTables, build_tables
from mcstudy.models.pressure import kernels as K
from mcstudy.models.pressure.params import PressureParams
from mcstudy.models.pressure.prepare import PreparedPressure

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
        theta = cramer_root([x / TWO64 for x in w], jumps)
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


# --------------------------------------------------------------------------- regeneration


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
    keys = K.pilot_states(
        key[0],
        key[1],
        t.rate * prepared.start.pilot_warmup_s,
        p.pilot_steps,
        prepared.ip,
        t.kernel_args(),
        t.agg,
    )
    vals, counts = np.unique(keys, return_counts=True)
    k = int(vals[np.argmax(counts)])
    nf = p.managed_pages + 1
    nb = int(prepared.ip.max_boost) + 1
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
    out_i, out_f, oks = run_driver(
        K.simulate_importance_blocks,
        key,
        plan,
        first_block,
        n_blocks,
        prepared.params.plain_cycles,
        reg.state,
        prepared.ip,
        t.kernel_args(),
        tt.kernel_args(),
        reg.tilt.ratio,
    )
    if not oks.all():
        raise McStudyError(
            f"importance sampling: a regeneration cycle exceeded {K.MAX_CYCLE_STEPS} events "
            f"(regeneration state {reg.state}); use estimator = 'plain'"
        )
    return out_i, out_f
