"""What the THP model stores (``docs/model.md`` §5.10): variables, units and estimates.

``deposit_*`` describe the tables mainline's deposit holds for the simulated THPs (the
same population under every policy); ``reserve_bytes_mean`` is what the chosen
``table_policy`` holds (deposits, cached tables, or nothing).
"""

from __future__ import annotations

from mcstudy.models.contract import EstimateSpec, Variable


def _var(units: str, long_name: str, dtype: str = "float64") -> Variable:
    return Variable(units, long_name, dtype)


def _variables() -> dict[str, Variable]:
    """Every stored output of the THP model, in dataset order."""
    v: dict[str, Variable] = {}

    def add(name: str, units: str, long_name: str, *, se: bool = False, ci: bool = False) -> None:
        ci = ci or se  # every estimate with a standard error has its 95 % interval
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
    add(
        "deposit_bytes_p99",
        "bytes",
        "99th percentile over time of the deposited tables",
        se=True,
    )
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
    add(
        "reserve_bytes_mean",
        "bytes",
        "tables the table_policy holds for splits (deposits, cache, none)",
        se=True,
    )
    for drift in ("deposit", "reserve"):
        v[f"{drift}_bytes_drift"] = _var(
            "bytes",
            f"{drift}: second minus first half of the measured window (mean over sequences)",
        )
        v[f"{drift}_bytes_drift_stderr"] = _var("bytes", f"standard error of {drift}_bytes_drift")
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


def _normal(name: str, kind: str, exact: bool = True) -> EstimateSpec:
    """A non-negative mean or rate with the score interval (``docs/model.md`` §6.4)."""
    return EstimateSpec(
        name,
        kind,
        "score",
        stderr=f"{name}_stderr",
        ci=(f"{name}_ci_low", f"{name}_ci_high"),
        exact=f"{name}_exact" if exact else None,
    )


def _specs() -> tuple[EstimateSpec, ...]:
    """The estimates among ``VARIABLES`` and how their intervals are made."""
    rt = "rt_cycles"
    return (
        _normal("thp_mean", "mean"),
        _normal("thp_end_mean", "mean", exact=False),
        _normal("pmd_mapped_bytes_mean", "mean", exact=False),
        _normal("deposit_bytes_mean", "mean"),
        EstimateSpec(
            "deposit_bytes_p99",
            "quantile",
            "cornish-fisher",
            stderr="deposit_bytes_p99_stderr",
            ci=("deposit_bytes_p99_ci_low", "deposit_bytes_p99_ci_high"),
            exact="deposit_bytes_p99_exact",
        ),
        _normal("deposit_bytes_peak", "mean", exact=False),
        _normal("deposit_page_seconds", "mean", exact=False),
        _normal("reserve_bytes_mean", "mean"),
        _normal("splits_per_hour", "rate"),
        _normal("split_alloc_failures_per_hour", "rate"),
        EstimateSpec(
            "split_cache_miss_prob",
            "proportion",
            "wilson-design",
            ci=("split_cache_miss_prob_ci_low", "split_cache_miss_prob_ci_high"),
            exact="split_cache_miss_prob_exact",
            n="splits",
        ),
        _normal("collapse_sync_per_s", "rate"),
        _normal("collapse_ipis_per_s", "rate"),
        _normal("fallback_sync_per_s", "rate"),
        _normal("fallback_ipis_per_s", "rate"),
        _normal("fallbacks_per_s", "rate"),
        _normal("isolated_cpu_ipis_per_s", "rate"),
        _normal("isolated_collapse_ipis_per_s", "rate"),
        _normal("isolated_fallback_ipis_per_s", "rate"),
        _normal("fresh_alloc_failures_per_hour", "rate"),
        _normal("rcu_held_bytes_mean", "mean"),
        EstimateSpec(
            "rt_cycle_hit_prob",
            "proportion",
            "wilson-design",
            ci=("rt_cycle_hit_prob_ci_low", "rt_cycle_hit_prob_ci_high"),
            exact="rt_cycle_hit_prob_exact",
            n=rt,
        ),
        EstimateSpec(
            "rt_cycle_ipis_p99",
            "quantile",
            "wilson-inversion",
            ci=("rt_cycle_ipis_p99_ci_low", "rt_cycle_ipis_p99_ci_high"),
            exact="rt_cycle_ipis_p99_exact",
            n=rt,
        ),
        _normal("rt_cycle_ipis_max", "mean"),
        EstimateSpec(
            "rt_added_latency_us_p99",
            "quantile",
            "wilson-inversion",
            ci=("rt_added_latency_us_p99_ci_low", "rt_added_latency_us_p99_ci_high"),
            exact="rt_added_latency_us_p99_exact",
            n=rt,
        ),
        EstimateSpec(
            "rt_added_latency_us_p9999",
            "quantile",
            "wilson-inversion",
            ci=("rt_added_latency_us_p9999_ci_low", "rt_added_latency_us_p9999_ci_high"),
            n=rt,
        ),
    )


VARIABLES = _variables()
SPECS = _specs()
