"""The gather model (MODEL.md 5.1): fallbacks of ``tlb_remove_table()`` in one mmu_gather.

A sequence is one mmu_gather freeing ``n`` page tables, starting with no batch page.
While no batch page is held, the next table tries ``__get_free_page(GFP_NOWAIT |
__GFP_NOWARN)``; with probability p it fails and that table goes through
``tlb_remove_table_one()`` (one synchronous IPI round, unless the kernel profile frees
it by RCU); otherwise the batch takes this table and the next ``MAX_TABLE_BATCH - 1``.

Sampling is per allocation attempt, never per table: the tables between attempts are
deterministic. The attempts of a block form one i.i.d. Bernoulli(p) stream, so the
kernel draws the geometric number of successful attempts before the next failure
(one uniform per *failure*) and skips runs of successes in O(1): exact in distribution,
and a gather without failure costs no random draw at all.
IPI deliveries of all F fallbacks are one Binomial(F x targets, deliver_prob) draw.

Bursty pressure: with probability ``pressure_episode_prob`` a gather runs inside a
pressure episode and fails with ``pressure_fail_p`` instead of ``gfp_nowait_fail_p``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numba import njit, prange
from pydantic import Field, model_validator

from mcstudy.engine.blocks import BlockPlan, Tallies
from mcstudy.engine.rng import (
    bernoulli_u64,
    next_double_open0,
    probability_threshold,
    stream_new,
)
from mcstudy.engine.sampling import binomial
from mcstudy.exact.gather import gather_exact_mixture
from mcstudy.kernel.ipi import IPI_POLICIES, IpiTargets, ipi_targets
from mcstudy.kernel.pgtable import VMA_NEIGHBOURS, munmap_tables
from mcstudy.kernel.profiles import KERNEL_NAMES, get_profile
from mcstudy.models.base import Model, ModelParams, Variable, register
from mcstudy.stats import mean_from_sums, wilson

SUBSTREAM_ALLOC = 1
SUBSTREAM_IPI = 2
SUBSTREAM_EPISODE = 3
SUBSTREAM_ALLOC_PRESSURE = 4

# layout of the packed integer parameters
_IP_TABLES, _IP_BATCH, _IP_USES_TRT, _IP_TARGETS, _IP_EPISODES = range(5)
# layout of the packed thresholds: calm (hi, lo, always), episode p, episode draw
_TH_CALM, _TH_PRESSURE, _TH_EPISODE = 0, 3, 6

_Kernel = Literal[KERNEL_NAMES]  # type: ignore[valid-type]
_Policy = Literal[IPI_POLICIES]  # type: ignore[valid-type]
_Neighbours = Literal[VMA_NEIGHBOURS]  # type: ignore[valid-type]


def _prob(default: float | None = None, **kw: Any) -> Any:
    extra = {"units": "1"}
    if default is None:
        return Field(ge=0.0, le=1.0, allow_inf_nan=False, json_schema_extra=extra, **kw)
    return Field(default, ge=0.0, le=1.0, allow_inf_nan=False, json_schema_extra=extra, **kw)


class GatherParams(ModelParams):
    """Parameters of the gather model (units in each field's ``units``)."""

    tables_per_gather: int | None = Field(
        None,
        ge=1,
        le=10**9,
        json_schema_extra={"units": "tables"},
        description="page tables freed through tlb_remove_table() by one mmu_gather",
    )
    munmap_mib: float | None = Field(
        None,
        gt=0.0,
        le=2.0**30,
        allow_inf_nan=False,
        json_schema_extra={"units": "MiB"},
        description="instead of tables_per_gather: size of the unmapped VMA",
    )
    vma_neighbours: _Neighbours = Field("adjacent", description="VMAs around the unmapped one")
    vma_offset_kib: int = Field(
        0,
        ge=0,
        le=2**39,
        json_schema_extra={"units": "KiB"},
        description="start of the VMA past a 512 GiB boundary",
    )
    gfp_nowait_fail_p: float = _prob(description="P(GFP_NOWAIT batch-page allocation fails)")
    kernel: _Kernel = Field("v6.3-kvm-pv", description="kernel profile")
    max_table_batch: int | None = Field(
        None,
        ge=1,
        le=1 << 20,
        json_schema_extra={"units": "entries"},
        description="MAX_TABLE_BATCH (default: the kernel profile's)",
    )
    ipi_policy: _Policy = Field("broadcast", description="who receives a sync IPI")
    online_cpus: int = Field(64, ge=1, le=1 << 16, json_schema_extra={"units": "CPUs"})
    mm_cpus: int = Field(8, ge=1, le=1 << 16, json_schema_extra={"units": "CPUs"})
    kernel_mode_fraction: float = _prob(0.1, description="P(an mm CPU is in kernel mode)")
    pressure_episode_prob: float = _prob(0.0, description="P(a gather runs in a pressure episode)")
    pressure_fail_p: float = _prob(0.5, description="GFP_NOWAIT failure prob. in an episode")

    @model_validator(mode="after")
    def _consistent(self) -> GatherParams:
        if (self.tables_per_gather is None) == (self.munmap_mib is None):
            raise ValueError("give exactly one of tables_per_gather and munmap_mib")
        if self.mm_cpus > self.online_cpus:
            raise ValueError(
                f"mm_cpus ({self.mm_cpus}) must not exceed online_cpus ({self.online_cpus})"
            )
        if self.munmap_mib is not None:
            munmap_tables(self.munmap_mib, self.vma_neighbours, self.vma_offset_kib)
        return self

    def n_tables(self) -> int:
        """Tables freed by one gather (tables)."""
        if self.tables_per_gather is not None:
            return self.tables_per_gather
        return munmap_tables(self.munmap_mib, self.vma_neighbours, self.vma_offset_kib).total

    def batch(self) -> int:
        """MAX_TABLE_BATCH in force (entries)."""
        if self.max_table_batch is not None:
            return self.max_table_batch
        return get_profile(self.kernel).max_table_batch

    def ipi(self) -> IpiTargets:
        """Deliveries of one fallback's sync IPI round under the profile and policy."""
        if not get_profile(self.kernel).fallback_sends_ipi:
            return IpiTargets(0, 0.0)
        return ipi_targets(
            self.ipi_policy, self.online_cpus, self.mm_cpus, self.kernel_mode_fraction
        )


# --------------------------------------------------------------------------- kernels


@njit(cache=True, inline="always")
def tlb_remove_table_gather(alloc_st, n_tables, max_table_batch, thr_hi, thr_lo, always):
    """One mmu_gather of ``n_tables`` tables: returns (fallbacks, allocation attempts).

    Mirrors ``tlb_remove_table()``: an attempt per table while no batch is held; a
    failure sends that one table to ``tlb_remove_table_one()``; a success starts a
    batch that takes ``max_table_batch`` tables before the next attempt.
    """
    remaining = n_tables
    fallbacks = 0
    attempts = 0
    while remaining > 0:
        attempts += 1
        if bernoulli_u64(alloc_st, thr_hi, thr_lo, always):
            fallbacks += 1
            remaining -= 1
        else:
            remaining -= max_table_batch
    return fallbacks, attempts


_NEVER = np.int64(1) << np.int64(62)


@njit(cache=True, inline="always")
def successes_before_failure(st, log_q):
    """Geometric gap: successful attempts before the next failing one (attempts).

    Inverse transform of P(G >= k) = (1 - p)**k with ``log_q = log1p(-p)``: one uniform
    per *failure* instead of one per attempt. ``log_q = 0`` (p = 0) never fails;
    ``log_q = -inf`` (p = 1) always does.
    """
    if log_q == 0.0:
        return _NEVER
    g = math.floor(math.log(next_double_open0(st)) / log_q)
    if g >= 4.0e18:
        return _NEVER
    return np.int64(g)


@njit(cache=True, inline="always")
def tlb_remove_table_gather_gaps(
    alloc_st, gap, n_tables, attempts_if_none_fail, max_table_batch, log_q
):
    """``tlb_remove_table_gather`` driven by geometric gaps between failures.

    ``gap`` counts the successful batch-page attempts left before the next failure in
    this i.i.d. attempt stream (shared by consecutive gathers of a block: the attempts
    are independent Bernoulli(p), so where a gather starts in the stream does not
    matter). Runs of successes are skipped in O(1). ``attempts_if_none_fail`` is
    ceil(n_tables / max_table_batch). Returns (fallbacks, attempts, gap).
    """
    if gap >= attempts_if_none_fail:  # the common case: no failure in this gather
        return 0, attempts_if_none_fail, gap - attempts_if_none_fail
    remaining = n_tables
    fallbacks = 0
    attempts = 0
    while remaining > 0:
        # attempts the rest of the gather needs if none of them fails
        need = (remaining + max_table_batch - 1) // max_table_batch
        if gap >= need:
            attempts += need
            gap -= need
            break
        # gap successes (each takes a full batch), then a failing attempt
        attempts += gap + 1
        remaining -= gap * max_table_batch
        fallbacks += 1
        remaining -= 1
        gap = successes_before_failure(alloc_st, log_q)
    return fallbacks, attempts, gap


@njit(cache=True)
def _gather_block(k0, k1, block, n_seq, ip, th, lq, deliver_prob, out_i, out_f):
    alloc_st = stream_new(k0, k1, block, SUBSTREAM_ALLOC)
    pressure_st = stream_new(k0, k1, block, SUBSTREAM_ALLOC_PRESSURE)
    ipi_st = stream_new(k0, k1, block, SUBSTREAM_IPI)
    ep_st = stream_new(k0, k1, block, SUBSTREAM_EPISODE)
    n_tables = ip[_IP_TABLES]
    batch = ip[_IP_BATCH]
    targets = ip[_IP_TARGETS]
    episodes = ip[_IP_EPISODES] != 0
    need_full = (n_tables + batch - 1) // batch
    need_full_sq = float(need_full) * float(need_full)
    s_f = 0
    s_hit = 0
    s_a = 0
    s_d = 0
    q_f = 0.0
    q_a = 0.0
    q_d = 0.0
    if ip[_IP_USES_TRT] != 0:
        # one i.i.d. attempt stream per failure probability (calm, pressure episode)
        gap_calm = successes_before_failure(alloc_st, lq[0])
        gap_pressure = successes_before_failure(pressure_st, lq[1]) if episodes else _NEVER
        for _ in range(n_seq):
            in_episode = False
            if episodes:
                in_episode = bernoulli_u64(
                    ep_st, th[_TH_EPISODE], th[_TH_EPISODE + 1], th[_TH_EPISODE + 2] != 0
                )
            if not in_episode and gap_calm >= need_full:
                # no failure in this gather (the common case), written out for speed
                gap_calm -= need_full
                s_a += need_full
                q_a += need_full_sq
                continue
            if in_episode:
                f, a, gap_pressure = tlb_remove_table_gather_gaps(
                    pressure_st, gap_pressure, n_tables, need_full, batch, lq[1]
                )
            else:
                f, a, gap_calm = tlb_remove_table_gather_gaps(
                    alloc_st, gap_calm, n_tables, need_full, batch, lq[0]
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
    out_i[0] = n_seq
    out_i[1] = s_f
    out_i[2] = s_hit
    out_i[3] = s_a
    out_i[4] = s_d
    out_f[0] = q_f
    out_f[1] = q_a
    out_f[2] = q_d


@njit(cache=True, parallel=True)
def simulate_gather_blocks(
    k0, k1, first_block, n_blocks, block_size, sequences, ip, th, lq, deliver_prob
):
    """Per-block tallies for blocks [first_block, first_block + n_blocks)."""
    out_i = np.zeros((n_blocks, 5), dtype=np.int64)
    out_f = np.zeros((n_blocks, 3), dtype=np.float64)
    for b in prange(n_blocks):
        block = first_block + b
        n_seq = min(block_size, sequences - block * block_size)
        _gather_block(k0, k1, block, n_seq, ip, th, lq, deliver_prob, out_i[b], out_f[b])
    return out_i, out_f


# --------------------------------------------------------------------------- wrapper


@dataclass(frozen=True)
class PreparedGather:
    params: GatherParams
    n_tables: int
    batch: int
    ipi: IpiTargets
    uses_tlb_remove_table: bool
    ip: np.ndarray
    th: np.ndarray
    log_q: np.ndarray
    """log1p(-p) of the calm and the pressure-episode failure probabilities."""


def _var(units: str, long_name: str, dtype: str = "float64") -> Variable:
    return Variable(units, long_name, dtype)


@register
class GatherModel(Model):
    """``model = "gather"``: fallbacks and sync IPIs per mmu_gather."""

    name = "gather"
    Params = GatherParams
    int_tallies = ("sequences", "fallbacks", "gathers_with_fallback", "alloc_attempts", "sync_ipis")
    float_tallies = ("fallbacks_sq", "alloc_attempts_sq", "sync_ipis_sq")
    main_estimate = "fallbacks_mean"
    variables = {
        "fallbacks_mean": _var(
            "fallbacks/gather", "mean tlb_remove_table_one() fallbacks per gather"
        ),
        "fallbacks_stderr": _var("fallbacks/gather", "standard error of fallbacks_mean"),
        "fallback_prob": _var("1", "P(>= 1 fallback in a gather)"),
        "fallback_prob_ci_low": _var("1", "95% Wilson interval low end of fallback_prob"),
        "fallback_prob_ci_high": _var("1", "95% Wilson interval high end of fallback_prob"),
        "alloc_attempts_mean": _var(
            "attempts/gather", "mean GFP_NOWAIT batch-page attempts per gather"
        ),
        "alloc_attempts_stderr": _var("attempts/gather", "standard error of alloc_attempts_mean"),
        "sync_ipis_mean": _var(
            "IPIs/gather", "mean sync IPI deliveries per gather under ipi_policy"
        ),
        "sync_ipis_stderr": _var("IPIs/gather", "standard error of sync_ipis_mean"),
        "sequences": _var("gathers", "simulated gathers (sample size)", "int64"),
        "tables_per_gather_used": _var("tables", "page tables freed per gather", "int64"),
        "fallbacks_mean_exact": _var("fallbacks/gather", "exact mean fallbacks per gather (DP)"),
        "fallbacks_var_exact": _var(
            "fallbacks^2/gather^2", "exact variance of fallbacks per gather"
        ),
        "fallback_prob_exact": _var("1", "exact P(>= 1 fallback in a gather)"),
        "alloc_attempts_mean_exact": _var("attempts/gather", "exact mean batch-page attempts"),
        "sync_ipis_mean_exact": _var("IPIs/gather", "exact mean sync IPI deliveries per gather"),
    }

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        return {
            "tables_per_gather": 3,
            "gfp_nowait_fail_p": 0.5,
            "max_table_batch": 2,
            "ipi_policy": "kernel_mode",
            "kernel_mode_fraction": 0.5,
            "pressure_episode_prob": 0.5,
        }

    def prepare(self, params: GatherParams) -> PreparedGather:
        profile = get_profile(params.kernel)
        ipi = params.ipi()
        n_tables = params.n_tables()
        batch = params.batch()
        ip = np.array(
            [
                n_tables,
                batch,
                int(profile.uses_tlb_remove_table),
                ipi.targets,
                int(params.pressure_episode_prob > 0.0),
            ],
            dtype=np.int64,
        )
        th = np.zeros(9, dtype=np.uint64)
        for base, p in (
            (_TH_CALM, params.gfp_nowait_fail_p),
            (_TH_PRESSURE, params.pressure_fail_p),
            (_TH_EPISODE, params.pressure_episode_prob),
        ):
            hi, lo, always = probability_threshold(p)
            th[base : base + 3] = (hi, lo, int(always))
        with np.errstate(divide="ignore"):  # p = 1 gives log1p(-1) = -inf: always fails
            log_q = np.log1p(-np.array([params.gfp_nowait_fail_p, params.pressure_fail_p]))
        return PreparedGather(
            params, n_tables, batch, ipi, profile.uses_tlb_remove_table, ip, th, log_q
        )

    def simulate(
        self,
        prepared: PreparedGather,
        key: tuple[int, int],
        plan: BlockPlan,
        first_block: int,
        n_blocks: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        return simulate_gather_blocks(
            key[0],
            key[1],
            first_block,
            n_blocks,
            plan.block_size,
            plan.sequences,
            prepared.ip,
            prepared.th,
            prepared.log_q,
            prepared.ipi.deliver_prob,
        )

    def estimates(self, prepared: PreparedGather, tallies: Tallies) -> dict[str, float]:
        n = int(tallies["sequences"])
        f = mean_from_sums(tallies["fallbacks"], tallies["fallbacks_sq"], n)
        a = mean_from_sums(tallies["alloc_attempts"], tallies["alloc_attempts_sq"], n)
        d = mean_from_sums(tallies["sync_ipis"], tallies["sync_ipis_sq"], n)
        hit = wilson(int(tallies["gathers_with_fallback"]), n)
        return {
            "fallbacks_mean": f.estimate,
            "fallbacks_stderr": f.stderr,
            "fallback_prob": hit.estimate,
            "fallback_prob_ci_low": hit.ci_low,
            "fallback_prob_ci_high": hit.ci_high,
            "alloc_attempts_mean": a.estimate,
            "alloc_attempts_stderr": a.stderr,
            "sync_ipis_mean": d.estimate,
            "sync_ipis_stderr": d.stderr,
            "sequences": n,
        }

    def derived(self, params: GatherParams) -> dict[str, float]:
        return {"tables_per_gather_used": params.n_tables()}

    def exact(self, params: GatherParams) -> dict[str, float]:
        if not get_profile(params.kernel).uses_tlb_remove_table:
            return {
                "fallbacks_mean_exact": 0.0,
                "fallbacks_var_exact": 0.0,
                "fallback_prob_exact": 0.0,
                "alloc_attempts_mean_exact": 0.0,
                "sync_ipis_mean_exact": 0.0,
            }
        e = params.pressure_episode_prob
        ex = gather_exact_mixture(
            params.n_tables(),
            params.batch(),
            [(1.0 - e, params.gfp_nowait_fail_p), (e, params.pressure_fail_p)],
        )
        return {
            "fallbacks_mean_exact": ex.fallbacks_mean,
            "fallbacks_var_exact": ex.fallbacks_var,
            "fallback_prob_exact": ex.fallback_prob,
            "alloc_attempts_mean_exact": ex.alloc_attempts_mean,
            "sync_ipis_mean_exact": ex.fallbacks_mean * params.ipi().mean,
        }
