"""One lab run in the guest: the settings, the initramfs, the boot, the console.

:class:`LabRequest` holds what ``mcstudy lab`` was asked for; :func:`run_guest` builds
the initramfs (busybox, ``labwork``, ``init``, ``/lab.conf``, zram modules) in a
temporary directory, boots the guest and returns what it printed, split into artefacts
(:mod:`mcstudy.lab.console`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcstudy.lab.arch import ArchSpec
from mcstudy.lab.console import Console, parse_console
from mcstudy.lab.errors import LabError
from mcstudy.lab.initramfs import gzip_archive, lab_members
from mcstudy.lab.qemu import boot, qemu_command
from mcstudy.lab.setup import Prepared, guest_source

# Structure layouts (``struct mmu_gather``'s ``batch``, ``struct mmu_table_batch``'s
# ``nr``) are read in the guest from the kernel's BTF (``labwork btf``), and functions are
# picked by name from its /proc/kallsyms (``guest/init``): nothing of one kernel version is
# applied to another (:mod:`mcstudy.lab.support`).
WORK_CPU = 1
"""The page-table workload's CPU; the churn, the sampler and the IPIs' receivers are on
the others."""
CHURN_CPU = 0


@dataclass(frozen=True)
class LabRequest:
    """What ``mcstudy lab`` runs (units in the names)."""

    arch: str = "arm64"
    gathers: int = 2000
    """munmap gathers per pressure level."""
    levels: tuple[int, ...] = (0, 300, 400)
    """Pressure levels: MiB of anonymous-memory churn (0 = none)."""
    blocks: int = 8
    """Each level's gathers run in this many blocks, each followed by a no-work window."""
    idle_ratio: float = 0.5
    """Length of each no-work window over that of the block before it."""
    ptes: int = 64
    """PTE tables per gather (2 MiB slots of the region)."""
    layout: str = "isolated"
    offset_kib: int = 0
    memory_mib: int = 256
    cpus: int = 2
    warmup_s: int = 5
    """Seconds between the churn's first pass over its ring and the first gather."""
    fill_timeout_s: int = 240
    sample_ms: int = 100
    watch_us: int = 2000
    """Period of the fast zone sampler (``labwork zonewatch``), us (0: none)."""
    watch_bin_ms: int = 100
    """The fast sampler's counts are printed per bin of this many ms."""
    indep_gathers: int = 2000
    """Most gathers of the zone-independent workload (``labwork indep``) per pressure level
    (0: none); a run of fewer ``gathers`` runs as many independent ones."""
    indep_blocks: int = 8
    indep_gap_us: int = 15000
    """Mean of the exponential gaps between the independent workload's munmaps, us."""
    stall_buffer_kb: int = 4096
    """Per-CPU buffer of the stall trace instance (vmscan tracepoints), KiB."""
    zram_mib: int = 1024
    seed: int = 1
    timeout_s: float = 1500.0
    trace_buffer_kb: int = 8192
    khugepaged_mib: int = 32
    """Region offered to khugepaged after the levels (MiB, even; 0: no khugepaged phase)."""
    khugepaged_timeout_s: int = 120
    khugepaged_idle_ms: int = 1000
    khugepaged_idle_windows: int = 8
    """No-work windows of ``khugepaged_idle_ms`` before the region is offered (the background)."""
    cmdline_extra: tuple[str, ...] = field(default=("cma=0",))
    """``cma=0``: no CMA area, so the zone's free pages are all usable by GFP_NOWAIT."""

    def validate(self) -> None:
        """LabError naming the first bad setting."""
        if self.gathers < 1 or self.blocks < 1 or self.gathers < self.blocks:
            raise LabError(f"--gathers must be >= blocks ({self.blocks}), got {self.gathers}")
        if not self.levels or any(lv < 0 for lv in self.levels):
            raise LabError(f"--pressure: levels must be MiB >= 0, got {list(self.levels)}")
        if len(set(self.levels)) != len(self.levels):
            raise LabError(f"--pressure: repeated level in {list(self.levels)}")
        if self.layout not in ("isolated", "adjacent"):
            raise LabError(f"layout must be isolated or adjacent, got {self.layout!r}")
        if self.khugepaged_mib < 0 or self.khugepaged_mib % 2 or self.khugepaged_mib > 64:
            raise LabError(f"khugepaged region must be 0..64 MiB, even; got {self.khugepaged_mib}")
        if self.ptes < 1 or self.cpus < 2 or self.memory_mib < 128:
            raise LabError("need ptes >= 1, cpus >= 2 and memory >= 128 MiB")
        if not 0.01 <= self.idle_ratio <= 100:
            raise LabError(f"the no-work ratio must be in [0.01, 100], got {self.idle_ratio}")
        if self.offset_kib % 2048:
            raise LabError("the region offset must be a multiple of 2048 KiB")
        if not (self.watch_us == 0 or 50 <= self.watch_us <= 1_000_000) or self.watch_bin_ms < 1:
            raise LabError("the zone watch period must be 0 or 50..1e6 us, its bins >= 1 ms")
        if not 0 <= self.indep_gathers <= 60000 or self.indep_gap_us < 1:
            raise LabError("independent gathers must be 0..60000, their gap >= 1 us")
        if self.indep_gathers and not 1 <= self.indep_blocks <= self.indep_gathers:
            raise LabError("independent blocks must be 1..the independent gathers")


def guest_conf(req: LabRequest, spec: ArchSpec, prep: Prepared) -> dict[str, str | int]:
    """The values of ``/lab.conf``."""
    return {
        "ARCH": spec.name,
        "LEVELS": " ".join(str(x) for x in req.levels),
        "GATHERS": req.gathers,
        "BLOCKS": req.blocks,
        "PTES": req.ptes,
        "LAYOUT": req.layout,
        "OFFSET_KIB": req.offset_kib,
        "WARMUP_S": req.warmup_s,
        "FILL_TIMEOUT_S": req.fill_timeout_s,
        "IDLE_PERMILLE": round(1000 * req.idle_ratio),
        "SAMPLE_MS": req.sample_ms,
        "ZRAM_MIB": req.zram_mib if any(req.levels) else 0,
        "MODULES": " ".join(prep.modules),
        "SEED": req.seed,
        "WORK_CPU": WORK_CPU,
        "CHURN_CPU": CHURN_CPU,
        "FREE_FUNCS": " ".join(spec.free_funcs),
        "TRACE_BUFFER_KB": req.trace_buffer_kb,
        "WATCH_US": req.watch_us,
        "WATCH_BIN_MS": req.watch_bin_ms,
        "INDEP_GATHERS": min(req.indep_gathers, req.gathers),
        "INDEP_BLOCKS": min(req.indep_blocks, req.indep_gathers, req.gathers),
        "INDEP_GAP_US": req.indep_gap_us,
        "STALL_BUFFER_KB": req.stall_buffer_kb,
        "KHUGEPAGED_MIB": req.khugepaged_mib,
        "KHUGEPAGED_TIMEOUT_S": req.khugepaged_timeout_s,
        "KHUGEPAGED_IDLE_MS": req.khugepaged_idle_ms,
        "KHUGEPAGED_IDLE_WINDOWS": req.khugepaged_idle_windows,
    }


def kernel_cmdline(req: LabRequest, spec: ArchSpec) -> str:
    """The guest kernel's command line."""
    return " ".join(
        [f"console={spec.console}", "loglevel=1", "panic=-1", "rdinit=/init", *req.cmdline_extra]
    )


def run_guest(
    req: LabRequest,
    spec: ArchSpec,
    prep: Prepared,
    on_line: Callable[[str], None] | None = None,
    keep_console: Path | None = None,
) -> tuple[Console, str, float]:
    """Boot the guest for ``req``; (parsed console, kernel command line, wall seconds).

    ``keep_console``: also copy the raw console text there (for debugging a run).
    """
    req.validate()
    if any(req.levels) and not prep.zram:
        raise LabError(f"{prep.kernel_package} has no zram (module or built in): no zram swap")
    conf = guest_conf(req, spec, prep)
    members = lab_members(
        Path(prep.busybox).read_bytes(),
        Path(prep.labwork).read_bytes(),
        guest_source("init"),
        conf,
        prep.modules if any(req.levels) else {},
    )
    cmdline = kernel_cmdline(req, spec)
    with tempfile.TemporaryDirectory(prefix="mcstudy-lab-") as tmp:
        initrd = Path(tmp) / "initramfs.cpio.gz"
        initrd.write_bytes(gzip_archive(members))
        log = Path(tmp) / "console.log"
        cmd = qemu_command(spec, prep.vmlinuz, initrd, cmdline, log, req.memory_mib, req.cpus)
        text, wall = boot(cmd, log, req.timeout_s, on_line)
        if keep_console is not None:
            keep_console.write_text(text)
    console = parse_console(text)
    if console.error:
        raise LabError(f"the guest stopped: {console.error}")
    if not console.done:
        tail = [ln for ln in text.splitlines() if ln.strip()][-3:]
        raise LabError(f"the guest stopped before the end of the experiment: {' | '.join(tail)}")
    return console, cmdline, wall
