"""pytest-benchmark suite of mcstudy (not part of the default ``pytest`` run).

Run from the repository root::

    python -m pytest benchmarks --benchmark-only              # all
    python -m pytest benchmarks -k gather --benchmark-only     # one model
    python -m pytest benchmarks --benchmark-json=out.json      # keep the numbers
    python -m pytest benchmarks --benchmark-disable --bench-quick   # smoke run (CI)

It measures the same workloads as ``mcstudy bench`` (whose JSON and table are the
reference record); this suite adds pytest-benchmark's statistics, comparison
(``--benchmark-compare``) and history. ``--bench-threads N`` sets the Numba threads
of the kernel benchmarks (default: all). ``--bench-quick`` shrinks every workload and
skips the uncached start (minutes of compilation): with ``--benchmark-disable`` it runs
each benchmark once, as CI does, to check that the suite works.
"""

from __future__ import annotations

import numba
import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--bench-threads",
        type=int,
        default=None,
        help="Numba threads for kernel benchmarks (default: all)",
    )
    parser.addoption(
        "--bench-quick",
        action="store_true",
        default=False,
        help="small workloads and no uncached start: a smoke run of the suite",
    )


@pytest.fixture(scope="session")
def bench_quick(request: pytest.FixtureRequest) -> bool:
    """True with ``--bench-quick``."""
    return bool(request.config.getoption("--bench-quick"))


@pytest.fixture(scope="session")
def bench_threads(request: pytest.FixtureRequest) -> int:
    threads = request.config.getoption("--bench-threads") or numba.config.NUMBA_NUM_THREADS
    if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
        raise pytest.UsageError(f"--bench-threads must be in 1..{numba.config.NUMBA_NUM_THREADS}")
    return threads


@pytest.fixture
def threads(bench_threads: int):
    """Run the test body with ``bench_threads`` Numba threads."""
    previous = numba.get_num_threads()
    numba.set_num_threads(bench_threads)
    yield bench_threads
    numba.set_num_threads(previous)
