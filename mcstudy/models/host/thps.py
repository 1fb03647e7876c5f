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
from typing import NamedTuple

import numpy as np
from numba import njit

from mcstudy.engine.rng import next_double, next_double_open0
from mcstudy.engine.sampling import exponential, poisson, uniform
from mcstudy.mechanisms.paths import next_time
from mcstudy.models.host.zone import CODE_AWAKE, CODE_BELOW_ATOMIC, CODE_BELOW_MIN

_INF = math.inf


class ThpRates(NamedTuple):
    """The THP population's parameters, read by name in ``host_population`` (rates per
    second; built only by ``models.host.prepare.prepare``)."""

    fault_rate: float  # THP faults/s
    zap_rate: float  # 1 / lifetime, 1/s
    split_rate: float  # splits per THP per second
    reclaim_split_rate: float  # extra splits per THP per second while kswapd is awake
    initial_mean: float  # mean of the initial (Poisson) THP count
    refill_rate: float  # cache refills per second per CPU while below K
    horizon_s: float  # s
    split_cpus: int  # CPUs a split runs on (uniformly)
    refill_nowait: int  # 1: a refill is a GFP_NOWAIT allocation


class PopulationResult(NamedTuple):
    """One sequence's THP outcomes (``host_population``'s return)."""

    splits: int
    thp_end: int  # THPs at the horizon
    thp_peak: int  # largest THP count
    thp_avg: float  # time-average THPs


V_NOWAIT = 0
V_ATOMIC = 1
FIRST_CACHE = 2


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
def host_population(pop_st, init_st, cache_st, arrays, coll, n_coll, path, work):
    """One sequence: the THPs over ``[0, horizon)`` and every table variant's outcomes.

    ``arrays``: the host's packed arrays (``rates = arrays.thp``: ``ThpRates``, the
    variants' cache sizes ``arrays.ks`` and start laws ``arrays.cdfs``); ``path``: the
    zone path ``(code0, codes, times, n_sw)``; ``work``: ``(levels, misses, fails,
    refill_fails, reserve)``, filled per variant ``v``: ``misses[v]`` (splits that needed
    an allocation), ``fails[v]``, ``refill_fails[v]``, ``reserve[v]`` (time-average
    cached tables). Returns the sequence's ``PopulationResult``.
    """
    rates, ks, cdfs = arrays.thp, arrays.ks, arrays.cdfs
    code0, codes, times, n_sw = path
    levels, misses, fails, refill_fails, reserve = work
    horizon = rates.horizon_s
    lam = rates.fault_rate
    mu = rates.zap_rate
    cpus = rates.split_cpus
    refill_nowait = rates.refill_nowait != 0
    nv = ks.shape[0]
    misses[:] = 0
    fails[:] = 0
    refill_fails[:] = 0
    reserve[:] = 0.0
    code = code0
    isw = 0
    t_sw = next_time(times, 0, n_sw)
    ic = 0
    t_c = next_time(coll, 0, n_coll)
    n = poisson(init_st, rates.initial_mean)
    cached = init_caches(cache_st, levels, ks, cdfs)
    refill_total = cpus * rates.refill_rate if nv > FIRST_CACHE else 0.0
    t_ref = exponential(cache_st, refill_total) if refill_total > 0.0 else _INF
    sig = rates.split_rate + (rates.reclaim_split_rate if code & CODE_AWAKE else 0.0)
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
            t_sw = next_time(times, isw, n_sw)
            new_sig = rates.split_rate + (rates.reclaim_split_rate if code & CODE_AWAKE else 0.0)
            if new_sig != sig:
                sig = new_sig
                need = True
            continue
        if t == t_c:
            n += 1  # collapse_huge_page(): a new THP with its deposit
            peak = max(peak, n)
            ic += 1
            t_c = next_time(coll, ic, n_coll)
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
    return PopulationResult(splits, n, peak, s_thp / horizon)
