"""JIT cost: ``mcstudy run`` on a tiny config in a fresh process, uncached and cached."""

from __future__ import annotations

import pytest

from mcstudy.bench.cases import bench_cases
from mcstudy.bench.jitcost import measure_start

CASES = bench_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.model for c in CASES])
def test_start(benchmark, tmp_path, case):
    cache = tmp_path / "numba-cache"
    cache.mkdir()
    first = measure_start(case, tmp_path / "work", cache, "uncached")
    benchmark.extra_info["uncached_wall_seconds"] = first["wall_seconds"]
    benchmark.pedantic(measure_start, args=(case, tmp_path / "work", cache, "cached"), rounds=2)
