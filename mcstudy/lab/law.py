"""The law of fallbacks within a gather: what the kernel does, against the models' two laws.

The models draw a gather's batch-page attempts in two ways (docs/model.md §9.2):

* **independent** (the gather model, §3.1): every attempt fails with probability ``p``,
  independently of every other. Evaluated at the measured per-attempt failure fraction
  ``p = failed attempts / attempts`` of each pressure level.
* **all-or-nothing** (the zone chain, §4.1): a gather whose first attempt fails (the zone
  at or below min) sends every one of its ``n`` tables to ``tlb_remove_table_one()``.
  Evaluated at the measured fraction ``q`` of gathers whose first attempt fails.

Three statistics tell them apart, pooled over the pressure levels (each level's
prediction at its own ``p`` or ``q``, weighted by its gathers, first-failing gathers or
attempts):

* mean fallbacks per gather (independent: the exact gather DP ``E[F_n]``; all-or-nothing:
  ``q n``). At the measured ``p`` the independent law reproduces this mean almost by
  construction (with at most one success per gather, ``E[F] = p/(1-p)`` = failures over
  successes), so it cannot discriminate; the next two can;
* P(every attempt of a gather fails | its first fails): ``p^(n-1)`` against 1;
* the lag-1 correlation of successive attempts' failure indicators, in time order within
  each block of gathers: 0 against the stream of blocks that the all-or-nothing law makes
  (``n`` failing attempts with probability ``q``, else ``ceil(n / MAX_TABLE_BATCH)``
  successful ones).

A third law is what the kernel shows: **persistent** failures. The first attempt of a
gather fails with probability ``q``; after a failure the next attempt (the next table)
fails with probability ``r``, the measured persistence ``P(an attempt fails | the one
before it in the same gather failed)``. ``r = q = p`` is the independent law, ``r = 1``
the all-or-nothing one. Its predictions are closed forms for ``n <= MAX_TABLE_BATCH``
(at most one successful attempt per gather), NaN beyond.

Noise of a row (:func:`law_noise`): how far measured minus predicted strays when the
data really follow that law. A parametric bootstrap simulates the same design (the same
gathers per block and level) under the law at the plug-in parameters, re-estimates the
plug-ins from each simulated data set, and takes the ``level`` quantile of
``|measured* - predicted*|``. Simulated data sets in which a statistic is undefined (no
first-failing gather) are left out of its quantile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from mcstudy.exact.gather import gather_exact


@dataclass(frozen=True)
class BlockTally:
    """Sums over the gathers of one work window (one block) of one pressure level."""

    level: int
    gathers: int
    attempts: int
    failures: int
    fallbacks: int
    first_fails: int
    """Gathers whose first attempt failed."""
    all_fail: int
    """Gathers every attempt of which failed (no batch page at all)."""
    pairs: int
    """Successive attempts (t, t + 1) inside the block, in time order."""
    pairs_ff: int
    """...of which both failed."""
    pairs_in_gather: int
    """Successive attempts inside one gather (only after a failure, when n <= MAX_TABLE_BATCH)."""
    pairs_in_gather_ff: int


def tally_block(level: int, outcomes: Sequence[Sequence[bool]], fallbacks: int) -> BlockTally:
    """Tally one block: ``outcomes`` = per gather, failed? per attempt, in time order."""
    stream = [f for g in outcomes for f in g]
    pairs = max(len(stream) - 1, 0)
    pairs_ff = sum(1 for a, b in pairwise(stream) if a and b)
    in_gather = sum(max(len(g) - 1, 0) for g in outcomes)
    in_gather_ff = sum(1 for g in outcomes for a, b in pairwise(g) if a and b)
    return BlockTally(
        level=level,
        gathers=len(outcomes),
        attempts=len(stream),
        failures=sum(stream),
        fallbacks=fallbacks,
        first_fails=sum(1 for g in outcomes if g and g[0]),
        all_fail=sum(1 for g in outcomes if g and all(g)),
        pairs=pairs,
        pairs_ff=pairs_ff,
        pairs_in_gather=in_gather,
        pairs_in_gather_ff=in_gather_ff,
    )


@dataclass(frozen=True)
class LevelSums:
    """A level's block tallies added up."""

    gathers: int = 0
    attempts: int = 0
    failures: int = 0
    fallbacks: int = 0
    first_fails: int = 0
    all_fail: int = 0
    pairs: int = 0
    pairs_ff: int = 0
    pairs_in_gather: int = 0
    pairs_in_gather_ff: int = 0

    def add(self, b: BlockTally) -> LevelSums:
        return LevelSums(
            *(getattr(self, f) + getattr(b, f) for f in LevelSums.__dataclass_fields__)
        )


def _levels(blocks: Sequence[BlockTally]) -> dict[int, LevelSums]:
    out: dict[int, LevelSums] = {}
    for b in blocks:
        out[b.level] = out.get(b.level, LevelSums()).add(b)
    return out


# ----------------------------------------------------------------- the statistics


def stream_lag1(s: LevelSums) -> tuple[float, float]:
    """(autocovariance, variance) of the failure indicator at lag 1 within the level's
    blocks (per pair / per attempt), about the level's own mean."""
    if s.attempts == 0 or s.pairs == 0:
        return 0.0, 0.0
    pi = s.failures / s.attempts
    return s.pairs_ff / s.pairs - pi * pi, pi * (1.0 - pi)


def aon_lag1(q: float, n: int, batch: int) -> tuple[float, float]:
    """(autocovariance, variance) at lag 1 of the attempt stream under the all-or-nothing
    law: i.i.d. gathers, each ``n`` failing attempts (prob. q) or ``ceil(n/batch)`` successes."""
    k = -(-n // batch)
    m = q * n + (1.0 - q) * k  # attempts per gather
    if m <= 0:
        return 0.0, 0.0
    pi = q * n / m
    p11 = (q * (n - 1) + q * q) / m
    return p11 - pi * pi, pi * (1.0 - pi)


def persistent_law(q: float, r: float, n: int, batch: int) -> tuple[float, float, float, float]:
    """(E[fallbacks], P(all fail | first fails), lag-1 autocovariance, variance) of the
    persistent law for gathers of ``n <= batch`` tables (NaN otherwise).

    A failing first attempt starts a run of failures of length ``L = min(1 + G, n)``,
    ``P(G >= k) = r^k``; a run shorter than ``n`` ends with one success.
    """
    if n > batch:
        return math.nan, math.nan, math.nan, math.nan
    if r >= 1.0:
        mean_l, p_cut = float(n), 0.0
    else:
        mean_l, p_cut = (1.0 - r**n) / (1.0 - r), 1.0 - r ** (n - 1)
    all_fail = r ** (n - 1)
    m = (1.0 - q) + q * (mean_l + p_cut)  # attempts per gather
    if m <= 0:
        return 0.0, all_fail, 0.0, 0.0
    pi = q * mean_l / m
    p11 = (q * (mean_l - 1.0) + q * q * all_fail) / m
    return q * mean_l, all_fail, p11 - pi * pi, pi * (1.0 - pi)


LAWS = ("independent", "all_or_nothing", "persistent")


@dataclass(frozen=True)
class LawValues:
    """One statistic: measured, and predicted under each law."""

    measured: float
    independent: float
    all_or_nothing: float
    persistent: float

    def predicted(self, law: str) -> float:
        return float(getattr(self, law))


def law_statistics(blocks: Sequence[BlockTally], n_tables: int, batch: int) -> dict[str, LawValues]:
    """The three pooled statistics and both laws' predictions (NaN where undefined)."""
    levels = _levels(blocks)
    g = sum(s.gathers for s in levels.values())
    ff = sum(s.first_fails for s in levels.values())
    att = sum(s.attempts for s in levels.values())
    nan = math.nan
    mean_ind = mean_aon = mean_per = 0.0
    all_ind = all_per = 0.0
    cov = var = cov_aon = var_aon = cov_per = var_per = 0.0
    r = persistence_of(levels.values())
    for s in levels.values():
        if s.gathers == 0 or s.attempts == 0:
            continue
        p = s.failures / s.attempts
        q = s.first_fails / s.gathers
        mean_ind += s.gathers * gather_exact(n_tables, p, batch).fallbacks_mean
        mean_aon += s.gathers * q * n_tables
        all_ind += s.first_fails * p ** (n_tables - 1)
        c, v = stream_lag1(s)
        cov += s.pairs * c
        var += s.attempts * v
        ca, va = aon_lag1(q, n_tables, batch)
        cov_aon += s.attempts * ca
        var_aon += s.attempts * va
        rr = 0.0 if math.isnan(r) else r
        pm, pa, pc, pv = persistent_law(q, rr, n_tables, batch)
        mean_per += s.gathers * pm
        all_per += s.first_fails * pa
        cov_per += s.attempts * pc
        var_per += s.attempts * pv
    fallbacks = sum(s.fallbacks for s in levels.values())
    all_fail = sum(s.all_fail for s in levels.values())
    pairs = sum(s.pairs for s in levels.values())
    corr = (cov / pairs) / (var / att) if var > 0 and pairs > 0 else nan
    return {
        "fallbacks_per_gather": LawValues(
            fallbacks / g if g else nan,
            mean_ind / g if g else nan,
            mean_aon / g if g else nan,
            mean_per / g if g else nan,
        ),
        "all_fail_given_first": LawValues(
            all_fail / ff if ff else nan,
            all_ind / ff if ff else nan,
            1.0 if ff else nan,
            all_per / ff if ff else nan,
        ),
        "attempt_lag1_corr": LawValues(
            corr,
            0.0 if var > 0 else nan,
            cov_aon / var_aon if var_aon > 0 else nan,
            cov_per / var_per if var_per > 0 else nan,
        ),
    }


def persistence_of(sums: Iterable[LevelSums | BlockTally]) -> float:
    """P(an attempt fails | the attempt before it in the same gather failed) (NaN if none)."""
    items = list(sums)
    n = sum(b.pairs_in_gather for b in items)
    return sum(b.pairs_in_gather_ff for b in items) / n if n else math.nan


# ----------------------------------------------------------------- parametric bootstrap


def _simulate_level(
    law: str,
    q: float,
    r: float,
    p: float,
    sizes: Sequence[int],
    n: int,
    reps: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Per block of ``sizes`` gathers: a (reps, 10) array of BlockTally fields (after
    ``level``), for gathers of ``n <= MAX_TABLE_BATCH`` tables under ``law``."""
    total = int(sum(sizes))
    if law == "independent":
        u = rng.random((reps, total))
        # failures before the first success: P(G >= k) = p^k
        with np.errstate(divide="ignore"):
            g = (
                np.floor(np.log(u) / np.log(p))
                if 0.0 < p < 1.0
                else np.full(u.shape, 0.0 if p <= 0 else np.inf)
            )
        fails = np.minimum(g, n)
    else:
        ff = rng.random((reps, total)) < q
        if law == "all_or_nothing":
            run = np.full((reps, total), float(n))
        else:
            u = rng.random((reps, total))
            with np.errstate(divide="ignore"):
                extra = (
                    np.floor(np.log(u) / np.log(r))
                    if 0.0 < r < 1.0
                    else np.full(u.shape, 0.0 if r <= 0 else np.inf)
                )
            run = np.minimum(1.0 + extra, n)
        fails = np.where(ff, run, 0.0)
    fails = fails.astype(np.int64)
    first = fails >= 1
    allf = fails >= n
    att = fails + (~allf).astype(np.int64)
    cross = np.zeros((reps, total), dtype=np.int64)
    cross[:, 1:] = (allf[:, :-1] & first[:, 1:]).astype(np.int64)
    within_ff = np.maximum(fails - 1, 0)
    out = []
    start = 0
    for size in sizes:
        sl = slice(start, start + size)
        c = cross[:, sl].copy()
        c[:, 0] = 0  # no pair across a block boundary
        a = att[:, sl].sum(axis=1)
        out.append(
            np.stack(
                [
                    np.full(reps, size),
                    a,
                    fails[:, sl].sum(axis=1),
                    fails[:, sl].sum(axis=1),
                    first[:, sl].sum(axis=1),
                    allf[:, sl].sum(axis=1),
                    np.maximum(a - 1, 0),
                    within_ff[:, sl].sum(axis=1) + c.sum(axis=1),
                    (att[:, sl] - 1).sum(axis=1),
                    within_ff[:, sl].sum(axis=1),
                ],
                axis=1,
            )
        )
        start += size
    return out


def law_noise(
    blocks: Sequence[BlockTally],
    n_tables: int,
    batch: int,
    level: float,
    reps: int = 1000,
    seed: int = 1,
) -> dict[tuple[str, str], float]:
    """Half-width of ``|measured - predicted|`` per (law, statistic) at ``level``, from a
    parametric bootstrap of the same design under each law (NaN for ``n > batch``)."""
    keys = ("fallbacks_per_gather", "all_fail_given_first", "attempt_lag1_corr")
    if n_tables > batch:
        return {(law, k): math.nan for law in LAWS for k in keys}
    levels = _levels(blocks)
    r = persistence_of(levels.values())
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, str], float] = {}
    for law in LAWS:
        sims: dict[int, list[np.ndarray]] = {}
        order: list[tuple[int, int]] = []
        for lv, s in levels.items():
            sizes = [b.gathers for b in blocks if b.level == lv]
            p = s.failures / s.attempts if s.attempts else 0.0
            q = s.first_fails / s.gathers if s.gathers else 0.0
            sims[lv] = _simulate_level(
                law, q, 0.0 if math.isnan(r) else r, p, sizes, n_tables, reps, rng
            )
            order += [(lv, i) for i in range(len(sizes))]
        diffs: dict[str, list[float]] = {k: [] for k in keys}
        for j in range(reps):
            sim_blocks = [BlockTally(lv, *(int(x) for x in sims[lv][i][j])) for lv, i in order]
            st = law_statistics(sim_blocks, n_tables, batch)
            for k in keys:
                d = st[k].measured - st[k].predicted(law)
                if math.isfinite(d):
                    diffs[k].append(abs(d))
        for k in keys:
            out[(law, k)] = float(np.quantile(diffs[k], level)) if len(diffs[k]) >= 20 else math.nan
    return out
