"""What the host study stores (``docs/model.md`` §11.9): variables, units, estimates.

Policies are not sweep dimensions: every sequence evaluates every IPI policy x collapse
policy and every split-time table source on the same zone path, THPs, gathers and
collapses (common random numbers). An output that varies by policy has output
dimensions (``contract.Variable.dims``) with the coordinates of :data:`OUTPUT_COORDS`:

* ``ipi_policy`` x ``collapse_policy``: IPIs reaching an isolated CPU and the most in one
  RT cycle (``isolated_cpu_ipis_per_hour``, ``rt_cycle_ipis_max``);
* ``collapse_policy``: khugepaged's IPIs under the mainline IPI policy
  (``collapse_ipis_per_hour``);
* ``table_policy``: where a split finds its table when nothing was deposited (on demand
  with GFP_NOWAIT or GFP_ATOMIC, or a per-CPU cache of k tables; the rows of
  ``mcstudy.kernel.policies.SPLIT_TABLE_VARIANTS``): ``split_alloc_failures_per_hour``;
* ``cache_k``: tables held in the per-CPU caches (``reserve_bytes_mean``). A cache has a
  size; an on-demand source holds nothing by construction (no estimate to store), and
  the deposit's memory is ``deposit_bytes_mean``: so the memory held has its own
  dimension, numeric, and not the failures' ``table_policy`` grid.

A point's values name one cell as :func:`key` builds it (``mcstudy.models.contract.cell_name``);
nothing parses a name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcstudy.kernel.policies import (
    COLLAPSE_POLICIES,
    HOST_CACHE_SIZES,
    IPI_POLICIES,
    MAINLINE_COLLAPSE,
    MAINLINE_IPI,
    SPLIT_TABLE_VARIANTS,
    collapse_with,
)
from mcstudy.models.contract import EstimateSpec, Variable, cell_name

IPI_DIMS = ("ipi_policy", "collapse_policy")
COLLAPSE_DIMS = ("collapse_policy",)
TABLE_DIMS = ("table_policy",)
CACHE_DIMS = ("cache_k",)
OUTPUT_COORDS: dict[str, tuple[Any, ...]] = {
    "ipi_policy": IPI_POLICIES,
    "collapse_policy": COLLAPSE_POLICIES,
    "table_policy": tuple(v.name for v in SPLIT_TABLE_VARIANTS),
    "cache_k": HOST_CACHE_SIZES,
}
"""The coordinates of the host study's output dimensions."""
MAINLINE_AT: dict[str, Any] = {"ipi_policy": MAINLINE_IPI, "collapse_policy": MAINLINE_COLLAPSE}
"""The mainline cell of the IPI outputs: where the main estimate is taken."""
ON_DEMAND = SPLIT_TABLE_VARIANTS[0].name
"""The split-time table source of the summary: on demand with GFP_NOWAIT."""
FRESH_COLLAPSE = collapse_with(fresh_table=True, old_table_by_rcu=False)
"""The collapse policy whose fresh-table failures the host study reports."""

_V: dict[str, Variable] = {}
_S: list[EstimateSpec] = []


def key(name: str, at: Mapping[str, Any] | None = None) -> str:
    """The key of variable ``name`` at cell ``at`` in a point's values (``name`` itself
    for a variable without output dimensions)."""
    return cell_name(name, _V[name].dims, at or {})


def _add(
    name: str,
    units: str,
    long_name: str,
    kind: str,
    interval: str,
    *,
    exact: bool = True,
    n: str = "sequences",
    dims: tuple[str, ...] = (),
) -> None:
    """Declare estimate ``name`` and its companions, all with output dimensions ``dims``
    (the sample size is per point)."""
    _V[name] = Variable(units, long_name, dims=dims)
    _V[f"{name}_stderr"] = Variable(units, f"standard error of {name}", dims=dims)
    _V[f"{name}_ci_low"] = Variable(units, f"95% interval low end of {name}", dims=dims)
    _V[f"{name}_ci_high"] = Variable(units, f"95% interval high end of {name}", dims=dims)
    if exact:
        _V[f"{name}_exact"] = Variable(units, f"{long_name} (exact)", dims=dims)
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
    _add(
        "isolated_cpu_ipis_per_hour",
        "IPIs/h",
        "synchronous IPIs reaching one isolated CPU per hour",
        "rate",
        gw,
        dims=IPI_DIMS,
    )
    _add(
        "rt_cycle_ipis_max",
        "IPIs",
        "most IPIs in one RT cycle over a horizon, mean over sequences",
        "mean",
        gw,
        dims=IPI_DIMS,
    )
    _add(
        "collapse_ipis_per_hour",
        "IPIs/h",
        f"khugepaged IPIs reaching one isolated CPU per hour (ipi_policy {MAINLINE_IPI})",
        "rate",
        gw,
        dims=COLLAPSE_DIMS,
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
    _add(
        "split_alloc_failures_per_hour",
        "failures/h",
        "split-time table allocations that failed per hour (no deposited table)",
        "rate",
        gw,
        dims=TABLE_DIMS,
    )
    _add(
        "reserve_bytes_mean",
        "bytes",
        "tables held in per-CPU caches of cache_k tables (time average)",
        "mean",
        "normal",
        dims=CACHE_DIMS,
    )
    for name, units, long_name, dtype in (
        ("sequences", "sequences", "simulated sequences of horizon_s each (sample size)", "int64"),
        ("rt_cycles", "cycles", "RT cycles observed (sample size of rt_cycle_hit_prob)", "int64"),
        ("sequences_reaching_min", "sequences", "sequences whose zone reached wmark_min", "int64"),
        (
            "zone_scale",
            "pages",
            "pages per level of the simulated zone outside its fine band",
            "int64",
        ),
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
