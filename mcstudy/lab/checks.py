"""The lab's rows: each measurement of the guest against the model's prediction.

Rows are :class:`mcstudy.probe.checks.Check` records (the probe's long format: measured,
predicted, noise half-width, agrees), with the lab's own scope:

* ``this mm``: counted in the workload's own gathers by the trace (exact: noise 0);
* ``other CPUs``: the sync-IPI callback on the CPUs that did not send the round, with the
  background of the no-work windows subtracted (the probe's noise model,
  :func:`mcstudy.probe.noise.background`, scaled to the work's length);
* ``law``: the within-gather statistics against each law (:mod:`mcstudy.lab.law`),
  noise = the spread of measured minus predicted when the same design is simulated
  under that law (parametric bootstrap, :func:`mcstudy.lab.law.law_noise`);
* ``zone``: the pressure model calibrated from the guest (:mod:`mcstudy.lab.zone`) against
  what the zone did (:mod:`mcstudy.lab.zonerows`), noise = the measured value's
  between-batch or between-block standard error (:func:`mcstudy.stats.ratio.ratio_of_sums`),
  floored by Wilson's interval. These rows report the ratio honestly.

Every level of the noise intervals is Bonferroni-corrected over the rows
(:func:`mcstudy.probe.noise.row_level`), as in the probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from scipy import special

from mcstudy.kernel.pgtable import FreedTables
from mcstudy.lab.errors import LabError
from mcstudy.lab.guestdata import Gather, PtworkRun, Trace, ZoneSample
from mcstudy.lab.law import (
    LAWS,
    BlockTally,
    law_noise,
    law_statistics,
    persistence_of,
    tally_block,
)
from mcstudy.lab.support import LEGACY, KernelSupport, fallback_path, unmeasurable
from mcstudy.lab.zone import ZoneCalibration
from mcstudy.lab.zonetrace import StallTrace, ZoneBin
from mcstudy.probe.checks import Check
from mcstudy.probe.noise import Background, background, row_level
from mcstudy.probe.predict import ProfileMatch, munmap_prediction
from mcstudy.stats.proportion import wilson

LAB_SCOPES = ("this mm", "other CPUs", "law", "zone")
LAW_TITLES = {
    "independent": "independent attempts",
    "all_or_nothing": "all-or-nothing gathers",
    "persistent": "persistent failures",
}
STATISTICS = {
    "fallbacks_per_gather": ("fallbacks per gather", "fallbacks/gather"),
    "all_fail_given_first": ("P(all attempts fail | first fails)", "1/gather"),
    "attempt_lag1_corr": ("lag-1 correlation of attempt failures", "1/attempt"),
}


@dataclass(frozen=True)
class LabCheck(Check):
    """A probe row with the lab's scope (one of :data:`LAB_SCOPES`)."""

    lab_scope: str = "this mm"
    not_measurable: str = ""
    """Why this kernel cannot measure the row ('' if it can: :mod:`mcstudy.lab.support`)."""
    not_predicted: str = ""
    """Why the model gives no number for the row ('' if it does). Such a row's prediction
    is NaN and it checks only what the profile claims without a number: that the
    measurement is above zero (beyond its noise)."""

    @property
    def scope(self) -> str:  # type: ignore[override]
        return self.lab_scope

    @property
    def measured(self) -> float:  # type: ignore[override]
        return math.nan if self.not_measurable else super().measured

    @property
    def agrees(self) -> bool:  # type: ignore[override]
        if self.not_measurable:
            return False
        if self.not_predicted:
            return self.measured > self.halfwidth
        return super().agrees


@dataclass
class LevelData:
    """One pressure level: the workload's windows, its gathers per work window, the zone."""

    mib: int
    run: PtworkRun
    trace: Trace
    blocks: list[list[Gather]]
    samples: list[ZoneSample] = field(default_factory=list)
    calibration: ZoneCalibration | None = None
    watch: list[ZoneBin] = field(default_factory=list)
    """The fast zone sampler's bins (:mod:`mcstudy.lab.zonetrace`; none in older runs)."""
    stalls: StallTrace | None = None
    stall_missing: dict[str, str] = field(default_factory=dict)
    """Tracepoint -> why this kernel cannot record it ("" or absent: it can)."""
    indep: tuple[PtworkRun, list[list[Gather]]] | None = None
    """The zone-independent workload's windows and gathers per block (None: not run)."""

    @property
    def gathers(self) -> list[Gather]:
        return [g for b in self.blocks for g in b]


def split_blocks(run: PtworkRun, trace: Trace) -> list[list[Gather]]:
    """The trace's gathers of each work window (by time: the trace and the workload share
    CLOCK_MONOTONIC), checking that every window holds the gathers it ran."""
    out = []
    for w in run.of_kind("work"):
        lo, hi = w.start_ns * 1e-9, w.end_ns * 1e-9
        inside = [g for g in trace.gathers if lo <= g.start <= hi]
        if len(inside) != w.gathers:
            raise LabError(
                f"work window {w.block}: the workload ran {w.gathers} gathers but the trace "
                f"holds {len(inside)} (events lost?)"
            )
        out.append(inside)
    return out


# ----------------------------------------------------------------- backgrounds


def exact_background(n: int, level: float) -> Background:
    """No noise: the counter is the workload's own (the trace of its gathers)."""
    return Background(0.0, 0.0, n, 0.0, level, False)


def scaled_background(samples: list[float], level: float, m: float) -> Background:
    """The probe's background of ``samples`` (no-work windows) for a phase as long as
    ``m`` windows: mean x m, predictive half-width for a sum of m windows, v (m + m^2/K)."""
    bg = background(samples, level)
    k = bg.n
    factor = math.sqrt((m + m * m / k) / (1.0 + 1.0 / k))
    return replace(bg, mean=bg.mean * m, sd=bg.sd * math.sqrt(m), halfwidth=bg.halfwidth * factor)


def _t(level: float, dof: int) -> float:
    return float(special.stdtrit(max(dof, 1), 0.5 + level / 2.0))


def _z(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2.0))


def stat_background(se: float, n: int, level: float, floor: float = 0.0) -> Background:
    """Noise of a statistic: t quantile x its standard error, at least ``floor``."""
    half = _t(level, n - 1) * se if math.isfinite(se) else math.nan
    half = max(half, floor) if math.isfinite(half) else floor
    return Background(0.0, se if math.isfinite(se) else 0.0, n, half, level, False)


def wilson_floor(k: int, n: int, level: float) -> float:
    """Larger side of Wilson's interval for k/n at ``level`` (0 if n == 0)."""
    if n <= 0:
        return 0.0
    w = wilson(k, n, z=_z(level))
    return max(w.ci_high - w.estimate, w.estimate - w.ci_low)


def _row(
    phase: str,
    quantity: str,
    label: str,
    unit: str,
    source: str,
    basis: str,
    predicted: float,
    value: float,
    bg: Background,
    scope: str,
    slope: float = 1.0,
) -> LabCheck:
    return LabCheck(
        phase=phase,
        quantity=quantity,
        label=label,
        unit=unit,
        source=source,
        basis=basis,
        predicted=float(predicted),
        phase_value=float(value),
        background=bg,
        offset=0.0,
        slope=slope,
        lab_scope=scope,
    )


# ----------------------------------------------------------------- rows


@dataclass(frozen=True)
class Geometry:
    """The region the workload unmaps, and what the munmap front end predicts for it."""

    size: int
    offset: int
    neighbours: str
    start: int
    end: int
    floor: int
    ceiling: int | None


def table_rows(
    levels: list[LevelData],
    geo: Geometry,
    profile: ProfileMatch,
    online: int,
    level: float,
    batch: int,
    free_funcs: tuple[str, ...],
) -> tuple[list[LabCheck], FreedTables]:
    """Tables per gather (trace), ``tlb_remove_table()`` calls per gather (histogram)."""
    pred = munmap_prediction(
        geo.size,
        geo.offset,
        geo.neighbours,
        geo.start,
        geo.end,
        geo.floor,
        geo.ceiling,
        profile.name,
        online,
    )
    t = pred.tables
    via = profile.profile.uses_tlb_remove_table
    gathers = [g for lv in levels for g in lv.gathers]
    n = len(gathers)
    text = (
        f"munmap front end: munmap_tables({geo.size / (1 << 20):g} MiB, {geo.neighbours}, "
        f"offset {geo.offset // 1024} KiB) = {t.pte} PTE + {t.pmd} PMD + {t.pud} PUD"
    )
    if pred.tables_at_addresses != t:
        a = pred.tables_at_addresses
        text += f" [at the real floor/ceiling: {a.pte} PTE + {a.pmd} PMD + {a.pud} PUD]"
    if via:
        per = [g.tables(batch) for g in gathers]
        source = "trace: fallbacks + tables in the batch page at tlb_finish_mmu()"
    else:
        per = [sum(g.free_calls.get(f, 0) for f in free_funcs) for g in gathers]
        source = "trace: " + " + ".join(f"{f}()" for f in free_funcs)
    hist = sum(
        sum(w.hist_delta("tables/hist").values()) for lv in levels for w in lv.run.of_kind("work")
    )
    exact = exact_background(n, level)
    rows = [
        _row(
            "munmap",
            "tables_per_gather",
            "page tables freed per gather",
            "tables/gather",
            source,
            text,
            t.total,
            sum(per) / n if n else math.nan,
            exact,
            "this mm",
        ),
        _row(
            "munmap",
            "gathers_off_prediction",
            "gathers freeing another number of tables",
            "gathers",
            source,
            f"every gather frees {t.total} tables",
            0.0,
            sum(1 for x in per if x != t.total),
            exact,
            "this mm",
        ),
        _row(
            "munmap",
            "tlb_remove_table_per_gather",
            "tlb_remove_table() calls per gather",
            "calls/gather",
            "trace histogram of tlb_remove_table() for the workload",
            f"profile {profile.name}: "
            + (
                "every table goes through tlb_remove_table()"
                if via
                else "tables go through tlb_remove_page(), never tlb_remove_table()"
            ),
            t.total if via else 0.0,
            hist / n if n else math.nan,
            exact,
            "this mm",
        ),
    ]
    return rows, t


ALLOC_WMARK_MASK = 0x3
ALLOC_WMARK_MIN, ALLOC_WMARK_LOW = 0, 1
ALLOC_KSWAPD = 0x800
"""``alloc_flags`` bits (mm/internal.h, the same from 6.1 to 7.2): the mark a check uses,
and ALLOC_KSWAPD, which every check of a GFP_NOWAIT allocation carries (the others, e.g.
``pgdat_balanced()``'s from ``wakeup_kswapd()``, pass 0)."""


def rule_outcome(a) -> tuple[bool, list[tuple[int, int]], bool]:
    """(the rule says the attempt fails, the first zone's check at the min mark, the first
    zone failed it and a lower zone could serve the attempt) from its slow watermark
    checks.

    The allocator tries every zone of the zonelist at the low mark (the fast path:
    ``__zone_watermark_ok()`` runs, and is traced, only for a zone whose quick check
    failed), then at the min mark. So the zones tried are those checked at the low mark,
    the first being the preferred zone (no lowmem reserve for the allocation's own zone). The
    rule: the attempt fails iff the first zone has free <= mark at its min check and every
    lower zone fails its min check too (traced only when it fails: a lower zone's check
    adds its lowmem reserve, which the trace does not hold). The guest on amd64 has two
    zones (DMA32, DMA): with DMA32 at min, ZONE_DMA serves some attempts. Checks traced
    without flags (-1) fall back to telling the marks apart by size (one zone)."""
    checks = a.checks
    flags = list(a.flags) if len(a.flags) == len(checks) else [-1] * len(checks)
    if not checks:
        return False, [], False
    if any(f < 0 for f in flags):
        first = checks[0][0]
        at_min = [(mk, fr) for mk, fr in checks if mk < first]
        return any(fr <= mk for mk, fr in at_min), at_min, False
    ours = [(c, f) for c, f in zip(checks, flags, strict=True) if f & ALLOC_KSWAPD]
    low = [c for c, f in ours if f & ALLOC_WMARK_MASK == ALLOC_WMARK_LOW]
    at_min = [c for c, f in ours if f & ALLOC_WMARK_MASK == ALLOC_WMARK_MIN]
    # zones of the fast path: from 6.7 a zone not yet below its high mark is checked at
    # the high mark first, then at the low one (both with the low mark's flags); the two
    # checks of one zone read its free pages in the same instant, so consecutive checks
    # with the same free pages are one zone
    zones = sum(1 for i, c in enumerate(low) if i == 0 or c[1] != low[i - 1][1])
    if not zones or not at_min:
        return False, at_min[:1], False
    first = at_min[0]
    first_fails = first[1] <= first[0]
    return first_fails and len(at_min) >= zones, [first], first_fails and len(at_min) < zones


GRACE_PERIOD_NOT_PREDICTED = (
    "not predicted: the model gives no length for an RCU grace period (it depends on the "
    "kernel's RCU flavour and HZ, on when every other CPU passes a quiescent state, and on "
    "expedited grace periods); the row checks only that the task waits"
)


def wait_row(profile: ProfileMatch, waits: list[float], fallbacks: int, exact) -> LabCheck:
    """The unmapping task's time in ``tlb_remove_table_sync_rcu()`` per fallback
    (mm/mmu_gather.c): 0 where the fallback sends a round or frees by ``call_rcu()``; a
    grace period in ``synchronize_rcu()`` per fallback table where the profile waits (7.1
    on, PT_RECLAIM=n), whose length the model does not give (:data:`GRACE_PERIOD_NOT_PREDICTED`)."""
    p = profile.profile
    source = (
        f"trace: entry and return of tlb_remove_table_sync_rcu() on the workload's "
        f"task ({len(waits)} waits, {sum(waits) * 1e6:.0f} us in all)"
    )
    if p.fallback_waits_grace_period:
        basis = (
            f"profile {profile.name}: the fallback sends no round and frees the table after "
            "synchronize_rcu() (tlb_remove_table_sync_rcu()): the unmapping task sleeps one "
            f"RCU grace period per fallback table; {GRACE_PERIOD_NOT_PREDICTED}"
        )
    else:
        how = (
            "the fallback sends a round (tlb_remove_table_sync_one())"
            if p.fallback_sends_ipi
            else "the fallback frees the table by call_rcu()"
        )
        basis = (
            f"profile {profile.name}: {how}; no grace-period wait "
            "(7.1 on with PT_RECLAIM=n waits in synchronize_rcu() instead)"
        )
    row = _row(
        "fallback",
        "fallback_wait_us",
        "unmapping task's wait in tlb_remove_table_sync_rcu() per fallback",
        "us/fallback",
        source,
        basis,
        math.nan if p.fallback_waits_grace_period else 0.0,
        sum(waits) * 1e6,
        exact,
        "this mm",
        slope=1.0 / fallbacks,
    )
    if p.fallback_waits_grace_period:
        row = replace(row, not_predicted=GRACE_PERIOD_NOT_PREDICTED)
    return row


def fallback_rows(
    levels: list[LevelData],
    profile: ProfileMatch,
    online: int,
    work_cpu: int,
    level: float,
    ipi_mean: float,
    support: KernelSupport = LEGACY,
) -> list[LabCheck]:
    """Fallbacks against failed attempts; sync-IPI callbacks per fallback; the failure rule."""
    gathers = [g for lv in levels for g in lv.gathers]
    failures = sum(g.failures for g in gathers)
    path = fallback_path(support)
    rounds = sum(g.syncs for g in gathers)
    rcu_frees = sum(g.rcu_frees for g in gathers)
    waits = [w for g in gathers for w in g.waits]
    if path:
        fallbacks = sum(g.fallbacks for g in gathers)
        source = (
            f"trace, the fallback's path in the gathers ({path} probed): {rounds} rounds "
            f"smp_call_function(tlb_remove_table_smp_sync), {rcu_frees} "
            f"call_rcu(__tlb_remove_table_one_rcu), {len(waits)} tlb_remove_table_sync_rcu()"
        )
    else:
        fallbacks = failures
        source = (
            "trace: failed batch-page attempts (__get_free_page(GFP_NOWAIT) in "
            "tlb_remove_table() returning NULL); no probe on the fallback's path"
        )
    exact = exact_background(len(gathers), level)
    rows = [
        _row(
            "fallback",
            "fallbacks_observed",
            "fallbacks seen on their path (sender)",
            "fallbacks",
            source,
            f"docs/model.md §2.1: one fallback per failed batch-page attempt ({failures} failed)",
            failures,
            fallbacks,
            exact,
            "this mm",
        )
    ]
    if not profile.profile.uses_tlb_remove_table:
        return rows
    if fallbacks > 0:
        rows.append(wait_row(profile, waits, fallbacks, exact))
        by_rcu = not profile.profile.fallback_sends_ipi
        by_rcu = by_rcu and not profile.profile.fallback_waits_grace_period
        rows.append(
            _row(
                "fallback",
                "rcu_frees_per_fallback",
                "fallbacks that free their table by call_rcu() (share)",
                "1/fallback",
                f"trace: call_rcu(__tlb_remove_table_one_rcu) on the workload's task "
                f"({rcu_frees} of {fallbacks} fallbacks)",
                f"profile {profile.name}: "
                + ("the fallback frees the table by call_rcu()" if by_rcu else "no call_rcu()"),
                1.0 if by_rcu else 0.0,
                rcu_frees,
                exact,
                "this mm",
                slope=1.0 / fallbacks,
            )
        )
    work = [w for lv in levels for w in lv.run.of_kind("work")]
    idle = [w for lv in levels for w in lv.run.of_kind("idle")]

    def others(w) -> float:
        return float(sum(v for cpu, v in w.hist_delta("callback/hist").items() if cpu != work_cpu))

    if fallbacks > 0 and len(idle) >= 2:
        m = sum(w.seconds for w in work) / (sum(w.seconds for w in idle) / len(idle))
        bg = scaled_background([others(w) for w in idle], level, m)
        rows.append(
            _row(
                "fallback",
                "sync_ipis_per_fallback",
                "sync-IPI callbacks on the other CPUs per fallback",
                "IPIs/fallback",
                "trace histogram of tlb_remove_table_smp_sync() per CPU",
                f"broadcast policy, profile {profile.name}: smp_call_function() reaches "
                f"every other online CPU ({online} online)",
                ipi_mean,
                sum(others(w) for w in work),
                bg,
                "other CPUs",
                slope=1.0 / fallbacks,
            )
        )
    attempts = [a for g in gathers for a in g.attempts]
    if attempts:
        ok = 0
        margins: list[int] = []
        served_lower = 0
        for a in attempts:
            fails, at_min, lower = rule_outcome(a)
            ok += int(bool(a.failed) == fails)
            margins += [fr - mk for mk, fr in at_min]
            served_lower += int(lower and not a.failed)
        k = len(attempts)
        rows.append(
            _row(
                "fallback",
                "fail_rule",
                "attempts whose outcome follows free <= min (boosted) at the check",
                "1/attempt",
                "trace: __zone_watermark_ok() mark and free pages in each attempt",
                "docs/model.md §2.5: an order-0 GFP_NOWAIT allocation fails iff free <= min + "
                "boost + reserve in every zone it may use (the first zone's min check by its "
                f"free pages and mark; {len(margins)} such checks"
                + (f", free - mark from {min(margins)} to {max(margins)}" if margins else "")
                + (
                    f"; {served_lower} attempts with the first zone at min served by a lower zone"
                    if served_lower
                    else ""
                )
                + ")",
                1.0,
                ok / k,
                stat_background(0.0, k, level, wilson_floor(ok, k, level) if ok < k else 0.0),
                "this mm",
            )
        )
    return rows


def law_blocks(levels: list[LevelData]) -> list[BlockTally]:
    """Every work window of every level, tallied."""
    return [
        tally_block(lv.mib, [g.outcomes() for g in b], sum(g.fallbacks for g in b))
        for lv in levels
        for b in lv.blocks
    ]


def law_rows(
    levels: list[LevelData],
    n_tables: int,
    batch: int,
    level: float,
    reps: int = 1000,
    seed: int = 1,
) -> tuple[list[LabCheck], dict[str, float]]:
    """The within-gather statistics against each law; and the kernel's own numbers."""
    blocks = law_blocks(levels)
    stats = law_statistics(blocks, n_tables, batch)
    r = persistence_of(blocks)
    ff = sum(b.first_fails for b in blocks)
    af = sum(b.all_fail for b in blocks)
    facts = {
        "persistence": r,
        "first_fails": float(ff),
        "all_fail": float(af),
        "attempts": float(sum(b.attempts for b in blocks)),
        "failures": float(sum(b.failures for b in blocks)),
        "gathers": float(sum(b.gathers for b in blocks)),
    }
    rows = []
    noise = law_noise(blocks, n_tables, batch, level, reps=reps, seed=seed)
    for law in LAWS:
        for key, (label, unit) in STATISTICS.items():
            v = stats[key]
            half = noise[(law, key)]
            bg = Background(0.0, 0.0, len(blocks), half, level, False)
            plug = {
                "independent": "at each level's measured per-attempt failure fraction p",
                "all_or_nothing": "at each level's measured fraction q of gathers whose first "
                "attempt fails",
                "persistent": f"at each level's q and the measured persistence r = {r:.3f}",
            }[law]
            rows.append(
                _row(
                    f"law: {LAW_TITLES[law]}",
                    key,
                    label,
                    unit,
                    "trace: outcome of every batch-page attempt, per gather",
                    f"{LAW_TITLES[law]} {plug}; {ff} gathers' first attempt failed, "
                    f"{af} of them failed every attempt",
                    v.predicted(law),
                    v.measured,
                    bg,
                    "law",
                )
            )
    return rows, facts


def all_rows(
    levels: list[LevelData],
    geo: Geometry,
    profile: ProfileMatch,
    online: int,
    work_cpu: int,
    batch: int,
    free_funcs: tuple[str, ...],
    ipi_mean: float,
    law_reps: int = 1000,
    support: KernelSupport = LEGACY,
    extra: Callable[[float], list[LabCheck]] | None = None,
    zone: Callable[[LevelData, float], list[LabCheck]] | None = None,
) -> tuple[list[LabCheck], dict[str, float]]:
    """Every row of a lab run (levels in run order), and the kernel's within-gather facts.

    The Bonferroni level is fixed from a first pass that counts the rows. A row the
    kernel cannot measure (``support``) is kept, marked with the reason. ``extra``: the
    rows of another phase at a given level (:mod:`mcstudy.lab.khugepaged`); ``zone``: the
    zone rows of one pressure level (:func:`mcstudy.lab.zonerows.zone_rows`).
    """

    def build(level: float, law_reps: int = law_reps) -> tuple[list[LabCheck], dict[str, float]]:
        rows, t = table_rows(levels, geo, profile, online, level, batch, free_funcs)
        rows += fallback_rows(levels, profile, online, work_cpu, level, ipi_mean, support)
        facts: dict[str, float] = {}
        if profile.profile.uses_tlb_remove_table and any(lv.mib > 0 for lv in levels):
            more, facts = law_rows(levels, t.total, batch, level, reps=law_reps)
            rows += more
        for lv in levels:
            if lv.mib > 0 and zone is not None:
                rows += zone(lv, level)
        if extra is not None:
            rows += extra(level)  # rows of other phases (khugepaged), at the same level
        via = profile.profile.uses_tlb_remove_table
        marked = []
        for r in rows:
            why = r.not_measurable or unmeasurable(r.quantity, support, via)
            marked.append(replace(r, not_measurable=why) if why else r)
        return marked, facts

    first, _ = build(0.95, law_reps=20)
    return build(row_level(len(first)))
