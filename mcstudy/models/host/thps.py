"""PMD-mapped THPs of the host study and every table policy at once (``@njit``;
``docs/model.md`` §11.7).

The population is that of the THP model's aggregate mode (``docs/model.md`` §5.4) for
anonymous THPs: arrivals by faults (``do_huge_pmd_anonymous_page()``) at a constant rate
and by khugepaged collapses at given times, each holding one deposited table; departures
by zap (lifetime) or split (``split_rate`` per THP, plus ``reclaim_split_rate`` while
kswapd is awake). The zone's path (``zone.py``) says, at every instant, whether a
GFP_NOWAIT or GFP_ATOMIC allocation would fail.

At each split, every table policy is evaluated on the same split (common random
numbers; the split runs on one CPU drawn uniformly among ``split_cpus``):

* variant 0, ``on_demand`` GFP_NOWAIT: one allocation, fails iff free <= min;
* variant 1, ``on_demand`` GFP_ATOMIC: fails iff free <= the atomic mark;
* variants 2..: ``cache_k`` with ``ks[v]`` tables per CPU: a cached table if that CPU's
  cache holds one, else the GFP_NOWAIT allocation. Refills arrive at ``refill_rate`` per
  CPU while below ``ks[v]`` (a thinned Poisson stream shared by the variants); a
  GFP_NOWAIT refill fails while free <= min and the cache stays as it is.

Mainline's deposit needs none of this: it holds one table per THP and never fails.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcstudy.engine.rng import next_double, next_double_open0
from mcstudy.engine.sampling import exponential, poisson, uniform
from mcstudy.models.host.zone import CODE_AWAKE, CODE_BELOW_ATOMIC, CODE_BELOW_MIN

_INF = math.inf

# float parameters
P_LAM = 0  # faults/s
P_MU = 1  # 1 / lifetime, 1/s
P_SIG = 2  # splits per THP per second
P_SIG_R = 3  # extra splits per THP per second while kswapd is awake
P_M0 = 4  # mean of the initial (Poisson) count
P_REFILL = 5  # refills per second per CPU while below K
P_HORIZON = 6
N_PF = 7
# integer parameters
Q_SPLIT_CPUS = 0
Q_REFILL_NOWAIT = 1
N_QI = 2

V_NOWAIT = 0
V_ATOMIC = 1
FIRST_CACHE = 2

# per-sequence results written into the caller's arrays
R_SPLITS = 0
R_END = 1
R_PEAK = 2
N_RI = 3
R_THP_AVG = 0
N_RF = 1


@njit(cache=True, inline="always")
def _exp(st, rate):
    return -math.log(next_double_open0(st)) / rate


@njit(cache=True, inline="always")
def _settle(reserve, since, cached, v, t):
    """Add variant ``v``'s cached tables x time since its last change to ``reserve``."""
    reserve[v] += cached[v] * (t - since[v])
    since[v] = t


@njit(cache=True)
def init_caches(st, levels, ks, cdfs):
    """Per-CPU cache levels of every cache variant from ``cdfs[v]``; returns the sums."""
    nv, cpus = levels.shape
    cached = np.zeros(nv, dtype=np.int64)
    for v in range(FIRST_CACHE, nv):
        for j in range(cpus):
            u = uniform(st)
            k = 0
            while k < ks[v] and u >= cdfs[v, k]:
                k += 1
            levels[v, j] = k
            cached[v] += k
    return cached


@njit(cache=True)
def host_population(
    pop_st,
    init_st,
    cache_st,
    pf,
    qi,
    ks,
    cdfs,
    coll,
    n_coll,
    code0,
    codes,
    times,
    n_sw,
    levels,
    misses,
    fails,
    refill_fails,
    reserve,
    res_i,
    res_f,
):
    """One sequence: the THPs over ``[0, horizon)`` and every table variant's outcomes.

    Per variant ``v``: ``misses[v]`` (splits that needed an allocation), ``fails[v]``,
    ``refill_fails[v]``, ``reserve[v]`` (time-average cached tables). ``res_i``: splits,
    THPs at the end, largest THP count; ``res_f``: time-average THPs.
    """
    horizon = pf[P_HORIZON]
    lam = pf[P_LAM]
    mu = pf[P_MU]
    cpus = qi[Q_SPLIT_CPUS]
    refill_nowait = qi[Q_REFILL_NOWAIT] != 0
    nv = ks.shape[0]
    misses[:] = 0
    fails[:] = 0
    refill_fails[:] = 0
    reserve[:] = 0.0
    code = code0
    isw = 0
    t_sw = times[0] if n_sw > 0 else _INF
    ic = 0
    t_c = coll[0] if n_coll > 0 else _INF
    n = poisson(init_st, pf[P_M0])
    cached = init_caches(cache_st, levels, ks, cdfs)
    refill_total = cpus * pf[P_REFILL] if nv > FIRST_CACHE else 0.0
    t_ref = exponential(cache_st, refill_total) if refill_total > 0.0 else _INF
    sig = pf[P_SIG] + (pf[P_SIG_R] if code & CODE_AWAKE else 0.0)
    since = np.zeros(nv)  # reserve integrals are settled when a cache level changes
    t = 0.0
    t_pop = _INF
    total = 0.0
    need = True
    splits = 0
    peak = n
    s_thp = 0.0
    while True:
        if need:
            total = lam + n * (mu + sig)
            t_pop = t + _exp(pop_st, total) if total > 0.0 else _INF
            need = False
        tn = min(t_pop, t_sw, t_c, t_ref, horizon)
        s_thp += n * (tn - t)
        t = tn
        if t >= horizon:
            break
        if t == t_sw:
            code = codes[isw]
            isw += 1
            t_sw = times[isw] if isw < n_sw else _INF
            new_sig = pf[P_SIG] + (pf[P_SIG_R] if code & CODE_AWAKE else 0.0)
            if new_sig != sig:
                sig = new_sig
                need = True
            continue
        if t == t_c:
            n += 1  # collapse_huge_page(): a new THP with its deposit
            peak = max(peak, n)
            ic += 1
            t_c = coll[ic] if ic < n_coll else _INF
            need = True
            continue
        if t == t_ref:
            j = int(uniform(cache_st) * cpus)
            for v in range(FIRST_CACHE, nv):
                if levels[v, j] < ks[v]:
                    if refill_nowait and code & CODE_BELOW_MIN:
                        refill_fails[v] += 1
                    else:
                        _settle(reserve, since, cached, v, t)
                        levels[v, j] += 1
                        cached[v] += 1
            t_ref = t + exponential(cache_st, refill_total)
            continue
        need = True
        u = next_double(pop_st) * total
        if u < lam:
            n += 1  # do_huge_pmd_anonymous_page(): deposit
            peak = max(peak, n)
            continue
        u -= lam
        is_split = u < n * sig
        n -= 1  # zap_deposited_table() or pgtable_trans_huge_withdraw()
        if not is_split:
            continue
        splits += 1
        below_min = (code & CODE_BELOW_MIN) != 0
        misses[V_NOWAIT] += 1
        if below_min:
            fails[V_NOWAIT] += 1
        misses[V_ATOMIC] += 1
        if code & CODE_BELOW_ATOMIC:
            fails[V_ATOMIC] += 1
        j = int(uniform(cache_st) * cpus)
        for v in range(FIRST_CACHE, nv):
            if levels[v, j] > 0:
                _settle(reserve, since, cached, v, t)
                levels[v, j] -= 1
                cached[v] -= 1
            else:
                misses[v] += 1
                if below_min:
                    fails[v] += 1
    for v in range(FIRST_CACHE, nv):
        _settle(reserve, since, cached, v, horizon)
        reserve[v] /= horizon
    res_i[R_SPLITS] = splits
    res_i[R_END] = n
    res_i[R_PEAK] = peak
    res_f[R_THP_AVG] = s_thp / horizon
