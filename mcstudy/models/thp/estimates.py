"""Estimators of the THP model (``docs/model.md`` §5.10, §6.4): tallies -> estimates with
95 % intervals and sample sizes."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from mcstudy.engine.tallies import Tallies
from mcstudy.exact.thp import PAGE_TABLE_BYTES, PMD_MAP_BYTES
from mcstudy.models.thp import kernels as KB
from mcstudy.models.thp.prepare import PreparedThp
from mcstudy.stats.interval import Z95, score_interval
from mcstudy.stats.mean import mean_from_sums
from mcstudy.stats.proportion import wilson_design_interval
from mcstudy.stats.quantile import count_quantile, mixed_poisson_quantile
from mcstudy.stats.ratio import ratio_of_sums

SECONDS_PER_HOUR = 3600.0


def _deposit_p99(prepared: PreparedThp, t: Tallies, n: int) -> tuple[float, float, float, float]:
    """99th percentile over time of the deposited tables, its 95 % interval and standard
    error (tables, continuous): ``mixed_poisson_quantile`` of the deposit's moments about
    ``prepared.center``, minus 1/2 (continuity: the deposit is a count)."""
    names = ("deposit_m1", "deposit_m2")
    sums = np.array([t[k] for k in names])
    products = np.empty((2, 2))
    for j in range(2):
        for k in range(j, 2):
            products[j, k] = products[k, j] = t[f"{names[j]}_{names[k][-2:]}"]
    q, lo, hi, se = mixed_poisson_quantile(sums, products, n, 0.99, prepared.center)
    return q - 0.5, lo - 0.5, hi - 0.5, se


def thp_estimates(prepared: PreparedThp, tallies: Tallies) -> dict[str, float]:
    """Estimates with 95 % intervals from the reduced tallies of one point."""
    p = prepared.params
    t = tallies
    n = int(t["sequences"])
    h = p.horizon_s
    hours = h / SECONDS_PER_HOUR
    out: dict[str, float] = {"sequences": n}
    # no event in n sequences of h seconds: a rate below z^2 / (n h)
    once = Z95 * Z95 / (n * h) if n > 0 else math.nan
    zeros: dict[str, float] = {}

    def mean(name: str, total: str, total_sq: str, scale: float, zero: float) -> None:
        m = mean_from_sums(t[total], t[total_sq], n)
        out[name] = m.estimate * scale
        out[f"{name}_stderr"] = m.stderr * scale
        zeros[name] = zero

    # a level that was never above 0 arrived less often than once per n h seconds
    level_zero = once * p.lifetime_s
    mean("thp_mean", "thp_avg", "thp_avg_sq", 1.0, level_zero)
    mean(
        "pmd_mapped_bytes_mean", "thp_avg", "thp_avg_sq", PMD_MAP_BYTES, level_zero * PMD_MAP_BYTES
    )
    mean("thp_end_mean", "thp_end", "thp_end_sq", 1.0, level_zero)
    end = mean_from_sums(t["thp_end"], t["thp_end_sq"], n)
    out["thp_end_var"] = end.stderr**2 * n if n > 1 else math.nan
    dep_zero = level_zero * PAGE_TABLE_BYTES
    mean("deposit_bytes_mean", "deposit_avg", "deposit_avg_sq", PAGE_TABLE_BYTES, dep_zero)
    mean("deposit_page_seconds", "deposit_avg", "deposit_avg_sq", SECONDS_PER_HOUR,
         level_zero * SECONDS_PER_HOUR)  # fmt: skip
    mean("deposit_bytes_peak", "deposit_peak", "deposit_peak_sq", PAGE_TABLE_BYTES, dep_zero)
    if t["thp_avg"] > 0:
        ratio = Fraction(t["deposit_avg"]) / Fraction(t["thp_avg"])
        out["deposit_share_of_thp"] = float(ratio * Fraction(PAGE_TABLE_BYTES, PMD_MAP_BYTES))
    else:
        out["deposit_share_of_thp"] = math.nan
    # the p99 is the smallest count k with P(N <= k) >= 0.99: k = ceil(q - 1/2)
    q99, lo, hi, q99_se = _deposit_p99(prepared, t, n)
    out["deposit_bytes_p99"] = math.ceil(q99) * PAGE_TABLE_BYTES if q99 == q99 else math.nan
    out["deposit_bytes_p99_stderr"] = q99_se * PAGE_TABLE_BYTES
    out["deposit_bytes_p99_ci_low"] = max(0, math.ceil(lo)) * PAGE_TABLE_BYTES if lo == lo else lo
    out["deposit_bytes_p99_ci_high"] = math.ceil(hi) * PAGE_TABLE_BYTES if hi == hi else hi
    for name, tally in (
        ("deposit_bytes_drift", "deposit_drift"),
        ("reserve_bytes_drift", "reserve_drift"),
    ):
        drift = mean_from_sums(t[tally], t[f"{tally}_sq"], n)
        out[name] = drift.estimate * PAGE_TABLE_BYTES
        out[f"{name}_stderr"] = drift.stderr * PAGE_TABLE_BYTES
    mean("reserve_bytes_mean", "reserve_avg", "reserve_avg_sq", PAGE_TABLE_BYTES, dep_zero)

    per_hour = SECONDS_PER_HOUR * once
    mean("splits_per_hour", "splits", "splits_sq", 1.0 / hours, per_hour)
    mean("split_alloc_failures_per_hour", "split_failures", "split_failures_sq", 1.0 / hours,
         per_hour)  # fmt: skip
    splits = int(t["splits"])
    out["splits"] = splits
    miss = ratio_of_sums(
        t["cache_misses"],
        t["splits"],
        t["cache_misses_sq"],
        t["splits_sq"],
        t["cache_misses_splits"],
        n,
    )
    lo, hi = wilson_design_interval(miss.estimate, miss.stderr, n, float(splits))
    out["split_cache_miss_prob"] = miss.estimate
    out["split_cache_miss_prob_ci_low"] = lo
    out["split_cache_miss_prob_ci_high"] = hi

    per_round = prepared.round_targets_mean
    mean("collapse_sync_per_s", "collapse_rounds", "collapse_rounds_sq", 1.0 / h, once)
    mean("collapse_ipis_per_s", "collapse_rounds", "collapse_rounds_sq", per_round / h,
         once * per_round)  # fmt: skip
    mean("fallback_sync_per_s", "fallback_rounds", "fallback_rounds_sq", 1.0 / h, once)
    mean("fallback_ipis_per_s", "fallback_rounds", "fallback_rounds_sq", per_round / h,
         once * per_round)  # fmt: skip
    mean("fallbacks_per_s", "fallbacks", "fallbacks_sq", 1.0 / h, once)
    m = mean_from_sums(t["collapse_iso"] + t["fallback_iso"], t["iso_sq"], n)
    out["isolated_cpu_ipis_per_s"] = m.estimate / h
    out["isolated_cpu_ipis_per_s_stderr"] = m.stderr / h
    zeros["isolated_cpu_ipis_per_s"] = once
    mean("isolated_collapse_ipis_per_s", "collapse_iso", "collapse_iso_sq", 1.0 / h, once)
    mean("isolated_fallback_ipis_per_s", "fallback_iso", "fallback_iso_sq", 1.0 / h, once)
    mean("fresh_alloc_failures_per_hour", "fresh_failures", "fresh_failures_sq", 1.0 / hours,
         per_hour)  # fmt: skip
    held = p.rcu_grace_period_ms * 1e-3 * PAGE_TABLE_BYTES
    mean("rcu_held_bytes_mean", "rcu_frees", "rcu_frees_sq", held / h, once * held)

    cycles = int(t["rt_cycles"])
    out["rt_cycles"] = cycles
    per_seq = prepared.cycles
    hm = mean_from_sums(t["rt_hit_cycles"], t["rt_hits_sq"], n)
    hit = hm.estimate / per_seq if per_seq > 0 else math.nan
    se = hm.stderr / per_seq if per_seq > 0 else math.nan
    lo, hi = wilson_design_interval(hit, se, n, float(cycles))
    out["rt_cycle_hit_prob"] = hit
    out["rt_cycle_hit_prob_ci_low"] = lo
    out["rt_cycle_hit_prob_ci_high"] = hi
    mean("rt_cycle_ipis_max", "rt_max_sum", "rt_max_sq", 1.0, Z95 * Z95 / n if n else math.nan)
    counts = np.array([t[f"rt_cycle_hist_{k:04d}"] for k in range(KB.RT_HIST + 1)], dtype=np.int64)
    nonzero = np.nonzero(counts)[0]
    top = int(nonzero[-1]) if len(nonzero) else 0
    out["rt_cycle_ipis_max_all"] = float(top) if top < KB.RT_HIST else math.nan
    cost = p.ipi_cost_us
    out["rt_added_latency_us_max"] = out["rt_cycle_ipis_max_all"] * cost
    k, k_lo, k_hi = count_quantile(counts, cycles, 0.99)
    out["rt_cycle_ipis_p99"] = k
    out["rt_cycle_ipis_p99_ci_low"] = k_lo
    out["rt_cycle_ipis_p99_ci_high"] = k_hi
    for q, name in ((0.99, "p99"), (0.9999, "p9999")):
        k, k_lo, k_hi = count_quantile(counts, cycles, q)
        out[f"rt_added_latency_us_{name}"] = k * cost
        out[f"rt_added_latency_us_{name}_ci_low"] = k_lo * cost
        out[f"rt_added_latency_us_{name}_ci_high"] = k_hi * cost
    for name, zero in zeros.items():
        lo, hi = score_interval(out[name], out[f"{name}_stderr"], n, zero)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = lo, hi
    return out
