"""The probe's result as text: its summary header and verdict around the
measured-vs-predicted table (:mod:`mcstudy.document.checks`, shared with the lab).

Everything is read back from the dataset, so ``mcstudy probe`` and a report built from
the stored file show the same numbers.
"""

from __future__ import annotations

import json

import xarray as xr

from mcstudy.document.checks import render_table, scope_lines

SCOPE_ORDER = ("this mm", "other CPUs", "machine")


def summary_lines(ds: xr.Dataset) -> list[str]:
    """Kernel, profile, THP settings and probe settings, one fact per line."""
    a = ds.attrs
    cpus = json.loads(a["online_cpus"])
    others = [c for c in cpus if c != a["probe_cpu"]]
    caveats = json.loads(a.get("profile_caveats", "[]"))
    lines = [
        f"kernel: Linux {a['kernel_release']} ({a['machine']}), {len(cpus)} online CPUs; "
        f"probe pinned to CPU {a['probe_cpu']}, IPIs read on CPU {', '.join(map(str, others))}",
        f"THP: enabled={a['thp_enabled']}"
        + (f" (PMD size: {a['thp_pmd_enabled']})" if a.get("thp_pmd_enabled") else "")
        + f", defrag={a['thp_defrag']}; khugepaged {_khugepaged(a)}; "
        f"MADV_COLLAPSE: {'yes' if int(a['madv_collapse_supported']) else 'no'}",
        f"kernel profile: {a['kernel_profile']} (collapse policy {a['collapse_policy']})",
        *(f"  basis: {b}" for b in json.loads(a["profile_basis"])),
        *(f"  caveat: {c}" for c in caveats),
        f"THPs: {a['thps_requested']} requested, {a['thps_mapped']} mapped, "
        f"{a['thps_collapsed']} collapsed; {a['baselines']} no-work windows per phase; "
        f"noise interval {100 * float(a['row_level']):.2f} % per row "
        f"(family-wise {100 * float(a['family_alpha']):.0f} %, Bonferroni over {ds.sizes['check']} rows)",
    ]
    if not int(a.get("stat_refresh", 0)):
        lines.append(
            "note: /proc/sys/vm/stat_refresh not writable (not root): PageTables is less precise"
        )
    return lines


def _khugepaged(a: dict) -> str:
    k = json.loads(a.get("khugepaged", "{}"))
    if not k:
        return "settings unknown"
    return ", ".join(f"{key}={value}" for key, value in k.items())


def verdict(ds: xr.Dataset) -> list[str]:
    """Agreement per scope, naming every row that disagrees, and an overall line."""
    n = ds.sizes["check"]

    def burst(scope: str, idx: list[int]) -> str:
        if scope != "machine":
            return ""
        most = max(float(ds.background_burst.values[i]) for i in idx)
        return (
            " (machine-wide counters move with every process; the largest jump of "
            f"PageTables in one no-work window was {most:g} tables)"
        )

    lines = scope_lines(ds, SCOPE_ORDER, "DISAGREE", "label", burst)
    total = int(ds.attrs["disagreements"])
    profile = ds.attrs["kernel_profile"]
    if total == 0:
        lines.append(
            f"all {n} rows agree with the model (profile {profile}) within the measured noise"
        )
    else:
        lines.append(
            f"{total} of {n} rows disagree with the model (profile {profile}) beyond the measured noise"
        )
    return lines


def render_probe_table(ds: xr.Dataset) -> str:
    """What ``mcstudy probe`` prints."""
    return render_table(ds, summary_lines(ds), verdict(ds))
