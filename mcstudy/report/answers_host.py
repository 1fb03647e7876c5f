"""The review's questions answered from a host-study dataset (``model = "host"``,
``docs/model.md`` §11.11): one sentence each, with its 95 % interval and condition.

The sentences are taken at a reference point: the ``bursts`` load (the review's case:
housekeeping bursts drive the zone to min) and the first swept kernel whose fallback
sends IPIs; the summary table then gives every swept point. Any sweep shape renders:
one point, one dimension or many (dimensions other than ``load`` and ``kernel`` are
pinned at their first value and named in the condition).
"""

from __future__ import annotations

import math
from typing import Any

import xarray as xr

from mcstudy.fmt import coord, count, duration, num
from mcstudy.kernel.policies import (
    MAINLINE_COLLAPSE,
    MAINLINE_IPI,
    SPLIT_TABLE_VARIANTS,
    IpiPolicy,
    ipi_policy,
)
from mcstudy.kernel.profiles import PROFILES
from mcstudy.report.answers import (
    Answers,
    Item,
    Reader,
    Table,
    grid,
    human_bytes,
    plain,
    quote,
    quote_bytes,
    round2,
    sample_text,
    unseen,
)
from mcstudy.report.answers_assumed import assumption_notes

MAINLINE = {"ipi_policy": MAINLINE_IPI, "collapse_policy": MAINLINE_COLLAPSE}
"""The mainline cell of the IPI outputs (dimensions ``ipi_policy``, ``collapse_policy``)."""
MAINLINE_COL = {"collapse_policy": MAINLINE_COLLAPSE}
ON_DEMAND = {"table_policy": next(v.name for v in SPLIT_TABLE_VARIANTS if not v.cache_k)}
"""On demand with GFP_NOWAIT: the split-time source the summary reports."""
ATOMIC = next(v.name for v in SPLIT_TABLE_VARIANTS if v.atomic)
CACHE_OF = {v.cache_k: v.name for v in SPLIT_TABLE_VARIANTS if v.cache_k}
"""cache_k -> the ``table_policy`` coordinate of a per-CPU cache of that many tables."""


def coords(r: Reader, dim: str) -> list[Any]:
    """The coordinates of output dimension ``dim`` as the dataset stores them ([] without)."""
    return [plain(v) for v in r.ds[dim].values] if dim in r.ds.coords else []


def caches(r: Reader) -> list[int]:
    """The per-CPU cache sizes whose failures and memory the dataset holds."""
    return [
        int(k) for k in coords(r, "cache_k") if CACHE_OF.get(int(k)) in coords(r, "table_policy")
    ]


def reference(r: Reader) -> dict[str, Any]:
    """Coordinates of the reference point (bursts load, a kernel whose fallback IPIs)."""
    at: dict[str, Any] = {}
    loads = r.values("load")
    if loads:
        at["load"] = r.pick("load", "bursts")
    kernels = r.values("kernel")
    if kernels:
        sends = [k for k in kernels if _sends(r, k)]
        at["kernel"] = sends[0] if sends else kernels[0]
    for d in r.dims:
        at.setdefault(d, r.values(d)[0])
    return at


def _flag(r: Reader, kernel: Any, name: str) -> bool | None:
    """Kernel fact ``name`` (a profile's behaviour flag) of ``kernel`` as the dataset
    records it (None: not recorded)."""
    if kernel is None:
        return None
    v = r.value_of(name, {"kernel": kernel})
    return None if v is None else bool(v)


def _uses_trt(r: Reader, kernel: Any) -> bool:
    return bool(_flag(r, kernel, "kernel_uses_tlb_remove_table"))


def _sends(r: Reader, kernel: Any) -> bool:
    return _uses_trt(r, kernel) and bool(_flag(r, kernel, "kernel_fallback_sends_ipi"))


def _waits(r: Reader, kernel: Any) -> bool:
    """The fallback blocks the unmapping task in synchronize_rcu() (v7.1, no PT_RECLAIM)."""
    return _uses_trt(r, kernel) and bool(_flag(r, kernel, "kernel_fallback_waits_grace_period"))


def _rcu(r: Reader, kernel: Any) -> bool:
    """The fallback frees by call_rcu(): no round and no wait."""
    return (
        _uses_trt(r, kernel)
        and _flag(r, kernel, "kernel_fallback_sends_ipi") is False
        and not _waits(r, kernel)
    )


def condition(r: Reader, at: dict[str, Any]) -> str:
    """The condition of a sentence: load, kernel and any other pinned coordinate."""
    parts = []
    if "load" in at:
        parts.append(f"{at['load']} load")
    if "kernel" in at:
        parts.append(f"`{at['kernel']}`")
    parts += [f"{k} = {coord(v)}" for k, v in at.items() if k not in ("load", "kernel")]
    return ", ".join(parts)


def cycle_text(r: Reader) -> str:
    us = float(r.param("rt_cycle_us"))
    return f"{num(us / 1000, 3)} ms" if us >= 1000 else f"{num(us, 3)} us"


def horizon(r: Reader) -> str:
    return duration(float(r.param("horizon_s")))


def _exact(x: float) -> str:
    if not math.isfinite(x):
        return "no exact value"
    return "exact < 1e-300" if x == 0.0 else f"exact {num(x, 2)}"


def _load_value(r: Reader, here: dict[str, Any], name: str) -> float | None:
    """A load parameter at a point as the model resolved it (the load's preset unless
    set)."""
    v = r.value_of(name, here)
    return None if v is None else float(v)


def _unreached(r: Reader, here: dict[str, Any]) -> str:
    """A zone that never reached min in a run although its exact time there is positive:
    why the run was too short, and what run would be expected to show it."""
    p = r.exact("nowait_fail_prob", **here)
    n = r.value("sequences", **here)
    h = float(r.value_of("horizon_s", here))
    text = (
        f"the exact P(GFP_NOWAIT fails) is {num(p, 2)}, but none of these "
        f"{sample_text(r, here)} reached min ({r.quote('nowait_fail_prob', **here)}): the run "
        "is too short to see it"
    )
    upper = f"{num(round2(1.0 / p), 2)} sequences of {duration(h)}"
    start = _load_value(r, here, "burst_start_rate") or 0.0
    if _load_value(r, here, "burst_alloc_rate") is not None and start > 0.0:
        bursts = n * h * start
        one = max(1.0, 1.0 / (start * h))
        return text + (
            f". The zone reaches min in housekeeping bursts, one every {duration(1.0 / start)} "
            f"on average ({num(bursts, 2)} expected in this run): at least about "
            f"{num(round2(one), 2)} sequences of {duration(h)} (one burst, if every burst "
            f"reaches min) and at most about {upper} (1 / the exact value) would be expected "
            "to show it"
        )
    return text + f"; at most about {upper} (1 / the exact value) would be expected to show it"


def pressure_item(r: Reader, at: dict[str, Any]) -> Item:
    seen, short, never, unknown = [], [], [], []
    for load in r.values("load") or [None]:
        here = {**at, "load": load} if load is not None else dict(at)
        name = "nowait_fail_prob"
        u = unseen(r, name, here)
        where = f"the {load} load" if load is not None else "this load"
        if u.status == "seen":
            seen.append(
                f"under {where} P(GFP_NOWAIT fails) = {r.quote(name, **here)} "
                f"({r.exact_text(name, 2, **here) or 'no exact value'}): the zone reached min in "
                f"{count(r.value('sequences_reaching_min', **here))} of {sample_text(r, here)}"
            )
        elif u.status == "short":
            short.append(f"under {where} {_unreached(r, here)}")
        elif u.status == "never":
            never.append(f"{load or 'this load'} ({_exact(r.exact(name, **here))})")
        else:
            unknown.append(f"under {where}: {u.text}")
    verdict = "Yes" if seen else ("Yes, rarely" if short else ("No" if never else "Not seen"))
    parts = seen + short + unknown
    answer = verdict + (": " + "; ".join(parts) if parts else "")
    if never:
        answer += ("; never under " if parts else ": never under ") + ", ".join(never)
    return Item(
        "Does !rt housekeeping drive the zone to the pressure at which GFP_NOWAIT fails?",
        answer + ". The zone's dynamics decide it; no failure probability is set by hand.",
    )


def _kernel_reason(r: Reader, at: dict[str, Any], kernels: list[Any]) -> str:
    """Why fallbacks per hour differ between a kernel whose fallback waits for its IPI
    round and one that frees by call_rcu() (docs/model.md §11.8)."""
    sends = [k for k in kernels if _sends(r, k)]
    rcu = [k for k in kernels if _rcu(r, k)]
    if not (sends and rcu):
        return ""
    here_s, here_r = {**at, "kernel": sends[0]}, {**at, "kernel": rcu[0]}
    ex_s = r.exact("fallbacks_per_hour", **here_s)
    ex_r = r.exact("fallbacks_per_hour", **here_r)
    if not (math.isfinite(ex_s) and math.isfinite(ex_r)) or ex_r <= 0.0:
        return ""
    round_us = float(r.value_of("sync_round_us", at))  # resolved: ipi_cost_us unless set
    return (
        f" The kernels differ in the model by {num(100.0 * (1.0 - ex_s / ex_r), 2)} % "
        f"(exact {num(ex_s, 4)} on `{sends[0]}` against {num(ex_r, 4)} on `{rcu[0]}` per "
        f"hour): a tlb_remove_table_one() that sends a round waits for it ({num(round_us, 3)} "
        "us) before the gather's next table tries GFP_NOWAIT again, so a gather that starts "
        "at min stops falling back once the zone is above min again, while with call_rcu() "
        "nothing waits and every table of that gather falls back (docs/model.md §11.8). "
        "The rest of the difference between the estimates is Monte Carlo noise: each kernel "
        "is its own sweep point, with its own sequences."
    )


def fallback_item(r: Reader, at: dict[str, Any]) -> Item:
    kernels = r.values("kernel") or [at.get("kernel")]
    ref = at.get("kernel")
    load = at.get("load")
    name = "fallbacks_per_hour"
    u = unseen(r, name, at)
    ipi = (
        ", each a synchronous IPI round to every other online CPU under broadcast"
        if _sends(r, ref)
        else (
            ", each freed by call_rcu() (no IPI)"
            if _rcu(r, ref)
            else (", each a synchronize_rcu() wait (no IPI)" if _waits(r, ref) else "")
        )
    )
    if _flag(r, ref, "kernel_uses_tlb_remove_table") is False:
        head = f"On `{ref}` never: page tables bypass tlb_remove_table()"
    elif u.status == "seen":
        head = f"Under the {load} load on `{ref}`, {r.quote(name, 'per hour', **at)}{ipi}"
        if r.exact_text(name, **at):
            head += f" ({r.exact_text(name, **at)})"
    elif u.status == "short" and r.value("sequences_reaching_min", **at) == 0:
        head = (
            f"Under the {load} load on `{ref}`, none seen: the exact value is "
            f"{num(r.exact(name, **at), 2)} per hour, but fallbacks come only while the zone "
            f"is at or below min, which none of these {sample_text(r, at)} reached "
            f"({r.quote(name, 'per hour', **at)}; see the first answer)"
        )
    elif u.status == "short":
        head = f"Under the {load} load on `{ref}`, none seen: {u.text}"
    elif u.status == "never":
        head = f"Under the {load} load on `{ref}`, never ({u.text})"
    else:
        head = f"Under the {load} load on `{ref}`, {u.text}"
    rest = []
    for k in kernels:
        if k == ref:
            continue
        here = {**at, "kernel": k}
        if _flag(r, k, "kernel_uses_tlb_remove_table") is False:
            rest.append(f"`{k}` none (page tables bypass tlb_remove_table())")
        elif _waits(r, k):
            rest.append(f"`{k}` {r.quote(name, **here)}, each a synchronize_rcu() wait (no IPI)")
        elif _flag(r, k, "kernel_fallback_sends_ipi") is False:
            rest.append(f"`{k}` {r.quote(name, **here)}, freed by call_rcu() (no IPI)")
        else:
            rest.append(f"`{k}` {r.quote(name, **here)}")
    quiet = []
    for x in r.values("load"):
        if x == load:
            continue
        v = unseen(r, name, {**at, "load": x})
        if v.status == "never":
            quiet.append(f"never under the {x} load ({v.text})")
        elif v.status == "short":
            quiet.append(f"none seen under the {x} load: {v.text}")
        elif v.status == "unknown":
            quiet.append(f"none seen under the {x} load ({r.quote(name, 'per hour', **at)})")
    text = "; ".join([head, *(f"on {x}" for x in rest), *quiet]) + "."
    return Item(
        "How often does the tlb_remove_table_one() fallback fire?",
        text + _kernel_reason(r, at, kernels),
    )


def ipi_item(r: Reader, at: dict[str, Any]) -> Item:
    cost = float(r.value_of("ipi_cost_us", at))
    mx, lo, hi = r.triple("rt_cycle_ipis_max", **at, **MAINLINE)
    parts = []
    name = "isolated_cpu_ipis_per_hour"
    for ipi in coords(r, "ipi_policy"):
        if ipi == MAINLINE_IPI:
            continue
        pol = ipi_policy(ipi)
        here = {**at, **MAINLINE, "ipi_policy": ipi}
        parts.append(f"`{ipi}` to {r.quote(name, 'per hour', **here)} ({ipi_reason(r, pol, at)})")
    cut = (" Instead, " + "; ".join(parts) + ".") if parts else ""
    latency = f"; {num(mx * cost, 3)} us at {num(cost, 2)} us each" if mx > 0.0 else ""
    return Item(
        "How many synchronous IPIs reach an isolated RT CPU, under each IPI policy?",
        f"With `{MAINLINE_IPI}` (mainline), "
        f"{r.quote('isolated_cpu_ipis_per_hour', 'per hour', **at, **MAINLINE)}"
        f" ({condition(r, at)}): {r.quote('collapse_ipis_per_hour', **at, **MAINLINE_COL)} "
        "from khugepaged, "
        f"{r.quote('fallback_ipis_per_hour', **at)} from fallbacks; the worst "
        f"{cycle_text(r)} RT cycle of a {horizon(r)} sequence holds {quote(mx, lo, hi)} of "
        f"them (mean over sequences{latency}).{cut}",
    )


def ipi_reason(r: Reader, pol: IpiPolicy, at: dict[str, Any]) -> str:
    """Why an IPI policy spares the isolated CPU, from its flags (``mcstudy.kernel.policies``)."""
    if not pol.sends_rounds:
        return (
            "no round at all: tables freed after an RCU grace period, khugepaged waiting "
            "in synchronize_rcu()"
        )
    bits = []
    if pol.mm_only:
        share = float(r.value_of("rt_mm_share", at))
        bits.append(
            "the RT CPU is in no housekeeping mm's cpumask"
            if share == 0.0
            else f"{num(share, 3)} of the events are in the RT application's mm"
        )
    if pol.kernel_mode_only:
        user = num(float(r.value_of("rt_user_fraction", at)) * 100, 3)
        bits.append(f"it is {'moreover ' if bits else ''}in user mode {user} % of the time")
    return "; ".join(bits) or pol.prose


def fresh_table_text(r: Reader, at: dict[str, Any]) -> str:
    """What a collapse does under ``fresh_table`` and ``rcu_free`` in the host model
    (``mcstudy/mechanisms/rt_ipi.py``, docs/model.md §5.6, §11.8), and why the two give
    the same number when the fresh table is a GFP_NOWAIT allocation."""
    kernel = at.get("kernel")
    gfp = str(r.value_of("fresh_table_gfp", at))
    uses_trt = _uses_trt(r, kernel)
    sends = _sends(r, kernel)
    mainline = (
        "Mainline collapse_huge_page() sends tlb_remove_table_sync_one() after "
        "pmdp_collapse_flush() on every anonymous collapse. "
    )
    if gfp == "nowait":
        old = (
            "when it succeeds the zone is above min, and the old table's tlb_remove_table() "
            "(a gather of one table) tries its batch page at the same instant in the same "
            "zone state, so it cannot fail: fresh_table then frees the old table without a "
            "round, as rcu_free does with call_rcu(). That is why the two give the same "
            "number, on the same sequences."
            if uses_trt
            else "when it succeeds, no round (this kernel frees page tables without "
            "tlb_remove_table()), as under rcu_free: the two give the same number."
        )
        return (
            mainline + "In the model, under fresh_table and rcu_free khugepaged first "
            "allocates a fresh GFP_NOWAIT table to deposit; a collapse sends a round only "
            "when that allocation fails (the zone is at or below min) and khugepaged falls "
            f"back to the mainline round ({r.quote('fresh_alloc_failures_per_hour', **at)} "
            f"failed fresh tables per hour); {old}"
        )
    old = (
        "the old table goes through tlb_remove_table() as a gather of one table, whose "
        "batch page fails while the zone is at or below min; tlb_remove_table_one() then "
        + ("sends a round" if sends else "frees it by call_rcu() (no round)")
        if uses_trt
        else "this kernel frees the old table without tlb_remove_table() (no round)"
    )
    return (
        mainline + "In the model the fresh table is a blocking allocation "
        "(fresh_table_gfp = kernel) that never fails: under fresh_table khugepaged sends no "
        f"round of its own and {old}; under rcu_free the old table is freed by call_rcu() "
        "and no collapse sends a round."
    )


def khugepaged_item(r: Reader, at: dict[str, Any]) -> Item:
    name = "collapse_ipis_per_hour"
    alt = [
        f"`{col}` leaves {r.quote(name, 'per hour', **at, collapse_policy=col)}"
        for col in coords(r, "collapse_policy")
        if col != MAINLINE_COLLAPSE
    ]
    main = {**at, **MAINLINE_COL}
    coll = r.value(name, **main)
    fb = r.value("fallback_ipis_per_hour", **at)
    if coll == 0.0:
        verdict, compare = "No", "none at this point"
    elif coll > fb:
        verdict = "Yes"
        compare = f"more than the {r.quote('fallback_ipis_per_hour', **at)} from fallbacks"
    else:
        verdict = "It is second to the fallbacks"
        compare = f"fewer than the {r.quote('fallback_ipis_per_hour', **at)} from fallbacks"
    ex_text = r.exact_text(name, **main)
    exact = f", {ex_text}" if ex_text else ""
    if float(r.value_of("khugepaged_collapse_rate", at)) == 0.0:
        verdict, compare = "No", "khugepaged_collapse_rate = 0: this study collapses nothing"
    return Item(
        "Does khugepaged's synchronous IPI matter; does a fresh table or RCU freeing remove it?",
        f"{verdict}: tlb_remove_table_sync_one() in collapse_huge_page() reaches each isolated "
        f"CPU {r.quote(name, 'times per hour', **main)} ({condition(r, at)}"
        f"{exact}; {compare}). Collapses do not depend on the zone, so under mainline this "
        "rate is the same at every load. "
        + (f"With a fresh table per collapse, {' and '.join(alt)}. " if alt else "")
        + fresh_table_text(r, at),
    )


def _kernel_text(r: Reader, at: dict[str, Any], k: Any) -> str:
    """What kernel ``k`` does with a fallback table and a collapse, from its facts."""
    here = {**at, "kernel": k}
    if not _uses_trt(r, k):
        fb = "page tables bypass tlb_remove_table(), no fallback"
    elif _sends(r, k):
        fb = "a fallback sends a synchronous round"
    elif _waits(r, k):
        gp = float(r.value_of("rcu_grace_period_ms", here))
        v, lo, hi = r.triple("fallbacks_per_hour", **here)
        fb = (
            "a fallback sends no round but blocks the unmapping task in synchronize_rcu() "
            f"for one RCU grace period ({num(gp, 3)} ms each); at "
            f"{r.quote('fallbacks_per_hour', 'per hour', **here)} that is "
            f"{num(v * gp / 1000.0, 3)} s of blocked unmapping per host-hour "
            f"[{num(lo * gp / 1000.0, 3)}, {num(hi * gp / 1000.0, 3)}] (an upper bound: the "
            "model counts such a gather's fallbacks as with call_rcu(), docs/model.md §11.8)"
        )
    else:
        fb = "a fallback frees the table by call_rcu(), no round and no wait"
    col = (
        "khugepaged sends its round per collapse"
        if _flag(r, k, "kernel_khugepaged_sync_ipi")
        else "khugepaged sends no round of its own (the TLB flush of pmdp_collapse_flush() "
        "already reached the mm's CPUs)"
    )
    return f"`{k}`: {fb}; {col}."


def kernels_item(r: Reader, at: dict[str, Any]) -> Item | None:
    """What each swept kernel profile changes (docs/model.md §2.3): rounds per fallback,
    khugepaged's round, and the wait per fallback where the unmapping task blocks."""
    kernels = r.values("kernel") or ([at["kernel"]] if at.get("kernel") is not None else [])
    if not kernels or _flag(r, kernels[0], "kernel_uses_tlb_remove_table") is None:
        return None
    text = " ".join(_kernel_text(r, at, k) for k in kernels)
    unswept = [p for name, p in PROFILES.items() if name.startswith("v7.") and name not in kernels]
    if unswept:
        text += " Not swept here (configs/kernels.toml sweeps them): " + " ".join(
            f"`{p.name}`: {p.behaviour()}." for p in unswept
        )
    return Item("What changes from kernel to kernel (7.x included)?", text)


def memory_item(r: Reader, at: dict[str, Any]) -> Item:
    dep, dlo, dhi = r.triple("deposit_bytes_mean", **at)
    loads = r.values("load") or [at.get("load")]
    worst = "bursts" if "bursts" in loads else loads[-1]
    name = "split_alloc_failures_per_hour"
    fails, never = [], []
    for x in loads:
        here = {**at, **ON_DEMAND, "load": x}
        u = unseen(r, name, here)
        if u.status == "seen":
            fails.append(f"{r.quote(name, 'per hour', **here)} under {x}")
        elif u.status == "short":
            fails.append(f"under {x} none seen: {u.text}")
        elif u.status == "never":
            never.append(f"{x} ({u.text})")
        else:
            fails.append(f"under {x} {u.text}")
    if never:
        why = ""
        if r.exact("splits_per_hour", **at) == 0.0:
            why = " (no THP is split here: thp_split_rate = 0)"
        fails.append(f"never fails under {' and '.join(never)}{why}")
    at_worst = {**at, "load": worst}
    atomic = ""
    if ATOMIC in coords(r, "table_policy"):
        atomic = (
            "; with GFP_ATOMIC, which may take the zone down to 3/8 of min, "
            f"{r.quote(name, 'per hour', **at_worst, table_policy=ATOMIC)} under {worst}"
        )
    cache = ""
    if r.value(name, **at_worst, **ON_DEMAND) > 0.0:
        for k in caches(r):
            here = {**at_worst, "table_policy": CACHE_OF[k]}
            if r.value(name, **here) == 0.0:
                held = r.value("reserve_bytes_mean", **at, cache_k=k)
                cache = (
                    f" A per-CPU cache of {k} table{'s' if k > 1 else ''} "
                    f"({human_bytes(held)} on all split CPUs) failed "
                    f"{r.quote(name, 'per hour', **here)} under {worst}."
                )
                break
    return Item(
        "What do page tables deposited for THPs cost, against allocating on demand and "
        "failing under pressure?",
        f"Mainline deposits {quote_bytes(dep, dlo, dhi)} for "
        f"{num(r.value('thp_mean', **at), 3)} THPs, split or not. On demand (GFP_NOWAIT "
        "at split time) holds nothing and "
        + ("" if fails[0].startswith("never fails") else "fails ")
        + "; ".join(fails)
        + atomic
        + "."
        + cache,
    )


def _rows_dims(r: Reader) -> list[str]:
    """Dimensions of the summary table's rows: load and kernel, then any other swept."""
    dims = [d for d in ("load", "kernel") if r.values(d)]
    return dims + [d for d in r.dims if d not in dims]


def summary_table(r: Reader, at: dict[str, Any]) -> Table:
    header_dims = _rows_dims(r)
    header = [
        " / ".join(header_dims) or "point",
        "P(NOWAIT fails)",
        "fallbacks/h",
        "iso. IPIs/h",
        f"worst {cycle_text(r)}",
        "split fails/h",
    ]
    rows = []
    points = grid(r, header_dims)
    for here in points:
        label = " / ".join(coord(v) for v in here.values()) or "this point"
        rows.append(
            [
                (label, None),
                r.cell("nowait_fail_prob", **here),
                r.cell("fallbacks_per_hour", **here),
                r.cell("isolated_cpu_ipis_per_hour", **here, **MAINLINE),
                r.cell("rt_cycle_ipis_max", **here, **MAINLINE),
                r.cell("split_alloc_failures_per_hour", **here, **ON_DEMAND),
            ]
        )
    shown = len(points)
    total = math.prod(len(r.values(d)) for d in header_dims) if header_dims else 1
    more = (
        f" (the first {shown} of {total} points; `mcstudy show` lists all)" if total > shown else ""
    )
    return Table(
        "Every swept point: P(a GFP_NOWAIT allocation fails), tlb_remove_table_one() "
        "calls per hour, IPIs per hour at one isolated CPU and most IPIs in one RT cycle "
        "of a sequence (broadcast, khugepaged's sync IPI), failed on-demand split-time "
        f"allocations per hour; {sample_text(r, at)} per row, 95 % intervals{more}.",
        header,
        rows,
    )


def policy_table(r: Reader, at: dict[str, Any]) -> Table:
    """Isolated-CPU IPIs per hour: rows IPI policy, columns collapse policy (the cells of
    ``isolated_cpu_ipis_per_hour`` along its ``ipi_policy`` and ``collapse_policy``)."""
    cols = coords(r, "collapse_policy")
    rows = []
    for ipi in coords(r, "ipi_policy"):
        row: list[tuple[str, str | None]] = [(ipi, None)]
        for col in cols:
            here = {**at, "ipi_policy": ipi, "collapse_policy": col}
            row.append(r.cell("isolated_cpu_ipis_per_hour", **here))
        rows.append(row)
    return Table(
        f"IPIs per hour reaching one isolated CPU, by IPI policy and collapse policy "
        f"({condition(r, at)}; the same sequences for every policy).",
        ["ipi_policy \\ collapse_policy", *cols],
        rows,
    )


def memory_table(r: Reader, at: dict[str, Any]) -> Table:
    """Deposit against on-demand: memory held and failures per hour, per table policy
    (the cells of ``split_alloc_failures_per_hour`` along ``table_policy`` and of
    ``reserve_bytes_mean`` along ``cache_k``)."""
    loads = r.values("load") or [at.get("load")]
    zero = ("0", None)
    name = "split_alloc_failures_per_hour"

    def fails(tp: str) -> list[tuple[str, str | None]]:
        return [r.cell(name, **{**at, "load": x, "table_policy": tp}) for x in loads]

    rows: list[list[tuple[str, str | None]]] = [
        [("deposit (mainline)", None), (human_bytes(r.value("deposit_bytes_mean", **at)), None)]
        + [zero for _ in loads],
        [("on demand, GFP_NOWAIT", None), zero, *fails(ON_DEMAND["table_policy"])],
    ]
    if ATOMIC in coords(r, "table_policy"):
        rows.append([("on demand, GFP_ATOMIC", None), zero, *fails(ATOMIC)])
    for k in caches(r):
        held = human_bytes(r.value("reserve_bytes_mean", **at, cache_k=k))
        rows.append([(f"cache of {k} per CPU", None), (held, None), *fails(CACHE_OF[k])])
    pinned = condition(r, {k: v for k, v in at.items() if k != "load"})
    refill = "GFP_NOWAIT" if r.value_of("refill_gfp", at) == "nowait" else "blocking allocations"
    return Table(
        "Deposit against on-demand: page-table memory held for splits and split-time "
        f"allocations that failed per hour, by load ({pinned}; caches refill with {refill}, "
        "a miss allocates with GFP_NOWAIT).",
        ["table policy", "held", *(f"fails/h {x}" for x in loads)],
        rows,
    )


def host_answers(ds: xr.Dataset) -> Answers:
    r = Reader(ds)
    at = reference(r)
    load = at.get("load")
    desc = r.value_of("load_description", at) or ""
    items = [
        pressure_item(r, at),
        fallback_item(r, at),
        ipi_item(r, at),
        khugepaged_item(r, at),
        memory_item(r, at),
    ]
    kern = kernels_item(r, at)
    if kern is not None:
        items.append(kern)
    notes = []
    if desc:
        notes.append(f"The {load} load: {desc}.")
    notes.append(f"Sample: {sample_text(r, at)} per point; every policy on the same sequences.")
    notes += assumption_notes(r, at, MAINLINE, coords(r, "ipi_policy"))
    scale = r.value("zone_scale", **at)
    if math.isfinite(scale) and scale > 1:
        notes.append(
            f"The zone ({human_bytes(r.value('zone_managed_pages', **at) * 4096)}) is "
            "simulated page by page near its min mark and in levels of "
            f"{int(scale)} pages far from it, with its real rates: the time below min, the "
            "stays below min and the answers that depend on them do not depend on that "
            "level size (docs/model.md §11.5)."
        )
    return Answers(
        f"Answers: {condition(r, at)}",
        items,
        [summary_table(r, at), policy_table(r, at), memory_table(r, at)],
        notes,
    )
