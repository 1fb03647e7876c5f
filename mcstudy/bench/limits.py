"""The physical limit: raw draws per second of the generators, in a tight loop.

* ``philox_u32``: 32-bit words of the project's stream (``engine.rng.next_u32``), the
  unit of **draw-time**;
* ``philox_double``: 53-bit uniform doubles (``next_double``, two words each);
* ``philox_exponential``: ``-log(U)`` variates (``next_double_open0`` and a logarithm),
  the cost of one exponential holding time;
* ``numba_random``: Numba's own ``np.random.random()`` (per-thread Mersenne Twister,
  53-bit doubles), what a user of plain Numba would call. Used here only as a
  yardstick: model kernels never use ``np.random``.

Each loop runs ``prange`` over ``8 x threads`` chunks, every chunk with its own stream
(key fixed, block = chunk index), and folds the draws into one value per chunk so the
compiler cannot drop them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np
from numba import njit, prange

from mcstudy.bench.timing import autorange
from mcstudy.engine.rng import next_double, next_double_open0, next_u32, stream_new

SUBSTREAM_BENCH = 0xBE
_KEY = (0x243F6A88, 0x85A308D3)
CHUNKS_PER_THREAD = 8


@njit(cache=True)
def _u32_chunk(k0, k1, chunk, words):
    st = stream_new(k0, k1, chunk, SUBSTREAM_BENCH)
    acc = np.uint64(0)
    for _ in range(words):
        acc ^= next_u32(st)
    return acc


@njit(cache=True)
def _double_chunk(k0, k1, chunk, draws):
    st = stream_new(k0, k1, chunk, SUBSTREAM_BENCH)
    acc = 0.0
    for _ in range(draws):
        acc += next_double(st)
    return acc


@njit(cache=True)
def _exponential_chunk(k0, k1, chunk, draws):
    st = stream_new(k0, k1, chunk, SUBSTREAM_BENCH)
    acc = 0.0
    for _ in range(draws):
        acc -= math.log(next_double_open0(st))
    return acc


@njit(cache=True)
def _numba_random_chunk(draws):
    acc = 0.0
    for _ in range(draws):
        acc += np.random.random()  # noqa: NPY002 (Numba's generator is the yardstick)
    return acc


KIND_U32, KIND_DOUBLE, KIND_EXPONENTIAL, KIND_NUMBA = range(4)


@njit(cache=True)
def _chunk(kind, k0, k1, chunk, draws):
    if kind == KIND_U32:
        return float(_u32_chunk(k0, k1, chunk, draws))
    if kind == KIND_DOUBLE:
        return _double_chunk(k0, k1, chunk, draws)
    if kind == KIND_EXPONENTIAL:
        return _exponential_chunk(k0, k1, chunk, draws)
    return _numba_random_chunk(draws)


@njit(cache=True, parallel=True)
def draw_loop(kind, k0, k1, n_chunks, draws_per_chunk):
    """``n_chunks x draws_per_chunk`` draws of generator ``kind``, one value per chunk.

    One parallel function for all generators (one compilation); the generator is
    chosen per chunk, outside the tight loop.
    """
    out = np.zeros(n_chunks, dtype=np.float64)
    for c in prange(n_chunks):
        out[c] = _chunk(kind, k0, k1, c, draws_per_chunk)
    return out


GENERATORS: dict[str, tuple[int, str, str]] = {
    "philox_u32": (
        KIND_U32,
        "32-bit words",
        "engine.rng.next_u32 (Philox4x32-10, buffered refill)",
    ),
    "philox_double": (KIND_DOUBLE, "doubles", "engine.rng.next_double (2 words, 53 bits)"),
    "philox_exponential": (
        KIND_EXPONENTIAL,
        "exponentials",
        "-log(engine.rng.next_double_open0)",
    ),
    "numba_random": (
        KIND_NUMBA,
        "doubles",
        "Numba np.random.random (Mersenne Twister, per thread)",
    ),
}


def _runner(name: str, threads: int):
    kind = GENERATORS[name][0]
    n_chunks = CHUNKS_PER_THREAD * threads

    def run(n: int) -> float:
        per = max(1, -(-n // n_chunks))
        return float(draw_loop(kind, _KEY[0], _KEY[1], n_chunks, per).sum())

    return run, n_chunks


@dataclass(frozen=True)
class LimitResult:
    """Draws per second of one generator loop at ``threads`` threads."""

    generator: str
    unit: str
    description: str
    threads: int
    draws: int
    seconds: float
    median_seconds: float
    per_second: float

    def as_dict(self) -> dict:
        return asdict(self)


def warmup() -> None:
    """Compile (or load) the limit loops."""
    for name in GENERATORS:
        _runner(name, 1)[0](16)


def measure_limit(name: str, threads: int, min_seconds: float, repeats: int) -> LimitResult:
    """Draws per second (draws/s) of generator ``name`` with ``threads`` Numba threads."""
    _, unit, desc = GENERATORS[name]
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        run, n_chunks = _runner(name, threads)
        t = autorange(run, n_chunks * 4096, min_seconds, repeats)
    finally:
        numba.set_num_threads(previous)
    per = -(-t.n // n_chunks)
    draws = per * n_chunks
    return LimitResult(
        name, unit, desc, threads, draws, t.seconds, t.median_seconds, draws / t.seconds
    )
