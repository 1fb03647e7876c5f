"""Poisson variates on the keyed streams (plain ``@njit``, exact).

* mean < 10: inversion by sequential search (Devroye 1986, X.3), one uniform;
* mean >= 10: Hormann's PTRS transformed rejection ("The transformed rejection method
  for generating Poisson random variables", Insurance: Math. Econ. 12, 1993), about
  2.3 uniforms per variate whatever the mean.

Used by the zone pressure model for the number of uniformised events in a trajectory.
"""

from __future__ import annotations

import math

from numba import njit

from mcstudy.engine.rng import next_double, next_double_open0

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
