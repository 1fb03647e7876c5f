"""Parameters of the THP model (``model = "thp"``, ``docs/model.md`` §5.9): schema, units
and validation.

Rates are per second; split rates are per PMD-mapped THP per second. See
``mcstudy.models.thp.model`` for the dynamics and ``mcstudy.exact.thp`` for the exact values.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mcstudy.kernel.policies import (
    COLLAPSE_POLICIES,
    MAINLINE_COLLAPSE,
    MAINLINE_TABLE,
    TABLE_POLICIES,
    CollapsePolicyName,
    TablePolicyName,
    table_policy,
)
from mcstudy.models.shared import HorizonSeconds, KernelIpiParams, OnlineCpus, WarmupSeconds
from mcstudy.models.shared import real_field as _f

__all__ = ["COLLAPSE_POLICIES", "TABLE_POLICIES", "ThpParams"]
LIFETIME_DISTS = ("exponential", "lognormal", "pareto")
SPLIT_GFPS = ("nowait", "atomic")
FRESH_GFPS = ("kernel", "nowait")

MAX_EVENTS_PER_SEQUENCE = 2e9
"""Expected events of one sequence a run may ask for (docs/model.md §7.5)."""
EVENTS_PER_SECOND = 5e6
"""THP-model events one core simulates per second (measured, docs/model.md §7.5)."""


def _rate(default: float, description: str, units: str = "1/s") -> Any:
    return _f(default, units, description, ge=0.0, le=1e9)


def _prob(default: float | None, description: str) -> Any:
    return _f(default, "1", description, ge=0.0, le=1.0)


class ThpParams(KernelIpiParams):
    """Parameters of the THP deposit / on-demand / IPI model.

    ``mm_cpus`` counts housekeeping CPUs (the churning mm never runs on an isolated CPU).
    """

    EVENTS = "THP arrivals and departures, refills, gathers and fallbacks, forks"
    EVENTS_PER_SECOND = EVENTS_PER_SECOND
    MAX_EVENTS_PER_SEQUENCE = MAX_EVENTS_PER_SEQUENCE
    TOO_MANY_EVENTS_HINT = "shorten horizon_s/warmup_s or lower the rates"

    # ---- time
    horizon_s: HorizonSeconds = 3600.0
    warmup_s: WarmupSeconds = 0.0

    # ---- THP population (docs/model.md §2.8, §5.3)
    fault_rate: float = _rate(
        0.0, "anonymous THP faults (do_huge_pmd_anonymous_page), THPs/s", "THPs/s"
    )
    zero_fault_rate: float = _rate(
        0.0, "huge-zero-page read faults (set_huge_zero_page), mappings/s", "mappings/s"
    )
    lifetime_s: float = _f(
        3600.0, "s", "mean life of a PMD mapping until zap_huge_pmd()", gt=0.0, le=1e12
    )
    lifetime_dist: Literal[LIFETIME_DISTS] = Field(  # type: ignore[valid-type]
        "exponential", description="law of the lifetime until zap"
    )
    lifetime_shape: float = _f(
        1.0,
        "1",
        "lognormal log-standard deviation (> 0), or Pareto tail index (> 1)",
        gt=0.0,
        le=100.0,
    )
    munmap_split_rate: float = _rate(0.0, "partial munmap splits per THP (zap_pmd_range)")
    mprotect_split_rate: float = _rate(0.0, "partial mprotect splits per THP (change_pmd_range)")
    madvise_split_rate: float = _rate(0.0, "partial MADV_DONTNEED/FREE splits per THP")
    cow_split_rate: float = _rate(
        0.0, "COW splits of anonymous THPs shared after fork (do_huge_pmd_wp_page)"
    )
    migration_split_rate: float = _rate(
        0.0,
        "splits by migration: with ARCH_ENABLE_THP_MIGRATION (x86-64, arm64) "
        "set_pmd_migration_entry() moves a THP whole, deposit kept; only a THP that "
        "cannot move whole (no THP on the target) is split",
    )
    zero_write_rate: float = _rate(
        0.0,
        "write faults on huge-zero-page mappings that split them (do_huge_pmd_wp_page; "
        "kernels with do_huge_zero_wp_pmd() split only when no THP can be allocated)",
    )
    deferred_split_rate: float = _rate(
        0.0, "splits per THP during pressure episodes only (reclaim, deferred_split_scan)"
    )
    collapse_rate: float = _rate(
        0.0, "khugepaged anonymous collapses (collapse_huge_page), collapses/s", "collapses/s"
    )
    fork_rate: float = _rate(0.0, "forks copying PMD mappings (copy_huge_pmd), forks/s", "forks/s")
    fork_copy_prob: float = _prob(0.0, "P(a fork copies a given PMD mapping)")
    fork_child_lifetime_s: float = _f(
        1.0, "s", "mean life of a fork child's copy (exit or exec)", gt=0.0, le=1e12
    )

    # ---- memory pressure (docs/model.md §2.5, §4.1)
    pressure_fraction: float = _f(
        0.0, "1", "fraction of time in pressure episodes (free <= min)", ge=0.0, lt=1.0
    )
    pressure_episode_s: float = _f(10.0, "s", "mean pressure episode", gt=0.0, le=1e9)
    gfp_nowait_fail_p: float = _prob(0.0, "P(GFP_NOWAIT order-0 allocation fails), calm")
    pressure_fail_p: float = _prob(1.0, "P(GFP_NOWAIT allocation fails) in a pressure episode")
    split_gfp: Literal[SPLIT_GFPS] = Field(  # type: ignore[valid-type]
        "nowait", description="allocation at split time: GFP_NOWAIT or GFP_ATOMIC"
    )
    gfp_atomic_fail_p: float | None = _prob(None, "P(GFP_ATOMIC allocation fails), calm")
    pressure_atomic_fail_p: float | None = _prob(
        None, "P(GFP_ATOMIC allocation fails) in a pressure episode"
    )

    # ---- page-table policy for splits
    table_policy: TablePolicyName = Field(  # type: ignore[valid-type]
        MAINLINE_TABLE, description=f"{', '.join(TABLE_POLICIES)} (mainline: {MAINLINE_TABLE})"
    )
    cache_k: int = _f(4, "tables", "per-CPU cache of page tables (cache_k)", ge=0, le=1 << 16)
    cache_refill_rate: float = _rate(
        10.0, "blocking refills per CPU while its cache is below cache_k", "tables/s"
    )
    split_cpus: int | None = _f(
        None, "CPUs", "CPUs that splits run on (default: the housekeeping CPUs)", ge=1, le=1 << 16
    )

    # ---- khugepaged (docs/model.md §2.9)
    collapse_policy: CollapsePolicyName = Field(  # type: ignore[valid-type]
        MAINLINE_COLLAPSE,
        description=f"{', '.join(COLLAPSE_POLICIES)} (mainline: {MAINLINE_COLLAPSE})",
    )
    fresh_table_gfp: Literal[FRESH_GFPS] = Field(  # type: ignore[valid-type]
        "kernel", description="fresh deposit table: blocking (kernel) or GFP_NOWAIT"
    )
    rcu_grace_period_ms: float = _f(
        20.0, "ms", "RCU grace period a call_rcu() table waits", gt=0.0, le=1e6
    )

    # ---- munmap gathers (the tlb_remove_table fallback, docs/model.md §3.1)
    gather_rate: float = _rate(0.0, "mmu_gathers freeing page tables, gathers/s", "gathers/s")
    tables_per_gather: int = _f(64, "tables", "page tables freed per gather", ge=1, le=10**7)

    # ---- CPUs and IPIs
    online_cpus: OnlineCpus = 80
    isolated_cpus: int = _f(4, "CPUs", "isolated nohz_full CPUs running RT tasks", ge=1, le=1 << 16)
    rt_user_fraction: float = _prob(
        0.9, "fraction of time an isolated CPU runs its RT task in user mode"
    )
    rt_mm_share: float = _prob(
        0.0, "P(an event is in the RT application's own mm, whose cpumask holds the isolated CPUs)"
    )
    rt_cycle_us: float = _f(1000.0, "us", "period of the RT task", gt=0.0, le=1e9)
    ipi_cost_us: float = _f(2.0, "us", "latency one IPI adds on an isolated CPU", ge=0.0, le=1e6)
    sync_round_us: float | None = _f(
        None, "us", "time between the rounds of one gather (default: ipi_cost_us)", ge=0.0, le=1e6
    )

    @model_validator(mode="after")
    def _consistent(self) -> ThpParams:
        if self.isolated_cpus >= self.online_cpus:
            raise ValueError(
                f"isolated_cpus ({self.isolated_cpus}) must be below online_cpus ({self.online_cpus})"
            )
        hk = self.online_cpus - self.isolated_cpus
        if self.mm_cpus > hk:
            raise ValueError(
                f"mm_cpus ({self.mm_cpus}) must not exceed the housekeeping CPUs "
                f"(online_cpus - isolated_cpus = {hk})"
            )
        if self.split_cpus is not None and self.split_cpus > self.online_cpus:
            raise ValueError(f"split_cpus ({self.split_cpus}) must not exceed online_cpus")
        if self.lifetime_dist == "pareto" and self.lifetime_shape <= 1.0:
            raise ValueError(
                "a Pareto lifetime needs lifetime_shape (tail index) > 1 for a finite mean"
            )
        if self.split_gfp == "atomic" and (
            self.gfp_atomic_fail_p is None or self.pressure_atomic_fail_p is None
        ):
            raise ValueError(
                "split_gfp = 'atomic' needs gfp_atomic_fail_p and pressure_atomic_fail_p"
            )
        if self.rt_cycle_us * 1e-6 > self.horizon_s:
            raise ValueError("rt_cycle_us must not exceed horizon_s")
        self.check_sequence_events()  # docs/model.md §7.5
        return self

    # ---- derived quantities
    def housekeeping_cpus(self) -> int:
        return self.online_cpus - self.isolated_cpus

    def n_split_cpus(self) -> int:
        """CPUs whose caches serve splits (CPUs)."""
        return self.split_cpus if self.split_cpus is not None else self.housekeeping_cpus()

    def split_rates(self) -> list[list[float]]:
        """Split rate per mapping [class][env] (1/s): anon THPs, huge zero page, fork copies."""
        anon = (
            self.munmap_split_rate
            + self.mprotect_split_rate
            + self.madvise_split_rate
            + self.cow_split_rate
            + self.migration_split_rate
        )
        zero = (
            self.munmap_split_rate
            + self.mprotect_split_rate
            + self.madvise_split_rate
            + self.zero_write_rate
        )
        d = self.deferred_split_rate
        return [[anon, anon + d], [zero, zero], [anon, anon + d]]

    def split_fail_p(self) -> tuple[float, float]:
        """P(the split-time allocation fails) in calm / pressure."""
        if self.split_gfp == "atomic":
            assert self.gfp_atomic_fail_p is not None and self.pressure_atomic_fail_p is not None
            return self.gfp_atomic_fail_p, self.pressure_atomic_fail_p
        return self.gfp_nowait_fail_p, self.pressure_fail_p

    def spacing_us(self) -> float:
        """Time between the rounds of one gather (us)."""
        return self.ipi_cost_us if self.sync_round_us is None else self.sync_round_us

    def expected_events_per_sequence(self) -> float:
        """A rough estimate of the events one sequence simulates: THP arrivals and
        departures, cache refills, forks, and each gather with its fallbacks at the
        time-average GFP_NOWAIT failure probability (docs/model.md §7.5)."""
        t = self.horizon_s + self.warmup_s
        arrivals = self.fault_rate + self.zero_fault_rate + self.collapse_rate
        pop = arrivals * (1.0 + self.fork_copy_prob * self.fork_rate * self.lifetime_s)
        refill = (
            self.n_split_cpus() * self.cache_refill_rate
            if table_policy(self.table_policy).per_cpu_cache
            else 0
        )
        f = self.pressure_fraction
        mean_p = (1.0 - f) * self.gfp_nowait_fail_p + f * self.pressure_fail_p
        gathers = self.gather_rate * (1.0 + self.tables_per_gather * mean_p)
        return t * (2.0 * pop + refill + gathers + self.fork_rate)
