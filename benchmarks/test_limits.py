"""The limit: raw draws per second of the generators in a tight loop."""

from __future__ import annotations

import pytest

from mcstudy.bench import limits

DRAWS = 1 << 24


@pytest.mark.parametrize("generator", list(limits.GENERATORS))
def test_generator_draws(benchmark, threads, generator):
    limits.warmup()
    run, _ = limits._runner(generator, threads)
    benchmark.pedantic(run, args=(DRAWS,), rounds=5, warmup_rounds=1)
    benchmark.extra_info["draws"] = DRAWS
    benchmark.extra_info["draws_per_second"] = DRAWS / benchmark.stats.stats.min
    benchmark.extra_info["threads"] = threads
