"""Facts about the live kernel and machine, and the checks that decide whether the probe may run.

:func:`host_facts` reads them (uname, THP sysfs settings, khugepaged settings, the
kernel config when ``/proc/config.gz`` or ``/boot/config-*`` exists, online CPUs,
memory); :func:`preflight` refuses, with one clear :class:`ProbeError`, to run where
the probe cannot work or could disturb the machine. Standard library only.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcstudy.kernel import procfs
from mcstudy.kernel.procfs import ProcFormatError
from mcstudy.probe import procstats
from mcstudy.probe.errors import ProbeError
from mcstudy.probe.syscalls import PAGE_SIZE

MIB = 1 << 20
PMD_SIZE = 2 * MIB
MADV_COLLAPSE_SINCE = (6, 1)
MEM_FRACTION_LIMIT = 0.25  # never map more than this share of MemAvailable
CONFIG_KEYS = (
    "CONFIG_PT_RECLAIM",
    "CONFIG_MMU_GATHER_RCU_TABLE_FREE",
    "CONFIG_PARAVIRT",
    "CONFIG_KVM_GUEST",
    "CONFIG_HYPERV",
    "CONFIG_XEN_PV",
    "CONFIG_TRANSPARENT_HUGEPAGE",
    "CONFIG_PGTABLE_LEVELS",
    "CONFIG_RCU_LAZY",
)


def kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a release string such as ``6.18.44-fc-v782``."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        raise ProbeError(f"cannot parse the kernel release {release!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class HostFacts:
    """What the probe needs to know about the machine before it runs."""

    system: str
    release: str
    machine: str
    thp_enabled: str | None
    """``always``/``madvise``/``never`` (None: kernel without THP)."""
    thp_pmd_enabled: str | None
    """Per-size PMD setting ``hugepages-2048kB/enabled`` (None if absent, ``inherit``...)."""
    thp_defrag: str | None
    hpage_pmd_size: int | None
    khugepaged: dict[str, int] = field(default_factory=dict)
    config: dict[str, str] | None = None
    config_source: str | None = None
    hypervisor: bool = False
    online_cpus: tuple[int, ...] = ()
    allowed_cpus: tuple[int, ...] = ()
    mem_available_kb: int = 0
    mem_free_kb: int = 0
    zone_high_kb: int = 0
    cgroup_memory_room: int | None = None
    """memory.max - memory.current of this process's cgroup v2 (bytes; None: no limit)."""
    max_map_count: int = 65530
    stat_refresh_writable: bool = False
    page_size: int = PAGE_SIZE

    @property
    def version(self) -> tuple[int, int]:
        return kernel_version(self.release)

    @property
    def thp_mode(self) -> str | None:
        """Effective PMD-size THP mode (the per-size setting resolved against the global)."""
        if self.thp_pmd_enabled in (None, "inherit"):
            return self.thp_enabled
        return self.thp_pmd_enabled

    @property
    def madv_collapse_supported(self) -> bool:
        return self.version >= MADV_COLLAPSE_SINCE

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.config is not None:
            d["config"] = {k: self.config.get(k, "n") for k in CONFIG_KEYS}
        return d


def _read_opt(path: Path) -> str | None:
    """The text of ``path``, None if it cannot be read (absent feature, no permission)."""
    try:
        return path.read_text()
    except OSError:
        return None


def _int_opt(path: Path) -> int | None:
    """The integer in ``path`` (None if unreadable; ProcFormatError if not one integer)."""
    text = _read_opt(path)
    return None if text is None else procfs.parse_int(text, str(path))


def _cgroup_room() -> int | None:
    text = _read_opt(Path("/proc/self/cgroup"))
    if not text:
        return None
    for entry in procfs.parse_cgroup(text, "/proc/self/cgroup"):
        if entry.hierarchy == 0 and not entry.controllers:
            base = Path("/sys/fs/cgroup") / entry.path.lstrip("/")
            limit = _read_opt(base / "memory.max")
            if limit is None or limit.strip() == "max":
                return None
            current = _int_opt(base / "memory.current")
            if current is None:
                return None
            return procfs.parse_int(limit, str(base / "memory.max")) - current
    return None


def _choice_opt(path: Path) -> str | None:
    """The bracketed choice of a sysfs selector (None if the file cannot be read)."""
    text = _read_opt(path)
    return None if text is None else procfs.parse_sysfs_choice(text, str(path))


def host_facts() -> HostFacts:
    """Read the facts of this machine (works, with empty fields, on non-Linux systems).

    Files that cannot be read leave their fields empty; a malformed one raises
    :class:`~mcstudy.kernel.procfs.ProcFormatError` naming the file and the line.
    """
    uname = platform.uname()
    if uname.system != "Linux":
        return HostFacts(uname.system, uname.release, uname.machine, None, None, None, None)
    thp = procstats.THP_DIR
    pmd_bytes = _int_opt(thp / "hpage_pmd_size")
    pmd_kb = pmd_bytes // 1024 if pmd_bytes else None
    khugepaged = {}
    for name in ("pages_to_scan", "scan_sleep_millisecs", "max_ptes_none", "defrag"):
        value = _int_opt(thp / "khugepaged" / name)
        if value is not None:
            khugepaged[name] = value
    config, source = procstats.read_kconfig(uname.release)
    cpuinfo_text = _read_opt(Path("/proc/cpuinfo"))
    cpuinfo = procfs.parse_cpuinfo(cpuinfo_text, "/proc/cpuinfo") if cpuinfo_text else []
    online_path = Path("/sys/devices/system/cpu/online")
    online_text = _read_opt(online_path)
    online = (
        procfs.parse_cpu_list(online_text, str(online_path))
        if online_text and online_text.strip()
        else list(range(os.cpu_count() or 1))
    )
    meminfo_text = _read_opt(Path("/proc/meminfo"))
    meminfo = procfs.parse_meminfo(meminfo_text, "/proc/meminfo") if meminfo_text else {}
    zoneinfo = _read_opt(Path("/proc/zoneinfo"))
    zone_high = procfs.parse_zone_high_pages(zoneinfo, "/proc/zoneinfo") if zoneinfo else 0
    max_map = _int_opt(Path("/proc/sys/vm/max_map_count"))
    return HostFacts(
        system=uname.system,
        release=uname.release,
        machine=uname.machine,
        thp_enabled=_choice_opt(thp / "enabled"),
        thp_pmd_enabled=_choice_opt(thp / f"hugepages-{pmd_kb}kB" / "enabled") if pmd_kb else None,
        thp_defrag=_choice_opt(thp / "defrag"),
        hpage_pmd_size=pmd_kb * 1024 if pmd_kb else None,
        khugepaged=khugepaged,
        config=config,
        config_source=source,
        hypervisor=any(k == "flags" and "hypervisor" in v.split() for k, v in cpuinfo),
        online_cpus=tuple(online),
        allowed_cpus=tuple(sorted(os.sched_getaffinity(0))),
        mem_available_kb=meminfo.get("MemAvailable", 0),
        mem_free_kb=meminfo.get("MemFree", 0),
        zone_high_kb=zone_high * PAGE_SIZE // 1024,
        cgroup_memory_room=_cgroup_room(),
        max_map_count=max_map if max_map is not None else 65530,
        stat_refresh_writable=procstats.stat_refresh_writable(),
    )


@dataclass(frozen=True)
class ProbeRequest:
    """What the user asked for (validated by :func:`preflight`)."""

    thps: int = 256
    cpu: int | None = None
    munmap_bytes: int = 64 * MIB
    munmap_offset: int = MIB
    baselines: int = 8


def peak_bytes(req: ProbeRequest) -> int:
    """Most anonymous memory the probe maps at once (bytes).

    THP phases: ``thps`` x 2 MiB, plus during MADV_COLLAPSE one new 2 MiB THP before the
    4 KiB pages it replaces are freed. munmap phases: the region itself.
    """
    return max(req.thps * PMD_SIZE + PMD_SIZE, req.munmap_bytes + 2 * PAGE_SIZE)


def probe_cpu(facts: HostFacts, req: ProbeRequest) -> int:
    """The CPU the worker runs on: ``req.cpu`` or the lowest CPU this process may use."""
    return req.cpu if req.cpu is not None else min(facts.allowed_cpus)


def preflight(facts: HostFacts, req: ProbeRequest) -> None:
    """Raise ProbeError if the probe cannot (or must not) run as requested here."""
    if facts.system != "Linux":
        raise ProbeError(f"the live-kernel probe needs Linux; this is {facts.system or 'unknown'}")
    if facts.thp_enabled is None:
        raise ProbeError(
            "this kernel has no transparent hugepages (/sys/kernel/mm/transparent_hugepage "
            "is missing): THP deposits and collapses cannot be measured"
        )
    if facts.thp_mode == "never":
        where = (
            f"hugepages-{(facts.hpage_pmd_size or 0) // 1024}kB/enabled"
            if facts.thp_pmd_enabled not in (None, "inherit")
            else "enabled"
        )
        raise ProbeError(
            f"transparent hugepages are disabled (/sys/kernel/mm/transparent_hugepage/{where} "
            "is 'never'); enable them with 'echo madvise > .../enabled' to probe"
        )
    if facts.page_size != 4096 or facts.hpage_pmd_size != PMD_SIZE:
        raise ProbeError(
            f"the probe and the model assume 4 KiB pages and 2 MiB PMD THPs; this kernel has "
            f"{facts.page_size}-byte pages and {facts.hpage_pmd_size}-byte PMD THPs"
        )
    if not facts.madv_collapse_supported:
        raise ProbeError(
            f"kernel {facts.release} has no MADV_COLLAPSE (added in Linux 6.1): the collapse "
            "IPIs cannot be measured"
        )
    if len(facts.online_cpus) < 2:
        raise ProbeError(
            f"the probe needs at least 2 online CPUs to see IPIs on other CPUs; "
            f"this machine has {len(facts.online_cpus)}"
        )
    cpu = probe_cpu(facts, req)
    if cpu not in facts.online_cpus or cpu not in facts.allowed_cpus:
        raise ProbeError(
            f"--cpu {cpu} is not an online CPU this process may run on "
            f"(allowed: {', '.join(map(str, facts.allowed_cpus))})"
        )
    if req.thps < 1:
        raise ProbeError(f"--thps must be at least 1 (got {req.thps})")
    if req.baselines < 3:
        raise ProbeError(f"--baselines must be at least 3 (got {req.baselines})")
    if req.munmap_bytes <= 0 or req.munmap_bytes % facts.page_size:
        raise ProbeError("--munmap-mib must give a positive multiple of 4 KiB")
    if req.munmap_offset < 0 or req.munmap_offset % facts.page_size:
        raise ProbeError("--munmap-offset-kib must be a non-negative multiple of 4 KiB")
    if req.munmap_offset + req.munmap_bytes > (1 << 39) - MIB:
        raise ProbeError("the munmap region must fit in one 512 GiB slot")
    need = peak_bytes(req)
    limit = int(MEM_FRACTION_LIMIT * facts.mem_available_kb * 1024)
    if need > limit:
        max_thps = max(0, (limit - PMD_SIZE) // PMD_SIZE)
        raise ProbeError(
            f"the probe would map {need / MIB:.0f} MiB, more than 25 % of MemAvailable "
            f"({facts.mem_available_kb / 1024:.0f} MiB): use --thps {max_thps} or fewer "
            "(and a smaller --munmap-mib); the probe never creates memory pressure"
        )
    free_after = facts.mem_free_kb * 1024 - need
    if free_after < 2 * facts.zone_high_kb * 1024:
        raise ProbeError(
            f"mapping {need / MIB:.0f} MiB would bring free memory ({facts.mem_free_kb / 1024:.0f} "
            f"MiB) near the zones' high watermarks ({facts.zone_high_kb / 1024:.0f} MiB) and "
            "wake kswapd; the probe never creates memory pressure: free memory or use fewer --thps"
        )
    if (
        facts.cgroup_memory_room is not None
        and need > MEM_FRACTION_LIMIT * facts.cgroup_memory_room
    ):
        raise ProbeError(
            f"the probe would map {need / MIB:.0f} MiB, more than 25 % of the room left under "
            f"this cgroup's memory.max ({facts.cgroup_memory_room / MIB:.0f} MiB)"
        )
    if 2 * req.thps + 64 > facts.max_map_count:
        raise ProbeError(
            f"splitting {req.thps} THPs needs about {2 * req.thps} VMAs, more than "
            f"vm.max_map_count ({facts.max_map_count}): use fewer --thps"
        )


def check_counters() -> None:
    """ProbeError unless the counters the probe reads exist here (/proc/interrupts IPI
    rows, ``VmPTE`` in /proc/self/status) and parse."""
    try:
        procstats.read_interrupts()
        procstats.read_vmpte_kb()
    except ProcFormatError as exc:
        raise ProbeError(f"cannot read the probe's counters: {exc}") from None
