"""Headline answers of the zone-pressure model: how often a gather's GFP_NOWAIT
batch-page allocation fails, and the fallbacks, sync IPIs, stalls and kswapd wake-ups
per second that go with it (docs/model.md §4.1).

By PASTA, the probability that a gather (Poisson arrivals) finds free <= min equals the
fraction of time below min; both are estimated, and the findings compare them.
"""

from __future__ import annotations

import numpy as np

from mcstudy.document.blocks import Block, Bullets
from mcstudy.document.context import ReportContext
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import bounds
from mcstudy.report.sections.headline import headline_section

HEADLINE = [
    "nowait_fail_prob",
    "time_below_min_frac",
    "fallbacks_per_s",
    "sync_ipis_per_s",
    "stalls_per_s",
    "kswapd_wakeups_per_s",
]


def pasta(ctx: ReportContext) -> list[Block]:
    """Gathers see the time average: compare the two estimates point by point."""
    a, b = ctx.estimate("nowait_fail_prob"), ctx.estimate("time_below_min_frac")
    if a is None or b is None:
        return []
    alo, ahi = (np.asarray(v.values, dtype=float).ravel() for v in bounds(ctx.ds, a))
    blo, bhi = (np.asarray(v.values, dtype=float).ravel() for v in bounds(ctx.ds, b))
    ok = np.isfinite(alo) & np.isfinite(blo)
    overlap = int(np.sum(ok & (alo <= bhi) & (blo <= ahi)))
    return [
        Bullets(
            [
                "Gathers arrive as a Poisson process, so they see the time average "
                "(PASTA, docs/model.md §4.1): `nowait_fail_prob` should equal `time_below_min_frac`. Their 95 % "
                f"intervals overlap at {overlap} of {int(ok.sum())} points."
            ]
        )
    ]


LOAD_DIMS = ("alloc_scale", "burst_alloc_rate", "alloc_rate", "burst_start_rate")


def pressure_headline(ctx: ReportContext) -> list:
    """P(GFP_NOWAIT fails) against the load first (the Answers name the load where it
    becomes frequent), then the rates that follow."""
    dims = sweep_dims(ctx.ds)
    load = next((d for d in LOAD_DIMS if d in dims), None)
    return headline_section(
        ctx,
        HEADLINE,
        "P(GFP_NOWAIT fails) against the load, and the fallbacks, IPIs and stalls per "
        "second that follow.",
        figures=2,
        prefer=(load,),
        extra=pasta(ctx),
    )
