"""Calibration logic: the GFP_NOWAIT zone, the kernel's watermark formulas, vmstat rates.

From /proc/zoneinfo: the zone GFP_NOWAIT batch pages come from (the highest populated
zone up to ZONE_NORMAL of the node, first in the zonelist of ``gfp_zone(GFP_KERNEL)``),
its managed pages and its watermarks without the boost, and a check of every zone's
watermarks and lowmem reserves against the kernel's formulas (``mcstudy.kernel.
watermarks``). From two /proc/vmstat snapshots ``interval`` seconds apart, rates per
second:

* ``alloc_rate`` = d pgalloc_<zone> / dt (pages allocated from that zone);
* ``free_rate`` = (d pgfree - d pgsteal_kswapd - d pgsteal_direct - d pgsteal_khugepaged)
  x share / dt: frees other than by reclaim (the model's reclaim is kswapd and direct
  reclaim), attributed to the zone in proportion to its share of all allocations
  (pgfree is not per zone; in a steady state each zone frees what it allocates);
* ``thp_split_rate`` = d thp_split_pmd (thp_split before v4.5) / dt;
* ``khugepaged_collapse_rate`` = d thp_collapse_alloc / dt;
* THP faults (d thp_fault_alloc / dt) and the observed kswapd reclaim, direct-reclaim
  stalls and kswapd runs go to the ``[calibration]`` table of the fragment: they
  describe the machine but are not inputs of the pressure chain (THP fault pages are
  already in pgalloc);
* the reclaim dynamics (``mcstudy.calibrate.reclaim``): stalls, pages per stall, kswapd's
  speed and CPU share from its ``/proc/PID/stat``, PSI memory-stall fractions from
  ``/proc/pressure/memory`` read at the same two instants, khugepaged's collapses and
  scan pace, also in ``[calibration]``.

The fragment's ``[params]`` table is what ``mcstudy run --params FILE`` merges.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcstudy.calibrate.reclaim import (
    LIVE_KHUGEPAGED,
    LIVE_PROC,
    LIVE_PSI,
    USER_HZ,
    ReclaimInput,
    live_kswapd,
    read_khugepaged,
    read_psi,
    reclaim_values,
)
from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import ZoneInfo, parse_vmstat, parse_zoneinfo, vmstat_sum
from mcstudy.kernel.watermarks import (
    DEFAULT_WATERMARK_SCALE_FACTOR,
    KernelWatermarks,
    Zone,
    kernel_watermarks,
)

LIVE_ZONEINFO = Path("/proc/zoneinfo")
LIVE_VMSTAT = Path("/proc/vmstat")

Snapshots = tuple[dict[str, int], dict[str, int], float]
"""(vmstat before, vmstat after, seconds between them)."""


@dataclass
class Calibration:
    """What calibrate found (pages, pages/s, events/s)."""

    node: int
    zone: ZoneInfo
    zones: list[ZoneInfo]
    formula: KernelWatermarks | None
    formula_thp: bool
    matches: dict[str, bool]
    params: dict[str, float | int] = field(default_factory=dict)
    info: dict[str, float | int | str | list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """What could not be derived, and why (the report prints them)."""
    messages: list[str] = field(default_factory=list)
    """What the user must know (a missing PSI): printed on stderr."""


def _zone_objects(zones: list[ZoneInfo]) -> list[Zone]:
    return [Zone(z.name, z.managed_pages, z.present) for z in zones]


def compare_with_kernel(
    zones: list[ZoneInfo], watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR
) -> tuple[KernelWatermarks, bool, dict[str, bool]]:
    """Kernel formulas (THP on, then off) against the zones' marks and protections."""
    objs = _zone_objects(zones)
    best = None
    for thp in (True, False):
        kw = kernel_watermarks(objs, thp_enabled=thp, watermark_scale_factor=watermark_scale_factor)
        matches = {}
        for z, m, res in zip(zones, kw.marks, kw.lowmem_reserve, strict=True):
            ok = (z.wmark_min, z.wmark_low, z.wmark_high) == (m.min, m.low, m.high)
            if z.promo is not None:
                ok = ok and z.promo - z.boost == m.promo
            if z.protection:
                ok = ok and z.protection == res[: len(z.protection)]
            matches[z.name] = ok
        if best is None or sum(matches.values()) > sum(best[2].values()):
            best = (kw, thp, matches)
    assert best is not None
    return best


def nowait_zone(zones: list[ZoneInfo], node: int) -> ZoneInfo:
    """The zone an order-0 GFP_NOWAIT allocation on ``node`` is served from first."""
    own = [z for z in zones if z.node == node]
    if not own:
        nodes = sorted({z.node for z in zones})
        raise McStudyError(f"node {node} not in zoneinfo (nodes: {nodes})")
    for name in ("Normal", "DMA32", "DMA"):
        for z in own:
            if z.name == name and z.managed_pages > 0:
                return z
    raise McStudyError(f"node {node} has no populated DMA/DMA32/Normal zone")


MIN_INTERVAL = 1e-3
"""Shortest interval between two snapshots (s): /proc/vmstat counts whole events."""
MAX_INTERVAL = 1e7
"""Longest interval between two snapshots (s, about four months)."""
MAX_LIVE_WAIT = 3600.0
"""Longest wait between the two live snapshots (s)."""
LIVE_EXTEND_S = 60.0
"""Longest a live reading waits (s) for a page allocation to happen when the first
``--interval`` saw none."""

#: the counters the rates are made of (prefixes sum old per-zone names)
_SUMMED = (
    "pgalloc",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_khugepaged",
    "pgscan_kswapd",
    "pgscan_direct",
    "allocstall",
)
_SINGLE = (
    "pgfree",
    "thp_split_pmd",
    "thp_split",
    "thp_collapse_alloc",
    "thp_fault_alloc",
    "compact_stall",
)


def check_interval(interval: float, what: str = "--interval", most: float = MAX_INTERVAL) -> float:
    """``interval`` (s) if it is a finite time the snapshots can be apart, else
    McStudyError (NaN, infinite, 1e-300 or 1e300 make rates of no meaning)."""
    if not math.isfinite(interval) or not MIN_INTERVAL <= interval <= most:
        raise McStudyError(
            f"{what} {interval!r}: expected seconds between {MIN_INTERVAL:g} and {most:g}"
        )
    return float(interval)


def check_counters(
    before: dict[str, int], after: dict[str, int], zone: str, names: tuple[str, str]
) -> None:
    """McStudyError naming the counter if one used for the rates went backwards (the
    snapshots are swapped, from two boots, or from two machines)."""
    used = [f"pgalloc_{zone.lower()}", *_SINGLE]
    for prefix in _SUMMED:
        used += [k for k in after if k == prefix or k.startswith(prefix + "_")]
    for name in used:
        if name in before and name in after and after[name] < before[name]:
            raise McStudyError(
                f"{names[1]}: counter {name} went backwards ({before[name]} in {names[0]}, "
                f"{after[name]} here): are the snapshots swapped, or from two boots or two "
                "machines?"
            )


MAX_RATE = 1e10
"""Fastest rate (pages or events per second) a counter of /proc/vmstat can move on any
machine: 1e10 pages/s is 40 TB/s, beyond the memory bandwidth of every computer. A
faster one comes from a damaged, edited or mixed-up snapshot."""


def check_movement(
    before: dict[str, int], after: dict[str, int], zone: str, names: tuple[str, str]
) -> None:
    """McStudyError unless the snapshots can give rates: both have the zone's
    ``pgalloc_<zone>`` counter, and allocations moved between them (two identical
    snapshots, or frees without allocations, are not two readings of a running Linux)."""
    counter = f"pgalloc_{zone.lower()}"
    for snap, name in ((before, names[0]), (after, names[1])):
        if not any(k.startswith("pgalloc_") for k in snap):
            raise McStudyError(
                f"{name}: no pgalloc_<zone> counters: not a /proc/vmstat of Linux (every "
                "kernel counts the pages it allocates per zone)"
            )
        if counter not in snap:
            raise McStudyError(
                f"{name}: no {counter} counter, but zone {zone} serves the GFP_NOWAIT "
                "pages: is it the vmstat of the machine of the zoneinfo?"
            )
    if before == after:
        raise McStudyError(
            f"{names[1]}: identical to {names[0]}: no counter moved, every rate would be 0; "
            "take the second snapshot later (a running Linux allocates pages every second)"
        )
    moved_alloc = vmstat_sum(after, "pgalloc") - vmstat_sum(before, "pgalloc")
    moved_free = after.get("pgfree", 0) - before.get("pgfree", 0)
    if moved_alloc == 0:
        raise McStudyError(
            f"{names[1]}: no pgalloc_<zone> counter moved since {names[0]} (pgfree moved "
            f"by {moved_free} pages): the allocation rate would be 0; take the snapshots "
            "further apart (a quiet machine can free pages for a while without allocating "
            "any), or check that the pgalloc_* lines of one are not copied from the other"
        )


def check_rates(rates: dict[str, float], interval: float, names: tuple[str, str]) -> None:
    """McStudyError naming the first rate above ``MAX_RATE`` (a counter that jumped)."""
    for key, rate in rates.items():
        if not (key.endswith("_rate") or key.endswith("_per_s")):
            continue
        if isinstance(rate, float) and rate > MAX_RATE:
            raise McStudyError(
                f"{names[1]}: {key} = {rate:.3g} per second over {interval:g} s since "
                f"{names[0]}, above {MAX_RATE:.0e} (40 TB/s of pages, more than any "
                "machine moves): a damaged or edited snapshot, or not two readings of one "
                "machine"
            )


def vmstat_rates(
    before: dict[str, int],
    after: dict[str, int],
    interval: float,
    zone: str,
    names: tuple[str, str] = ("the first snapshot", "the second snapshot"),
) -> tuple[dict[str, float], dict[str, float | str]]:
    """(params, info) rates per second from two vmstat snapshots ``interval`` s apart;
    ``names`` name the snapshots in errors."""
    interval = check_interval(interval)
    check_counters(before, after, zone, names)
    check_movement(before, after, zone, names)

    def d(name: str) -> int:
        return vmstat_sum(after, name) - vmstat_sum(before, name)

    def d1(*names: str) -> int:
        for n in names:
            if n in after and n in before:
                return after[n] - before[n]
        return 0

    zname = zone.lower()
    alloc_zone = d1(f"pgalloc_{zname}")
    alloc_all = d("pgalloc")
    share = alloc_zone / alloc_all if alloc_all > 0 else 0.0
    reclaimed = d("pgsteal_kswapd") + d("pgsteal_direct") + d("pgsteal_khugepaged")
    natural_free = max(d1("pgfree") - reclaimed, 0)
    params = {
        "alloc_rate": alloc_zone / interval,
        "free_rate": natural_free * share / interval,
        "thp_split_rate": d1("thp_split_pmd", "thp_split") / interval,
        "khugepaged_collapse_rate": d1("thp_collapse_alloc") / interval,
    }
    info: dict[str, float | str] = {
        "interval_s": interval,
        "zone_alloc_share": share,
        "pgalloc_all_per_s": alloc_all / interval,
        "pgfree_per_s": d1("pgfree") / interval,
        "thp_fault_rate": d1("thp_fault_alloc") / interval,
        "kswapd_reclaim_pages_per_s": d("pgsteal_kswapd") / interval,
        "direct_reclaim_pages_per_s": d("pgsteal_direct") / interval,
        "direct_reclaim_stalls_per_s": d("allocstall") / interval,
        "kswapd_runs_per_s": d1("pageoutrun") / interval,
    }
    check_rates({**params, **info}, interval, names)
    return params, info


def check_zone(zone: ZoneInfo, source: str) -> None:
    """McStudyError (naming the file and the zone's line) if the zone's numbers cannot
    describe a real zone, so its pages and marks cannot parameterise the model."""
    where = f"{source}:{zone.line}: zone {zone.name} of node {zone.node}"
    managed = zone.managed_pages
    if managed < 2:
        raise McStudyError(f"{where}: {managed} managed pages; a zone to model has at least 2")
    if zone.free > managed:
        raise McStudyError(f"{where}: {zone.free} free pages exceed its {managed} managed pages")
    if zone.wmark_min < 0 or zone.wmark_high > managed:
        raise McStudyError(
            f"{where}: watermarks min {zone.wmark_min} .. high {zone.wmark_high} (without "
            f"boost) outside 0 .. {managed} managed pages"
        )


def calibrate(
    zoneinfo: Path,
    vmstat: Snapshots | None,
    node: int = 0,
    watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
    names: tuple[str, str] = ("the first snapshot", "the second snapshot"),
    reclaim: ReclaimInput | None = None,
) -> Calibration:
    """Everything ``mcstudy calibrate`` reports, from parsed files (``names``: of the
    vmstat snapshots, for errors; ``reclaim``: PSI, kswapd and khugepaged snapshots
    taken with them)."""
    zones = parse_zoneinfo(zoneinfo)
    zone = nowait_zone(zones, node)
    check_zone(zone, str(zoneinfo))
    own = [z for z in zones if z.node == node]
    formula, thp, matches = compare_with_kernel(own, watermark_scale_factor)
    cal = Calibration(node, zone, own, formula, thp, matches)
    cal.params.update(
        managed_pages=zone.managed_pages,
        wmark_min=zone.wmark_min,
        wmark_low=zone.wmark_low,
        wmark_high=zone.wmark_high,
    )
    cal.info.update(zone=zone.name, node=node, boost=zone.boost, free_pages=zone.free)
    if vmstat is not None:
        params, info = vmstat_rates(vmstat[0], vmstat[1], vmstat[2], zone.name, names)
        cal.params.update(params)
        cal.info.update(info)
        rv = reclaim_values(vmstat[0], vmstat[1], vmstat[2], reclaim)
        cal.info.update(rv.info)
        cal.notes += rv.notes
        cal.messages += rv.messages
    return cal


def live_vmstat_snapshots(
    wait: float,
    vmstat: Path = LIVE_VMSTAT,
    on_wait: Callable[[float], None] | None = None,
    most: float = LIVE_EXTEND_S,
    after_read: Callable[[], None] | None = None,
) -> Snapshots:
    """Two /proc/vmstat snapshots at least ``wait`` seconds apart and the measured
    interval (s); ``after_read()`` is called right after every vmstat read (the other
    files of the snapshot).

    A quiet machine can go a fraction of a second without allocating a page; if no
    ``pgalloc_*`` counter moved after ``wait`` s, the second snapshot is taken again
    every ``wait`` s until one moves or ``max(wait, most)`` s have passed (the measured
    interval is what the rates use). ``on_wait(wait)`` is called before each wait (a
    progress message).
    """
    check_interval(wait, most=MAX_LIVE_WAIT)
    t0 = time.monotonic()
    before = parse_vmstat(vmstat)
    if after_read is not None:
        after_read()
    limit = max(wait, most)
    while True:
        if on_wait is not None:
            on_wait(wait)
        time.sleep(wait)
        after = parse_vmstat(vmstat)
        if after_read is not None:
            after_read()
        elapsed = time.monotonic() - t0
        if vmstat_sum(after, "pgalloc") != vmstat_sum(before, "pgalloc") or elapsed >= limit:
            return before, after, elapsed


def _live_reclaim(psi: Path, proc: Path) -> tuple[dict | None, str | None, list]:
    p, missing = read_psi(psi)
    return p, missing, live_kswapd(proc)


def live_snapshots(
    wait: float,
    vmstat: Path = LIVE_VMSTAT,
    on_wait: Callable[[float], None] | None = None,
    most: float = LIVE_EXTEND_S,
    psi: Path = LIVE_PSI,
    proc: Path = LIVE_PROC,
    khugepaged: Path = LIVE_KHUGEPAGED,
) -> tuple[Snapshots, ReclaimInput]:
    """:func:`live_vmstat_snapshots` with ``/proc/pressure/memory`` and the kswapd
    threads' ``/proc/PID/stat`` read right after each vmstat snapshot, and khugepaged's
    pace (read once)."""
    reads: list[tuple[dict | None, str | None, list]] = []

    def after_read() -> None:
        reads.append(_live_reclaim(psi, proc))

    snaps = live_vmstat_snapshots(wait, vmstat, on_wait, most, after_read)
    (p0, missing, k0), (p1, _, k1) = reads[0], reads[-1]
    try:
        hz = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        hz = USER_HZ
    inp = ReclaimInput(
        psi=(p0, p1) if p0 is not None and p1 is not None else None,
        psi_names=(f"{psi} (before)", f"{psi} (after)"),
        psi_missing=missing,
        kswapd=(k0, k1),
        kswapd_names=(f"{proc}/PID/stat (before)", f"{proc}/PID/stat (after)"),
        user_hz=hz if hz > 0 else USER_HZ,
        khugepaged=read_khugepaged(khugepaged),
    )
    return snaps, inp
