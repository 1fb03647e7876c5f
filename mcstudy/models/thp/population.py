"""``@njit`` kernels of the THP model (``docs/model.md`` §5.3, §5.4): pressure episodes, khugepaged arrivals, the population of
PMD-mapped THPs with their deposited page tables, and split-time allocations.

One sequence is ``warmup_s + horizon_s`` seconds of a host; statistics are taken over the
last ``horizon_s``. Three classes of PMD mappings (index ``c``):

* 0, anonymous THPs: ``do_huge_pmd_anonymous_page()`` faults and khugepaged
  ``collapse_huge_page()`` collapses;
* 1, huge-zero-page mappings: read faults with ``set_huge_zero_page()``;
* 2, fork copies: ``copy_huge_pmd()`` maps the parent's THP (or huge zero page) in the
  child and deposits a fresh table there.

Each mapping holds one deposited PTE table under mainline (``pgtable_trans_huge_deposit``)
and ends either by zap (``zap_huge_pmd()`` -> ``zap_deposited_table()``: ``pte_free``) or
by a PMD split (``__split_huge_pmd_locked()``: the deposit is withdrawn and becomes the
live PTE table). Splits happen at class- and pressure-dependent rates ``sig[c, env]``.

Two exact ways to simulate the population:

* ``population_aggregate`` (exponential lifetimes): only the counts (N_0, N_1, N_2) are
  kept; the next event is drawn from the total rate (Gillespie; exact by memorylessness).
* ``population_individual`` (lognormal or Pareto lifetimes of classes 0 and 1): every
  mapping carries its departure time in a binary heap; its split time is the inverse of
  the class's cumulative split hazard along the pre-drawn pressure path.

The population never depends on ``table_policy``: a split whose on-demand allocation
fails is counted and then completes through a slow path (drop the PMD lock, blocking
allocation, retry), so every policy sees the same THPs (common random numbers).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from mcstudy.engine.rng import next_double
from mcstudy.engine.sampling import (
    bernoulli,
    binomial,
    exponential,
    exponential_inline,
    lifetime,
    poisson,
    stationary_age_and_lifetime,
    uniform,
)
from mcstudy.engine.tallies import TallyLayout
from mcstudy.kernel.policies import TABLE_CACHE_CODE, TABLE_DEPOSIT_CODE, TABLE_ON_DEMAND_CODE
from mcstudy.mechanisms.paths import next_time, split_hazard_table, split_time

# named sub-streams (counter word 3); each source of randomness has its own
SUBSTREAM_ENV = 1
SUBSTREAM_COLLAPSE = 2
SUBSTREAM_POP = 3
SUBSTREAM_INIT = 4
SUBSTREAM_CACHE = 5
SUBSTREAM_SPLIT_ALLOC = 6
SUBSTREAM_GATHER_TIME = 7
SUBSTREAM_GATHER_ALLOC = 8
SUBSTREAM_KHUGEPAGED = 9
SUBSTREAM_IPI = 10

# table policies (codes of mcstudy.kernel.policies.TABLE_POLICY_TABLE)
POLICY_DEPOSIT = TABLE_DEPOSIT_CODE
POLICY_ON_DEMAND = TABLE_ON_DEMAND_CODE
POLICY_CACHE = TABLE_CACHE_CODE


class PopFloats(NamedTuple):
    """The population kernels' float parameters (``fp``), read by name: all float64, one
    uniform tuple type. Built only by ``prepare.pack_population``."""

    t0: float  # start of the measured window (= warm-up), s
    t1: float  # end of the sequence, s
    to_pressure: float  # calm -> pressure rate, 1/s
    to_calm: float  # pressure -> calm rate, 1/s
    phi: float  # stationary P(pressure)
    fork_rate: float  # forks/s
    fork_q: float  # P(a mapping is copied by a fork)
    life_mean: float  # mean lifetime of classes 0, 1 (individual mode), s
    life_shape: float  # lognormal sigma or Pareto alpha
    collapse_rate: float  # khugepaged collapses/s
    refill: float  # cache refills per second per CPU while below K
    center: float  # reference level of the deposit moments, tables


class PopInts(NamedTuple):
    """The population kernels' integer parameters (``ip``), read by name: all int64, one
    uniform tuple type. Built only by ``prepare.pack_population``."""

    individual: int  # 1: population_individual (any lifetime law); 0: population_aggregate
    dist: int  # lifetime law of classes 0, 1 (index in LIFETIME_DISTS)
    policy: int  # table policy code (POLICY_*)
    cache_k: int  # tables the per-CPU cache holds (cache policy)
    split_cpus: int  # CPUs splits run on (one cache level each)


# tally columns of the population part (the THP layout starts with these)
POP_TALLIES = TallyLayout(
    ints=(
        "sequences",
        "splits",
        "split_failures",
        "cache_misses",
        "thp_end",
        "thp_end_sq",
        "deposit_peak",
        "deposit_peak_sq",
    ),
    floats=(
        "splits_sq",
        "split_failures_sq",
        "thp_avg",
        "thp_avg_sq",
        "deposit_avg",
        "deposit_avg_sq",
        "reserve_avg",
        "reserve_avg_sq",
        "cache_misses_sq",
        "cache_misses_splits",
        # second minus first half of the measured window, per sequence (transient check)
        "deposit_drift",
        "deposit_drift_sq",
        "reserve_drift",
        "reserve_drift_sq",
        # time averages of y and y^2 (y = deposit - fp.center) and their products
        "deposit_m1",
        "deposit_m2",
        "deposit_m1_m1",
        "deposit_m1_m2",
        "deposit_m2_m2",
    ),
)
T_SEQUENCES = POP_TALLIES.int_col("sequences")
T_SPLITS = POP_TALLIES.int_col("splits")
T_SPLIT_FAILURES = POP_TALLIES.int_col("split_failures")
T_CACHE_MISSES = POP_TALLIES.int_col("cache_misses")
T_THP_END = POP_TALLIES.int_col("thp_end")
T_THP_END_SQ = POP_TALLIES.int_col("thp_end_sq")
T_DEPOSIT_PEAK = POP_TALLIES.int_col("deposit_peak")
T_DEPOSIT_PEAK_SQ = POP_TALLIES.int_col("deposit_peak_sq")
N_POP_INT = POP_TALLIES.n_int
U_SPLITS_SQ = POP_TALLIES.float_col("splits_sq")
U_SPLIT_FAILURES_SQ = POP_TALLIES.float_col("split_failures_sq")
U_THP_AVG = POP_TALLIES.float_col("thp_avg")
U_THP_AVG_SQ = POP_TALLIES.float_col("thp_avg_sq")
U_DEPOSIT_AVG = POP_TALLIES.float_col("deposit_avg")
U_DEPOSIT_AVG_SQ = POP_TALLIES.float_col("deposit_avg_sq")
U_RESERVE_AVG = POP_TALLIES.float_col("reserve_avg")
U_RESERVE_AVG_SQ = POP_TALLIES.float_col("reserve_avg_sq")
U_MISSES_SQ = POP_TALLIES.float_col("cache_misses_sq")
U_MISSES_SPLITS = POP_TALLIES.float_col("cache_misses_splits")
U_DEPOSIT_DRIFT = POP_TALLIES.float_col("deposit_drift")
U_DEPOSIT_DRIFT_SQ = POP_TALLIES.float_col("deposit_drift_sq")
U_RESERVE_DRIFT = POP_TALLIES.float_col("reserve_drift")
U_RESERVE_DRIFT_SQ = POP_TALLIES.float_col("reserve_drift_sq")
U_M1 = POP_TALLIES.float_col("deposit_m1")
U_M_PRODUCTS = POP_TALLIES.float_col("deposit_m1_m1")  # then m1 m2, m2 m2
N_POP_FLOAT = POP_TALLIES.n_float


_INF = math.inf


# --------------------------------------------------------------------------- helpers


@njit(cache=True)
def split_table_alloc(policy, levels, split_cpus, cache_st, fail_st, th, e):
    """The page table a split needs, under the table policy: returns (miss, failed, took).

    ``deposit``: the deposit is withdrawn (never fails). ``on_demand``: one allocation
    under the PMD lock (GFP_NOWAIT or GFP_ATOMIC; fails with the env's probability).
    ``cache_k``: a table from this CPU's cache if it holds one (``took`` = 1), else the
    same atomic attempt.
    """
    if policy == POLICY_DEPOSIT:
        return False, False, 0
    took = 0
    if policy == POLICY_CACHE:
        j = int(uniform(cache_st) * split_cpus)
        if levels[j] > 0:
            levels[j] -= 1
            return False, False, 1
    failed = bernoulli(fail_st, th, e)
    return True, failed, took


@njit(cache=True)
def init_cache(cache_st, levels, split_cpus, cache_cdf):
    """Per-CPU cache levels drawn from ``cache_cdf`` (stationary law); returns the sum.

    Drawn from the cache's own stream, so the THP population (drawn from the others) is
    the same under every table policy.
    """
    total = 0
    for j in range(split_cpus):
        u = uniform(cache_st)
        k = 0
        while k < cache_cdf.shape[0] - 1 and u >= cache_cdf[k]:
            k += 1
        levels[j] = k
        total += k
    return total


@njit(cache=True)
def first_half(t_prev, t_next, t0, t1):
    """Length of [max(t_prev, t0), t_next] inside the first half [t0, (t0 + t1) / 2] (s)."""
    lo = t_prev if t_prev > t0 else t0
    hi = min(t_next, 0.5 * (t0 + t1))
    return hi - lo if hi > lo else 0.0


A_THP, A_DEP, A_RES, A_DEP_H1, A_RES_H1 = 0, 1, 2, 3, 4
"""time integrals of one sequence over its counted window (``window_integrals``):
PMD-mapped THPs, deposited tables, reserved tables, and the deposit's and the reserve's
integrals over the first half of the window"""
N_ACC = 5


@njit(cache=True)
def window_integrals(acc, mom, t, tn, t0, t1, n_thp, dep, cached, policy, center):
    """Add the interval ``(t, tn]``, cut to the counted window ``[t0, t1]``, to the time
    integrals ``acc`` (``A_*``) and ``mom`` (of y and y^2, y = deposit - ``center``),
    with ``n_thp`` mappings, ``dep`` deposited and ``cached`` cached tables held
    throughout. True if any time was added (the deposit is then part of the window)."""
    if tn <= t0:
        return False
    dt = tn - (t if t > t0 else t0)
    if dt <= 0.0:
        return False
    h1 = first_half(t, tn, t0, t1)
    acc[A_THP] += n_thp * dt
    acc[A_DEP] += dep * dt
    acc[A_DEP_H1] += dep * h1
    if policy == POLICY_DEPOSIT:
        acc[A_RES] += dep * dt
        acc[A_RES_H1] += dep * h1
    elif policy == POLICY_CACHE:
        acc[A_RES] += cached * dt
        acc[A_RES_H1] += cached * h1
    y = dep - center
    mom[0] += y * dt
    mom[1] += y * y * dt
    return True


@njit(cache=True)
def finish_population(fp, ip, splits, failures, misses, n_end, peak, acc, mom, out_i, out_f):
    """Fold one sequence's population results into the block's tallies; ``acc`` holds its
    time integrals (``window_integrals``), ``mom`` the integrals of y and y^2 with
    y = deposit - fp.center."""
    s_thp, s_dep, s_res = acc[A_THP], acc[A_DEP], acc[A_RES]
    d1, r1 = acc[A_DEP_H1], acc[A_RES_H1]
    h = fp.t1 - fp.t0
    drift = (s_dep - 2.0 * d1) / (0.5 * h)  # (second half - first half) / half length
    out_f[U_DEPOSIT_DRIFT] += drift
    out_f[U_DEPOSIT_DRIFT_SQ] += drift * drift
    drift = (s_res - 2.0 * r1) / (0.5 * h)
    out_f[U_RESERVE_DRIFT] += drift
    out_f[U_RESERVE_DRIFT_SQ] += drift * drift
    out_i[T_SEQUENCES] += 1
    out_i[T_SPLITS] += splits
    out_i[T_SPLIT_FAILURES] += failures
    out_i[T_CACHE_MISSES] += misses
    out_i[T_THP_END] += n_end
    out_i[T_THP_END_SQ] += n_end * n_end
    out_i[T_DEPOSIT_PEAK] += peak
    out_i[T_DEPOSIT_PEAK_SQ] += peak * peak
    out_f[U_SPLITS_SQ] += float(splits) * float(splits)
    out_f[U_SPLIT_FAILURES_SQ] += float(failures) * float(failures)
    out_f[U_MISSES_SQ] += float(misses) * float(misses)
    out_f[U_MISSES_SPLITS] += float(misses) * float(splits)
    a = s_thp / h
    out_f[U_THP_AVG] += a
    out_f[U_THP_AVG_SQ] += a * a
    a = s_dep / h
    out_f[U_DEPOSIT_AVG] += a
    out_f[U_DEPOSIT_AVG_SQ] += a * a
    a = s_res / h
    out_f[U_RESERVE_AVG] += a
    out_f[U_RESERVE_AVG_SQ] += a * a
    # time averages of the deposit's first two moments about fp.center, and products
    a1, a2 = mom[0] / h, mom[1] / h
    out_f[U_M1] += a1
    out_f[U_M1 + 1] += a2
    out_f[U_M_PRODUCTS] += a1 * a1
    out_f[U_M_PRODUCTS + 1] += a1 * a2
    out_f[U_M_PRODUCTS + 2] += a2 * a2


@njit(cache=True, inline="always")
def _start_cache(cache_st, levels, cache_cdf, fp, ip):
    """Per-CPU caches at the start (``cache_k`` only): (cached tables, refills/s while
    every CPU is below K)."""
    if ip.policy != POLICY_CACHE:
        return 0, 0.0
    cached = init_cache(cache_st, levels, ip.split_cpus, cache_cdf)
    return cached, (ip.split_cpus * fp.refill if ip.cache_k > 0 else 0.0)


@njit(cache=True, inline="always")
def _refill(cache_st, levels, split_cpus, cache_k, cached):
    """One refill event: a uniformly drawn CPU's cache gains a table if below K."""
    j = int(uniform(cache_st) * split_cpus)
    if levels[j] < cache_k:
        levels[j] += 1
        cached += 1
    return cached


@njit(cache=True, inline="always")
def _split(ip, levels, cache_st, fail_st, th, e, counted, cached, n, m, f):
    """One PMD split's table (``split_table_alloc``); ``counted``: in the measured window.
    Returns (cached, splits, misses, failures) updated."""
    miss, failed, took = split_table_alloc(
        ip.policy, levels, ip.split_cpus, cache_st, fail_st, th, e
    )
    if counted:
        n += 1
        m += 1 if miss else 0
        f += 1 if failed else 0
    return cached - took, n, m, f


# --------------------------------------------------------------------------- aggregate


@njit(cache=True, inline="always")
def _switch(e, isw, sw, n_sw):
    """The pressure path's next switch: returns (env, switches seen, next switch time)."""
    isw += 1
    return 1 - e, isw, next_time(sw, isw, n_sw)


@njit(cache=True)
def population_aggregate(streams, fp, ip, arrays, path, levels, mom, out_i, out_f):
    """One sequence with exponential lifetimes, simulated on the class counts.

    ``streams``: the population's (pop, init, cache, split-allocation) streams;
    ``arrays``: ``PreparedThp.arrays``; ``path``: ``(e0, sw, n_sw, coll, n_coll)``, the
    pressure path and the collapse times.
    """
    pop_st, init_st, cache_st, fail_st = streams
    lam, mu, sig, m0, _sig_init, th, cache_cdf, _rp, _rth = arrays
    e0, sw, n_sw, coll, n_coll = path
    t0 = fp.t0
    t1 = fp.t1
    fork_rate = fp.fork_rate if fp.fork_q > 0.0 else 0.0
    policy = ip.policy
    center = fp.center
    mom[:] = 0.0

    e = e0
    isw = 0
    t_sw = next_time(sw, 0, n_sw)
    ic = 0
    t_c = next_time(coll, 0, n_coll)

    n0 = poisson(init_st, m0[0, e])
    n1 = poisson(init_st, m0[1, e])
    n2 = poisson(init_st, m0[2, e])
    dep = n0 + n1 + n2  # one deposited table per PMD mapping
    cached, refill_rate = _start_cache(cache_st, levels, cache_cdf, fp, ip)

    t = 0.0
    t_ref = exponential(cache_st, refill_rate) if refill_rate > 0.0 else _INF
    t_pop = _INF
    need = True
    total = 0.0
    splits = failures = misses = 0
    peak = 0
    acc = np.zeros(N_ACC)
    while True:
        if need:
            total = (
                lam[0]
                + lam[1]
                + fork_rate
                + n0 * (mu[0] + sig[0, e])
                + n1 * (mu[1] + sig[1, e])
                + n2 * (mu[2] + sig[2, e])
            )
            t_pop = t + exponential_inline(pop_st, total) if total > 0.0 else _INF
            need = False
        tn = min(t_pop, t_sw, t_c, t_ref, t1)
        counted = window_integrals(
            acc, mom, t, tn, t0, t1, n0 + n1 + n2, dep, cached, policy, center
        )
        if counted and dep > peak:
            peak = dep
        t = tn
        if t >= t1:
            break
        need = True
        if t == t_sw:
            e, isw, t_sw = _switch(e, isw, sw, n_sw)
        elif t == t_c:
            # collapse_huge_page(): a new PMD-mapped anonymous THP with a deposit
            n0 += 1
            dep += 1
            ic += 1
            t_c = next_time(coll, ic, n_coll)
        elif t == t_ref:
            need = False
            cached = _refill(cache_st, levels, ip.split_cpus, ip.cache_k, cached)
            t_ref = t + exponential(cache_st, refill_rate)
        else:
            u = next_double(pop_st) * total
            if u < lam[0]:
                n0 += 1  # do_huge_pmd_anonymous_page(): deposit
                dep += 1
                continue
            u -= lam[0]
            if u < lam[1]:
                n1 += 1  # set_huge_zero_page(): deposit
                dep += 1
                continue
            u -= lam[1]
            if u < fork_rate:
                m = binomial(pop_st, n0 + n1, fp.fork_q)  # copy_huge_pmd(): child deposits
                n2 += m
                dep += m
                continue
            u -= fork_rate
            # a departure: class c, zap or split
            rate0 = n0 * (mu[0] + sig[0, e])
            rate1 = n1 * (mu[1] + sig[1, e])
            if u < rate0:
                c = 0
                n = n0
            elif u - rate0 < rate1:
                c = 1
                n = n1
                u -= rate0
            else:
                c = 2
                n = n2
                u -= rate0 + rate1
            is_split = u < n * sig[c, e]
            if c == 0:
                n0 -= 1
            elif c == 1:
                n1 -= 1
            else:
                n2 -= 1
            dep -= 1  # zap_deposited_table() or pgtable_trans_huge_withdraw()
            if is_split:
                cached, splits, misses, failures = _split(
                    ip, levels, cache_st, fail_st, th, e, t >= t0, cached, splits, misses, failures
                )
    finish_population(fp, ip, splits, failures, misses, n0 + n1 + n2, peak, acc, mom, out_i, out_f)


# --------------------------------------------------------------------------- individual


@njit(cache=True, inline="always")
def heap_push(ht, hc, size, t, code):
    """Push (t, code) on the binary min-heap ``ht``/``hc`` of ``size``; returns the new size."""
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] <= t:
            break
        ht[i] = ht[p]
        hc[i] = hc[p]
        i = p
    ht[i] = t
    hc[i] = code
    return size + 1


@njit(cache=True, inline="always")
def heap_pop(ht, hc, size):
    """Remove the root of the heap; returns the new size."""
    size -= 1
    t = ht[size]
    code = hc[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        m = left
        right = left + 1
        if right < size and ht[right] < ht[left]:
            m = right
        if ht[m] >= t:
            break
        ht[i] = ht[m]
        hc[i] = hc[m]
        i = m
    if size > 0:
        ht[i] = t
        hc[i] = code
    return size


@njit(cache=True)
def _grow(ht, hc, size):
    cap = 2 * ht.shape[0]
    nt = np.empty(cap, dtype=np.float64)
    nc = np.empty(cap, dtype=np.int64)
    nt[:size] = ht[:size]
    nc[:size] = hc[:size]
    return nt, nc


@njit(cache=True, inline="always")
def _schedule(ht, hc, size, c, zap, spl):
    """Push a class-``c`` mapping's departure on a heap with room for it: its split at
    ``spl`` or its zap at ``zap``, whichever comes first; returns the new size."""
    if spl < zap:
        return heap_push(ht, hc, size, spl, 2 * c + 1)
    return heap_push(ht, hc, size, zap, 2 * c)


@njit(cache=True)
def population_individual(streams, fp, ip, arrays, path, levels, mom, ht, hc, out_i, out_f):
    """One sequence with every mapping carrying its departure time (general lifetimes);
    arguments as :func:`population_aggregate`.

    Heap codes: ``2 c + 1`` for a split, ``2 c`` for a zap of class c. Returns the heap
    arrays (they grow) so the block can reuse them.
    """
    pop_st, init_st, cache_st, fail_st = streams
    lam, mu, sig, m0, sig_init, th, cache_cdf, _rp, _rth = arrays
    e0, sw, n_sw, coll, n_coll = path
    t0 = fp.t0
    t1 = fp.t1
    fork_rate = fp.fork_rate if fp.fork_q > 0.0 else 0.0
    dist = ip.dist
    mean = fp.life_mean
    shape = fp.life_shape
    policy = ip.policy
    center = fp.center
    mom[:] = 0.0
    cum = split_hazard_table(e0, sw, n_sw, sig)

    e = e0
    isw = 0
    t_sw = next_time(sw, 0, n_sw)
    ic = 0
    t_c = next_time(coll, 0, n_coll)

    # stationary start: ages and residual lifetimes of the mappings alive at t = 0
    size = 0
    counts = np.zeros(3, dtype=np.int64)
    for c in range(3):
        n = poisson(init_st, m0[c, e])
        counts[c] = n
        for _ in range(n):
            if c < 2:
                age, x = stationary_age_and_lifetime(init_st, dist, mean, shape, sig_init[c])
                zap = x - age
            else:
                zap = exponential(init_st, mu[2])
            spl = split_time(init_st, c, 0.0, 0, e0, sw, n_sw, cum, sig)
            if size == ht.shape[0]:
                ht, hc = _grow(ht, hc, size)
            size = _schedule(ht, hc, size, c, zap, spl)
    dep = counts[0] + counts[1] + counts[2]
    cached, refill_rate = _start_cache(cache_st, levels, cache_cdf, fp, ip)

    birth_rate = lam[0] + lam[1] + fork_rate
    t = 0.0
    t_birth = exponential(pop_st, birth_rate) if birth_rate > 0.0 else _INF
    t_ref = exponential(cache_st, refill_rate) if refill_rate > 0.0 else _INF
    splits = failures = misses = 0
    peak = 0
    acc = np.zeros(N_ACC)
    while True:
        t_dep = ht[0] if size > 0 else _INF
        tn = min(t_birth, t_dep, t_sw, t_c, t_ref, t1)
        # (window_integrals and the peak written out in both kernels: a shared helper
        # around them made population_individual ~20 % slower)
        counted = window_integrals(acc, mom, t, tn, t0, t1, size, dep, cached, policy, center)
        if counted and dep > peak:
            peak = dep
        t = tn
        if t >= t1:
            break
        if t == t_sw:
            e, isw, t_sw = _switch(e, isw, sw, n_sw)
            continue
        if t == t_ref:
            cached = _refill(cache_st, levels, ip.split_cpus, ip.cache_k, cached)
            t_ref = t + exponential(cache_st, refill_rate)
            continue
        if t == t_dep:
            code = hc[0]
            size = heap_pop(ht, hc, size)
            counts[code >> 1] -= 1
            dep -= 1
            if code & 1:
                cached, splits, misses, failures = _split(
                    ip, levels, cache_st, fail_st, th, e, t >= t0, cached, splits, misses, failures
                )
            continue
        # arrivals: a collapse, or a fault / zero-page fault / fork
        n_new = 1
        c = 0
        if t == t_c:
            ic += 1
            t_c = next_time(coll, ic, n_coll)
        else:
            u = uniform(pop_st) * birth_rate
            if u < lam[0]:
                c = 0
            elif u - lam[0] < lam[1]:
                c = 1
            else:
                c = 2
                n_new = binomial(pop_st, size - counts[2], fp.fork_q)
            t_birth = t + exponential(pop_st, birth_rate)
        for _ in range(n_new):
            if c < 2:
                zap = t + lifetime(pop_st, dist, mean, shape)
            else:
                zap = t + exponential(pop_st, mu[2])
            spl = split_time(pop_st, c, t, isw, e0, sw, n_sw, cum, sig)
            if size == ht.shape[0]:
                ht, hc = _grow(ht, hc, size)
            size = _schedule(ht, hc, size, c, zap, spl)
        counts[c] += n_new
        dep += n_new
    finish_population(fp, ip, splits, failures, misses, size, peak, acc, mom, out_i, out_f)
    return ht, hc
