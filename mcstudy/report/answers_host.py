"""The review's questions answered from a host-study dataset (``model = "host"``,
``docs/model.md`` §11.11): one sentence each, with its 95 % interval and condition.

The sentences are taken at a reference point: the ``bursts`` load (the review's case:
housekeeping bursts drive the zone to min) and the first swept kernel whose fallback
sends IPIs; the summary table then gives every load and kernel.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from mcstudy.kernel.profiles import get_profile
from mcstudy.models.host.outputs import COLLAPSE_ROWS, RESERVE_ROWS, ipi_name, table_name
from mcstudy.models.host.scenarios import LOADS
from mcstudy.report.answers import (
    Answers,
    Item,
    Reader,
    Table,
    bytes_unit,
    human_bytes,
    quote,
)
from mcstudy.report.fmt import count, num


def reference(r: Reader) -> dict[str, Any]:
    """Coordinates of the reference point (bursts load, a kernel whose fallback IPIs)."""
    at: dict[str, Any] = {}
    loads = r.values("load")
    if loads:
        at["load"] = "bursts" if "bursts" in loads else loads[-1]
    kernels = r.values("kernel")
    if kernels:
        sends = [k for k in kernels if _sends(k)]
        at["kernel"] = sends[0] if sends else kernels[0]
    for d in r.dims:
        at.setdefault(d, r.values(d)[0])
    return at


def _profile(name: Any) -> Any:
    try:
        return get_profile(str(name))
    except KeyError:
        return None


def _sends(kernel: Any) -> bool:
    prof = _profile(kernel)
    return prof is not None and prof.uses_tlb_remove_table and prof.fallback_sends_ipi


def _n(r: Reader, at: dict[str, Any]) -> str:
    n = r.value("sequences", **at)
    hours = float(r.params.get("horizon_s", 3600.0)) / 3600.0
    return f"{num(n * hours, 3)} host-hours" if math.isfinite(n) else "an unknown sample"


def condition(r: Reader, at: dict[str, Any]) -> str:
    """The condition of a sentence: load, kernel and any other pinned coordinate."""
    parts = []
    if "load" in at:
        parts.append(f"{at['load']} load")
    if "kernel" in at:
        parts.append(f"`{at['kernel']}`")
    parts += [f"{k} = {v}" for k, v in at.items() if k not in ("load", "kernel")]
    return ", ".join(parts)


def cycle_text(r: Reader) -> str:
    us = float(r.params.get("rt_cycle_us", 1000.0))
    return f"{num(us / 1000, 3)} ms" if us >= 1000 else f"{num(us, 3)} us"


def _exact(x: float) -> str:
    if not math.isfinite(x):
        return ""
    return "exact < 1e-300" if x == 0.0 else f"exact {num(x, 2)}"


def pressure_item(r: Reader, at: dict[str, Any]) -> Item:
    hot, calm = [], []
    for load in r.values("load") or [at.get("load")]:
        here = {**at, "load": load}
        y = r.value("nowait_fail_prob", **here)
        ex = _exact(r.exact("nowait_fail_prob", **here))
        if y == 0.0:
            calm.append(f"{load} ({r.quote('nowait_fail_prob', **here)}; {ex})")
        else:
            hot.append(
                f"{r.quote('nowait_fail_prob', **here)} ({ex}) under the {load} load, reached "
                f"in {count(r.value('sequences_reaching_min', **here))} of "
                f"{count(r.value('sequences', **here))} host-hours"
            )
    answer = ("Yes, in bursts: P(GFP_NOWAIT fails) = " + "; ".join(hot)) if hot else "No"
    if calm:
        answer += ("; never" if hot else ": never") + " under " + ", ".join(calm)
    return Item(
        "Does !rt housekeeping drive the zone to the pressure at which GFP_NOWAIT fails?",
        answer + ". The zone's dynamics decide it; no failure probability is set by hand.",
    )


def fallback_item(r: Reader, at: dict[str, Any]) -> Item:
    kernels = r.values("kernel") or [at.get("kernel")]
    ref = at.get("kernel")
    head = f"Under the {at.get('load')} load, {r.quote('fallbacks_per_hour', 'per hour', **at)}"
    head += f" on `{ref}`, each an IPI to every other CPU" if _sends(ref) else f" on `{ref}`"
    rest = []
    for k in kernels:
        if k == ref:
            continue
        prof = _profile(k)
        here = {**at, "kernel": k}
        if prof is not None and not prof.uses_tlb_remove_table:
            rest.append(f"`{k}` none (page tables bypass tlb_remove_table())")
        elif prof is not None and not prof.fallback_sends_ipi:
            rest.append(f"`{k}` {r.quote('fallbacks_per_hour', **here)}, freed by call_rcu()")
        else:
            rest.append(f"`{k}` {r.quote('fallbacks_per_hour', **here)}")
    quiet = [
        x
        for x in (r.values("load") or [])
        if r.value("fallbacks_per_hour", **{**at, "load": x}) == 0.0
    ]
    tail = (
        (
            f"; none under the {' and '.join(str(x) for x in quiet)} "
            f"load{'s' if len(quiet) > 1 else ''} "
            f"(upper bound {num(r.triple('fallbacks_per_hour', **{**at, 'load': quiet[0]})[2], 2)}"
            " per hour)"
        )
        if quiet
        else ""
    )
    return Item(
        "How often does the tlb_remove_table_one() fallback fire?",
        head + (" (" + "; ".join(rest) + ")" if rest else "") + tail + ".",
    )


def ipi_item(r: Reader, at: dict[str, Any]) -> Item:
    cost = float(r.params.get("ipi_cost_us", 4.0))
    mx, lo, hi = r.triple("rt_cycle_ipis_max", **at)
    share = float(r.params.get("rt_mm_share", 0.0))
    reasons = {
        "mm_cpumask": "the RT CPU is in no housekeeping mm's cpumask"
        if share == 0.0
        else f"{share:g} of the events are in the RT application's mm",
        "kernel_mode": "it is moreover in user mode "
        f"{num(float(r.params.get('rt_user_fraction', 0.95)) * 100, 3)} % of the time",
        "rcu": "no round at all: tables freed after an RCU grace period, khugepaged waiting "
        "in synchronize_rcu()",
    }
    parts = []
    for ipi in ("mm_cpumask", "kernel_mode", "rcu"):
        name = ipi_name("isolated_cpu_ipis_per_hour", ipi, "sync_ipi")
        if r.has(name):
            parts.append(f"`{ipi}` to {r.quote(name, 'per hour', **at)} ({reasons[ipi]})")
    cut = (" Instead, " + "; ".join(parts)) if parts else ""
    return Item(
        "How many synchronous IPIs reach an isolated RT CPU, under each IPI policy?",
        f"With `broadcast` (mainline), {r.quote('isolated_cpu_ipis_per_hour', 'per hour', **at)}"
        f" ({condition(r, at)}): {r.quote('collapse_ipis_per_hour', **at)} from khugepaged, "
        f"{r.quote('fallback_ipis_per_hour', **at)} from fallbacks; the worst "
        f"{cycle_text(r)} RT cycle of an hour holds {quote(mx, lo, hi)} of them "
        f"({num(mx * cost, 3)} us at {num(cost, 2)} us each).{cut}.",
    )


def khugepaged_item(r: Reader, at: dict[str, Any]) -> Item:
    steady = {**at, "load": "steady"} if "steady" in r.values("load") else at
    alt = [
        f"`{col}` leaves {r.quote(name, 'per hour', **at)}"
        for name, col in COLLAPSE_ROWS.items()
        if col != "sync_ipi" and r.has(name)
    ]
    coll = r.value("collapse_ipis_per_hour", **at)
    fb = r.value("fallback_ipis_per_hour", **at)
    verdict = "Yes" if coll > fb else ("No" if coll == 0.0 else "It is second to the fallbacks")
    compare = (
        "more than the fallbacks"
        if coll > fb
        else ("none here" if coll == 0.0 else "fewer than the fallbacks")
    )
    return Item(
        "Does khugepaged's synchronous IPI matter; does a fresh table or RCU freeing remove it?",
        f"{verdict}: tlb_remove_table_sync_one() in collapse_huge_page() reaches each isolated "
        f"CPU {r.quote('collapse_ipis_per_hour', 'times per hour', **steady)} at any load "
        f"({condition(r, steady)}; under {at.get('load')}: {compare}). Under the "
        f"{at.get('load')} load "
        + " and ".join(alt)
        + ": only the collapses whose fresh GFP_NOWAIT table (or the old table's batch page) "
        "failed still send one.",
    )


def memory_item(r: Reader, at: dict[str, Any]) -> Item:
    dep, dlo, dhi = r.triple("deposit_bytes_mean", **at)
    unit, scale = bytes_unit(dep)
    loads = r.values("load") or [at.get("load")]
    worst = loads[-1] if "bursts" not in loads else "bursts"
    quiet = [x for x in loads if r.value("split_alloc_failures_per_hour", **{**at, "load": x}) == 0]
    hot = [x for x in loads if x not in quiet]
    fails = [
        f"{r.quote('split_alloc_failures_per_hour', 'per hour', **{**at, 'load': x})} under {x}"
        for x in hot
    ]
    if quiet:
        ub = r.triple("split_alloc_failures_per_hour", **{**at, "load": quiet[0]})[2]
        fails.append(
            f"none under {' and '.join(str(x) for x in quiet)} (upper bound {num(ub, 2)} per hour)"
        )
    atomic = ""
    if r.has("split_alloc_failures_per_hour_on_demand_atomic"):
        atomic = (
            "; with GFP_ATOMIC, which may take the zone down to 3/8 of min, "
            f"{r.quote('split_alloc_failures_per_hour_on_demand_atomic', 'per hour', **{**at, 'load': worst})}"
            f" under {worst}"
        )
    enough = None
    for name, k in RESERVE_ROWS.items():
        fname = table_name("split_alloc_failures_per_hour", f"cache_{k}")
        if r.value(fname, **{**at, "load": worst}) == 0.0:
            enough = (k, name, fname)
            break
    cache = ""
    if enough is not None:
        k, name, fname = enough
        cache = (
            f" A per-CPU cache of {k} table{'s' if k > 1 else ''} ({human_bytes(r.value(name, **at))} on all split "
            f"CPUs) failed {r.quote(fname, **{**at, 'load': worst})} per hour under {worst}."
        )
    return Item(
        "What do page tables deposited for THPs cost, against allocating on demand and "
        "failing under pressure?",
        f"Mainline deposits {quote(dep * scale, dlo * scale, dhi * scale, unit)} for "
        f"{count(round(r.value('thp_mean', **at)))} THPs, split or not. On demand (GFP_NOWAIT "
        "at split time) holds nothing and fails " + "; ".join(fails) + atomic + "." + cache,
    )


def summary_table(r: Reader) -> Table:
    header = [
        "load / kernel",
        "P(NOWAIT fails)",
        "fallbacks/h",
        "iso. IPIs/h",
        f"worst {cycle_text(r)}",
        "split fails/h",
    ]
    rows = []
    loads = r.values("load") or [None]
    kernels = r.values("kernel") or [None]
    for load in loads:
        for k in kernels:
            at = {d: v for d, v in (("load", load), ("kernel", k)) if v is not None}
            label = " / ".join(str(v) for v in at.values())
            rows.append(
                [
                    (label, None),
                    r.cell("nowait_fail_prob", **at),
                    r.cell("fallbacks_per_hour", **at),
                    r.cell("isolated_cpu_ipis_per_hour", **at),
                    r.cell("rt_cycle_ipis_max", **at),
                    r.cell("split_alloc_failures_per_hour", **at),
                ]
            )
    n = r.value("sequences")
    return Table(
        "Every load and kernel: P(a GFP_NOWAIT allocation fails), tlb_remove_table_one() "
        "calls per hour, IPIs per hour at one isolated CPU and most IPIs in one RT cycle "
        "(broadcast, khugepaged's sync IPI), failed on-demand split-time allocations per "
        f"hour; {count(n)} host-hours per row, 95 % intervals.",
        header,
        rows,
    )


def policy_table(r: Reader, at: dict[str, Any]) -> Table:
    """Isolated-CPU IPIs per hour: rows IPI policy, columns collapse policy."""
    cols = ["sync_ipi", "fresh_table", "rcu_free"]
    rows = []
    for ipi in ("broadcast", "mm_cpumask", "kernel_mode", "rcu"):
        row: list[tuple[str, str | None]] = [(ipi, None)]
        for col in cols:
            row.append(r.cell(ipi_name("isolated_cpu_ipis_per_hour", ipi, col), **at))
        rows.append(row)
    return Table(
        f"IPIs per hour reaching one isolated CPU, by IPI policy and collapse policy "
        f"({condition(r, at)}; the same sequences for every policy).",
        ["ipi_policy \\ collapse_policy", *cols],
        rows,
    )


def memory_table(r: Reader, at: dict[str, Any]) -> Table:
    """Deposit against on-demand: memory held and failures per hour, per table policy."""
    loads = r.values("load") or [at.get("load")]
    zero = ("0", None)
    rows: list[list[tuple[str, str | None]]] = [
        [("deposit (mainline)", None), (human_bytes(r.value("deposit_bytes_mean", **at)), None)]
        + [zero for _ in loads],
        [("on demand, GFP_NOWAIT", None), zero]
        + [r.cell("split_alloc_failures_per_hour", **{**at, "load": x}) for x in loads],
    ]
    if r.has("split_alloc_failures_per_hour_on_demand_atomic"):
        name = "split_alloc_failures_per_hour_on_demand_atomic"
        rows.append(
            [("on demand, GFP_ATOMIC", None), zero]
            + [r.cell(name, **{**at, "load": x}) for x in loads]
        )
    for name, k in RESERVE_ROWS.items():
        fname = table_name("split_alloc_failures_per_hour", f"cache_{k}")
        rows.append(
            [(f"cache of {k} per CPU", None), (human_bytes(r.value(name, **at)), None)]
            + [r.cell(fname, **{**at, "load": x}) for x in loads]
        )
    return Table(
        "Deposit against on-demand: page-table memory held for splits and split-time "
        f"allocations that failed per hour, by load (`{at.get('kernel', '')}`; caches refill "
        "with GFP_NOWAIT, a miss allocates with GFP_NOWAIT).",
        ["table policy", "held", *(f"fails/h {x}" for x in loads)],
        rows,
    )


def host_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    at = reference(r)
    load = at.get("load")
    desc = LOADS[load].description if load in LOADS else ""
    items = [
        pressure_item(r, at),
        fallback_item(r, at),
        ipi_item(r, at),
        khugepaged_item(r, at),
        memory_item(r, at),
    ]
    notes = []
    if desc:
        notes.append(f"The {load} load: {desc}.")
    notes.append(f"Sample: {_n(r, at)} per point; every policy on the same sequences.")
    scale = r.value("zone_scale", **at)
    if math.isfinite(scale) and scale > 1:
        notes.append(
            f"The zone is simulated at 1/{int(scale)} of its "
            f"{human_bytes(r.value('zone_managed_pages', **at) * 4096)} with every page rate "
            "scaled alike, which keeps the watermark ratios and the time below min "
            "(docs/model.md §11.5)."
        )
    return Answers(
        f"Answers: {condition(r, at)}",
        items,
        [summary_table(r), policy_table(r, at), memory_table(r, at)],
        notes,
    )
