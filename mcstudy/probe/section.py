"""The "Measured on this machine" report section for a probe dataset.

:func:`probe_section` turns a dataset written by ``mcstudy probe`` into a
:class:`mcstudy.document.blocks.Section` (kernel and profile facts, the
measured-vs-predicted table, the verdict per scope, the method). Its entry point
(:data:`SECTION`) declares it for datasets of kind ``"probe"`` (``attrs["model"] ==
"probe"``), so ``mcstudy report outputs/probe.nc`` shows it at order 25 ("measured").
"""

from __future__ import annotations

import json
import shlex

import xarray as xr

from mcstudy.document.blocks import Section
from mcstudy.document.checks import ChecksSection, checks_section, record_verdict
from mcstudy.document.context import ReportContext, SectionEntry
from mcstudy.probe.dataset import MODEL_NAME, is_probe_dataset
from mcstudy.probe.table import summary_lines, verdict

METHOD = (
    "A fresh single-threaded worker process, pinned to the probe CPU from its first "
    "instruction, ran each phase between two readings of `/proc/vmstat`, `/proc/meminfo` "
    "(after `/proc/sys/vm/stat_refresh`), its own `VmPTE` and the per-CPU `CAL`/`TLB` rows "
    "of `/proc/interrupts`; IPIs are read on the other CPUs only. Each phase was followed "
    "by no-work windows of the same length (the worker spins in user space) whose mean is "
    "subtracted. The noise interval is a Student-t predictive interval from those "
    "windows, floored by Poisson counting noise and, for the machine-wide `PageTables`, by "
    "the largest jump it made in any no-work window of the run; its level is Bonferroni-corrected over the rows so "
    "that a kernel that matches the model is flagged with probability about 5 % per run. "
    "Sync IPIs are `CAL - TLB` (on x86 a TLB shootdown also arrives as a function-call "
    "interrupt). Page tables are counted in 4 KiB tables; `this mm` rows read the worker's "
    "own exact counter, `machine` rows a counter every process on the machine moves."
)


PROBE = ChecksSection(
    section_id="measured",
    title="Measured on this machine",
    order=25,
    caption="Live kernel against the model: each phase's counter change minus the "
    "background of no-work windows of the same length, next to the model's "
    "prediction; `noise ±` is the half-width of the background interval.",
    key="probe-checks",
    method=METHOD,
    command_caption="Re-measure on this machine",
)


def probe_section(ds: xr.Dataset, dataset_name: str = "probe.nc") -> Section:
    """The report section of one probe dataset."""
    a = ds.attrs
    n = ds.sizes["check"]
    bad = int(a["disagreements"])
    if bad == 0:
        lead = (
            f"Linux {a['kernel_release']} matches profile `{a['kernel_profile']}`: all {n} "
            "measurements agree with the model within the measured background noise."
        )
    else:
        lead = (
            f"Linux {a['kernel_release']} (profile `{a['kernel_profile']}`): {bad} of {n} "
            "measurements disagree with the model beyond the measured background noise."
        )
    params = json.loads(a.get("params", "{}"))
    cmd = ["mcstudy", "probe", "--thps", str(a["thps_requested"]), "--cpu", str(a["probe_cpu"])]
    if params:
        cmd += [
            "--munmap-mib",
            f"{params['munmap_bytes'] / (1 << 20):g}",
            "--munmap-offset-kib",
            str(params["munmap_offset"] // 1024),
            "--baselines",
            str(params["baselines"]),
        ]
    cmd += ["--out", dataset_name]
    return checks_section(ds, PROBE, lead, summary_lines(ds), verdict(ds), shlex.join(cmd))


def build(ctx: ReportContext) -> list[Section]:
    """Report builder for probe datasets (kind ``"probe"``)."""
    ds = ctx.ds
    if not is_probe_dataset(ds):
        return []
    record_verdict(
        ctx,
        "{bad} live-kernel measurement(s) disagree with the model beyond the measured noise",
        f"all {{n}} live-kernel measurements on Linux {ds.attrs['kernel_release']} agree "
        "with the model within the measured noise",
    )
    return [probe_section(ds, ctx.path.name)]


SECTION = SectionEntry(
    build,
    kinds=(MODEL_NAME,),
    rank=20,
    # measurements, not a Monte Carlo run: no simulated design, estimates with
    # intervals, exact checks, re-runs, sensitivity or point health
    skip=("design", "estimates", "exact_check", "convergence", "sensitivity", "health"),
)
"""The section's entry point (group ``mcstudy.report_sections``, ``pyproject.toml``)."""
