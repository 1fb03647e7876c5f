"""Exact mean fallbacks of a gather whose attempts see the zone at their own times
(``docs/model.md`` §11.8).

In ``tlb_remove_table()`` a failed batch-page allocation sends that one table to
``tlb_remove_table_one()``, which waits for a synchronous IPI round before the next
table's attempt; a successful one takes ``MAX_TABLE_BATCH`` tables at once. So the
attempts of one gather are ``round_s`` apart after each failure and see the zone as it
is then: a gather that starts below min keeps failing only while the zone stays there.

With an environment Markov chain of generator ``Q``, per-state failure probabilities
``p(x)`` and ``M = exp(Q round_s)`` (the law of the state one round later), the mean
fallbacks ``E_r(x)`` of a gather with ``r`` tables left that makes its next attempt in
state ``x`` obey

    E_r(x) = p(x) (1 + (M E_{r-1})(x)) + (1 - p(x)) E_{r-B}(x),   E_r = 0 for r <= 0

(a success takes no time: the next attempt, ``B`` tables later, sees the same state).
``round_s = 0`` gives ``M = I`` and the per-state mean of ``mcstudy.exact.gather``.
"""

from __future__ import annotations

import numpy as np

from mcstudy.exact.pressure import ZoneChain, generator
from mcstudy.mechanisms.zone_grid import levels

ZONE_WINDOW_PAGES = 1024
"""Free levels above min kept when the zone chain is cut for :func:`zone_fallbacks_mean`
(plus four of its largest jumps): in one round (microseconds) the zone moves a few pages
at most, so a gather that left the window cannot come back below min in time."""


def env_fallbacks_mean(
    n_tables: int, max_table_batch: int, fail_p: np.ndarray, q: np.ndarray, round_s: float
) -> np.ndarray:
    """Mean fallbacks of one gather of ``n_tables`` tables, per starting state of a small
    environment chain (dense generator ``q``, 1/s; ``fail_p`` per state)."""
    p = np.asarray(fail_p, dtype=float)
    from scipy.linalg import expm  # imported here: scipy is slow to import

    m = expm(np.asarray(q, dtype=float) * round_s) if round_s > 0.0 else np.eye(p.size)
    e = np.zeros((n_tables + 1, p.size))
    for r in range(1, n_tables + 1):
        s = r - max_table_batch if r > max_table_batch else 0
        e[r] = p * (1.0 + m @ e[r - 1]) + (1.0 - p) * e[s]
    return e[n_tables]


def zone_fallbacks_mean(
    chain: ZoneChain, pi: np.ndarray, n_tables: int, max_table_batch: int, round_s: float
) -> float:
    """Mean fallbacks of a gather of ``n_tables <= max_table_batch`` tables at a
    stationary instant of the zone chain (law ``pi[b, k, f]``), a GFP_NOWAIT attempt
    failing iff ``f <= wmark_min``.

    With at most one batch page per gather, ``E_r = 1_B (1 + M E_{r-1})`` on the set
    ``B`` of states below min, evaluated forward: ``v_0 = pi 1_B``, ``v_i = (v_{i-1} M)
    1_B``, mean = sum over i < n of ``|v_i|`` (the probability that the first ``i + 1``
    attempts all fail). The chain is cut to free levels ``<= wmark_min +
    ZONE_WINDOW_PAGES`` (+ four largest jumps); mass leaving the window is dropped.
    """
    if n_tables > max_table_batch:
        raise ValueError("zone_fallbacks_mean needs n_tables <= max_table_batch")
    if n_tables <= 0:
        return 0.0
    pos = levels(chain)  # free pages of each level (0..N without a fine band, §4.14)
    nf = pos.size
    below = pos <= chain.wmark_min
    v = (np.asarray(pi, dtype=float).reshape(-1, nf) * below).ravel()
    if round_s <= 0.0 or n_tables == 1:
        return float(v.sum()) * n_tables
    jump = max(chain.reclaim_batch, chain.direct_reclaim_batch, chain.alloc_batch_pages)
    top = min(chain.managed_pages, chain.wmark_min + ZONE_WINDOW_PAGES + 4 * jump)
    keep_f = pos <= top
    keep = np.tile(keep_f, v.size // nf)
    idx = np.flatnonzero(keep)
    import scipy.sparse as sp  # imported here: scipy is slow to import
    from scipy.sparse.linalg import expm_multiply

    q = generator(chain)[idx][:, idx]
    qt = sp.csr_matrix(q.T) * round_s
    mask = np.tile(below[keep_f], v.size // nf)
    x = v[idx]
    total = float(x.sum())
    for _ in range(1, n_tables):
        x = expm_multiply(qt, x) * mask
        total += float(x.sum())
    return total
