"""Exact samplers on top of the keyed streams (plain ``@njit``, no global state).

* ``binomial``: inversion for small means, Hormann's BTRS transformed rejection
  ("The generation of binomial random variates", J. Stat. Comput. Simul. 46, 1993)
  otherwise. Both are exact; the switch point only changes which draws are used.
* ``poisson``: inversion for means below 10, Hormann's PTRS transformed rejection
  ("The transformed rejection method for generating Poisson random variables",
  Insurance: Mathematics and Economics 12, 1993) otherwise.
"""

from __future__ import annotations

import math

from numba import njit

from mcstudy.engine.rng import next_double, next_double_open0

_INVERSION_MAX_MEAN = 10.0


@njit(cache=True)
def _binomial_inversion(st, n, p):
    q = 1.0 - p
    s = p / q
    a = (n + 1) * s
    r = q**n
    u = next_double(st)
    x = 0
    while u > r:
        u -= r
        x += 1
        if x > n:
            # rounding left a sliver of mass past n: restart with a fresh uniform
            u = next_double(st)
            x = 0
            r = q**n
            continue
        r *= a / x - s
    return x


@njit(cache=True)
def _binomial_btrs(st, n, p):
    spq = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / (1.0 - p))
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1.0) + math.lgamma(n - m + 1.0)
    vr = 0.92 - 4.2 / b
    while True:
        u = next_double(st) - 0.5
        v = next_double_open0(st)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= vr:
            return int(k)
        v = math.log(v * alpha / (a / (us * us) + b))
        if v <= h - math.lgamma(k + 1.0) - math.lgamma(n - k + 1.0) + (k - m) * lpq:
            return int(k)


@njit(cache=True)
def binomial(st, n, p):
    """Binomial(n, p) variate (int) drawn from stream ``st``."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    flip = p > 0.5
    pp = 1.0 - p if flip else p
    if n * pp < _INVERSION_MAX_MEAN:
        k = _binomial_inversion(st, n, pp)
    else:
        k = _binomial_btrs(st, n, pp)
    return n - k if flip else k


_PTRS_MIN_MEAN = 10.0


@njit(cache=True)
def _poisson_inversion(st, mean):
    u = next_double(st)
    p = math.exp(-mean)
    k = 0
    cdf = p
    while u >= cdf:
        k += 1
        p *= mean / k
        cdf += p
        if p == 0.0 and cdf < 1.0:
            # rounding left mass past the representable tail: restart (exact)
            u = next_double(st)
            k = 0
            p = math.exp(-mean)
            cdf = p
    return k


@njit(cache=True)
def _poisson_ptrs(st, mean):
    slam = math.sqrt(mean)
    loglam = math.log(mean)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = next_double(st) - 0.5
        v = next_double_open0(st)
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + mean + 0.43)
        if us >= 0.07 and v <= vr:
            return int(k)
        if k < 0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= (
            -mean + k * loglam - math.lgamma(k + 1.0)
        ):
            return int(k)


@njit(cache=True)
def poisson(st, mean):
    """Poisson(mean) variate (int) from stream ``st``; 0 for mean <= 0."""
    if mean <= 0.0:
        return 0
    if mean < _PTRS_MIN_MEAN:
        return _poisson_inversion(st, mean)
    return _poisson_ptrs(st, mean)
