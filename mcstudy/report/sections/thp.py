"""Headline answers of the THP model: what the deposited page tables cost in memory,
what on-demand allocation (or a small cache) costs in failed split-time allocations, and
how many synchronous IPIs reach an isolated CPU under each policy."""

from __future__ import annotations

from mcstudy.document.blocks import Block, FigureBlock
from mcstudy.document.context import ReportContext
from mcstudy.document.layout import sweep_dims
from mcstudy.report.figures import plot_tradeoff
from mcstudy.report.sections.estimates import sample_size_text
from mcstudy.report.sections.headline import headline_section

HEADLINE = [
    "deposit_bytes_mean",
    "reserve_bytes_mean",
    "split_alloc_failures_per_hour",
    "isolated_cpu_ipis_per_s",
    "rt_cycle_hit_prob",
    "deposit_share_of_thp",
]
IPI_HEADLINE = [
    "isolated_cpu_ipis_per_s",
    "rt_cycle_ipis_max",
    "isolated_collapse_ipis_per_s",
    "isolated_fallback_ipis_per_s",
    "rt_cycle_hit_prob",
]
IPI_DIMS = ("ipi_policy", "collapse_policy", "rt_mm_share")
POLICY_DIMS = ("table_policy", "cache_k", "collapse_policy", "ipi_policy")


def thp_headline(ctx: ReportContext) -> list:
    dims = [d for d in sweep_dims(ctx.ds) if ctx.ds.sizes[d] > 1]
    if any(d in dims for d in IPI_DIMS) and "cache_k" not in dims:
        # an RT study: IPIs per policy lead (the Answers table has them per hour)
        prefer = tuple(
            d for d in ("ipi_policy", "collapse_policy", "pressure_fraction") if d in dims
        )
        return headline_section(
            ctx,
            IPI_HEADLINE,
            "IPIs reaching an isolated CPU per IPI policy and collapse policy, and the worst "
            "RT cycle.",
            figures=2,
            prefer=prefer,
        )
    extra: list[Block] = []
    mem, fails = ctx.estimate("reserve_bytes_mean"), ctx.estimate("split_alloc_failures_per_hour")
    if mem is not None and fails is not None and dims:
        colour = next((d for d in POLICY_DIMS if d in dims), None)
        fig, notes = plot_tradeoff(ctx.ds, mem, fails, colour)
        extra.append(
            FigureBlock(
                "headline-memory-vs-failures",
                "Memory held for splits versus failed split-time allocations",
                "Each sweep point: `reserve_bytes_mean` (the tables the `table_policy` holds: "
                "deposits, cached tables or nothing) against `split_alloc_failures_per_hour`, "
                "with both 95 % intervals as error bars"
                + (f", one colour per `{colour}`" if colour else "")
                + f"; {sample_size_text(ctx, mem)}"
                + (f"; {', '.join(notes)}" if notes else "")
                + ".",
                fig,
            )
        )
    prefer = (None, next((d for d in POLICY_DIMS if d in dims), None))
    return headline_section(
        ctx,
        HEADLINE,
        "Deposited page-table memory, split-time allocation failures and IPIs reaching an "
        "isolated CPU.",
        figures=2,
        prefer=prefer,
        extra=extra,
    )
