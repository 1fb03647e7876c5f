"""Timing helpers: calibrate a workload to a minimum duration, then keep the best of repeats.

The best (shortest) of several repeats is the estimate least disturbed by other
processes on a shared machine; the median is kept alongside for the record.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Timing:
    """Timing of ``run(n)``: ``n`` work units, best and median wall seconds of ``repeats``."""

    n: int
    seconds: float
    median_seconds: float
    repeats: int
    result: Any

    @property
    def rate(self) -> float:
        """Work units per second of the best repeat (units/s)."""
        return self.n / self.seconds


def time_call(run: Callable[[int], Any], n: int) -> tuple[float, Any]:
    """Wall seconds of one ``run(n)`` and its result."""
    t0 = time.perf_counter()
    out = run(n)
    return time.perf_counter() - t0, out


def autorange(
    run: Callable[[int], Any],
    n0: int,
    min_seconds: float,
    repeats: int = 3,
    max_n: int = 1 << 62,
) -> Timing:
    """Grow ``n`` from ``n0`` until ``run(n)`` takes at least ``min_seconds``, then repeat.

    The calibration call that first reaches ``min_seconds`` counts as the first repeat.
    ``max_n`` caps the work (the timing is then shorter than ``min_seconds``).
    """
    if n0 < 1 or repeats < 1 or min_seconds < 0:
        raise ValueError("n0 and repeats must be >= 1 and min_seconds >= 0")
    n = min(n0, max_n)
    while True:
        dt, out = time_call(run, n)
        if dt >= min_seconds or n >= max_n:
            break
        # aim 20 % past the target, at least doubling, so few calibration calls are made
        grow = 2.0 if dt <= 0 else max(2.0, 1.2 * min_seconds / dt)
        n = min(max_n, math.ceil(n * min(grow, 1000.0)))
    times = [dt]
    best_out = out
    for _ in range(repeats - 1):
        t, o = time_call(run, n)
        if t < min(times):
            best_out = o
        times.append(t)
    return Timing(n, min(times), statistics.median(times), len(times), best_out)
