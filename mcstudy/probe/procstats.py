"""Live reads of the kernel's counters: /proc/vmstat, /proc/meminfo, /proc/interrupts, ...

Each ``read_*`` function reads one live file and parses it with the strict parsers of
:mod:`mcstudy.kernel.procfs` (a malformed file raises its ``ProcFormatError``, naming
the file and the line). Standard library only (runs in the worker).

* ``/proc/interrupts``: per-CPU columns of the rows described "Function call
  interrupts" and "TLB shootdowns" (:class:`~mcstudy.kernel.procfs.Interrupts`).
* ``/proc/self/status`` ``VmPTE``: ``mm_pgtables_bytes()`` of this process, i.e. the
  PTE (including THP deposits), PMD and PUD tables counted by ``mm_inc_nr_ptes()`` /
  ``mm_inc_nr_pmds()`` / ``mm_inc_nr_puds()``; exact, per mm, updated at once.
* ``/proc/meminfo`` ``PageTables``: ``NR_PAGETABLE`` of the whole machine (every
  process); tables freed through ``tlb_remove_table()`` leave it only after an RCU
  grace period, and per-CPU deltas are folded by writing ``/proc/sys/vm/stat_refresh``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from mcstudy.kernel import procfs
from mcstudy.kernel.procfs import Interrupts
from mcstudy.probe.errors import ProbeError

STAT_REFRESH = Path("/proc/sys/vm/stat_refresh")
THP_DIR = Path("/sys/kernel/mm/transparent_hugepage")


def read_text(path: str | Path) -> str:
    """The text of a /proc or /sys file; ProbeError naming it if unreadable."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ProbeError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_kconfig(release: str) -> tuple[dict[str, str] | None, str | None]:
    """The running kernel's config and where it came from (None, None if unavailable)."""
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{release}")):
        try:
            raw = path.read_bytes()
            text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile):
            continue
        return procfs.parse_kconfig(text, str(path)), str(path)
    return None, None


def stat_refresh_writable() -> bool:
    """``/proc/sys/vm/stat_refresh`` can be written (root): per-CPU deltas get folded."""
    try:
        STAT_REFRESH.write_text("1")
    except OSError:
        return False
    return True


def stat_refresh() -> None:
    """Fold per-CPU vmstat deltas into the global counters (``vmstat_refresh()``)."""
    STAT_REFRESH.write_text("1")


def read_interrupts() -> Interrupts:
    """Per-CPU function-call and TLB-shootdown IPIs received so far (interrupts)."""
    return procfs.parse_interrupts(read_text("/proc/interrupts"), "/proc/interrupts")


def read_vmstat() -> dict[str, int]:
    """Every /proc/vmstat counter (pages or events)."""
    return procfs.parse_vmstat(read_text("/proc/vmstat"), "/proc/vmstat")


def read_meminfo() -> dict[str, int]:
    """Every /proc/meminfo field (kB, or a count for fields without a unit)."""
    return procfs.parse_meminfo(read_text("/proc/meminfo"), "/proc/meminfo")


def _status() -> dict[str, int]:
    return procfs.parse_kb_fields(read_text("/proc/self/status"), "/proc/self/status")


def read_vmpte_kb() -> int:
    """This process's page-table bytes (``VmPTE``, kB)."""
    status = _status()
    if "VmPTE" not in status:
        raise ProbeError("/proc/self/status has no VmPTE field")
    return status["VmPTE"]


def read_threads() -> int:
    """Threads of this process."""
    return _status().get("Threads", 0)


def read_maps() -> list[tuple[int, int]]:
    """(start, end) of every VMA of this process, sorted (byte addresses)."""
    return procfs.parse_maps(read_text("/proc/self/maps"), "/proc/self/maps")


def read_anon_huge_kb(start: int) -> int:
    """``AnonHugePages`` (PMD-mapped THP memory, kB) of the VMA starting at ``start``."""
    smaps = read_text("/proc/self/smaps")
    return procfs.parse_smaps_vma(smaps, start, "/proc/self/smaps").get("AnonHugePages", 0)


def read_khugepaged_collapsed() -> int:
    """``khugepaged/pages_collapsed``: THPs collapsed by the khugepaged thread (not madvise).

    0 where the file does not exist (kernel without THP); a malformed file raises.
    """
    path = THP_DIR / "khugepaged" / "pages_collapsed"
    try:
        text = path.read_text()
    except OSError:
        return 0
    return procfs.parse_int(text, str(path))
