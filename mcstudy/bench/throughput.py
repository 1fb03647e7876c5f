"""Model kernel throughput through the block engine, exactly as ``mcstudy run`` drives it.

``run_case(case, sequences)`` runs one point of ``sequences`` sequences with
``engine.blocks.run_blocks`` (chunks of ``CHUNK_BLOCKS`` blocks, exact reduction) and
returns the reduced tallies; ``measure_model`` calibrates the number of sequences to a
minimum duration and keeps the best of a few repeats at a given thread count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numba

from mcstudy.bench.cases import BenchCase
from mcstudy.bench.timing import autorange
from mcstudy.engine.blocks import BlockPlan, run_blocks
from mcstudy.engine.rng import stream_key
from mcstudy.engine.tallies import Tallies

BENCH_SEED = 20230419


def run_case(case: BenchCase, sequences: int, seed: int = BENCH_SEED) -> Tallies:
    """Simulate ``sequences`` sequences of ``case`` (point 0 of seed ``seed``)."""
    model = case.model_instance()
    prepared = model.prepare(case.validated_params())
    plan = BlockPlan(sequences, case.block_size)
    key = stream_key(seed, 0)
    return run_blocks(
        lambda first, n: model.simulate(prepared, key, plan, first, n),
        plan,
        model.tallies,
    )


def events_of(case: BenchCase, tallies: Tallies) -> int | None:
    """Simulated events in ``tallies`` (None when the case counts none)."""
    if case.events_tally is None:
        return None
    return int(tallies[case.events_tally])


@dataclass(frozen=True)
class ThroughputResult:
    """Kernel speed of one case at ``threads`` threads (rates per wall second)."""

    model: str
    threads: int
    sequences: int
    events: int | None
    seconds: float
    median_seconds: float
    sequences_per_second: float
    events_per_second: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def warmup(case: BenchCase) -> float:
    """Compile (or load) the kernels the case runs; returns seconds."""
    return case.model_instance().warmup([case.validated_params()])


def measure_model(
    case: BenchCase, threads: int, min_seconds: float, repeats: int, n0: int | None = None
) -> ThroughputResult:
    """Sequences/s and events/s of ``case`` with ``threads`` Numba threads."""
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        start = n0 if n0 is not None else case.block_size * threads
        t = autorange(lambda n: run_case(case, n), start, min_seconds, repeats)
    finally:
        numba.set_num_threads(previous)
    ev = events_of(case, t.result)
    return ThroughputResult(
        model=case.model,
        threads=threads,
        sequences=t.n,
        events=ev,
        seconds=t.seconds,
        median_seconds=t.median_seconds,
        sequences_per_second=t.n / t.seconds,
        events_per_second=None if ev is None else ev / t.seconds,
    )
