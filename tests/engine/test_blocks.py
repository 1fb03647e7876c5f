"""Block plan, exact reductions, and the chunked driver's memory bound."""

from __future__ import annotations

import random

import numpy as np
import pytest

from mcstudy.engine.blocks import CHUNK_BLOCKS, BlockPlan, run_blocks
from mcstudy.engine.tallies import ExactSum, TallyLayout


def test_block_plan_covers_every_sequence_once():
    plan = BlockPlan(sequences=1000, block_size=64)
    assert plan.n_blocks == 16
    total = sum(plan.sequences_in(f, n) for f, n in plan.chunks(chunk_blocks=3))
    assert total == 1000
    with pytest.raises(ValueError):
        BlockPlan(sequences=0)


def test_exact_sum_is_order_independent():
    rng = random.Random(3)
    values = [rng.uniform(-1, 1) * 10 ** rng.randint(-20, 20) for _ in range(2000)]
    a = ExactSum()
    for v in values:
        a.add(v)
    rng.shuffle(values)
    b = ExactSum()
    for v in values:
        b.add(v)
    assert a.value == b.value
    import math

    assert a.value == math.fsum(values)


def test_driver_passes_bounded_chunks_and_reduces_in_order():
    plan = BlockPlan(sequences=10**9, block_size=1 << 14)
    seen = []

    def kernel(first, n):
        seen.append((first, n))
        ints = np.ones((n, 2), dtype=np.int64)
        ints[:, 1] = np.arange(first, first + n)
        return ints, np.full((n, 1), 0.5)

    tallies = run_blocks(kernel, plan, TallyLayout(("blocks", "index_sum"), ("half",)))
    assert max(n for _, n in seen) <= CHUNK_BLOCKS  # memory per call is bounded
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    nb = plan.n_blocks
    assert tallies["blocks"] == nb
    assert tallies["index_sum"] == nb * (nb - 1) // 2
    assert tallies["half"] == 0.5 * nb


def test_driver_stop_hook_is_checked_per_chunk():
    plan = BlockPlan(sequences=10 * CHUNK_BLOCKS, block_size=1)

    def kernel(first, n):
        return np.ones((n, 1), dtype=np.int64), np.zeros((n, 0))

    layout = TallyLayout(("n",), ())
    tallies = run_blocks(kernel, plan, layout, stop=lambda t: t["n"] >= 2 * CHUNK_BLOCKS)
    assert tallies["n"] == 2 * CHUNK_BLOCKS
