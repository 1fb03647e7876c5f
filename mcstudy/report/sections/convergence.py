"""Convergence: running estimate and relative error versus sequences for a few points."""

from __future__ import annotations

import math

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
from mcstudy.fmt import count, estimate, num
from mcstudy.report.check_figures import plot_convergence


def convergence(ctx: ReportContext) -> list[Section]:
    traces = ctx.convergence()
    main = ctx.main_estimate()
    intro = Paragraph(
        "Every point records its main estimate and 95 % interval after 1, 2, 3, 4, 6, 8, "
        "11, 16, ... blocks of its run. The random numbers of a point depend only on (seed, "
        "point, block), so the estimate after k blocks is the estimate of a run of k "
        "blocks: the curves below are the path the stored estimate took, not a new run. "
        "Points are chosen by the relative error of the main estimate: the noisiest, a "
        "median one and the most precise."
    )
    if not traces or main is None:
        note = ctx.convergence_note or "no point could be traced"
        return [
            Section(
                "convergence",
                "Convergence",
                [intro, Paragraph(f"No convergence trace: {note}.")],
                order=50,
                lead=f"No trace: {note}.",
            )
        ]
    blocks: list[Block] = [intro]
    blocks.append(
        FigureBlock(
            "convergence",
            f"Convergence of {main.long_name}",
            f"Left: running estimate of `{main.name}` ({main.long_name}) with its 95 % "
            "interval after each checkpoint, and the exact value (dashed) where there is "
            "one. Right: its relative error (half the 95 % interval / 1.96, over |estimate|); "
            "the dotted line falls as 1/sqrt(n) through the final relative error, the rate "
            "a correct Monte Carlo estimate follows. Checkpoints with too few sequences for "
            "an interval have no band.",
            plot_convergence(traces, main),
        )
    )
    rows = []
    for tr in traces:
        y, lo, hi = tr.value[-1], tr.low[-1], tr.high[-1]
        if math.isfinite(lo) and math.isfinite(hi):
            shown = cell(*estimate(y, lo, hi))
        else:
            shown = cell(num(y), f"no interval from {count(tr.sequences[-1])} sequence(s)")
        rows.append(
            [
                cell(tr.title()),
                cell(count(tr.sequences[-1])),
                cell(count(tr.sequences.size)),
                shown,
                cell(num(tr.exact) if tr.exact is not None else "none"),
                cell("yes" if tr.matches else "NO"),
            ]
        )
    blocks.append(
        TableBlock(
            "Traced points: the last running estimate, which is the stored one",
            [
                "point",
                "n (sequences)",
                "checkpoints",
                f"{main.name} [95 % interval]",
                "exact",
                "equal to the stored estimate",
            ],
            rows,
            kind="estimates",
            key="convergence-points",
        )
    )
    bad = [tr for tr in traces if not tr.matches]
    if bad:
        ctx.health.insert(
            0,
            f"The running estimate of {len(bad)} point(s) does NOT end at the stored "
            f"{main.name}: the dataset was changed after the run or is damaged.",
        )
        blocks.append(
            Bullets(
                [
                    f"{tr.title()}: the last running value {num(tr.value[-1], 17)} differs "
                    f"from the stored {num(tr.stored, 17)}."
                    for tr in bad
                ]
            )
        )
    lead = f"{len(traces)} point(s) traced, " + (
        "each ending at its stored estimate."
        if not bad
        else f"{len(bad)} NOT ending at the stored estimate."
    )
    return [Section("convergence", "Convergence", blocks, order=50, lead=lead)]
