"""Exact moments of one mmu_gather through ``tlb_remove_table()`` (docs/model.md §3.1).

With r tables left and no batch page held, the next table tries the batch allocation:
with probability p it fails (one ``tlb_remove_table_one()`` fallback, r -> r - 1),
otherwise the batch takes min(B, r) tables (r -> r - B). For F = fallbacks and
A = allocation attempts:

    E[F_r]   = p (1 + E[F_{r-1}]) + (1 - p) E[F_{r-B}]
    E[F_r^2] = p (1 + 2 E[F_{r-1}] + E[F_{r-1}^2]) + (1 - p) E[F_{r-B}^2]
    P(F_r=0) = (1 - p) P(F_{r-B} = 0)
    E[A_r]   = 1 + p E[A_{r-1}] + (1 - p) E[A_{r-B}]       (and E[A_r^2] alike)

with every quantity 0 (P = 1) for r <= 0. O(n) time; ``fallbacks_pmf`` gives the full
distribution in O(n^2) for tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit


@njit(cache=True)
def _gather_moment_tables(n, p, batch):
    mf = np.zeros(n + 1)
    mf2 = np.zeros(n + 1)
    p0 = np.ones(n + 1)
    ma = np.zeros(n + 1)
    ma2 = np.zeros(n + 1)
    q = 1.0 - p
    for r in range(1, n + 1):
        s = r - batch if r > batch else 0
        mf[r] = p * (1.0 + mf[r - 1]) + q * mf[s]
        mf2[r] = p * (1.0 + 2.0 * mf[r - 1] + mf2[r - 1]) + q * mf2[s]
        p0[r] = q * p0[s]
        ma[r] = 1.0 + p * ma[r - 1] + q * ma[s]
        ma2[r] = p * (1.0 + 2.0 * ma[r - 1] + ma2[r - 1]) + q * (1.0 + 2.0 * ma[s] + ma2[s])
    return mf[n], mf2[n], p0[n], ma[n], ma2[n]


@dataclass(frozen=True)
class GatherExact:
    """Exact per-gather moments (fallbacks and allocation attempts per gather)."""

    fallbacks_mean: float
    fallbacks_var: float
    fallback_prob: float  # P(F >= 1)
    alloc_attempts_mean: float
    alloc_attempts_var: float


def gather_exact(n_tables: int, fail_p: float, max_table_batch: int) -> GatherExact:
    """Exact moments for one gather of ``n_tables`` tables at failure probability ``fail_p``."""
    if n_tables < 0 or max_table_batch < 1 or not 0.0 <= fail_p <= 1.0:
        raise ValueError("need n_tables >= 0, max_table_batch >= 1, 0 <= fail_p <= 1")
    if n_tables == 0:
        return GatherExact(0.0, 0.0, 0.0, 0.0, 0.0)
    mf, mf2, p0, ma, ma2 = _gather_moment_tables(int(n_tables), float(fail_p), int(max_table_batch))
    return GatherExact(
        fallbacks_mean=mf,
        fallbacks_var=max(mf2 - mf * mf, 0.0),
        fallback_prob=1.0 - p0,
        alloc_attempts_mean=ma,
        alloc_attempts_var=max(ma2 - ma * ma, 0.0),
    )


def gather_exact_mixture(
    n_tables: int, max_table_batch: int, components: list[tuple[float, float]]
) -> GatherExact:
    """Exact moments when the failure probability is drawn per gather.

    ``components``: (weight, fail_p) pairs, weights summing to 1 (calm / pressure episode).
    """
    total_w = sum(w for w, _ in components)
    if not math.isclose(total_w, 1.0, rel_tol=0, abs_tol=1e-12):
        raise ValueError("mixture weights must sum to 1")
    mf = mf2 = pf = ma = ma2 = 0.0
    for w, p in components:
        if w == 0.0:
            continue
        e = gather_exact(n_tables, p, max_table_batch)
        mf += w * e.fallbacks_mean
        mf2 += w * (e.fallbacks_var + e.fallbacks_mean**2)
        pf += w * e.fallback_prob
        ma += w * e.alloc_attempts_mean
        ma2 += w * (e.alloc_attempts_var + e.alloc_attempts_mean**2)
    return GatherExact(mf, max(mf2 - mf * mf, 0.0), pf, ma, max(ma2 - ma * ma, 0.0))


@njit(cache=True)
def _fallbacks_pmf(n, p, batch):
    # pmf[r, k] = P(F_r = k); only row r depends on rows r-1 and r-B
    pmf = np.zeros((n + 1, n + 1))
    pmf[0, 0] = 1.0
    q = 1.0 - p
    for r in range(1, n + 1):
        s = r - batch if r > batch else 0
        for k in range(0, r + 1):
            v = q * pmf[s, k]
            if k >= 1:
                v += p * pmf[r - 1, k - 1]
            pmf[r, k] = v
    return pmf[n].copy()


def fallbacks_pmf(n_tables: int, fail_p: float, max_table_batch: int) -> np.ndarray:
    """Full distribution P(F = k), k = 0..n_tables (O(n^2) memory: tests and small n)."""
    if n_tables > 5000:
        raise ValueError("fallbacks_pmf is meant for n_tables <= 5000")
    return _fallbacks_pmf(int(n_tables), float(fail_p), int(max_table_batch))
