"""Zone watermarks and lowmem reserves as the kernel computes them (mm/page_alloc.c,
mm/khugepaged.c), from the zones' managed pages. Integer arithmetic throughout, as in C.

Followed functions (Linux v4.6 .. v6.18; older forms noted where they differ):

* ``calculate_min_free_kbytes()``: min_free_kbytes = clamp(int_sqrt(lowmem_kbytes * 16),
  128, 262144) with lowmem_kbytes = ``nr_free_buffer_pages()`` x 4 (KiB);
* ``nr_free_buffer_pages()`` = ``nr_free_zone_pages(gfp_zone(GFP_USER))``: the sum over
  zones up to ZONE_NORMAL of max(managed - high watermark, 0);
* ``set_recommended_min_free_kbytes()`` (khugepaged, THP enabled): pageblock_nr_pages x
  nr_zones x (2 + MIGRATE_PCPTYPES^2) pages, nr_zones = populated zones <= ZONE_NORMAL,
  capped at nr_free_buffer_pages() / 20, raising min_free_kbytes only;
* ``__setup_per_zone_wmarks()``: min = pages_min x managed / lowmem_pages (lowmem_pages:
  managed pages of zones that are neither HighMem nor Movable); HighMem (and, since the
  2023 ZONE_MOVABLE fix, Movable) zones get clamp(managed / 1024, SWAP_CLUSTER_MAX, 128);
  step = max(min / 4, mult_frac(managed, watermark_scale_factor, 10000)); low = min +
  step, high = low + step, promo = high + step. Before v4.6 (no watermark_scale_factor):
  low = min + min / 4, high = min + min / 2;
* ``setup_per_zone_lowmem_reserve()``: lowmem_reserve[j] of zone i < j = (managed pages
  of zones i+1 .. j) / sysctl_lowmem_reserve_ratio[i], 0 if the ratio or zone i's
  managed pages are 0 (/proc/zoneinfo "protection").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

ZONE_NAMES = ("DMA", "DMA32", "Normal", "HighMem", "Movable", "Device")
SWAP_CLUSTER_MAX = 32
MIGRATE_PCPTYPES = 3
PAGEBLOCK_NR_PAGES = 512  # x86-64, 4 KiB pages: pageblock_order = HPAGE_PMD_ORDER = 9
DEFAULT_WATERMARK_SCALE_FACTOR = 10
DEFAULT_LOWMEM_RESERVE_RATIO = {"DMA": 256, "DMA32": 256, "Normal": 32}
MIN_FREE_KBYTES_MIN = 128
MIN_FREE_KBYTES_MAX = 262144


@dataclass(frozen=True)
class Zone:
    """One zone of a node: its name (as in /proc/zoneinfo) and page counts."""

    name: str
    managed: int
    present: int | None = None

    @property
    def populated(self) -> bool:
        """``populated_zone()``: the zone has present pages."""
        return (self.present if self.present is not None else self.managed) > 0

    @property
    def capped_min(self) -> bool:
        """HighMem and Movable zones get the small clamped min (``__setup_per_zone_wmarks``)."""
        return self.name in ("HighMem", "Movable")

    @property
    def up_to_normal(self) -> bool:
        """Zone index <= ZONE_NORMAL = gfp_zone(GFP_USER) on 64-bit."""
        return self.name in ("DMA", "DMA32", "Normal")


@dataclass(frozen=True)
class Watermarks:
    """_watermark[] of one zone without boost (pages)."""

    min: int
    low: int
    high: int
    promo: int


def mult_frac(x: int, numer: int, denom: int) -> int:
    """The kernel's ``mult_frac()``: x * numer / denom without overflow, rounding down."""
    q, r = divmod(x, denom)
    return q * numer + (r * numer) // denom


def nr_free_buffer_pages(zones: Sequence[Zone], marks: Sequence[Watermarks] | None) -> int:
    """``nr_free_buffer_pages()``: sum of managed - high over zones <= ZONE_NORMAL (pages);
    ``marks`` None means the watermarks are still 0 (early boot)."""
    total = 0
    for i, z in enumerate(zones):
        if not z.up_to_normal:
            continue
        high = marks[i].high if marks is not None else 0
        total += max(z.managed - high, 0)
    return total


def calculate_min_free_kbytes(
    free_buffer_pages: int, user_min_free_kbytes: int = -1, page_kib: int = 4
) -> int:
    """``calculate_min_free_kbytes()``: clamp(int_sqrt(lowmem_kbytes * 16), 128, 262144)."""
    lowmem_kbytes = free_buffer_pages * page_kib
    new = math.isqrt(lowmem_kbytes * 16)
    if new > user_min_free_kbytes:
        return min(max(new, MIN_FREE_KBYTES_MIN), MIN_FREE_KBYTES_MAX)
    return user_min_free_kbytes


def set_recommended_min_free_kbytes(
    zones: Sequence[Zone],
    min_free_kbytes: int,
    free_buffer_pages: int,
    pageblock_nr_pages: int = PAGEBLOCK_NR_PAGES,
    page_kib: int = 4,
) -> int:
    """khugepaged's ``set_recommended_min_free_kbytes()`` with THP enabled: the raised
    min_free_kbytes (KiB), or the given one if that is larger."""
    nr_zones = sum(1 for z in zones if z.populated and z.up_to_normal)
    recommended = pageblock_nr_pages * nr_zones * 2
    recommended += pageblock_nr_pages * nr_zones * MIGRATE_PCPTYPES * MIGRATE_PCPTYPES
    recommended = min(recommended, free_buffer_pages // 20)
    recommended *= page_kib
    return max(recommended, min_free_kbytes)


def setup_per_zone_wmarks(
    zones: Sequence[Zone],
    min_free_kbytes: int,
    watermark_scale_factor: int | None = DEFAULT_WATERMARK_SCALE_FACTOR,
    movable_capped: bool = True,
    page_kib: int = 4,
) -> list[Watermarks]:
    """``__setup_per_zone_wmarks()``: per-zone min/low/high/promo (pages), boost 0.

    ``watermark_scale_factor=None`` gives the pre-v4.6 rule (low = min + min/4, high =
    min + min/2); ``movable_capped=False`` the rule before the 2023 ZONE_MOVABLE fix
    (Movable counted as lowmem).
    """
    pages_min = min_free_kbytes // page_kib

    def capped(z: Zone) -> bool:
        return z.name == "HighMem" or (movable_capped and z.name == "Movable")

    lowmem = sum(z.managed for z in zones if not capped(z))
    out = []
    for z in zones:
        tmp = pages_min * z.managed // lowmem if lowmem else 0
        wmin = min(max(z.managed // 1024, SWAP_CLUSTER_MAX), 128) if capped(z) else tmp
        if watermark_scale_factor is None:
            low, high = wmin + tmp // 4, wmin + tmp // 2
            out.append(Watermarks(wmin, low, high, high))
            continue
        step = max(tmp >> 2, mult_frac(z.managed, watermark_scale_factor, 10000))
        out.append(Watermarks(wmin, wmin + step, wmin + 2 * step, wmin + 3 * step))
    return out


def setup_per_zone_lowmem_reserve(
    zones: Sequence[Zone], ratios: Sequence[int] | None = None
) -> list[list[int]]:
    """``setup_per_zone_lowmem_reserve()``: reserve[i][j] (pages) that an allocation
    allowed up to zone j must leave in zone i; ``ratios`` = vm.lowmem_reserve_ratio."""
    if ratios is None:
        ratios = [DEFAULT_LOWMEM_RESERVE_RATIO.get(z.name, 0) for z in zones]
    n = len(zones)
    reserve = [[0] * n for _ in range(n)]
    for i in range(n - 1):
        clear = ratios[i] == 0 or zones[i].managed == 0
        managed = 0
        for j in range(i + 1, n):
            managed += zones[j].managed
            reserve[i][j] = 0 if clear else managed // ratios[i]
    return reserve


@dataclass(frozen=True)
class KernelWatermarks:
    """What the kernel's boot-time sequence gives for a node's zones."""

    min_free_kbytes: int
    """final vm.min_free_kbytes (KiB)"""
    sqrt_min_free_kbytes: int
    """``calculate_min_free_kbytes()`` alone (KiB)"""
    thp_raised: bool
    marks: list[Watermarks]
    lowmem_reserve: list[list[int]]


def kernel_watermarks(
    zones: Sequence[Zone],
    thp_enabled: bool = True,
    watermark_scale_factor: int = DEFAULT_WATERMARK_SCALE_FACTOR,
    lowmem_reserve_ratio: Sequence[int] | None = None,
    user_min_free_kbytes: int = -1,
) -> KernelWatermarks:
    """``init_per_zone_wmark_min()`` then khugepaged's raise, as after boot or after a
    memory hotplug (which reruns both): min_free_kbytes from the square-root rule with
    the watermarks in force, raised for THP, then the per-zone marks and reserves.

    The square-root rule sees nr_free_buffer_pages() with the previous high marks; the
    fixed point is found by iterating (it settles in a step or two)."""
    marks: list[Watermarks] | None = None
    mfk = sqrt_mfk = 0
    for _ in range(8):
        sqrt_mfk = calculate_min_free_kbytes(
            nr_free_buffer_pages(zones, marks), user_min_free_kbytes
        )
        mfk = sqrt_mfk
        new = setup_per_zone_wmarks(zones, mfk, watermark_scale_factor)
        if thp_enabled:
            mfk = set_recommended_min_free_kbytes(zones, mfk, nr_free_buffer_pages(zones, new))
            new = setup_per_zone_wmarks(zones, mfk, watermark_scale_factor)
        if new == marks:
            break
        marks = new
    return KernelWatermarks(
        min_free_kbytes=mfk,
        sqrt_min_free_kbytes=sqrt_mfk,
        thp_raised=mfk > sqrt_mfk,
        marks=marks,  # type: ignore[arg-type]
        lowmem_reserve=setup_per_zone_lowmem_reserve(zones, lowmem_reserve_ratio),
    )
