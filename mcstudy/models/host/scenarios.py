"""The reference real-time host and its load scenarios, with a source for every number
(``docs/model.md`` §11.2, §11.3).

Plain data: no pydantic, no Numba. ``mcstudy.models.host.params`` fills every parameter
a config leaves unset from these presets, so a config names a load (``load = "bursts"``)
and may still override any single number (``--set alloc_rate=20000``, or a calibration
fragment from ``mcstudy calibrate``).

Rates are per second of the real host, in 4 KiB pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcstudy.kernel.watermarks import Zone

PAGE = 4096
MIB_PAGES = (1 << 20) // PAGE  # 256 pages per MiB
GIB = 1 << 30


@dataclass(frozen=True)
class Number:
    """A scenario number with where it comes from."""

    value: float
    source: str


@dataclass(frozen=True)
class HostPreset:
    """The reference RT host: memory, CPUs, THP population, khugepaged, RT task."""

    memory_gib: Number
    online_cpus: Number
    isolated_cpus: Number
    thp_memory_fraction: Number
    thp_lifetime_s: Number
    thp_split_rate_per_thp: Number
    khugepaged_collapse_rate: Number
    rt_cycle_us: Number
    rt_user_fraction: Number
    ipi_cost_us: Number
    mm_cpus: Number
    kernel_mode_fraction: Number
    cache_refill_rate: Number


REFERENCE_HOST = HostPreset(
    memory_gib=Number(1024, "the large host of configs/thp.toml (1 TiB, one NUMA node)"),
    online_cpus=Number(80, "configs/thp.toml and configs/rt.toml"),
    isolated_cpus=Number(4, "configs/rt.toml: 4 nohz_full CPUs, each running one RT task"),
    thp_memory_fraction=Number(
        0.8,
        "configs/thp.toml: 80 % of the host's memory in PMD-mapped anonymous THPs (on 1 TiB: "
        "0.8 x 2^40 / 2 MiB = 419,430 THPs, 1.6 GiB of deposited tables; docs/model.md §10, "
        "point 10); the fault rate keeping them follows from the THPs' life and splits and "
        "khugepaged's collapses (130.3885 faults/s on the reference host)",
    ),
    thp_lifetime_s=Number(3600, "configs/thp.toml: mean life of a THP until zap"),
    thp_split_rate_per_thp=Number(
        3.5e-5,
        "configs/thp.toml: partial munmap 1e-5, MADV_DONTNEED 2e-5, mprotect 2e-6, "
        "COW 2e-6, migration 1e-6 splits per THP per second",
    ),
    khugepaged_collapse_rate=Number(
        0.8,
        "khugepaged's default pace: pages_to_scan = 4096 every scan_sleep_millisecs = "
        "10000, at most 8 PMD ranges per 10 s (docs/model.md §2.9)",
    ),
    rt_cycle_us=Number(1000, "configs/rt.toml: a 1 ms RT period"),
    rt_user_fraction=Number(0.95, "configs/rt.toml: the RT task is in user mode 95 % of a cycle"),
    ipi_cost_us=Number(4, "configs/rt.toml: one synchronous IPI costs the RT task 4 us"),
    mm_cpus=Number(8, "configs/rt.toml: housekeeping CPUs in the cpumask of an unmapping mm"),
    kernel_mode_fraction=Number(
        0.1, "configs/rt.toml: a housekeeping CPU of that mm is in kernel mode 10 % of the time"
    ),
    cache_refill_rate=Number(
        1.0, "configs/thp.toml: one blocking refill per second per CPU below cache_k"
    ),
)


THP_PAGES = 512
"""4 KiB pages of one PMD-mapped THP (2 MiB)."""
DMA_PRESENT = 3999
DMA32_PRESENT = (3 * GIB - 16 * (1 << 20)) // PAGE


def x86_64_zones(memory_gib: float) -> list[Zone]:
    """Zones of one x86-64 node with ``memory_gib`` of RAM: DMA (first 16 MiB), DMA32 (3 GiB
    of RAM below the 4 GiB boundary, the rest being the PCI hole), Normal (everything
    above). Managed pages = present pages minus the ``struct page`` array (64 bytes per
    4 KiB page, 1/64); DMA keeps 3840 of its 3999 pages, as firmware reserves the rest.
    """
    total = int(memory_gib * GIB) // PAGE
    dma_present = DMA_PRESENT
    dma32_present = min(total - dma_present, DMA32_PRESENT)
    normal_present = max(total - dma_present - dma32_present, 0)
    zones = [
        Zone("DMA", 3840, dma_present),
        Zone("DMA32", dma32_present - dma32_present // 64, dma32_present),
    ]
    if normal_present > 0:
        zones.append(Zone("Normal", normal_present - normal_present // 64, normal_present))
    return zones


def host_gib_for_zone(managed_pages: int) -> float:
    """RAM (GiB) of the smallest one-node x86-64 host of ``x86_64_zones()`` whose last
    zone has at least ``managed_pages`` managed pages: the host memory a given zone
    implies when ``host_memory_gib`` is not given (docs/model.md §11.2)."""
    present = managed_pages + managed_pages // 63
    while present - present // 64 < managed_pages:
        present += 1
    while present > 0 and (present - 1) - (present - 1) // 64 >= managed_pages:
        present -= 1
    return (DMA_PRESENT + DMA32_PRESENT + present) * PAGE / GIB


LOAD_RATES = (
    "alloc_rate",
    "free_rate",
    "kswapd_rate",
    "burst_alloc_rate",
    "burst_start_rate",
    "burst_end_rate",
    "atomic_alloc_rate",
    "gather_rate",
)
"""The zone's rates a load sets: fields of the zone record (``mechanisms.zone.Zone``)."""


@dataclass(frozen=True)
class LoadPreset:
    """One load scenario of the housekeeping CPUs: every rate of ``LOAD_RATES`` (pages/s
    of the real host, or events/s), each with its source, and the tables per gather."""

    name: str
    description: str
    rates: dict[str, Number | None]
    """rate name (``LOAD_RATES``) -> its value and source; None: not set (no bursts)"""
    tables_per_gather: Number

    def __post_init__(self) -> None:
        if sorted(self.rates) != sorted(LOAD_RATES):
            raise ValueError(f"load {self.name}: rates must be exactly {', '.join(LOAD_RATES)}")


_MEASURED = (
    "measured: pgalloc_normal grew by 162,641 pages in 12.14 s on a 2-CPU x86-64 VM "
    "(Linux 6.18) while a process allocated and freed a few hundred MiB "
    "(tests/data/proc/vmstat.before, vmstat.after): 13,400 pages/s = 52 MiB/s"
)
_KSWAPD = Number(
    2048.0,
    "assumed: kswapd reclaims 256 MiB/s (2048 batches of SWAP_CLUSTER_MAX = 32 pages per "
    "second) of clean page cache, one kswapd thread per node; a slower kswapd only "
    "lengthens the time below min",
)
_GATHERS = Number(
    20.0,
    "assumed, as in configs/rt.toml: 20 page-table-freeing munmaps per second by "
    "housekeeping tasks (thread exits releasing malloc arena heaps)",
)
_TABLES = Number(
    32.0,
    "one glibc malloc arena heap: HEAP_MAX_SIZE = 2 x DEFAULT_MMAP_THRESHOLD_MAX = 64 MiB "
    "on 64-bit, i.e. 32 PTE tables (one per 2 MiB) freed by free_pgd_range()",
)
_NO_ATOMIC = Number(0.0, "no GFP_ATOMIC load modelled (an extension, docs/model.md §4.2)")
_NO_BURST = Number(0.0, "no bursts")
_BURST_END = Number(0.1, "bursts last 10 s on average")

LOADS: dict[str, LoadPreset] = {
    "idle": LoadPreset(
        name="idle",
        description="the RT task alone: housekeeping allocates 8 MiB/s and frees a little "
        "more, so free memory stays far above every watermark",
        rates=dict(
            alloc_rate=Number(2048.0, "assumed: 8 MiB/s of timers, logging and monitoring"),
            free_rate=Number(
                2150.0, "assumed: 5 % more freed than allocated (no page-cache growth)"
            ),
            kswapd_rate=_KSWAPD,
            burst_alloc_rate=None,
            burst_start_rate=_NO_BURST,
            burst_end_rate=_BURST_END,
            atomic_alloc_rate=_NO_ATOMIC,
            gather_rate=Number(2.0, "assumed: a tenth of the steady load's munmaps"),
        ),
        tables_per_gather=_TABLES,
    ),
    "steady": LoadPreset(
        name="steady",
        description="memory full of page cache; housekeeping allocates 52 MiB/s and the "
        "page cache grows by 5.5 MiB/s, so kswapd wakes at low and reclaims to high",
        rates=dict(
            alloc_rate=Number(13400.0, _MEASURED),
            free_rate=Number(
                12000.0,
                "assumed: 1,400 pages/s (5.5 MiB/s) of page-cache growth (logs, monitoring "
                "data) stay allocated until kswapd reclaims them",
            ),
            kswapd_rate=_KSWAPD,
            burst_alloc_rate=None,
            burst_start_rate=_NO_BURST,
            burst_end_rate=_BURST_END,
            atomic_alloc_rate=_NO_ATOMIC,
            gather_rate=_GATHERS,
        ),
        tables_per_gather=_TABLES,
    ),
    "bursts": LoadPreset(
        name="bursts",
        description="the steady load plus a housekeeping burst of 1 GiB/s for 10 s every 10 "
        "minutes on average, faster than kswapd reclaims: the zone reaches min (the "
        "review's case)",
        rates=dict(
            alloc_rate=Number(13400.0, _MEASURED),
            free_rate=Number(12000.0, "as in the steady load"),
            kswapd_rate=_KSWAPD,
            burst_alloc_rate=Number(
                13400.0 + 262144.0,
                "assumed: the steady 13,400 pages/s plus 1 GiB/s (262,144 pages/s), a copy "
                "or backup reading a large file through the page cache at NVMe speed",
            ),
            burst_start_rate=Number(1.0 / 600.0, "assumed: one burst every 10 minutes on average"),
            burst_end_rate=_BURST_END,
            atomic_alloc_rate=_NO_ATOMIC,
            gather_rate=_GATHERS,
        ),
        tables_per_gather=_TABLES,
    ),
}
LOAD_NAMES = tuple(LOADS)

SMALL_BURSTY_HOST: dict[str, object] = dict(
    horizon_s=20.0,
    load="bursts",
    managed_pages=300,
    wmark_min=8,
    wmark_low=20,
    wmark_high=30,
    alloc_rate=20.0,
    free_rate=18.0,
    kswapd_rate=1.0,
    reclaim_batch=8,
    direct_reclaim_batch=4,
    atomic_alloc_rate=5.0,
    burst_alloc_rate=60.0,
    burst_start_rate=0.2,
    burst_end_rate=0.5,
    thp_fault_rate=5.0,
    thp_lifetime_s=1.0,
    split_rate=1.0,
    khugepaged_collapse_rate=2.0,
    gather_rate=5.0,
    tables_per_gather=3,
    online_cpus=6,
    isolated_cpus=1,
    mm_cpus=2,
    rt_mm_share=0.5,
    rt_cycle_us=100_000.0,
    kernel="v6.15",
)
"""A 300-page bursty host (P(free <= min) about 0.06, every rate per second) whose exact
chain has 1,204 states: the checks' host (tests, goldens, ``mcstudy validate``)."""
