"""Monte Carlo against exact values: z-scores, interval coverage, disagreements."""

from __future__ import annotations

import math

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
from mcstudy.document.convergence import point_coords
from mcstudy.document.variables import Agreement
from mcstudy.fmt import coord, count, interval, num
from mcstudy.report.check_figures import ZSCORE_STACK, plot_zscores
from mcstudy.stats.agreement import FAMILY_ALPHA
from mcstudy.stats.proportion import wilson

MAX_LISTED = 20


def exact_check(ctx: ReportContext) -> list[Section]:
    ags = ctx.agreements()
    if not ags:
        return []
    rows = []
    flagged_total = 0
    tested_total = 0
    covered_total = 0
    listed: list[str] = []
    for ag in ags:
        tested = ag.tested
        cov = wilson(ag.covered, tested) if tested else None
        flagged = ag.flagged
        flagged_total += flagged.size
        tested_total += tested
        covered_total += ag.covered
        rows.append(
            [
                cell(f"`{ag.estimate.name}`"),
                cell("exact" if ag.exact_se else "run's own"),
                cell(count(tested)),
                cell(
                    f"{100 * cov.estimate:.1f} %" if cov else "not tested",
                    interval(100 * cov.ci_low, 100 * cov.ci_high) + " %" if cov else None,
                ),
                cell(num(ag.max_abs_z, 3)),
                cell(count(int(flagged.size))),
                cell(count(ag.count("equal"))),
                cell(count(ag.count("differs"))),
                cell(count(ag.count("untestable"))),
                cell(count(ag.count("missing"))),
            ]
        )
        listed += [_describe(ctx, ag, int(f)) for f in flagged[: MAX_LISTED - len(listed)]]
    blocks: list[Block] = [
        Paragraph(
            "Where the model has an exact solver, every Monte Carlo estimate is compared "
            "with it. z = (Monte Carlo - exact) / standard error, the standard error taken "
            "from the exact value (proportions: sqrt(p (1 - p) / n)) or the exact variance "
            "where stored, else from the run. With a correct simulation about 95 % of the "
            "exact values lie inside the 95 % intervals. A disagreement is judged by the "
            "two-sided tail probability p of the deviation: exact binomial tails for "
            "proportions of independent trials, Poisson tails for counts (at the exact "
            "dispersion, or at the estimate's effective number of events), Student's t "
            "on z otherwise. All comparisons of the study form one family: a point "
            "disagrees when its p lies below its Holm level, so that a correct "
            f"simulation shows any disagreement with probability at most {FAMILY_ALPHA:g} "
            f"(in this dataset: {ags[0].family:,} comparisons; the strictest level "
            f"{FAMILY_ALPHA / max(ags[0].family, 1):.2g}). A count of 1 where 0.01 were "
            "expected (p about 0.02) is no disagreement, whatever its z."
        ),
        TableBlock(
            "Agreement with the exact values, per estimate",
            [
                "estimate",
                "standard error used",
                "points tested",
                "exact inside 95 % interval [Wilson 95 %]",
                "max |z|",
                "disagree (Holm)",
                "equal (zero variance)",
                "differ (zero variance)",
                "untestable",
                "missing",
            ],
            rows,
            key="exact-agreement",
        ),
        Paragraph(
            "`equal`: the exact variance is 0 (e.g. an impossible fallback) and the run "
            "shows exactly the exact value; `differ`: the exact variance is 0 but the run "
            "shows something else, a certain disagreement; `untestable`: no event was "
            "observed, so the run has no standard error, and the model stores no exact "
            "variance for this estimate."
        ),
    ]
    if any(ag.tested for ag in ags):
        blocks.append(
            FigureBlock(
                "exact-zscores",
                "z-scores against the exact values",
                (
                    "Histogram of z over all tested points, stacked by estimate"
                    if len(ags) <= ZSCORE_STACK
                    else "Histogram of z over all tested points of "
                    f"{sum(1 for ag in ags if ag.tested)} estimates (the "
                    "table above counts them per estimate)"
                )
                + ", with the count a standard normal z would give. Estimates of one point "
                "share their sequences, so their z-scores are correlated.",
                plot_zscores(ags),
            )
        )
    if listed:
        blocks.append(Paragraph(f"Points that disagree with the exact value ({flagged_total}):"))
        blocks.append(Bullets(listed))
    if tested_total:
        ctx.trust.append(
            f"Exact values inside the 95 % intervals at {count(covered_total)} of "
            f"{count(tested_total)} tested (point, estimate) pairs "
            f"({100 * covered_total / tested_total:.1f} %, expected about 95 %); "
            f"{flagged_total} disagreement(s) at the family-wise level {FAMILY_ALPHA:g}."
        )
    lead = f"{count(tested_total)} comparisons; {flagged_total} disagreement(s)."
    return [Section("exact", "Agreement with exact values", blocks, order=40, lead=lead)]


def _describe(ctx: ReportContext, ag: Agreement, flat: int) -> str:
    est = ag.estimate
    where = ", ".join(f"{k} = {coord(v)}" for k, v in point_coords(ctx.ds, flat).items())
    y = float(np.asarray(ctx.ds[est.name].values).ravel()[flat])
    ex = float(np.asarray(ctx.ds[est.exact].values).ravel()[flat])
    z = ag.z[flat]
    ztext = (
        f"z = {z:+.1f}, p = {ag.p[flat]:.2g} below its level {ag.level[flat]:.2g}"
        if np.isfinite(z)
        else "exact variance 0 but values differ"
    )
    # enough digits to show the difference
    d = 4
    if y != ex and np.isfinite(y) and np.isfinite(ex) and max(abs(y), abs(ex)) > 0:
        d = max(4, min(12, math.ceil(math.log10(max(abs(y), abs(ex)) / abs(y - ex))) + 2))
    return (
        f"`{est.name}` at {where or 'the point'}: Monte Carlo {num(y, d)}, exact {num(ex, d)} "
        f"({ztext})."
    )
