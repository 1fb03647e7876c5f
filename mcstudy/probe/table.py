"""The probe's result as text: a summary header and the measured-vs-predicted table.

Everything is read back from the dataset, so ``mcstudy probe`` and a report built from
the stored file show the same numbers.
"""

from __future__ import annotations

import json
import math

import xarray as xr

HEADER = ("phase", "quantity", "scope", "unit", "measured", "predicted", "noise ±", "agrees")
SCOPE_ORDER = ("this mm", "other CPUs", "machine")


def fmt_number(x: float, unit: str) -> str:
    """A value in a row's unit: 3 decimals for per-unit rates, 1 for counts."""
    if math.isnan(x):
        return "nan"
    if "/" in unit:
        return f"{x:.3f}"
    r = round(x, 1)
    return f"{int(r)}" if r.is_integer() else f"{r:.1f}"


def probe_rows(ds: xr.Dataset) -> list[list[str]]:
    """One list of strings per row, in :data:`HEADER` order."""
    rows = []
    for i in range(ds.sizes["check"]):
        unit = str(ds.unit.values[i])
        rows.append(
            [
                str(ds.check_phase.values[i]),
                str(ds.label.values[i]),
                str(ds.scope.values[i]),
                unit,
                fmt_number(float(ds.measured.values[i]), unit),
                fmt_number(float(ds.predicted.values[i]), unit),
                fmt_number(float(ds.noise_halfwidth.values[i]), unit),
                "yes" if bool(ds.agrees.values[i]) else "NO",
            ]
        )
    return rows


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


def scope_agreement(
    ds: xr.Dataset, order: tuple[str, ...]
) -> list[tuple[str, list[int], list[int]]]:
    """Per scope of ``order`` that has rows: (scope, its check rows, those that disagree)."""
    scopes = [str(x) for x in ds.scope.values]
    out = []
    for scope in order:
        idx = [i for i in range(ds.sizes["check"]) if scopes[i] == scope]
        if idx:
            out.append((scope, idx, [i for i in idx if not bool(ds.agrees.values[i])]))
    return out


def verdict(ds: xr.Dataset) -> list[str]:
    """Agreement per scope, naming every row that disagrees, and an overall line."""
    n = ds.sizes["check"]
    lines = []
    for scope, idx, bad in scope_agreement(ds, SCOPE_ORDER):
        line = f"{scope}: {len(idx) - len(bad)} of {len(idx)} rows agree"
        if bad:
            line += "; DISAGREE: " + "; ".join(
                f"{ds.check_phase.values[i]} {ds.label.values[i]}" for i in bad
            )
            if scope == "machine":
                burst = max(float(ds.background_burst.values[i]) for i in idx)
                line += (
                    " (machine-wide counters move with every process; the largest jump of "
                    f"PageTables in one no-work window was {burst:g} tables)"
                )
        lines.append(line)
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


def render_table(
    ds: xr.Dataset,
    summary: list[str] | None = None,
    verdict_lines: list[str] | None = None,
) -> str:
    """The summary, the fixed-width table and the verdict, as printed by ``mcstudy probe``
    (``mcstudy lab`` passes its own summary and verdict lines)."""
    rows = probe_rows(ds)
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(HEADER)]
    right = {4, 5, 6}

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(widths[j]) if j in right else c.ljust(widths[j]) for j, c in enumerate(cells)
        ).rstrip()

    head = summary_lines(ds) if summary is None else summary
    out = [*head, "", line(HEADER), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out += ["", *(verdict(ds) if verdict_lines is None else verdict_lines)]
    return "\n".join(out)
