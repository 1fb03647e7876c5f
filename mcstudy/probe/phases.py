"""The experiments, run inside the pinned single-threaded worker process.

Every phase is one measurement window around a piece of work, followed by ``baselines``
windows of the same length in which the worker spins in user space (the CPU stays busy,
no system calls, no memory work): their counts are the background that is subtracted.

A window reads, in this order: counters (after ``stat_refresh``), ``/proc/interrupts``,
*work*, ``/proc/interrupts``, then waits for RCU (:func:`syscalls.settle`) and reads the
counters again. IPIs are therefore counted over the work alone, and page tables freed
by ``call_rcu()`` have left ``PageTables`` when it is read.

Address-space layout: every region is placed at a fixed address in a 512 GiB slot with
no other mapping in it or in the slots on either side, so the page-table situation is
known exactly: the first fault in the slot allocates a PUD table and a PMD table per
1 GiB, and ``free_pgtables()`` sees floor/ceiling outside the slot ("isolated"), or the
two ``PROT_NONE`` guard pages placed against the region ("adjacent").

Phases:

* ``thp_fault``: ``thps`` x 2 MiB, ``MADV_HUGEPAGE``, one write per 2 MiB: THP faults,
  each depositing a PTE table (``__do_huge_pmd_anonymous_page()``).
* ``thp_split``: ``munmap`` of one 4 KiB page in the middle of every THP: each PMD is
  split and its deposit becomes the live PTE table (``__split_huge_pmd_locked()``).
* ``collapse``: ``thps`` x 2 MiB populated with 4 KiB pages, then one
  ``madvise(MADV_COLLAPSE)`` over all of it (one call, so ``madvise_collapse()``'s
  ``lru_add_drain_all()`` runs once): ``collapse_huge_page()`` per 2 MiB, each with one
  ``tlb_remove_table_sync_one()``.
* ``populate_4k_<case>`` / ``munmap_4k_<case>``: a region of known size and offset in 4 KiB
  pages (``MADV_NOHUGEPAGE``), every page written, then unmapped in one ``munmap``;
  ``<case>`` is ``isolated`` or ``adjacent`` (guard VMAs at both ends).
"""

from __future__ import annotations

import errno as _errno
import time
from collections.abc import Callable
from typing import Any

from mcstudy.probe import procstats
from mcstudy.probe.errors import ProbeError
from mcstudy.probe.layout import free_slot, gap_around
from mcstudy.probe.syscalls import (
    MADV_COLLAPSE,
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    PAGE_SIZE,
    PROT_NONE,
    Toucher,
    madvise,
    madvise_errno,
    membarrier_supported,
    mmap_anon,
    munmap,
    settle,
)

PMD_SIZE = 2 << 20
SLOT = 512 << 30  # one PUD table maps 512 GiB (x86-64 4-level, arm64 4 KiB pages)
SLOT_LOW = 1 << 40
SLOT_HIGH = 1 << 47

VMSTAT_KEYS = (
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_split_pmd",
    "thp_collapse_alloc",
    "thp_collapse_alloc_failed",
    "thp_deferred_split_page",
)
COUNTER_NAMES = ("VmPTE_kB", "PageTables_kB", *VMSTAT_KEYS, "khugepaged_pages_collapsed")


class Meter:
    """Measures windows: counter and per-CPU IPI deltas around a piece of work."""

    def __init__(self, refresh: bool, membarrier: bool) -> None:
        self.refresh = refresh
        self.membarrier = membarrier

    def counters(self) -> dict[str, int]:
        if self.refresh:
            procstats.stat_refresh()
        vm = procstats.read_vmstat()
        return {
            "VmPTE_kB": procstats.read_vmpte_kb(),
            "PageTables_kB": procstats.read_meminfo().get("PageTables", 0),
            **{k: vm.get(k, 0) for k in VMSTAT_KEYS},
            "khugepaged_pages_collapsed": procstats.read_khugepaged_collapsed(),
        }

    def measure(self, work: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
        """Run ``work`` inside a window; (window deltas, work's return value)."""
        c0 = self.counters()
        i0 = procstats.read_interrupts()
        t0 = time.perf_counter()
        result = work()
        t1 = time.perf_counter()
        i1 = procstats.read_interrupts()
        settle(self.membarrier)
        c1 = self.counters()
        if i0.cpus != i1.cpus:
            raise ProbeError("a CPU went on- or offline during the probe; run it again")
        window = {
            "seconds": t1 - t0,
            "cal": [b - a for a, b in zip(i0.function_call, i1.function_call, strict=True)],
            "tlb": [b - a for a, b in zip(i0.tlb_shootdown, i1.tlb_shootdown, strict=True)],
            "counters": {k: c1[k] - c0[k] for k in COUNTER_NAMES},
        }
        return window, result

    def baselines(self, seconds: float, count: int) -> list[dict[str, Any]]:
        """``count`` no-work windows of ``seconds`` each (the worker spins in user space)."""

        def spin() -> None:
            deadline = time.perf_counter() + seconds
            while time.perf_counter() < deadline:
                pass

        return [self.measure(spin)[0] for _ in range(count)]


def _record(name: str, window: dict, baselines: list[dict], **facts: Any) -> dict[str, Any]:
    return {"name": name, "window": window, "baselines": baselines, "facts": facts}


def _thps_in(start: int) -> int:
    return procstats.read_anon_huge_kb(start) * 1024 // PMD_SIZE


def _step(what: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except OSError as exc:
        raise ProbeError(f"{what} failed: {exc.strerror or exc}") from None


def warm_up(slot: int, size: int) -> None:
    """Fault ``size`` bytes of THPs once and free them, outside any window.

    In a virtual machine the first touch of guest memory the host has not backed yet
    costs a host page fault per page, which makes the first THP faults ~10x slower; the
    baseline windows, as long as the phase, would then dominate the probe's run time.
    The memory freed here is what the measured faults get back, already backed.
    """
    start = _step("mapping the warm-up region", lambda: mmap_anon(size, slot))
    _step("MADV_HUGEPAGE", lambda: madvise(start, size, MADV_HUGEPAGE))
    touch = Toucher(start, size, PMD_SIZE)
    touch()
    touch.release()
    _step("unmapping the warm-up region", lambda: munmap(start, size))


def thp_fault_and_split(meter: Meter, slot: int, thps: int, k: int) -> list[dict[str, Any]]:
    """The ``thp_fault`` and ``thp_split`` phases on one region."""
    size = thps * PMD_SIZE
    warm_up(slot, size)
    start = _step("mapping the THP region", lambda: mmap_anon(size, slot))
    _step("MADV_HUGEPAGE", lambda: madvise(start, size, MADV_HUGEPAGE))
    touch = Toucher(start, size, PMD_SIZE)
    window, _ = meter.measure(touch)
    touch.release()
    mapped = _thps_in(start)
    if mapped == 0:
        munmap(start, size)
        raise ProbeError(
            f"none of the {thps} THP faults got a huge page (thp_fault_fallback "
            f"+{window['counters']['thp_fault_fallback']}): the kernel could not allocate "
            "2 MiB pages here; the probe does not force reclaim or compaction"
        )
    fault = _record(
        "thp_fault",
        window,
        meter.baselines(window["seconds"], k),
        start=start,
        end=start + size,
        thps_requested=thps,
        thps_mapped=mapped,
    )
    holes = [start + i * PMD_SIZE + PMD_SIZE // 2 for i in range(thps)]

    def split() -> None:
        for hole in holes:
            munmap(hole, PAGE_SIZE)

    window, _ = _step("munmap of a 4 KiB page inside each THP", lambda: meter.measure(split))
    _step("unmapping the THP region", lambda: munmap(start, size))
    split_rec = _record(
        "thp_split",
        window,
        meter.baselines(window["seconds"], k),
        start=start,
        end=start + size,
        holes=thps,
        hole_offset=PMD_SIZE // 2,
        thps_split=mapped,
    )
    return [fault, split_rec]


def collapse(meter: Meter, slot: int, thps: int, k: int, thp_mode: str) -> dict[str, Any]:
    """The ``collapse`` phase: one MADV_COLLAPSE over ``thps`` 4 KiB-populated 2 MiB ranges."""
    size = thps * PMD_SIZE
    start = _step("mapping the collapse region", lambda: mmap_anon(size, slot))
    if thp_mode == "always":
        # fault in 4 KiB pages, then lift VM_NOHUGEPAGE, which MADV_COLLAPSE refuses
        _step("MADV_NOHUGEPAGE", lambda: madvise(start, size, MADV_NOHUGEPAGE))
    touch = Toucher(start, size, PAGE_SIZE)
    touch()
    touch.release()
    if thp_mode == "always":
        _step("MADV_HUGEPAGE", lambda: madvise(start, size, MADV_HUGEPAGE))
    before = _thps_in(start)
    window, err = meter.measure(lambda: madvise_errno(start, size, MADV_COLLAPSE))
    after = _thps_in(start)
    _step("unmapping the collapse region", lambda: munmap(start, size))
    collapsed = after - before
    if collapsed <= 0:
        name = _errno.errorcode.get(err, str(err)) if err else "no error"
        raise ProbeError(
            f"MADV_COLLAPSE collapsed none of {thps} ranges ({name}): this kernel does not "
            "collapse anonymous memory on request"
        )
    return _record(
        "collapse",
        window,
        meter.baselines(window["seconds"], k),
        start=start,
        end=start + size,
        ranges=thps,
        thps_before=before,
        thps_after=after,
        collapsed=collapsed,
        madvise_errno=err,
    )


def munmap_4k(
    meter: Meter, slot: int, size: int, offset: int, neighbours: str, k: int
) -> list[dict[str, Any]]:
    """``populate_4k_<neighbours>`` and ``munmap_4k_<neighbours>`` on one 4 KiB-page region."""
    start = slot + offset
    end = start + size
    guards = []
    if neighbours == "adjacent":
        for g in (start - PAGE_SIZE, end):
            guards.append(
                _step("mapping a guard page", lambda g=g: mmap_anon(PAGE_SIZE, g, PROT_NONE))
            )
    elif neighbours != "isolated":
        raise ValueError(f"unknown neighbours {neighbours!r}")
    _step("mapping the 4 KiB region", lambda: mmap_anon(size, start))
    _step("MADV_NOHUGEPAGE", lambda: madvise(start, size, MADV_NOHUGEPAGE))
    touch = Toucher(start, size, PAGE_SIZE)
    window, _ = meter.measure(touch)
    touch.release()
    geometry = {
        "start": start,
        "end": end,
        "size": size,
        "offset": offset,
        "neighbours": neighbours,
    }
    populate = _record(
        f"populate_4k_{neighbours}", window, meter.baselines(window["seconds"], k), **geometry
    )
    floor, ceiling = gap_around(procstats.read_maps(), start, end)
    window, _ = _step(
        "munmap of the 4 KiB region", lambda: meter.measure(lambda: munmap(start, size))
    )
    unmap = _record(
        f"munmap_4k_{neighbours}",
        window,
        meter.baselines(window["seconds"], k),
        floor=floor,
        ceiling=ceiling,
        **geometry,
    )
    for g in guards:
        _step("unmapping a guard page", lambda g=g: munmap(g, PAGE_SIZE))
    return [populate, unmap]


def run_phases(cfg: dict[str, Any]) -> dict[str, Any]:
    """Run every phase; ``cfg`` has thps, baselines, munmap_bytes, munmap_offset, thp_mode."""
    threads = procstats.read_threads()
    if threads != 1:
        raise ProbeError(f"the probe worker must be single-threaded (it has {threads} threads)")
    meter = Meter(procstats.stat_refresh_writable(), membarrier_supported())
    slot = free_slot(procstats.read_maps(), SLOT, SLOT_LOW, SLOT_HIGH, margin=SLOT)
    if slot is None:
        raise ProbeError("no free 512 GiB slot in the address space to place the probe regions")
    k = int(cfg["baselines"])
    thps = int(cfg["thps"])
    phases = thp_fault_and_split(meter, slot, thps, k)
    phases.append(collapse(meter, slot, thps, k, cfg["thp_mode"]))
    for neighbours in ("isolated", "adjacent"):
        phases += munmap_4k(
            meter, slot, int(cfg["munmap_bytes"]), int(cfg["munmap_offset"]), neighbours, k
        )
    return {
        "cpus": list(procstats.read_interrupts().cpus),
        "slot": slot,
        "stat_refresh": meter.refresh,
        "membarrier_settle": meter.membarrier,
        "threads": threads,
        "phases": phases,
    }
