"""Model kernels through the block engine, one benchmark case per registered model."""

from __future__ import annotations

import pytest

from mcstudy.bench.cases import bench_cases
from mcstudy.bench.throughput import events_of, run_case, warmup
from mcstudy.bench.timing import autorange

CASES = bench_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.model for c in CASES])
def test_model_throughput(benchmark, threads, case, bench_quick):
    warmup(case)
    # size the run to about 0.5 s on this machine, then let pytest-benchmark repeat it
    target = 0.02 if bench_quick else 0.5
    n = autorange(lambda k: run_case(case, k), case.block_size * threads, target, 1).n
    tallies = benchmark.pedantic(run_case, args=(case, n), rounds=3, warmup_rounds=0)
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing timed
        return
    best = benchmark.stats.stats.min
    benchmark.extra_info.update(
        {"threads": threads, "sequences": n, "sequences_per_second": n / best}
    )
    events = events_of(case, tallies)
    if events is not None:
        benchmark.extra_info["events_per_second"] = events / best
