"""The "Kernel lab" report section for a lab dataset.

Its entry point (:data:`SECTION`) declares it for datasets of kind ``"lab"``; the table
and the section's shape are shared with the probe (:mod:`mcstudy.document.checks`), the
summary and verdict are the lab's (:mod:`mcstudy.lab.table`).
"""

from __future__ import annotations

import json
import shlex

import xarray as xr

from mcstudy.document.blocks import Section
from mcstudy.document.checks import ChecksSection, checks_section, record_verdict
from mcstudy.document.context import ReportContext, SectionEntry
from mcstudy.lab.dataset import MODEL_NAME, is_lab_dataset
from mcstudy.lab.table import summary_lines, verdict

METHOD = (
    "A Debian cloud kernel booted in QEMU (software emulation) into a busybox initramfs. "
    "Anonymous-memory churn larger than the guest's RAM, over swap on zram, keeps the zone "
    "in reclaim; a workload pinned to one vCPU maps regions whose page tables are known in "
    "advance, reads one byte per 2 MiB (zero-page mappings: page tables, no data pages) and "
    "unmaps them, one mmu_gather per munmap. kprobe events record each gather's batch-page "
    "attempts in `tlb_remove_table()`, their outcome, the watermark checks they made, the "
    "`tlb_remove_table_one()` rounds (`smp_call_function(tlb_remove_table_smp_sync)`) and "
    "the tables left in the batch page at `tlb_finish_mmu()`; histograms count every "
    "`tlb_remove_table()` call and the sync callback per CPU. No-work windows after each "
    "block of gathers give the background. The zone chain is calibrated from the guest's "
    "own `/proc/zoneinfo` and `/proc/vmstat` (docs/lab.md)."
)

LAB = ChecksSection(
    section_id="lab",
    title="Kernel lab: the model against a real kernel under memory pressure",
    order=26,
    caption="Guest kernel against the model; `noise ±` is the half-width of the row's "
    "interval (background of no-work windows, or the statistic's standard error).",
    key="lab-checks",
    method=METHOD,
    command_caption="Run it again",
)


def lab_section(ds: xr.Dataset, dataset_name: str = "lab.nc") -> Section:
    """The report section of one lab dataset."""
    a = ds.attrs
    n = ds.sizes["check"]
    bad = int(a["disagreements"])
    lead = (
        f"Linux {a['kernel_release']} ({a['arch']}, profile `{a['kernel_profile']}`) under "
        f"memory pressure in QEMU: {n - bad} of {n} rows agree with the model within noise."
    )
    p = json.loads(a["params"])
    cmd = [
        "mcstudy",
        "lab",
        "--arch",
        str(p["arch"]),
        "--gathers",
        str(p["gathers"]),
        "--pressure",
        ",".join(str(x) for x in p["levels"]),
        "--out",
        dataset_name,
    ]
    return checks_section(ds, LAB, lead, summary_lines(ds), verdict(ds), shlex.join(cmd))


def build(ctx: ReportContext) -> list[Section]:
    """Report builder for lab datasets (kind ``"lab"``)."""
    ds = ctx.ds
    if not is_lab_dataset(ds):
        return []
    record_verdict(
        ctx,
        "{bad} kernel-lab row(s) beyond their noise interval",
        "all {n} kernel-lab rows agree within noise",
    )
    return [lab_section(ds, ctx.path.name)]


SECTION = SectionEntry(build, kinds=(MODEL_NAME,), rank=20)
"""The section's entry point (group ``mcstudy.report_sections``, ``pyproject.toml``)."""
