"""Readers of the kernel's counters: /proc/vmstat, /proc/meminfo, /proc/interrupts, ...

Each ``parse_*`` function takes the file's text (so tests feed canned text) and each
``read_*`` function reads the live file. Standard library only (runs in the worker).

* ``/proc/interrupts``: per-CPU columns of the row described "Function call
  interrupts" (x86 ``CAL``, arm64/riscv ``IPI1``: ``smp_call_function*()`` IPIs
  received) and "TLB shootdowns" (x86 ``TLB``: remote ``flush_tlb_func()`` calls, each
  of which arrived as a function-call IPI and is also counted in ``CAL``).
* ``/proc/self/status`` ``VmPTE``: ``mm_pgtables_bytes()`` of this process, i.e. the
  PTE (including THP deposits), PMD and PUD tables counted by ``mm_inc_nr_ptes()`` /
  ``mm_inc_nr_pmds()`` / ``mm_inc_nr_puds()``; exact, per mm, updated at once.
* ``/proc/meminfo`` ``PageTables``: ``NR_PAGETABLE`` of the whole machine (every
  process); tables freed through ``tlb_remove_table()`` leave it only after an RCU
  grace period, and per-CPU deltas are folded by writing ``/proc/sys/vm/stat_refresh``.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from mcstudy.probe.errors import ProbeError

FUNCTION_CALL_ROW = "Function call interrupts"
TLB_SHOOTDOWN_ROW = "TLB shootdowns"

STAT_REFRESH = Path("/proc/sys/vm/stat_refresh")
THP_DIR = Path("/sys/kernel/mm/transparent_hugepage")


def read_text(path: str | Path) -> str:
    """The text of a /proc or /sys file; ProbeError naming it if unreadable."""
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise ProbeError(f"cannot read {path}: {exc.strerror or exc}") from None


# ----------------------------------------------------------------- key/value files


def parse_vmstat(text: str) -> dict[str, int]:
    """``/proc/vmstat``: counter name -> value."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def parse_kb_fields(text: str) -> dict[str, int]:
    """``/proc/meminfo`` or ``/proc/self/status``: field -> value (kB fields in kB)."""
    out = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if parts and parts[0].lstrip("-").isdigit():
            out[key.strip()] = int(parts[0])
    return out


# ----------------------------------------------------------------- interrupts


@dataclass(frozen=True)
class Interrupts:
    """Per-CPU IPI counts from /proc/interrupts (columns in ``cpus`` order)."""

    cpus: tuple[int, ...]
    function_call: tuple[int, ...]
    tlb_shootdown: tuple[int, ...]
    """Zeros where the architecture has no such row (e.g. arm64 broadcasts TLBI)."""


def parse_interrupts(text: str) -> Interrupts:
    """The per-CPU function-call and TLB-shootdown IPI counts of /proc/interrupts."""
    lines = text.splitlines()
    if not lines:
        raise ProbeError("/proc/interrupts is empty")
    header = lines[0].split()
    try:
        cpus = tuple(int(h[3:]) for h in header if h.startswith("CPU"))
    except ValueError:
        raise ProbeError(f"/proc/interrupts: unexpected header {lines[0]!r}") from None
    if not cpus or len(cpus) != len(header):
        raise ProbeError(f"/proc/interrupts: unexpected header {lines[0]!r}")
    rows: dict[str, tuple[int, ...]] = {}
    n = len(cpus)
    for line in lines[1:]:
        parts = line.split()
        if len(parts) < n + 2 or not parts[0].endswith(":"):
            continue
        counts = parts[1 : n + 1]
        if not all(c.isdigit() for c in counts):
            continue
        desc = " ".join(parts[n + 1 :])
        if desc in (FUNCTION_CALL_ROW, TLB_SHOOTDOWN_ROW) and desc not in rows:
            rows[desc] = tuple(int(c) for c in counts)
    if FUNCTION_CALL_ROW not in rows:
        raise ProbeError(
            f"/proc/interrupts has no {FUNCTION_CALL_ROW!r} row: cannot count the "
            "synchronous IPIs on this architecture"
        )
    return Interrupts(cpus, rows[FUNCTION_CALL_ROW], rows.get(TLB_SHOOTDOWN_ROW, (0,) * n))


# ----------------------------------------------------------------- address space


def parse_maps(text: str) -> list[tuple[int, int]]:
    """``/proc/self/maps``: sorted (start, end) of every VMA (bytes)."""
    out = []
    for line in text.splitlines():
        rng = line.split(maxsplit=1)[0] if line.strip() else ""
        start, sep, end = rng.partition("-")
        if sep:
            out.append((int(start, 16), int(end, 16)))
    return sorted(out)


def gap_around(maps: list[tuple[int, int]], start: int, end: int) -> tuple[int, int | None]:
    """(floor, ceiling) that ``free_pgtables()`` passes for unmapping [start, end).

    floor = the previous VMA's ``vm_end`` (0 = ``FIRST_USER_ADDRESS`` if none), ceiling
    = the next VMA's ``vm_start`` (None = ``USER_PGTABLES_CEILING``, no VMA above).
    VMAs overlapping [start, end) (the one being unmapped) are skipped.
    """
    floor, ceiling = 0, None
    for s, e in maps:
        if e <= start:
            floor = max(floor, e)
        elif s >= end and (ceiling is None or s < ceiling):
            ceiling = s
    return floor, ceiling


def free_slot(
    maps: list[tuple[int, int]], span: int, low: int, high: int, margin: int
) -> int | None:
    """Lowest ``span``-aligned address s in [low, high) with no VMA in [s - margin, s + span + margin)."""
    s = -(-low // span) * span
    while s + span + margin <= high:
        lo, hi = s - margin, s + span + margin
        if all(e <= lo or b >= hi for b, e in maps):
            return s
        s += span
    return None


def parse_smaps_vma(text: str, start: int) -> dict[str, int]:
    """``/proc/self/smaps`` fields (kB) of the VMA that starts at ``start``."""
    want = f"{start:x}-"
    fields: dict[str, int] | None = None
    for line in text.splitlines():
        head = line.split(maxsplit=1)[0] if line.strip() else ""
        if "-" in head and not head.endswith(":"):
            if fields is not None:
                break
            if head.startswith(want) or head.lstrip("0").startswith(want):
                fields = {}
            continue
        if fields is not None:
            key, sep, rest = line.partition(":")
            parts = rest.split()
            if sep and parts and parts[0].isdigit():
                fields[key.strip()] = int(parts[0])
    if fields is None:
        raise ProbeError(f"/proc/self/smaps has no VMA starting at 0x{start:x}")
    return fields


# ----------------------------------------------------------------- machine facts


def parse_cpu_list(text: str) -> list[int]:
    """A kernel CPU list such as ``0-3,6,8-9``."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return cpus


def parse_zone_high_pages(text: str) -> int:
    """Sum of every zone's ``high`` watermark in /proc/zoneinfo (pages)."""
    total = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "high" and parts[1].isdigit():
            total += int(parts[1])
    return total


def parse_sysfs_choice(text: str) -> str | None:
    """The bracketed choice of a sysfs selector such as ``always [madvise] never``."""
    m = re.search(r"\[([^\]]+)\]", text)
    return m.group(1) if m else None


def parse_kconfig(text: str) -> dict[str, str]:
    """A kernel .config: ``CONFIG_X`` -> value (``"n"`` for ``# CONFIG_X is not set``)."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            out[key] = value.strip('"')
        else:
            m = re.match(r"# (CONFIG_\w+) is not set", line)
            if m:
                out[m.group(1)] = "n"
    return out


def read_kconfig(release: str) -> tuple[dict[str, str] | None, str | None]:
    """The running kernel's config and where it came from (None, None if unavailable)."""
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{release}")):
        try:
            raw = path.read_bytes()
            text = gzip.decompress(raw).decode() if path.suffix == ".gz" else raw.decode()
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile):
            continue
        return parse_kconfig(text), str(path)
    return None, None


# ----------------------------------------------------------------- live readers


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
    return parse_interrupts(read_text("/proc/interrupts"))


def read_vmstat() -> dict[str, int]:
    return parse_vmstat(read_text("/proc/vmstat"))


def read_meminfo() -> dict[str, int]:
    return parse_kb_fields(read_text("/proc/meminfo"))


def read_vmpte_kb() -> int:
    """This process's page-table bytes (``VmPTE``, kB)."""
    status = parse_kb_fields(read_text("/proc/self/status"))
    if "VmPTE" not in status:
        raise ProbeError("/proc/self/status has no VmPTE field")
    return status["VmPTE"]


def read_threads() -> int:
    """Threads of this process."""
    return parse_kb_fields(read_text("/proc/self/status")).get("Threads", 0)


def read_maps() -> list[tuple[int, int]]:
    return parse_maps(read_text("/proc/self/maps"))


def read_anon_huge_kb(start: int) -> int:
    """``AnonHugePages`` (PMD-mapped THP memory, kB) of the VMA starting at ``start``."""
    return parse_smaps_vma(read_text("/proc/self/smaps"), start).get("AnonHugePages", 0)


def read_khugepaged_collapsed() -> int:
    """``khugepaged/pages_collapsed``: THPs collapsed by the khugepaged thread (not madvise)."""
    try:
        return int(read_text(THP_DIR / "khugepaged" / "pages_collapsed").strip())
    except (ProbeError, ValueError):
        return 0
