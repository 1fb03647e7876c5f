"""Block-parallel Monte Carlo driver shared by every model.

A point's ``sequences`` are cut into fixed-size blocks (``block_size`` sequences,
the last block shorter). Block ``b`` always simulates the same sequences with the
random streams keyed by ``b`` (see ``engine.rng``), whichever thread, process or
machine runs it. Each model supplies a ``@njit(parallel=True)`` function that runs
``prange`` over a range of blocks and returns per-block tallies:

* ``int_tallies``: ``int64[n_blocks, n_int]`` (counts and sums of integer values),
* ``float_tallies``: ``float64[n_blocks, n_float]`` (sums of squares, times, ...).

This driver calls it chunk by chunk (``CHUNK_BLOCKS`` blocks at a time, so memory does
not grow with the number of sequences) and reduces the tallies exactly: integer
columns as Python integers, float columns with an exactly rounded sum, so the result
does not depend on the order in which blocks finish or on how they were split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

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


class ExactSum:
    """Exactly rounded running sum of floats (Shewchuk's partials, as math.fsum).

    The result is independent of the order of the terms, so float tallies reduce to
    the same bits however the blocks were grouped.
    """

    def __init__(self) -> None:
        self._partials: list[float] = []

    def add(self, x: float) -> None:
        x = float(x)
        i = 0
        for y in self._partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                self._partials[i] = lo
                i += 1
            x = hi
        self._partials[i:] = [x]

    def add_many(self, values: np.ndarray) -> None:
        for v in values:
            self.add(v)

    @property
    def value(self) -> float:
        import math

        return math.fsum(self._partials)


@dataclass
class Tallies:
    """Reduced tallies of one point: named integer and float sums."""

    int_names: tuple[str, ...]
    float_names: tuple[str, ...]
    ints: list[int] = field(default_factory=list)
    floats: list[ExactSum] = field(default_factory=list)
    blocks_done: int = 0

    def __post_init__(self) -> None:
        if not self.ints:
            self.ints = [0] * len(self.int_names)
        if not self.floats:
            self.floats = [ExactSum() for _ in self.float_names]

    def add_blocks(self, int_block: np.ndarray, float_block: np.ndarray) -> None:
        """Fold per-block tallies (rows in block order) into the totals."""
        if int_block.shape[1] != len(self.int_names) or float_block.shape[1] != len(
            self.float_names
        ):
            raise ValueError("tally shape does not match the model's tally names")
        for j in range(len(self.int_names)):
            self.ints[j] += sum(int(v) for v in int_block[:, j])
        for j in range(len(self.float_names)):
            self.floats[j].add_many(float_block[:, j])
        self.blocks_done += int_block.shape[0]

    def __getitem__(self, name: str) -> float | int:
        if name in self.int_names:
            return self.ints[self.int_names.index(name)]
        return self.floats[self.float_names.index(name)].value

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = dict(zip(self.int_names, self.ints, strict=True))
        out.update({n: s.value for n, s in zip(self.float_names, self.floats, strict=True)})
        return out


BlockKernel = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


def run_blocks(
    kernel: BlockKernel,
    plan: BlockPlan,
    int_names: tuple[str, ...],
    float_names: tuple[str, ...],
    progress: Callable[[int], None] | None = None,
    stop: Callable[[Tallies], bool] | None = None,
) -> Tallies:
    """Run ``kernel(first_block, n_blocks)`` over the plan, chunk by chunk.

    ``progress`` is called with the number of sequences finished by each chunk.
    ``stop`` (optional) is asked after every chunk whether to end early; because
    chunks are fixed, an early stop is reproducible.
    """
    tallies = Tallies(int_names, float_names)
    for first, n in plan.chunks():
        ints, floats = kernel(first, n)
        tallies.add_blocks(ints, floats)
        if progress is not None:
            progress(plan.sequences_in(first, n))
        if stop is not None and stop(tallies):
            break
    return tallies
