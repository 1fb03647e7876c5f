"""Block kernel of the gather model (``docs/model.md`` §3.2-§3.4): ``@njit`` code only.

A sequence is one mmu_gather freeing ``n`` page tables (``mcstudy.kernel.mmu_gather``).
Sampling is per allocation attempt, never per table: the tables between attempts are
deterministic. The attempts of a block form one i.i.d. Bernoulli(p) stream, so the
kernel draws the geometric number of successful attempts before the next failure
(one uniform per *failure*) and skips runs of successes in O(1): exact in distribution,
and a gather without failure costs no random draw at all. IPI deliveries of all F
fallbacks are one Binomial(F x targets, deliver_prob) draw. With probability
``pressure_episode_prob`` a gather runs in a pressure episode and its attempts come from
a second stream with ``pressure_fail_p``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from mcstudy.engine.rng import bernoulli_u64, stream_new
from mcstudy.engine.sampling import binomial
from mcstudy.engine.tallies import TallyLayout
from mcstudy.kernel.mmu_gather import NEVER, successes_before_failure, tlb_remove_table_gather_gaps

SUBSTREAM_ALLOC = 1
SUBSTREAM_IPI = 2
SUBSTREAM_EPISODE = 3
SUBSTREAM_ALLOC_PRESSURE = 4

TALLIES = TallyLayout(
    ints=("sequences", "fallbacks", "gathers_with_fallback", "alloc_attempts", "sync_ipis"),
    floats=("fallbacks_sq", "alloc_attempts_sq", "sync_ipis_sq"),
)
N_INT, N_FLOAT = TALLIES.n_int, TALLIES.n_float
I_SEQUENCES = TALLIES.int_col("sequences")
I_FALLBACKS = TALLIES.int_col("fallbacks")
I_HIT = TALLIES.int_col("gathers_with_fallback")
I_ATTEMPTS = TALLIES.int_col("alloc_attempts")
I_IPIS = TALLIES.int_col("sync_ipis")
F_FALLBACKS_SQ = TALLIES.float_col("fallbacks_sq")
F_ATTEMPTS_SQ = TALLIES.float_col("alloc_attempts_sq")
F_IPIS_SQ = TALLIES.float_col("sync_ipis_sq")


class GatherInputs(NamedTuple):
    """The block kernel's parameters, read by name: int64, uint64, bool and float64 fields,
    one flat tuple type passed by value. Built only by ``model.pack_gather``."""

    n_tables: int  # page tables one gather frees
    batch: int  # tables one batch page holds (MAX_TABLE_BATCH)
    uses_trt: bool  # the profile frees tables through tlb_remove_table()
    targets: int  # CPUs one sync IPI round targets
    episodes: bool  # gathers run in pressure episodes with P(episode) > 0
    episode_hi: np.uint64  # P(episode) as a bernoulli_u64 threshold: high 32 bits,
    episode_lo: np.uint64  # low 32 bits,
    episode_always: bool  # and P(episode) = 1
    log_q_calm: float  # log1p(-gfp_nowait_fail_p) (-inf: every attempt fails)
    log_q_pressure: float  # log1p(-pressure_fail_p) in a pressure episode
    deliver_prob: float  # P(a targeted CPU receives the IPI)


@njit(cache=True)
def _gather_block(k0, k1, block, n_seq, g, out_i, out_f):
    alloc_st = stream_new(k0, k1, block, SUBSTREAM_ALLOC)
    pressure_st = stream_new(k0, k1, block, SUBSTREAM_ALLOC_PRESSURE)
    ipi_st = stream_new(k0, k1, block, SUBSTREAM_IPI)
    ep_st = stream_new(k0, k1, block, SUBSTREAM_EPISODE)
    n_tables = g.n_tables
    batch = g.batch
    targets = g.targets
    episodes = g.episodes
    deliver_prob = g.deliver_prob
    need_full = (n_tables + batch - 1) // batch
    need_full_sq = float(need_full) * float(need_full)
    s_f = 0
    s_hit = 0
    s_a = 0
    s_d = 0
    q_f = 0.0
    q_a = 0.0
    q_d = 0.0
    if g.uses_trt:
        # one i.i.d. attempt stream per failure probability (calm, pressure episode)
        gap_calm = successes_before_failure(alloc_st, g.log_q_calm)
        gap_pressure = (
            successes_before_failure(pressure_st, g.log_q_pressure) if episodes else NEVER
        )
        for _ in range(n_seq):
            in_episode = False
            if episodes:
                in_episode = bernoulli_u64(ep_st, g.episode_hi, g.episode_lo, g.episode_always)
            if not in_episode and gap_calm >= need_full:
                # no failure in this gather (the common case), written out for speed
                gap_calm -= need_full
                s_a += need_full
                q_a += need_full_sq
                continue
            if in_episode:
                f, a, gap_pressure = tlb_remove_table_gather_gaps(
                    pressure_st, gap_pressure, n_tables, need_full, batch, g.log_q_pressure
                )
            else:
                f, a, gap_calm = tlb_remove_table_gather_gaps(
                    alloc_st, gap_calm, n_tables, need_full, batch, g.log_q_calm
                )
            d = 0
            if f > 0 and targets > 0:
                if deliver_prob >= 1.0:
                    d = f * targets
                elif deliver_prob > 0.0:
                    d = binomial(ipi_st, f * targets, deliver_prob)
            s_f += f
            s_hit += 1 if f > 0 else 0
            s_a += a
            s_d += d
            q_f += float(f) * float(f)
            q_a += float(a) * float(a)
            q_d += float(d) * float(d)
    out_i[I_SEQUENCES] = n_seq
    out_i[I_FALLBACKS] = s_f
    out_i[I_HIT] = s_hit
    out_i[I_ATTEMPTS] = s_a
    out_i[I_IPIS] = s_d
    out_f[F_FALLBACKS_SQ] = q_f
    out_f[F_ATTEMPTS_SQ] = q_a
    out_f[F_IPIS_SQ] = q_d


@njit(cache=True, parallel=True)
def simulate_gather_blocks(k0, k1, first_block, n_blocks, block_size, sequences, g):
    """Per-block tallies for blocks [first_block, first_block + n_blocks); ``g`` is the
    point's ``GatherInputs``."""
    out_i = np.zeros((n_blocks, N_INT), dtype=np.int64)
    out_f = np.zeros((n_blocks, N_FLOAT), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        _gather_block(k0, k1, block, n_seq, g, out_i[b], out_f[b])
    return out_i, out_f
