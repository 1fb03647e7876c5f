"""From the guest's console to the checked rows: parse every level, match the kernel
profile, calibrate the zone, and build the rows (:mod:`mcstudy.lab.checks`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from mcstudy.kernel import procfs
from mcstudy.kernel.ipi import ipi_targets
from mcstudy.kernel.policies import MAINLINE_IPI
from mcstudy.lab.arch import ArchSpec
from mcstudy.lab.checks import Geometry, LabCheck, LevelData, all_rows, split_blocks
from mcstudy.lab.console import Console
from mcstudy.lab.crosslevel import cross_level_notes, cross_predictions
from mcstudy.lab.errors import LabError
from mcstudy.lab.guestdata import parse_ptwork, parse_samples, parse_trace, trace_stats
from mcstudy.lab.guestrun import WORK_CPU, LabRequest
from mcstudy.lab.khugepaged import khugepaged_rows
from mcstudy.lab.setup import Prepared
from mcstudy.lab.support import LEGACY, KernelSupport, parse_support
from mcstudy.lab.zone import calibrate_level, zone_notes
from mcstudy.lab.zonerows import trace_notes, zone_rows
from mcstudy.lab.zonetrace import parse_stalls, parse_zonewatch
from mcstudy.probe.layout import gap_around
from mcstudy.probe.predict import ProfileMatch, match_profile

PTE_SPAN = 2 << 20
SLOT = 512 << 30


@dataclass
class LabResult:
    """Everything a lab run found (what the dataset stores)."""

    request: LabRequest
    prep: Prepared
    facts: dict[str, str]
    cmdline: str
    profile: ProfileMatch
    geometry: Geometry
    levels: list[LevelData]
    rows: list[LabCheck]
    law_facts: dict[str, float]
    online: int
    guest_seconds: float
    dmesg_oom: bool = False
    events: str = ""
    trace_stats: dict[int, dict[str, int]] = field(default_factory=dict)
    zone_notes: list[str] = field(default_factory=list)
    support: KernelSupport = LEGACY


def parse_facts(text: str) -> dict[str, str]:
    """``key value`` lines of the guest's facts artefact."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key:
            out[key] = value.strip()
    return out


def guest_profile(facts: dict[str, str], prep: Prepared) -> ProfileMatch:
    """The kernel profile of the guest (the probe's rules on the package's config). The
    guest runs under QEMU's TCG: no KVM, so no paravirt TLB flush (x86 guests free page
    tables like bare metal)."""
    config_text = Path(prep.config).read_text() if Path(prep.config).is_file() else None
    source = f"{prep.kernel_package}: {Path(prep.config).name}"
    config = procfs.parse_kconfig(config_text, source) if config_text else None
    m = match_profile(facts["release"], facts["machine"], config, source, hypervisor=False)
    basis = (*m.basis, "QEMU software emulation (TCG): no KVM paravirt TLB flush in the guest")
    return ProfileMatch(m.name, basis, m.caveats)


def analyse(
    console: Console,
    req: LabRequest,
    spec: ArchSpec,
    prep: Prepared,
    cmdline: str,
    guest_seconds: float,
) -> LabResult:
    """Rows and data of one guest run (LabError if the guest's data are incomplete)."""
    if "facts" not in console.files:
        raise LabError("the guest reported no facts (no 'facts' artefact)")
    facts = parse_facts(console.files["facts"])
    if facts.get("machine") != spec.machine:
        raise LabError(f"the guest runs {facts.get('machine')}, expected {spec.machine}")
    online = len(procfs.parse_cpu_list(facts.get("online", ""), "guest online CPUs"))
    if [lv.mib for lv in console.levels] != list(req.levels):
        raise LabError(
            f"the guest ran levels {[lv.mib for lv in console.levels]}, asked {list(req.levels)}"
        )
    profile = guest_profile(facts, prep)
    batch = profile.profile.max_table_batch
    levels: list[LevelData] = []
    stats: dict[int, dict[str, int]] = {}
    for lv in console.levels:
        for name in ("ptwork", "trace", "trace_stats", "samples"):
            if name not in lv.files:
                raise LabError(f"level {lv.mib} MiB: the guest printed no {name!r}")
        run = parse_ptwork(lv.files["ptwork"])
        if run.done != req.gathers:
            raise LabError(f"level {lv.mib} MiB: {run.done} of {req.gathers} gathers ran")
        st = trace_stats(lv.files["trace_stats"])
        stats[lv.mib] = st
        if st.get("dropped events", 0) or st.get("overrun", 0):
            raise LabError(
                f"level {lv.mib} MiB: the trace buffer lost events ({st}); raise its size"
            )
        trace = parse_trace(lv.files["trace"])
        data = LevelData(lv.mib, run, trace, split_blocks(run, trace))
        data.samples = parse_samples(lv.files["samples"])
        level_traces(data, lv.files, stats, console.files.get("support", ""))
        if lv.mib > 0:
            data.calibration = calibrate_level(run, req.gathers)
        levels.append(data)
    vm = console.files.get("vmstat")
    if vm is not None and procfs.parse_vmstat(vm, "guest /proc/vmstat").get("oom_kill", 0):
        raise LabError("the guest's OOM killer ran: lower the pressure levels")
    first = levels[0].run
    start, end = first.region
    floor, ceiling = gap_around(first.maps, start, end)
    geo = Geometry(
        size=end - start,
        offset=start % SLOT,
        neighbours=req.layout,
        start=start,
        end=end,
        floor=floor,
        ceiling=ceiling,
    )
    ipi = (
        ipi_targets(MAINLINE_IPI, online, online, 0.0).mean
        if profile.profile.fallback_sends_ipi
        else 0.0
    )
    support = parse_support(console.files.get("support"))
    kh = None
    if "khugepaged_settings" in console.files:
        settings = parse_facts(console.files["khugepaged_settings"])
        text = console.files.get("khugepaged")
        kh = (parse_ptwork(text) if text is not None else None, settings)
    rows, law_facts = all_rows(
        levels,
        geo,
        profile,
        online,
        WORK_CPU,
        batch,
        spec.free_funcs,
        ipi,
        support=support,
        extra=None if kh is None else partial(khugepaged_rows, kh[0], kh[1], profile, online),
        zone=zone_rows,
    )
    notes: list[str] = []
    for lv in levels:
        if lv.calibration is None:
            continue
        vals = {r.quantity: r.measured for r in rows if r.phase == f"zone {lv.mib} MiB"}
        notes += zone_notes(
            lv.mib,
            lv.calibration,
            vals.get("time_below_min_frac", math.nan),
            vals.get("nowait_fail_prob", math.nan),
        )
        notes += trace_notes(lv)
    notes += cross_level_notes(cross_predictions(levels), rows)
    return LabResult(
        zone_notes=notes,
        request=req,
        prep=prep,
        facts=facts,
        cmdline=cmdline,
        profile=profile,
        geometry=geo,
        levels=levels,
        rows=rows,
        law_facts=law_facts,
        online=online,
        guest_seconds=guest_seconds,
        events=console.files.get("events", ""),
        trace_stats=stats,
        support=support,
    )


def level_traces(data: LevelData, files: dict[str, str], stats: dict, support: str = "") -> None:
    """The fast zone sampler, the stall trace and the zone-independent workload of one
    level, where the guest recorded them (runs before them have none); the vmscan
    tracepoints the kernel lacks (the ``support`` artefact's ``tracepoint`` lines)."""
    for line in support.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "tracepoint" and parts[2] == "no":
            data.stall_missing[parts[1]] = f"no tracepoint {parts[1]} in the kernel's tracefs"
    if "zonewatch" in files:
        data.watch = parse_zonewatch(files["zonewatch"])
    if "stalls" in files:
        for cpu, st in stall_buffer_stats(files.get("stall_stats", "")).items():
            if st.get("dropped events", 0) or st.get("overrun", 0):
                raise LabError(
                    f"level {data.mib} MiB: the stall trace lost events on CPU {cpu} ({st})"
                )
        data.stalls = parse_stalls(files["stalls"])
    if "indep" in files:
        run = parse_ptwork(files["indep"])
        data.indep = (run, split_blocks(run, data.trace))


def stall_buffer_stats(text: str) -> dict[int, dict[str, int]]:
    """The stall instance's ``per_cpu/cpuN/stats``, each after an ``@cpu N`` line."""
    out: dict[int, dict[str, int]] = {}
    cpu, body = None, []
    for line in [*text.splitlines(), "@cpu -1"]:
        if line.startswith("@cpu "):
            if cpu is not None:
                out[cpu] = trace_stats("\n".join(body))
            cpu, body = int(line.split()[1]), []
        else:
            body.append(line)
    return out


def law_verdict(rows: list[LabCheck]) -> tuple[str, list[str]]:
    """(the law the kernel follows: a law name or ``"neither"``, lines saying why)."""
    by_law: dict[str, list[LabCheck]] = {}
    for r in rows:
        if r.scope == "law":
            by_law.setdefault(r.phase.removeprefix("law: "), []).append(r)
    if not by_law:
        return "none", ["no within-gather law checked (no pressure level or no tlb_remove_table())"]
    conditional = [
        r
        for rs in by_law.values()
        for r in rs
        if r.quantity == "all_fail_given_first" and math.isfinite(r.measured)
    ]
    if not conditional:
        return "undetermined", ["no gather's first attempt failed: the laws cannot be told apart"]
    lines = []
    fits = []
    for law, rs in by_law.items():
        usable = [r for r in rs if math.isfinite(r.measured) and math.isfinite(r.predicted)]
        bad = [r.quantity for r in usable if not r.agrees]
        if usable and not bad:
            fits.append(law)
            lines.append(f"{law}: all {len(usable)} statistics agree")
        elif not usable:
            lines.append(f"{law}: no statistic could be measured")
        else:
            lines.append(f"{law}: disagrees on {', '.join(bad)}")
    model_laws = [f for f in fits if f != "persistent failures"]
    if len(model_laws) == 1:
        return model_laws[0], lines
    return "neither", lines
