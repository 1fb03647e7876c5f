"""The zone as the guest's traces show it: direct-reclaim stalls and time at or below min.

* ``stalls``: the text of the guest's ``stalls`` trace instance (docs/lab.md §5): the
  tracepoints ``vmscan:mm_vmscan_direct_reclaim_begin`` and ``_end`` of every task (the
  end carries ``nr_reclaimed``: the pages ``try_to_free_pages()`` returned, LRU pages and
  the slab pages its shrinkers freed), and ``vmscan:mm_vmscan_lru_shrink_inactive`` of
  every task but kswapd (one LRU pass with the pages it freed, emitted when
  ``shrink_inactive_list()`` has freed them). :func:`parse_stalls` pairs each begin with
  the next end of the same task (a task is in one stall at a time: direct reclaim does
  not nest, ``PF_MEMALLOC``) and puts the LRU passes between them into the stall.
* ``zonewatch``: ``q END_MS NODE ZONE SAMPLES BELOW ENTRIES [UNBOOSTED]`` lines of
  ``labwork zonewatch``: per bin of about 100 ms, the samples of ``/proc/zoneinfo`` taken
  every few ms, how many had free pages at or below the printed min mark (boost
  included), how many entries from above min to at or below it, and (later runs) how many
  were at or below the min mark without the boost.

Noise of a level's statistic (:func:`batches`): the level's time cut into equal batches,
each batch's sums, the between-batch standard error of a ratio of sums
(:func:`mcstudy.stats.ratio.ratio_of_sums`); the batches are made longer (halving their
number) while the lag-1 autocorrelation of the batch ratios exceeds ``2 / sqrt(B)``,
and never fewer than :data:`MIN_BATCHES`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mcstudy.lab.errors import LabError

STALL_LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>\d+\.\d+):\s+"
    r"(?P<event>mm_vmscan_\w+):\s*(?P<fields>.*)$"
)
FIELD = re.compile(r"(\w+)=(\S+)")
MIN_BATCHES = 8
MAX_BATCHES = 64
BATCH_TARGET_S = 0.5


@dataclass
class Stall:
    """One direct-reclaim stall of one task (seconds on the trace's ``mono`` clock)."""

    pid: int
    task: str
    start: float
    end: float = math.nan
    reclaimed: int = 0
    """``nr_reclaimed`` of ``mm_vmscan_direct_reclaim_end``."""
    passes: list[tuple[float, int]] = field(default_factory=list)
    """(time, pages freed) of each LRU pass (``mm_vmscan_lru_shrink_inactive``) in it."""

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class StallTrace:
    stalls: list[Stall]
    """Complete stalls (begin and end both seen), by start time."""
    open_at_end: int
    """Stalls whose end was not traced (the trace stopped during them)."""
    ends_without_begin: int
    passes_outside: int
    """LRU passes of non-kswapd tasks outside any stall (khugepaged, proactive reclaim)."""
    begins_without_end: int = 0
    """Stalls of a task that began again before their end was traced (the earlier one is
    dropped as incomplete). Seen on 7.2.13, arm64 and amd64, in the matrix (a churn task;
    no event lost in the instance's buffers: no end was traced)."""


def parse_stalls(text: str) -> StallTrace:
    """Pair the begin and end of every task's stalls (LabError naming a bad line)."""
    open_: dict[int, Stall] = {}
    done: list[Stall] = []
    orphans = 0
    outside = 0
    unended = 0
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = STALL_LINE.match(line)
        if not m:
            raise LabError(f"stall trace:{no}: unrecognised line {line.strip()[:100]!r}")
        pid = int(m.group("pid"))
        ts = float(m.group("ts"))
        ev = m.group("event")
        fields = dict(FIELD.findall(m.group("fields")))
        if ev == "mm_vmscan_direct_reclaim_begin":
            if pid in open_:  # the open stall's end was not traced: drop it as incomplete
                unended += 1
            open_[pid] = Stall(pid, m.group("task").strip(), ts)
        elif ev == "mm_vmscan_direct_reclaim_end":
            st = open_.pop(pid, None)
            if st is None:
                orphans += 1
                continue
            st.end = ts
            try:
                st.reclaimed = int(fields["nr_reclaimed"])
            except (KeyError, ValueError):
                raise LabError(f"stall trace:{no}: no nr_reclaimed in {line.strip()!r}") from None
            done.append(st)
        elif ev == "mm_vmscan_lru_shrink_inactive":
            st = open_.get(pid)
            if st is None:
                outside += 1
                continue
            try:
                st.passes.append((ts, int(fields["nr_reclaimed"])))
            except (KeyError, ValueError):
                raise LabError(f"stall trace:{no}: no nr_reclaimed in {line.strip()!r}") from None
        else:
            raise LabError(f"stall trace:{no}: unexpected event {ev!r}")
    done.sort(key=lambda s: s.start)
    return StallTrace(done, len(open_), orphans, outside, unended)


@dataclass(frozen=True)
class ZoneBin:
    """One bin of the fast zone sampler (``end_ms`` on CLOCK_MONOTONIC)."""

    end_ms: int
    node: int
    zone: str
    samples: int
    below: int
    entries: int
    unboosted: int = -1
    """Samples at or below the min mark without the boost (-1: not recorded)."""


def parse_zonewatch(text: str) -> list[ZoneBin]:
    """``labwork zonewatch`` lines (LabError naming a bad line)."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] != "q" or len(parts) not in (7, 8):
            raise LabError(f"zonewatch:{no}: bad line {line!r}")
        try:
            ms, node, n, b, e = (int(parts[i]) for i in (1, 2, 4, 5, 6))
            u = int(parts[7]) if len(parts) == 8 else -1
        except ValueError:
            raise LabError(f"zonewatch:{no}: bad number in {line!r}") from None
        if not 0 <= b <= n or e > b or u > b:
            raise LabError(f"zonewatch:{no}: more samples below min than samples in {line!r}")
        out.append(ZoneBin(ms, node, parts[3], n, b, e, u))
    return out


# ----------------------------------------------------------------- batches


@dataclass(frozen=True)
class Batches:
    """Per-batch sums (x, y) of one statistic over a level's span."""

    pairs: list[tuple[float, float]]
    seconds: float
    """Length of one batch."""

    @property
    def n(self) -> int:
        return len(self.pairs)


def _lag1(pairs: Sequence[tuple[float, float]]) -> float:
    r = np.array([x / y for x, y in pairs if y > 0])
    if r.size < 3 or np.var(r) == 0:
        return 0.0
    d = r - r.mean()
    return float(np.sum(d[1:] * d[:-1]) / np.sum(d * d))


def batches(
    t0: float,
    t1: float,
    items: Sequence[tuple[float, float, float]],
    max_batches: int = MAX_BATCHES,
) -> Batches:
    """Cut [t0, t1] (seconds) into equal batches and sum (x, y) of the items (time, x, y)
    in each; batches about :data:`BATCH_TARGET_S` long at first, merged in pairs while
    their ratios are autocorrelated (lag 1 above 2 / sqrt(B)), at least :data:`MIN_BATCHES`."""
    span = t1 - t0
    if span <= 0:
        return Batches([], 0.0)
    b = max(MIN_BATCHES, min(max_batches, int(span / BATCH_TARGET_S)))
    times = np.array([t for t, _, _ in items], dtype=float)
    xs = np.array([x for _, x, _ in items], dtype=float)
    ys = np.array([y for _, _, y in items], dtype=float)
    while True:
        idx = np.clip(((times - t0) / span * b).astype(int), 0, b - 1)
        inside = (times >= t0) & (times <= t1)
        sx = np.bincount(idx[inside], weights=xs[inside], minlength=b)
        sy = np.bincount(idx[inside], weights=ys[inside], minlength=b)
        pairs = [(float(x), float(y)) for x, y in zip(sx, sy, strict=True)]
        if b // 2 < MIN_BATCHES or _lag1(pairs) <= 2.0 / math.sqrt(b):
            return Batches(pairs, span / b)
        b //= 2


def bootstrap_sd(
    groups: Sequence[Sequence[float]],
    stat: Callable[[np.ndarray], float],
    reps: int = 400,
    seed: int = 1,
) -> float:
    """Standard deviation of ``stat`` over resamples of whole batches (``groups``, each a
    batch's values) with replacement: a batch bootstrap (NaN with fewer than 2 batches)."""
    full = [np.asarray(g, dtype=float) for g in groups if len(g)]
    if len(full) < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(reps):
        pick = rng.integers(0, len(full), len(full))
        v = stat(np.concatenate([full[i] for i in pick]))
        if math.isfinite(v):
            vals.append(v)
    return float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan


def cv(x: np.ndarray) -> float:
    """Coefficient of variation (sample standard deviation over mean)."""
    if x.size < 2 or x.mean() <= 0:
        return math.nan
    return float(x.std(ddof=1) / x.mean())


def reclaim_position(stalls: Sequence[Stall]) -> tuple[float, float]:
    """(sum of pages x their position in the stall, pages): position 0 at the stall's begin,
    1 at its end, of each LRU pass's freed pages; their ratio is the pages-weighted mean
    position (1: all at the end, 0.5: evenly over the stall)."""
    num = den = 0.0
    for s in stalls:
        if s.seconds <= 0:
            continue
        for ts, pages in s.passes:
            num += pages * min(1.0, max(0.0, (ts - s.start) / s.seconds))
            den += pages
    return num, den


def own_stall_before(
    gathers: Sequence, stalls: Sequence[Stall], task: str = "ptwork"
) -> list[bool]:
    """For each gather (by start time), whether its task (named ``task``) was in a
    direct-reclaim stall that ended after the previous gather ended and before this one
    began: the gather follows its own task's blocking allocation."""
    own = sorted(s.end for s in stalls if s.task == task)
    ends = np.array(own)
    out = []
    prev = -math.inf
    for g in sorted(gathers, key=lambda g: g.start):
        lo = int(np.searchsorted(ends, prev, side="right"))
        hi = int(np.searchsorted(ends, g.start, side="right"))
        out.append(hi > lo)
        prev = g.end if g.end >= 0 else g.start
    return out


def stall_law(c: float) -> str:
    """The stall-time family a CV points to, within the chain's Erlang family."""
    if not math.isfinite(c):
        return "undetermined (fewer than 2 stalls)"
    if c > 1.15:
        return (
            f"more variable than exponential (CV {c:.2f} > 1: a mixture; of the chain's "
            "Erlang family the exponential, m = 1, is the closest)"
        )
    if c >= 0.85:
        return f"exponential (CV {c:.2f}: Erlang m = 1)"
    return f"Erlang with m = {max(1, round(1 / (c * c)))} phases (CV {c:.2f})"
