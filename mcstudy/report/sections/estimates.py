"""Generic estimates: a figure per estimate and a table of every point, for any model.

Estimates are recognised by the naming conventions of ``mcstudy.document.variables``;
variables already drawn by a model's headline section (``ctx.covered``) are not drawn
again, but every estimate gets its full table.
"""

from __future__ import annotations

import math

import numpy as np

from mcstudy.document.blocks import (
    MAX_TABLE_ROWS,
    Block,
    Bullets,
    Cell,
    FigureBlock,
    Paragraph,
    Section,
    TableBlock,
)
from mcstudy.document.context import ReportContext
from mcstudy.document.layout import Layout, choose_layouts, is_numeric, sweep_dims
from mcstudy.document.variables import Estimate, agreement, bounds, sample_size
from mcstudy.fmt import coord, count, estimate, num
from mcstudy.models.contract import INTERVALS
from mcstudy.report.figures import plot_estimate, plot_estimates_panels


def sample_size_text(ctx: ReportContext, est: Estimate) -> str:
    """``n = ...`` when every point has the same sample size, else its range."""
    nn = sample_size(ctx.ds, est)
    if nn is None:
        return "sample size not recorded"
    v = np.asarray(nn.values, dtype=float)
    v = v[np.isfinite(v) & (v >= 0)]
    if v.size == 0:
        return "sample size missing"
    if v.min() == v.max():
        return f"n = {count(v.min())} per point"
    return f"n = {count(v.min())} to {count(v.max())} per point"


def interval_kind(est: Estimate) -> str:
    """How the 95 % intervals of ``est`` are made, in words."""
    return f"95 % intervals: {INTERVALS.get(est.interval, est.interval)}"


def estimate_figures(
    ctx: ReportContext,
    est: Estimate,
    prefer: tuple[str | None, ...] = (),
    key_prefix: str = "",
    title: str | None = None,
) -> list[Block]:
    """Figures of ``est`` over the sweep (one per combination of left-over dimensions)."""
    layouts, left_out = choose_layouts(ctx.ds, prefer)
    out: list[Block] = []
    if not layouts or layouts[0].x is None:
        return out  # a single point: the tables say it all
    for i, layout in enumerate(layouts):
        fig, notes = plot_estimate(ctx.ds, est, layout, ctx.curves)
        out.append(
            FigureBlock(
                key=f"{key_prefix}{est.name}" + (f"-{i + 1}" if len(layouts) > 1 else ""),
                title=title or est.long_name,
                caption=figure_caption(ctx, est, layout, notes),
                figure=fig,
            )
        )
    if left_out:
        out.append(
            Paragraph(
                f"{left_out} further combination(s) of the other swept parameters are not "
                f"drawn; the table of `{est.name}` lists every point."
            )
        )
    return out


PANELS_PER_FIGURE = 12


def panel_figures(ctx: ReportContext, ests: list[Estimate]) -> list[Block]:
    """Small multiples, one panel per estimate (sweeps that need no facet panels)."""
    layouts, left_out = choose_layouts(ctx.ds)
    out: list[Block] = []
    groups = [ests[i : i + PANELS_PER_FIGURE] for i in range(0, len(ests), PANELS_PER_FIGURE)]
    for i, layout in enumerate(layouts):
        for j, group in enumerate(groups):
            fig, notes = plot_estimates_panels(ctx.ds, group, layout, ctx.curves)
            n = i * len(groups) + j + 1
            what = f"`{layout.x}` on the x axis" + (
                f", one colour per `{layout.hue}`" if layout.hue is not None else ""
            )
            parts = [
                f"One panel per estimate ({', '.join(f'`{e.name}`' for e in group)}), {what}.",
            ]
            if layout.fixed:
                parts.append(f"At {layout.fixed_text()}.")
            if layout.x is None or not is_numeric(ctx.ds, layout.x):
                shapes = "error bars: their 95 % intervals", "dashes: exact values"
            else:
                shapes = "bands: their 95 % intervals", "lines: exact values"
            parts.append(
                f"Markers: Monte Carlo estimates; {shapes[0]} (Wilson for proportions, else "
                f"as stored or +-1.96 standard errors); {shapes[1]} where the model has them; "
                f"{sample_size_text(ctx, group[0])}."
            )
            if notes:
                parts.append("; ".join(notes) + ".")
            out.append(
                FigureBlock(
                    key=f"estimates-{n}",
                    title="Estimates over the sweep" + (f" ({n})" if n > 1 else ""),
                    caption=" ".join(parts),
                    figure=fig,
                )
            )
    if left_out:
        out.append(
            Paragraph(
                f"{left_out} further combination(s) of the other swept parameters are not "
                "drawn; the tables list every point."
            )
        )
    return out


def figure_caption(ctx: ReportContext, est: Estimate, layout: Layout, notes: list[str]) -> str:
    parts = []
    what = f"`{est.name}` ({est.long_name})"
    if layout.x is not None:
        what += f" versus `{layout.x}`"
    if layout.hue is not None:
        what += f", one colour per `{layout.hue}`"
    if layout.facet is not None:
        what += f", one panel per `{layout.facet}`"
    parts.append(what + ".")
    if layout.fixed:
        parts.append(f"At {layout.fixed_text()}.")
    categorical = layout.x is None or not is_numeric(ctx.ds, layout.x)
    parts.append(
        f"Markers: Monte Carlo estimates; {'error bars' if categorical else 'bands'}: "
        f"{interval_kind(est)}; {sample_size_text(ctx, est)}."
    )
    if est.exact is not None and categorical:
        parts.append("Dashes: exact values, one per category (categories are not joined).")
    elif est.exact is not None:
        dense = ctx.curves is not None and not ctx.curves.exhausted and layout.x is not None
        parts.append(
            "Lines: exact values"
            + (
                " from the model's exact solver, evaluated between the swept values"
                if dense
                else ""
            )
            + "."
        )
    parts.extend(_sentence(n) for n in notes)
    return " ".join(parts)


def _sentence(note: str) -> str:
    note = note.rstrip(".")
    return note[:1].upper() + note[1:] + "."


def estimate_table(ctx: ReportContext, est: Estimate, collapsed: bool = True) -> TableBlock:
    """Every point of ``est``: coordinates, estimate with interval and n, exact value, z."""
    ds = ctx.ds
    dims = sweep_dims(ds)
    y = np.asarray(ds[est.name].values, dtype=float).ravel()
    lo, hi = (np.asarray(b.values, dtype=float).ravel() for b in bounds(ds, est))
    nn = sample_size(ds, est)
    n = np.asarray(nn.values).ravel() if nn is not None else None
    ag = agreement(ds, est)
    ex = np.asarray(ds[est.exact].values, dtype=float).ravel() if est.exact else None
    coords = [np.asarray(ds[d].values) for d in dims]
    shape = tuple(ds.sizes[d] for d in dims)
    header = [*dims, f"{est.name} [95 % interval]", "n"]
    if ex is not None:
        header += ["exact", "z"]
    flagged = set(ag.flagged.tolist()) if ag is not None else set()
    shown = range(y.size)
    more = ""
    if y.size > MAX_TABLE_ROWS:  # a page, not a dump: the flagged points, then the first
        keep = sorted(flagged)[:MAX_TABLE_ROWS]
        room = MAX_TABLE_ROWS - len(keep)
        first = [i for i in range(room + len(keep)) if i not in flagged][:room]
        shown = sorted(set(keep) | set(first))
        more = (
            f" Shown: {count(len(shown))} of {count(y.size)} points (the flagged ones, then "
            "the first in sweep order); all are in the dataset and in `mcstudy show`."
        )
    rows = []
    for flat in shown:
        idx = np.unravel_index(flat, shape) if dims else ()
        row = [Cell(coord(c[i])) for c, i in zip(coords, idx, strict=True)]
        n_text = count(n[flat]) if n is not None and int(n[flat]) >= 0 else "missing"
        flag = "disagrees with exact" if flat in flagged else None
        row.append(Cell(*estimate(y[flat], lo[flat], hi[flat]), None, flag))
        row.append(Cell(n_text))
        if ex is not None and ag is not None:
            row.append(Cell(num(ex[flat])))
            z = ag.z[flat]
            row.append(Cell(f"{z:+.2f}" if math.isfinite(z) else ag.status[flat]))
        rows.append(row)
    return TableBlock(
        caption=f"`{est.name}`: {est.long_name}"
        + (f" ({est.units})" if est.units not in ("", "1") else "")
        + f", every point; {interval_kind(est)}."
        + more,
        header=header,
        rows=rows,
        kind="estimates",
        collapsed=collapsed,
        key=f"table-{est.name}",
    )


def estimates(ctx: ReportContext) -> list[Section]:
    sections = []
    main = ctx.main_estimate()
    if not ctx.covered and main is not None:
        # no model-specific headline: lead with the main estimate
        blocks: list[Block] = [Bullets(range_findings(ctx, [main]))]
        blocks += estimate_figures(ctx, main, key_prefix="headline-")
        sections.append(
            Section(
                "headline",
                "Headline answers",
                blocks,
                order=20,
                lead=f"The model's main estimate, `{main.name}`, over the sweep.",
            )
        )
        ctx.covered.add(main.name)
    blocks = []
    if not ctx.estimates:
        blocks.append(Paragraph("The dataset holds no estimate with an interval."))
    rest = [e for e in ctx.estimates if e.name not in ctx.covered]
    layouts, _ = choose_layouts(ctx.ds)
    if len(rest) > 1 and layouts and layouts[0].facet is None and layouts[0].x is not None:
        blocks += panel_figures(ctx, rest)
    else:
        for est in rest:
            blocks += estimate_figures(ctx, est)
    blocks.append(
        Paragraph(
            "Tables of every point (open one to read it). `z` is (Monte Carlo - exact) / "
            "standard error, the standard error taken from the exact variance where the "
            "model provides it."
        )
    )
    for est in ctx.estimates:
        blocks.append(estimate_table(ctx, est))
    sections.append(
        Section(
            "estimates",
            "Estimates",
            blocks,
            order=30,
            lead=f"{len(ctx.estimates)} estimate(s), each with its 95 % interval and sample size.",
        )
    )
    return sections


def range_findings(ctx: ReportContext, ests: list[Estimate]) -> list[str]:
    """One sentence per estimate: its smallest and largest value over the sweep."""
    ds = ctx.ds
    dims = sweep_dims(ds)
    shape = tuple(ds.sizes[d] for d in dims)
    out = []
    for est in ests:
        y = np.asarray(ds[est.name].values, dtype=float).ravel()
        lo, hi = (np.asarray(b.values, dtype=float).ravel() for b in bounds(ds, est))
        ok = np.flatnonzero(np.isfinite(y))
        if ok.size == 0:
            out.append(f"`{est.name}`: no value computed.")
            continue
        i_min = int(ok[np.argmin(y[ok])])
        i_max = int(ok[np.argmax(y[ok])])

        def at(i: int) -> str:
            if not dims:
                return ""
            idx = np.unravel_index(i, shape)
            return " at " + ", ".join(
                f"{d} = {coord(ds[d].values[j])}" for d, j in zip(dims, idx, strict=True)
            )

        out.append(
            f"`{est.name}` ({est.long_name}): from {' '.join(estimate(y[i_min], lo[i_min], hi[i_min]))}"
            f"{at(i_min)} to {' '.join(estimate(y[i_max], lo[i_max], hi[i_max]))}{at(i_max)}; "
            f"{sample_size_text(ctx, est)}."
        )
    return out
