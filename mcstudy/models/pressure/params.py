"""Parameters of the zone pressure model (``model = "pressure"``, ``docs/model.md`` §4.10)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mcstudy.mechanisms.zone import Zone
from mcstudy.models.shared import HorizonSeconds, KernelIpiParams, WarmupSeconds
from mcstudy.models.shared import int_field as _i
from mcstudy.models.shared import real_field as _f

MAX_EVENTS_PER_SEQUENCE = 1e12
"""Expected events of one sequence (uniformised, warm-up included) a run may ask for:
far inside the exact range of the event counters (docs/model.md §7.5)."""
EVENTS_PER_SECOND = 1e8
"""Uniformised chain events one core simulates per second (measured, docs/model.md §7.5)."""


class PressureParams(KernelIpiParams):
    """Parameters of the zone pressure model (units in each field's ``units``)."""

    EVENTS = "uniformised chain events, warm-up included"
    EVENTS_PER_SECOND = EVENTS_PER_SECOND
    MAX_EVENTS_PER_SEQUENCE = MAX_EVENTS_PER_SEQUENCE
    TOO_MANY_EVENTS_HINT = "shorten warmup_s/horizon_s or lower the rates"

    warmup_s: WarmupSeconds | None = None
    """None: no warm-up when sequences start from the exact stationary law, else one
    chosen from the chain's own time scales (``mcstudy.models.pressure.start``)."""
    horizon_s: HorizonSeconds = 600.0

    managed_pages: int = _i(..., "pages", "zone managed pages N", ge=2, le=1 << 40)
    wmark_min: int = _i(..., "pages", "WMARK_MIN of the zone, without boost", ge=0)
    wmark_low: int = _i(..., "pages", "WMARK_LOW of the zone, without boost", ge=0)
    wmark_high: int = _i(..., "pages", "WMARK_HIGH of the zone, without boost", ge=0)
    alloc_rate: float = _f(..., "pages/s", "blocking allocations (calm phase)", ge=0.0)
    alloc_scale: float = _f(
        1.0, "1", "allocation pressure: multiplies alloc_rate and burst_alloc_rate", ge=0.0
    )
    free_rate: float = _f(..., "pages/s", "page frees (other than by reclaim)", ge=0.0)
    kswapd_rate: float = _f(..., "batches/s", "kswapd reclaim batches while awake", ge=0.0)
    reclaim_batch: int = _i(32, "pages", "kswapd batch (SWAP_CLUSTER_MAX)", ge=1)
    direct_reclaim_batch: int = _i(32, "pages", "pages one direct-reclaim stall frees", ge=1)
    gather_rate: float = _f(..., "gathers/s", "mmu_gathers freeing page tables", ge=0.0)
    tables_per_gather: int = _i(1, "tables", "page tables freed per gather", ge=1, le=10**9)
    initial_free: int | None = _i(
        None,
        "pages",
        "free pages at the start of a trajectory (default: drawn from the stationary law "
        "where the exact solver applies, else managed_pages)",
        ge=0,
    )
    # extensions (neutral values reproduce the reference chain exactly)
    burst_alloc_rate: float | None = _f(
        None, "pages/s", "allocation rate in the burst phase (None: no bursts)", ge=0.0
    )
    burst_start_rate: float = _f(0.0, "1/s", "rate of calm -> burst switches", ge=0.0)
    burst_end_rate: float = _f(1.0, "1/s", "rate of burst -> calm switches", ge=0.0)
    boost_rate: float = _f(0.0, "events/s", "watermark boost events (0: none)", ge=0.0)
    boost_pages: int = _i(512, "pages", "boost per event (pageblock_nr_pages)", ge=1)
    watermark_boost_factor: int = _i(
        15000, "1/10000", "vm.watermark_boost_factor (max boost = high x factor)", ge=0
    )
    rcu_grace_period_s: float = _f(
        0.0, "s", "mean RCU grace period holding batch pages (0: freed at once)", ge=0.0
    )
    alloc_batch_pages: int = _i(1, "pages", "pages taken per blocking allocation", ge=1)
    atomic_alloc_rate: float = _f(0.0, "pages/s", "GFP_ATOMIC allocations", ge=0.0)
    stall_mean_s: float = _f(
        0.0, "s", "mean direct-reclaim stall (0: instantaneous, docs/model.md §4.13)", ge=0.0
    )
    alloc_tasks: int = _i(
        1, "1", "tasks making the blocking allocations (with timed stalls)", ge=1, le=16
    )
    stall_phases: int = _i(
        1, "1", "Erlang shape of a stall's duration (1: exponential)", ge=1, le=4
    )
    khugepaged_collapse_rate: float = _f(
        0.0, "collapses/s", "khugepaged anonymous collapses (each a sync IPI)", ge=0.0
    )
    thp_split_rate: float = _f(0.0, "splits/s", "PMD splits of THPs", ge=0.0)
    # estimator
    estimator: Literal["plain", "importance"] = Field(
        "plain", description="plain Monte Carlo or regenerative importance sampling"
    )
    plain_cycles: int = _i(
        16, "cycles/sequence", "importance: plain regeneration cycles per sequence", ge=1
    )
    pilot_steps: int = _i(
        1 << 18, "events", "importance: pilot events choosing the regeneration state", ge=1
    )

    @model_validator(mode="after")
    def _consistent(self) -> PressureParams:
        if not self.wmark_min <= self.wmark_low <= self.wmark_high < self.managed_pages:
            raise ValueError(
                "need wmark_min <= wmark_low <= wmark_high < managed_pages "
                f"(got {self.wmark_min}, {self.wmark_low}, {self.wmark_high}, "
                f"{self.managed_pages})"
            )
        if self.initial_free is not None and self.initial_free > self.managed_pages:
            raise ValueError(
                f"initial_free ({self.initial_free}) exceeds managed_pages ({self.managed_pages})"
            )
        if self.burst_alloc_rate is not None and self.burst_start_rate > 0.0:
            if self.burst_end_rate <= 0.0:
                raise ValueError("burst_end_rate must be > 0 when bursts start")
        if self.stall_mean_s > 0.0 and self.estimator == "importance":
            raise ValueError(
                "estimator = 'importance' has no timed stalls (stall_mean_s > 0): use 'plain'"
            )
        if self.stall_mean_s > 0.0:
            try:
                self.zone()
            except ValueError as e:
                raise ValueError(str(e)) from None
        if self.lam + self.free_rate + self.gather_rate + self.atomic_alloc_rate <= 0.0:
            raise ValueError("at least one of alloc_rate, free_rate, gather_rate must be > 0")
        return self

    @model_validator(mode="after")
    def _event_budget(self) -> PressureParams:
        """Times and rates the kernel can honour: a sequence's expected uniformised events
        stay exactly countable, instead of overflowing the event counter and silently
        skipping the warm-up (the shared check, docs/model.md §7.5)."""
        self.check_sequence_events()
        return self

    def uniformization_bound(self) -> float:
        """Every rate of the chain summed (events/s): at least its uniformisation rate."""
        return (
            (self.lam + self.lam_burst) / self.alloc_batch_pages
            + self.free_rate
            + self.kswapd_rate
            + self.gather_rate
            + self.atomic_alloc_rate
            + self.boost_rate
            + max(self.burst_start_rate, self.burst_end_rate)
            + (1.0 / self.rcu_grace_period_s if self.rcu_grace_period_s > 0.0 else 0.0)
            + (
                self.alloc_tasks * self.stall_phases / self.stall_mean_s
                if self.stall_mean_s > 0.0
                else 0.0
            )
        )

    def expected_events_per_sequence(self) -> float:
        """Uniformised chain events of one sequence, warm-up included (an upper bound:
        the rates summed, times warm-up plus horizon)."""
        return self.uniformization_bound() * ((self.warmup_s or 0.0) + self.horizon_s)

    # ---- derived settings
    @property
    def lam(self) -> float:
        """Blocking allocation rate in the calm phase (pages/s)."""
        return self.alloc_rate * self.alloc_scale

    @property
    def lam_burst(self) -> float:
        """Blocking allocation rate in the burst phase (pages/s)."""
        return (self.burst_alloc_rate or 0.0) * self.alloc_scale

    @property
    def bursty(self) -> bool:
        return self.burst_alloc_rate is not None and self.burst_start_rate > 0.0

    def max_boost(self) -> int:
        """``boost_watermark()``: max(pageblock, high x watermark_boost_factor / 10000)."""
        if self.boost_rate <= 0.0 or self.watermark_boost_factor == 0:
            return 0
        if self.boost_pages * 4 > self.managed_pages:
            return 0
        return max(self.boost_pages, self.wmark_high * self.watermark_boost_factor // 10000)

    def zone(self) -> Zone:
        """The zone chain of this point (``mechanisms.zone``; allocation rates times
        ``alloc_scale``): what the kernels, the event tables and the exact solver take."""
        burst = self.burst_alloc_rate
        return Zone(
            managed_pages=self.managed_pages,
            wmark_min=self.wmark_min,
            wmark_low=self.wmark_low,
            wmark_high=self.wmark_high,
            alloc_rate=self.lam,
            free_rate=self.free_rate,
            kswapd_rate=self.kswapd_rate,
            gather_rate=self.gather_rate,
            reclaim_batch=self.reclaim_batch,
            direct_reclaim_batch=self.direct_reclaim_batch,
            alloc_batch_pages=self.alloc_batch_pages,
            atomic_alloc_rate=self.atomic_alloc_rate,
            burst_alloc_rate=None if burst is None else self.lam_burst,
            burst_start_rate=self.burst_start_rate,
            burst_end_rate=self.burst_end_rate,
            boost_rate=self.boost_rate,
            boost_pages=self.boost_pages,
            max_boost=self.max_boost(),
            rcu_grace_period_s=self.rcu_grace_period_s,
            stall_mean_s=self.stall_mean_s,
            alloc_tasks=self.alloc_tasks,
            stall_phases=self.stall_phases,
        )

    def is_reference(self) -> bool:
        """True when no extension is active (the reference chain, ``docs/model.md`` §4.1)."""
        return self.zone().is_reference

    def exact_chain(self) -> Zone | None:
        """The chain for the exact solver, or None when an extension it lacks is active."""
        return self.zone().exact_chain()
