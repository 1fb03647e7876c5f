"""The assumptions behind a host study's zeros and bounds, said as assumptions
(docs/model.md §11.11): an answer that follows from a parameter's assumed value, not
from the simulation, says which value and what would measure it."""

from __future__ import annotations

from typing import Any

from mcstudy.fmt import num
from mcstudy.kernel.policies import ipi_policy
from mcstudy.report.answers import Reader

SCAN_PACE = (
    "khugepaged's default scan pace (pages_to_scan = 4,096 pages every "
    "scan_sleep_millisecs = 10,000 ms: at most 8 PMD ranges per 10 s)"
)


def assumption_notes(
    r: Reader, at: dict[str, Any], mainline: dict[str, str], ipi_names: list[str]
) -> list[str]:
    """One note per answer that rests on an assumed parameter value at the point ``at``;
    ``mainline`` the mainline collapse and IPI policy coordinates, ``ipi_names`` the
    dataset's IPI policies."""
    notes = []
    rate = float(r.value_of("khugepaged_collapse_rate", at))
    if rate > 0.0 and r.meaning.source("khugepaged_collapse_rate") == "default":
        notes.append(
            f"Assumed: khugepaged collapses {num(rate, 3)} times per second, {SCAN_PACE}. "
            "That is the most it can collapse, not a measured rate: a host whose memory is "
            "mostly in THPs already collapses far fewer, so the khugepaged IPIs above are "
            "upper bounds. `mcstudy calibrate` measures the rate from thp_collapse_alloc in "
            "/proc/vmstat (docs/model.md §8.1.1)."
        )
    stall = r.value_of("stall_mean_s", at)
    if stall is not None and float(stall) == 0.0 and r.meaning.source("stall_mean_s") == "default":
        notes.append(
            "Assumed: direct reclaim is instantaneous (stall_mean_s = 0): the allocating "
            "task's stall takes no time. The reference host's stall duration is not "
            "measured; with stalls of 0.1 to 10 ms a stay at min lasts about 60 to 70 us "
            "instead of 3.5 us, and the fallbacks per hour come out 4 to 22 times higher "
            "(configs/stalls.toml sweeps it; docs/model.md §11.6)."
        )
    share = float(r.value_of("rt_mm_share", at))
    if share == 0.0:
        name = "isolated_cpu_ipis_per_hour"
        zeros = [
            f"`{ipi}`"
            for ipi in ipi_names
            if ipi_policy(ipi).mm_only
            and ipi_policy(ipi).sends_rounds
            and r.value(name, **{**at, **mainline, "ipi_policy": ipi}) == 0.0
        ]
        if zeros:
            source = "its default" if r.meaning.source("rt_mm_share") == "default" else "as given"
            notes.append(
                f"The zero IPIs of {' and '.join(zeros)} follow from rt_mm_share = 0 "
                f"({source}): no unmapping, fallback or collapse happens in the RT "
                "application's own mm, so the isolated CPU is in no sending mm's cpumask. "
                "That is an assumption, not a result: an RT application that itself "
                "unmaps or has THPs collapsed sets rt_mm_share to the share of such events "
                "(docs/model.md §5.8)."
            )
    return notes
