"""Tally layouts and their exact reduction.

A model's block kernel writes per-block sums into two arrays: ``int64[n_blocks, n_int]``
(counts and sums of integer values) and ``float64[n_blocks, n_float]`` (sums of squares,
times, ...). A :class:`TallyLayout` names those columns once; the model's kernel module
defines its column constants from it, its wrapper allocates arrays of its width, and its
estimators read the reduced :class:`Tallies` by name.

:class:`Tallies` reduces blocks exactly: integer columns as Python integers, float
columns with an exactly rounded sum, so the result does not depend on the order in which
blocks finish or on how they were grouped into chunks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class TallyLayout:
    """Names of the integer and the float tally columns, in column order."""

    ints: tuple[str, ...]
    floats: tuple[str, ...]

    def __post_init__(self) -> None:
        names = self.ints + self.floats
        dup = sorted(n for n, k in Counter(names).items() if k > 1)
        if dup:
            raise ValueError(f"tally names used twice: {', '.join(dup)}")

    @property
    def n_int(self) -> int:
        return len(self.ints)

    @property
    def n_float(self) -> int:
        return len(self.floats)

    def int_col(self, name: str) -> int:
        """Column of integer tally ``name`` (ValueError if there is none)."""
        return self.ints.index(name)

    def float_col(self, name: str) -> int:
        """Column of float tally ``name`` (ValueError if there is none)."""
        return self.floats.index(name)

    def __add__(self, other: TallyLayout) -> TallyLayout:
        """This layout followed by ``other`` (its columns shifted past ours)."""
        return TallyLayout(self.ints + other.ints, self.floats + other.floats)

    def new(self) -> Tallies:
        """Empty reduced tallies of this layout."""
        return Tallies(self)


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

    def add_many(self, values: Iterable[float]) -> None:
        for v in values:
            self.add(v)

    @property
    def value(self) -> float:
        return math.fsum(self._partials)


@dataclass
class Tallies:
    """Reduced tallies of one point: named integer and float sums."""

    layout: TallyLayout
    ints: list[int] = field(default_factory=list)
    floats: list[ExactSum] = field(default_factory=list)
    blocks_done: int = 0

    def __post_init__(self) -> None:
        if not self.ints:
            self.ints = [0] * self.layout.n_int
        if not self.floats:
            self.floats = [ExactSum() for _ in self.layout.floats]

    def add_blocks(self, int_block: np.ndarray, float_block: np.ndarray) -> None:
        """Fold per-block tallies (rows in block order) into the totals."""
        if int_block.shape[1] != self.layout.n_int or float_block.shape[1] != self.layout.n_float:
            raise ValueError("tally shape does not match the model's tally names")
        for j in range(self.layout.n_int):
            self.ints[j] += sum(int(v) for v in int_block[:, j])
        for j in range(self.layout.n_float):
            self.floats[j].add_many(float_block[:, j])
        self.blocks_done += int_block.shape[0]

    def __getitem__(self, name: str) -> float | int:
        if name in self.layout.ints:
            return self.ints[self.layout.int_col(name)]
        return self.floats[self.layout.float_col(name)].value

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = dict(zip(self.layout.ints, self.ints, strict=True))
        out.update({n: s.value for n, s in zip(self.layout.floats, self.floats, strict=True)})
        return out
