"""Reclaim dynamics from what a host exposes: PSI, the reclaim counters of /proc/vmstat,
kswapd's CPU time and khugepaged's pace (docs/model.md §8.1.1).

What each input counts (Linux source):

* ``allocstall_<zone>``: one per pass of ``do_try_to_free_pages()`` (mm/vmscan.c) for
  global, not cgroup-limit, reclaim: one per ``try_to_free_pages()``, which
  ``__perform_reclaim()`` calls from ``__alloc_pages_direct_reclaim()``
  (mm/page_alloc.c); a pass that frees nothing and retries counts again.
* ``pgscan_{kswapd,direct}``, ``pgsteal_{kswapd,direct}``: LRU pages scanned and freed
  by ``shrink_inactive_list()`` (and the multi-gen LRU's ``evict_folios()``), counted by
  who reclaims (``reclaimer_offset()``: kswapd, khugepaged, anyone else is direct) and
  only for global reclaim. Slab pages freed by the shrinkers are not in them.
  ``pgscan_direct_throttle`` counts throttled direct reclaimers
  (``throttle_direct_reclaim()``), not pages, and is left out.
* ``/proc/pressure/memory`` (kernel/sched/psi.c): ``total=`` is cumulative stall time
  in microseconds. A task is in a memory stall between ``psi_memstall_enter()`` and
  ``psi_memstall_leave()``: around direct reclaim in ``__alloc_pages_direct_reclaim()``
  (the throttle wait, ``try_to_free_pages()``, the retry and the per-CPU list drain),
  around direct compaction (``__alloc_pages_direct_compact()``), around kswapd's whole
  ``balance_pgdat()``, while waiting for a refaulting workingset page
  (``folio_wait_bit_common()``), and in cgroup ``memory.high`` throttling. ``some`` on a
  CPU is time with at least one stalled task; ``full``, time when every runnable task
  is stalled (since a late-2021 change, ``NR_MEMSTALL_RUNNING``, a task reclaiming on
  the CPU counts as stalled; before, it counted as running). The system total averages the CPUs weighted by their non-idle
  time (``collect_percpu_times()``), so one stall of ``d`` on one of ``n`` busy CPUs
  adds ``d / n``.
* ``/proc/PID/stat`` of each ``kswapd*`` kernel thread: ``utime + stime`` in USER_HZ
  ticks (fs/proc/array.c ``do_task_stat()``), the time kswapd was on a CPU.
* ``thp_collapse_alloc``: one per huge page allocated for a collapse
  (``alloc_charge_folio()`` in mm/khugepaged.c: khugepaged and ``MADV_COLLAPSE``, anon
  and file), counted before the collapse can still fail. khugepaged's pace:
  ``khugepaged_do_scan()`` scans ``pages_to_scan`` pages (``HPAGE_PMD_NR`` per PMD
  range) and then sleeps ``scan_sleep_millisecs``.

The shared formulas (:func:`kswapd_rate`, :func:`direct_reclaim_batch`) are the ones the
lab's zone calibration uses.
"""

from __future__ import annotations

import errno
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from scipy import special

from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import ProcFormatError, parse_int
from mcstudy.kernel.procfs_reclaim import (
    PidStat,
    ProcUnavailableError,
    PsiLine,
    parse_pid_stats,
    parse_psi,
    read_optional,
    vmstat_zone_sum,
)
from mcstudy.kernel.watermarks import SWAP_CLUSTER_MAX

"""Pages of one reclaim batch (include/linux/swap.h)."""
USER_HZ = 100
"""Clock ticks per second of ``/proc/PID/stat`` (100 on every Linux ABI but alpha)."""
HPAGE_PMD_NR = 512
"""Base pages per PMD-mapped huge page with 4 KiB pages (x86-64, arm64 4K)."""
KHUGEPAGED_DEFAULTS = (4096, 10000)
"""khugepaged's default ``pages_to_scan`` and ``scan_sleep_millisecs`` (mm/khugepaged.c:
``HPAGE_PMD_NR * 8`` and 10 s)."""

LIVE_PSI = Path("/proc/pressure/memory")
LIVE_PROC = Path("/proc")
LIVE_KHUGEPAGED = Path("/sys/kernel/mm/transparent_hugepage/khugepaged")
LIVE_HPAGE_PMD_SIZE = Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")

NO_PSI_DEFAULT = (
    "the memory-stall fractions and the PSI stall time per direct-reclaim stall are left "
    "out of the fragment; stall counts, pages per stall and kswapd's speed are still "
    "derived, and the zone chain keeps its documented stall law (docs/model.md §8.1.1)"
)


# ----------------------------------------------------------------- shared formulas


def kswapd_rate(steal_kswapd_pages: float, kswapd_cpu_s: float) -> float:
    """kswapd's reclaim speed while on a CPU in batches of ``SWAP_CLUSTER_MAX`` pages per
    second (the zone chain's ``kswapd_rate``): ``pgsteal_kswapd / 32 / CPU seconds``; 0
    if kswapd used no CPU time."""
    if kswapd_cpu_s <= 0:
        return 0.0
    return steal_kswapd_pages / SWAP_CLUSTER_MAX / kswapd_cpu_s


def direct_reclaim_batch(steal_direct_pages: float, stalls: float) -> int:
    """Pages one direct-reclaim stall frees, rounded, at least 1 (the zone chain's
    ``direct_reclaim_batch``): ``pgsteal_direct / allocstall``; ``SWAP_CLUSTER_MAX``, the
    target of ``try_to_free_pages()``, if no stall was seen."""
    if stalls <= 0:
        return SWAP_CLUSTER_MAX
    return max(1, round(steal_direct_pages / stalls))


def poisson_rate_interval(count: int, seconds: float) -> tuple[float, float]:
    """Two-sided 95 % (Garwood) interval of an event rate (per second) from ``count``
    events in ``seconds``, as if the events were a Poisson process."""
    lo = float(special.chdtri(2.0 * count, 0.975)) / 2.0 if count > 0 else 0.0
    hi = float(special.chdtri(2.0 * (count + 1), 0.025)) / 2.0
    return lo / seconds, hi / seconds


# ----------------------------------------------------------------- inputs


@dataclass
class KhugepagedPace:
    """khugepaged's scan pace (sysfs ``khugepaged/``) and the huge page size in pages."""

    pages_to_scan: int
    scan_sleep_ms: int
    hpage_pmd_nr: int = HPAGE_PMD_NR
    source: str = "default"

    @property
    def collapses_per_s_bound(self) -> float:
        """Most collapses per second khugepaged's pace allows: ``pages_to_scan /
        HPAGE_PMD_NR`` PMD ranges per wake, one wake per ``scan_sleep_millisecs`` (the
        time spent scanning only lowers it)."""
        if self.scan_sleep_ms <= 0:
            return math.inf
        return self.pages_to_scan / self.hpage_pmd_nr / (self.scan_sleep_ms / 1000.0)


@dataclass
class ReclaimInput:
    """The reclaim snapshots besides /proc/vmstat, taken at the vmstat snapshots."""

    psi: tuple[dict[str, PsiLine], dict[str, PsiLine]] | None = None
    psi_names: tuple[str, str] = ("/proc/pressure/memory (before)", "(after)")
    psi_missing: str | None = None
    """Why there is no PSI (the message the user sees), if there is none."""
    kswapd: tuple[list[PidStat], list[PidStat]] | None = None
    kswapd_names: tuple[str, str] = ("kswapd /proc/PID/stat (before)", "(after)")
    user_hz: int = USER_HZ
    khugepaged: KhugepagedPace | None = None


def read_psi(path: Path = LIVE_PSI) -> tuple[dict[str, PsiLine] | None, str | None]:
    """(PSI lines, None), or (None, message) if the kernel has no PSI: the file is
    missing (no ``CONFIG_PSI``, or booted with ``psi=0``) or reading it fails with
    EOPNOTSUPP (PSI disabled). A malformed file raises ``ProcFormatError``."""
    try:
        return parse_psi(path), None
    except ProcUnavailableError as exc:
        if exc.errno == errno.ENOENT:
            why = "not found (a kernel without CONFIG_PSI, or booted with psi=0)"
        else:
            code = "EOPNOTSUPP" if exc.errno in (errno.EOPNOTSUPP, errno.ENOTSUP) else exc.errno
            why = (
                f"reading it fails with {code} (PSI is "
                "disabled: CONFIG_PSI_DEFAULT_DISABLED without psi=1 on the command line)"
            )
        return None, f"no PSI: {path} {why}; {NO_PSI_DEFAULT}"


def live_kswapd(proc: Path = LIVE_PROC) -> list[PidStat]:
    """``/proc/PID/stat`` of every kernel thread whose name starts with ``kswapd`` (one
    per memory node). Tasks that exit during the scan are skipped."""
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        path = entry / "stat"
        try:
            text = path.read_text()
        except OSError:
            continue  # exited, or not ours to read
        if "(kswapd" not in text:
            continue
        (st,) = parse_pid_stats(text, str(path))
        if st.comm.startswith("kswapd") and st.kthread:
            out.append(st)
    return sorted(out, key=lambda s: s.pid)


def check_kswapd_lines(stats: list[PidStat], name: str) -> list[PidStat]:
    """``stats`` if every line is a kswapd kernel thread, else ProcFormatError naming
    the line (a copy of the wrong task's stat file gives a wrong CPU time)."""
    for st in stats:
        if not st.comm.startswith("kswapd") or not st.kthread:
            what = "not named kswapd*" if not st.comm.startswith("kswapd") else "not a kthread"
            raise ProcFormatError(
                f"{name}:{st.line}: PID {st.pid} ({st.comm}) is {what}: expected the "
                "/proc/PID/stat lines of the kswapd kernel threads only"
            )
    return stats


def read_khugepaged(
    directory: Path = LIVE_KHUGEPAGED, hpage_pmd_size: Path | None = LIVE_HPAGE_PMD_SIZE
) -> KhugepagedPace | None:
    """khugepaged's ``pages_to_scan`` and ``scan_sleep_millisecs`` (None without them:
    no THP support); the huge page size from ``hpage_pmd_size`` where readable."""
    try:
        texts = [
            (read_optional(directory / f, "sysfs integer"), str(directory / f))
            for f in ("pages_to_scan", "scan_sleep_millisecs")
        ]
    except ProcUnavailableError:
        return None
    pages, sleep = (parse_int(text, name) for text, name in texts)
    if pages < 0 or sleep < 0:
        raise ProcFormatError(f"{directory}: negative pages_to_scan or scan_sleep_millisecs")
    nr = HPAGE_PMD_NR
    if hpage_pmd_size is not None:
        try:
            size = parse_int(read_optional(hpage_pmd_size, "sysfs integer"), str(hpage_pmd_size))
            page = os.sysconf("SC_PAGE_SIZE")
            if size > 0 and page > 0 and size % page == 0:
                nr = size // page
        except (ProcUnavailableError, ValueError, OSError):
            pass
    return KhugepagedPace(pages, sleep, nr, str(directory))


# ----------------------------------------------------------------- derived values

#: units and source of every value :func:`reclaim_values` writes (for the fragment)
DOCS: dict[str, tuple[str, str]] = {
    "direct_reclaim_stalls": ("stalls", "d allocstall_* (do_try_to_free_pages passes)"),
    "direct_reclaim_stalls_per_s_95": ("stalls/s", "95 % Poisson interval of the stall rate"),
    "direct_reclaim_stalls_upper_per_s": (
        "stalls/s",
        "no stall seen: 95 % upper bound of the stall rate",
    ),
    "pages_per_direct_stall": ("pages", "d pgsteal_direct / d allocstall"),
    "direct_scan_per_stall": ("pages", "d pgscan_direct / d allocstall"),
    "direct_reclaim_batch": (
        "pages",
        "pages_per_direct_stall rounded: the chain's direct_reclaim_batch",
    ),
    "direct_reclaim_efficiency": ("fraction", "d pgsteal_direct / d pgscan_direct"),
    "kswapd_reclaim_efficiency": ("fraction", "d pgsteal_kswapd / d pgscan_kswapd"),
    "kswapd_threads": ("threads", "kswapd* kernel threads in both snapshots"),
    "kswapd_cpu_s": ("CPU s", "d (utime + stime) / USER_HZ of the kswapd threads"),
    "kswapd_cpu_frac": ("fraction of time", "kswapd_cpu_s / interval: kswapd's CPU share"),
    "kswapd_speed_pages_per_cpu_s": ("pages/CPU s", "d pgsteal_kswapd / kswapd_cpu_s"),
    "kswapd_rate": (
        "batches/s",
        "kswapd_speed / 32: the chain's kswapd_rate (awake taken as on a CPU)",
    ),
    "psi_some_frac": ("fraction of time", "d total of 'some' in /proc/pressure/memory / dt"),
    "psi_full_frac": ("fraction of time", "d total of 'full' in /proc/pressure/memory / dt"),
    "psi_some_per_stall_s": ("s", "d some total / d allocstall; see psi_stall_time_is"),
    "psi_stall_time_is": ("", "what psi_some_per_stall_s says about the mean stall time"),
    "khugepaged_collapses_per_s": ("collapses/s", "d thp_collapse_alloc / dt"),
    "khugepaged_scan_pace_per_s": (
        "collapses/s",
        "pages_to_scan / HPAGE_PMD_NR / scan_sleep_millisecs: upper bound of khugepaged",
    ),
    "khugepaged_pages_to_scan": ("pages", "khugepaged/pages_to_scan"),
    "khugepaged_scan_sleep_ms": ("ms", "khugepaged/scan_sleep_millisecs"),
    "khugepaged_collapse_rate_from": ("", "which value [params] khugepaged_collapse_rate is"),
}


@dataclass
class ReclaimValues:
    """What :func:`reclaim_values` derived: ``info`` for the ``[calibration]`` table,
    ``notes`` for the report, ``messages`` for the user (stderr)."""

    info: dict[str, float | int | str | list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


def _kswapd_cpu(
    inp: ReclaimInput, out: ReclaimValues
) -> tuple[float | None, int]:  # (CPU seconds, threads)
    if inp.kswapd is None:
        out.notes.append("kswapd's CPU time not read: its speed and CPU share are not derived")
        return None, 0
    before, after = inp.kswapd
    a = {(s.pid, s.starttime): s for s in before}
    b = {(s.pid, s.starttime): s for s in after}
    ticks = 0
    for key in sorted(a.keys() & b.keys()):
        s0, s1 = a[key], b[key]
        if s1.utime < s0.utime or s1.stime < s0.stime:
            raise ProcFormatError(
                f"{inp.kswapd_names[1]}:{s1.line}: {s1.comm} (PID {s1.pid}) utime/stime went "
                f"backwards ({s0.utime}/{s0.stime} in {inp.kswapd_names[0]}, {s1.utime}/"
                f"{s1.stime} here): are the snapshots swapped, or from two boots?"
            )
        ticks += s1.cpu_ticks - s0.cpu_ticks
    for key in sorted(a.keys() - b.keys()):
        s = a[key]
        out.notes.append(
            f"{s.comm} (PID {s.pid}) disappeared between the snapshots (node offlined?): its "
            "CPU time in the interval is unknown and left out, so kswapd_cpu_s is a lower "
            "bound and kswapd's speed an upper bound"
        )
    for key in sorted(b.keys() - a.keys()):
        s = b[key]
        out.notes.append(
            f"{s.comm} (PID {s.pid}) appeared between the snapshots: left out (kswapd_cpu_s "
            "a lower bound)"
        )
    both = len(a.keys() & b.keys())
    if both == 0:
        out.notes.append("no kswapd thread in both snapshots: kswapd's CPU time not derived")
        return None, 0
    return ticks / inp.user_hz, both


def reclaim_values(
    before: dict[str, int],
    after: dict[str, int],
    interval: float,
    inp: ReclaimInput | None = None,
) -> ReclaimValues:
    """Stall, reclaim, kswapd, PSI and khugepaged values over ``interval`` seconds
    (docs/model.md §8.1.1). Counters that went backwards, a PSI total that went
    backwards or grew faster than wall time, and kswapd CPU time that went backwards
    raise McStudyError naming the file."""
    inp = inp or ReclaimInput()
    out = ReclaimValues()
    info = out.info

    def d(prefix: str) -> int:
        return vmstat_zone_sum(after, prefix) - vmstat_zone_sum(before, prefix)

    stalls = d("allocstall")
    steal_d, scan_d = d("pgsteal_direct"), d("pgscan_direct")
    steal_k, scan_k = d("pgsteal_kswapd"), d("pgscan_kswapd")
    info["direct_reclaim_stalls"] = stalls
    if stalls > 0:
        lo, hi = poisson_rate_interval(stalls, interval)
        info["direct_reclaim_stalls_per_s_95"] = [lo, hi]
        info["pages_per_direct_stall"] = steal_d / stalls
        info["direct_scan_per_stall"] = scan_d / stalls
        info["direct_reclaim_batch"] = direct_reclaim_batch(steal_d, stalls)
    else:
        upper = poisson_rate_interval(0, interval)[1]
        info["direct_reclaim_stalls_upper_per_s"] = upper
        out.notes.append(
            f"no direct-reclaim stall seen in {interval:g} s: stall rate 0 (upper bound "
            f"{upper:.3g}/s); pages per stall and the stall time not derived"
        )
    if scan_d > 0:
        info["direct_reclaim_efficiency"] = steal_d / scan_d
    if scan_k > 0:
        info["kswapd_reclaim_efficiency"] = steal_k / scan_k

    cpu_s, threads = _kswapd_cpu(inp, out)
    if cpu_s is not None:
        info["kswapd_threads"] = threads
        info["kswapd_cpu_s"] = cpu_s
        info["kswapd_cpu_frac"] = cpu_s / interval
        if cpu_s > 0:
            info["kswapd_speed_pages_per_cpu_s"] = steal_k / cpu_s
            info["kswapd_rate"] = kswapd_rate(steal_k, cpu_s)
        elif steal_k > 0:
            out.notes.append(
                f"kswapd reclaimed {steal_k} pages in less than one clock tick of CPU time: "
                "its speed is not measured"
            )
        else:
            out.notes.append(
                "kswapd used under one clock tick of CPU time and reclaimed nothing: its "
                "speed is not measured"
            )

    _psi(inp, out, interval, stalls, cpu_s, d("compact_stall"))
    _khugepaged(inp, out, before, after, interval)
    return out


def _psi(
    inp: ReclaimInput,
    out: ReclaimValues,
    interval: float,
    stalls: int,
    kswapd_cpu_s: float | None,
    compact_stalls: int,
) -> None:
    if inp.psi is None:
        if inp.psi_missing is not None:
            out.messages.append(inp.psi_missing)
        else:
            out.notes.append("/proc/pressure/memory not given: no PSI values")
        return
    p0, p1 = inp.psi
    fracs = {}
    for kind in ("some", "full"):
        if kind not in p0 or kind not in p1:
            where = inp.psi_names[0] if kind not in p0 else inp.psi_names[1]
            raise ProcFormatError(
                f"{where}: no {kind!r} line: not a /proc/pressure/memory (its file has both)"
            )
        a, b = p0[kind], p1[kind]
        delta = b.total_us - a.total_us
        if delta < 0:
            raise ProcFormatError(
                f"{inp.psi_names[1]}:{b.line}: {kind} total went backwards ({a.total_us} us "
                f"in {inp.psi_names[0]}, {b.total_us} us here): are the snapshots swapped, "
                "or from two boots?"
            )
        frac = delta * 1e-6 / interval
        if frac > 1.1 + 0.05 / interval:
            raise McStudyError(
                f"{inp.psi_names[1]}:{b.line}: {kind} total grew by {delta * 1e-6:.4g} s in "
                f"an interval of {interval:g} s: more stall than wall time; is the interval "
                "right, and are both files from one machine?"
            )
        fracs[kind] = frac
    if fracs["full"] > fracs["some"] + 1e-6 + 0.01 / interval:
        raise McStudyError(
            f"{inp.psi_names[1]}: full stall time ({fracs['full']:.4g} of the interval) "
            f"exceeds some ({fracs['some']:.4g}); the kernel's full is a subset of some"
        )
    out.info["psi_some_frac"] = fracs["some"]
    out.info["psi_full_frac"] = fracs["full"]
    if stalls <= 0:
        return
    some_s = fracs["some"] * interval
    out.info["psi_some_per_stall_s"] = some_s / stalls
    mixed = []
    if kswapd_cpu_s is None:
        mixed.append("kswapd's CPU time unknown")
    elif kswapd_cpu_s > 0:
        mixed.append(f"kswapd ran {kswapd_cpu_s:.3g} CPU s inside balance_pgdat()")
    if compact_stalls > 0:
        mixed.append(f"{compact_stalls} direct compaction stalls")
    if mixed:
        out.info["psi_stall_time_is"] = "mixed: neither bound (" + "; ".join(mixed) + ")"
    else:
        out.info["psi_stall_time_is"] = (
            "lower bound of the mean stall time unless refaults or cgroup throttling stalled"
        )


def _khugepaged(
    inp: ReclaimInput,
    out: ReclaimValues,
    before: dict[str, int],
    after: dict[str, int],
    interval: float,
) -> None:
    if "thp_collapse_alloc" not in before or "thp_collapse_alloc" not in after:
        out.notes.append("no thp_collapse_alloc counter (a kernel without THP): no collapses")
        return
    collapses = after["thp_collapse_alloc"] - before["thp_collapse_alloc"]
    rate = collapses / interval
    out.info["khugepaged_collapses_per_s"] = rate
    pace = inp.khugepaged
    if pace is None:
        pace = KhugepagedPace(*KHUGEPAGED_DEFAULTS, source="the kernel's defaults (not read)")
    bound = pace.collapses_per_s_bound
    out.info["khugepaged_pages_to_scan"] = pace.pages_to_scan
    out.info["khugepaged_scan_sleep_ms"] = pace.scan_sleep_ms
    out.info["khugepaged_scan_pace_per_s"] = bound
    out.info["khugepaged_collapse_rate_from"] = (
        "thp_collapse_alloc: the collapses measured; the scan pace only bounds them"
    )
    if collapses == 0:
        upper = poisson_rate_interval(0, interval)[1]
        out.notes.append(
            f"no collapse seen in {interval:g} s: khugepaged_collapse_rate 0 (upper bound "
            f"{min(upper, bound):.3g}/s, the smaller of the 95 % bound and the scan pace "
            f"{bound:.3g}/s from {pace.source})"
        )
    elif rate > bound:
        out.notes.append(
            f"{rate:.3g} collapses/s exceed khugepaged's scan pace {bound:.3g}/s "
            f"({pace.source}): MADV_COLLAPSE, or a pace changed during the interval"
        )
