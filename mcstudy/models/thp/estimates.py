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
from mcstudy.stats.interval import normal_interval, union
from mcstudy.stats.mean import mean_from_sums
from mcstudy.stats.poisson import garwood
from mcstudy.stats.proportion import wilson
from mcstudy.stats.quantile import count_quantile, quantile_from_cdf
from mcstudy.stats.ratio import ratio_of_sums

SECONDS_PER_HOUR = 3600.0


def _rate_per(
    out: dict[str, float], name: str, total: float, total_sq: float, n: int, per: float
) -> None:
    m = mean_from_sums(total, total_sq, n)
    out[name] = m.estimate / per
    out[f"{name}_stderr"] = m.stderr / per


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
        ratio = Fraction(t["deposit_avg"]) / Fraction(t["thp_avg"])
        out["deposit_share_of_thp"] = float(ratio * Fraction(PAGE_TABLE_BYTES, PMD_MAP_BYTES))
    else:
        out["deposit_share_of_thp"] = math.nan
    out["deposit_hist_bin_bytes"] = prepared.hist_width * PAGE_TABLE_BYTES
    nb = KB.HIST_BINS + 2
    cdf = np.array([t[f"deposit_cdf_{b:03d}"] for b in range(nb)]) / n
    cdf_sq = np.array([t[f"deposit_cdf_sq_{b:03d}"] for b in range(nb)])
    if n > 1:
        var = np.maximum(cdf_sq - n * cdf**2, 0.0) / (n - 1)
        cdf_se = np.sqrt(var / n)
    else:
        cdf_se = np.full(nb, math.inf)
    q99, q99_lo, q99_hi = quantile_from_cdf(
        cdf, cdf_se, prepared.hist_lo, prepared.hist_width, 0.99
    )
    out["deposit_bytes_p99"] = q99 * PAGE_TABLE_BYTES
    out["deposit_bytes_p99_ci_low"] = q99_lo * PAGE_TABLE_BYTES
    out["deposit_bytes_p99_ci_high"] = q99_hi * PAGE_TABLE_BYTES
    for name, tally in (
        ("deposit_bytes_drift", "deposit_drift"),
        ("reserve_bytes_drift", "reserve_drift"),
    ):
        drift = mean_from_sums(t[tally], t[f"{tally}_sq"], n)
        out[name] = drift.estimate * PAGE_TABLE_BYTES
        out[f"{name}_stderr"] = drift.stderr * PAGE_TABLE_BYTES
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
    lo, hi = union(normal_interval(m, se, 0.0), garwood(int(t["split_failures"]), n * hours))
    out["split_alloc_failures_per_hour_ci_low"] = lo
    out["split_alloc_failures_per_hour_ci_high"] = hi
    splits = int(t["splits"])
    out["splits"] = splits
    miss = wilson(int(t["cache_misses"]), splits)
    se = ratio_of_sums(
        t["cache_misses"],
        t["splits"],
        t["cache_misses_sq"],
        t["splits_sq"],
        t["cache_misses_splits"],
        n,
    ).stderr
    lo, hi = union((miss.ci_low, miss.ci_high), normal_interval(miss.estimate, se, 0.0, 1.0))
    out["split_cache_miss_prob"] = miss.estimate
    out["split_cache_miss_prob_ci_low"] = lo
    out["split_cache_miss_prob_ci_high"] = hi

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
    se = hm.stderr / per_seq if per_seq > 0 else math.nan
    lo, hi = union((hit.ci_low, hit.ci_high), normal_interval(hit.estimate, se, 0.0, 1.0))
    out["rt_cycle_hit_prob"] = hit.estimate
    out["rt_cycle_hit_prob_ci_low"] = lo
    out["rt_cycle_hit_prob_ci_high"] = hi
    _rate_per(out, "rt_cycle_ipis_max", t["rt_max_sum"], t["rt_max_sq"], n, 1.0)
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
    return out
