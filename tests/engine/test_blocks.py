"""Block plan, exact reductions, and the chunked driver's memory bound."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from mcstudy.engine.blocks import (
    CHUNK_BLOCKS,
    BlockPlan,
    checkpoint_blocks,
    fold_observed,
    is_checkpoint,
    run_blocks,
)
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


def test_checkpoints_are_two_per_doubling_in_exact_integers():
    assert checkpoint_blocks(64) == [1, 2, 3, 4, 6, 8, 11, 16, 23, 32, 45, 64]
    assert checkpoint_blocks(20) == [1, 2, 3, 4, 6, 8, 11, 16, 20]  # and the last block
    assert checkpoint_blocks(1) == [1]
    import math

    big = checkpoint_blocks(10**6)
    assert len(big) == 40 and big[-1] == 10**6
    # round(2**k * sqrt(2)) between the powers of 2, exactly (no float pow)
    assert [b for b in big if b & (b - 1)][:8] == [round(2**k * math.sqrt(2)) for k in range(1, 9)]
    assert [b for b in range(1, 5000) if is_checkpoint(b)] == checkpoint_blocks(4096)


def test_observed_folding_sees_every_checkpoint_and_sums_the_same():
    layout = TallyLayout(("n", "index_sum"), ("x",))
    plan = BlockPlan(sequences=700 * 3, block_size=3)
    rng = np.random.default_rng(5)
    floats = rng.standard_normal((plan.n_blocks, 1)) * 10.0 ** rng.integers(
        -9, 9, (plan.n_blocks, 1)
    )

    def kernel(first, n):
        ints = np.ones((n, 2), dtype=np.int64)
        ints[:, 1] = np.arange(first, first + n)
        return ints, floats[first : first + n]

    seen = []
    observed = run_blocks(kernel, plan, layout, observe=lambda t: seen.append(t.as_dict()))
    plain = run_blocks(kernel, plan, layout)
    assert observed.as_dict() == plain.as_dict()  # bit for bit
    marks = [b for b in checkpoint_blocks(plan.n_blocks) if is_checkpoint(b)]
    assert [s["n"] for s in seen] == marks  # 700 blocks: last checkpoint 512
    for s in seen:  # the tallies after k blocks are those of a run of k blocks
        k = s["n"]
        assert s["x"] == math.fsum(floats[:k, 0]) and s["index_sum"] == k * (k - 1) // 2
    # chunks cut anywhere: the same sums, the same observations
    t = layout.new()
    again = []
    for first in range(0, plan.n_blocks, 37):
        ints, fl = kernel(first, min(37, plan.n_blocks - first))
        fold_observed(t, ints, fl, lambda tt: again.append(tt.as_dict()))
    assert again == seen and t.as_dict() == plain.as_dict()


def test_run_driver_passes_key_blocks_and_plan_first():
    from mcstudy.engine.blocks import BlockPlan, run_driver

    seen = run_driver(lambda *a: a, (7, 9), BlockPlan(100, 8), 3, 2, "x", 5)
    assert seen == (7, 9, 3, 2, 8, 100, "x", 5)
