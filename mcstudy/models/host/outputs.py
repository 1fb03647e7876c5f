"""What the host study stores (``docs/model.md`` §11.9): variables, units, estimates.

Policies are not sweep dimensions: every sequence evaluates every IPI policy x collapse
policy and every table policy on the same zone path, THPs, gathers and collapses
(common random numbers). Each variant's estimates are separate variables; the names
are built here once (:func:`ipi_name`, :func:`table_name`) and :data:`IPI_ROWS`,
:data:`TABLE_ROWS` map them back to their policies, so nothing parses a name.
"""

from __future__ import annotations

from mcstudy.kernel.policies import (
    COLLAPSE_POLICIES,
    MAINLINE_COLLAPSE,
    MAINLINE_IPI,
    SPLIT_TABLE_VARIANTS,
    collapse_with,
)
from mcstudy.models.contract import EstimateSpec, Variable
from mcstudy.models.host.kernels import CACHE_SIZES, IPI_VARIANTS, TABLE_VARIANTS

MAINLINE = IPI_VARIANTS[0]  # (broadcast, sync_ipi)


def ipi_name(base: str, ipi: str, collapse: str) -> str:
    """Variable of ``base`` under (``ipi``, ``collapse``); mainline keeps the bare name."""
    if (ipi, collapse) == MAINLINE:
        return base
    return f"{base}_{ipi}" + ("" if collapse == MAINLINE_COLLAPSE else f"_{collapse}")


def table_name(base: str, variant: str) -> str:
    """Variable of ``base`` under a table variant; ``on_demand`` keeps the bare name."""
    return base if variant == "on_demand" else f"{base}_{variant}"


IPI_ROWS: dict[str, tuple[str, str]] = {
    ipi_name("isolated_cpu_ipis_per_hour", i, c): (i, c) for i, c in IPI_VARIANTS
}
"""isolated_cpu_ipis_per_hour variable -> (ipi_policy, collapse_policy)."""
MAX_ROWS: dict[str, tuple[str, str]] = {
    ipi_name("rt_cycle_ipis_max", i, c): (i, c) for i, c in IPI_VARIANTS
}
TABLE_ROWS: dict[str, str] = {
    table_name("split_alloc_failures_per_hour", v): v for v in TABLE_VARIANTS
}
"""split_alloc_failures_per_hour variable -> table variant."""
RESERVE_ROWS: dict[str, int] = {f"reserve_bytes_mean_cache_{k}": k for k in CACHE_SIZES}
COLLAPSE_ROWS: dict[str, str] = {
    "collapse_ipis_per_hour" + ("" if c == MAINLINE_COLLAPSE else f"_{c}"): c
    for c in COLLAPSE_POLICIES
}
"""khugepaged IPIs at the isolated CPU under the mainline IPI policy, per collapse policy."""
FRESH_COLLAPSE = collapse_with(fresh_table=True, old_table_by_rcu=False)
"""The collapse policy whose fresh-table failures the host study reports."""

_V: dict[str, Variable] = {}
_S: list[EstimateSpec] = []


def _add(
    name: str,
    units: str,
    long_name: str,
    kind: str,
    interval: str,
    *,
    exact: bool = True,
    n: str = "sequences",
) -> None:
    _V[name] = Variable(units, long_name)
    _V[f"{name}_stderr"] = Variable(units, f"standard error of {name}")
    _V[f"{name}_ci_low"] = Variable(units, f"95% interval low end of {name}")
    _V[f"{name}_ci_high"] = Variable(units, f"95% interval high end of {name}")
    if exact:
        _V[f"{name}_exact"] = Variable(units, f"{long_name} (exact)")
    _S.append(
        EstimateSpec(
            name,
            kind,
            interval,
            stderr=f"{name}_stderr",
            ci=(f"{name}_ci_low", f"{name}_ci_high"),
            exact=f"{name}_exact" if exact else None,
            n=n,
        )
    )


def _build() -> None:
    wd = "wilson-design"
    gw = "score"
    _add(
        "nowait_fail_prob",
        "1",
        "P(a GFP_NOWAIT order-0 allocation fails): time at or below wmark_min",
        "proportion",
        wd,
    )
    _add(
        "atomic_fail_prob",
        "1",
        "P(a GFP_ATOMIC order-0 allocation fails): time at or below the atomic mark",
        "proportion",
        wd,
    )
    _add(
        "kswapd_awake_frac",
        "1",
        "fraction of time kswapd is awake",
        "proportion",
        wd,
    )
    _add(
        "direct_reclaim_stalls_per_hour",
        "stalls/h",
        "direct-reclaim stalls of blocking allocations per hour",
        "rate",
        gw,
    )
    _add(
        "fallbacks_per_hour",
        "tables/h",
        "tlb_remove_table_one() calls from munmap gathers per hour",
        "rate",
        gw,
    )
    for i, c in IPI_VARIANTS:
        where = f"ipi_policy {i}, collapse_policy {c}"
        _add(
            ipi_name("isolated_cpu_ipis_per_hour", i, c),
            "IPIs/h",
            f"synchronous IPIs reaching one isolated CPU per hour ({where})",
            "rate",
            gw,
        )
        _add(
            ipi_name("rt_cycle_ipis_max", i, c),
            "IPIs",
            f"most IPIs in one RT cycle over a horizon, mean over sequences ({where})",
            "mean",
            gw,
        )
    for name, c in COLLAPSE_ROWS.items():
        _add(
            name,
            "IPIs/h",
            f"khugepaged IPIs reaching one isolated CPU per hour ({MAINLINE_IPI}, "
            f"collapse_policy {c})",
            "rate",
            gw,
        )
    _add(
        "fallback_ipis_per_hour",
        "IPIs/h",
        "tlb_remove_table_one() IPIs reaching one isolated CPU per hour (broadcast)",
        "rate",
        gw,
    )
    _add(
        "fresh_alloc_failures_per_hour",
        "failures/h",
        "khugepaged fresh-table allocations that failed per hour (fresh_table)",
        "rate",
        gw,
    )
    _add(
        "rt_cycle_hit_prob",
        "1",
        "P(an RT cycle sees >= 1 IPI) (broadcast, sync_ipi)",
        "proportion",
        wd,
        n="rt_cycles",
    )
    _add("thp_mean", "THPs", "time-average PMD-mapped THPs", "mean", "normal")
    _add(
        "deposit_bytes_mean",
        "bytes",
        "time-average page tables deposited for THPs (mainline)",
        "mean",
        "normal",
    )
    _add(
        "deposit_bytes_peak",
        "bytes",
        "largest deposit over a horizon, mean over sequences",
        "mean",
        "normal",
        exact=False,
    )
    _add("splits_per_hour", "splits/h", "PMD splits per hour", "rate", gw)
    for tv in SPLIT_TABLE_VARIANTS:
        _add(
            table_name("split_alloc_failures_per_hour", tv.name),
            "failures/h",
            f"split-time table allocations that failed per hour ({tv.prose})",
            "rate",
            gw,
        )
    for name, k in RESERVE_ROWS.items():
        _add(
            name, "bytes", f"tables held in per-CPU caches of {k} (time average)", "mean", "normal"
        )
    for name, units, long_name, dtype in (
        ("sequences", "sequences", "simulated sequences of horizon_s each (sample size)", "int64"),
        ("rt_cycles", "cycles", "RT cycles observed (sample size of rt_cycle_hit_prob)", "int64"),
        ("sequences_reaching_min", "sequences", "sequences whose zone reached wmark_min", "int64"),
        ("zone_scale", "1", "the simulated zone is 1/zone_scale of the real one", "int64"),
        ("zone_managed_pages", "pages", "managed pages of the real zone", "int64"),
        ("zone_wmark_min", "pages", "WMARK_MIN of the real zone", "int64"),
        ("zone_wmark_low", "pages", "WMARK_LOW of the real zone", "int64"),
        ("zone_wmark_high", "pages", "WMARK_HIGH of the real zone", "int64"),
    ):
        _V[name] = Variable(units, long_name, dtype)


_build()
VARIABLES: dict[str, Variable] = dict(_V)
SPECS: tuple[EstimateSpec, ...] = tuple(_S)
DERIVED = (
    "zone_scale",
    "zone_managed_pages",
    "zone_wmark_min",
    "zone_wmark_low",
    "zone_wmark_high",
)
