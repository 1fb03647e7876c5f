"""Sensitivity: which swept parameter moves each estimate most (grid Sobol indices)."""

from __future__ import annotations

import numpy as np

from mcstudy.document.blocks import (
    Block,
    Bullets,
    FigureBlock,
    Paragraph,
    Section,
    TableBlock,
    cell,
)
from mcstudy.document.context import ReportContext
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import stderr
from mcstudy.fmt import count, estimate, num
from mcstudy.report.check_figures import plot_sensitivity
from mcstudy.report.sensitivity import BOOTSTRAP, Sensitivity, grid_sensitivity

MAX_PANELS = 6


def sensitivity(ctx: ReportContext) -> list[Section]:
    ds = ctx.ds
    dims = sweep_dims(ds)
    varying = [d for d in dims if ds.sizes[d] > 1]
    if len(varying) < 2:
        return []
    results: list[Sensitivity] = []
    skipped: list[str] = []
    for est in ctx.estimates:
        y = ds[est.name].transpose(*dims).values
        se = stderr(ds, est).transpose(*dims).values
        res = grid_sensitivity(est.name, y, se, dims)
        if res is None:
            reason = (
                "has missing points"
                if not np.all(np.isfinite(y))
                else "does not vary beyond Monte Carlo noise"
            )
            skipped.append(f"`{est.name}` {reason}.")
            continue
        results.append(res)
    n_cells = int(np.prod([ds.sizes[d] for d in dims]))
    blocks: list[Block] = [
        Paragraph(
            "Variance decomposition of each estimate over the swept grid, every level "
            "weighted equally: the first-order index S is the share of the variance that a "
            "parameter explains alone, the total index ST adds its interactions (ST - S). "
            "On a full grid these are the Sobol indices for parameters drawn uniformly from "
            "their swept levels, so they depend on the levels chosen; estimates spanning "
            "decades weigh their largest values most. Monte Carlo noise is removed from "
            "every variance (its size is known from the standard errors) and the 95 % "
            f"intervals come from a parametric bootstrap ({BOOTSTRAP} draws, conservative). "
            "SALib's sampled Sobol estimators need a sweep sampled for them; study configs "
            "describe grids, so this grid decomposition is used."
        )
    ]
    if not results:
        blocks.append(Bullets(skipped or ["No estimate to decompose."]))
        return [
            Section(
                "sensitivity", "Sensitivity", blocks, order=60, lead="No estimate to decompose."
            )
        ]
    findings = []
    for res in results:
        ranked = res.ranked()
        top = ranked[0]
        interactions = max(0.0, 1.0 - sum(ix.first for ix in ranked))
        rest = ", ".join(
            f"`{ix.dim}` ST = {num(ix.total, 2)}" + ("" if ix.resolved else " (within noise)")
            for ix in ranked[1:]
        )
        text = (
            f"`{res.estimate}` moves most with `{top.dim}` (ST = "
            f"{' '.join(estimate(top.total, top.total_lo, top.total_hi))}, alone S = "
            f"{num(top.first, 2)})"
        )
        if rest:
            text += f"; then {rest}"
        text += f"; interactions explain {100 * interactions:.0f} % of its variance"
        text += f", Monte Carlo noise {100 * res.noise_share:.2g} % of the observed variance."
        findings.append(text)
    blocks.append(Bullets(findings))
    blocks.append(
        FigureBlock(
            "sensitivity",
            "Sensitivity indices",
            "First-order (S) and total (ST) variance shares of each swept parameter, per "
            "estimate, with bootstrap 95 % intervals"
            + (
                f" (the first {MAX_PANELS} estimates; the table lists all)."
                if len(results) > MAX_PANELS
                else "."
            ),
            plot_sensitivity(results[:MAX_PANELS]),
        )
    )
    rows = []
    for res in results:
        for ix in res.ranked():
            rows.append(
                [
                    cell(f"`{res.estimate}`"),
                    cell(f"`{ix.dim}`"),
                    cell(count(ix.levels)),
                    cell(*estimate(ix.first, ix.first_lo, ix.first_hi)),
                    cell(*estimate(ix.total, ix.total_lo, ix.total_hi)),
                    cell(num(ix.effect_range)),
                    cell("yes" if ix.resolved else "no (within noise)"),
                ]
            )
    blocks.append(
        TableBlock(
            "Grid sensitivity indices with bootstrap 95 % intervals",
            [
                "estimate",
                "parameter",
                "levels",
                "first-order S [95 %]",
                "total ST [95 %]",
                "span of level means",
                "above noise",
            ],
            rows,
            kind="estimates",
            sample_size=f"{count(n_cells)} grid points, {BOOTSTRAP} bootstrap draws",
            key="sensitivity",
        )
    )
    if skipped:
        blocks.append(Bullets(skipped))
    lead = "; ".join(f"{r.estimate}: {r.ranked()[0].dim}" for r in results[:4])
    return [
        Section(
            "sensitivity", "Sensitivity", blocks, order=60, lead=f"Largest total index: {lead}."
        )
    ]
