"""Answers first for the gather, pressure and THP models and the live-kernel probe: the
question, the number with its 95 % interval, the condition, then one table.

Sentences quote estimates at coordinates chosen by the sweep (its ends, a reference
kernel), never at the smallest or largest noisy value.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from mcstudy.kernel.profiles import get_profile
from mcstudy.report.answers import GIB, MIB, Answers, Item, Reader, Table, human_bytes
from mcstudy.report.fmt import coord, count, num

FREQUENT = 1e-3
"""P(GFP_NOWAIT fails) from which a pressure study calls the failure frequent."""


def _kernel_ref(r: Reader, uses_trt: bool = True) -> Any:
    kernels = r.values("kernel")
    for k in kernels:
        try:
            prof = get_profile(str(k))
        except KeyError:
            continue
        if prof.uses_tlb_remove_table and prof.fallback_sends_ipi == uses_trt:
            return k
    return kernels[0] if kernels else None


def _pin(r: Reader, at: dict[str, Any]) -> dict[str, Any]:
    for d in r.dims:
        if d not in at:
            at[d] = r.values(d)[0]
    return at


def _cond(at: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{k} = {coord(v)}" for k, v in at.items() if k not in skip)


# --------------------------------------------------------------------------- gather


def gather_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    at: dict[str, Any] = {}
    k = _kernel_ref(r)
    if k is not None:
        at["kernel"] = k
    ps = r.values("gfp_nowait_fail_p")
    ns = r.values("tables_per_gather")
    _pin(r, at)
    batch = get_profile(str(at.get("kernel", "v6.3-kvm-pv"))).max_table_batch
    parts = []
    for p in sorted({ps[0], ps[-1]}) if ps else []:
        for n in sorted({ns[0], ns[-1]}) if ns else []:
            here = {**at, "gfp_nowait_fail_p": p, "tables_per_gather": n}
            ex = r.exact("fallback_prob", **here)
            parts.append(
                f"p = {coord(p)}, {count(n)} table{'s' if n != 1 else ''}: "
                f"{r.quote('fallback_prob', **here)}"
                + (f" (exact {num(ex, 3)})" if math.isfinite(ex) else "")
            )
    items = [
        Item(
            "How often does one mmu_gather fall back to tlb_remove_table_one(), given the "
            "GFP_NOWAIT failure probability p of its batch page?",
            f"A gather of n tables makes one batch-page attempt per {batch} tables and falls "
            f"back unless all succeed: P = 1 - (1 - p)^ceil(n/{batch}) exactly. Measured "
            f"({_cond(at, ('gfp_nowait_fail_p', 'tables_per_gather'))}): " + "; ".join(parts) + ".",
        )
    ]
    if r.has("sync_ipis_mean") and ps and ns:
        here = {**at, "gfp_nowait_fail_p": ps[-1], "tables_per_gather": ns[-1]}
        items.append(
            Item(
                "How many synchronous IPIs does that send per gather?",
                f"At p = {coord(ps[-1])} and {count(ns[-1])} tables: "
                f"{r.quote('sync_ipis_mean', 'IPI deliveries per gather', **here)} "
                f"({r.quote('fallbacks_mean', 'fallbacks', **here)} per gather); none "
                "under PT_RECLAIM (call_rcu()) or on bare metal before v6.14.",
            )
        )
    tables = []
    if ps and ns:
        rows = []
        for p in ps:
            rows.append(
                [(coord(p), None)]
                + [
                    r.cell(
                        "fallback_prob", **{**at, "gfp_nowait_fail_p": p, "tables_per_gather": n}
                    )
                    for n in ns
                ]
            )
        tables.append(
            Table(
                f"P(>= 1 fallback per gather), rows p, columns tables per gather "
                f"({_cond(at, ('gfp_nowait_fail_p', 'tables_per_gather'))}; "
                f"{count(r.value('sequences'))} gathers per point).",
                ["p \\ n", *(count(n) for n in ns)],
                rows,
            )
        )
    return Answers(
        "Answers: tlb_remove_table() fallbacks per gather",
        items,
        tables,
        [
            "p is set by hand here; the host study (configs/default.toml) derives it from "
            "the zone's watermarks."
        ],
    )


# --------------------------------------------------------------------------- pressure


def pressure_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    dims = r.dims
    load_dim = next(
        (d for d in ("alloc_scale", "burst_alloc_rate", "alloc_rate") if d in dims),
        dims[0] if dims else None,
    )
    other = next((d for d in dims if d != load_dim), None)
    items = []
    if load_dim is None:
        at = _pin(r, {})
        items.append(
            Item(
                "How often does a gather's GFP_NOWAIT batch page fail?",
                f"{r.quote('nowait_fail_prob')} (exact {num(r.exact('nowait_fail_prob'), 3)}).",
            )
        )
        return Answers("Answers: GFP_NOWAIT failure from the zone's dynamics", items)
    loads = r.values(load_dim)
    cols = r.values(other) if other else [None]
    parts = []
    rows = []
    for c in cols:
        at = _pin(r, {other: c} if other else {})
        first = None
        for x in loads:
            _y, lo, _hi = r.triple("nowait_fail_prob", **{**at, load_dim: x})
            if first is None and math.isfinite(lo) and lo >= FREQUENT:
                first = x
        lo_q = r.quote("nowait_fail_prob", **{**at, load_dim: loads[0]})
        hi_q = r.quote("nowait_fail_prob", **{**at, load_dim: loads[-1]})
        where = f"{other} = {coord(c)}" if other else "this zone"
        when = (
            f"frequent (95 % interval above {FREQUENT:g}) from {load_dim} = {coord(first)}"
            if first is not None
            else f"never surely above {FREQUENT:g} in the swept range"
        )
        parts.append(
            f"{where}: {lo_q} at {load_dim} = {coord(loads[0])}, {hi_q} at "
            f"{coord(loads[-1])}; {when}"
        )
    for x in loads:
        rows.append(
            [(coord(x), None)]
            + [
                r.cell(
                    "nowait_fail_prob", **_pin(r, {load_dim: x, **({other: c} if other else {})})
                )
                for c in cols
            ]
        )
    items.append(
        Item(
            f"How often does a gather's GFP_NOWAIT batch page fail, against the load "
            f"({load_dim}), and from which load is it frequent?",
            "; ".join(parts) + ".",
        )
    )
    if r.has("fallbacks_per_s"):
        at = _pin(r, {load_dim: loads[-1]})
        items.append(
            Item(
                "What does that mean per second?",
                f"At {_cond(at)}: {r.quote('fallbacks_per_s', 'fallbacks/s', **at)}, "
                f"{r.quote('sync_ipis_per_s', 'sync IPI deliveries/s', **at)}, "
                f"{r.quote('stalls_per_s', 'direct-reclaim stalls/s', **at)}.",
            )
        )
    table = Table(
        f"P(a gather's GFP_NOWAIT attempt fails), rows {load_dim}"
        + (f", columns {other}" if other else "")
        + f"; {count(r.value('sequences'))} trajectories per point.",
        [
            f"{load_dim}" + (f" \\ {other}" if other else ""),
            *(coord(c) if other else "P(fail)" for c in cols),
        ],
        rows,
    )
    return Answers("Answers: GFP_NOWAIT failure from the zone's dynamics", items, [table])


# --------------------------------------------------------------------------- THP


def _per_hour(r: Reader, name: str, **at: Any) -> str:
    return r.quote(name, "per hour", 3600.0, **at)


def thp_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    ipi_dims = {"ipi_policy", "collapse_policy", "rt_mm_share"}
    if ipi_dims & set(r.dims) and "cache_k" not in r.dims:
        return _thp_ipi_answers(r)
    return _thp_memory_answers(r)


def _thp_memory_answers(r: Reader) -> Answers:
    pfs = r.values("pressure_fraction") or [0.0]
    ks = r.values("cache_k")
    at = _pin(r, {"split_gfp": "nowait"} if "split_gfp" in r.dims else {})
    dep, dlo, dhi = r.triple("deposit_bytes_mean", **at)
    items = [
        Item(
            "What do the page tables deposited for THPs cost?",
            f"{human_bytes(dep)} [{dlo / GIB:.4g}, {dhi / GIB:.4g} GiB] for "
            f"{num(r.value('thp_mean', **at), 3)} PMD-mapped THPs (1/512 of their memory), "
            "held whether or not a THP is ever split.",
        )
    ]
    if ks:
        parts = []
        for pf in pfs:
            here = {**at, "pressure_fraction": pf, "cache_k": ks[0]}
            parts.append(
                f"pressure_fraction {coord(pf)}: "
                f"{r.quote('split_alloc_failures_per_hour', 'per hour', **here)}"
            )
        big = {**at, "pressure_fraction": pfs[-1], "cache_k": ks[-1]}
        items.append(
            Item(
                "And allocating them at split time instead (with a per-CPU cache)?",
                f"With cache_k = {ks[0]} split-time allocations fail "
                + "; ".join(parts)
                + f". A cache of {ks[-1]} per CPU holds "
                f"{human_bytes(r.value('reserve_bytes_mean', **big))} and fails "
                f"{r.quote('split_alloc_failures_per_hour', 'per hour', **big)} at "
                f"pressure_fraction {coord(pfs[-1])} ({_cond(at, ('pressure_fraction', 'cache_k'))}). "
                "pressure_fraction is set by hand here; the host study derives it.",
            )
        )
    rows = []
    for k in ks or [None]:
        here = {**at, **({"cache_k": k} if k is not None else {})}
        row: list[tuple[str, str | None]] = [(str(k), None)]
        row.append(
            r.cell("reserve_bytes_mean", scale=1.0 / MIB, **{**here, "pressure_fraction": pfs[0]})
        )
        for pf in pfs:
            row.append(r.cell("split_alloc_failures_per_hour", **{**here, "pressure_fraction": pf}))
        rows.append(row)
    table = Table(
        "Deposit against on-demand: tables held for splits (MiB) and failed split-time "
        f"allocations per hour, rows cache_k, by pressure_fraction ({_cond(at, ('cache_k', 'pressure_fraction'))}; "
        f"mainline's deposit holds {human_bytes(dep)}).",
        ["cache_k", "held (MiB)", *(f"fails/h pf {coord(pf)}" for pf in pfs)],
        rows,
    )
    return Answers("Answers: THP deposit against on-demand allocation", items, [table])


def _thp_ipi_answers(r: Reader) -> Answers:
    pfs = r.values("pressure_fraction") or [0.0]
    shares = r.values("rt_mm_share")
    at = _pin(
        r,
        {"pressure_fraction": pfs[-1], "collapse_policy": "sync_ipi"}
        if "collapse_policy" in r.dims
        else {"pressure_fraction": pfs[-1]},
    )
    if shares:
        at["rt_mm_share"] = shares[-1]
    policies = r.values("ipi_policy")
    cols = r.values("collapse_policy") or [None]
    parts = []
    for pol in policies:
        here = {**at, "ipi_policy": pol}
        parts.append(f"`{pol}` {_per_hour(r, 'isolated_cpu_ipis_per_s', **here)}")
    items = [
        Item(
            "How many synchronous IPIs reach an isolated CPU, under each IPI policy?",
            f"At {_cond(at, ('ipi_policy',))}: " + "; ".join(parts) + ". The worst RT cycle "
            f"under broadcast holds {r.quote('rt_cycle_ipis_max', **{**at, 'ipi_policy': 'broadcast'})} "
            "IPIs (mean over horizons).",
        )
    ]
    if "collapse_policy" in r.dims:
        here = {**at, "ipi_policy": "broadcast"}
        cparts = [
            f"`{c}` {_per_hour(r, 'isolated_collapse_ipis_per_s', **{**here, 'collapse_policy': c})}"
            for c in cols
        ]
        items.append(
            Item(
                "Does khugepaged's sync IPI matter, and does a fresh table or RCU freeing "
                "remove it?",
                "khugepaged IPIs at the isolated CPU (broadcast): " + "; ".join(cparts) + ".",
            )
        )
    rows = []
    for pol in policies:
        rows.append(
            [(str(pol), None)]
            + [
                r.cell(
                    "isolated_cpu_ipis_per_s",
                    scale=3600.0,
                    **{**at, "ipi_policy": pol, **({"collapse_policy": c} if c else {})},
                )
                for c in cols
            ]
        )
    table = Table(
        f"IPIs per hour reaching one isolated CPU, rows ipi_policy, columns collapse_policy "
        f"({_cond(at, ('ipi_policy', 'collapse_policy'))}; "
        f"{count(r.value('sequences'))} host-horizons per point). pressure_fraction is set "
        "by hand here; the host study derives it.",
        ["ipi_policy", *(str(c) for c in cols)],
        rows,
    )
    return Answers("Answers: IPIs at an isolated CPU, per policy", items, [table])


# --------------------------------------------------------------------------- probe


def probe_answers(ds: xr.Dataset) -> Answers:
    from mcstudy.probe.table import HEADER, probe_rows, verdict

    lines = verdict(ds)
    items = [Item("Does the running kernel do what the model says?", " ".join(lines))]
    rows = [[(c, None) for c in row] for row in probe_rows(ds)]
    table = Table(
        f"Measured on this machine against the model (profile {ds.attrs.get('kernel_profile')}; "
        "noise: predictive half-width from the no-work windows).",
        list(HEADER),
        rows,
    )
    return Answers(
        "Answers: the live kernel against the model",
        items,
        [table],
        [
            "The probe never creates memory pressure, so the fallback path itself is not "
            "exercised here; the Monte Carlo studies are for that."
        ],
    )
