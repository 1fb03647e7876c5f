"""Building blocks for a model's headline section: figures and a compact table.

The sentences that answer a model's questions are in the Answers section
(``mcstudy.report.answers``), quoted at coordinates the sweep defines. A headline
section is the evidence right behind them: the model's own comparison figure first,
then its key estimates against the sweep, and a table of them at every point (intervals
and sample size). It never summarises by the smallest and largest noisy value.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from mcstudy.document.blocks import Block, Cell, Paragraph, Section, TableBlock
from mcstudy.document.context import ReportContext
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import Estimate, bounds
from mcstudy.fmt import coord, estimate
from mcstudy.report.sections.estimates import estimate_figures, sample_size_text

MAX_ROWS = 40


def present(ctx: ReportContext, names: list[str]) -> list[Estimate]:
    """The estimates of ``names`` that the dataset holds, in that order."""
    out = []
    for n in names:
        e = ctx.estimate(n)
        if e is not None:
            out.append(e)
    return out


def headline_table(ctx: ReportContext, ests: list[Estimate], key: str) -> list[Block]:
    """The headline estimates at every point (at most ``MAX_ROWS`` rows)."""
    ds = ctx.ds
    dims = [d for d in sweep_dims(ds) if ds.sizes[d] > 1]
    combos = list(itertools.product(*(ds[d].values.tolist() for d in dims)))
    rows = []
    fixed_single = {d: ds[d].values[0] for d in sweep_dims(ds) if ds.sizes[d] == 1}
    cols = {e.name: bounds(ds, e) for e in ests}
    for combo in combos[:MAX_ROWS]:
        at: dict[str, Any] = {**fixed_single, **dict(zip(dims, combo, strict=True))}
        row = [Cell(coord(v)) for v in combo]
        for e in ests:
            lo, hi = cols[e.name]
            sel = ds[e.name].sel(at) if at else ds[e.name]
            y = float(sel)
            lo_v = float(lo.sel(at) if at else lo)
            hi_v = float(hi.sel(at) if at else hi)
            text, ci = estimate(y, lo_v, hi_v)
            row.append(Cell(text, ci if np.isfinite(y) else None))
        rows.append(row)
    header = [*dims, *(f"{e.name} [95 %]" for e in ests)]
    out: list[Block] = [
        TableBlock(
            "Headline estimates at every point",
            header,
            rows,
            kind="estimates",
            sample_size=sample_size_text(ctx, ests[0]),
            key=key,
        )
    ]
    if len(combos) > MAX_ROWS:
        out.append(
            Paragraph(f"First {MAX_ROWS} of {len(combos)} points; the tables below list all.")
        )
    return out


def headline_section(
    ctx: ReportContext,
    names: list[str],
    lead: str,
    figures: int = 2,
    prefer: tuple[str | None, ...] = (),
    extra: list[Block] | None = None,
) -> list[Section]:
    """A headline section from the estimates ``names`` (those the dataset has): the
    ``extra`` blocks (the model's comparison) first, then figures and the table."""
    ests = present(ctx, names)
    if not ests:
        return []
    blocks: list[Block] = list(extra or [])
    dims = sweep_dims(ctx.ds)
    for e in ests[:figures]:
        blocks += estimate_figures(
            ctx, e, tuple(p for p in prefer if p in dims) or (), key_prefix="headline-"
        )
        ctx.covered.add(e.name)
    blocks += headline_table(ctx, ests, "headline-table")
    return [Section("headline", "Headline answers", blocks, order=20, lead=lead)]
