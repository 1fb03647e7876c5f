"""The THP model (``model = "thp"``, ``docs/model.md`` §5): deposited page tables, on-demand
split allocations, and the synchronous IPIs that isolated real-time CPUs receive.

A sequence is ``horizon_s`` seconds of one host (after ``warmup_s``), started from the
stationary state. It simulates, with common random numbers across policies:

* pressure episodes (a two-state chain: a fraction ``pressure_fraction`` of the time,
  mean ``pressure_episode_s``) that set the GFP_NOWAIT / GFP_ATOMIC failure probabilities
  and switch on ``deferred_split_rate``;
* the PMD-mapped THPs (faults, huge-zero-page faults, khugepaged collapses, fork copies;
  zaps and splits) and their deposited tables (``population``);
* the table a split needs under ``table_policy``: ``deposit`` withdraws it, ``on_demand``
  allocates it under the PMD lock (``split_gfp``), ``cache_k`` takes it from a per-CPU
  cache of ``cache_k`` tables refilled at ``cache_refill_rate`` and falls back to that
  allocation when the cache is empty. A failed allocation is counted; the split then
  completes through a slow path, so the population is the same under every policy;
* khugepaged's IPIs under ``collapse_policy`` and the ``tlb_remove_table()`` fallback
  rounds of munmap gathers, as seen by one tagged isolated CPU
  (``rt``).

Outputs ``deposit_*`` describe the tables mainline's deposit holds for the simulated THPs
(the same population under every policy); ``reserve_bytes_mean`` is what the chosen
``table_policy`` holds (deposits, cached tables, or nothing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from mcstudy.engine.tallies import Tallies
from mcstudy.exact.thp import (
    PAGE_TABLE_BYTES,
    PMD_MAP_BYTES,
    cache_chain_mmpp,
    cache_level_law,
    env_generator,
    expected_max_of_iid,
    ipi_exact,
    iso_round_prob,
    pmf_quantile,
    poisson_quantile,
    population_exact,
)
from mcstudy.findings import Finding
from mcstudy.kernel.ipi import ipi_targets
from mcstudy.kernel.policies import collapse_with, ipi_with, table_policy
from mcstudy.models.base import Model, Warmup
from mcstudy.models.thp import kernels as KB
from mcstudy.models.thp.checks import thp_findings
from mcstudy.models.thp.estimates import SECONDS_PER_HOUR, thp_estimates
from mcstudy.models.thp.outputs import SPECS, VARIABLES
from mcstudy.models.thp.params import ThpParams
from mcstudy.models.thp.prepare import (
    PreparedThp,
    cache_exact_applies,
    ipi_input,
    population_input,
    prepare,
    rt_cycles,
    split_rate_exact,
)


class ThpModel(Model):
    """``model = "thp"``: THP page-table deposit vs on-demand, and IPIs to isolated CPUs."""

    name = "thp"
    Params = ThpParams
    tallies = KB.TALLIES
    main_estimate = "deposit_bytes_mean"
    variables = VARIABLES
    estimate_specs = SPECS

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
            "collapse_policy": collapse_with(fresh_table=True, old_table_by_rcu=False),
            "fresh_table_gfp": "nowait",
            "gather_rate": 5.0,
            "tables_per_gather": 3,
            "ipi_policy": ipi_with(kernel_mode_only=True),
            "rt_mm_share": 0.5,
            "rt_cycle_us": 100_000.0,
            "online_cpus": 4,
            "isolated_cpus": 1,
            "mm_cpus": 2,
        }

    def warmup_variants(self, params: Iterable[ThpParams]) -> list[Warmup]:
        """The aggregate population kernel (exponential lifetimes) and the individual
        one (lognormal, Pareto), as the points need them."""
        params = list(params)
        individual = {p.lifetime_dist != "exponential" for p in params} if params else {0, 1}
        return [
            Warmup({**self.warmup_params(), "lifetime_dist": "lognormal" if ind else "exponential"})
            for ind in sorted(individual)
        ]

    def prepare(self, params: ThpParams) -> PreparedThp:
        return prepare(params)

    def kernel_call(self, prepared: PreparedThp) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return KB.simulate_thp_blocks, (prepared.fp, prepared.ip, prepared.arrays)

    # ---- estimates
    def estimates(self, prepared: PreparedThp, tallies: Tallies) -> dict[str, float]:
        return thp_estimates(prepared, tallies)

    def findings(self, prepared: PreparedThp, values: dict[str, Any]) -> list[Finding]:
        return thp_findings(prepared, values)

    def derived(self, params: ThpParams) -> dict[str, float]:
        return {}

    def exact(self, params: ThpParams) -> dict[str, float]:
        return thp_exact(params)


def _mmpp_values(p: ThpParams, pop: Any, pi: np.ndarray) -> dict[str, float]:
    """Split failures with splits as a Markov-modulated Poisson process (large-N limit)."""
    sig = np.array(p.split_rates())
    cond = pop.conditional(pi)  # E[N_c | env]
    cpus = p.n_split_cpus()
    use = tuple(float(sig[:, e] @ cond[:, e]) / cpus for e in range(2))
    fail = p.split_fail_p()
    tpol = table_policy(p.table_policy)
    if tpol.deposit:
        return {"split_alloc_failures_per_hour_mmpp": 0.0, "split_cache_miss_prob_mmpp": 0.0}
    if not pop.exact:
        return {
            "split_alloc_failures_per_hour_mmpp": math.nan,
            "split_cache_miss_prob_mmpp": math.nan,
        }
    k = p.cache_k if tpol.per_cpu_cache else 0
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
    splits_s, ondemand_fail_s = split_rate_exact(p, pop, pi)
    if not pop.exact:
        splits_s = ondemand_fail_s = nan
    out["splits_per_hour_exact"] = splits_s * SECONDS_PER_HOUR
    split_cpus = p.n_split_cpus()
    tpol = table_policy(p.table_policy)
    if tpol.deposit:
        out["split_alloc_failures_per_hour_exact"] = 0.0
        out["split_cache_miss_prob_exact"] = 0.0
        out["reserve_bytes_mean_exact"] = mean * PAGE_TABLE_BYTES
    elif not tpol.per_cpu_cache or p.cache_k == 0:
        # cache_k with an empty cache is on_demand (the same code path)
        out["split_alloc_failures_per_hour_exact"] = ondemand_fail_s * SECONDS_PER_HOUR
        out["split_cache_miss_prob_exact"] = 1.0
        out["reserve_bytes_mean_exact"] = 0.0
    elif cache_exact_applies(p) and pop.exact:
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
