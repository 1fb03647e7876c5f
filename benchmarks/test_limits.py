"""The limit: raw draws per second of the generators in a tight loop."""

from __future__ import annotations

import pytest

from mcstudy.bench import limits

DRAWS = 1 << 24


@pytest.mark.parametrize("generator", list(limits.GENERATORS))
def test_generator_draws(benchmark, threads, generator, bench_quick):
    limits.warmup()
    run, _ = limits._runner(generator, threads)
    draws = DRAWS >> 8 if bench_quick else DRAWS
    benchmark.pedantic(run, args=(draws,), rounds=5, warmup_rounds=1)
    benchmark.extra_info["draws"] = draws
    if benchmark.stats is not None:  # None with --benchmark-disable
        benchmark.extra_info["draws_per_second"] = draws / benchmark.stats.stats.min
    benchmark.extra_info["threads"] = threads
