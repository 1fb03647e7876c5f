"""Answers first for the gather, pressure and THP models: the
question, the number with its 95 % interval, the condition, then one table.

Sentences quote estimates at coordinates chosen by the sweep (its ends, a reference
kernel), never at the smallest or largest noisy value. Every builder renders any sweep
shape: one point, one dimension or many (dimensions a sentence does not range over are
pinned at a reference or first value and named in its condition); a parameter that is
not swept has its config or default value.
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from mcstudy.fmt import coord, count, duration, num
from mcstudy.kernel.policies import MAINLINE_COLLAPSE, MAINLINE_IPI, ipi_policy
from mcstudy.report.answers import (
    MIB,
    Answers,
    Item,
    Reader,
    Table,
    condition,
    human_bytes,
    quote_bytes,
    said,
    sample_text,
    unseen,
)

FREQUENT = 1e-3
"""P(GFP_NOWAIT fails) from which a pressure study calls the failure frequent."""


def _flag(r: Reader, kernel: Any, name: str) -> bool:
    """Kernel fact ``name`` (a profile's behaviour flag) of ``kernel``, as the dataset
    records it."""
    return bool(r.value_of(name, {"kernel": kernel}))


def _kernel_ref(r: Reader, sends: bool = True) -> Any:
    """The first kernel that frees through tlb_remove_table() and whose fallback sends
    (or, with ``sends`` False, does not send) an IPI round; else the first kernel."""
    kernels = r.values("kernel")
    for k in kernels:
        if (
            _flag(r, k, "kernel_uses_tlb_remove_table")
            and _flag(r, k, "kernel_fallback_sends_ipi") == sends
        ):
            return k
    return kernels[0] if kernels else None


def _pin(r: Reader, at: dict[str, Any]) -> dict[str, Any]:
    """``at`` completed with the first value of every sweep dimension it lacks."""
    for d in r.dims:
        if d not in at:
            at[d] = r.values(d)[0]
    return at


def _swept_condition(r: Reader, at: dict[str, Any], skip: tuple[str, ...] = ()) -> str:
    """The pinned sweep coordinates of ``at`` (those a reader must know)."""
    return condition({k: v for k, v in at.items() if k in r.dims}, skip)


def _paren(text: str) -> str:
    return f" ({text})" if text else ""


# --------------------------------------------------------------------------- gather


def _size_dim(r: Reader) -> str | None:
    """How a gather's size is given: ``tables_per_gather`` or ``munmap_mib``."""
    for d in ("tables_per_gather", "munmap_mib"):
        if d in r.dims or r.values(d):
            return d
    return None


def _size_label(r: Reader, dim: str | None, v: Any, here: dict[str, Any]) -> str:
    if dim == "munmap_mib":
        n = r.value("tables_per_gather_used", **here)
        tables = f" ({count(n)} table{'s' if n != 1 else ''})" if math.isfinite(n) else ""
        return f"a {coord(v)} MiB munmap{tables}"
    return f"{count(v)} table{'s' if v != 1 else ''}"


def gather_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    at: dict[str, Any] = {}
    k = _kernel_ref(r)
    if k is not None and "kernel" in r.dims:
        at["kernel"] = k
    ps = r.values("gfp_nowait_fail_p")
    size = _size_dim(r)
    ns = r.values(size) if size else []
    _pin(r, at)
    batch = int(r.value_of("max_table_batch", at))  # resolved: the profile's unless set
    episodes = float(r.value_of("pressure_episode_prob", at) or 0.0)
    skip = ("gfp_nowait_fail_p", size or "")
    pinned = _swept_condition(r, at, skip)
    parts = []
    for p in sorted({ps[0], ps[-1]}) if ps else []:
        for n in sorted({ns[0], ns[-1]}) if ns else []:
            here = {**at, "gfp_nowait_fail_p": p, size: n}
            u = unseen(r, "fallback_prob", here, per="gather")
            ex = r.exact_text("fallback_prob", 3, **here)
            what = (
                (f"none ({u.text})" if u.status == "never" else u.text)
                if u.status in ("short", "never")
                else r.quote("fallback_prob", **here) + (f" ({ex})" if ex else "")
            )
            parts.append(f"p = {coord(p)}, {_size_label(r, size, n, here)}: {what}")
    formula = (
        f"A gather of n tables makes one batch-page attempt per {batch} tables and falls "
        f"back unless all succeed: P = 1 - (1 - p)^ceil(n/{batch})"
        + (
            f" outside pressure episodes (a gather is in one with probability {num(episodes, 3)}, "
            "where p is pressure_fail_p)"
            if episodes > 0.0
            else " exactly"
        )
        + "."
    )
    kernel = r.value_of("kernel", at)
    if not _flag(r, kernel, "kernel_uses_tlb_remove_table"):
        formula = (
            f"On `{kernel}` page tables bypass tlb_remove_table(): no batch page, no fallback "
            "(P = 0)."
        )
    measured = (
        f" Measured{_paren(pinned)}: " + "; ".join(parts) + "."
        if parts
        else " Nothing measured: the dataset has no gfp_nowait_fail_p or gather size."
    )
    items = [
        Item(
            "How often does one mmu_gather fall back to tlb_remove_table_one(), given the "
            "GFP_NOWAIT failure probability p of its batch page?",
            formula + measured,
        )
    ]
    if r.has("sync_ipis_mean") and ps and ns:
        here = {**at, "gfp_nowait_fail_p": ps[-1], size: ns[-1]}
        items.append(
            Item(
                "How many synchronous IPIs does that send per gather?",
                f"At p = {coord(ps[-1])} and {_size_label(r, size, ns[-1], here)}"
                f"{_paren(pinned)}: "
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
                + [r.cell("fallback_prob", **{**at, "gfp_nowait_fail_p": p, size: n}) for n in ns]
            )
        head = "MiB" if size == "munmap_mib" else "n"
        tables.append(
            Table(
                "P(>= 1 fallback per gather), rows p, columns "
                + ("the munmap size (MiB)" if size == "munmap_mib" else "tables per gather")
                + f"{_paren(pinned)}; {count(r.value('sequences', **at))} gathers per point.",
                [f"p \\ {head}", *(coord(n) if size == "munmap_mib" else count(n) for n in ns)],
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


LOAD_DIMS = ("alloc_scale", "burst_alloc_rate", "alloc_rate")


def pressure_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    dims = r.dims
    load_dim = next((d for d in LOAD_DIMS if d in dims), dims[0] if dims else None)
    other = next((d for d in dims if d != load_dim), None)
    title = "Answers: GFP_NOWAIT failure from the zone's dynamics"
    name = "nowait_fail_prob"

    def said(here: dict[str, Any]) -> str:
        u = unseen(r, name, here, per="time")
        if u.status == "never":
            return f"none ({u.text})"
        if u.status == "short":
            return u.text
        ex = r.exact_text(name, 3, **here)
        return r.quote(name, **here) + (f" ({ex})" if ex else "")

    if load_dim is None:
        at = _pin(r, {})
        return Answers(
            title,
            [Item("How often does a gather's GFP_NOWAIT batch page fail?", f"{said(at)}.")],
            [
                Table(
                    f"P(a gather's GFP_NOWAIT attempt fails); {sample_text(r, at)}.",
                    ["point", "P(fail)"],
                    [[("this study", None), r.cell(name, **at)]],
                )
            ],
        )
    loads = r.values(load_dim)
    cols = r.values(other) if other else [None]
    is_load = load_dim in LOAD_DIMS
    parts = []
    for c in cols:
        at = _pin(r, {other: c} if other else {})
        first = None
        for x in loads:
            _y, lo, _hi = r.triple(name, **{**at, load_dim: x})
            if first is None and math.isfinite(lo) and lo >= FREQUENT:
                first = x
        where = _swept_condition(r, at, (load_dim,))
        ends = [loads[0]] if len(loads) == 1 else [loads[0], loads[-1]]
        quoted = "; ".join(f"{said({**at, load_dim: x})} at {load_dim} = {coord(x)}" for x in ends)
        when = ""
        if len(loads) > 1:
            when = (
                f"; frequent (95 % interval above {num(FREQUENT)}) from {load_dim} = {coord(first)}"
                if first is not None
                else f"; never surely above {num(FREQUENT)} in the swept range"
            )
        parts.append(f"At {where}: {quoted}{when}" if where else f"{quoted}{when}")
    rows = []
    for x in loads:
        rows.append(
            [(coord(x), None)]
            + [
                r.cell(name, **_pin(r, {load_dim: x, **({other: c} if other else {})}))
                for c in cols
            ]
        )
    question = (
        f"How often does a gather's GFP_NOWAIT batch page fail, against the load "
        f"({load_dim}), and from which load is it frequent?"
        if is_load
        else f"How often does a gather's GFP_NOWAIT batch page fail, by {load_dim}?"
    )
    items = [Item(question, " ".join(p + "." for p in parts))]
    if r.has("fallbacks_per_s"):
        at = _pin(r, {load_dim: loads[-1]})
        items.append(
            Item(
                "What does that mean per second?",
                f"At {_swept_condition(r, at) or 'this point'}: "
                f"{r.quote('fallbacks_per_s', 'fallbacks/s', **at)}, "
                f"{r.quote('sync_ipis_per_s', 'sync IPI deliveries/s', **at)}, "
                f"{r.quote('stalls_per_s', 'direct-reclaim stalls/s', **at)}.",
            )
        )
    first_at = _pin(r, {})
    pinned = _swept_condition(r, first_at, (load_dim, other or ""))
    table = Table(
        f"P(a gather's GFP_NOWAIT attempt fails), rows {load_dim}"
        + (f", columns {other}" if other else "")
        + (f", at {pinned}" if pinned else "")
        + f"; {sample_text(r, first_at)} per point.",
        [
            f"{load_dim}" + (f" \\ {other}" if other else ""),
            *(coord(c) if other else "P(fail)" for c in cols),
        ],
        rows,
    )
    return Answers(title, items, [table])


# --------------------------------------------------------------------------- THP


def _per_hour(r: Reader, name: str, **at: Any) -> str:
    return said(r, name, at, "per hour", 3600.0)


MEMORY_DIMS = ("cache_k", "table_policy", "split_gfp")
IPI_DIMS = ("ipi_policy", "collapse_policy", "rt_mm_share")


def thp_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    dims = set(r.dims)
    if dims & set(IPI_DIMS) and not dims & set(MEMORY_DIMS):
        return _thp_ipi_answers(r)
    if not dims & set(MEMORY_DIMS) and float(r.param("gather_rate") or 0.0) > 0.0:
        return _thp_ipi_answers(r)  # an IPI study (rt.toml-like) that sweeps neither
    return _thp_memory_answers(r)


def _policy_label(policy: Any, k: Any) -> str:
    if policy == "cache_k":
        return f"cache of {k} per CPU"
    return {"deposit": "deposit (mainline)", "on_demand": "on demand"}.get(str(policy), str(policy))


def _thp_memory_answers(r: Reader) -> Answers:
    pfs = r.values("pressure_fraction") or [0.0]
    at = _pin(r, {"split_gfp": r.pick("split_gfp", "nowait")} if "split_gfp" in r.dims else {})
    dep, dlo, dhi = r.triple("deposit_bytes_mean", **at)
    pinned = _swept_condition(r, at)
    items = [
        Item(
            "What do the page tables deposited for THPs cost?",
            (f"At {pinned}: " if pinned else "")
            + f"{quote_bytes(dep, dlo, dhi)} for {num(r.value('thp_mean', **at), 3)} "
            "PMD-mapped THPs (1/512 of their memory), held whether or not a THP is ever split.",
        )
    ]
    # the table policies of the study: swept, or the one of the config
    row_dim = next((d for d in ("cache_k", "table_policy") if r.swept(d)), None)
    policies = r.values("table_policy")
    fails = "split_alloc_failures_per_hour"
    if row_dim is None and policies == ["deposit"]:
        items.append(
            Item(
                "And allocating them at split time instead?",
                "Not simulated here: this study runs table_policy = deposit, whose splits "
                "withdraw the deposit and never allocate (set table_policy = on_demand or "
                "cache_k, as configs/thp.toml does).",
            )
        )
    else:
        ref = {**at}
        parts = []
        for pf in pfs:
            here = {**ref, "pressure_fraction": pf}
            parts.append(f"{_failures(r, here)} at pressure_fraction {coord(pf)}")
        what = _policy_label(r.value_of("table_policy", at), r.value_of("cache_k", at))
        items.append(
            Item(
                "And allocating them at split time instead?",
                f"Under {what}{_paren(_swept_condition(r, at, ('pressure_fraction',)))} "
                "split-time allocations fail " + "; ".join(parts) + ". "
                "pressure_fraction is set by hand here; the host study derives it.",
            )
        )
    rows = []
    keys = r.values(row_dim) if row_dim else [None]
    for key in keys:
        here = {**at, **({row_dim: key} if row_dim else {})}
        label = _policy_label(r.value_of("table_policy", here), r.value_of("cache_k", here))
        row: list[tuple[str, str | None]] = [(label, None)]
        row.append(
            r.cell("reserve_bytes_mean", scale=1.0 / MIB, **{**here, "pressure_fraction": pfs[0]})
        )
        for pf in pfs:
            row.append(r.cell(fails, **{**here, "pressure_fraction": pf}))
        rows.append(row)
    table = Table(
        "Tables held for splits (MiB) and failed split-time allocations per hour, "
        f"rows {row_dim or 'the table policy'}, by pressure_fraction"
        f"{_paren(_swept_condition(r, at, (row_dim or '', 'pressure_fraction')))}; "
        f"{sample_text(r, at)} per point; mainline's deposit holds {human_bytes(dep)}.",
        ["table policy", "held (MiB)", *(f"fails/h pf {coord(pf)}" for pf in pfs)],
        rows,
    )
    return Answers("Answers: THP deposit against on-demand allocation", items, [table])


def _failures(r: Reader, here: dict[str, Any]) -> str:
    name = "split_alloc_failures_per_hour"
    return said(r, name, here, "per hour")


def _cycle(r: Reader) -> str:
    us = float(r.param("rt_cycle_us"))
    return f"{num(us / 1000, 3)} ms" if us >= 1000 else f"{num(us, 3)} us"


def _thp_ipi_answers(r: Reader) -> Answers:
    at: dict[str, Any] = {}
    for d, pref in (
        ("pressure_fraction", ()),
        ("collapse_policy", (MAINLINE_COLLAPSE,)),
        ("rt_mm_share", ()),
        ("ipi_policy", (MAINLINE_IPI,)),
    ):
        if d in r.dims:
            at[d] = r.pick(d, *pref)
    _pin(r, at)
    policies = r.values("ipi_policy")
    cols = r.values("collapse_policy")
    pinned = _swept_condition(r, at, ("ipi_policy",))
    parts = [
        f"`{pol}` {_per_hour(r, 'isolated_cpu_ipis_per_s', **{**at, 'ipi_policy': pol})}"
        for pol in policies
    ]
    worst_pol = r.pick("ipi_policy", MAINLINE_IPI)
    here = {**at, "ipi_policy": worst_pol} if "ipi_policy" in r.dims else at
    items = [
        Item(
            "How many synchronous IPIs reach an isolated CPU, under each IPI policy?",
            f"At {pinned or 'this point'}"
            + ": "
            + "; ".join(parts)
            + f". Under `{worst_pol}`, {_per_hour(r, 'isolated_collapse_ipis_per_s', **here)} "
            f"come from khugepaged and {_per_hour(r, 'isolated_fallback_ipis_per_s', **here)} "
            f"from tlb_remove_table_one() fallbacks; the worst {_cycle(r)} RT cycle of a "
            f"{duration(float(r.value_of('horizon_s', here)))} sequence holds "
            f"{r.quote('rt_cycle_ipis_max', **here)} IPIs (mean over sequences).",
        )
    ]
    if any(c != MAINLINE_COLLAPSE for c in cols):
        here = {**at, "ipi_policy": worst_pol} if "ipi_policy" in r.dims else dict(at)
        cparts = [
            f"`{c}` {_per_hour(r, 'isolated_collapse_ipis_per_s', **{**here, 'collapse_policy': c})}"
            for c in cols
        ]
        items.append(
            Item(
                "Does khugepaged's sync IPI matter, and does a fresh table or RCU freeing "
                "remove it?",
                f"khugepaged IPIs at the isolated CPU (`{worst_pol}`): "
                + "; ".join(cparts)
                + ". "
                + _thp_collapse_text(r, here),
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
                    **{**at, "ipi_policy": pol, "collapse_policy": c},
                )
                for c in cols
            ]
        )
    table = Table(
        "IPIs per hour reaching one isolated CPU, rows ipi_policy, columns collapse_policy"
        f"{_paren(_swept_condition(r, at, ('ipi_policy', 'collapse_policy')))}; "
        f"{sample_text(r, at)} per point. pressure_fraction is set by hand here; the host "
        "study derives it.",
        ["ipi_policy \\ collapse_policy", *(str(c) for c in cols)],
        rows,
    )
    return Answers("Answers: IPIs at an isolated CPU, per policy", items, [table])


def _thp_collapse_text(r: Reader, at: dict[str, Any]) -> str:
    """What a collapse does under ``fresh_table`` and ``rcu_free`` in the THP model
    (``mcstudy/mechanisms/rt_ipi.py``, docs/model.md §5.6)."""
    kernel = r.value_of("kernel", at)
    uses_trt = _flag(r, kernel, "kernel_uses_tlb_remove_table")
    ipol = r.value_of("ipi_policy", at)
    sends = (
        uses_trt
        and _flag(r, kernel, "kernel_fallback_sends_ipi")
        and (ipol is None or ipi_policy(str(ipol)).sends_rounds)
    )
    gfp = str(r.value_of("fresh_table_gfp", at))
    deposit = r.value_of("table_policy", at) == "deposit"
    p_calm = num(float(r.value_of("gfp_nowait_fail_p", at) or 0.0), 3)
    p_ep = num(float(r.value_of("pressure_fail_p", at) or 0.0), 3)
    prob = (
        f"the GFP_NOWAIT probability of the moment ({p_ep} in a pressure episode, {p_calm} outside)"
    )
    old = (
        "the old table goes through tlb_remove_table() as a gather of one table, whose batch "
        f"page fails with {prob}, and then tlb_remove_table_one() "
        + ("sends a round" if sends else "frees it by call_rcu() (no round)")
        if uses_trt
        else f"`{kernel}` frees the old table without tlb_remove_table() (no round)"
    )
    if deposit and gfp == "nowait":
        fresh = (
            f"Under fresh_table and rcu_free khugepaged allocates a fresh GFP_NOWAIT table to "
            f"deposit, failing with {prob}; a failed one falls back to the mainline round. "
            f"When it succeeds, under fresh_table {old} (an independent draw at the same "
            "probability: it can fail only where that probability is strictly between 0 and "
            "1); under rcu_free the old table is freed by call_rcu(), no round."
        )
    else:
        why = (
            "khugepaged's fresh deposit table is a blocking allocation "
            "(fresh_table_gfp = kernel) that never fails"
            if deposit
            else f"table_policy = {r.value_of('table_policy', at)} deposits nothing"
        )
        fresh = (
            f"In the model {why}: under fresh_table khugepaged sends no round of its own and "
            f"{old}; under rcu_free the old table is freed by call_rcu() and no collapse "
            "sends a round."
        )
    return (
        "Mainline collapse_huge_page() sends tlb_remove_table_sync_one() after "
        "pmdp_collapse_flush() on every anonymous collapse. " + fresh
    )
