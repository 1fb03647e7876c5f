"""One point of the host study packed for its kernel (``docs/model.md`` §11.5-§11.8).

The zone chain's exact stationary law (``mcstudy.exact.pressure``) is solved once per
distinct chain (and kept on disk, ``mcstudy.exact.stored``) (the start of every sequence is drawn from it, and the exact
columns use it); the event tables are the pressure model's (``zone_tables.event_tables`` of the chain).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from mcstudy.engine.rng import probability_threshold
from mcstudy.exact.pressure import ZoneChain, ZoneStationary
from mcstudy.exact.stored import zone_law
from mcstudy.exact.thp import cache_level_law
from mcstudy.kernel.policies import collapse_policy, ipi_policy
from mcstudy.mechanisms import rt_ipi as R
from mcstudy.mechanisms import zone_events as E
from mcstudy.mechanisms.zone_tables import EventTables, event_tables
from mcstudy.models.host import kernels as KH
from mcstudy.models.host import thps as T
from mcstudy.models.host.params import HostParams, HostSetup


@dataclass(frozen=True)
class PreparedHost:
    """Packed kernel inputs and what the estimators need."""

    params: HostParams
    setup: HostSetup
    stationary: ZoneStationary
    uniformization_rate: float
    cycles: int
    zone: tuple
    """the zone's integer parameters (``zone_events.ZoneInts``) and event tables"""
    arrays: tuple


@functools.lru_cache(maxsize=8)
def zone_stationary(chain: ZoneChain) -> tuple[ZoneStationary, np.ndarray]:
    """The chain's exact stationary law and its cumulative distribution over the states
    (phase, kswapd, free pages), memoised per chain (and kept on disk between runs:
    ``mcstudy.exact.stored``)."""
    z = zone_law(chain)
    cdf = np.cumsum(z.pi.ravel())
    cdf /= cdf[-1]
    return z, cdf


def pack_zone(s: HostSetup) -> E.ZoneInts:
    """The simulated chain's integer parameters as the kernels take them (single-page
    allocations; gathers are the IPI side's, not zone events)."""
    return E.zone_ints(s.chain, atomic_mark=s.atomic_mark)


def _thresholds(probs: list[float]) -> np.ndarray:
    out = np.zeros((len(probs), 3), dtype=np.uint64)
    for i, q in enumerate(probs):
        hi, lo, always = probability_threshold(q)
        out[i] = (hi, lo, int(always))
    return out


def rt_cycles(p: HostParams) -> int:
    """Whole RT cycles in a sequence."""
    return math.floor(p.horizon_s / (p.rt_cycle_us * 1e-6) * (1.0 + 1e-12))


def split_rate_per_s(p: HostParams, s: HostSetup, awake_frac: float) -> float:
    """Stationary PMD splits per second (reclaim splits at their time-average rate)."""
    arrivals = s.thp_fault_rate + p.khugepaged_collapse_rate
    sig = s.split_rate_per_thp + p.reclaim_split_rate * awake_frac
    mu = 1.0 / p.thp_lifetime_s
    return sig * arrivals / (mu + sig) if arrivals > 0 else 0.0


def ipi_rows(p: HostParams) -> np.ndarray:
    """``rip`` of every IPI variant (``KH.IPI_VARIANTS``), one row each."""
    prof = p.profile()
    rows = np.zeros((len(KH.IPI_VARIANTS), R.N_RIP), dtype=np.int64)
    for v, (ipi, col) in enumerate(KH.IPI_VARIANTS):
        r = rows[v]
        r[R.R_COLLAPSE_POLICY] = collapse_policy(col).code
        r[R.R_DEPOSIT] = 1  # mainline deposits: khugepaged's fresh table is a deposit
        r[R.R_FRESH_NOWAIT] = int(p.fresh_table_gfp == "nowait")
        r[R.R_KHUGEPAGED_SYNC] = int(prof.khugepaged_sync_ipi)
        r[R.R_USES_TRT] = int(prof.uses_tlb_remove_table)
        r[R.R_FALLBACK_IPI] = int(prof.fallback_sends_ipi)
        r[R.R_IPI_POLICY] = ipi_policy(ipi).code
        r[R.R_TABLES] = 0  # set below
        r[R.R_BATCH] = p.batch()
        r[R.R_CYCLES] = rt_cycles(p)
        r[R.R_HIST] = KH.RT_HIST
    return rows


def prepare(params: HostParams) -> PreparedHost:
    """Pack ``params``: stationary start, event tables, THP and IPI parameters."""
    p = params
    s = p.setup()
    stat, cdf = zone_stationary(s.chain)
    tables: EventTables = event_tables(s.chain)  # gathers are the IPI side's: rate 0
    zone = (
        pack_zone(s),
        tables.guide,
        tables.ev_n,
        tables.ev_type,
        tables.thr_hi,
        tables.thr_lo,
        tables.thr_always,
        tables.agg,
    )
    cpus = p.n_split_cpus()
    splits_s = split_rate_per_s(p, s, stat.kswapd_awake_prob)
    pf = np.zeros(T.N_PF)
    pf[T.P_LAM] = s.thp_fault_rate
    pf[T.P_MU] = 1.0 / p.thp_lifetime_s
    pf[T.P_SIG] = s.split_rate_per_thp
    pf[T.P_SIG_R] = p.reclaim_split_rate
    mu = 1.0 / p.thp_lifetime_s
    arrivals = s.thp_fault_rate + p.khugepaged_collapse_rate
    sig_avg = s.split_rate_per_thp + p.reclaim_split_rate * stat.kswapd_awake_prob
    pf[T.P_M0] = arrivals / (mu + sig_avg)
    pf[T.P_REFILL] = p.cache_refill_rate
    pf[T.P_HORIZON] = p.horizon_s
    qi = np.zeros(T.N_QI, dtype=np.int64)
    qi[T.Q_SPLIT_CPUS] = cpus
    qi[T.Q_REFILL_NOWAIT] = int(p.refill_gfp == "nowait")
    ks = np.array(KH.TABLE_KS, dtype=np.int64)
    cdfs = np.ones((len(ks), max(ks) + 1))
    for v, k in enumerate(ks):
        if k > 0:
            cdfs[v, : k + 1] = np.cumsum(cache_level_law(k, p.cache_refill_rate, splits_s / cpus))
    rips = ipi_rows(p)
    rips[:, R.R_TABLES] = s.tables_per_gather
    rfp = np.zeros(R.N_RFP)
    rfp[R.Q_GATHER_RATE] = s.zone.gather_rate
    rfp[R.Q_CYCLE] = p.rt_cycle_us * 1e-6
    rfp[R.Q_SPACING] = p.spacing_us() * 1e-6
    rth = _thresholds([0.0, 1.0, p.rt_mm_share, 1.0 - p.rt_user_fraction])
    zi = np.zeros(2, dtype=np.int64)
    zi[KH.Z_NF] = s.chain.managed_pages + 1
    zi[KH.Z_AMARK] = s.atomic_mark
    zf = np.zeros(3)
    zf[KH.Z_EVENTS_MEAN] = tables.rate * p.horizon_s
    zf[KH.Z_HORIZON] = p.horizon_s
    zf[KH.Z_COLLAPSE_RATE] = p.khugepaged_collapse_rate
    arrays = (
        cdf,
        zi,
        zf,
        pf,
        qi,
        ks,
        cdfs,
        rips,
        rfp,
        rth,
    )
    return PreparedHost(
        params=p,
        setup=s,
        stationary=stat,
        uniformization_rate=tables.rate,
        cycles=rt_cycles(p),
        zone=zone,
        arrays=arrays,
    )
