"""The zone pressure model (MODEL.md 2.2, 5.2): when GFP_NOWAIT batch pages really fail.

``model = "pressure"``. A sequence is one trajectory of the zone pressure chain (free
pages x kswapd state, plus the optional extension state), simulated by uniformisation
(see ``pressure_kernels``): ``warmup_s`` seconds not counted, then ``horizon_s`` seconds
counted, from the idle state (all ``managed_pages`` free, kswapd asleep).

Estimators (``estimator = "plain"``), all from i.i.d. trajectories:

* time fractions (below min, kswapd awake): per trajectory the Rao-Blackwellised
  fraction of the horizon; mean and standard error across trajectories;
* rates per second (stalls, kswapd wake-ups, fallbacks, GFP_ATOMIC failures): per
  trajectory count / horizon_s; mean and standard error across trajectories;
* ``nowait_fail_prob``: failing gathers / gathers, a *ratio* estimator, because the
  gathers of one trajectory are neither independent (successive gathers see correlated
  free-page levels) nor fixed in number. Its standard error is the delta-method one
  across trajectories, sqrt(sum (F_i - p G_i)^2 / (n (n - 1))) / mean(G); Wilson's
  interval would treat correlated gathers as independent trials and be too narrow.
  The 95 % interval is p +- 1.96 SE clipped to [0, 1]; with no failing gather at all it
  is undefined (NaN upper end): use the rare-event estimator there.
* sync IPIs: each fallback's deliveries have mean ``targets x deliver_prob``
  (``mcstudy.kernel.ipi``); the per-trajectory IPI count is replaced by its conditional
  mean given the fallbacks (Rao-Blackwell), which is unbiased and has lower variance.

``estimator = "importance"``: regenerative importance sampling for rare failures
(``pressure_rare``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from numba import njit, prange
from pydantic import Field, model_validator

from mcstudy.engine.blocks import BlockPlan, Tallies
from mcstudy.engine.rng import stream_new
from mcstudy.engine.sampling import poisson
from mcstudy.exact.pressure import ZoneChain, atomic_min_mark, solve
from mcstudy.kernel.ipi import IPI_POLICIES, IpiTargets, ipi_targets
from mcstudy.kernel.profiles import KERNEL_NAMES, get_profile
from mcstudy.models.base import Model, ModelParams, Variable, register
from mcstudy.models.pressure_kernels import (
    AGG_STEPS,
    C_AFAIL,
    C_FALLBACK,
    C_GATHER,
    C_GFAIL,
    C_STALL,
    C_WAKE,
    EV_ALLOC,
    EV_ATOMIC,
    EV_BOOST,
    EV_DUMMY,
    EV_FREE,
    EV_GATHER,
    EV_KSWAPD,
    EV_PHASE,
    EV_RCU_GP,
    GUIDE_AMBIGUOUS,
    GUIDE_BITS,
    IP_AMARK,
    IP_BATCH,
    IP_BOOST_PAGES,
    IP_D,
    IP_F0,
    IP_HIGH,
    IP_KB,
    IP_LOW,
    IP_MAX_BOOST,
    IP_MIN,
    IP_N,
    IP_R,
    IP_RCU,
    IP_TABLES,
    N_COUNTERS,
    N_EVENT_TYPES,
    N_IP,
    observe_events,
    run_events,
)
from mcstudy.stats import Z95, mean_from_sums

EXACT_MAX_PAGES = 2_000_000
"""Larger zones get no exact column: the level recursion needs ~300 bytes per page."""

SUBSTREAM_EVENTS = 1
SUBSTREAM_COUNTS = 2

_Kernel = Literal[KERNEL_NAMES]  # type: ignore[valid-type]
_Policy = Literal[IPI_POLICIES]  # type: ignore[valid-type]
_TWO64 = 1 << 64


def _f(default: Any, units: str, description: str, **kw: Any) -> Any:
    return Field(
        default,
        allow_inf_nan=False,
        json_schema_extra={"units": units},
        description=description,
        **kw,
    )


def _i(default: Any, units: str, description: str, **kw: Any) -> Any:
    return Field(default, json_schema_extra={"units": units}, description=description, **kw)


class PressureParams(ModelParams):
    """Parameters of the zone pressure model (units in each field's ``units``)."""

    managed_pages: int = _i(..., "pages", "zone managed pages N", ge=2, le=1 << 40)
    wmark_min: int = _i(..., "pages", "WMARK_MIN of the zone, without boost", ge=0)
    wmark_low: int = _i(..., "pages", "WMARK_LOW of the zone, without boost", ge=0)
    wmark_high: int = _i(..., "pages", "WMARK_HIGH of the zone, without boost", ge=0)
    alloc_rate: float = _f(..., "pages/s", "blocking allocations (calm phase)", ge=0.0)
    alloc_scale: float = _f(
        1.0, "1", "allocation pressure: multiplies alloc_rate and burst_alloc_rate", ge=0.0
    )
    free_rate: float = _f(..., "pages/s", "page frees (other than by reclaim)", ge=0.0)
    kswapd_rate: float = _f(..., "batches/s", "kswapd reclaim batches while awake", ge=0.0)
    reclaim_batch: int = _i(32, "pages", "kswapd batch (SWAP_CLUSTER_MAX)", ge=1)
    direct_reclaim_batch: int = _i(32, "pages", "pages one direct-reclaim stall frees", ge=1)
    gather_rate: float = _f(..., "gathers/s", "mmu_gathers freeing page tables", ge=0.0)
    tables_per_gather: int = _i(1, "tables", "page tables freed per gather", ge=1, le=10**9)
    max_table_batch: int | None = _i(
        None, "entries", "MAX_TABLE_BATCH (default: the kernel profile's)", ge=1, le=1 << 20
    )
    warmup_s: float = _f(60.0, "s", "simulated time before counting", ge=0.0)
    initial_free: int | None = _i(
        None, "pages", "free pages at the start of a trajectory (default: managed_pages)", ge=0
    )
    horizon_s: float = _f(600.0, "s", "counted simulated time per trajectory", gt=0.0)
    kernel: _Kernel = Field("v6.3-kvm-pv", description="kernel profile")
    ipi_policy: _Policy = Field("broadcast", description="who receives a sync IPI")
    online_cpus: int = _i(64, "CPUs", "online CPUs", ge=1, le=1 << 16)
    mm_cpus: int = _i(8, "CPUs", "CPUs in the mm's cpumask", ge=1, le=1 << 16)
    kernel_mode_fraction: float = _f(0.1, "1", "P(an mm CPU is in kernel mode)", ge=0.0, le=1.0)
    # extensions (neutral values reproduce the reference chain exactly)
    burst_alloc_rate: float | None = _f(
        None, "pages/s", "allocation rate in the burst phase (None: no bursts)", ge=0.0
    )
    burst_start_rate: float = _f(0.0, "1/s", "rate of calm -> burst switches", ge=0.0)
    burst_end_rate: float = _f(1.0, "1/s", "rate of burst -> calm switches", ge=0.0)
    boost_rate: float = _f(0.0, "events/s", "watermark boost events (0: none)", ge=0.0)
    boost_pages: int = _i(512, "pages", "boost per event (pageblock_nr_pages)", ge=1)
    watermark_boost_factor: int = _i(
        15000, "1/10000", "vm.watermark_boost_factor (max boost = high x factor)", ge=0
    )
    rcu_grace_period_s: float = _f(
        0.0, "s", "mean RCU grace period holding batch pages (0: freed at once)", ge=0.0
    )
    alloc_batch_pages: int = _i(1, "pages", "pages taken per blocking allocation", ge=1)
    atomic_alloc_rate: float = _f(0.0, "pages/s", "GFP_ATOMIC allocations", ge=0.0)
    khugepaged_collapse_rate: float = _f(
        0.0, "collapses/s", "khugepaged anonymous collapses (each a sync IPI)", ge=0.0
    )
    thp_split_rate: float = _f(0.0, "splits/s", "PMD splits of THPs", ge=0.0)
    # estimator
    estimator: Literal["plain", "importance"] = Field(
        "plain", description="plain Monte Carlo or regenerative importance sampling"
    )
    plain_cycles: int = _i(
        16, "cycles/sequence", "importance: plain regeneration cycles per sequence", ge=1
    )
    pilot_steps: int = _i(
        1 << 18, "events", "importance: pilot events choosing the regeneration state", ge=1
    )

    @model_validator(mode="after")
    def _consistent(self) -> PressureParams:
        if not self.wmark_min <= self.wmark_low <= self.wmark_high < self.managed_pages:
            raise ValueError(
                "need wmark_min <= wmark_low <= wmark_high < managed_pages "
                f"(got {self.wmark_min}, {self.wmark_low}, {self.wmark_high}, "
                f"{self.managed_pages})"
            )
        if self.initial_free is not None and self.initial_free > self.managed_pages:
            raise ValueError(
                f"initial_free ({self.initial_free}) exceeds managed_pages ({self.managed_pages})"
            )
        if self.mm_cpus > self.online_cpus:
            raise ValueError(
                f"mm_cpus ({self.mm_cpus}) must not exceed online_cpus ({self.online_cpus})"
            )
        if self.burst_alloc_rate is not None and self.burst_start_rate > 0.0:
            if self.burst_end_rate <= 0.0:
                raise ValueError("burst_end_rate must be > 0 when bursts start")
        if self.lam + self.free_rate + self.gather_rate + self.atomic_alloc_rate <= 0.0:
            raise ValueError("at least one of alloc_rate, free_rate, gather_rate must be > 0")
        return self

    # ---- derived settings
    @property
    def lam(self) -> float:
        """Blocking allocation rate in the calm phase (pages/s)."""
        return self.alloc_rate * self.alloc_scale

    @property
    def lam_burst(self) -> float:
        """Blocking allocation rate in the burst phase (pages/s)."""
        return (self.burst_alloc_rate or 0.0) * self.alloc_scale

    @property
    def bursty(self) -> bool:
        return self.burst_alloc_rate is not None and self.burst_start_rate > 0.0

    def batch(self) -> int:
        """MAX_TABLE_BATCH in force (entries)."""
        if self.max_table_batch is not None:
            return self.max_table_batch
        return get_profile(self.kernel).max_table_batch

    def max_boost(self) -> int:
        """``boost_watermark()``: max(pageblock, high x watermark_boost_factor / 10000)."""
        if self.boost_rate <= 0.0 or self.watermark_boost_factor == 0:
            return 0
        if self.boost_pages * 4 > self.managed_pages:
            return 0
        return max(self.boost_pages, self.wmark_high * self.watermark_boost_factor // 10000)

    def fallback_ipi(self) -> IpiTargets:
        """Deliveries of one fallback's sync IPI under the profile and policy."""
        if not get_profile(self.kernel).fallback_sends_ipi:
            return IpiTargets(0, 0.0)
        return ipi_targets(
            self.ipi_policy, self.online_cpus, self.mm_cpus, self.kernel_mode_fraction
        )

    def khugepaged_ipi(self) -> IpiTargets:
        """Deliveries of one ``collapse_huge_page()`` sync IPI (``tlb_remove_table_sync_one``)."""
        if not get_profile(self.kernel).khugepaged_sync_ipi:
            return IpiTargets(0, 0.0)
        return ipi_targets(
            self.ipi_policy, self.online_cpus, self.mm_cpus, self.kernel_mode_fraction
        )

    def is_reference(self) -> bool:
        """True when no extension is active (the reference chain of MODEL.md 5.2)."""
        return (
            not self.bursty
            and self.boost_rate == 0.0
            and self.rcu_grace_period_s == 0.0
            and self.alloc_batch_pages == 1
            and self.atomic_alloc_rate == 0.0
        )

    def exact_chain(self) -> ZoneChain | None:
        """The chain for the exact solver, or None when an extension it lacks is active."""
        if self.boost_rate > 0.0 and self.max_boost() > 0:
            return None
        if self.rcu_grace_period_s > 0.0:
            return None
        return ZoneChain(
            managed_pages=self.managed_pages,
            wmark_min=self.wmark_min,
            wmark_low=self.wmark_low,
            wmark_high=self.wmark_high,
            alloc_rate=self.lam,
            free_rate=self.free_rate,
            kswapd_rate=self.kswapd_rate,
            gather_rate=self.gather_rate,
            reclaim_batch=self.reclaim_batch,
            direct_reclaim_batch=self.direct_reclaim_batch,
            alloc_batch_pages=self.alloc_batch_pages,
            atomic_alloc_rate=self.atomic_alloc_rate,
            burst_alloc_rate=self.lam_burst if self.bursty else None,
            burst_start_rate=self.burst_start_rate if self.bursty else 0.0,
            burst_end_rate=self.burst_end_rate if self.bursty else 0.0,
        )


# --------------------------------------------------------------------------- event tables


@dataclass(frozen=True)
class EventTables:
    """Uniformised event selection: per regime r = kswapd + 2 x burst, the event types
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

    def prob(self, regime: int, ev: int) -> float:
        return self.mass[regime][ev] / _TWO64


def regime_rates(p: PressureParams) -> list[list[float]]:
    """rates[r][type] (events/s) for regimes r = kswapd + 2 x burst."""
    out = []
    for r in range(4):
        kw, bu = r & 1, r >> 1
        lam = p.lam_burst if bu == 1 else p.lam
        rates = [0.0] * N_EVENT_TYPES
        if bu == 1 and not p.bursty:
            out.append(rates)  # unreachable regime
            continue
        rates[EV_ALLOC] = lam / p.alloc_batch_pages
        rates[EV_FREE] = p.free_rate
        rates[EV_KSWAPD] = p.kswapd_rate if kw == 1 else 0.0
        rates[EV_GATHER] = p.gather_rate
        rates[EV_ATOMIC] = p.atomic_alloc_rate
        if p.bursty:
            rates[EV_PHASE] = p.burst_start_rate if bu == 0 else p.burst_end_rate
        if p.max_boost() > 0:
            rates[EV_BOOST] = p.boost_rate
        if p.rcu_grace_period_s > 0.0:
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
        if sum(m) > _TWO64:
            raise ValueError("event masses exceed 1")
        order = sorted((t for t in range(width) if m[t] > 0), key=lambda t: -m[t])
        cum = 0
        for j, t in enumerate(order):
            cum += m[t]
            ev_type[r, j] = t
            if cum >= _TWO64:
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
            c = _TWO64 if thr_always[r, j] else (int(thr_hi[r, j]) << 32) | int(thr_lo[r, j])
            cums.append((c, int(ev_type[r, j])))
        bounds = np.array([c for c, _ in cums] + [_TWO64 + 1], dtype=object)
        types = [t for _, t in cums] + [EV_DUMMY]
        lo = np.arange(nb, dtype=object) * width
        # event of value v: first j with v < C_j
        first_lo = np.searchsorted(bounds, lo, side="right")
        first_hi = np.searchsorted(bounds, lo + (width - 1), side="right")
        same = first_lo == first_hi
        guide[r, same] = np.array(types, dtype=np.int8)[first_lo[same].astype(np.int64)]
    return guide


def event_tables(p: PressureParams) -> EventTables:
    """The uniformised chain of ``p``: Lambda = the largest total rate over regimes, and
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
            c = math.floor(cum / lam * _TWO64)
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
    wd = _TWO64 - sum(w[t] for t in types)
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


def aggregate_tables(p: PressureParams, t: EventTables) -> tuple[Any, ...]:
    """Joint law of (net change of f, gathers) over AGG_STEPS[r] events of the calm
    regimes r = 0 (kswapd asleep) and 1 (awake), for the reference chain: the exact
    multinomial of the per-event fixed-point masses, as threshold tables.

    Returns (agg_on, guide, n, type, hi, lo, always, df, gathers, steps) for the
    kernels; ``agg_on`` is False (placeholder tables) off the reference chain.
    """
    allowed = {EV_ALLOC, EV_FREE, EV_GATHER, EV_KSWAPD}
    on = p.is_reference() and all(
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
        total = _TWO64 ** int(steps[r])
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


# --------------------------------------------------------------------------- plain kernel

INT_TALLIES = (
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
)
FLOAT_TALLIES = (
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
)
TI = {n: i for i, n in enumerate(INT_TALLIES)}
TF = {n: i for i, n in enumerate(FLOAT_TALLIES)}
_I_SEQ, _I_EVENTS, _I_STALLS, _I_WAKE, _I_GATH, _I_GFAIL, _I_FB, _I_AFAIL = range(8)
_F_BELOW, _F_BELOW2, _F_AWAKE, _F_AWAKE2 = range(4)
_F_STALL2, _F_WAKE2, _F_GATH2, _F_GFAIL2, _F_GFAILXG, _F_FB2, _F_AFAIL2 = range(4, 11)
_F_HELD, _F_HELD2 = 11, 12


@njit(cache=True)
def _pressure_block(
    k0,
    k1,
    block,
    n_seq,
    ip,
    n_warm_mean,
    n_hor_mean,
    guide,
    ev_n,
    ev_type,
    thr_hi,
    thr_lo,
    thr_always,
    agg,
    out_i,
    out_f,
):
    ev_st = stream_new(k0, k1, block, SUBSTREAM_EVENTS)
    cnt_st = stream_new(k0, k1, block, SUBSTREAM_COUNTS)
    cnt = np.zeros(N_COUNTERS, dtype=np.int64)
    events = 0
    for _ in range(n_seq):
        f = ip[IP_F0]
        kw = 0
        bu = 0
        bst = 0
        held = 0
        n_warm = poisson(cnt_st, n_warm_mean)
        n_hor = poisson(cnt_st, n_hor_mean)
        cnt[:] = 0
        f, kw, bu, bst, held = run_events(
            ev_st,
            n_warm,
            f,
            kw,
            bu,
            bst,
            held,
            ip,
            guide,
            ev_n,
            ev_type,
            thr_hi,
            thr_lo,
            thr_always,
            agg,
        )
        cnt[:] = 0
        f, kw, bu, bst, held, below, awake, held_sum = observe_events(
            ev_st,
            n_hor,
            f,
            kw,
            bu,
            bst,
            held,
            ip,
            guide,
            ev_n,
            ev_type,
            thr_hi,
            thr_lo,
            thr_always,
            agg,
            cnt,
        )
        events += n_warm + n_hor
        visits = float(n_hor + 1)
        fb = float(below) / visits
        fa = float(awake) / visits
        hm = float(held_sum) / visits
        out_i[_I_STALLS] += cnt[C_STALL]
        out_i[_I_WAKE] += cnt[C_WAKE]
        out_i[_I_GATH] += cnt[C_GATHER]
        out_i[_I_GFAIL] += cnt[C_GFAIL]
        out_i[_I_FB] += cnt[C_FALLBACK]
        out_i[_I_AFAIL] += cnt[C_AFAIL]
        out_f[_F_BELOW] += fb
        out_f[_F_BELOW2] += fb * fb
        out_f[_F_AWAKE] += fa
        out_f[_F_AWAKE2] += fa * fa
        out_f[_F_STALL2] += float(cnt[C_STALL]) ** 2
        out_f[_F_WAKE2] += float(cnt[C_WAKE]) ** 2
        out_f[_F_GATH2] += float(cnt[C_GATHER]) ** 2
        out_f[_F_GFAIL2] += float(cnt[C_GFAIL]) ** 2
        out_f[_F_GFAILXG] += float(cnt[C_GFAIL]) * float(cnt[C_GATHER])
        out_f[_F_FB2] += float(cnt[C_FALLBACK]) ** 2
        out_f[_F_AFAIL2] += float(cnt[C_AFAIL]) ** 2
        out_f[_F_HELD] += hm
        out_f[_F_HELD2] += hm * hm
    out_i[_I_SEQ] = n_seq
    out_i[_I_EVENTS] = events


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
    guide,
    ev_n,
    ev_type,
    thr_hi,
    thr_lo,
    thr_always,
    agg,
    n_int,
    n_float,
):
    """Per-block tallies (``INT_TALLIES``, ``FLOAT_TALLIES``) of plain trajectories."""
    out_i = np.zeros((n_blocks, n_int), dtype=np.int64)
    out_f = np.zeros((n_blocks, n_float), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        _pressure_block(
            k0,
            k1,
            block,
            n_seq,
            ip,
            n_warm_mean,
            n_hor_mean,
            guide,
            ev_n,
            ev_type,
            thr_hi,
            thr_lo,
            thr_always,
            agg,
            out_i[b],
            out_f[b],
        )
    return out_i, out_f


# --------------------------------------------------------------------------- wrapper


def pack_ip(p: PressureParams) -> tuple[int, ...]:
    """Integer parameters in the layout of ``pressure_kernels.IP_*`` (a tuple: kernels take
    it by value, with no reference counting in the event loop)."""
    ip = np.zeros(N_IP, dtype=np.int64)
    ip[IP_N] = p.managed_pages
    ip[IP_MIN] = p.wmark_min
    ip[IP_LOW] = p.wmark_low
    ip[IP_HIGH] = p.wmark_high
    ip[IP_R] = p.reclaim_batch
    ip[IP_D] = p.direct_reclaim_batch
    ip[IP_KB] = p.alloc_batch_pages
    ip[IP_TABLES] = p.tables_per_gather
    ip[IP_BATCH] = p.batch()
    ip[IP_RCU] = int(p.rcu_grace_period_s > 0.0)
    ip[IP_BOOST_PAGES] = p.boost_pages
    ip[IP_MAX_BOOST] = p.max_boost()
    ip[IP_AMARK] = atomic_min_mark(p.wmark_min)
    ip[IP_F0] = p.managed_pages if p.initial_free is None else p.initial_free
    return tuple(int(x) for x in ip)


@dataclass
class PreparedPressure:
    params: PressureParams
    ip: tuple[int, ...]
    tables: EventTables
    uses_tlb_remove_table: bool
    fallback_ipi: IpiTargets
    cache: dict[Any, Any] = field(default_factory=dict)


def _var(units: str, long_name: str, dtype: str = "float64") -> Variable:
    return Variable(units, long_name, dtype)


_EXACT_KEYS = (
    "nowait_fail_prob",
    "time_below_min_frac",
    "kswapd_awake_frac",
    "stalls_per_s",
    "kswapd_wakeups_per_s",
    "fallbacks_per_s",
    "sync_ipis_per_s",
    "atomic_fails_per_s",
    "split_nowait_fails_per_s",
)


def _variables() -> dict[str, Variable]:
    v = {
        "nowait_fail_prob": _var("1", "P(a gather's first GFP_NOWAIT batch-page attempt fails)"),
        "nowait_fail_prob_stderr": _var("1", "standard error of nowait_fail_prob"),
        "nowait_fail_prob_ci_low": _var("1", "95% interval low end of nowait_fail_prob"),
        "nowait_fail_prob_ci_high": _var("1", "95% interval high end of nowait_fail_prob"),
        "nowait_fail_prob_rel_err": _var("1", "relative standard error of nowait_fail_prob"),
        "nowait_fail_prob_ess": _var(
            "gathers", "effective sample size: p(1-p)/stderr^2 of nowait_fail_prob"
        ),
        "time_below_min_frac": _var("1", "fraction of time with free <= min (+boost)"),
        "time_below_min_frac_stderr": _var("1", "standard error of time_below_min_frac"),
        "kswapd_awake_frac": _var("1", "fraction of time kswapd is awake"),
        "kswapd_awake_frac_stderr": _var("1", "standard error of kswapd_awake_frac"),
        "stalls_per_s": _var("1/s", "direct-reclaim stalls per second"),
        "stalls_per_s_stderr": _var("1/s", "standard error of stalls_per_s"),
        "kswapd_wakeups_per_s": _var("1/s", "kswapd wake-ups per second"),
        "kswapd_wakeups_per_s_stderr": _var("1/s", "standard error of kswapd_wakeups_per_s"),
        "fallbacks_per_s": _var("1/s", "tlb_remove_table_one() fallbacks per second"),
        "fallbacks_per_s_stderr": _var("1/s", "standard error of fallbacks_per_s"),
        "sync_ipis_per_s": _var("IPIs/s", "fallback sync IPI deliveries per second"),
        "sync_ipis_per_s_stderr": _var("IPIs/s", "standard error of sync_ipis_per_s"),
        "atomic_fails_per_s": _var("1/s", "failed GFP_ATOMIC allocations per second"),
        "atomic_fails_per_s_stderr": _var("1/s", "standard error of atomic_fails_per_s"),
        "split_nowait_fails_per_s": _var(
            "1/s", "GFP_NOWAIT failures per second of on-demand split-time table allocations"
        ),
        "split_nowait_fails_per_s_stderr": _var("1/s", "standard error of the above"),
        "rcu_held_pages_mean": _var("pages", "mean batch pages waiting for a grace period"),
        "khugepaged_ipis_per_s": _var(
            "IPIs/s", "collapse_huge_page() sync IPI deliveries per second (exact)"
        ),
        "gathers": _var("gathers", "gathers simulated in counted time", "int64"),
        "sequences": _var("sequences", "trajectories (or importance cycles): sample size", "int64"),
        "events": _var("events", "uniformised events simulated (incl. warm-up)", "int64"),
        "uniformization_rate": _var("events/s", "Lambda of the uniformised chain"),
    }
    for k in _EXACT_KEYS:
        v[f"{k}_exact"] = _var(v[k].units, f"exact stationary value of {k}")
    return v


def _ratio(
    num: float, den: float, num_sq: float, den_sq: float, cross: float, n: int
) -> tuple[float, float]:
    """Ratio of means sum(x)/sum(y) with its delta-method standard error (i.i.d. pairs)."""
    if n < 2 or den <= 0.0:
        return (num / den if den > 0 else math.nan), math.nan
    r = num / den
    ybar = den / n
    ss = num_sq - 2.0 * r * cross + r * r * den_sq  # sum (x - r y)^2
    var = max(ss, 0.0) / (n - 1) / n
    return r, math.sqrt(var) / ybar


@register
class PressureModel(Model):
    """``model = "pressure"``: GFP_NOWAIT failures from the zone's free-page dynamics."""

    name = "pressure"
    Params = PressureParams
    int_tallies = INT_TALLIES
    float_tallies = FLOAT_TALLIES
    main_estimate = "nowait_fail_prob"
    variables = _variables()

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        return {
            "managed_pages": 40,
            "wmark_min": 4,
            "wmark_low": 6,
            "wmark_high": 8,
            "alloc_rate": 2.0,
            "free_rate": 1.0,
            "kswapd_rate": 0.1,
            "gather_rate": 0.5,
            "reclaim_batch": 4,
            "direct_reclaim_batch": 4,
            "warmup_s": 1.0,
            "horizon_s": 5.0,
        }

    def warmup(self) -> float:
        import time

        t0 = time.perf_counter()
        super().warmup()
        from mcstudy.models.pressure_rare import warmup_rare

        warmup_rare(self)
        return time.perf_counter() - t0

    def prepare(self, params: PressureParams) -> PreparedPressure:
        return PreparedPressure(
            params=params,
            ip=pack_ip(params),
            tables=event_tables(params),
            uses_tlb_remove_table=get_profile(params.kernel).uses_tlb_remove_table,
            fallback_ipi=params.fallback_ipi(),
        )

    def simulate(
        self,
        prepared: PreparedPressure,
        key: tuple[int, int],
        plan: BlockPlan,
        first_block: int,
        n_blocks: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        p = prepared.params
        if p.estimator == "importance":
            from mcstudy.models.pressure_rare import simulate_importance

            return simulate_importance(prepared, key, plan, first_block, n_blocks)
        t = prepared.tables
        return simulate_pressure_blocks(
            key[0],
            key[1],
            first_block,
            n_blocks,
            plan.block_size,
            plan.sequences,
            prepared.ip,
            t.rate * p.warmup_s,
            t.rate * p.horizon_s,
            t.guide,
            t.ev_n,
            t.ev_type,
            t.thr_hi,
            t.thr_lo,
            t.thr_always,
            t.agg,
            len(INT_TALLIES),
            len(FLOAT_TALLIES),
        )

    def estimates(self, prepared: PreparedPressure, tallies: Tallies) -> dict[str, float]:
        if prepared.params.estimator == "importance":
            from mcstudy.models.pressure_rare import importance_estimates

            out = importance_estimates(prepared, tallies)
        else:
            out = self._plain_estimates(prepared, tallies)
        p = prepared.params
        out["split_nowait_fails_per_s"] = p.thp_split_rate * out["time_below_min_frac"]
        out["split_nowait_fails_per_s_stderr"] = (
            p.thp_split_rate * out["time_below_min_frac_stderr"]
        )
        out["uniformization_rate"] = prepared.tables.rate
        out["events"] = int(tallies["events"])
        return out

    def _plain_estimates(self, prepared: PreparedPressure, tallies: Tallies) -> dict[str, float]:
        p = prepared.params
        n = int(tallies["sequences"])
        t = p.horizon_s

        def per_s(name: str, sq: str) -> tuple[float, float]:
            m = mean_from_sums(tallies[name], tallies[sq], n)
            return m.estimate / t, m.stderr / t

        below = mean_from_sums(tallies["below_frac"], tallies["below_frac_sq"], n)
        awake = mean_from_sums(tallies["awake_frac"], tallies["awake_frac_sq"], n)
        held = mean_from_sums(tallies["held_mean"], tallies["held_mean_sq"], n)
        stalls = per_s("stalls", "stalls_sq")
        wake = per_s("wakeups", "wakeups_sq")
        fb = per_s("fallbacks", "fallbacks_sq")
        afail = per_s("atomic_fails", "atomic_fails_sq")
        if not prepared.uses_tlb_remove_table:
            fb = (0.0, 0.0)
        ipi_mean = prepared.fallback_ipi.mean
        g = int(tallies["gathers"])
        fails = int(tallies["failing_gathers"])
        pf, se = _ratio(
            float(fails),
            float(g),
            tallies["failing_sq"],
            tallies["gathers_sq"],
            tallies["failing_x_gathers"],
            n,
        )
        if fails == 0:
            lo, hi = 0.0, math.nan
        else:
            lo, hi = max(0.0, pf - Z95 * se), min(1.0, pf + Z95 * se)
        return {
            "nowait_fail_prob": pf,
            "nowait_fail_prob_stderr": se,
            "nowait_fail_prob_ci_low": lo,
            "nowait_fail_prob_ci_high": hi,
            "nowait_fail_prob_rel_err": se / pf if pf > 0 else math.nan,
            "nowait_fail_prob_ess": pf * (1 - pf) / se**2 if se > 0 else math.nan,
            "time_below_min_frac": below.estimate,
            "time_below_min_frac_stderr": below.stderr,
            "kswapd_awake_frac": awake.estimate,
            "kswapd_awake_frac_stderr": awake.stderr,
            "stalls_per_s": stalls[0],
            "stalls_per_s_stderr": stalls[1],
            "kswapd_wakeups_per_s": wake[0],
            "kswapd_wakeups_per_s_stderr": wake[1],
            "fallbacks_per_s": fb[0],
            "fallbacks_per_s_stderr": fb[1],
            "sync_ipis_per_s": fb[0] * ipi_mean,
            "sync_ipis_per_s_stderr": fb[1] * ipi_mean,
            "atomic_fails_per_s": afail[0],
            "atomic_fails_per_s_stderr": afail[1],
            "rcu_held_pages_mean": held.estimate,
            "gathers": g,
            "sequences": n,
        }

    def derived(self, params: PressureParams) -> dict[str, float]:
        return {
            "khugepaged_ipis_per_s": params.khugepaged_collapse_rate * params.khugepaged_ipi().mean
        }

    def exact(self, params: PressureParams) -> dict[str, float]:
        chain = params.exact_chain()
        if chain is None or params.managed_pages > EXACT_MAX_PAGES:
            return {}
        try:
            st = solve(chain)
        except ValueError:
            return {}
        uses = get_profile(params.kernel).uses_tlb_remove_table
        fb = params.gather_rate * params.tables_per_gather * st.below_min_prob if uses else 0.0
        return {
            "nowait_fail_prob_exact": st.below_min_prob,
            "time_below_min_frac_exact": st.below_min_prob,
            "kswapd_awake_frac_exact": st.kswapd_awake_prob,
            "stalls_per_s_exact": st.stalls_per_s,
            "kswapd_wakeups_per_s_exact": st.kswapd_wakeups_per_s,
            "fallbacks_per_s_exact": fb,
            "sync_ipis_per_s_exact": fb * params.fallback_ipi().mean,
            "atomic_fails_per_s_exact": st.atomic_fails_per_s,
            "split_nowait_fails_per_s_exact": params.thp_split_rate * st.below_min_prob,
        }
