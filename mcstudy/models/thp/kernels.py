"""Block kernel of the THP model (``docs/model.md`` §5): ``prange`` over fixed blocks.

Each sequence runs the population (``population``) and then the IPIs an isolated CPU
receives (``rt``) on the same pressure path and collapse times. ``TALLIES`` is the one
column layout: the population's (with the deposit's moments over time), the IPI part's,
then the per-cycle IPI histogram.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from mcstudy.engine.rng import stream_new
from mcstudy.models.thp import paths as P
from mcstudy.models.thp import population as K
from mcstudy.models.thp import rt as R

RT_HIST = 1024
"""Per-cycle IPI counts 0 .. RT_HIST - 1 are counted exactly, then one overflow bin."""

TALLIES = K.POP_TALLIES + R.RT_TALLIES + R.rt_hist_tallies(RT_HIST)
N_INT, N_FLOAT = TALLIES.n_int, TALLIES.n_float


def _make_block(individual: bool) -> Any:
    """The block function with the population kernel fixed at compile time: the aggregate
    one (exponential lifetimes) or the individual one (any lifetime law). Numba prunes
    the other branch, so a study compiles only the population kernel it uses. (The only
    closure variable is a bool: Numba's cache key of the function stays the same in
    every process.)"""

    @njit(cache=True)
    def thp_block(k0, k1, block, n_seq, arrays, out_i, out_f):
        """``n_seq`` sequences of one block with the block's own keyed streams."""
        fp, ip, lam, mu, sig, m0, sig_init, th, cache_cdf, rip, rfp, rth = arrays
        env_st = stream_new(k0, k1, block, K.SUBSTREAM_ENV)
        coll_st = stream_new(k0, k1, block, K.SUBSTREAM_COLLAPSE)
        pop_st = stream_new(k0, k1, block, K.SUBSTREAM_POP)
        init_st = stream_new(k0, k1, block, K.SUBSTREAM_INIT)
        cache_st = stream_new(k0, k1, block, K.SUBSTREAM_CACHE)
        fail_st = stream_new(k0, k1, block, K.SUBSTREAM_SPLIT_ALLOC)
        gt_st = stream_new(k0, k1, block, K.SUBSTREAM_GATHER_TIME)
        ga_st = stream_new(k0, k1, block, K.SUBSTREAM_GATHER_ALLOC)
        kh_st = stream_new(k0, k1, block, K.SUBSTREAM_KHUGEPAGED)
        ipi_st = stream_new(k0, k1, block, K.SUBSTREAM_IPI)
        t0 = fp[K.F_T0]
        t1 = fp[K.F_T1]
        levels = np.zeros(max(ip[K.I_SPLIT_CPUS], 1), dtype=np.int64)
        mom = np.zeros(2, dtype=np.float64)
        ht = np.empty(1024, dtype=np.float64)
        hc = np.empty(1024, dtype=np.int64)
        buf = np.empty(1024, dtype=np.int64)
        npf = K.N_POP_FLOAT
        pop_i = out_i[: K.N_POP_INT]
        rt_i = out_i[K.N_POP_INT :]
        pop_f = out_f[:npf]
        rt_f = out_f[npf:]
        for _ in range(n_seq):
            e0, sw, n_sw = P.env_path(env_st, t1, fp[K.F_PHI], fp[K.F_TO_PRESSURE], fp[K.F_TO_CALM])
            coll, n_coll = P.poisson_times(coll_st, fp[K.F_COLLAPSE_RATE], 0.0, t1)
            if individual:
                ht, hc = K.population_individual(
                    pop_st, init_st, cache_st, fail_st, fp, ip, lam, mu, sig, m0, sig_init, th,
                    cache_cdf, e0, sw, n_sw, coll, n_coll, levels, mom, ht, hc, pop_i, pop_f,
                )  # fmt: skip
            else:
                K.population_aggregate(
                    pop_st, init_st, cache_st, fail_st, fp, ip, lam, mu, sig, m0, th, cache_cdf,
                    e0, sw, n_sw, coll, n_coll, levels, mom, pop_i, pop_f,
                )  # fmt: skip
            buf = R.rt_sequence(
                gt_st, ga_st, kh_st, ipi_st, t0, t1, rip, rfp, rth, e0, sw, n_sw, coll, n_coll,
                buf, rt_i, rt_f,
            )  # fmt: skip

    return thp_block


_thp_block_aggregate = _make_block(False)
_thp_block_individual = _make_block(True)


@njit(cache=True, parallel=True)
def simulate_thp_blocks_aggregate(k0, k1, first_block, n_blocks, block_size, sequences, arrays):
    """Per-block tallies for blocks [first_block, first_block + n_blocks), exponential
    lifetimes (aggregate population kernel).

    ``arrays``: the packed parameters (``PreparedThp.arrays``) as one tuple, so the
    parallel region has few arguments (it compiles faster).
    """
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        _thp_block_aggregate(k0, k1, block, n_seq, arrays, out_i[b], out_f[b])
    return out_i, out_f


@njit(cache=True, parallel=True)
def simulate_thp_blocks_individual(k0, k1, first_block, n_blocks, block_size, sequences, arrays):
    """As :func:`simulate_thp_blocks_aggregate`, following every mapping (any lifetime law)."""
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        _thp_block_individual(k0, k1, block, n_seq, arrays, out_i[b], out_f[b])
    return out_i, out_f


def simulate_thp_blocks(k0, k1, first_block, n_blocks, block_size, sequences, arrays):
    """Per-block tallies for blocks [first_block, first_block + n_blocks), with the
    population kernel the packed parameters ask for (``I_INDIVIDUAL``)."""
    individual = arrays[1][K.I_INDIVIDUAL] != 0
    kernel = simulate_thp_blocks_individual if individual else simulate_thp_blocks_aggregate
    return kernel(k0, k1, first_block, n_blocks, block_size, sequences, arrays)
