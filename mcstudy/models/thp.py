"""The THP model (``model = "thp"``): deposited page tables, on-demand split allocations,
and the synchronous IPIs that isolated real-time CPUs receive (MODEL.md 2.3, 2.4, 3, 5.3).

A sequence is ``horizon_s`` seconds of one host (after ``warmup_s``), started from the
stationary state. It simulates, with common random numbers across policies:

* pressure episodes (a two-state chain: a fraction ``pressure_fraction`` of the time,
  mean ``pressure_episode_s``) that set the GFP_NOWAIT / GFP_ATOMIC failure probabilities
  and switch on ``deferred_split_rate``;
* the PMD-mapped THPs (faults, huge-zero-page faults, khugepaged collapses, fork copies;
  zaps and splits) and their deposited tables (``mcstudy.models.thp_kernels``);
* the table a split needs under ``table_policy``: ``deposit`` withdraws it, ``on_demand``
  allocates it under the PMD lock (``split_gfp``), ``cache_k`` takes it from a per-CPU
  cache of ``cache_k`` tables refilled at ``cache_refill_rate`` and falls back to that
  allocation when the cache is empty. A failed allocation is counted; the split then
  completes through a slow path, so the population is the same under every policy;
* khugepaged's IPIs under ``collapse_policy`` and the ``tlb_remove_table()`` fallback
  rounds of munmap gathers, as seen by one tagged isolated CPU
  (``mcstudy.models.thp_rt``).

Outputs ``deposit_*`` describe the tables mainline's deposit holds for the simulated THPs
(the same population under every policy); ``reserve_bytes_mean`` is what the chosen
``table_policy`` holds (deposits, cached tables, or nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from mcstudy.engine.blocks import BlockPlan, Tallies
from mcstudy.engine.rng import probability_threshold
from mcstudy.exact.thp import (
    PAGE_TABLE_BYTES,
    PMD_MAP_BYTES,
    IpiInput,
    PopulationInput,
    cache_chain_mmpp,
    cache_level_law,
    env_generator,
    expected_max_of_iid,
    ipi_exact,
    iso_round_prob,
    pmf_quantile,
    poisson_quantile,
    population_exact,
    sojourn_mean,
)
from mcstudy.kernel.ipi import ipi_targets
from mcstudy.kernel.profiles import get_profile
from mcstudy.models import thp_kernels as K
from mcstudy.models import thp_rt as R
from mcstudy.models.base import Model, Variable, register
from mcstudy.models.thp_blocks import simulate_thp_blocks
from mcstudy.models.thp_params import COLLAPSE_POLICIES, LIFETIME_DISTS, TABLE_POLICIES, ThpParams
from mcstudy.stats import Z95, mean_from_sums, wilson

HIST_BINS = 128  # inner bins of the deposit histogram
RT_HIST = 1024  # per-cycle counts 0..1023 exact, then overflow
SECONDS_PER_HOUR = 3600.0

INT_TALLIES = (
    "sequences",
    "splits",
    "split_failures",
    "cache_misses",
    "thp_end",
    "thp_end_sq",
    "deposit_peak",
    "deposit_peak_sq",
    "collapses",
    "collapse_rounds",
    "collapse_iso",
    "fresh_failures",
    "rcu_frees",
    "gathers",
    "fallbacks",
    "fallback_rounds",
    "fallback_iso",
    "rt_cycles",
    "rt_hit_cycles",
    "rt_max_sum",
    *(f"rt_cycle_hist_{k:04d}" for k in range(RT_HIST + 1)),
)
FLOAT_TALLIES = (
    "splits_sq",
    "split_failures_sq",
    "thp_avg",
    "thp_avg_sq",
    "deposit_avg",
    "deposit_avg_sq",
    "reserve_avg",
    "reserve_avg_sq",
    "cache_misses_sq",
    "cache_misses_splits",
    *(f"deposit_cdf_{b:03d}" for b in range(HIST_BINS + 2)),
    *(f"deposit_cdf_sq_{b:03d}" for b in range(HIST_BINS + 2)),
    "collapse_rounds_sq",
    "fallback_rounds_sq",
    "iso_sq",
    "rt_max_sq",
    "fresh_failures_sq",
    "rcu_frees_sq",
    "rt_hits_sq",
    "fallbacks_sq",
    "collapse_iso_sq",
    "fallback_iso_sq",
)
_N_POP_FLOAT_ALL = K.N_POP_FLOAT + 2 * (HIST_BINS + 2)
assert len(INT_TALLIES) == K.N_POP_INT + R.N_RT_INT + RT_HIST + 1
assert len(FLOAT_TALLIES) == _N_POP_FLOAT_ALL + R.N_RT_FLOAT


# --------------------------------------------------------------------------- wrapper


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
    arrays: tuple[np.ndarray, ...]
    hist_lo: float
    hist_width: float
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
    prof = get_profile(p.kernel)
    return IpiInput(
        collapse_rate=p.collapse_rate,
        collapse_policy=p.collapse_policy,
        deposit=p.table_policy == "deposit",
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


def _split_rate_exact(p: ThpParams, pop: Any, pi: np.ndarray) -> tuple[float, float]:
    """(splits/s, on-demand split failures/s), exact where ``pop.exact``."""
    sig = np.array(p.split_rates())
    fail = np.array(p.split_fail_p())
    splits = float(np.sum(sig * pop.means))
    failures = float(np.sum(sig * pop.means * fail[None, :]))
    return splits, failures


def _cache_exact_applies(p: ThpParams) -> bool:
    """Splits form a Poisson process independent of the environment (see exact.thp)."""
    sig = p.split_rates()
    unmodulated = p.pressure_fraction == 0.0 or all(s[0] == s[1] for s in sig)
    return unmodulated and (p.fork_rate == 0.0 or p.fork_copy_prob == 0.0)


def _var(units: str, long_name: str, dtype: str = "float64") -> Variable:
    return Variable(units, long_name, dtype)


def _variables() -> dict[str, Variable]:
    v: dict[str, Variable] = {}

    def add(name: str, units: str, long_name: str, *, se: bool = False, ci: bool = False) -> None:
        v[name] = _var(units, long_name)
        if se:
            v[f"{name}_stderr"] = _var(units, f"standard error of {name}")
        if ci:
            v[f"{name}_ci_low"] = _var(units, f"95% interval low end of {name}")
            v[f"{name}_ci_high"] = _var(units, f"95% interval high end of {name}")

    add(
        "thp_mean",
        "mappings",
        "time-average PMD-mapped THPs (incl. huge zero page, fork copies)",
        se=True,
    )
    add("thp_end_mean", "mappings", "PMD-mapped THPs at the end of a sequence", se=True)
    add("thp_end_var", "mappings^2", "variance of PMD-mapped THPs at the end of a sequence")
    add(
        "pmd_mapped_bytes_mean",
        "bytes",
        "time-average PMD-mapped memory (2 MiB per mapping)",
        se=True,
    )
    add(
        "deposit_bytes_mean",
        "bytes",
        "time-average page tables deposited (mainline deposit)",
        se=True,
    )
    add("deposit_bytes_p99", "bytes", "99th percentile over time of the deposited tables", ci=True)
    add(
        "deposit_bytes_peak",
        "bytes",
        "largest deposit over one horizon (mean over sequences)",
        se=True,
    )
    add("deposit_page_seconds", "page s/h", "deposited page-seconds per hour of host time", se=True)
    add(
        "deposit_share_of_thp",
        "1",
        "deposited table bytes / PMD-mapped bytes (1/512 under deposit)",
    )
    add("deposit_hist_bin_bytes", "bytes", "bin width of the deposit histogram behind the p99")
    add(
        "reserve_bytes_mean",
        "bytes",
        "tables the table_policy holds for splits (deposits, cache, none)",
        se=True,
    )
    add("splits_per_hour", "splits/h", "PMD splits per hour", se=True)
    add(
        "split_alloc_failures_per_hour",
        "failures/h",
        "failed split-time table allocations per hour",
        se=True,
        ci=True,
    )
    add(
        "split_cache_miss_prob",
        "1",
        "P(a split needs an allocation: no deposit, cache empty)",
        ci=True,
    )
    add(
        "collapse_sync_per_s", "rounds/s", "sync IPI rounds caused by khugepaged collapses", se=True
    )
    add(
        "collapse_ipis_per_s",
        "IPIs/s",
        "IPIs delivered (all CPUs) from khugepaged's rounds",
        se=True,
    )
    add(
        "fallback_sync_per_s",
        "rounds/s",
        "tlb_remove_table_one() rounds from munmap gathers",
        se=True,
    )
    add(
        "fallback_ipis_per_s",
        "IPIs/s",
        "IPIs delivered (all CPUs) from munmap fallback rounds",
        se=True,
    )
    add(
        "fallbacks_per_s",
        "tables/s",
        "tlb_remove_table_one() fallbacks in munmap gathers",
        se=True,
    )
    add("isolated_cpu_ipis_per_s", "IPIs/s", "IPIs reaching one isolated CPU", se=True)
    add("isolated_collapse_ipis_per_s", "IPIs/s", "of which from khugepaged", se=True)
    add("isolated_fallback_ipis_per_s", "IPIs/s", "of which from munmap fallbacks", se=True)
    add(
        "fresh_alloc_failures_per_hour",
        "failures/h",
        "failed fresh deposit-table allocations in khugepaged",
        se=True,
    )
    add(
        "rcu_held_bytes_mean",
        "bytes",
        "page tables waiting for an RCU grace period (Little's law)",
        se=True,
    )
    add("rt_cycle_hit_prob", "1", "P(an RT cycle sees >= 1 IPI)", ci=True)
    add("rt_cycle_ipis_p99", "IPIs", "99th percentile of IPIs in one RT cycle", ci=True)
    add(
        "rt_cycle_ipis_max",
        "IPIs",
        "largest IPI count in one RT cycle over a horizon (mean)",
        se=True,
    )
    add("rt_cycle_ipis_max_all", "IPIs", "largest IPI count in one RT cycle over all sequences")
    add(
        "rt_added_latency_us_p99",
        "us",
        "99th percentile of the latency IPIs add to an RT cycle",
        ci=True,
    )
    add(
        "rt_added_latency_us_p9999",
        "us",
        "99.99th percentile of the latency IPIs add to an RT cycle",
        ci=True,
    )
    add(
        "rt_added_latency_us_max",
        "us",
        "largest latency IPIs added to one RT cycle (all sequences)",
    )
    add(
        "split_alloc_failures_per_hour_mmpp",
        "failures/h",
        "split failures with splits as a Markov-modulated Poisson process at the conditional "
        "mean THP count (exact as the population grows)",
    )
    add("split_cache_miss_prob_mmpp", "1", "P(a split needs an allocation), same approximation")
    v["sequences"] = _var("sequences", "simulated sequences (sample size)", "int64")
    v["rt_cycles"] = _var(
        "cycles", "RT cycles observed (sample size of the cycle estimates)", "int64"
    )
    v["splits"] = _var("splits", "splits observed (sample size of split_cache_miss_prob)", "int64")
    for name, units, long_name in (
        ("thp_mean_exact", "mappings", "stationary mean of PMD-mapped THPs"),
        ("thp_var_exact", "mappings^2", "stationary variance (Poisson cases)"),
        ("deposit_bytes_mean_exact", "bytes", "stationary mean deposit"),
        ("deposit_bytes_p99_exact", "bytes", "99th percentile of the deposit (Poisson cases)"),
        ("deposit_share_of_thp_exact", "1", "one 4 KiB table per 2 MiB mapping"),
        ("reserve_bytes_mean_exact", "bytes", "mean tables the table_policy holds"),
        ("splits_per_hour_exact", "splits/h", "stationary split rate"),
        ("split_alloc_failures_per_hour_exact", "failures/h", "stationary split failure rate"),
        ("split_cache_miss_prob_exact", "1", "P(a split needs an allocation)"),
        ("collapse_sync_per_s_exact", "rounds/s", "khugepaged rounds per second"),
        ("collapse_ipis_per_s_exact", "IPIs/s", "khugepaged IPI deliveries per second"),
        ("fallback_sync_per_s_exact", "rounds/s", "munmap fallback rounds per second"),
        ("fallback_ipis_per_s_exact", "IPIs/s", "munmap fallback IPI deliveries per second"),
        ("fallbacks_per_s_exact", "tables/s", "munmap fallbacks per second"),
        ("isolated_cpu_ipis_per_s_exact", "IPIs/s", "IPIs reaching one isolated CPU (thinning)"),
        ("isolated_collapse_ipis_per_s_exact", "IPIs/s", "of which from khugepaged"),
        ("isolated_fallback_ipis_per_s_exact", "IPIs/s", "of which from munmap fallbacks"),
        ("fresh_alloc_failures_per_hour_exact", "failures/h", "failed fresh table allocations"),
        ("rcu_held_bytes_mean_exact", "bytes", "tables waiting for a grace period"),
        ("rt_cycle_hit_prob_exact", "1", "P(an RT cycle sees >= 1 IPI)"),
        ("rt_cycle_ipis_p99_exact", "IPIs", "99th percentile of IPIs per RT cycle"),
        ("rt_added_latency_us_p99_exact", "us", "99th percentile of added latency per cycle"),
        ("rt_cycle_ipis_max_exact", "IPIs", "mean largest count per cycle over a horizon"),
    ):
        v[name] = _var(units, f"{long_name} (exact)")
    return v


@register
class ThpModel(Model):
    """``model = "thp"``: THP page-table deposit vs on-demand, and IPIs to isolated CPUs."""

    name = "thp"
    Params = ThpParams
    int_tallies = INT_TALLIES
    float_tallies = FLOAT_TALLIES
    main_estimate = "deposit_bytes_mean"
    variables = _variables()

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        return {
            "horizon_s": 2.0,
            "warmup_s": 0.5,
            "fault_rate": 5.0,
            "zero_fault_rate": 1.0,
            "lifetime_s": 1.0,
            "munmap_split_rate": 1.0,
            "deferred_split_rate": 1.0,
            "collapse_rate": 2.0,
            "fork_rate": 1.0,
            "fork_copy_prob": 0.5,
            "pressure_fraction": 0.5,
            "pressure_episode_s": 0.5,
            "gfp_nowait_fail_p": 0.5,
            "table_policy": "cache_k",
            "cache_k": 2,
            "collapse_policy": "fresh_table",
            "fresh_table_gfp": "nowait",
            "gather_rate": 5.0,
            "tables_per_gather": 3,
            "ipi_policy": "kernel_mode",
            "rt_mm_share": 0.5,
            "rt_cycle_us": 100_000.0,
            "online_cpus": 4,
            "isolated_cpus": 1,
            "mm_cpus": 2,
        }

    def warmup(self) -> float:
        """Compile both population kernels (aggregate and individual)."""
        import time

        t0 = time.perf_counter()
        for dist in ("exponential", "lognormal"):
            params = self.Params.model_validate({**self.warmup_params(), "lifetime_dist": dist})
            prepared = self.prepare(params)
            plan = BlockPlan(sequences=2, block_size=1)
            self.simulate(prepared, (1, 2), plan, 0, 2)
        self.exact(params)
        return time.perf_counter() - t0

    # ---- preparation
    def prepare(self, params: ThpParams) -> PreparedThp:
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
                m = arr[c] * sojourn_mean(
                    p.lifetime_dist, p.lifetime_s, p.lifetime_shape, sig_init[c]
                )
                m0[c, :] = m
        # deposit histogram: a window around the stationary mean (of the start law)
        mean = float((m0 * pi[None, :]).sum())
        if pop.poisson:
            half = 8.0 * math.sqrt(mean) + 8.0
        else:  # fork batches and pressure episodes widen the law: a generous window
            batch = p.fork_copy_prob * (pop.means[0].sum() + pop.means[1].sum())
            half = 8.0 * math.sqrt(mean * (1.0 + batch)) + 0.02 * mean + 8.0
        lo = float(max(0, math.floor(mean - half)))
        width = float(max(1, math.ceil((mean + half - lo) / HIST_BINS)))
        # cache levels: stationary law under the mean split rate
        split_cpus = p.n_split_cpus()
        splits_s, _ = _split_rate_exact(p, pop, pi)
        law = cache_level_law(p.cache_k, p.cache_refill_rate, splits_s / split_cpus)
        cache_cdf = np.cumsum(law)
        prof = get_profile(p.kernel)
        phi = p.pressure_fraction
        to_pressure = float(q[0, 1])
        to_calm = float(q[1, 0])
        fp = np.zeros(K.N_FP)
        fp[K.F_T0] = p.warmup_s
        fp[K.F_T1] = p.warmup_s + p.horizon_s
        fp[K.F_TO_PRESSURE] = to_pressure
        fp[K.F_TO_CALM] = to_calm
        fp[K.F_PHI] = phi
        fp[K.F_FORK_RATE] = p.fork_rate
        fp[K.F_FORK_Q] = p.fork_copy_prob
        fp[K.F_LIFE_MEAN] = p.lifetime_s
        fp[K.F_LIFE_SHAPE] = p.lifetime_shape
        fp[K.F_COLLAPSE_RATE] = p.collapse_rate
        fp[K.F_REFILL] = p.cache_refill_rate
        fp[K.F_HIST_LO] = lo
        fp[K.F_HIST_W] = width
        ip = np.zeros(K.N_IP, dtype=np.int64)
        ip[K.I_INDIVIDUAL] = int(individual)
        ip[K.I_DIST] = LIFETIME_DISTS.index(p.lifetime_dist)
        ip[K.I_POLICY] = TABLE_POLICIES.index(p.table_policy)
        ip[K.I_CACHE_K] = p.cache_k
        ip[K.I_SPLIT_CPUS] = split_cpus
        ip[K.I_HIST_BINS] = HIST_BINS
        lam = np.array([p.fault_rate, p.zero_fault_rate, 0.0])
        mu = np.array([1.0 / p.lifetime_s, 1.0 / p.lifetime_s, 1.0 / p.fork_child_lifetime_s])
        th = _threshold_rows(list(p.split_fail_p()))
        cycles = rt_cycles(p)
        rip = np.zeros(R.N_RIP, dtype=np.int64)
        rip[R.R_COLLAPSE_POLICY] = COLLAPSE_POLICIES.index(p.collapse_policy)
        rip[R.R_DEPOSIT] = int(p.table_policy == "deposit")
        rip[R.R_FRESH_NOWAIT] = int(p.fresh_table_gfp == "nowait")
        rip[R.R_KHUGEPAGED_SYNC] = int(prof.khugepaged_sync_ipi)
        rip[R.R_USES_TRT] = int(prof.uses_tlb_remove_table)
        rip[R.R_FALLBACK_IPI] = int(prof.fallback_sends_ipi)
        rip[R.R_IPI_POLICY] = ("broadcast", "mm_cpumask", "kernel_mode", "rcu").index(p.ipi_policy)
        rip[R.R_TABLES] = p.tables_per_gather
        rip[R.R_BATCH] = p.batch()
        rip[R.R_CYCLES] = cycles
        rip[R.R_HIST] = RT_HIST
        rfp = np.zeros(R.N_RFP)
        rfp[R.Q_GATHER_RATE] = p.gather_rate
        rfp[R.Q_CYCLE] = p.rt_cycle_us * 1e-6
        rfp[R.Q_SPACING] = p.spacing_us() * 1e-6
        rth = _threshold_rows(
            [p.gfp_nowait_fail_p, p.pressure_fail_p, p.rt_mm_share, 1.0 - p.rt_user_fraction]
        )
        hk = ipi_targets(
            p.ipi_policy, p.housekeeping_cpus(), p.mm_cpus, p.kernel_mode_fraction
        ).mean
        q1 = iso_round_prob(ipi_input(p, cycles))
        arrays = (fp, ip, lam, mu, sig, m0, sig_init, th, cache_cdf, rip, rfp, rth)
        return PreparedThp(
            params=p,
            arrays=arrays,
            hist_lo=lo,
            hist_width=width,
            cycles=cycles,
            round_targets_mean=hk + p.isolated_cpus * q1,
        )

    def simulate(
        self,
        prepared: PreparedThp,
        key: tuple[int, int],
        plan: BlockPlan,
        first_block: int,
        n_blocks: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        return simulate_thp_blocks(
            key[0],
            key[1],
            first_block,
            n_blocks,
            plan.block_size,
            plan.sequences,
            len(INT_TALLIES),
            len(FLOAT_TALLIES),
            prepared.arrays,
        )

    # ---- estimates
    def estimates(self, prepared: PreparedThp, tallies: Tallies) -> dict[str, float]:
        return thp_estimates(prepared, tallies)

    def derived(self, params: ThpParams) -> dict[str, float]:
        return {}

    def exact(self, params: ThpParams) -> dict[str, float]:
        return thp_exact(params)


def _rate_per(
    out: dict[str, float], name: str, total: float, total_sq: float, n: int, per: float
) -> None:
    m = mean_from_sums(total, total_sq, n)
    out[name] = m.estimate / per
    out[f"{name}_stderr"] = m.stderr / per


def _ratio_stderr(sx: float, sy: float, sxx: float, syy: float, sxy: float, n: int) -> float:
    """Standard error of the ratio estimator sum(x) / sum(y) over n sequences (delta
    method, between-sequence variation), or 0 when it cannot be estimated."""
    if n < 2 or sy <= 0:
        return 0.0
    r = sx / sy
    ss = sxx - 2.0 * r * sxy + r * r * syy
    ybar = sy / n
    return math.sqrt(max(ss, 0.0) / (n * (n - 1))) / ybar


def _garwood(count: int, exposure: float) -> tuple[float, float]:
    """Exact 95 % Poisson interval for a rate from ``count`` events in ``exposure``."""
    lo = 0.0 if count == 0 else stats.chi2.ppf(0.025, 2 * count) / 2.0
    hi = stats.chi2.ppf(0.975, 2 * count + 2) / 2.0
    return lo / exposure, hi / exposure


def _quantile_from_cdf(
    cdf: np.ndarray, cdf_se: np.ndarray, lo: float, width: float, q: float
) -> tuple[float, float, float]:
    """(quantile, low, high) of an integer count from cumulative fractions at bin edges.

    ``cdf[b]`` = P(X < lo + b width) for b = 0..bins, and 1 for the overflow column.
    """
    edges = lo + width * np.arange(len(cdf), dtype=np.float64)
    edges[-1] = math.inf

    def first(values: np.ndarray) -> int:
        idx = int(np.searchsorted(values >= q, True)) if np.any(values >= q) else len(values)
        return idx

    b = first(cdf)
    if b == 0 or b >= len(cdf) - 1:
        return math.nan, math.nan, math.nan
    frac = (q - cdf[b - 1]) / (cdf[b] - cdf[b - 1]) if cdf[b] > cdf[b - 1] else 1.0
    x = edges[b - 1] + frac * width
    est = math.ceil(x) - 1.0
    b_lo = first(cdf + Z95 * cdf_se)
    b_hi = first(cdf - Z95 * cdf_se)
    low = edges[b_lo - 1] if b_lo >= 1 else math.nan
    high = edges[b_hi] - 1.0 if b_hi < len(cdf) - 1 else math.nan
    return est, low, high


def thp_estimates(prepared: PreparedThp, tallies: Tallies) -> dict[str, float]:
    """Estimates with intervals from the reduced tallies of one point."""
    p = prepared.params
    t = tallies
    n = int(t["sequences"])
    h = p.horizon_s
    out: dict[str, float] = {"sequences": n}
    thp = mean_from_sums(t["thp_avg"], t["thp_avg_sq"], n)
    out["thp_mean"] = thp.estimate
    out["thp_mean_stderr"] = thp.stderr
    out["pmd_mapped_bytes_mean"] = thp.estimate * PMD_MAP_BYTES
    out["pmd_mapped_bytes_mean_stderr"] = thp.stderr * PMD_MAP_BYTES
    end = mean_from_sums(t["thp_end"], t["thp_end_sq"], n)
    out["thp_end_mean"] = end.estimate
    out["thp_end_mean_stderr"] = end.stderr
    out["thp_end_var"] = end.stderr**2 * n if n > 1 else math.nan
    dep = mean_from_sums(t["deposit_avg"], t["deposit_avg_sq"], n)
    out["deposit_bytes_mean"] = dep.estimate * PAGE_TABLE_BYTES
    out["deposit_bytes_mean_stderr"] = dep.stderr * PAGE_TABLE_BYTES
    out["deposit_page_seconds"] = dep.estimate * SECONDS_PER_HOUR
    out["deposit_page_seconds_stderr"] = dep.stderr * SECONDS_PER_HOUR
    peak = mean_from_sums(t["deposit_peak"], t["deposit_peak_sq"], n)
    out["deposit_bytes_peak"] = peak.estimate * PAGE_TABLE_BYTES
    out["deposit_bytes_peak_stderr"] = peak.stderr * PAGE_TABLE_BYTES
    if t["thp_avg"] > 0:
        from fractions import Fraction

        ratio = Fraction(t["deposit_avg"]) / Fraction(t["thp_avg"])
        out["deposit_share_of_thp"] = float(ratio * Fraction(PAGE_TABLE_BYTES, PMD_MAP_BYTES))
    else:
        out["deposit_share_of_thp"] = math.nan
    out["deposit_hist_bin_bytes"] = prepared.hist_width * PAGE_TABLE_BYTES
    nb = HIST_BINS + 2
    cdf = np.array([t[f"deposit_cdf_{b:03d}"] for b in range(nb)]) / n
    cdf_sq = np.array([t[f"deposit_cdf_sq_{b:03d}"] for b in range(nb)])
    if n > 1:
        var = np.maximum(cdf_sq - n * cdf**2, 0.0) / (n - 1)
        cdf_se = np.sqrt(var / n)
    else:
        cdf_se = np.full(nb, math.inf)
    q99, q99_lo, q99_hi = _quantile_from_cdf(
        cdf, cdf_se, prepared.hist_lo, prepared.hist_width, 0.99
    )
    out["deposit_bytes_p99"] = q99 * PAGE_TABLE_BYTES
    out["deposit_bytes_p99_ci_low"] = q99_lo * PAGE_TABLE_BYTES
    out["deposit_bytes_p99_ci_high"] = q99_hi * PAGE_TABLE_BYTES
    res = mean_from_sums(t["reserve_avg"], t["reserve_avg_sq"], n)
    out["reserve_bytes_mean"] = res.estimate * PAGE_TABLE_BYTES
    out["reserve_bytes_mean_stderr"] = res.stderr * PAGE_TABLE_BYTES

    hours = h / SECONDS_PER_HOUR
    _rate_per(out, "splits_per_hour", t["splits"], t["splits_sq"], n, hours)
    _rate_per(
        out, "split_alloc_failures_per_hour", t["split_failures"], t["split_failures_sq"], n, hours
    )
    m = out["split_alloc_failures_per_hour"]
    se = out["split_alloc_failures_per_hour_stderr"]
    g_lo, g_hi = _garwood(int(t["split_failures"]), n * hours)
    out["split_alloc_failures_per_hour_ci_low"] = max(0.0, min(m - Z95 * se, g_lo))
    out["split_alloc_failures_per_hour_ci_high"] = max(m + Z95 * se, g_hi)
    splits = int(t["splits"])
    out["splits"] = splits
    miss = wilson(int(t["cache_misses"]), splits)
    se = _ratio_stderr(
        t["cache_misses"],
        t["splits"],
        t["cache_misses_sq"],
        t["splits_sq"],
        t["cache_misses_splits"],
        n,
    )
    out["split_cache_miss_prob"] = miss.estimate
    out["split_cache_miss_prob_ci_low"] = max(0.0, min(miss.ci_low, miss.estimate - Z95 * se))
    out["split_cache_miss_prob_ci_high"] = min(1.0, max(miss.ci_high, miss.estimate + Z95 * se))

    per_round = prepared.round_targets_mean
    _rate_per(out, "collapse_sync_per_s", t["collapse_rounds"], t["collapse_rounds_sq"], n, h)
    out["collapse_ipis_per_s"] = out["collapse_sync_per_s"] * per_round
    out["collapse_ipis_per_s_stderr"] = out["collapse_sync_per_s_stderr"] * per_round
    _rate_per(out, "fallback_sync_per_s", t["fallback_rounds"], t["fallback_rounds_sq"], n, h)
    out["fallback_ipis_per_s"] = out["fallback_sync_per_s"] * per_round
    out["fallback_ipis_per_s_stderr"] = out["fallback_sync_per_s_stderr"] * per_round
    _rate_per(out, "fallbacks_per_s", t["fallbacks"], t["fallbacks_sq"], n, h)
    iso_total = t["collapse_iso"] + t["fallback_iso"]
    _rate_per(out, "isolated_cpu_ipis_per_s", iso_total, t["iso_sq"], n, h)
    _rate_per(out, "isolated_collapse_ipis_per_s", t["collapse_iso"], t["collapse_iso_sq"], n, h)
    _rate_per(out, "isolated_fallback_ipis_per_s", t["fallback_iso"], t["fallback_iso_sq"], n, h)
    _rate_per(
        out, "fresh_alloc_failures_per_hour", t["fresh_failures"], t["fresh_failures_sq"], n, hours
    )
    held = p.rcu_grace_period_ms * 1e-3 * PAGE_TABLE_BYTES
    _rate_per(out, "rcu_held_bytes_mean", t["rcu_frees"], t["rcu_frees_sq"], n, h / held)

    cycles = int(t["rt_cycles"])
    out["rt_cycles"] = cycles
    hit = wilson(int(t["rt_hit_cycles"]), cycles)
    per_seq = prepared.cycles
    hm = mean_from_sums(t["rt_hit_cycles"], t["rt_hits_sq"], n)
    se = hm.stderr / per_seq if n > 1 and per_seq > 0 else 0.0
    out["rt_cycle_hit_prob"] = hit.estimate
    out["rt_cycle_hit_prob_ci_low"] = max(0.0, min(hit.ci_low, hit.estimate - Z95 * se))
    out["rt_cycle_hit_prob_ci_high"] = min(1.0, max(hit.ci_high, hit.estimate + Z95 * se))
    _rate_per(out, "rt_cycle_ipis_max", t["rt_max_sum"], t["rt_max_sq"], n, 1.0)
    counts = np.array([t[f"rt_cycle_hist_{k:04d}"] for k in range(RT_HIST + 1)], dtype=np.int64)
    nonzero = np.nonzero(counts)[0]
    top = int(nonzero[-1]) if len(nonzero) else 0
    out["rt_cycle_ipis_max_all"] = float(top) if top < RT_HIST else math.nan
    cost = p.ipi_cost_us
    out["rt_added_latency_us_max"] = out["rt_cycle_ipis_max_all"] * cost
    k, k_lo, k_hi = _count_quantile(counts, cycles, 0.99)
    out["rt_cycle_ipis_p99"] = k
    out["rt_cycle_ipis_p99_ci_low"] = k_lo
    out["rt_cycle_ipis_p99_ci_high"] = k_hi
    for q, name in ((0.99, "p99"), (0.9999, "p9999")):
        k, k_lo, k_hi = _count_quantile(counts, cycles, q)
        out[f"rt_added_latency_us_{name}"] = k * cost
        out[f"rt_added_latency_us_{name}_ci_low"] = k_lo * cost
        out[f"rt_added_latency_us_{name}_ci_high"] = k_hi * cost
    return out


def _count_quantile(counts: np.ndarray, n: int, q: float) -> tuple[float, float, float]:
    """Quantile of the per-cycle count with a distribution-free 95 % interval.

    The interval inverts Wilson intervals of F(k) = P(count <= k) (cycles treated as
    independent). NaN when the quantile lies in the overflow bin.
    """
    if n == 0:
        return math.nan, math.nan, math.nan
    cum = np.cumsum(counts[:-1])
    est = lo = hi = math.nan
    for k, c in enumerate(cum):
        w = wilson(int(c), n)
        if math.isnan(lo) and w.ci_high >= q:
            lo = float(k)
        if math.isnan(est) and c / n >= q:
            est = float(k)
        if w.ci_low >= q:
            hi = float(k)
            break
    return est, lo, hi


def _mmpp_values(p: ThpParams, pop: Any, pi: np.ndarray) -> dict[str, float]:
    """Split failures with splits as a Markov-modulated Poisson process (large-N limit)."""
    sig = np.array(p.split_rates())
    cond = pop.conditional(pi)  # E[N_c | env]
    cpus = p.n_split_cpus()
    use = tuple(float(sig[:, e] @ cond[:, e]) / cpus for e in range(2))
    fail = p.split_fail_p()
    if p.table_policy == "deposit":
        return {"split_alloc_failures_per_hour_mmpp": 0.0, "split_cache_miss_prob_mmpp": 0.0}
    if not pop.exact:
        return {
            "split_alloc_failures_per_hour_mmpp": math.nan,
            "split_cache_miss_prob_mmpp": math.nan,
        }
    k = 0 if p.table_policy == "on_demand" else p.cache_k
    f, miss, _ = cache_chain_mmpp(
        k, p.cache_refill_rate, use, fail, p.pressure_fraction, p.pressure_episode_s
    )
    return {
        "split_alloc_failures_per_hour_mmpp": f * cpus * SECONDS_PER_HOUR,
        "split_cache_miss_prob_mmpp": miss,
    }


def thp_exact(params: ThpParams) -> dict[str, float]:
    """Exact and analytic values of one point (NaN where none applies)."""
    p = params
    nan = math.nan
    _, pi = env_generator(p.pressure_fraction, p.pressure_episode_s)
    pop = population_exact(population_input(p))
    out: dict[str, float] = {}
    mean = pop.mean if pop.exact else nan
    out["thp_mean_exact"] = mean
    out["thp_var_exact"] = pop.mean if pop.poisson else nan
    out["deposit_bytes_mean_exact"] = mean * PAGE_TABLE_BYTES
    out["deposit_bytes_p99_exact"] = (
        poisson_quantile(pop.mean, 0.99) * PAGE_TABLE_BYTES if pop.poisson else nan
    )
    out["deposit_share_of_thp_exact"] = PAGE_TABLE_BYTES / PMD_MAP_BYTES
    splits_s, ondemand_fail_s = _split_rate_exact(p, pop, pi)
    if not pop.exact:
        splits_s = ondemand_fail_s = nan
    out["splits_per_hour_exact"] = splits_s * SECONDS_PER_HOUR
    split_cpus = p.n_split_cpus()
    if p.table_policy == "deposit":
        out["split_alloc_failures_per_hour_exact"] = 0.0
        out["split_cache_miss_prob_exact"] = 0.0
        out["reserve_bytes_mean_exact"] = mean * PAGE_TABLE_BYTES
    elif p.table_policy == "on_demand" or p.cache_k == 0:
        # cache_k with an empty cache is on_demand (the same code path)
        out["split_alloc_failures_per_hour_exact"] = ondemand_fail_s * SECONDS_PER_HOUR
        out["split_cache_miss_prob_exact"] = 1.0
        out["reserve_bytes_mean_exact"] = 0.0
    elif _cache_exact_applies(p) and pop.exact:
        law = cache_level_law(p.cache_k, p.cache_refill_rate, splits_s / split_cpus)
        fail = np.array(p.split_fail_p())
        out["split_alloc_failures_per_hour_exact"] = (
            splits_s * law[0] * float(pi @ fail) * SECONDS_PER_HOUR
        )
        out["split_cache_miss_prob_exact"] = float(law[0])
        out["reserve_bytes_mean_exact"] = (
            split_cpus * float(np.arange(len(law)) @ law) * PAGE_TABLE_BYTES
        )
    else:
        out["split_alloc_failures_per_hour_exact"] = nan
        out["split_cache_miss_prob_exact"] = nan
        out["reserve_bytes_mean_exact"] = nan
    out.update(_mmpp_values(p, pop, pi))

    cycles = rt_cycles(p)
    inp = ipi_input(p, cycles)
    ex = ipi_exact(inp)
    q1 = iso_round_prob(inp)
    hk = ipi_targets(p.ipi_policy, p.housekeeping_cpus(), p.mm_cpus, p.kernel_mode_fraction).mean
    per_round = hk + p.isolated_cpus * q1
    out["collapse_sync_per_s_exact"] = ex.collapse_rounds_per_s
    out["collapse_ipis_per_s_exact"] = ex.collapse_rounds_per_s * per_round
    out["fallback_sync_per_s_exact"] = ex.fallback_rounds_per_s
    out["fallback_ipis_per_s_exact"] = ex.fallback_rounds_per_s * per_round
    out["fallbacks_per_s_exact"] = ex.fallbacks_per_s
    out["isolated_cpu_ipis_per_s_exact"] = ex.isolated_collapse_per_s + ex.isolated_fallback_per_s
    out["isolated_collapse_ipis_per_s_exact"] = ex.isolated_collapse_per_s
    out["isolated_fallback_ipis_per_s_exact"] = ex.isolated_fallback_per_s
    out["fresh_alloc_failures_per_hour_exact"] = ex.fresh_failures_per_s * SECONDS_PER_HOUR
    out["rcu_held_bytes_mean_exact"] = (
        ex.rcu_frees_per_s * p.rcu_grace_period_ms * 1e-3 * PAGE_TABLE_BYTES
    )
    out["rt_cycle_hit_prob_exact"] = ex.hit_prob
    if ex.cycle_pmf is not None:
        k99 = pmf_quantile(ex.cycle_pmf, 0.99)
        out["rt_cycle_ipis_p99_exact"] = k99
        out["rt_added_latency_us_p99_exact"] = k99 * p.ipi_cost_us
        out["rt_cycle_ipis_max_exact"] = expected_max_of_iid(ex.cycle_pmf, cycles)
    else:
        out["rt_cycle_ipis_p99_exact"] = nan
        out["rt_added_latency_us_p99_exact"] = nan
        out["rt_cycle_ipis_max_exact"] = nan
    return {k: float(v) for k, v in out.items()}
