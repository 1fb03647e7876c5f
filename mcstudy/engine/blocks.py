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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


BlockKernel = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def run_blocks(
    kernel: BlockKernel,
    plan: BlockPlan,
    layout: TallyLayout,
    progress: Callable[[int], None] | None = None,
    stop: Callable[[Tallies], bool] | None = None,
) -> Tallies:
    """Run ``kernel(first_block, n_blocks)`` over the plan, chunk by chunk, into ``layout``.

    ``progress`` is called with the number of sequences finished by each chunk.
    ``stop`` (optional) is asked after every chunk whether to end early; because
    chunks are fixed, an early stop is reproducible.
    """
    tallies = layout.new()
    for first, n in plan.chunks():
        ints, floats = kernel(first, n)
        tallies.add_blocks(ints, floats)
        if progress is not None:
            progress(plan.sequences_in(first, n))
        if stop is not None and stop(tallies):
            break
    return tallies
