"""The "Measured on this machine" report section for a probe dataset.

:func:`probe_section` turns a dataset written by ``mcstudy probe`` into a
:class:`mcstudy.report.document.Section` (kernel and profile facts, the
measured-vs-predicted table, the verdict per scope, the method). It is listed for
datasets of kind ``"probe"`` (``attrs["model"] == "probe"``) in
``mcstudy.report.catalog``, so ``mcstudy report outputs/probe.nc`` shows it at order 25
("measured").
"""

from __future__ import annotations

import json
import shlex

import xarray as xr

from mcstudy.probe.dataset import is_probe_dataset
from mcstudy.probe.table import HEADER, probe_rows, summary_lines, verdict
from mcstudy.report.context import ReportContext
from mcstudy.report.document import Bullets, Code, Paragraph, Section, TableBlock, cell

SECTION_ORDER = 25

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


def checks_table(ds: xr.Dataset, caption: str, key: str) -> TableBlock:
    """The measured-vs-predicted rows of a probe or lab dataset as a report table, rows
    beyond the noise flagged."""
    rows = []
    for r in probe_rows(ds):
        cells = [cell(x) for x in r]
        if r[-1] != "yes":
            cells[-1] = cell(r[-1], flag="beyond noise")
        rows.append(cells)
    return TableBlock(caption=caption, header=list(HEADER), rows=rows, key=key)


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
    return Section(
        id="measured",
        title="Measured on this machine",
        order=SECTION_ORDER,
        lead=lead,
        blocks=[
            Bullets(summary_lines(ds)),
            checks_table(
                ds,
                "Live kernel against the model: each phase's counter change minus the "
                "background of no-work windows of the same length, next to the model's "
                "prediction; `noise ±` is the half-width of the background interval.",
                "probe-checks",
            ),
            Bullets(verdict(ds)),
            Paragraph(METHOD),
            Code(shlex.join(cmd), caption="Re-measure on this machine"),
        ],
    )


def build(ctx: ReportContext) -> list[Section]:
    """Report builder for probe datasets (kind ``"probe"``)."""
    ds = ctx.ds
    if not is_probe_dataset(ds):
        return []
    ctx.covered.update(str(v) for v in ds.data_vars)
    bad = int(ds.attrs["disagreements"])
    if bad:
        ctx.health.append(
            f"{bad} live-kernel measurement(s) disagree with the model beyond the measured noise"
        )
    else:
        ctx.trust.append(
            f"all {ds.sizes['check']} live-kernel measurements on Linux "
            f"{ds.attrs['kernel_release']} agree with the model within the measured noise"
        )
    return [probe_section(ds, ctx.path.name)]
