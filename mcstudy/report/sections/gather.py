"""Headline answers of the gather model: how often ``tlb_remove_table_one()`` fires per
mmu_gather, and how many synchronous IPIs it sends, against the GFP_NOWAIT failure
probability, for each gather size and kernel profile.

Closed form used in the text (from the recursion of ``mcstudy.exact.gather``): a
gather of n tables falls back unless every one of its ceil(n / MAX_TABLE_BATCH)
batch-page attempts succeeds, so P(>= 1 fallback) = 1 - (1 - p)^ceil(n / B) exactly.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.document.blocks import Block, Bullets, Paragraph, Section, TableBlock, cell
from mcstudy.document.context import ReportContext
from mcstudy.document.curves import plain
from mcstudy.document.layout import select, sweep_dims
from mcstudy.document.variables import bounds
from mcstudy.fmt import coord, count, estimate, num
from mcstudy.report.sections.estimates import estimate_figures, sample_size_text
from mcstudy.storage.meaning import Meaning

P_DIM = "gfp_nowait_fail_p"
N_DIM = "tables_per_gather"
MAX_MATRICES = 4


def _where(coords: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {coord(v)}" for k, v in coords.items())


def _batch(ctx: ReportContext, kernel: str | None) -> int | None:
    """MAX_TABLE_BATCH in force on ``kernel`` (as the dataset records it)."""
    v = Meaning(ctx.ds).value("max_table_batch", {} if kernel is None else {"kernel": kernel})
    return None if v is None else int(v)


def _at_ends(da: xr.DataArray, lo: xr.DataArray, hi: xr.DataArray) -> str:
    """The estimate at the largest swept p, for the smallest and largest gather (points
    chosen by their coordinates, not by their values)."""
    at: dict[str, Any] = {}
    if P_DIM in da.dims:
        at[P_DIM] = da[P_DIM].values[-1]
    ns = list(da[N_DIM].values) if N_DIM in da.dims else [None]
    parts = []
    for n in dict.fromkeys([ns[0], ns[-1]]):
        here = {**at, **({N_DIM: n} if n is not None else {})}
        sel = {k: v for k, v in here.items()}
        y, a, b = (float(x.sel(sel).isel({d: 0 for d in x.sel(sel).dims})) for x in (da, lo, hi))
        parts.append(f"{' '.join(estimate(y, a, b))}" + (f" for {count(n)} tables" if n else ""))
    where = f"at p = {coord(at[P_DIM])}: " if P_DIM in at else ""
    return where + ", ".join(parts)


def kernel_findings(ctx: ReportContext) -> list[str]:
    """One sentence per kernel profile: the fallback probability at the sweep's largest p
    (smallest and largest gather) and the IPIs per fallback."""
    ds = ctx.ds
    dims = sweep_dims(ds)
    meaning = Meaning(ds)
    kernels = list(ds["kernel"].values) if "kernel" in dims else [meaning.value("kernel")]
    out = []
    for k in kernels:
        sub = ds.sel(kernel=k) if "kernel" in dims else ds
        lo, hi = bounds(sub, ctx.estimate("fallback_prob"))
        prob = sub["fallback_prob"]
        n = int(np.nansum(sub["sequences"].values)) if "sequences" in sub else 0
        hits = round(float(np.nansum(prob.values * sub["sequences"].values))) if n else 0
        exact_zero = "fallback_prob_exact" in sub and bool(
            np.all(np.asarray(sub["fallback_prob_exact"].values) == 0)
        )
        name = f"`{coord(k)}`"
        if hits == 0 and exact_zero:
            out.append(
                f"{name}: no fallback at any swept point ({count(n)} gathers simulated, none "
                "fell back; exact probability 0): page tables are not freed through "
                "`tlb_remove_table()` here."
            )
            continue
        text = f"{name}: P(>= 1 fallback per gather) " + _at_ends(prob, lo, hi)
        if "sync_ipis_mean" in sub and "fallbacks_mean" in sub:
            ipi = np.asarray(sub["sync_ipis_mean"].values, dtype=float)
            fb = np.asarray(sub["fallbacks_mean"].values, dtype=float)
            if "sync_ipis_mean_exact" in sub and "fallbacks_mean_exact" in sub:
                ipi = np.asarray(sub["sync_ipis_mean_exact"].values, dtype=float)
                fb = np.asarray(sub["fallbacks_mean_exact"].values, dtype=float)
            total_fb = float(np.nansum(fb))
            if total_fb > 0 and float(np.nansum(ipi)) == 0.0:
                text += "; the fallback sends no IPI (the table is freed with `call_rcu()`)"
            elif total_fb > 0:
                per = float(np.nansum(ipi)) / total_fb
                policy = (
                    "per `ipi_policy`"
                    if "ipi_policy" in dims
                    else f"`{meaning.value('ipi_policy')}`"
                )
                text += f"; each fallback sends {num(per, 3)} sync IPI deliveries ({policy})"
        out.append(text + ".")
    return out


def small_p_table(ctx: ReportContext) -> list[Block]:
    """P(>= 1 fallback) / p at a small p against the number of batch pages needed."""
    ds = ctx.ds
    dims = sweep_dims(ds)
    if P_DIM not in dims or N_DIM not in dims:
        return []
    prob = ctx.estimate("fallback_prob")
    fixed: dict[str, Any] = {}
    for d in dims:
        if d in (P_DIM, N_DIM):
            continue
        # first level where the fallback can happen
        levels = list(ds[d].values)
        pick = levels[0]
        for lv in levels:
            if float(np.nanmax(ds["fallback_prob"].sel({d: lv}).values)) > 0:
                pick = lv
                break
        fixed[d] = plain(pick)
    sub = select(ds, fixed)
    lo, hi = bounds(sub, prob)
    rel = (hi - lo) / (2 * sub["fallback_prob"])
    # the smallest swept p at which every gather size is resolved to +-25 %
    p_star = None
    for pv in sub[P_DIM].values:
        r = np.asarray(rel.sel({P_DIM: pv}).values, dtype=float)
        if np.all(np.isfinite(r)) and np.all(r <= 0.25):
            p_star = float(pv)
            break
    if p_star is None:
        return []
    kernel = fixed.get("kernel")
    batch = _batch(ctx, kernel)
    rows = []
    for nv in sub[N_DIM].values:
        at = {P_DIM: p_star, N_DIM: nv}
        y = float(sub["fallback_prob"].sel(at))
        ylo, yhi = float(lo.sel(at)), float(hi.sel(at))
        row = [cell(count(nv))]
        if batch:
            attempts = math.ceil(int(nv) / batch)
            closed = -math.expm1(attempts * math.log1p(-p_star))
            row.append(cell(count(attempts)))
        row.append(cell(*estimate(y, ylo, yhi)))
        row.append(cell(*estimate(y / p_star, ylo / p_star, yhi / p_star)))
        if batch:
            row.append(cell(num(closed)))
        if "fallback_prob_exact" in sub:
            row.append(cell(num(float(sub["fallback_prob_exact"].sel(at)))))
        rows.append(row)
    header = ["tables per gather n"]
    if batch:
        header.append(f"batch pages needed ceil(n / {batch})")
    header += ["P(>= 1 fallback) [95 %]", "P / p [95 %]"]
    if batch:
        header.append("closed form 1 - (1 - p)^ceil(n/B)")
    if "fallback_prob_exact" in sub:
        header.append("exact (DP)")
    where = _where(fixed)
    return [
        Paragraph(
            "Why bigger gathers fall back more often: a gather of n tables makes one "
            "GFP_NOWAIT batch-page attempt per MAX_TABLE_BATCH tables and falls back unless "
            "every attempt succeeds, so P(>= 1 fallback) = 1 - (1 - p)^ceil(n / B) exactly, "
            "about p x ceil(n / B) for small p. The table checks this at the smallest swept "
            f"p = {coord(p_star)} where every gather size is estimated to +-25 %"
            + (f" ({where})" if where else "")
            + "."
        ),
        TableBlock(
            f"P(>= 1 fallback per gather) at p = {coord(p_star)}" + (f", {where}" if where else ""),
            header,
            rows,
            kind="estimates",
            sample_size=sample_size_text(ctx, prob),
            key="small-p",
        ),
    ]


def matrix_tables(ctx: ReportContext) -> list[Block]:
    """P(>= 1 fallback) with Wilson intervals: rows p, columns tables per gather."""
    ds = ctx.ds
    dims = sweep_dims(ds)
    if P_DIM not in dims or N_DIM not in dims:
        return []
    prob = ctx.estimate("fallback_prob")
    rest = [d for d in dims if d not in (P_DIM, N_DIM)]
    combos = list(itertools.product(*(ds[d].values.tolist() for d in rest)))
    out: list[Block] = []
    shown = 0
    for combo in combos:
        fixed = dict(zip(rest, combo, strict=True))
        sub = select(ds, fixed)
        if float(np.nanmax(np.asarray(sub["fallback_prob"].values, dtype=float))) == 0.0:
            continue
        if shown == MAX_MATRICES:
            out.append(Paragraph("Further combinations are in the table of `fallback_prob` below."))
            break
        lo, hi = bounds(sub, prob)
        # whole arrays, read by position (sel per cell took a minute at 1e4 points)
        y, lo, hi = (
            np.asarray(a.transpose(P_DIM, N_DIM).values, float)
            for a in (sub["fallback_prob"], lo, hi)
        )
        rows = []
        for i, pv in enumerate(sub[P_DIM].values):
            row = [cell(coord(pv))]
            for j in range(sub.sizes[N_DIM]):
                row.append(cell(*estimate(y[i, j], lo[i, j], hi[i, j])))
            rows.append(row)
        out.append(
            TableBlock(
                "P(>= 1 fallback per gather) [Wilson 95 %]"
                + (f" for {_where(fixed)}" if fixed else "")
                + f": rows {P_DIM}, columns {N_DIM}",
                ["p \\ n", *(count(v) for v in sub[N_DIM].values)],
                rows,
                kind="estimates",
                sample_size=sample_size_text(ctx, prob),
                collapsed=shown > 0,
                key=f"matrix-{shown + 1}",
            )
        )
        shown += 1
    return out


def isolated_cpu_text(ctx: ReportContext) -> list[str]:
    """What the per-gather numbers mean for one isolated CPU."""
    out = [
        "An isolated CPU that does not run the mm is hit only by `broadcast`: it receives one "
        "IPI per fallback, so its IPIs per gather equal `fallbacks_mean`; under `mm_cpumask`, "
        "`kernel_mode` and `rcu` it receives none. The gather model counts per gather: "
        "multiply by the gathers per second of the workload (page-table-freeing munmap / "
        "exit calls) for IPIs per second."
    ]
    return out


def gather_headline(ctx: ReportContext) -> list[Section]:
    if ctx.estimate("fallback_prob") is None or "sequences" not in ctx.ds:
        return []
    dims = sweep_dims(ctx.ds)
    facet = "kernel" if "kernel" in dims else ("ipi_policy" if "ipi_policy" in dims else None)
    prefer = (P_DIM if P_DIM in dims else None, N_DIM if N_DIM in dims else None, facet)
    blocks: list[Block] = [Bullets(kernel_findings(ctx))]
    blocks += matrix_tables(ctx)[:1]
    blocks += small_p_table(ctx)
    blocks += estimate_figures(
        ctx,
        ctx.estimate("fallback_prob"),
        prefer,
        key_prefix="headline-",
        title="Fallback probability per gather versus GFP_NOWAIT failure probability",
    )
    ctx.covered.add("fallback_prob")
    ipis = ctx.estimate("sync_ipis_mean")
    if ipis is not None:
        if "ipi_policy" in dims:
            prefer = (prefer[0], prefer[1], "ipi_policy")
        blocks.append(Bullets(isolated_cpu_text(ctx)))
        blocks += estimate_figures(
            ctx,
            ipis,
            prefer,
            key_prefix="headline-",
            title="Synchronous IPI deliveries per gather",
        )
        ctx.covered.add("sync_ipis_mean")
    blocks += matrix_tables(ctx)[1:]
    return [
        Section(
            "headline",
            "Headline answers",
            blocks,
            order=20,
            lead="How often tlb_remove_table_one() fires per mmu_gather and how many "
            "synchronous IPIs it sends.",
        )
    ]
