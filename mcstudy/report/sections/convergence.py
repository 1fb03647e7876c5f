"""Convergence: running estimate and relative error versus sequences for a few points."""

from __future__ import annotations

from mcstudy.report.context import ReportContext
from mcstudy.report.document import (
    Block,
    Bullets,
    FigureBlock,
    Paragraph,
    Section,
    TableBlock,
    cell,
)
from mcstudy.report.figures import plot_convergence
from mcstudy.report.fmt import count, estimate, seconds


def convergence(ctx: ReportContext) -> list[Section]:
    traces = ctx.convergence()
    main = ctx.main_estimate()
    intro = Paragraph(
        "The random numbers of a point depend only on (seed, point, block), so re-running "
        "a stored point block by block in block order reproduces the stored run's own "
        "running estimate: the curves below are the path the stored estimate took, not a "
        "new run. Points are chosen by the relative error of the main estimate: the "
        "noisiest, a median one and the most precise. Where a whole point was re-run, "
        "its final estimates are compared bit for bit with the stored ones."
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
    others = [
        e
        for e in ctx.estimates
        if e.name != main.name and all(e.name in tr.values for tr in traces)
    ]
    blocks: list[Block] = [intro]
    blocks.append(
        FigureBlock(
            "convergence",
            f"Convergence of {main.name}",
            f"Left: running estimate of `{main.name}` with its 95 % interval after each "
            "checkpoint (whole blocks), and the exact value (dashed) where there is one. "
            "Right: relative error (standard error, or half the 95 % interval / 1.96, over "
            "|estimate|) of every estimate; "
            "the dotted line falls as 1/sqrt(n) through the final relative error of "
            f"`{main.name}`, the rate a correct Monte Carlo estimate follows.",
            plot_convergence(traces, main, others),
        )
    )
    rows = []
    notes = []
    for tr in traces:
        y = tr.values[main.name][-1]
        lo, hi = tr.bounds(main)
        if tr.reproduced is None:
            verdict = f"first {count(tr.sequences[-1])} of {count(tr.stored_sequences)} only"
        elif tr.reproduced:
            verdict = f"identical ({len(tr.compared)} values)"
        else:
            verdict = "DIFFERS: " + ", ".join(tr.mismatched)
        rows.append(
            [
                cell(tr.title()),
                cell(count(tr.sequences[-1])),
                cell(count(tr.blocks_done) + " / " + count(tr.blocks_total)),
                cell(*estimate(y, lo[-1], hi[-1])),
                cell(verdict),
                cell(seconds(tr.seconds)),
            ]
        )
    blocks.append(
        TableBlock(
            "Traced points: final re-run estimate and comparison with the stored values",
            [
                "point",
                "n re-run",
                "blocks",
                f"{main.name} [95 % interval]",
                "bitwise equal to stored",
                "time",
            ],
            rows,
            kind="estimates",
            key="convergence-points",
        )
    )
    complete = [tr for tr in traces if tr.reproduced is not None]
    bad = [tr for tr in complete if not tr.reproduced]
    if any(tr.reproduced is None for tr in traces):
        notes.append(
            "Points marked 'first ... only' did not fit the time budget of the report "
            "(`--convergence-seconds`); their curves cover the first blocks of the stored run."
        )
    if bad:
        ctx.health.insert(
            0,
            f"Re-running {len(bad)} point(s) did NOT reproduce the stored estimates bit for "
            "bit: the dataset and this code disagree (different code version or a "
            "damaged dataset).",
        )
    elif complete:
        ctx.trust.append(
            f"{len(complete)} point(s) re-run from the seed reproduce the stored estimates "
            "bit for bit."
        )
    if notes:
        blocks.append(Bullets(notes))
    lead = f"{len(traces)} point(s) traced; " + (
        f"{len(complete) - len(bad)} of {len(complete)} complete re-run(s) bitwise identical."
        if complete
        else "none re-run in full."
    )
    return [Section("convergence", "Convergence", blocks, order=50, lead=lead)]
