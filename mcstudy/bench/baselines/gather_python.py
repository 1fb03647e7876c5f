"""The gather model as a per-attempt pure-Python loop (benchmark baseline).

This is the loop a careful user writes once they notice that only allocation attempts
are random: one ``random.random()`` per GFP_NOWAIT batch-page attempt of
``tlb_remove_table()``, the tables of a successful batch skipped in one step. The
per-table loop is ``mcstudy.reference.gather``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class GatherTotals:
    """Tallies of ``sequences`` gathers (counts and sums of squares)."""

    sequences: int = 0
    fallbacks: int = 0
    gathers_with_fallback: int = 0
    alloc_attempts: int = 0
    sync_ipis: int = 0
    fallbacks_sq: int = 0
    alloc_attempts_sq: int = 0
    sync_ipis_sq: int = 0


def simulate_gathers_per_attempt(
    seed: int,
    sequences: int,
    n_tables: int,
    fail_p: float,
    max_table_batch: int,
    ipi_targets: int = 0,
    deliver_prob: float = 1.0,
) -> GatherTotals:
    """``sequences`` gathers of ``n_tables`` tables, one Bernoulli per attempt."""
    rnd = random.Random(seed).random
    tot = GatherTotals()
    for _ in range(sequences):
        remaining = n_tables
        f = a = 0
        while remaining > 0:
            a += 1
            if rnd() < fail_p:  # __get_free_page(GFP_NOWAIT) failed: tlb_remove_table_one()
                f += 1
                remaining -= 1
            else:  # a batch page: this table and the next max_table_batch - 1
                remaining -= max_table_batch
        d = 0
        if f and ipi_targets:
            if deliver_prob >= 1.0:
                d = f * ipi_targets
            else:
                d = sum(1 for _ in range(f * ipi_targets) if rnd() < deliver_prob)
        tot.sequences += 1
        tot.fallbacks += f
        tot.gathers_with_fallback += f > 0
        tot.alloc_attempts += a
        tot.sync_ipis += d
        tot.fallbacks_sq += f * f
        tot.alloc_attempts_sq += a * a
        tot.sync_ipis_sq += d * d
    return tot
