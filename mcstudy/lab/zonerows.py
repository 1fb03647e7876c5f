"""The zone phase's rows: the calibrated zone chain (:mod:`mcstudy.lab.zone`) against what
the guest's zone did (docs/lab.md §3, §5).

Kept quantities (earlier datasets stay comparable): ``nowait_fail_prob`` (the
allocate-then-unmap workload's gathers whose first batch-page attempt failed),
``time_below_min_frac`` (the fast zone sampler where the guest ran it, else the 100 ms
samples), ``stalls_per_s`` (the stall trace where the kernel has the vmscan tracepoints,
else ``allocstall``). Added where the guest recorded them: the stall rows
(``mean_stall_ms``, ``stall_cv``, ``pages_per_stall``, ``stall_reclaim_position``) and the
rows of the zone-independent workload (``nowait_fail_prob_independent``,
``time_below_min_frac_independent``). Where the guest recorded PSI, each row the chain's
P(f <= min) or stall rate predicts has a twin with the suffix ``_timed`` (same
measurement, same noise), predicted by the timed-stall chain (:func:`mcstudy.lab.zone.
timed_prediction`), after the level's other rows.

Noise: between-batch standard errors over the level's time (:func:`mcstudy.lab.zonetrace.
batches`), or over the workload's blocks for gather fractions, floored by Wilson's
interval for proportions; the CV by a batch bootstrap.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from mcstudy.lab.checks import LabCheck, LevelData, _row, _t, stat_background, wilson_floor
from mcstudy.lab.errors import LabError
from mcstudy.lab.guestdata import Gather, PtworkRun
from mcstudy.lab.zone import ZoneCalibration, below_min_by_window
from mcstudy.lab.zonetrace import (
    Stall,
    batches,
    bootstrap_sd,
    cv,
    own_stall_before,
    reclaim_position,
    stall_law,
)
from mcstudy.stats.ratio import ratio_of_sums

STALL_ROWS = {
    "mean_stall_ms": ("mean direct-reclaim stall", "ms"),
    "stall_cv": ("coefficient of variation of the stall time", "sd/mean"),
    "pages_per_stall": ("pages reclaimed per direct-reclaim stall", "pages/stall"),
    "stall_reclaim_position": ("where in a stall its LRU pages are freed (0 begin, 1 end)", "s/s"),
}
"""The stall rows: quantity -> (label, unit)."""

TIMED = "_timed"
"""Suffix of the rows the timed-stall chain predicts."""
CHAIN_ROWS = {
    "nowait_fail_prob": "below_min",
    "time_below_min_frac": "below_min",
    "time_below_min_frac_unboosted": "below_min",
    "stalls_per_s": "stalls",
    "nowait_fail_prob_independent": "below_min",
    "time_below_min_frac_independent": "below_min",
}
"""The rows the zone chain's law predicts, and which of its answers: P(f <= min) (a gather
independent of the zone sees it by PASTA) or the stalls per second."""


def unmeasured(phase: str, quantity: str, basis: str, level: float, why: str) -> LabCheck:
    """A stall row this kernel cannot measure (no number, no verdict: ``why``)."""
    label, unit = STALL_ROWS[quantity]
    bg = stat_background(0.0, 1, level)
    r = _row(phase, quantity, label, unit, "stall trace", basis, math.nan, math.nan, bg, "zone")
    return replace(r, not_measurable=why)


def span_of(run: PtworkRun) -> tuple[float, float]:
    """The run's first window start and last window end, seconds (CLOCK_MONOTONIC)."""
    return run.windows[0].start_ns * 1e-9, run.windows[-1].end_ns * 1e-9


def _ratio(pairs: list[tuple[float, float]]):
    return ratio_of_sums(
        float(sum(x for x, _ in pairs)),
        float(sum(y for _, y in pairs)),
        float(sum(x * x for x, _ in pairs)),
        float(sum(y * y for _, y in pairs)),
        float(sum(x * y for x, y in pairs)),
        len(pairs),
    )


def stalls_in(lv: LevelData, t0: float, t1: float) -> list[Stall]:
    if lv.stalls is None:
        return []
    return [s for s in lv.stalls.stalls if t0 <= s.start <= t1]


def first_fail_batches(gathers: list[Gather], t0: float, t1: float) -> tuple[list, str]:
    """(per-batch (first attempts failed, gathers), how) over the level's time."""
    b = batches(
        t0, t1, [(g.start, float(bool(g.attempts and g.attempts[0].failed)), 1.0) for g in gathers]
    )
    return [p for p in b.pairs if p[1] > 0], f"{b.n} batches of {b.seconds:.2f} s"


def zone_rows(lv: LevelData, level: float) -> list[LabCheck]:
    """One pressure level: the calibrated zone chain against the guest's zone."""
    zc = lv.calibration
    if zc is None:
        return []
    phase = f"zone {lv.mib} MiB"
    z = zc.chain
    basis = (
        f"zone chain (docs/model.md §4.8) calibrated from the guest: N={z.managed_pages}, "
        f"min/low/high={z.wmark_min}/{z.wmark_low}/{z.wmark_high}, "
        f"alloc {z.alloc_rate:.0f}/s, free {z.free_rate:.0f}/s, kswapd {z.kswapd_rate:.0f} "
        f"batches/s, D={z.direct_reclaim_batch}, stalls instantaneous"
    )
    if zc.note:
        basis += f"; {zc.note}"
    rows: list[LabCheck] = []

    def row(quantity, label, unit, source, pairs, predicted, proportion=True, how=basis):
        r = _ratio(pairs)
        sx, sy = sum(x for x, _ in pairs), sum(y for _, y in pairs)
        floor = wilson_floor(int(sx), int(sy), level) if proportion and sy > 0 else 0.0
        bg = stat_background(r.stderr, len(pairs), level, floor)
        rows.append(
            _row(phase, quantity, label, unit, source, how, predicted, r.estimate, bg, "zone")
        )

    p_min = zc.below_min_prob
    t0, t1 = span_of(lv.run)
    pairs, how = first_fail_batches(lv.gathers, t0, t1)
    row(
        "nowait_fail_prob",
        "gathers whose first batch-page attempt fails",
        "1/gather",
        f"trace: first attempt of each gather of the allocate-then-unmap workload; {how}",
        pairs,
        p_min,
    )
    time_row(lv, zc, t0, t1, "", row, p_min)
    trace_stalls = stalls_in(lv, t0, t1)
    if lv.stalls is not None:
        b = batches(t0, t1, [(s.start, 1.0, 0.0) for s in trace_stalls])
        row(
            "stalls_per_s",
            "direct-reclaim stalls",
            "stalls/s",
            f"stall trace: mm_vmscan_direct_reclaim_begin of every task ({len(trace_stalls)} "
            f"stalls; allocstall counted {zc.allocstalls}), {b.n} batches of {b.seconds:.2f} s",
            [(x, b.seconds) for x, _ in b.pairs],
            zc.predicted_stalls_per_s,
            proportion=False,
        )
        stall_rows(trace_stalls, zc, t0, t1, level, row, rows, phase, basis)
        lru = lv.stall_missing.get("vmscan/mm_vmscan_lru_shrink_inactive", "")
        if trace_stalls and lru:
            rows.append(unmeasured(phase, "stall_reclaim_position", basis, level, lru))
    else:
        row(
            "stalls_per_s",
            "direct-reclaim stalls",
            "stalls/s",
            "vmstat allocstall",
            [(w.vmstat_delta("allocstall"), w.seconds) for w in lv.run.windows if w.seconds > 0],
            zc.predicted_stalls_per_s,
            proportion=False,
        )
        why = "; ".join(v for k, v in lv.stall_missing.items() if "direct_reclaim" in k and v)
        if why:
            rows += [unmeasured(phase, q, basis, level, why) for q in STALL_ROWS]
    if lv.indep is not None:
        run, blocks = lv.indep
        i0, i1 = span_of(run)
        pairs, how = first_fail_batches([g for b in blocks for g in b], i0, i1)
        row(
            "nowait_fail_prob_independent",
            "zone-independent gathers whose first batch-page attempt fails",
            "1/gather",
            "trace: first attempt of each gather of the independent workload (munmaps at "
            f"exponential gaps of page tables mapped before the churn); {how}",
            pairs,
            p_min,
            how=basis + "; PASTA: an independent gather sees the time fraction at or below min",
        )
        time_row(lv, zc, i0, i1, "_independent", row, p_min)
    return rows + timed_rows(rows, zc)


def timed_basis(zc: ZoneCalibration) -> str:
    """How the timed-stall chain was calibrated and solved."""
    t = zc.timed_chain
    assert t is not None
    return (
        f"timed-stall zone chain (docs/model.md §4.13): the chain above with stalls of mean "
        f"{1e3 * t.stall_mean_s:.1f} ms (mcstudy calibrate's PSI some / allocstall, "
        f"{zc.psi_is}), Erlang shape {t.stall_phases}, "
        f"{t.alloc_tasks} allocating tasks (the host study's defaults), solved on "
        f"{zc.timed_solved_pages} of its {t.managed_pages} pages (solve_truncated)"
    )


def timed_rows(rows: list[LabCheck], zc: ZoneCalibration) -> list[LabCheck]:
    """The ``_timed`` twin of each row of :data:`CHAIN_ROWS` (none without a timed-stall
    chain): the same measurement and noise, the timed-stall chain's prediction."""
    if zc.timed_chain is None:
        return []
    answer = {"below_min": zc.timed_below_min_prob, "stalls": zc.timed_stalls_per_s}
    how = timed_basis(zc) + (f"; {zc.timed_note}" if zc.timed_note else "")
    return [
        replace(
            r,
            quantity=r.quantity + TIMED,
            label=r.label + " [timed stalls]",
            basis=how,
            predicted=float(answer[CHAIN_ROWS[r.quantity]]),
        )
        for r in rows
        if r.quantity in CHAIN_ROWS and not r.not_measurable
    ]


def time_row(lv: LevelData, zc: ZoneCalibration, t0, t1, suffix, row, predicted) -> None:
    """``time_below_min_frac`` (+ suffix) over [t0, t1]: the fast sampler's bins, else (no
    suffix only) the 100 ms samples per window."""
    label = "time with free pages <= min (boosted)"
    own = [q for q in lv.watch if q.zone == zc.zone and t0 <= q.end_ms * 1e-3 <= t1]
    if own:
        b = batches(t0, t1, [(q.end_ms * 1e-3, float(q.below), float(q.samples)) for q in own])
        n = sum(q.samples for q in own)
        entries = sum(q.entries for q in own)
        frac = sum(q.below for q in own) / n if n else math.nan
        mean_ms = 1e3 * frac * (t1 - t0) / entries if entries else math.nan
        row(
            "time_below_min_frac" + suffix,
            label + (" (independent workload's span)" if suffix else ""),
            "s/s",
            f"fast sampler: /proc/zoneinfo ({zc.zone}) {n / (t1 - t0):.0f} times/s, {n} samples, "
            f"{entries} entries below min (mean stay {mean_ms:.1f} ms); {b.n} batches of "
            f"{b.seconds:.2f} s",
            [p for p in b.pairs if p[1] > 0],
            predicted,
        )
        if not suffix and all(q.unboosted >= 0 for q in own):
            u = batches(
                t0, t1, [(q.end_ms * 1e-3, float(q.unboosted), float(q.samples)) for q in own]
            )
            row(
                "time_below_min_frac_unboosted",
                "time with free pages <= min without the boost",
                "s/s",
                f"fast sampler: /proc/zoneinfo ({zc.zone}), free <= min - boost; {u.n} batches "
                f"of {u.seconds:.2f} s",
                [p for p in u.pairs if p[1] > 0],
                predicted,
            )
    elif lv.samples and not suffix:
        per = below_min_by_window(lv.samples, lv.run, zc.zone)
        row(
            "time_below_min_frac",
            label,
            "s/s",
            f"samples of /proc/zoneinfo ({zc.zone}) every few ms",
            [p for p in per if p[1]],
            predicted,
        )


def stall_rows(stalls: list[Stall], zc, t0, t1, level, row, rows, phase, basis) -> None:
    """Mean stall time, its CV, pages per stall, where within a stall its pages are freed."""
    if not stalls:
        return
    items = [(s.start, s.seconds, 1.0) for s in stalls]
    b = batches(t0, t1, items)
    q = np.quantile([s.seconds * 1e3 for s in stalls], [0.1, 0.5, 0.9, 0.99])
    qtext = "quantiles 10/50/90/99 %: " + "/".join(f"{v:.2f}" for v in q) + " ms"
    psi = zc.psi_per_stall_s
    row(
        "mean_stall_ms",
        "mean direct-reclaim stall",
        "ms",
        f"stall trace: begin to end of each stall, {len(stalls)} stalls ({qtext}); "
        f"{b.n} batches of {b.seconds:.2f} s",
        [(1e3 * x, y) for x, y in b.pairs],
        1e3 * psi if math.isfinite(psi) else math.nan,
        proportion=False,
        how=(
            f"mcstudy calibrate's stall time from the level's /proc: PSI some / allocstall "
            f"({zc.psi_is})"
            if math.isfinite(psi)
            else "no PSI in the guest (/proc/pressure/memory): no calibrated stall time"
        ),
    )
    # CV: batch bootstrap of the sample CV
    idx = np.clip(
        ((np.array([s.start for s in stalls]) - t0) / (t1 - t0) * b.n).astype(int), 0, b.n - 1
    )
    dur = np.array([s.seconds for s in stalls])
    groups = [dur[idx == i] for i in range(b.n)]
    sd = bootstrap_sd(groups, cv)
    c = cv(dur)
    m = 1.0 / (c * c) if c > 0 else math.nan
    half = _t(level, b.n - 1) * sd if math.isfinite(sd) else math.nan
    bg = stat_background(sd, b.n, level) if math.isfinite(half) else stat_background(0.0, 1, level)
    rows.append(
        _row(
            phase,
            "stall_cv",
            "coefficient of variation of the stall time",
            "sd/mean",
            f"stall trace, {len(stalls)} stalls (Erlang shape 1/CV^2 = {m:.2f}); noise: "
            f"bootstrap of {b.n} batches",
            "the chain's stall law: exponential (stall_phases = 1), CV 1",
            1.0,
            c,
            bg,
            "zone",
        )
    )
    row(
        "pages_per_stall",
        "pages reclaimed per direct-reclaim stall",
        "pages/stall",
        f"stall trace: nr_reclaimed of mm_vmscan_direct_reclaim_end (LRU and slab pages), "
        f"{b.n} batches",
        [
            (float(x), y)
            for x, y in batches(t0, t1, [(s.start, s.reclaimed, 1.0) for s in stalls]).pairs
        ],
        zc.chain.direct_reclaim_batch,
        proportion=False,
        how="the chain's direct_reclaim_batch: pgsteal_direct / allocstall (vmstat, LRU pages)",
    )
    passes = [s for s in stalls if s.passes]
    if passes:
        pb = batches(t0, t1, [(s.start, *reclaim_position([s])) for s in passes])
        row(
            "stall_reclaim_position",
            "where in a stall its LRU pages are freed (0 begin, 1 end)",
            "s/s",
            f"stall trace: mm_vmscan_lru_shrink_inactive within each stall, pages-weighted "
            f"({sum(len(s.passes) for s in passes)} LRU passes in {len(passes)} stalls); "
            f"{pb.n} batches",
            [p for p in pb.pairs if p[1] > 0],
            1.0,
            proportion=False,
            how="the chain (docs/model.md §4.13): a stall's pages land at its end",
        )


def trace_notes(lv: LevelData) -> list[str]:
    """What the stall trace, the fast sampler and the two workloads say at one level."""
    zc = lv.calibration
    if zc is None or lv.stalls is None:
        return []
    t0, t1 = span_of(lv.run)
    st = stalls_in(lv, t0, t1)
    mib = lv.mib
    lines = []
    if st:
        dur = np.array([s.seconds for s in st])
        by_task: dict[str, int] = {}
        for s in st:
            by_task[s.task] = by_task.get(s.task, 0) + 1
        tasks = ", ".join(f"{k} {v}" for k, v in sorted(by_task.items(), key=lambda kv: -kv[1]))
        num, den = reclaim_position(st)
        pos = num / den if den else math.nan
        where = "spread over the stall" if pos < 0.85 else "mostly at its end"
        lines.append(
            f"{mib} MiB: {len(st)} stalls ({tasks}), mean {1e3 * dur.mean():.1f} ms, CV "
            f"{cv(dur):.2f}: {stall_law(cv(dur))}; a stall's LRU pages are freed {where} "
            f"(pages-weighted position {pos:.2f}, 1 = end)"
        )
    dep = own_stall_before(lv.gathers, lv.stalls.stalls)
    if dep:
        lines.append(fail_split(mib, "allocate-then-unmap", lv.gathers, dep))
    if lv.indep is not None:
        gs = [g for b in lv.indep[1] for g in b]
        lines.append(fail_split(mib, "independent", gs, own_stall_before(gs, lv.stalls.stalls)))
    ht = highatomic_blocks(lv.run, zc.zone)
    if ht is not None:
        why = (
            ": their free pages are not usable by blocking allocations "
            "(__zone_watermark_unusable_free()), which can then stall above the printed min"
            if max(ht)
            else " (none reserved)"
        )
        lines.append(
            f"{mib} MiB: HighAtomic pageblocks of {zc.zone} (/proc/pagetypeinfo) {ht[0]} at the "
            f"level's start, {ht[1]} at its end{why}"
        )
    boosted = [s for s in lv.samples if s.zone == zc.zone and t0 * 1e3 <= s.ms <= t1 * 1e3]
    if boosted:
        nb = sum(1 for s in boosted if s.boost > 0)
        lines.append(
            f"{mib} MiB: the zone's watermarks were boosted in {nb} of {len(boosted)} 100 ms "
            f"samples (boost up to {max(s.boost for s in boosted)} pages, min "
            f"{zc.chain.wmark_min} without it); the chain has no boost (the exact solver "
            "lacks it), so its min is lower than the mark GFP_NOWAIT checked"
        )
    return lines


def fail_split(mib: int, name: str, gathers: list[Gather], own: list[bool]) -> str:
    """First-attempt failures of gathers that followed their own task's stall and of the rest."""
    srt = sorted(gathers, key=lambda g: g.start)
    a = [g for g, o in zip(srt, own, strict=True) if o]
    b = [g for g, o in zip(srt, own, strict=True) if not o]

    def frac(gs):
        n = len(gs)
        k = sum(1 for g in gs if g.attempts and g.attempts[0].failed)
        return f"{k}/{n}" + (f" = {k / n:.3f}" if n else "")

    return (
        f"{mib} MiB, {name} workload: {len(a)} of {len(srt)} gathers came right after a "
        f"direct-reclaim stall of their own task (first attempt failed {frac(a)}), the others "
        f"failed {frac(b)}"
    )


def highatomic_blocks(run: PtworkRun, zone: str) -> tuple[int, int] | None:
    """HighAtomic pageblocks of ``zone`` in the level's first and last /proc/pagetypeinfo
    (None where the guest did not record it)."""
    out = []
    for w, edge in ((run.windows[0], "begin"), (run.windows[-1], "end")):
        try:
            text = w.file(edge, "/pagetypeinfo")
        except LabError:
            return None
        cols: list[str] = []
        value = None
        for line in text.splitlines():
            if line.startswith("Number of blocks type"):
                cols = line.split()[4:]
            elif cols and line.startswith("Node") and line.split()[3] == zone:
                counts = line.split()[4:]
                if "HighAtomic" in cols and len(counts) == len(cols):
                    value = int(counts[cols.index("HighAtomic")])
        if value is None:
            return None
        out.append(value)
    return out[0], out[1]
