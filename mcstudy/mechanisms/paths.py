"""Pressure episodes, arrival times and split times along one THP sequence (``@njit``;
``docs/model.md`` §5.2, §5.3).

The pressure environment is a two-state Markov chain (calm, pressure) drawn once per
sequence as its switch times; khugepaged collapses are Poisson arrival times on it;
a mapping's split time inverts its cumulative split hazard along that path.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcstudy.engine.buffers import push
from mcstudy.engine.sampling import exponential, uniform

_INF = math.inf


@njit(cache=True)
def env_path(st, t_end, phi, to_pressure, to_calm):
    """Pressure episodes on [0, t_end): (initial state, switch times, number of switches).

    A two-state Markov chain (0 calm, 1 pressure) started from its stationary law
    (P(pressure) = ``phi``); the state flips at each switch time.
    """
    sw = np.empty(16, dtype=np.float64)
    n = np.int64(0)
    if phi <= 0.0:
        return 0, sw, 0
    e = 1 if uniform(st) < phi else 0
    e0 = e
    t = 0.0
    while True:
        rate = to_calm if e == 1 else to_pressure
        t += exponential(st, rate)
        if t >= t_end:
            break
        sw, n = push(sw, n, t)
        e = 1 - e
    return e0, sw, n


@njit(cache=True)
def poisson_times(st, rate, t_start, t_end):
    """Arrival times of a Poisson process of ``rate`` on [t_start, t_end): (times, count)."""
    out = np.empty(16, dtype=np.float64)
    n = np.int64(0)
    if rate <= 0.0:
        return out, 0
    t = t_start
    while True:
        t += exponential(st, rate)
        if t >= t_end:
            break
        out, n = push(out, n, t)
    return out, n


@njit(cache=True, inline="always")
def next_time(times, i, n):
    """``times[i]`` of the ``n`` drawn times of a path, infinity past the last."""
    return times[i] if i < n else _INF


@njit(cache=True)
def split_hazard_table(e0, sw, n_sw, sig):
    """Cumulative split hazard of each class at the start of each pressure segment.

    Segment j (0..n_sw) starts at 0 (j = 0) or ``sw[j - 1]`` and has state e0 ^ (j & 1).
    """
    cum = np.zeros((3, n_sw + 1), dtype=np.float64)
    for c in range(3):
        acc = 0.0
        start = 0.0
        for j in range(n_sw):
            e = e0 ^ (j & 1)
            acc += sig[c, e] * (sw[j] - start)
            start = sw[j]
            cum[c, j + 1] = acc
    return cum


@njit(cache=True)
def split_time(st, c, t, seg, e0, sw, n_sw, cum, sig):
    """Absolute split time of a class-``c`` mapping alive at ``t`` in segment ``seg``.

    Inverts the cumulative hazard: target = Lambda_c(t) + Exp(1); inf if never.
    """
    e = e0 ^ (seg & 1)
    start = 0.0 if seg == 0 else sw[seg - 1]
    target = cum[c, seg] + sig[c, e] * (t - start) + exponential(st, 1.0)
    row = cum[c, : n_sw + 1]
    j = np.searchsorted(row, target, side="right") - 1
    if j < seg:
        j = seg
    sj = sig[c, e0 ^ (j & 1)]
    if sj <= 0.0:
        return _INF
    start_j = 0.0 if j == 0 else sw[j - 1]
    return start_j + (target - cum[c, j]) / sj
