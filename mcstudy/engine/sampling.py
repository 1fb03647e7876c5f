"""Exact samplers on top of the keyed streams (plain ``@njit``, no global state).

* ``binomial``: inversion for small means, Hormann's BTRS transformed rejection
  ("The generation of binomial random variates", J. Stat. Comput. Simul. 46, 1993)
  otherwise. Both are exact; the switch point only changes which draws are used.
* ``poisson``: inversion for means below 10, Hormann's PTRS transformed rejection
  ("The transformed rejection method for generating Poisson random variables",
  Insurance: Mathematics and Economics 12, 1993) otherwise.
* ``exponential``: inversion, ``-log(U) / rate`` with U in (0, 1].
* ``standard_normal``: Box-Muller (the cosine variate only), exact in distribution.
* lifetimes with mean ``mean``: ``lognormal`` (log-standard deviation ``shape``) and
  ``pareto`` (type I, tail index ``shape`` > 1), and their length-biased versions
  (density proportional to ``x g(x)``), which give the lifetime of a THP that is alive
  at a stationary instant (inspection paradox).

Compile time: every ``inline="always"`` draw site costs Numba about half a second of
compilation (nested inlining of ``next_double``), while a called function costs about
50 ns per call in reference counting. So ``uniform``, ``uniform_open0``, ``exponential``
and ``bernoulli`` are ordinary functions for the many rarely executed sites, and
``exponential_inline`` is kept for the few hot ones.
"""

from __future__ import annotations

import math

from numba import njit

from mcstudy.engine.rng import bernoulli_u64, next_double, next_double_open0

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


LIFETIME_EXPONENTIAL = 0
LIFETIME_LOGNORMAL = 1
LIFETIME_PARETO = 2


@njit(cache=True)
def uniform(st):
    """Uniform double in [0, 1) (a called ``next_double``)."""
    return next_double(st)


@njit(cache=True)
def uniform_open0(st):
    """Uniform double in (0, 1] (a called ``next_double_open0``)."""
    return next_double_open0(st)


@njit(cache=True)
def bernoulli(st, th, row):
    """True with the probability encoded in ``th[row]`` (see ``rng.probability_threshold``)."""
    return bernoulli_u64(st, th[row, 0], th[row, 1], th[row, 2] != 0)


@njit(cache=True)
def exponential(st, rate):
    """Exponential variate with ``rate`` (> 0): mean 1 / rate."""
    return -math.log(next_double_open0(st)) / rate


@njit(cache=True, inline="always")
def exponential_inline(st, rate):
    """``exponential`` inlined at the call site (hot loops only)."""
    return -math.log(next_double_open0(st)) / rate


@njit(cache=True)
def standard_normal(st):
    """Standard normal variate (Box-Muller, cosine branch)."""
    r = math.sqrt(-2.0 * math.log(uniform_open0(st)))
    return r * math.cos(2.0 * math.pi * uniform(st))


@njit(cache=True)
def lifetime(st, dist, mean, shape):
    """A lifetime (s) with the given ``mean``: exponential, lognormal or Pareto type I."""
    if dist == LIFETIME_LOGNORMAL:
        mu = math.log(mean) - 0.5 * shape * shape
        return math.exp(mu + shape * standard_normal(st))
    if dist == LIFETIME_PARETO:
        xm = mean * (shape - 1.0) / shape
        return xm * uniform_open0(st) ** (-1.0 / shape)
    return exponential(st, 1.0 / mean)


@njit(cache=True)
def length_biased_lifetime(st, dist, mean, shape):
    """A lifetime drawn with density ``x g(x) / mean`` (s).

    Lognormal(mu, s) length-biased is lognormal(mu + s^2, s); Pareto(alpha, x_m) is
    Pareto(alpha - 1, x_m); exponential(1/L) is Gamma(2, L).
    """
    if dist == LIFETIME_LOGNORMAL:
        mu = math.log(mean) - 0.5 * shape * shape
        return math.exp(mu + shape * shape + shape * standard_normal(st))
    if dist == LIFETIME_PARETO:
        xm = mean * (shape - 1.0) / shape
        return xm * uniform_open0(st) ** (-1.0 / (shape - 1.0))
    return exponential(st, 1.0 / mean) + exponential(st, 1.0 / mean)


@njit(cache=True)
def stationary_age_and_lifetime(st, dist, mean, shape, sigma):
    """(age, lifetime) of a THP present at a stationary instant of an M/G/inf population
    whose members also leave by a competing split at constant rate ``sigma`` (1/s).

    The present members form a Poisson process over ages ``a`` with intensity
    ``lambda P(X > a) exp(-sigma a)``; so X has density proportional to
    ``g(x) (1 - exp(-sigma x)) / sigma`` and, given X, the age has density proportional
    to ``exp(-sigma a)`` on [0, X). X is drawn from the length-biased law and accepted
    with probability ``(1 - exp(-sigma X)) / (sigma X)`` (<= 1): exact rejection.
    """
    while True:
        x = length_biased_lifetime(st, dist, mean, shape)
        if sigma <= 0.0:
            return uniform(st) * x, x
        sx = sigma * x
        accept = -math.expm1(-sx) / sx
        if uniform(st) < accept:
            break
    # age: truncated exponential(sigma) on [0, x) by inversion
    u = uniform(st)
    age = -math.log1p(u * math.expm1(-sigma * x)) / sigma
    if age >= x:  # rounding at the upper end
        age = x * (1.0 - 2.0**-52)
    return age, x
