"""What a user would write instead: pure Python, NumPy and SimPy versions of the models."""

from __future__ import annotations

import pytest

from mcstudy.bench.baselines.registry import BASELINES
from mcstudy.bench.cases import bench_cases

PAIRS = [(c, BASELINES[name]) for c in bench_cases() for name in c.baselines]
WORK = {
    "python-per-table": 500,
    "python-per-attempt": 50_000,
    "numpy-per-attempt": 1_000_000,
    "python-reference": 200_000,
    "simpy": 100_000,
    "numpy-gillespie": 4_000_000,
}


@pytest.mark.parametrize(("case", "baseline"), PAIRS, ids=[f"{c.model}-{b.name}" for c, b in PAIRS])
def test_baseline(benchmark, case, baseline, bench_quick):
    why = baseline.unavailable(case)
    if why is not None:
        pytest.skip(why)
    n = WORK[baseline.name] // (100 if bench_quick else 1)
    seqs, events = benchmark.pedantic(baseline.run, args=(case, n, 1), rounds=3)
    if benchmark.stats is None:  # --benchmark-disable: ran once, nothing timed
        return
    best = benchmark.stats.stats.min
    benchmark.extra_info["events_per_second"] = events / best
    if seqs is not None:
        benchmark.extra_info["sequences_per_second"] = seqs / best
