"""JIT cost: ``mcstudy run`` on a tiny config in a fresh process, uncached and cached."""

from __future__ import annotations

import pytest

from mcstudy.bench.cases import bench_cases
from mcstudy.bench.jitcost import measure_start

CASES = bench_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.model for c in CASES])
def test_start(benchmark, tmp_path, case, bench_quick):
    cache = None  # --bench-quick: the default cache, warm from earlier runs
    if not bench_quick:
        cache = tmp_path / "numba-cache"
        cache.mkdir()
        first = measure_start(case, tmp_path / "work", cache, "uncached")
        benchmark.extra_info["uncached_wall_seconds"] = first["wall_seconds"]
        benchmark.extra_info["uncached_compile_seconds"] = first["compile_seconds"]
    # every round writes a new output: rounds never meet the previous run's directory
    got = benchmark.pedantic(
        measure_start, args=(case, tmp_path / "work", cache, "cached"), rounds=2
    )
    benchmark.extra_info["first_point_seconds"] = got["first_point_seconds"]
