"""Quantiles of binned distributions with distribution-free 95 % intervals."""

from __future__ import annotations

import math

import numpy as np

from mcstudy.stats.proportion import wilson


def count_quantile(counts: np.ndarray, n: int, q: float) -> tuple[float, float, float]:
    """Quantile of a per-unit count from its histogram, with a distribution-free 95 %
    interval.

    ``counts[k]`` units saw k events (the last entry: overflow). The interval inverts
    Wilson intervals of F(k) = P(count <= k) (units treated as independent). NaN when
    the quantile lies in the overflow bin or no unit was seen.
    """
    if n == 0:
        return math.nan, math.nan, math.nan
    cum = np.cumsum(counts[:-1])
    est = lo = hi = math.nan
    for k, c in enumerate(cum):
        w = wilson(int(c), n)
        if math.isnan(lo) and w.ci_high >= q:
            lo = float(k)
        if math.isnan(est) and c / n >= q:
            est = float(k)
        if w.ci_low >= q:
            hi = float(k)
            break
    return est, lo, hi


def mixed_poisson_quantile(
    sums: np.ndarray, products: np.ndarray, n: int, q: float, center: float
) -> tuple[float, float, float, float]:
    """(quantile, 95 % low, 95 % high, standard error) of the stationary marginal law of a
    count process observed by ``n`` i.i.d. sequences, from each sequence's time averages
    a_1, a_2 of y and y^2, y = count - ``center``.

    The pooled averages give the mean mu and the variance s^2 of the count over time (the
    variance of the pooled mean added back, so s^2 is unbiased however long the process's
    memory). The quantile is Cornish-Fisher's mu + s z + (z^2 - 1) kappa_3 / (6 s^2) with
    the third cumulant of a gamma-mixed Poisson law, kappa_3 = 2 s^4 / mu - s^2 (exact
    for Poisson and negative binomial counts; a THP population modulated by pressure
    episodes is a mixed Poisson count). Only two moments are estimated, so few
    long-memory sequences still give a usable quantile.

    The interval adds the two parts by MOVER (Zou and Donner): mu by Student's t, the
    excess over mu through s^2's chi-square interval at Satterthwaite's degrees of freedom
    2 s^4 / Var(s^2), capped by what the sequences can hold (a variance is skewed:
    symmetric limits would undercover; the fourth moments behind Satterthwaite's df are
    themselves noisy with few sequences). Variances
    come from the covariance of the sequences' averages (``sums[k-1]`` = sum of a_k,
    ``products[j, k]`` = sum of a_j a_k). NaN for n < 2 or a mean <= 0.
    """
    from scipy import stats

    nan = math.nan
    if n < 2:
        return nan, nan, nan, nan
    m1, m2 = float(sums[0]) / n, float(sums[1]) / n
    mean = np.array([m1, m2])
    cov = (np.asarray(products, dtype=float)[:2, :2] - n * np.outer(mean, mean)) / (n - 1) / n
    mu = center + m1
    var_mu = max(float(cov[0, 0]), 0.0)
    var = m2 - m1 * m1 + var_mu
    if not (var > 0.0 and mu > 0.0):
        return mu, mu, mu, 0.0
    z = float(stats.norm.ppf(q))
    c = (z * z - 1.0) / 6.0

    def excess(v: float) -> float:
        return z * math.sqrt(v) + c * (2.0 * v / mu - 1.0)

    quantile = mu + excess(var)
    g = np.array([-2.0 * m1, 1.0])  # d var / d (m1, m2)
    var_var = max(float(g @ cov @ g), 0.0)
    se_mu = math.sqrt(var_mu)
    t = float(stats.t.ppf(0.975, n - 1))
    d = excess(var)
    if var_var > 0.0:
        # Satterthwaite's df, at most what the sequences hold: n_eff = s^2 / Var(mean)
        # independent samples behind the mean give n_eff (sequences shorter than the
        # process's memory) to 2 n_eff - n (much longer) degrees of freedom to s^2
        n_eff = var / var_mu if var_mu > 0.0 else math.inf
        df = max(min(2.0 * var * var / var_var, max(n_eff, 2.0 * n_eff - n)), 1.0)
        v_lo = var * df / float(stats.chi2.ppf(0.975, df))
        v_hi = var * df / float(stats.chi2.ppf(0.025, df))
    else:
        v_lo = v_hi = var
    d_lo, d_hi = excess(v_lo), excess(v_hi)
    low = quantile - math.hypot(t * se_mu, d - d_lo)
    high = quantile + math.hypot(t * se_mu, d_hi - d)
    dq_dvar = z / (2.0 * math.sqrt(var)) + c * 2.0 / mu
    se = math.sqrt(var_mu + dq_dvar * dq_dvar * var_var)
    return quantile, low, high, se
