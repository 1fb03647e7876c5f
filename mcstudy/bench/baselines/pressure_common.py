"""Shared pieces of the pressure-chain baselines: parameter check and totals."""

from __future__ import annotations

from dataclasses import dataclass

from mcstudy.exact.pressure import ZoneChain


@dataclass
class ChainTotals:
    """Tallies of simulated time of the reference zone chain (docs/model.md §4.1).

    ``events`` counts every firing of the four clocks (allocation, free, gather and,
    while kswapd is awake, reclaim): the events a process-based simulator schedules.
    Times are in the chain's time unit (seconds); ``*_time`` are time integrals.
    """

    time: float = 0.0
    below_min_time: float = 0.0
    awake_time: float = 0.0
    events: int = 0
    allocations: int = 0
    frees: int = 0
    stalls: int = 0
    gathers: int = 0
    failed_gathers: int = 0
    kswapd_wakeups: int = 0
    reclaims: int = 0

    def merge(self, other: ChainTotals) -> None:
        for name, value in vars(other).items():
            setattr(self, name, getattr(self, name) + value)


def check_reference_chain(c: ZoneChain) -> None:
    """Raise ValueError unless ``c`` is the reference chain (extensions at neutral)."""
    if (
        c.alloc_batch_pages != 1
        or c.atomic_alloc_rate != 0.0
        or (c.burst_alloc_rate is not None and c.burst_start_rate > 0.0)
    ):
        raise ValueError("the baselines simulate only the reference chain of docs/model.md §4.1")
