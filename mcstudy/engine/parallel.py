"""Blocks in parallel from Python threads, for a model whose block kernel is large.

``@njit(parallel=True)`` wraps a ``prange`` loop in a gufunc that Numba compiles, and
LLVM optimises again with everything the loop body calls linked in: for a large block
kernel (the host study's) that wrapper cost about 12 s of a first run's compilation. A
block kernel compiled with ``nogil=True`` and called from ``numba.get_num_threads()``
Python threads runs in parallel as well, with no wrapper to compile.

Each block writes its own row of the per-block tallies, whichever thread runs it, so the
result is the same for any thread count (and with ``NUMBA_DISABLE_JIT=1``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from mcstudy.engine.blocks import BlockPlan

BlockFn = Callable[[int, int, np.ndarray, np.ndarray], None]
"""``fn(block, n_seq, out_i_row, out_f_row)``: ``n_seq`` sequences of ``block``, added
into the block's rows of int and float tallies (a ``nogil`` kernel releases the GIL)."""


def blocks_in_threads(
    fn: BlockFn, plan: BlockPlan, first_block: int, n_blocks: int, n_int: int, n_float: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-block tallies (``int64[n_blocks, n_int]``, ``float64[n_blocks, n_float]``) of
    blocks [first_block, first_block + n_blocks), ``numba.get_num_threads()`` at a time."""
    out_i = np.zeros((n_blocks, n_int), dtype=np.int64)
    out_f = np.zeros((n_blocks, n_float), dtype=np.float64)
    todo = itertools.count()  # next() is atomic under the GIL: blocks are taken in turn

    def work() -> None:
        while (b := next(todo)) < n_blocks:
            block = first_block + b
            n_seq = min(plan.block_size, plan.sequences - block * plan.block_size)
            fn(block, n_seq, out_i[b], out_f[b])

    threads = max(1, min(numba.get_num_threads(), n_blocks))
    if threads == 1:
        work()
        return out_i, out_f
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="mcstudy-block") as pool:
        for f in [pool.submit(work) for _ in range(threads)]:
            f.result()
    return out_i, out_f
