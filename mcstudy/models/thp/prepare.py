"""One point of the THP model packed for its kernels (``docs/model.md`` §5)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcstudy.engine.rng import probability_threshold
from mcstudy.exact.thp import (
    IpiInput,
    PopulationInput,
    cache_level_law,
    env_generator,
    iso_round_prob,
    population_exact,
    sojourn_mean,
)
from mcstudy.kernel.ipi import ipi_targets
from mcstudy.kernel.policies import table_policy
from mcstudy.mechanisms import rt_ipi as R
from mcstudy.models.thp import kernels as KB
from mcstudy.models.thp import population as K
from mcstudy.models.thp.params import LIFETIME_DISTS, ThpParams


def _threshold_rows(probs: list[float]) -> np.ndarray:
    out = np.zeros((len(probs), 3), dtype=np.uint64)
    for i, p in enumerate(probs):
        hi, lo, always = probability_threshold(p)
        out[i] = (hi, lo, int(always))
    return out


@dataclass(frozen=True)
class PreparedThp:
    """Packed kernel inputs plus what the estimators need."""

    params: ThpParams
    fp: K.PopFloats
    ip: K.PopInts
    """the population's parameters (``pack_population``)"""
    arrays: tuple[np.ndarray, ...]
    center: float
    """reference level of the deposit's moments: the stationary mean of the start law
    (tables), so that the moments about it keep their precision"""
    cycles: int
    round_targets_mean: float  # mean deliveries of one round, all CPUs


def population_input(p: ThpParams) -> PopulationInput:
    """The exact solver's view of the population parameters."""
    return PopulationInput(
        fault_rate=p.fault_rate,
        zero_fault_rate=p.zero_fault_rate,
        collapse_rate=p.collapse_rate,
        lifetime_s=p.lifetime_s,
        lifetime_dist=p.lifetime_dist,
        lifetime_shape=p.lifetime_shape,
        sig=np.array(p.split_rates(), dtype=float),
        fork_rate=p.fork_rate,
        fork_copy_prob=p.fork_copy_prob,
        fork_child_lifetime_s=p.fork_child_lifetime_s,
        pressure_fraction=p.pressure_fraction,
        pressure_episode_s=p.pressure_episode_s,
    )


def ipi_input(p: ThpParams, cycles: int) -> IpiInput:
    """The exact solver's view of the IPI parameters."""
    prof = p.profile()
    return IpiInput(
        collapse_rate=p.collapse_rate,
        collapse_policy=p.collapse_policy,
        deposit=table_policy(p.table_policy).deposit,
        fresh_nowait=p.fresh_table_gfp == "nowait",
        khugepaged_sync=prof.khugepaged_sync_ipi,
        uses_trt=prof.uses_tlb_remove_table,
        fallback_ipi=prof.fallback_sends_ipi,
        ipi_policy=p.ipi_policy,
        gather_rate=p.gather_rate,
        tables_per_gather=p.tables_per_gather,
        max_table_batch=p.batch(),
        nowait_p=(p.gfp_nowait_fail_p, p.pressure_fail_p),
        rt_mm_share=p.rt_mm_share,
        kernel_prob=1.0 - p.rt_user_fraction,
        pressure_fraction=p.pressure_fraction,
        pressure_episode_s=p.pressure_episode_s,
        rt_cycle_s=p.rt_cycle_us * 1e-6,
        sync_round_s=p.spacing_us() * 1e-6,
        cycles=cycles,
    )


def rt_cycles(p: ThpParams) -> int:
    """Whole RT cycles in the measured window."""
    return math.floor(p.horizon_s / (p.rt_cycle_us * 1e-6) * (1.0 + 1e-12))


def split_rate_exact(p: ThpParams, pop: Any, pi: np.ndarray) -> tuple[float, float]:
    """(splits/s, on-demand split failures/s), exact where ``pop.exact``."""
    sig = np.array(p.split_rates())
    fail = np.array(p.split_fail_p())
    splits = float(np.sum(sig * pop.means))
    failures = float(np.sum(sig * pop.means * fail[None, :]))
    return splits, failures


def cache_exact_applies(p: ThpParams) -> bool:
    """Splits form a Poisson process independent of the environment (see exact.thp)."""
    sig = p.split_rates()
    unmodulated = p.pressure_fraction == 0.0 or all(s[0] == s[1] for s in sig)
    return unmodulated and (p.fork_rate == 0.0 or p.fork_copy_prob == 0.0)


def pack_population(
    p: ThpParams, q: np.ndarray, center: float, split_cpus: int
) -> tuple[K.PopFloats, K.PopInts]:
    """The population kernels' parameters ``(fp, ip)`` (units in ``population.PopFloats``
    and ``PopInts``): ``p`` with the environment's generator ``q`` (1/s), the deposit
    moments' reference level (tables) and the CPUs splits run on. The only place either
    is built: every field is converted to float or int, so the kernels see one signature."""
    fp = K.PopFloats(
        t0=float(p.warmup_s),
        t1=float(p.warmup_s + p.horizon_s),
        to_pressure=float(q[0, 1]),
        to_calm=float(q[1, 0]),
        phi=float(p.pressure_fraction),
        fork_rate=float(p.fork_rate),
        fork_q=float(p.fork_copy_prob),
        life_mean=float(p.lifetime_s),
        life_shape=float(p.lifetime_shape),
        collapse_rate=float(p.collapse_rate),
        refill=float(p.cache_refill_rate),
        center=float(center),
    )
    ip = K.PopInts(
        individual=int(p.lifetime_dist != "exponential"),
        dist=int(LIFETIME_DISTS.index(p.lifetime_dist)),
        policy=int(table_policy(p.table_policy).code),
        cache_k=int(p.cache_k),
        split_cpus=int(split_cpus),
    )
    return fp, ip


def prepare(params: ThpParams) -> PreparedThp:
    """Pack ``params`` for the kernels: the stationary start law, the deposit histogram
    window, the cache level law and the RT side's parameters."""
    p = params
    q, pi = env_generator(p.pressure_fraction, p.pressure_episode_s)
    pop = population_exact(population_input(p))
    individual = p.lifetime_dist != "exponential"
    sig = np.array(p.split_rates(), dtype=float)
    sig_init = (sig * pi[None, :]).sum(axis=1)
    m0 = pop.conditional(pi)
    if individual:
        # stationary start of classes 0 and 1 with the time-average split rate
        arr = [p.fault_rate + p.collapse_rate, p.zero_fault_rate]
        for c in range(2):
            m = arr[c] * sojourn_mean(p.lifetime_dist, p.lifetime_s, p.lifetime_shape, sig_init[c])
            m0[c, :] = m
    # deposit moments are taken about the stationary mean of the start law
    center = float(round((m0 * pi[None, :]).sum()))
    # cache levels: stationary law under the mean split rate
    split_cpus = p.n_split_cpus()
    splits_s, _ = split_rate_exact(p, pop, pi)
    law = cache_level_law(p.cache_k, p.cache_refill_rate, splits_s / split_cpus)
    cache_cdf = np.cumsum(law)
    prof = p.profile()
    fp, ip = pack_population(p, q, center, split_cpus)
    lam = np.array([p.fault_rate, p.zero_fault_rate, 0.0])
    mu = np.array([1.0 / p.lifetime_s, 1.0 / p.lifetime_s, 1.0 / p.fork_child_lifetime_s])
    th = _threshold_rows(list(p.split_fail_p()))
    cycles = rt_cycles(p)
    rp = R.rt_params(
        prof,
        collapse=p.collapse_policy,
        ipi=p.ipi_policy,
        deposit=table_policy(p.table_policy).deposit,
        fresh_nowait=p.fresh_table_gfp == "nowait",
        tables=p.tables_per_gather,
        batch=p.batch(),
        cycles=cycles,
        hist=KB.RT_HIST,
        gather_rate=p.gather_rate,
        cycle_us=p.rt_cycle_us,
        spacing_us=p.spacing_us(),
    )
    rth = _threshold_rows(
        [p.gfp_nowait_fail_p, p.pressure_fail_p, p.rt_mm_share, 1.0 - p.rt_user_fraction]
    )
    hk = ipi_targets(p.ipi_policy, p.housekeeping_cpus(), p.mm_cpus, p.kernel_mode_fraction).mean
    q1 = iso_round_prob(ipi_input(p, cycles))
    arrays = (lam, mu, sig, m0, sig_init, th, cache_cdf, rp, rth)
    return PreparedThp(
        params=p,
        fp=fp,
        ip=ip,
        arrays=arrays,
        center=center,
        cycles=cycles,
        round_targets_mean=hk + p.isolated_cpus * q1,
    )
