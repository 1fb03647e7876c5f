"""The host study's evidence section (after the Answers): how the parts are coupled, and
the mainline IPIs, fallbacks and on-demand failures against load next to their exact
values, drawn once; the per-policy variants are in the Answers' tables and figures, so
the generic estimates section lists them in tables only."""

from __future__ import annotations

from mcstudy.document.blocks import Block, Bullets, Section
from mcstudy.document.context import ReportContext
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import cell_of
from mcstudy.kernel.policies import MAINLINE_COLLAPSE, MAINLINE_IPI, SPLIT_TABLE_VARIANTS
from mcstudy.report.sections.estimates import estimate_figures

COUPLING = [
    "One simulation per host-hour: the zone pressure chain (docs/model.md §4.1) started "
    "from its exact stationary law, and on its path the THPs, khugepaged's collapses and "
    "the housekeeping munmaps (docs/model.md §11).",
    "A GFP_NOWAIT allocation fails exactly while the simulated zone is at or below "
    "wmark_min: a gather's batch page (then every table of the gather goes to "
    "tlb_remove_table_one()), an on-demand split table, khugepaged's fresh table, a per-CPU "
    "cache refill. A GFP_ATOMIC one fails at or below the atomic mark. No failure "
    "probability or pressure fraction is an input.",
    "Gathers, collapses and splits are Poisson processes independent of the zone, so each "
    "sees the zone's time average (PASTA): their exact rates follow from the exact "
    "stationary law, and the next sections compare the Monte Carlo with them.",
]
DRAWN = (
    (
        "isolated_cpu_ipis_per_hour",
        {"ipi_policy": MAINLINE_IPI, "collapse_policy": MAINLINE_COLLAPSE},
    ),
    ("fallbacks_per_hour", {}),
    (
        "split_alloc_failures_per_hour",
        {"table_policy": next(v.name for v in SPLIT_TABLE_VARIANTS if not v.cache_k)},
    ),
)
"""The mainline IPIs, the fallbacks and the on-demand (GFP_NOWAIT) split failures, each
at its cell of the output dimensions."""


def host_headline(ctx: ReportContext) -> list[Section]:
    if ctx.estimate("nowait_fail_prob") is None:
        return []
    dims = sweep_dims(ctx.ds)
    prefer = tuple(d for d in ("load", "kernel") if d in dims)
    blocks: list[Block] = [Bullets(COUPLING)]
    stored = ctx.stored if ctx.stored is not None else ctx.ds
    for name, at in DRAWN:
        est = ctx.estimate(cell_of(stored, name, at))
        if est is not None:
            blocks += estimate_figures(ctx, est, prefer, key_prefix="headline-")
    # the policy variants are shown by the Answers; only their tables below
    ctx.covered.update(e.name for e in ctx.estimates)
    return [
        Section(
            "headline",
            "How the answers are made",
            blocks,
            order=20,
            lead="The coupling, and the IPIs, fallbacks and split failures against load.",
        )
    ]
