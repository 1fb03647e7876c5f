"""The khugepaged rows of a lab run: collapses of the region ``labwork thp`` offered, the
rounds ``collapse_huge_page()`` sent (``tlb_remove_table_sync_one()``) and their
callbacks on the other CPUs, each against the profile's ``khugepaged_sync_ipi``
(docs/lab.md §3).

The rounds are counted per collapse attempt that got its huge page (vmstat
``thp_collapse_alloc``, the counter alone: ``thp_collapse_alloc_failed`` counts the
attempts whose allocation failed, which return before the round); the collapses that
succeeded come from khugepaged's ``pages_collapsed``."""

from __future__ import annotations

import math
from dataclasses import replace

from mcstudy.lab.checks import LabCheck, _row, exact_background, scaled_background
from mcstudy.lab.guestdata import PtworkRun
from mcstudy.probe.predict import ProfileMatch

KHUGEPAGED_QUANTITIES = ("collapses_observed", "collapse_rounds", "sync_ipis_per_collapse")


def khugepaged_rows(
    run: PtworkRun | None,
    settings: dict[str, str],
    profile: ProfileMatch,
    online: int,
    level: float,
) -> list[LabCheck]:
    """khugepaged's collapses of the region ``labwork thp`` offered, the rounds
    ``collapse_huge_page()`` sent (``tlb_remove_table_sync_one()``) and their callbacks on
    the other CPUs; each against the profile (``khugepaged_sync_ipi``). A phase that did
    not run keeps its rows as not measurable, with the guest's reason."""
    sync = profile.profile.khugepaged_sync_ipi
    rounds_pred = 1.0 if sync else 0.0
    ipi_pred = float(online - 1) if sync else 0.0
    how = (
        "collapse_huge_page() sends one round (tlb_remove_table_sync_one()) per collapse "
        "attempt that got its huge page (the round follows the allocation and precedes "
        "isolation)"
        if sync
        else "collapse_huge_page() sends no round"
    )
    basis = f"profile {profile.name}: {how}"
    labels = {
        "collapses_observed": ("khugepaged collapses", "collapses"),
        "collapse_rounds": ("rounds khugepaged sent per collapse (sender)", "rounds/collapse"),
        "sync_ipis_per_collapse": (
            "sync-IPI callbacks on the other CPUs per collapse",
            "IPIs/collapse",
        ),
    }
    why = settings.get("error", "")
    if run is None and not why:
        why = "the guest ran no khugepaged phase"
    work = run.of_kind("work") if run is not None else []
    idle = run.of_kind("idle") if run is not None else []
    if not why and len(work) != 1:
        why = f"the khugepaged phase has {len(work)} work windows, expected 1"

    def blank(q: str, predicted: float, reason: str) -> LabCheck:
        label, unit = labels[q]
        bg = exact_background(0, level)
        r = _row("khugepaged", q, label, unit, "-", basis, predicted, math.nan, bg, "this mm")
        return replace(r, not_measurable=reason)

    if why:
        return [
            blank("collapses_observed", math.nan, why),
            blank("collapse_rounds", rounds_pred, why),
            blank("sync_ipis_per_collapse", ipi_pred, why),
        ]
    assert run is not None
    w = work[0]
    offered = w.gathers
    # mm/khugepaged.c: collapse_huge_page() allocates its huge page first (vmstat
    # thp_collapse_alloc, or thp_collapse_alloc_failed and return: no round), revalidates
    # the VMA and PMD, flushes the PMD and only then calls tlb_remove_table_sync_one();
    # isolation and copy come after, so an attempt that fails there has sent its round.
    # The rounds are per collapse attempt that got its huge page; the collapses that
    # succeeded are khugepaged's pages_collapsed (older runs: the THPs mapped).
    allocated = w.vmstat_delta("thp_collapse_alloc", exact=True)
    alloc_failed = w.vmstat_delta("thp_collapse_alloc_failed", exact=True)
    if w.has("/pages_collapsed"):
        collapsed = w.number_delta("/pages_collapsed")
        counted = "khugepaged/pages_collapsed"
    else:
        collapsed = w.vmstat_delta("nr_anon_transparent_hugepages", exact=True)
        counted = "vmstat nr_anon_transparent_hugepages"
    scans = w.number_delta("/full_scans") if w.has("/full_scans") else None
    calls = (
        sum(w.hist_delta("kcollapse/hist").values())
        if any(p.endswith("kcollapse/hist") for p in w.begin)
        else None
    )
    knobs = ", ".join(f"{k.split('/')[-1]} {v}" for k, v in settings.items() if "khugepaged/" in k)
    ended = (
        f"; all {offered} 2 MiB ranges mapped huge at the end ({w.seconds:.1f} s)"
        if run.done >= offered
        else f"; the phase ended by its time limit after {w.seconds:.1f} s with {run.done} "
        f"of {offered} 2 MiB ranges mapped huge"
    )
    attempts = (
        f"{calls} collapse_huge_page() calls by khugepaged, " if calls is not None else ""
    ) + (
        f"{allocated} got their huge page (thp_collapse_alloc), {alloc_failed} did not "
        "(thp_collapse_alloc_failed: no round)"
    )
    prepared = " after compacting memory" if settings.get("compacted") == "yes" else ""
    exact = exact_background(offered, level)
    rows = [
        _row(
            "khugepaged",
            "collapses_observed",
            labels["collapses_observed"][0],
            "collapses",
            f"{counted} over the work window; {attempts}"
            + (f"; {scans} full scans" if scans is not None else "")
            + ended,
            f"every 2 MiB range of the {2 * offered} MiB region collapsed once (THP "
            f"{settings.get('enabled', '?')}, MADV_HUGEPAGE{prepared}; khugepaged: {knobs})",
            offered,
            collapsed,
            exact,
            "this mm",
        )
    ]
    has_rounds = any(p.endswith("ksync/hist") for p in w.begin)
    if not has_rounds:
        reason = "no tlb_remove_table_smp_sync or smp_call_function in /proc/kallsyms"
        rows += [
            blank("collapse_rounds", rounds_pred, reason),
            blank("sync_ipis_per_collapse", ipi_pred, reason),
        ]
        return rows
    if allocated <= 0:
        reason = (
            "no collapse attempt of khugepaged got its huge page in the work window "
            f"({alloc_failed} allocations failed)"
        )
        rows += [
            blank("collapse_rounds", rounds_pred, reason),
            blank("sync_ipis_per_collapse", ipi_pred, reason),
        ]
        return rows
    sent = sum(w.hist_delta("ksync/hist").values())
    rows.append(
        _row(
            "khugepaged",
            "collapse_rounds",
            labels["collapse_rounds"][0],
            "rounds/collapse",
            "trace histogram: smp_call_function(tlb_remove_table_smp_sync) by khugepaged "
            f"({sent} rounds) per collapse attempt that got its huge page ({allocated})",
            basis,
            rounds_pred,
            sent,
            exact,
            "this mm",
            slope=1.0 / allocated,
        )
    )

    def callbacks(win) -> float:
        return float(sum(win.hist_delta("callback/hist").values()))

    if len(idle) >= 2:
        m = w.seconds / (sum(x.seconds for x in idle) / len(idle))
        bg = scaled_background([callbacks(x) for x in idle], level, m)
    else:
        bg = exact_background(0, level)
    rows.append(
        _row(
            "khugepaged",
            "sync_ipis_per_collapse",
            labels["sync_ipis_per_collapse"][0],
            "IPIs/collapse",
            "trace histogram of tlb_remove_table_smp_sync() on every CPU (the sender runs "
            "none), per collapse attempt that got its huge page; background of the no-work "
            "windows before the region was offered",
            basis + f" ({online} online: {online - 1} other CPUs)" if sync else basis,
            ipi_pred,
            callbacks(w),
            bg,
            "other CPUs",
            slope=1.0 / allocated,
        )
    )
    return rows
