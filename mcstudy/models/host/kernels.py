"""Block kernel of the coupled host study (``docs/model.md`` §11): one block of sequences.

Per sequence, from keyed streams of its own (sub-stream ``base + SUB_STRIDE x j`` for the
``j``-th sequence of a block, so every policy variant re-reads the same numbers):

1. the zone's stationary path (``zone.py``): when free pages are at or below min, at or
   below the GFP_ATOMIC mark, and when kswapd is awake;
2. khugepaged's collapse times (Poisson);
3. the THPs and every table policy on that path (``thps.py``);
4. for every (IPI policy, collapse policy) pair, the IPI side of the THP model
   (``mcstudy.mechanisms.rt_ipi.rt_sequence``) on the same path, gathers and collapses: a
   batch-page or fresh-table GFP_NOWAIT allocation fails exactly while free <= min.

``TALLIES`` names every column: zone, shared population, one group per table variant,
one group per IPI variant.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from mcstudy.engine.rng import stream_new
from mcstudy.engine.tallies import TallyLayout
from mcstudy.kernel.policies import (
    COLLAPSE_POLICIES,
    HOST_CACHE_SIZES,
    IPI_POLICIES,
    SPLIT_TABLE_VARIANTS,
)
from mcstudy.mechanisms import rt_ipi as R
from mcstudy.mechanisms.paths import poisson_times
from mcstudy.mechanisms.zone_events import C_AFAIL, C_STALL, C_WAKE, N_COUNTERS
from mcstudy.models.host import thps as T
from mcstudy.models.host import zone as Z

IPI_VARIANTS = tuple((i, c) for i in IPI_POLICIES for c in COLLAPSE_POLICIES)
"""(ipi_policy, collapse_policy) pairs; the first, (broadcast, sync_ipi), is mainline."""
CACHE_SIZES = HOST_CACHE_SIZES
TABLE_VARIANTS = tuple(v.name for v in SPLIT_TABLE_VARIANTS)
TABLE_KS = tuple(v.cache_k for v in SPLIT_TABLE_VARIANTS)
RT_HIST = 1
"""Per-cycle histogram of the IPI side: cycles with 0 IPIs, and with at least one."""


class HostSpan(NamedTuple):
    """A sequence's zone path and collapse stream, read by name in ``host_block``."""

    levels: int  # levels of the simulated zone (zone_grid.level_count)
    atomic_mark: int  # GFP_ATOMIC mark, pages
    horizon_s: float  # s
    collapse_rate: float  # khugepaged collapses/s


class HostArrays(NamedTuple):
    """Everything ``host_block`` takes beyond the zone chain (built only by
    ``models.host.prepare.prepare``)."""

    cdf: np.ndarray  # the chain's stationary law, cumulative over its states
    pos: np.ndarray  # free pages of each level (zone_grid.levels)
    span: HostSpan
    thp: T.ThpRates
    ks: np.ndarray  # tables per CPU of every table variant (0: on demand)
    cdfs: np.ndarray  # [variant, level]: initial cache-level law, cumulative
    ipi: np.ndarray  # R.RT_PARAMS records of every IPI_VARIANTS entry, in that order
    rth: np.ndarray  # uint64 [4, 3] thresholds: calm, pressure, RT mm, kernel mode
    stall: tuple  # zone_events.stall_arrays of the chain (timed direct-reclaim stalls)


SUB_STRIDE = 16
SUB_ZONE_EVENTS = 1
SUB_ZONE_START = 2
SUB_ZONE_TIMES = 3  # unused since the jump chain (kept: the other streams keep their keys)
SUB_COLLAPSE = 4
SUB_POP = 5
SUB_INIT = 6
SUB_CACHE = 7
SUB_GATHER_TIME = 8
SUB_GATHER_ALLOC = 9
SUB_KHUGEPAGED = 10
SUB_IPI = 11

ZONE_TALLIES = TallyLayout(
    ints=(
        "sequences",
        "events",
        "reached_min",
        "reached_atomic",
        "stalls",
        "wakeups",
        "atomic_fails",
    ),
    floats=(
        "below_frac",
        "below_frac_sq",
        "below_atomic_frac",
        "below_atomic_frac_sq",
        "awake_frac",
        "awake_frac_sq",
        "stalls_sq",
    ),
)
POP_TALLIES = TallyLayout(
    ints=("splits", "thp_end", "thp_end_sq", "thp_peak", "thp_peak_sq"),
    floats=("splits_sq", "thp_avg", "thp_avg_sq"),
)
TABLE_FIELDS_INT = ("misses", "fails", "refill_fails")
TABLE_FIELDS_FLOAT = ("fails_sq", "misses_sq", "misses_x_splits", "reserve", "reserve_sq")


def table_prefix(v: int) -> str:
    return f"t_{TABLE_VARIANTS[v]}_"


def ipi_prefix(v: int) -> str:
    ipi, col = IPI_VARIANTS[v]
    return f"r_{ipi}_{col}_"


def _tallies() -> TallyLayout:
    out = ZONE_TALLIES + POP_TALLIES
    for v in range(len(TABLE_VARIANTS)):
        p = table_prefix(v)
        out = out + TallyLayout(
            tuple(p + n for n in TABLE_FIELDS_INT), tuple(p + n for n in TABLE_FIELDS_FLOAT)
        )
    rt = R.RT_TALLIES + R.rt_hist_tallies(RT_HIST)
    for v in range(len(IPI_VARIANTS)):
        p = ipi_prefix(v)
        out = out + TallyLayout(tuple(p + n for n in rt.ints), tuple(p + n for n in rt.floats))
    return out


TALLIES = _tallies()
N_INT, N_FLOAT = TALLIES.n_int, TALLIES.n_float
_i, _f = TALLIES.int_col, TALLIES.float_col
I_SEQ, I_EVENTS, I_REACHED = _i("sequences"), _i("events"), _i("reached_min")
I_REACHED_A = _i("reached_atomic")
I_STALLS, I_WAKE, I_AFAIL = _i("stalls"), _i("wakeups"), _i("atomic_fails")
F_BELOW, F_BELOW_SQ = _f("below_frac"), _f("below_frac_sq")
F_BELOW_A, F_BELOW_A_SQ = _f("below_atomic_frac"), _f("below_atomic_frac_sq")
F_AWAKE, F_AWAKE_SQ, F_STALLS_SQ = _f("awake_frac"), _f("awake_frac_sq"), _f("stalls_sq")
I_SPLITS, I_END, I_END_SQ = _i("splits"), _i("thp_end"), _i("thp_end_sq")
I_PEAK, I_PEAK_SQ = _i("thp_peak"), _i("thp_peak_sq")
F_SPLITS_SQ, F_THP, F_THP_SQ = _f("splits_sq"), _f("thp_avg"), _f("thp_avg_sq")
I_TABLE0 = _i(table_prefix(0) + "misses")
F_TABLE0 = _f(table_prefix(0) + "fails_sq")
N_TI, N_TF = len(TABLE_FIELDS_INT), len(TABLE_FIELDS_FLOAT)
I_RT0 = _i(ipi_prefix(0) + R.RT_TALLIES.ints[0])
F_RT0 = _f(ipi_prefix(0) + R.RT_TALLIES.floats[0])
N_RI = R.RT_TALLIES.n_int + RT_HIST + 1
N_RF = R.RT_TALLIES.n_float


@njit(cache=True)
def _zone_tallies(out_i, out_f, cnt, n_ev, below, below_a, awake):
    """One sequence's zone: its jumps, counts and time fractions."""
    out_i[I_EVENTS] += n_ev
    out_i[I_REACHED] += 1 if below > 0.0 else 0
    out_i[I_REACHED_A] += 1 if below_a > 0.0 else 0
    out_i[I_STALLS] += cnt[C_STALL]
    out_i[I_WAKE] += cnt[C_WAKE]
    out_i[I_AFAIL] += cnt[C_AFAIL]
    x = below
    out_f[F_BELOW] += x
    out_f[F_BELOW_SQ] += x * x
    x = below_a
    out_f[F_BELOW_A] += x
    out_f[F_BELOW_A_SQ] += x * x
    x = awake
    out_f[F_AWAKE] += x
    out_f[F_AWAKE_SQ] += x * x
    out_f[F_STALLS_SQ] += float(cnt[C_STALL]) ** 2


@njit(cache=True)
def _pop_tallies(out_i, out_f, res, misses, fails, rfails, reserve):
    splits = res.splits
    out_i[I_SPLITS] += splits
    out_i[I_END] += res.thp_end
    out_i[I_END_SQ] += res.thp_end * res.thp_end
    out_i[I_PEAK] += res.thp_peak
    out_i[I_PEAK_SQ] += res.thp_peak * res.thp_peak
    out_f[F_SPLITS_SQ] += float(splits) * float(splits)
    out_f[F_THP] += res.thp_avg
    out_f[F_THP_SQ] += res.thp_avg**2
    for v in range(misses.shape[0]):
        oi = I_TABLE0 + N_TI * v
        of = F_TABLE0 + N_TF * v
        out_i[oi] += misses[v]
        out_i[oi + 1] += fails[v]
        out_i[oi + 2] += rfails[v]
        out_f[of] += float(fails[v]) ** 2
        out_f[of + 1] += float(misses[v]) ** 2
        out_f[of + 2] += float(misses[v]) * float(splits)
        out_f[of + 3] += reserve[v]
        out_f[of + 4] += reserve[v] ** 2


@njit(cache=True)
def sequence_work(arrays):
    """Work arrays of ``sequence_consumers`` for the sizes in ``arrays`` (one set per
    block, reused by its sequences): (THP work, pressure-bit switch times, IPI cycles)."""
    nv_t = arrays.ks.shape[0]
    levels = np.zeros((nv_t, max(arrays.thp.split_cpus, 1)), dtype=np.int64)
    misses = np.zeros(nv_t, dtype=np.int64)
    fails = np.zeros(nv_t, dtype=np.int64)
    rfails = np.zeros(nv_t, dtype=np.int64)
    reserve = np.zeros(nv_t, dtype=np.float64)
    work = (levels, misses, fails, rfails, reserve)
    return work, np.empty(64, dtype=np.float64), np.empty(1024, dtype=np.int64)


@njit(cache=True)
def sequence_consumers(
    k0, k1, block, base, arrays, code0, codes, times, n_sw, work, swbuf, rtbuf, out_i, out_f
):
    """Steps 2-4 of one sequence on its zone path (initial code ``code0``, ``n_sw``
    switches to ``codes`` at ``times``): khugepaged's collapses, the THPs and every table
    policy, every IPI variant; tallies into ``out_i``, ``out_f``. Returns the grown
    ``swbuf``, ``rtbuf``.

    A function of its own so that it compiles apart from the zone's path
    (``compile_consumers``), while another process compiles that (``compile_zone_path``).
    """
    _levels, misses, fails, rfails, reserve = work
    horizon = arrays.span.horizon_s
    coll_st = stream_new(k0, k1, block, base + SUB_COLLAPSE)
    coll, n_coll = poisson_times(coll_st, arrays.span.collapse_rate, 0.0, horizon)
    res = T.host_population(
        stream_new(k0, k1, block, base + SUB_POP),
        stream_new(k0, k1, block, base + SUB_INIT),
        stream_new(k0, k1, block, base + SUB_CACHE),
        arrays,
        coll,
        n_coll,
        (code0, codes, times, n_sw),
        work,
    )
    _pop_tallies(out_i, out_f, res, misses, fails, rfails, reserve)
    e0, swbuf, m = Z.bit_path(code0, codes, times, n_sw, Z.CODE_BELOW_MIN, swbuf)
    ipi = arrays.ipi
    for v in range(ipi.shape[0]):
        oi = I_RT0 + N_RI * v
        of = F_RT0 + N_RF * v
        rtbuf = R.rt_sequence(
            stream_new(k0, k1, block, base + SUB_GATHER_TIME),
            stream_new(k0, k1, block, base + SUB_GATHER_ALLOC),
            stream_new(k0, k1, block, base + SUB_KHUGEPAGED),
            stream_new(k0, k1, block, base + SUB_IPI),
            0.0,
            horizon,
            ipi[v],
            arrays.rth,
            e0,
            swbuf,
            m,
            coll,
            n_coll,
            rtbuf,
            out_i[oi : oi + N_RI],
            out_f[of : of + N_RF],
        )
    return swbuf, rtbuf


@njit(cache=True)
def zone_work():
    """Work arrays of ``zone.zone_path`` (they grow): (counters, (codes, times))."""
    cnt = np.zeros(N_COUNTERS, dtype=np.int64)
    buf = (np.empty(64, dtype=np.int64), np.empty(64, dtype=np.float64))
    return cnt, buf


@njit(cache=True, nogil=True)
def host_block(
    k0,
    k1,
    block,
    n_seq,
    P,
    jump,
    arrays,
    out_i,
    out_f,
):
    """``n_seq`` sequences of one block into its tally rows ``out_i``, ``out_f``
    (``TALLIES``); without the GIL, so blocks run in Python threads
    (``mcstudy.engine.parallel``).

    ``P`` (``zone_events.ZoneInts``) and ``jump`` (``zone_jump.jump_rates``) are the zone
    chain's; ``arrays``: the rest (``HostArrays``).
    """
    cdf, span = arrays.cdf, arrays.span
    nf = span.levels
    amark = span.atomic_mark
    horizon = span.horizon_s
    cnt, buf = zone_work()
    work, swbuf, rtbuf = sequence_work(arrays)
    for j in range(n_seq):
        base = SUB_STRIDE * j
        ev_st = stream_new(k0, k1, block, base + SUB_ZONE_EVENTS)
        start_st = stream_new(k0, k1, block, base + SUB_ZONE_START)
        cnt[:] = 0
        buf, code0, n_sw, n_ev, below, below_a, awake = Z.zone_path(
            ev_st, start_st, cdf, nf, arrays.pos, P, amark, horizon, jump, arrays.stall, cnt, buf
        )
        _zone_tallies(out_i, out_f, cnt, n_ev, below, below_a, awake)
        codes, times = buf
        swbuf, rtbuf = sequence_consumers(
            k0, k1, block, base, arrays, code0, codes, times, n_sw, work, swbuf, rtbuf, out_i, out_f
        )
    out_i[I_SEQ] += n_seq


def compile_zone_path(zone: tuple, arrays: HostArrays) -> None:
    """Compile ``zone.zone_path`` for the argument types ``host_block`` passes it, by one
    call on a prepared point's ``zone`` and ``arrays`` (a warm-up's: a short path)."""
    span = arrays.span
    cnt, buf = zone_work()
    Z.zone_path(
        stream_new(1, 2, 0, SUB_ZONE_EVENTS),
        stream_new(1, 2, 0, SUB_ZONE_START),
        arrays.cdf,
        span.levels,
        arrays.pos,
        zone[0],
        span.atomic_mark,
        span.horizon_s,
        zone[1],
        arrays.stall,
        cnt,
        buf,
    )


def compile_consumers(arrays: HostArrays) -> None:
    """Compile ``sequence_consumers`` for the argument types ``host_block`` passes it, by
    one call on a prepared point's ``arrays`` and a path that never leaves its start."""
    work, swbuf, rtbuf = sequence_work(arrays)
    codes = np.zeros(64, dtype=np.int64)
    times = np.zeros(64, dtype=np.float64)
    out_i = np.zeros(N_INT, dtype=np.int64)
    out_f = np.zeros(N_FLOAT, dtype=np.float64)
    sequence_consumers(1, 2, 0, 0, arrays, 0, codes, times, 0, work, swbuf, rtbuf, out_i, out_f)
