"""One point of the host study packed for its kernel (``docs/model.md`` §11.5-§11.8).

The zone chain's exact stationary law (``mcstudy.exact.pressure``) is solved once per
distinct chain (and kept on disk, ``mcstudy.exact.stored``): the start of every sequence
is drawn from it, and the exact columns use it. The zone's path is its jump chain, whose
rates are the pressure model's per regime (``zone_jump.jump_rates``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from mcstudy.engine.rng import probability_threshold
from mcstudy.exact.pressure import ZoneChain, ZoneStationary, solve_truncated
from mcstudy.exact.stored import zone_law
from mcstudy.exact.thp import cache_level_law
from mcstudy.mechanisms import rt_ipi as R
from mcstudy.mechanisms import zone_events as E
from mcstudy.mechanisms.zone_grid import levels
from mcstudy.models.host import kernels as KH
from mcstudy.models.host import thps as T
from mcstudy.models.host.params import HostParams, HostSetup
from mcstudy.models.host.zone_jump import jump_rates


@dataclass(frozen=True)
class PreparedHost:
    """Packed kernel inputs and what the estimators need."""

    params: HostParams
    setup: HostSetup
    stationary: ZoneStationary
    cycles: int
    zone: tuple
    """the zone's integer parameters (``zone_events.ZoneInts``) and its event rates per
    regime and move tables (``zone_jump.jump_rates``)"""
    arrays: KH.HostArrays


@functools.lru_cache(maxsize=8)
def cut_chain(chain: ZoneChain) -> ZoneChain:
    """The zone the study simulates: ``chain`` cut at N' = high + a margin when its law puts
    less than ``TRUNCATION_MASS`` within four batches of N' (``exact.pressure:
    solve_truncated()``'s rule, docs/model.md §4.8, §11.5: below the cap the chain does
    not know N), else ``chain`` itself. The laws tried are kept on disk
    (``mcstudy.exact.stored``), so a later run reads them."""
    return solve_truncated(chain, solver=zone_law)[0]


@functools.lru_cache(maxsize=8)
def zone_stationary(chain: ZoneChain) -> tuple[ZoneStationary, np.ndarray]:
    """The exact stationary law of the simulated zone (``cut_chain(chain)``) and its
    cumulative distribution over the states (stalled tasks, phase, kswapd, level),
    memoised per chain (and kept on disk between runs: ``mcstudy.exact.stored``)."""
    z = zone_law(cut_chain(chain))
    cdf = np.cumsum(z.pi.ravel())
    cdf /= cdf[-1]
    return z, cdf


def pack_zone(s: HostSetup) -> E.ZoneInts:
    """The simulated chain's integer parameters as the kernels take them (single-page
    allocations; gathers are the IPI side's, not zone events)."""
    return E.zone_ints(cut_chain(s.chain), atomic_mark=s.atomic_mark)


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


def ipi_params(p: HostParams, tables_per_gather: int, gather_rate: float) -> np.ndarray:
    """``rt_ipi.RT_PARAMS`` records of every IPI variant (``KH.IPI_VARIANTS``), in that
    order."""
    prof = p.profile()
    return np.concatenate(
        [
            R.rt_params(
                prof,
                collapse=col,
                ipi=ipi,
                deposit=True,  # mainline deposits: khugepaged's fresh table is a deposit
                fresh_nowait=p.fresh_table_gfp == "nowait",
                tables=tables_per_gather,
                batch=p.batch(),
                cycles=rt_cycles(p),
                hist=KH.RT_HIST,
                gather_rate=gather_rate,
                cycle_us=p.rt_cycle_us,
                spacing_us=p.spacing_us(),
            )
            for ipi, col in KH.IPI_VARIANTS
        ]
    )


def prepare(params: HostParams) -> PreparedHost:
    """Pack ``params``: stationary start, event tables, THP and IPI parameters."""
    p = params
    s = p.setup()
    stat, cdf = zone_stationary(s.chain)
    zone = (pack_zone(s), jump_rates(s.chain))  # gathers are the IPI side's: rate 0
    cpus = p.n_split_cpus()
    splits_s = split_rate_per_s(p, s, stat.kswapd_awake_prob)
    mu = 1.0 / p.thp_lifetime_s
    arrivals = s.thp_fault_rate + p.khugepaged_collapse_rate
    sig_avg = s.split_rate_per_thp + p.reclaim_split_rate * stat.kswapd_awake_prob
    thp = T.ThpRates(
        fault_rate=float(s.thp_fault_rate),
        zap_rate=mu,
        split_rate=float(s.split_rate_per_thp),
        reclaim_split_rate=float(p.reclaim_split_rate),
        initial_mean=arrivals / (mu + sig_avg),
        refill_rate=float(p.cache_refill_rate),
        horizon_s=float(p.horizon_s),
        split_cpus=int(cpus),
        refill_nowait=int(p.refill_gfp == "nowait"),
    )
    ks = np.array(KH.TABLE_KS, dtype=np.int64)
    cdfs = np.ones((len(ks), max(ks) + 1))
    for v, k in enumerate(ks):
        if k > 0:
            cdfs[v, : k + 1] = np.cumsum(cache_level_law(k, p.cache_refill_rate, splits_s / cpus))
    rth = _thresholds([0.0, 1.0, p.rt_mm_share, 1.0 - p.rt_user_fraction])
    pos = levels(cut_chain(s.chain))
    span = KH.HostSpan(
        levels=int(pos.size),
        atomic_mark=int(s.atomic_mark),
        horizon_s=float(p.horizon_s),
        collapse_rate=float(p.khugepaged_collapse_rate),
    )
    arrays = KH.HostArrays(
        cdf=cdf,
        pos=pos,
        span=span,
        thp=thp,
        ks=ks,
        cdfs=cdfs,
        ipi=ipi_params(p, s.tables_per_gather, s.zone.gather_rate),
        rth=rth,
        stall=E.stall_arrays(s.chain),
    )
    return PreparedHost(
        params=p,
        setup=s,
        stationary=stat,
        cycles=rt_cycles(p),
        zone=zone,
        arrays=arrays,
    )
