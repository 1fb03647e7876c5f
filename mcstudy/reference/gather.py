"""Slow, obviously-correct pure-Python simulator of one mmu_gather (tests/benchmarks only).

It walks the tables one by one exactly as ``tlb_remove_table()`` does, with Python's
``random.Random``; it shares no code with the JIT kernel.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class GatherOutcome:
    fallbacks: int
    alloc_attempts: int
    sync_ipis: int


def simulate_gather_reference(
    rng: random.Random,
    n_tables: int,
    fail_p: float,
    max_table_batch: int,
    ipi_targets: int,
    deliver_prob: float,
) -> GatherOutcome:
    """One gather, table by table."""
    batch: list[int] | None = None
    fallbacks = attempts = ipis = 0
    for table in range(n_tables):
        if batch is None:
            attempts += 1
            if rng.random() < fail_p:  # __get_free_page(GFP_NOWAIT) failed
                fallbacks += 1  # tlb_remove_table_one(table)
                for _cpu in range(ipi_targets):
                    if rng.random() < deliver_prob:
                        ipis += 1
                continue
            batch = []
        batch.append(table)
        if len(batch) == max_table_batch:  # tlb_table_flush()
            batch = None
    return GatherOutcome(fallbacks, attempts, ipis)


def simulate_gathers_reference(
    seed: int,
    sequences: int,
    n_tables: int,
    fail_p: float,
    max_table_batch: int,
    ipi_targets: int = 0,
    deliver_prob: float = 0.0,
) -> list[GatherOutcome]:
    """``sequences`` independent gathers."""
    rng = random.Random(seed)
    return [
        simulate_gather_reference(rng, n_tables, fail_p, max_table_batch, ipi_targets, deliver_prob)
        for _ in range(sequences)
    ]
