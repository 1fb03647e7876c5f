"""The report's first section: "Answers" (answer first, ``mcstudy.report.answers``).

Each of the review's questions as one sentence with its number, 95 % interval and
condition, then the summary table(s), then (for the host study) the two figures a
kernel developer compares: IPIs per policy, and deposit against on-demand. The evidence
(model sections, estimates, exact checks) follows in the rest of the report.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

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
from mcstudy.findings import format_findings, read_findings
from mcstudy.fmt import count, findings_count
from mcstudy.report.answer_figures import plot_against, plot_frontier, plot_grouped
from mcstudy.report.answering import answers_for
from mcstudy.report.answers import Answers, Reader

ORDER = 5


def answer_blocks(ans: Answers) -> list[Block]:
    """Sentences, then tables, then notes."""
    blocks: list[Block] = [Bullets([f"{i.question} — {i.answer}" for i in ans.items])]
    for k, t in enumerate(ans.tables):
        rows = t.rows[:MAX_TABLE_ROWS]
        caption = t.caption
        if len(t.rows) > len(rows):
            caption += (
                f" Shown: the first {count(len(rows))} of {count(len(t.rows))} rows; all are in "
                "`mcstudy show`."
            )
        blocks.append(
            TableBlock(
                caption,
                list(t.header),
                [[Cell(text, ci) for text, ci in row] for row in rows],
                kind="answers",
                key=f"answers-{k + 1}",
            )
        )
        if t.note:
            blocks.append(Paragraph(t.note))
    blocks += [Paragraph(n) for n in ans.notes]
    return blocks


def host_figures(ds: xr.Dataset) -> list[Block]:
    """IPIs per policy and the deposit/on-demand frontier at the reference point, selected
    by coordinate along the outputs' ``ipi_policy``, ``collapse_policy``, ``table_policy``
    and ``cache_k`` dimensions."""
    from mcstudy.report.answers_host import (
        CACHE_OF,
        ON_DEMAND,
        caches,
        condition,
        coords,
        reference,
    )

    r = Reader(ds)
    at = reference(r)
    ipis, cols = coords(r, "ipi_policy"), coords(r, "collapse_policy")
    name = "isolated_cpu_ipis_per_hour"
    vals = np.array(
        [[r.triple(name, **at, ipi_policy=i, collapse_policy=c) for i in ipis] for c in cols]
    )
    out: list[Block] = [
        FigureBlock(
            "answers-ipis-per-policy",
            "IPIs per hour reaching one isolated CPU, per IPI policy and collapse policy",
            f"{condition(r, at)}; the same simulated sequences for every policy; error bars "
            "are 95 % intervals, a zero bar is labelled with its upper bound.",
            plot_grouped(ipis, cols, vals, "IPIs per hour", "collapse_policy"),
        )
    ]
    ks = caches(r)
    labels = ["on demand"] + [f"cache {k}/CPU" for k in ks] + ["deposit"]
    held = [0.0] + [r.value("reserve_bytes_mean", **at, cache_k=k) for k in ks]
    held.append(r.value("deposit_bytes_mean", **at))
    loads = [str(x) for x in r.values("load")] or [str(at.get("load"))]
    fails = np.zeros((len(loads), len(labels), 3))
    name = "split_alloc_failures_per_hour"
    for li, load in enumerate(loads):
        here = {**at, "load": load}
        row = [r.triple(name, **here, **ON_DEMAND)]
        row += [r.triple(name, **here, table_policy=CACHE_OF[k]) for k in ks]
        row.append((0.0, 0.0, 0.0))
        fails[li] = np.array(row)
    out.append(
        FigureBlock(
            "answers-deposit-vs-on-demand",
            "Deposit against on-demand: memory held for splits and failed allocations",
            f"Table policies ordered by the page-table memory they hold (top, log scale); "
            f"split-time allocations that failed per hour under each load (bottom, log scale; "
            f"open triangles: no failure seen, drawn at the 95 % upper bound). "
            f"{condition(r, {k: v for k, v in at.items() if k != 'load'})}.",
            plot_frontier(labels, held, loads, fails),
        )
    )
    out += stall_figure(r, at, condition)
    return out


def stall_figure(r: Reader, at: dict, condition) -> list[Block]:
    """Fallbacks and isolated-CPU IPIs per hour against the mean direct-reclaim stall,
    when the study sweeps ``stall_mean_s`` (docs/model.md §4.13, §11.6): the sensitivity
    of the answers to an assumed stall law."""
    from mcstudy.report.answers_host import MAINLINE

    stalls = [float(v) for v in r.values("stall_mean_s")] if r.swept("stall_mean_s") else []
    if len(stalls) < 2:
        return []
    ms = [v * 1000.0 for v in stalls]
    rest = {k: v for k, v in at.items() if k != "stall_mean_s"}
    series = ["fallbacks", "isolated-CPU IPIs\n(mainline)"]
    vals = np.array(
        [
            [r.triple("fallbacks_per_hour", **rest, stall_mean_s=v) for v in stalls],
            [
                r.triple("isolated_cpu_ipis_per_hour", **rest, **MAINLINE, stall_mean_s=v)
                for v in stalls
            ],
        ]
    )
    return [
        FigureBlock(
            "answers-stall-sensitivity",
            "Fallbacks and isolated-CPU IPIs per hour against the mean direct-reclaim stall",
            f"{condition(r, rest)}; the stall law is an assumption (docs/model.md §4.13), "
            "so the answers are shown over its range; error bars are 95 % intervals, an "
            "open triangle is a zero drawn at its upper bound.",
            plot_against(ms, series, vals, "mean direct-reclaim stall (ms)", "per hour"),
        )
    ]


def answers(ctx: ReportContext) -> list[Section]:
    ds = ctx.stored if ctx.stored is not None else ctx.ds  # output dimensions kept
    ans = answers_for(ds)
    if ans is None or not (ans.items or ans.tables or ans.notes):
        return []
    blocks: list[Block] = []
    findings = read_findings(ctx.ds.attrs)
    if findings:
        blocks.append(
            Paragraph(
                f"These numbers carry {findings_count(findings, format_findings(findings))}: "
                "see the findings above."
            )
        )
    blocks += answer_blocks(ans)
    if ctx.ds.attrs.get("model") == "host":
        blocks += host_figures(ds)
    return [
        Section(
            "answers",
            "Answers",
            blocks,
            order=ORDER,
            lead=ans.title.removeprefix("Answers: "),
        )
    ]
