"""Block-parallel Monte Carlo driver shared by every model.

A point's ``sequences`` are cut into fixed-size blocks (``block_size`` sequences,
the last block shorter). Block ``b`` always simulates the same sequences with the
random streams keyed by ``b`` (see ``engine.rng``), whichever thread, process or
machine runs it. Each model supplies a ``@njit(parallel=True)`` function that runs
``prange`` over a range of blocks and returns per-block tallies:

``int64[n_blocks, n_int]`` and ``float64[n_blocks, n_float]`` in the columns of its
:class:`~mcstudy.engine.tallies.TallyLayout`.

This driver calls it chunk by chunk (``CHUNK_BLOCKS`` blocks at a time, so memory does
not grow with the number of sequences) and reduces the tallies exactly: integer
columns as Python integers, float columns with an exactly rounded sum, so the result
does not depend on the order in which blocks finish or on how they were split.

Because blocks are reduced in block order, the tallies after the first ``k`` blocks are
those of a run of ``k`` blocks: an ``observe`` hook sees them after every count in
:func:`checkpoint_blocks` (1, 2, 3, 4, 6, 8, 11, 16, ... blocks), which is how a point
records its running estimate without running anything twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcstudy.engine.tallies import Tallies, TallyLayout

DEFAULT_BLOCK_SIZE = 1 << 14
CHUNK_BLOCKS = 256


@dataclass(frozen=True)
class BlockPlan:
    """How ``sequences`` split into blocks of ``block_size``."""

    sequences: int
    block_size: int = DEFAULT_BLOCK_SIZE

    def __post_init__(self) -> None:
        if self.sequences < 1:
            raise ValueError("sequences must be >= 1")
        if self.block_size < 1:
            raise ValueError("block_size must be >= 1")

    @property
    def n_blocks(self) -> int:
        return -(-self.sequences // self.block_size)

    def chunks(self, chunk_blocks: int = CHUNK_BLOCKS) -> Iterator[tuple[int, int]]:
        """Yield (first_block, n_blocks) in block order."""
        for first in range(0, self.n_blocks, chunk_blocks):
            yield first, min(chunk_blocks, self.n_blocks - first)

    def sequences_in(self, first_block: int, n_blocks: int) -> int:
        start = first_block * self.block_size
        stop = min((first_block + n_blocks) * self.block_size, self.sequences)
        return stop - start


def run_driver(
    driver: Callable[..., Any],
    key: tuple[int, int],
    plan: BlockPlan,
    first_block: int,
    n_blocks: int,
    *args: Any,
) -> Any:
    """Blocks ``[first_block, first_block + n_blocks)`` of a model's ``@njit`` block
    driver, which takes the stream key, the blocks and the plan first, in this order:
    ``driver(k0, k1, first_block, n_blocks, block_size, sequences, *args)``."""
    return driver(key[0], key[1], first_block, n_blocks, plan.block_size, plan.sequences, *args)


BlockKernel = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
Observer = Callable[[Tallies], None]


def _between(k: int) -> int:
    """round(2**k * sqrt(2)), in exact integer arithmetic."""
    m = math.isqrt(1 << (2 * k + 1))  # floor(2**k * sqrt(2))
    return m + 1 if (2 * m + 1) ** 2 <= 1 << (2 * k + 3) else m


def is_checkpoint(blocks: int) -> bool:
    """Whether a point records its running estimate after ``blocks`` blocks.

    The checkpoints are the powers of 2 and round(2**k * sqrt(2)) between them: 1, 2, 3,
    4, 6, 8, 11, 16, 23, 32, 45, 64, 91, ... (two per doubling: 12 up to 64 blocks, 40 up
    to a million), in exact integer arithmetic. They do not depend on the plan, so an
    adaptive point that stops early has the checkpoints of a fixed one up to its stop.
    """
    if blocks < 1:
        return False
    k = blocks.bit_length() - 1
    return blocks == 1 << k or blocks == _between(k)


def checkpoint_blocks(n_blocks: int) -> list[int]:
    """The checkpoints up to ``n_blocks``, then ``n_blocks`` if it is not one."""
    out: list[int] = []
    k = 0
    while (1 << k) <= n_blocks:
        for b in (1 << k, _between(k)):
            if b <= n_blocks and (not out or b > out[-1]):
                out.append(b)
        k += 1
    if n_blocks >= 1 and out[-1] != n_blocks:
        out.append(n_blocks)
    return out


def fold_observed(
    tallies: Tallies,
    ints: np.ndarray,
    floats: np.ndarray,
    observe: Observer | None,
) -> None:
    """Add a chunk of per-block tallies (the blocks that follow ``tallies.blocks_done``)
    and call ``observe`` after every checkpoint inside it. The totals are those of
    adding the chunk at once (the reduction is exact)."""
    if observe is None:
        tallies.add_blocks(ints, floats)
        return
    start = 0
    first = tallies.blocks_done
    for j in range(ints.shape[0]):
        if is_checkpoint(first + j + 1):
            tallies.add_blocks(ints[start : j + 1], floats[start : j + 1])
            start = j + 1
            observe(tallies)
    if start < ints.shape[0]:
        tallies.add_blocks(ints[start:], floats[start:])


def run_blocks(
    kernel: BlockKernel,
    plan: BlockPlan,
    layout: TallyLayout,
    progress: Callable[[int], None] | None = None,
    stop: Callable[[Tallies], bool] | None = None,
    observe: Observer | None = None,
) -> Tallies:
    """Run ``kernel(first_block, n_blocks)`` over the plan, chunk by chunk, into ``layout``.

    ``progress`` is called with the number of sequences finished by each chunk.
    ``stop`` (optional) is asked after every chunk whether to end early; because
    chunks are fixed, an early stop is reproducible. ``observe`` (optional) sees the
    tallies after every checkpoint (:func:`is_checkpoint`).
    """
    tallies = layout.new()
    for first, n in plan.chunks():
        ints, floats = kernel(first, n)
        fold_observed(tallies, ints, floats, observe)
        if progress is not None:
            progress(plan.sequences_in(first, n))
        if stop is not None and stop(tallies):
            break
    return tallies
