"""The "Kernel lab" report section for a lab dataset.

Its entry point (:data:`SECTION`) declares it for datasets of kind ``"lab"``; the table
and the section's shape are shared with the probe (:mod:`mcstudy.document.checks`), the
summary and verdict are the lab's (:mod:`mcstudy.lab.table`).
"""

from __future__ import annotations

import json
import math
import shlex

import xarray as xr

from mcstudy.document.blocks import Bullets, Code, Paragraph, Section, TableBlock, cell
from mcstudy.document.checks import ChecksSection, checks_section, record_verdict
from mcstudy.document.context import ReportContext, SectionEntry
from mcstudy.kernel.profiles import PROFILES
from mcstudy.lab.dataset import MODEL_NAME, is_lab_dataset
from mcstudy.lab.matrix import MATRIX_MODEL, is_matrix_dataset
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
        *(["--kernel", str(a["kernel_line"])] if a.get("kernel_line") else []),
        "--out",
        dataset_name,
    ]
    return checks_section(ds, LAB, lead, summary_lines(ds), verdict(ds), shlex.join(cmd))


# ------------------------------------------------------------------ the matrix

CLAIMS: tuple[tuple[str, str, str], ...] = (
    # (claim, phase, quantity of the lab's row that measures it)
    (
        "page tables reach tlb_remove_table() (calls per gather)",
        "munmap",
        "tlb_remove_table_per_gather",
    ),
    ("one fallback per failed batch page (fallbacks)", "fallback", "fallbacks_observed"),
    (
        "fallback sends a sync round (IPIs per fallback)",
        "fallback",
        "sync_ipis_per_fallback",
    ),
    ("fallback frees by call_rcu() (share)", "fallback", "rcu_frees_per_fallback"),
    ("fallback waits in synchronize_rcu() (us per fallback)", "fallback", "fallback_wait_us"),
    (
        "a batch page fails iff every zone is at or below min (share of attempts)",
        "fallback",
        "fail_rule",
    ),
    (
        "khugepaged collapse sends a round (rounds per collapse)",
        "khugepaged",
        "collapse_rounds",
    ),
    (
        "khugepaged collapse: IPIs on the other CPU per collapse",
        "khugepaged",
        "sync_ipis_per_collapse",
    ),
)
AGREES, DISAGREES = "\u2713", "\u2717"
"""The marks of a cell whose measurement agrees with its prediction (or not)."""


def _num(v: float, unit: str) -> str:
    if math.isnan(v):
        return "n/a"
    if unit in ("fallbacks", "collapses", "gathers"):
        return f"{v:.0f}"
    if unit == "us/fallback":
        return f"{v:.0f}"
    return f"{v:.2f}"


def _row_index(ds: xr.Dataset, phase: str, quantity: str) -> int | None:
    for r, (p, q) in enumerate(zip(ds.row_phase.values, ds.row_quantity.values, strict=True)):
        if str(p) == phase and str(q) == quantity:
            return r
    return None


def claim_cell(
    ds: xr.Dataset, kernel: str, arch: str, phase: str, quantity: str
) -> tuple[str, str]:
    """(text, verdict) of one claim on one run: ``measured / predicted`` and its mark;
    verdict ``agrees``, ``disagrees``, ``not measurable``, ``absent`` or ``not run``."""
    at = {"kernel": kernel, "arch": arch}
    status = str(ds.status.sel(at).item())
    if status.startswith("not run"):
        return "not run", "not run"
    r = _row_index(ds, phase, quantity)
    verdict = "absent" if r is None else str(ds.verdict.sel(at).values[r])
    if verdict == "absent":
        via = _row_index(ds, "munmap", "tlb_remove_table_per_gather")
        if phase == "fallback" and via is not None:
            if float(ds.predicted.sel(at).values[via]) == 0.0:
                return "none (no tlb_remove_table())", verdict
            fb = _row_index(ds, "fallback", "fallbacks_observed")
            if fb is not None and float(ds.measured.sel(at).values[fb]) == 0.0:
                return "none (no fallback)", verdict
        return "\u2014", verdict
    if verdict == "not measurable":
        return "not measurable", verdict
    assert r is not None
    unit = str(ds.row_unit.values[r])
    m = float(ds.measured.sel(at).values[r])
    p = float(ds.predicted.sel(at).values[r])
    mark = AGREES if verdict == "agrees" else DISAGREES
    if math.isnan(p):  # a row the model gives no number for checks only measured > 0
        return f"{_num(m, unit)} / not predicted (> 0) {mark}", verdict
    return f"{_num(m, unit)} / {_num(p, unit)} {mark}", verdict


def _profile_summary(name: str) -> str:
    """What a kernel profile does with a fallback and a collapse (from its flags)."""
    p = PROFILES.get(name)
    if p is None:
        return f"profile {name!r} unknown to this version of mcstudy"
    return p.behaviour()


def version_lines(ds: xr.Dataset) -> list[str]:
    """One line per kernel line: its releases, the profile matched per architecture and
    what that profile does (from the profile table, :mod:`mcstudy.kernel.profiles`)."""
    out = []
    for k in ds.kernel.values:
        parts = []
        for a in ds.arch.values:
            at = {"kernel": k, "arch": a}
            prof = str(ds.kernel_profile.sel(at).item())
            rel = str(ds.kernel_release.sel(at).item())
            if not prof:
                parts.append(f"{a}: not run")
                continue
            parts.append(f"{a} ({rel}): `{prof}`, {_profile_summary(prof)}")
        out.append(f"Linux {k}: " + "; ".join(parts) + ".")
    return out


def matrix_header(ds: xr.Dataset) -> list[str]:
    return ["claim"] + [f"{k} {a}" for k in ds.kernel.values for a in ds.arch.values]


def matrix_cells(ds: xr.Dataset) -> list[tuple[str, list[tuple[str, str]]]]:
    """(claim, a (text, verdict) per kernel x arch column) for every claim."""
    cols = [(str(k), str(a)) for k in ds.kernel.values for a in ds.arch.values]
    return [(c, [claim_cell(ds, k, a, p, q) for k, a in cols]) for c, p, q in CLAIMS]


def run_lines(ds: xr.Dataset) -> list[str]:
    """Per run: its status, wall time and rows beyond their noise (which ones)."""
    out = []
    for k in ds.kernel.values:
        for a in ds.arch.values:
            at = {"kernel": k, "arch": a}
            st = str(ds.status.sel(at).item())
            wall = float(ds.wall_seconds.sel(at).item())
            t = f"{wall / 60:.1f} min" if math.isfinite(wall) else "no time"
            if st.startswith("not run"):
                out.append(f"{k} {a}: {st}")
                continue
            phases = [str(x) for x in ds.row_phase.values]
            bad = [r for r, v in enumerate(ds.verdict.sel(at).values) if str(v) == "disagrees"]
            # the law and zone rows test the model's laws and zone chain (docs/lab.md §4,
            # §5), not the kernel profile: counted, the others named
            law = sum(1 for r in bad if phases[r].startswith("law: "))
            zone = sum(1 for r in bad if phases[r].startswith("zone "))
            named = [
                f"{phases[r]}/{ds.row_quantity.values[r]}"
                for r in bad
                if not phases[r].startswith(("law: ", "zone "))
            ]
            p = json.loads(str(ds.params.sel(at).item()))
            out.append(
                f"{k} {a}: {st} ({t}; {p['gathers']} gathers at "
                f"{','.join(map(str, p['levels']))} MiB); "
                + (
                    f"profile rows beyond noise: {', '.join(named)}"
                    if named
                    else "every profile row within noise"
                )
                + (f"; law rows beyond noise: {law}" if law else "")
                + (f"; zone rows beyond noise: {zone}" if zone else "")
            )
    return out


def claim_tally(ds: xr.Dataset) -> tuple[int, int]:
    """(claim cells measured, of them beyond noise)."""
    verdicts = [v for _, cells in matrix_cells(ds) for _, v in cells]
    measured = [v for v in verdicts if v in ("agrees", "disagrees")]
    return len(measured), sum(1 for v in measured if v == "disagrees")


def render_matrix_table(ds: xr.Dataset) -> str:
    """The claim-by-kernel table as text (what ``mcstudy lab --matrix`` prints)."""
    head = matrix_header(ds)
    body = [[c, *(t for t, _ in cells)] for c, cells in matrix_cells(ds)]
    width = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(x.ljust(w) for x, w in zip(r, width, strict=True)).rstrip() for r in [head, *body]
    ]
    return "\n".join(
        [
            "Kernel profiles against real kernels (measured / predicted; "
            f"{AGREES} agrees within noise, {DISAGREES} does not)",
            "",
            *lines,
            "",
            *version_lines(ds),
            "",
            *run_lines(ds),
        ]
    )


MATRIX_METHOD = (
    "Every kernel line the lab knows (Debian's 6.1, 6.12 and 7.2 cloud kernels) on both "
    "guest architectures, one `mcstudy lab --kernel K --arch A` run after another with "
    "each kernel's default gathers and pressure levels (docs/lab.md). Each cell holds "
    "the lab row that decides the claim: what the guest measured against what the kernel "
    "profile matched to that kernel (from its version and its config) predicts. "
    "`not measurable`: the kernel lacks the function the row probes; `none`: the kernel "
    "has no such event (page tables bypass tlb_remove_table(), or no fallback happened)."
)


def matrix_section(ds: xr.Dataset, dataset_name: str = "lab-matrix.nc") -> Section:
    """The report section of a ``mcstudy lab --matrix`` dataset."""
    rows = []
    for claim, cells in matrix_cells(ds):
        rows.append(
            [
                cell(claim),
                *(cell(t, flag="beyond noise" if v == "disagrees" else None) for t, v in cells),
            ]
        )
    done = int(ds.attrs["runs_done"])
    n = int(ds.attrs["runs"])
    cells, bad = claim_tally(ds)
    lead = f"{done} of {n} kernel x architecture runs done; " + (
        f"{bad} of {cells} measured claims beyond their noise interval."
        if bad
        else f"all {cells} measured claims agree with the kernel profiles within noise."
    )
    return Section(
        id="lab-matrix",
        title="Kernel profiles against real kernels",
        order=27,
        lead=lead,
        blocks=[
            TableBlock(
                caption="Claim by kernel: measured / predicted by the matched kernel profile; "
                f"{AGREES} agrees within the row's noise interval, {DISAGREES} does not.",
                header=matrix_header(ds),
                rows=rows,
                key="lab-matrix-claims",
            ),
            Paragraph("What each version changed (the profile matched to each kernel):"),
            Bullets(version_lines(ds)),
            Bullets(run_lines(ds)),
            Paragraph(MATRIX_METHOD),
            Code(
                shlex.join(["mcstudy", "lab", "--matrix", "--out", dataset_name]),
                caption="Run it again",
            ),
        ],
    )


def build(ctx: ReportContext) -> list[Section]:
    """Report builder for lab datasets (kind ``"lab"``) and lab matrices (``"lab-matrix"``)."""
    ds = ctx.ds
    if is_matrix_dataset(ds):
        ctx.covered.update(str(v) for v in ds.data_vars)
        cells, bad = claim_tally(ds)
        if bad:
            ctx.health.append(f"{bad} of {cells} kernel-matrix claims beyond their noise interval")
        else:
            ctx.trust.append(
                f"all {cells} kernel-matrix claims measured agree with the kernel profiles"
            )
        notrun = int(ds.attrs["runs"]) - int(ds.attrs["runs_done"])
        if notrun:
            ctx.health.append(f"{notrun} kernel-matrix run(s) not run")
        return [matrix_section(ds, ctx.path.name)]
    if not is_lab_dataset(ds):
        return []
    record_verdict(
        ctx,
        "{bad} kernel-lab row(s) beyond their noise interval",
        "all {n} kernel-lab rows agree within noise",
    )
    return [lab_section(ds, ctx.path.name)]


SECTION = SectionEntry(
    build,
    kinds=(MODEL_NAME, MATRIX_MODEL),
    rank=20,
    # measurements, not a Monte Carlo run (as the probe's): no simulated design, estimates
    # with intervals, exact checks, re-runs, sensitivity or point health
    skip=("design", "estimates", "exact_check", "convergence", "sensitivity", "health"),
)
"""The section's entry point (group ``mcstudy.report_sections``, ``pyproject.toml``)."""
