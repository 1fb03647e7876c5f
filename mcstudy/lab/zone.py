"""The pressure model calibrated from the guest's own ``/proc``, and what the guest showed.

For one pressure level, from the workload's snapshots at the start of its first window
and the end of its last (docs/lab.md):

* ``mcstudy.calibrate.calibration.calibrate()`` on the guest's ``/proc/zoneinfo`` and the
  two ``/proc/vmstat`` snapshots gives the zone (the one GFP_NOWAIT is served from), its
  managed pages and marks without boost, ``alloc_rate`` and ``free_rate``
  (docs/model.md §8.1);
* kswapd's speed while it runs: ``kswapd_rate = d pgsteal_kswapd / SWAP_CLUSTER_MAX /
  kswapd CPU seconds`` (its ``/proc/PID/stat`` utime + stime);
* the pages one direct-reclaim stall frees: ``d pgsteal_direct / d allocstall``;
* ``gather_rate``: the workload's gathers over the level's time.

The exact stationary solver of the zone chain (``mcstudy.exact.pressure``, docs/model.md
§4.8) then gives P(f <= min): the predicted GFP_NOWAIT failure probability of a gather's
first attempt and the predicted fraction of time at or below min. The guest gives both
measured: the fraction of gathers whose first attempt failed (trace), and the fraction of
zone samples with free pages at or below min (boost included, as the kernel checks).

Beside it, where the guest recorded PSI and stalled, the timed-stall chain (docs/model.md
§4.13): the same chain with stalls of mean ``mcstudy calibrate``'s PSI stall time per
stall (``psi_some_per_stall_s``: d PSI ``some`` total / d ``allocstall``), the host
study's documented stall law otherwise (exponential, ``alloc_tasks`` allocating tasks:
:func:`timed_stall_law`), solved on a truncated zone as the host study solves it
(``solve_truncated()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache

from mcstudy.calibrate.calibration import calibrate
from mcstudy.calibrate.reclaim import ReclaimInput, direct_reclaim_batch, reclaim_values
from mcstudy.calibrate.reclaim import kswapd_rate as reclaim_kswapd_rate
from mcstudy.exact.pressure import solve, solve_truncated
from mcstudy.kernel import procfs
from mcstudy.kernel.procfs_reclaim import parse_pid_stats, parse_psi
from mcstudy.kernel.watermarks import SWAP_CLUSTER_MAX
from mcstudy.lab.errors import LabError
from mcstudy.lab.guestdata import PtworkRun, Window, ZoneSample
from mcstudy.mechanisms.zone import Zone

USER_HZ = 100
"""Clock ticks per second of ``/proc/PID/stat`` (``USER_HZ``, 100 on every Linux ABI)."""


@dataclass
class ZoneCalibration:
    """One level's zone, its calibrated chain and the chain's stationary answers."""

    zone: str
    """the zone's name (``/proc/zoneinfo``)"""
    chain: Zone
    """the calibrated zone chain (``mechanisms.zone``): pages, marks without boost, rates"""
    seconds: float
    stalls_per_s: float
    """Measured direct-reclaim stalls per second (``allocstall``)."""
    kswapd_cpu_frac: float
    """Measured fraction of the time kswapd was on a CPU."""
    watermarks_match: dict[str, bool] = field(default_factory=dict)
    below_min_prob: float = math.nan
    """Predicted P(f <= min) (exact solver; NaN if the chain could not be solved)."""
    predicted_stalls_per_s: float = math.nan
    predicted_kswapd_awake: float = math.nan
    note: str = ""
    allocstalls: int = 0
    """Direct-reclaim stalls the level's ``allocstall`` counted."""
    psi_per_stall_s: float = math.nan
    """``mcstudy calibrate``'s stall time per stall: PSI ``some`` / ``allocstall`` over the
    level (NaN without PSI in the guest, or no stall)."""
    psi_is: str = ""
    """What that figure is (calibrate's ``psi_stall_time_is``)."""
    timed_chain: Zone | None = None
    """The chain with timed stalls (:func:`timed_chain`; None without a PSI stall time)."""
    timed_below_min_prob: float = math.nan
    """The timed-stall chain's P(f <= min) (NaN without it, or if it could not be solved)."""
    timed_stalls_per_s: float = math.nan
    """The timed-stall chain's stalls per second (first attempts and retries)."""
    timed_solved_pages: int = 0
    """Pages of the truncated zone the timed-stall chain was solved on."""
    timed_note: str = ""
    """Why there is no timed-stall prediction ('' if there is one)."""


def _delta(a: dict[str, int], b: dict[str, int], name: str) -> int:
    return procfs.vmstat_sum(b, name) - procfs.vmstat_sum(a, name)


def calibrate_level(run: PtworkRun, gathers: int) -> ZoneCalibration:
    """Calibrate the zone chain from one level's first and last window (LabError if the
    snapshots are missing or their zone is not a chain: marks out of order)."""
    if not run.windows:
        raise LabError("the workload recorded no window")
    first: Window = run.windows[0]
    last: Window = run.windows[-1]
    seconds = (last.end_ns - first.start_ns) * 1e-9
    vm0 = procfs.parse_vmstat(first.file("begin", "/vmstat"), "guest /proc/vmstat")
    vm1 = procfs.parse_vmstat(last.file("end", "/vmstat"), "guest /proc/vmstat")
    zoneinfo = first.file("begin", "/zoneinfo")
    cal = calibrate(zoneinfo, (vm0, vm1, seconds))  # type: ignore[arg-type]
    p = cal.params
    steal_k = _delta(vm0, vm1, "pgsteal_kswapd")
    steal_d = _delta(vm0, vm1, "pgsteal_direct")
    stalls = _delta(vm0, vm1, "allocstall")
    ticks = sum(w.kswapd_cpu_ticks() for w in run.windows)
    cpu_s = ticks / USER_HZ
    kswapd_rate = reclaim_kswapd_rate(steal_k, cpu_s)
    d = direct_reclaim_batch(steal_d, stalls)
    try:
        chain = Zone(
            managed_pages=int(p["managed_pages"]),
            wmark_min=int(p["wmark_min"]),
            wmark_low=int(p["wmark_low"]),
            wmark_high=int(p["wmark_high"]),
            alloc_rate=float(p["alloc_rate"]),
            free_rate=float(p["free_rate"]),
            kswapd_rate=kswapd_rate,
            gather_rate=gathers / seconds if seconds > 0 else 0.0,
            reclaim_batch=SWAP_CLUSTER_MAX,
            direct_reclaim_batch=d,
        )
    except ValueError as exc:
        raise LabError(
            f"the guest's zone {cal.zone.name} ({zoneinfo}) is not a zone chain: {exc}"
        ) from exc
    zc = ZoneCalibration(
        zone=cal.zone.name,
        chain=chain,
        seconds=seconds,
        stalls_per_s=stalls / seconds if seconds > 0 else 0.0,
        kswapd_cpu_frac=cpu_s / seconds if seconds > 0 else 0.0,
        watermarks_match=dict(cal.matches),
        allocstalls=stalls,
    )
    psi_stall_time(zc, first, last, vm0, vm1, seconds)
    try:
        st = solve(chain)
    except (ValueError, MemoryError) as exc:
        zc.note = f"the zone chain could not be solved: {exc}"
        return zc
    zc.below_min_prob = float(st.below_min_prob)
    zc.predicted_stalls_per_s = float(st.stalls_per_s)
    zc.predicted_kswapd_awake = float(st.kswapd_awake_prob)
    timed_prediction(zc)
    return zc


@cache
def timed_stall_law() -> tuple[int, int]:
    """(``alloc_tasks``, ``stall_phases``): the host study's documented defaults
    (``HostParams``; docs/model.md §4.13, §11.6). ``/proc`` gives the mean stall time
    (PSI), not how many tasks allocate nor the stall's shape, so the lab takes what a host
    study calibrated by ``mcstudy calibrate`` would run with."""
    from mcstudy.models.host.params import HostParams

    f = HostParams.model_fields
    return int(f["alloc_tasks"].default), int(f["stall_phases"].default)


def timed_chain(chain: Zone, stall_mean_s: float) -> Zone:
    """``chain`` with direct-reclaim stalls of mean ``stall_mean_s`` (the stall law of
    :func:`timed_stall_law`)."""
    tasks, phases = timed_stall_law()
    return replace(chain, stall_mean_s=stall_mean_s, alloc_tasks=tasks, stall_phases=phases)


@lru_cache(maxsize=32)
def solve_timed(chain: Zone) -> tuple[float, float, int]:
    """(P(f <= min), stalls per second, pages solved on) of a timed-stall chain, solved as
    the host study solves it (``solve_truncated()``); remembered per chain (a lab run and
    its cross-level predictions, or a test, ask for one chain more than once)."""
    small, st = solve_truncated(chain)
    return float(st.below_min_prob), float(st.stalls_per_s), small.managed_pages


def timed_prediction(zc: ZoneCalibration) -> None:
    """The timed-stall chain's answers for a level, where its PSI gave a stall time."""
    psi = zc.psi_per_stall_s
    if not (math.isfinite(psi) and psi > 0):
        zc.timed_note = (
            "no timed-stall prediction: no PSI stall time per stall (the guest recorded no "
            "/proc/pressure/memory, or no stall)"
        )
        return
    zc.timed_chain = timed_chain(zc.chain, psi)
    try:
        zc.timed_below_min_prob, zc.timed_stalls_per_s, zc.timed_solved_pages = solve_timed(
            zc.timed_chain
        )
    except (ValueError, MemoryError) as exc:
        zc.timed_note = f"the timed-stall chain could not be solved: {exc}"


def psi_stall_time(
    zc: ZoneCalibration,
    first: Window,
    last: Window,
    vm0: dict[str, int],
    vm1: dict[str, int],
    seconds: float,
) -> None:
    """``mcstudy calibrate``'s PSI stall time per stall (``reclaim_values()``) from the
    level's first and last ``/proc/pressure/memory`` and kswapd stat snapshots, if the guest
    recorded PSI (older runs did not)."""
    try:
        p0 = first.file("begin", "/pressure/memory")
        p1 = last.file("end", "/pressure/memory")
    except LabError:
        return
    inp = ReclaimInput(
        psi=(parse_psi(p0, "guest /proc/pressure/memory"), parse_psi(p1, "guest (after)")),
        kswapd=(
            parse_pid_stats(first.file("begin", "/stat"), "guest kswapd stat"),
            parse_pid_stats(last.file("end", "/stat"), "guest kswapd stat (after)"),
        ),
    )
    info = reclaim_values(vm0, vm1, seconds, inp).info
    if "psi_some_per_stall_s" in info:
        zc.psi_per_stall_s = float(info["psi_some_per_stall_s"])  # type: ignore[arg-type]
        zc.psi_is = str(info.get("psi_stall_time_is", ""))


def below_min_by_window(
    samples: list[ZoneSample], run: PtworkRun, zone: str
) -> list[tuple[int, int]]:
    """(samples at or below min, samples) of ``zone`` in each window of the level: free
    pages at or below the min mark as printed (boost included), what GFP_NOWAIT checks."""
    own = [s for s in samples if s.zone == zone]
    out = []
    for w in run.windows:
        lo, hi = w.start_ns / 1e6, w.end_ns / 1e6
        inside = [s for s in own if lo <= s.ms <= hi]
        out.append((sum(1 for s in inside if s.free <= s.min), len(inside)))
    return out


def towards(instant: float, timed: float, guest: float) -> str:
    """Whether the timed-stall prediction is nearer the guest's value than the
    instantaneous one (by ratio; by difference where the guest's value is 0)."""
    if not all(math.isfinite(x) for x in (instant, timed, guest)):
        return "not compared"
    if guest > 0 and instant > 0 and timed > 0:
        a, b = abs(math.log(instant / guest)), abs(math.log(timed / guest))
    else:
        a, b = abs(instant - guest), abs(timed - guest)
    way = "towards the guest" if b < a else "away from the guest" if b > a else "unchanged"
    ratio = f"x{timed / instant:.3g}" if instant > 0 else "from 0"
    return f"{ratio}, {way}" + (
        f" (the guest's {guest / timed:.3g} times it)" if 0 < timed < guest else ""
    )


def zone_notes(mib: int, zc: ZoneCalibration, time_below: float, first_fail: float) -> list[str]:
    """What the calibrated chain gets wrong at one level, and what would close the gap."""
    pred = zc.below_min_prob
    lines = []
    ratio = time_below / pred if pred > 0 else math.inf
    lines.append(
        f"{mib} MiB: time at or below min {time_below:.3f} in the guest against {pred:.2e} in "
        f"the calibrated zone chain (x{ratio:.3g}); stalls {zc.stalls_per_s:.1f}/s against "
        f"{zc.predicted_stalls_per_s:.2f}/s"
    )
    if zc.stalls_per_s > 0 and time_below > 0:
        lines.append(
            f"{mib} MiB: the chain's direct reclaim is instantaneous (docs/model.md §9.3): one "
            f"stall lifts f above min at once. In the guest {time_below:.3f} of the time below "
            f"min at {zc.stalls_per_s:.1f} stalls/s means about "
            f"{1000 * time_below / zc.stalls_per_s:.0f} ms per stall with f still at or below "
            "min: the chain needs stalls that take time (and a kswapd that is awake without "
            f"reclaiming at its full speed: it was on a CPU {zc.kswapd_cpu_frac:.2f} of the time)"
        )
    if zc.timed_chain is not None and math.isfinite(zc.timed_below_min_prob):
        t = zc.timed_chain
        moves = [
            f"{name} {towards(inst, timed, guest)}"
            for name, inst, timed, guest in (
                ("time at or below min", pred, zc.timed_below_min_prob, time_below),
                ("stalls", zc.predicted_stalls_per_s, zc.timed_stalls_per_s, zc.stalls_per_s),
                ("first-attempt failures", pred, zc.timed_below_min_prob, first_fail),
            )
        ]
        lines.append(
            f"{mib} MiB: with stalls that take time (the _timed rows: calibrate's PSI stall time "
            f"{1e3 * t.stall_mean_s:.1f} ms per stall, exponential, {t.alloc_tasks} allocating "
            f"tasks) the chain predicts {zc.timed_below_min_prob:.2e} of the time at or below "
            f"min and {zc.timed_stalls_per_s:.2f} stalls/s: " + "; ".join(moves)
        )
    elif zc.timed_note:
        lines.append(f"{mib} MiB: {zc.timed_note}")
    if time_below > 0:
        lines.append(
            f"{mib} MiB: gathers' first attempts failed {first_fail:.4f} of the time against "
            f"{time_below:.3f} of random instants: a gather of a task that allocates before it "
            "unmaps does not see the zone as a random instant does (PASTA, docs/model.md §4.1, "
            "holds for gathers independent of the zone); where the guest traced the stalls, "
            "the lines below split the gathers by whether their own task stalled just before"
        )
    return lines
