"""The lab's result as text: a summary, the probe's measured-vs-predicted table, the verdict.

Everything is read back from the dataset (:mod:`mcstudy.lab.dataset`), so ``mcstudy lab``
and a report built from the stored file show the same numbers. The table itself is shared
with the probe (:func:`mcstudy.document.checks.render_table`).
"""

from __future__ import annotations

import json
import math

import xarray as xr

from mcstudy.document.checks import render_table, scope_lines

SCOPE_ORDER = ("this mm", "other CPUs", "law", "zone")


def summary_lines(ds: xr.Dataset) -> list[str]:
    """Guest, profile, workload and pressure, one fact per line."""
    a = ds.attrs
    p = json.loads(a["params"])
    levels = [int(x) for x in ds.level.values]
    gathers = int(ds.sizes["gather"])
    fallbacks = int(ds.gather_fallbacks.sum())
    lines = [
        f"guest: Linux {a['kernel_release']} ({a['machine']}, {a['kernel_package']} "
        f"{a['kernel_package_version']}) in QEMU, {a['online_cpus']} vCPUs, "
        f"{p['memory_mib']} MiB; workload on CPU {a['work_cpu']}",
        f"kernel command line: {a['guest_cmdline']}",
        f"kernel profile: {a['kernel_profile']}",
        *(f"  basis: {b}" for b in json.loads(a["profile_basis"])),
        *(f"  caveat: {c}" for c in json.loads(a["profile_caveats"])),
        f"workload: {p['gathers']} munmap gathers per level of {p['ptes']} x 2 MiB "
        f"({p['layout']}), in {p['blocks']} blocks each followed by a no-work window "
        f"{p['idle_ratio']:g} x as long",
        "pressure levels (MiB of anonymous churn over zram swap): "
        + ", ".join(str(x) for x in levels),
        f"observed: {gathers} gathers, {int(ds.gather_attempts.sum())} batch-page attempts, "
        f"{int(ds.gather_failures.sum())} failed, {fallbacks} fallbacks "
        "(seen on the fallback's path)",
        f"guest run: {float(a['guest_seconds']):.0f} s; noise interval "
        f"{100 * float(a['row_level']):.2f} % per row (family-wise "
        f"{100 * float(a['family_alpha']):.0f} %, Bonferroni over {ds.sizes['check']} rows)",
    ]
    return lines


def verdict(ds: xr.Dataset) -> list[str]:
    """Agreement per scope, the law the kernel follows, and an overall line."""
    lines = scope_lines(ds, SCOPE_ORDER, "beyond noise", "quantity")
    law = ds.attrs.get("law_followed", "none")
    facts = json.loads(ds.attrs.get("law_facts", "{}"))
    if law == "undetermined":
        lines.append("within-gather law: undetermined (no gather's first attempt failed)")
    elif law != "none":
        r = facts.get("persistence", math.nan)
        lines.append(
            "within-gather law: "
            + (
                f"the kernel follows the {law} law"
                if law != "neither"
                else "neither independent nor all-or-nothing fits; failures persist, as "
                "the host study's timed attempts make them (docs/model.md §11.8)"
            )
            + f" (persistence r = P(attempt fails | previous attempt of the gather failed) = "
            f"{r:.3f}; {int(facts.get('first_fails', 0))} gathers' first attempt failed, "
            f"{int(facts.get('all_fail', 0))} of them every attempt)"
        )
        lines += [f"  {x}" for x in json.loads(ds.attrs.get("law_verdict", "[]"))]
    lines += [f"zone: {x}" for x in json.loads(ds.attrs.get("zone_notes", "[]"))]
    if "not_measurable" in ds:
        for i, why in enumerate(ds.not_measurable.values):
            if str(why):
                lines.append(
                    f"not measurable on this kernel: {ds.check_phase.values[i]} "
                    f"{ds.label.values[i]}: {why}"
                )
    if "not_predicted" in ds:
        for i, why in enumerate(ds.not_predicted.values):
            if str(why):
                lines.append(f"{ds.check_phase.values[i]} {ds.label.values[i]}: {why}")
    fb = int(ds.gather_fallbacks.sum())
    lines.append(f"fallbacks observed: {fb}")
    return lines


def render_lab_table(ds: xr.Dataset) -> str:
    """What ``mcstudy lab`` prints."""
    return render_table(ds, summary_lines(ds), verdict(ds))
