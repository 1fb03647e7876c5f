"""``tlb_remove_table()`` for one mmu_gather, as Numba kernels (``docs/model.md`` §2.1, §3.1).

While no batch page is held, the next table tries ``__get_free_page(GFP_NOWAIT |
__GFP_NOWARN)``; a failure sends that one table to ``tlb_remove_table_one()``; a success
starts a batch that takes ``MAX_TABLE_BATCH`` tables before the next attempt. Shared by
the gather model's block kernel and the THP model's munmap gathers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from mcstudy.engine.rng import bernoulli_u64, next_double_open0


@njit(cache=True, inline="always")
def tlb_remove_table_gather(alloc_st, n_tables, max_table_batch, thr_hi, thr_lo, always):
    """One mmu_gather of ``n_tables`` tables: returns (fallbacks, allocation attempts).

    Mirrors ``tlb_remove_table()``: an attempt per table while no batch is held; a
    failure sends that one table to ``tlb_remove_table_one()``; a success starts a
    batch that takes ``max_table_batch`` tables before the next attempt.
    """
    remaining = n_tables
    fallbacks = 0
    attempts = 0
    while remaining > 0:
        attempts += 1
        if bernoulli_u64(alloc_st, thr_hi, thr_lo, always):
            fallbacks += 1
            remaining -= 1
        else:
            remaining -= max_table_batch
    return fallbacks, attempts


NEVER = np.int64(1) << np.int64(62)
"""A gap no gather reaches: the attempt stream never fails (p = 0)."""


@njit(cache=True, inline="always")
def successes_before_failure(st, log_q):
    """Geometric gap: successful attempts before the next failing one (attempts).

    Inverse transform of P(G >= k) = (1 - p)**k with ``log_q = log1p(-p)``: one uniform
    per *failure* instead of one per attempt. ``log_q = 0`` (p = 0) never fails;
    ``log_q = -inf`` (p = 1) always does.
    """
    if log_q == 0.0:
        return NEVER
    g = math.floor(math.log(next_double_open0(st)) / log_q)
    if g >= 4.0e18:
        return NEVER
    return np.int64(g)


@njit(cache=True, inline="always")
def tlb_remove_table_gather_gaps(
    alloc_st, gap, n_tables, attempts_if_none_fail, max_table_batch, log_q
):
    """``tlb_remove_table_gather`` driven by geometric gaps between failures.

    ``gap`` counts the successful batch-page attempts left before the next failure in
    this i.i.d. attempt stream (shared by consecutive gathers of a block: the attempts
    are independent Bernoulli(p), so where a gather starts in the stream does not
    matter). Runs of successes are skipped in O(1). ``attempts_if_none_fail`` is
    ceil(n_tables / max_table_batch). Returns (fallbacks, attempts, gap).
    """
    if gap >= attempts_if_none_fail:  # the common case: no failure in this gather
        return 0, attempts_if_none_fail, gap - attempts_if_none_fail
    remaining = n_tables
    fallbacks = 0
    attempts = 0
    while remaining > 0:
        # attempts the rest of the gather needs if none of them fails
        need = (remaining + max_table_batch - 1) // max_table_batch
        if gap >= need:
            attempts += need
            gap -= need
            break
        # gap successes (each takes a full batch), then a failing attempt
        attempts += gap + 1
        remaining -= gap * max_table_batch
        fallbacks += 1
        remaining -= 1
        gap = successes_before_failure(alloc_st, log_q)
    return fallbacks, attempts, gap
