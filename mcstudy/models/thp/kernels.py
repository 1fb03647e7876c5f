"""Block kernel of the THP model (``docs/model.md`` §5): ``prange`` over fixed blocks.

Each sequence runs the population (``population``) and then the IPIs an isolated CPU
receives (``rt``) on the same pressure path and collapse times. ``TALLIES`` is the one
column layout: the population's (with the deposit's moments over time), the IPI part's,
then the per-cycle IPI histogram.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from mcstudy.engine.rng import stream_new
from mcstudy.mechanisms import paths as P
from mcstudy.mechanisms import rt_ipi as R
from mcstudy.models.thp import population as K

RT_HIST = 1024
"""Per-cycle IPI counts 0 .. RT_HIST - 1 are counted exactly, then one overflow bin."""

TALLIES = K.POP_TALLIES + R.RT_TALLIES + R.rt_hist_tallies(RT_HIST)
N_INT, N_FLOAT = TALLIES.n_int, TALLIES.n_float


@njit(cache=True)
def _block_streams(k0, k1, block):
    """The block's keyed sub-streams, in the order the sequence draws from them:
    (pressure path, collapses), the population's four, the isolated CPU's four."""
    return (
        (
            stream_new(k0, k1, block, K.SUBSTREAM_ENV),
            stream_new(k0, k1, block, K.SUBSTREAM_COLLAPSE),
        ),
        (
            stream_new(k0, k1, block, K.SUBSTREAM_POP),
            stream_new(k0, k1, block, K.SUBSTREAM_INIT),
            stream_new(k0, k1, block, K.SUBSTREAM_CACHE),
            stream_new(k0, k1, block, K.SUBSTREAM_SPLIT_ALLOC),
        ),
        (
            stream_new(k0, k1, block, K.SUBSTREAM_GATHER_TIME),
            stream_new(k0, k1, block, K.SUBSTREAM_GATHER_ALLOC),
            stream_new(k0, k1, block, K.SUBSTREAM_KHUGEPAGED),
            stream_new(k0, k1, block, K.SUBSTREAM_IPI),
        ),
    )


@njit(cache=True)
def _sequence_paths(path_streams, fp):
    """One sequence's pressure path and khugepaged collapse times (shared by both
    population kernels and the isolated CPU): ``(e0, sw, n_sw, coll, n_coll)``."""
    env_st, coll_st = path_streams
    t1 = fp.t1
    e0, sw, n_sw = P.env_path(env_st, t1, fp.phi, fp.to_pressure, fp.to_calm)
    coll, n_coll = P.poisson_times(coll_st, fp.collapse_rate, 0.0, t1)
    return e0, sw, n_sw, coll, n_coll


@njit(cache=True)
def _isolated_cpu(rt_streams, fp, arrays, path, buf, out_i, out_f):
    """The IPIs the tagged isolated CPU sees in one sequence (``rt_ipi.rt_sequence``) into
    the IPI part of the block's tallies; returns the delivery buffer (it grows)."""
    gt_st, ga_st, kh_st, ipi_st = rt_streams
    e0, sw, n_sw, coll, n_coll = path
    _lam, _mu, _sig, _m0, _sig_init, _th, _cache_cdf, rp, rth = arrays
    return R.rt_sequence(
        gt_st, ga_st, kh_st, ipi_st, fp.t0, fp.t1, rp[0], rth, e0, sw, n_sw, coll, n_coll,
        buf, out_i[K.N_POP_INT :], out_f[K.N_POP_FLOAT :],
    )  # fmt: skip


# The two block kernels below differ only in the population kernel they call. They are
# two module-level functions, not one closure made twice: Numba's disk cache keys a
# function by its file and qualified name, so two closures named alike would share one
# cache entry and a warm cache would run the other variant (tests/engine/test_jitcache.py).
# Nor one function branching on ``ip.individual``: it would compile both population
# kernels for every THP run.


@njit(cache=True)
def thp_block_aggregate(k0, k1, block, n_seq, fp, ip, arrays, out_i, out_f):
    """``n_seq`` sequences of one block, exponential lifetimes (``population_aggregate``)."""
    path_st, pop_st, rt_st = _block_streams(k0, k1, block)
    levels = np.zeros(max(ip.split_cpus, 1), dtype=np.int64)
    mom = np.zeros(2, dtype=np.float64)
    buf = np.empty(1024, dtype=np.int64)
    for _ in range(n_seq):
        path = _sequence_paths(path_st, fp)
        K.population_aggregate(pop_st, fp, ip, arrays, path, levels, mom, out_i, out_f)
        buf = _isolated_cpu(rt_st, fp, arrays, path, buf, out_i, out_f)


@njit(cache=True)
def thp_block_individual(k0, k1, block, n_seq, fp, ip, arrays, out_i, out_f):
    """``n_seq`` sequences of one block, any lifetime law (``population_individual``)."""
    path_st, pop_st, rt_st = _block_streams(k0, k1, block)
    levels = np.zeros(max(ip.split_cpus, 1), dtype=np.int64)
    mom = np.zeros(2, dtype=np.float64)
    ht = np.empty(1024, dtype=np.float64)
    hc = np.empty(1024, dtype=np.int64)
    buf = np.empty(1024, dtype=np.int64)
    for _ in range(n_seq):
        path = _sequence_paths(path_st, fp)
        ht, hc = K.population_individual(
            pop_st, fp, ip, arrays, path, levels, mom, ht, hc, out_i, out_f
        )
        buf = _isolated_cpu(rt_st, fp, arrays, path, buf, out_i, out_f)


@njit(cache=True, parallel=True)
def simulate_thp_blocks_aggregate(
    k0, k1, first_block, n_blocks, block_size, sequences, fp, ip, arrays
):
    """Per-block tallies for blocks [first_block, first_block + n_blocks), exponential
    lifetimes (aggregate population kernel).

    ``fp``, ``ip``: the population's named tuples (``prepare.pack_population``),
    separate arguments because the parallel region takes no tuple nested in a tuple;
    ``arrays``: the packed arrays (``PreparedThp.arrays``) as one tuple, so the parallel
    region has few arguments (it compiles faster).
    """
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        thp_block_aggregate(k0, k1, block, n_seq, fp, ip, arrays, out_i[b], out_f[b])
    return out_i, out_f


@njit(cache=True, parallel=True)
def simulate_thp_blocks_individual(
    k0, k1, first_block, n_blocks, block_size, sequences, fp, ip, arrays
):
    """As :func:`simulate_thp_blocks_aggregate`, following every mapping (any lifetime law)."""
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        thp_block_individual(k0, k1, block, n_seq, fp, ip, arrays, out_i[b], out_f[b])
    return out_i, out_f


def simulate_thp_blocks(k0, k1, first_block, n_blocks, block_size, sequences, fp, ip, arrays):
    """Per-block tallies for blocks [first_block, first_block + n_blocks), with the
    population kernel the packed parameters ask for (``PopInts.individual``)."""
    individual = ip.individual != 0
    kernel = simulate_thp_blocks_individual if individual else simulate_thp_blocks_aggregate
    return kernel(k0, k1, first_block, n_blocks, block_size, sequences, fp, ip, arrays)
