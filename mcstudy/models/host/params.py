"""Parameters of the coupled host study (``model = "host"``, ``docs/model.md`` §11.4).

Every parameter a config leaves unset comes from the reference host or the chosen load
(``mcstudy.models.host.scenarios``). The zone's parameters use the names ``mcstudy
calibrate`` writes (``managed_pages``, ``wmark_*``, ``alloc_rate``, ``free_rate``,
``thp_split_rate``, ``khugepaged_collapse_rate``), so a calibration fragment runs as is:
``mcstudy run configs/host-this-machine.toml --params calib.toml``.

:meth:`HostParams.setup` resolves everything into real-host numbers and the zone chain
the kernels simulate: the real zone on the levels of a fine band (docs/model.md §11.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import Field, model_validator

from mcstudy.kernel.profiles import KernelProfile, get_profile
from mcstudy.kernel.watermarks import kernel_watermarks
from mcstudy.mechanisms.zone import Zone, atomic_min_mark
from mcstudy.mechanisms.zone_grid import DEFAULT_FINE_BAND_PAGES
from mcstudy.models.base import Fact, ModelParams
from mcstudy.models.host.scenarios import (
    GIB,
    LOAD_NAMES,
    LOAD_RATES,
    LOADS,
    PAGE,
    REFERENCE_HOST,
    THP_PAGES,
    host_gib_for_zone,
    x86_64_zones,
)
from mcstudy.models.shared import (
    HorizonSeconds,
    Kernel,
    KernelModeFraction,
    MaxTableBatch,
    MmCpus,
    OnlineCpus,
    profile_facts,
)
from mcstudy.models.shared import int_field as _i
from mcstudy.models.shared import real_field as _f

GFPS = ("nowait", "kernel")
MAX_EVENTS_PER_SEQUENCE = 1e11
"""Expected events of one host-sequence a run may ask for (docs/model.md §7.5)."""
EVENTS_PER_SECOND = 1e7
"""Host-study events one core simulates per second (measured, docs/model.md §7.5)."""
MAX_COLLAPSES_PER_SEQUENCE = 1 << 25
"""A sequence holds its khugepaged collapse times in memory (8 bytes each, per thread):
at most 256 MiB of them."""
MAX_SIMULATED_PAGES = 1 << 19
"""Auto scale: the smallest power of 2 whose coarse levels (``managed_pages / scale``)
are at most this many (docs/model.md §11.5; with the fine band the reference host's zone
then has 13,408 levels, whose exact law takes a few seconds)."""


def _load_rate(units: str, what: str) -> Any:
    return _f(None, units, f"{what} (default: the load's)", ge=0.0, le=1e12)


@dataclass(frozen=True)
class HostSetup:
    """Resolved numbers of one point: the real host's zone, and the zone chain simulated."""

    memory_gib: float
    """RAM of the host (``host_memory_gib`` or what the zone implies)"""
    zone: Zone
    """the real zone: managed pages, marks without boost, the load's rates (pages/s of the
    real host; ``gather_rate``: the munmap gathers freeing page tables)"""
    scale: int
    chain: Zone
    """the simulated zone: ``zone`` on the levels of a fine band (``coarse_pages`` =
    ``scale``, ``fine_band_pages``; docs/model.md §4.14); its gather rate is 0 (gathers are the IPI side's, not zone events)"""
    atomic_mark: int
    """GFP_ATOMIC order-0 mark of the simulated zone (pages)"""
    tables_per_gather: int
    split_rate_per_thp: float
    thp_fault_rate: float
    """anonymous THP faults per second (given, or kept the THP share of memory)"""
    thp_mean: float
    """stationary mean of PMD-mapped THPs without reclaim splits (THPs)"""


def banded_chain(zone: Zone, scale: int, band_pages: int) -> Zone:
    """The simulated zone: the real ``zone`` (its pages, marks and rates) on the levels of a
    fine band (docs/model.md §4.14, §11.5): single pages from just below min up to min +
    ``band_pages``, ``scale`` pages elsewhere (every page a level when ``scale`` is 1); no
    gathers (the IPI side's)."""
    banded = scale > 1
    return replace(
        zone,
        gather_rate=0.0,
        coarse_pages=scale,
        fine_band_pages=band_pages if banded else 0,
    )


class HostParams(ModelParams):
    """The coupled host study: one zone, its THPs, khugepaged, munmaps and an RT CPU."""

    EVENTS = "zone chain events, THP arrivals and departures, refills, gathers and collapses per IPI variant"
    EVENTS_PER_SECOND = EVENTS_PER_SECOND
    MAX_EVENTS_PER_SEQUENCE = MAX_EVENTS_PER_SEQUENCE

    horizon_s: HorizonSeconds = 3600.0
    load: Literal[LOAD_NAMES] = Field(  # type: ignore[valid-type]
        "steady", description="load scenario of the housekeeping CPUs (docs/model.md §11.3)"
    )
    # ---- the zone (real host); default: the Normal zone of host_memory_gib
    host_memory_gib: float | None = _f(
        None,
        "GiB",
        "RAM of the host (one node; zones and watermarks from the kernel's formulas; "
        "default: 1024, or with a given zone the smallest host holding it)",
        gt=0.01,
        le=1 << 20,
    )
    managed_pages: int | None = _i(
        None, "pages", "managed pages of the zone (with wmark_*: a calibrated zone)", ge=2
    )
    wmark_min: int | None = _i(None, "pages", "WMARK_MIN without boost", ge=0)
    wmark_low: int | None = _i(None, "pages", "WMARK_LOW without boost", ge=0)
    wmark_high: int | None = _i(None, "pages", "WMARK_HIGH without boost", ge=0)
    zone_scale: int | None = _i(
        None,
        "1",
        "pages per level of the simulated zone outside its fine band around min (default: "
        "the smallest power of 2 that leaves at most 524,288 levels of that size)",
        ge=1,
        le=1 << 30,
    )
    fine_band_pages: int = _i(
        DEFAULT_FINE_BAND_PAGES,
        "pages",
        "width of the fine band above min where every page is a level (docs/model.md §4.14)",
        ge=1,
        le=1 << 30,
    )
    # ---- the load (real host, pages/s); default: the load's
    alloc_rate: float | None = _load_rate("pages/s", "blocking allocations, calm phase")
    free_rate: float | None = _load_rate("pages/s", "page frees other than by reclaim")
    kswapd_rate: float | None = _load_rate("batches/s", "kswapd reclaim batches while awake")
    burst_alloc_rate: float | None = _load_rate("pages/s", "blocking allocations in a burst")
    burst_start_rate: float | None = _load_rate("1/s", "calm -> burst switches")
    burst_end_rate: float | None = _load_rate("1/s", "burst -> calm switches")
    atomic_alloc_rate: float | None = _load_rate("pages/s", "GFP_ATOMIC allocations")
    reclaim_batch: int = _i(32, "pages", "kswapd batch (SWAP_CLUSTER_MAX)", ge=1, le=1 << 20)
    direct_reclaim_batch: int = _i(32, "pages", "pages one direct-reclaim stall frees", ge=1)
    stall_mean_s: float = _f(
        0.0,
        "s",
        "mean direct-reclaim stall (0: instantaneous; docs/model.md §4.13, §11.6)",
        ge=0.0,
        le=10.0,
    )
    alloc_tasks: int = _i(
        4, "1", "tasks making the blocking allocations (with timed stalls)", ge=1, le=16
    )
    stall_phases: int = _i(
        1, "1", "Erlang shape of a stall's duration (1: exponential)", ge=1, le=4
    )
    gather_rate: float | None = _load_rate("gathers/s", "munmap gathers freeing page tables")
    tables_per_gather: int | None = _i(
        None, "tables", "page tables per gather (default: the load's)", ge=1, le=10**7
    )
    # ---- THPs and khugepaged
    thp_memory_fraction: float | None = _f(
        None,
        "1",
        "share of the host's memory in PMD-mapped THPs on average; sets the fault rate "
        f"(default: {REFERENCE_HOST.thp_memory_fraction.value} unless thp_fault_rate is given)",
        ge=0.0,
        le=1.0,
    )
    thp_fault_rate: float | None = _f(
        None,
        "THPs/s",
        "anonymous THP faults (default: what keeps thp_memory_fraction of the memory in THPs)",
        ge=0.0,
        le=1e9,
    )
    thp_lifetime_s: float = _f(
        REFERENCE_HOST.thp_lifetime_s.value, "s", "mean life of a THP until zap", gt=0.0
    )
    split_rate: float = _f(
        REFERENCE_HOST.thp_split_rate_per_thp.value,
        "1/s",
        "PMD splits per THP per second (munmap, madvise, mprotect, COW, migration)",
        ge=0.0,
        le=1e6,
    )
    thp_split_rate: float | None = _f(
        None, "splits/s", "total PMD splits per second (replaces split_rate)", ge=0.0
    )
    reclaim_split_rate: float = _f(
        0.0, "1/s", "extra splits per THP per second while kswapd is awake", ge=0.0, le=1e6
    )
    khugepaged_collapse_rate: float = _f(
        REFERENCE_HOST.khugepaged_collapse_rate.value,
        "collapses/s",
        "khugepaged anonymous collapses",
        ge=0.0,
        le=1e6,
    )
    fresh_table_gfp: Literal[GFPS] = Field(  # type: ignore[valid-type]
        "nowait", description="khugepaged's fresh deposit table: GFP_NOWAIT or blocking"
    )
    rcu_grace_period_ms: float = _f(20.0, "ms", "RCU grace period", gt=0.0, le=1e6)
    cache_refill_rate: float = _f(
        REFERENCE_HOST.cache_refill_rate.value,
        "tables/s",
        "per-CPU cache refills per second while below cache_k",
        ge=0.0,
        le=1e6,
    )
    refill_gfp: Literal[GFPS] = Field(  # type: ignore[valid-type]
        "nowait", description="per-CPU cache refills: GFP_NOWAIT (fail below min) or blocking"
    )
    split_cpus: int | None = _i(
        None, "CPUs", "CPUs splits run on (default: the housekeeping CPUs)", ge=1, le=1 << 16
    )
    # ---- kernel, CPUs, RT task
    kernel: Kernel = "v6.15"
    max_table_batch: MaxTableBatch = None
    online_cpus: OnlineCpus = int(REFERENCE_HOST.online_cpus.value)
    isolated_cpus: int = _i(
        int(REFERENCE_HOST.isolated_cpus.value), "CPUs", "isolated RT CPUs", ge=1, le=1 << 16
    )
    mm_cpus: MmCpus = int(REFERENCE_HOST.mm_cpus.value)
    kernel_mode_fraction: KernelModeFraction = REFERENCE_HOST.kernel_mode_fraction.value
    rt_user_fraction: float = _f(
        REFERENCE_HOST.rt_user_fraction.value, "1", "RT task's user-mode time", ge=0.0, le=1.0
    )
    rt_mm_share: float = _f(0.0, "1", "P(an event is in the RT application's mm)", ge=0.0, le=1.0)
    rt_cycle_us: float = _f(REFERENCE_HOST.rt_cycle_us.value, "us", "RT period", gt=0.0, le=1e9)
    ipi_cost_us: float = _f(
        REFERENCE_HOST.ipi_cost_us.value, "us", "latency one IPI adds", ge=0.0, le=1e6
    )
    sync_round_us: float | None = _f(
        None, "us", "time between the rounds of one gather (default: ipi_cost_us)", ge=0.0
    )

    @model_validator(mode="after")
    def _consistent(self) -> HostParams:
        zone = (self.managed_pages, self.wmark_min, self.wmark_low, self.wmark_high)
        if any(v is not None for v in zone) and any(v is None for v in zone):
            raise ValueError("give managed_pages, wmark_min, wmark_low and wmark_high together")
        if self.isolated_cpus >= self.online_cpus:
            raise ValueError(
                f"isolated_cpus ({self.isolated_cpus}) must be below online_cpus "
                f"({self.online_cpus})"
            )
        hk = self.online_cpus - self.isolated_cpus
        if self.mm_cpus > hk:
            raise ValueError(f"mm_cpus ({self.mm_cpus}) exceeds the housekeeping CPUs ({hk})")
        if self.rt_cycle_us * 1e-6 > self.horizon_s:
            raise ValueError("rt_cycle_us must not exceed horizon_s")
        if self.thp_fault_rate is not None and self.thp_memory_fraction is not None:
            raise ValueError(
                "give thp_fault_rate or thp_memory_fraction, not both (each sets the THP "
                "population; docs/model.md §11.2)"
            )
        s = self.setup()  # raises ValueError for an impossible zone or THP population
        c = s.chain
        if c.alloc_rate + c.free_rate + c.atomic_alloc_rate <= 0.0:
            raise ValueError("the zone has no event: alloc_rate, free_rate are all 0")
        if c.bursty and c.burst_end_rate <= 0.0:
            raise ValueError("burst_end_rate must be > 0 when bursts start")
        self.check_sequence_events()  # docs/model.md §7.5
        collapses = self.khugepaged_collapse_rate * self.horizon_s
        if collapses > MAX_COLLAPSES_PER_SEQUENCE:
            raise ValueError(
                f"about {collapses:.3g} khugepaged collapses per sequence "
                f"(khugepaged_collapse_rate x horizon_s), at most {MAX_COLLAPSES_PER_SEQUENCE:,} "
                "(a sequence keeps their times in memory): shorten horizon_s"
            )
        return self

    # ---- resolution
    def profile(self) -> KernelProfile:
        return get_profile(self.kernel)

    def batch(self) -> int:
        """MAX_TABLE_BATCH in force (entries)."""
        return self.max_table_batch or self.profile().max_table_batch

    def housekeeping_cpus(self) -> int:
        return self.online_cpus - self.isolated_cpus

    def n_split_cpus(self) -> int:
        return self.split_cpus if self.split_cpus is not None else self.housekeeping_cpus()

    def spacing_us(self) -> float:
        return self.ipi_cost_us if self.sync_round_us is None else self.sync_round_us

    def _load(self, name: str) -> float | None:
        own = getattr(self, name)
        if own is not None:
            return float(own)
        preset = LOADS[self.load].rates[name]
        return None if preset is None else float(preset.value)

    def memory_gib(self) -> float:
        """RAM of the host (GiB): ``host_memory_gib``, else with a given zone the smallest
        x86-64 host holding it, else the reference host's 1 TiB."""
        if self.host_memory_gib is not None:
            return self.host_memory_gib
        if self.managed_pages is not None:
            return host_gib_for_zone(self.managed_pages)
        return float(REFERENCE_HOST.memory_gib.value)

    def memory_source(self) -> str:
        """Where ``memory_gib()`` comes from, for messages."""
        if self.host_memory_gib is not None:
            return "host_memory_gib"
        if self.managed_pages is not None:
            return "host_memory_gib unset: the smallest host holding managed_pages"
        return "host_memory_gib unset: the reference host"

    def zone_marks(self) -> tuple[int, int, int, int]:
        """(managed, min, low, high) of the real zone, pages."""
        if self.managed_pages is not None:
            return (self.managed_pages, self.wmark_min, self.wmark_low, self.wmark_high)  # type: ignore[return-value]
        zones = x86_64_zones(self.memory_gib())
        marks = kernel_watermarks(zones).marks
        z, m = zones[-1], marks[-1]
        return z.managed, m.min, m.low, m.high

    def scale(self, managed: int) -> int:
        if self.zone_scale is not None:
            return self.zone_scale
        s = 1
        while managed // s > MAX_SIMULATED_PAGES:
            s *= 2
        return s

    def setup(self) -> HostSetup:
        """Real-host numbers and the banded zone chain (ValueError if impossible)."""
        n, mn, lw, hi = self.zone_marks()
        memory = self.memory_gib()
        host_pages = int(memory * GIB) // PAGE
        if n > host_pages:
            raise ValueError(
                f"managed_pages ({n:,} pages, {n * PAGE / GIB:.4g} GiB) exceeds the host's "
                f"memory (host_memory_gib = {memory:g}: {host_pages:,} pages): raise "
                "host_memory_gib, or leave it unset for the smallest host holding the zone"
            )
        if not mn <= lw <= hi < n:
            raise ValueError(
                f"need wmark_min <= wmark_low <= wmark_high < managed_pages "
                f"(got {mn}, {lw}, {hi}, {n})"
            )
        s = self.scale(n)
        if s > n:
            raise ValueError(
                f"zone_scale ({s}) exceeds the zone's {n:,} managed pages: a level cannot be "
                "wider than the zone"
            )
        if s > 1 and self.fine_band_pages < self.direct_reclaim_batch + 1:
            raise ValueError(
                f"fine_band_pages ({self.fine_band_pages}) must be at least "
                f"direct_reclaim_batch + 1 ({self.direct_reclaim_batch + 1}) when zone_scale "
                "> 1: a direct-reclaim stall at min must land inside the fine band"
            )
        alloc = self._load("alloc_rate") or 0.0
        free = self._load("free_rate") or 0.0
        kswapd = self._load("kswapd_rate") or 0.0
        burst = self._load("burst_alloc_rate")
        b_start = self._load("burst_start_rate") or 0.0
        b_end = self._load("burst_end_rate") or 0.0
        atomic = self._load("atomic_alloc_rate") or 0.0
        bursty = burst is not None and b_start > 0.0
        zone = Zone(
            managed_pages=n,
            wmark_min=mn,
            wmark_low=lw,
            wmark_high=hi,
            alloc_rate=alloc,
            free_rate=free,
            kswapd_rate=kswapd,
            gather_rate=self._load("gather_rate") or 0.0,
            reclaim_batch=self.reclaim_batch,
            direct_reclaim_batch=self.direct_reclaim_batch,
            # the task count and the stall's shape only matter when stalls take time:
            # without, the chain (and its stored law's key) is the instantaneous one
            stall_mean_s=self.stall_mean_s,
            alloc_tasks=self.alloc_tasks if self.stall_mean_s > 0.0 else 1,
            stall_phases=self.stall_phases if self.stall_mean_s > 0.0 else 1,
            atomic_alloc_rate=atomic,
            burst_alloc_rate=burst if bursty else None,
            burst_start_rate=b_start if bursty else 0.0,
            burst_end_rate=b_end if bursty else 0.0,
        )
        faults, sigma, thps = self.thp_population(memory)
        tables = self.tables_per_gather or int(LOADS[self.load].tables_per_gather.value)
        return HostSetup(
            memory_gib=memory,
            zone=zone,
            scale=s,
            chain=banded_chain(zone, s, self.fine_band_pages),
            atomic_mark=atomic_min_mark(mn),
            tables_per_gather=tables,
            split_rate_per_thp=sigma,
            thp_fault_rate=faults,
            thp_mean=thps,
        )

    def thp_population(self, memory_gib: float) -> tuple[float, float, float]:
        """(faults/s, splits per THP per second, stationary mean THPs without reclaim
        splits) on a host of ``memory_gib`` (ValueError if they cannot hold).

        The mean THP count is ``(faults + collapses) / (1/lifetime + sigma)`` (M/M/inf,
        docs/model.md §5.3). Without ``thp_fault_rate`` the count is
        ``thp_memory_fraction`` of the memory in 2 MiB THPs and the fault rate follows
        from it; with it, the count follows from the rates and must fit in the memory.
        """
        c = self.khugepaged_collapse_rate
        mu = 1.0 / self.thp_lifetime_s
        room = memory_gib * GIB / (PAGE * THP_PAGES)  # THPs filling the whole memory
        life = f"thp_lifetime_s = {self.thp_lifetime_s:g} s, " + (
            f"thp_split_rate = {self.thp_split_rate:g}/s"
            if self.thp_split_rate is not None
            else f"split_rate = {self.split_rate:g} per THP per second"
        )
        if self.thp_fault_rate is None:
            frac = self.thp_memory_fraction
            if frac is None:
                frac = REFERENCE_HOST.thp_memory_fraction.value
            thps = frac * room
            if self.thp_split_rate is None:
                sigma = self.split_rate
            elif thps > 0.0:
                sigma = self.thp_split_rate / thps  # splits/s = sigma x THPs
            elif self.thp_split_rate > 0.0:
                raise ValueError(
                    f"thp_split_rate = {self.thp_split_rate:g}/s needs THPs to split, but "
                    "thp_memory_fraction = 0 keeps none"
                )
            else:
                sigma = 0.0
            faults = thps * (mu + sigma) - c
            if faults < -1e-9 * max(c, 1.0):
                alone = c / (mu + sigma)
                raise ValueError(
                    f"khugepaged_collapse_rate = {c:g}/s alone keeps {alone:,.0f} THPs "
                    f"({alone * THP_PAGES * PAGE / GIB:.3g} GiB; {life}), more than "
                    f"thp_memory_fraction = {frac:g} of the host's {memory_gib:.4g} GiB "
                    f"({thps:,.0f} THPs): lower khugepaged_collapse_rate or "
                    "thp_lifetime_s, raise thp_memory_fraction, or give host_memory_gib "
                    "of a larger host"
                )
            return max(faults, 0.0), sigma, thps
        faults = self.thp_fault_rate
        arrivals = faults + c
        if self.thp_split_rate is not None:
            if self.thp_split_rate >= arrivals:
                raise ValueError(
                    f"thp_split_rate ({self.thp_split_rate}/s) must be below THP arrivals "
                    f"(thp_fault_rate + khugepaged_collapse_rate = {arrivals}/s)"
                )
            # splits/s = sigma * arrivals / (mu + sigma): solve for sigma
            sigma = self.thp_split_rate * mu / (arrivals - self.thp_split_rate)
        else:
            sigma = self.split_rate
        thps = arrivals / (mu + sigma) if arrivals > 0 else 0.0
        if thps > room:
            raise ValueError(
                f"thp_fault_rate = {faults:g}/s and khugepaged_collapse_rate = {c:g}/s "
                f"({life}) keep {thps:,.0f} THPs in PMD mappings on average, "
                f"{thps * THP_PAGES * PAGE / GIB:.3g} GiB: more than the host's "
                f"{memory_gib:.4g} GiB ({self.memory_source()}): "
                "lower thp_fault_rate or thp_lifetime_s, or leave thp_fault_rate unset to keep "
                "thp_memory_fraction of the memory in THPs"
            )
        return faults, sigma, thps

    def facts(self) -> dict[str, Fact]:
        return {
            **profile_facts(self.profile()),
            "load_description": Fact(LOADS[self.load].description, "", "what the load is"),
        }

    def resolved(self) -> dict[str, tuple[Any, str]]:
        """The real-host numbers :meth:`setup` resolves for the parameters left unset."""
        s = self.setup()
        out: dict[str, tuple[Any, str]] = {}
        if self.host_memory_gib is None:
            out["host_memory_gib"] = (s.memory_gib, self.memory_source())
        if self.thp_fault_rate is None:
            out["thp_fault_rate"] = (
                s.thp_fault_rate,
                "thp_memory_fraction of host_memory_gib in THPs (their life and splits)",
            )
            if self.thp_memory_fraction is None:
                out["thp_memory_fraction"] = (
                    REFERENCE_HOST.thp_memory_fraction.value,
                    "the reference host's share",
                )
        if self.managed_pages is None:
            src = "host_memory_gib (the kernel's zone and watermark formulas)"
            for name in ("managed_pages", "wmark_min", "wmark_low", "wmark_high"):
                out[name] = (getattr(s.zone, name), src)
        if self.zone_scale is None:
            out["zone_scale"] = (s.scale, "managed_pages")
        load = "load (its preset rates)"
        for name in (*LOAD_RATES, "tables_per_gather"):
            if getattr(self, name) is None:
                where = s if name == "tables_per_gather" else s.zone
                out[name] = (getattr(where, name), load)
        if self.split_cpus is None:
            out["split_cpus"] = (self.n_split_cpus(), "online_cpus - isolated_cpus")
        if self.max_table_batch is None:
            out["max_table_batch"] = (self.batch(), "kernel (its profile)")
        if self.sync_round_us is None:
            out["sync_round_us"] = (self.spacing_us(), "ipi_cost_us")
        return out

    def expected_events_per_sequence(self) -> float:
        """A rough count of the events one sequence simulates: the zone's jumps (off the
        fine band, page rates divided by the scale; in bursts, the real rates while the
        zone may sit in the band), THP arrivals and departures, cache refills, and every
        gather and collapse once per IPI variant."""
        s = self.setup()
        c = s.chain
        zone = c.alloc_rate + c.free_rate + c.kswapd_rate + c.atomic_alloc_rate
        zone /= s.scale
        if c.bursty:
            burst = float(c.burst_alloc_rate)  # type: ignore[arg-type]
            share = c.burst_start_rate / (c.burst_start_rate + c.burst_end_rate)
            zone += (burst + c.free_rate + c.kswapd_rate) * share
        thp = 2.0 * (s.thp_fault_rate + self.khugepaged_collapse_rate)
        refills = self.n_split_cpus() * self.cache_refill_rate
        ipi = 12.0 * (s.zone.gather_rate + self.khugepaged_collapse_rate)  # 12 IPI variants
        return self.horizon_s * (zone + thp + refills + ipi) + math.ulp(1.0)
