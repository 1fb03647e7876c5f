"""Exact samplers the THP model needs on top of ``mcstudy.engine.sampling`` (plain ``@njit``).

* ``exponential``: inversion, ``-log(U) / rate`` with U in (0, 1].
* ``standard_normal``: Box-Muller (the cosine variate only), exact in distribution.
* lifetimes with mean ``mean``: ``lognormal`` (log-standard deviation ``shape``) and
  ``pareto`` (type I, tail index ``shape`` > 1), and their length-biased versions
  (density proportional to ``x g(x)``), which give the lifetime of a THP that is alive
  at a stationary instant (inspection paradox).

Compile time: every ``inline="always"`` draw site costs Numba about half a second of
compilation (nested inlining of ``next_double``), while a called function costs about
50 ns per call in reference counting. So the samplers here are ordinary functions
(``uniform``, ``exponential``, ``bernoulli``) for the many rarely executed sites, and
``exponential_inline`` is kept for the few hot ones (the next population event).
"""

from __future__ import annotations

import math

from numba import njit

from mcstudy.engine.rng import bernoulli_u64, next_double, next_double_open0

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
