"""Kernel watermark formulas against real /proc/zoneinfo values (exact integers)."""

from __future__ import annotations

import pytest

from mcstudy.kernel.procfs import parse_zoneinfo
from mcstudy.kernel.watermarks import (
    Watermarks,
    Zone,
    calculate_min_free_kbytes,
    kernel_watermarks,
    mult_frac,
    nr_free_buffer_pages,
    set_recommended_min_free_kbytes,
    setup_per_zone_lowmem_reserve,
    setup_per_zone_wmarks,
)
from tests.paths import PROC

DATA = PROC


def test_shipped_snapshot_reproduced_exactly():
    zones = parse_zoneinfo(DATA / "zoneinfo")
    kw = kernel_watermarks([Zone(z.name, z.managed_pages, z.present) for z in zones])
    assert kw.min_free_kbytes == 67584  # = /proc/sys/vm/min_free_kbytes of that machine
    assert kw.thp_raised
    for z, m, res in zip(zones, kw.marks, kw.lowmem_reserve, strict=True):
        assert (z.wmark_min, z.wmark_low, z.wmark_high, z.promo) == (
            m.min,
            m.low,
            m.high,
            m.promo,
        ), z.name
        assert z.protection == res, z.name


def test_same_machine_before_memory_hotplug():
    # /proc/zoneinfo of the same VM before memory was hot-added to ZONE_NORMAL
    zones = [Zone("DMA", 3840), Zone("DMA32", 772808), Zone("Normal", 360448),
             Zone("Movable", 0, 0), Zone("Device", 0, 0)]  # fmt: skip
    kw = kernel_watermarks(zones)
    assert kw.min_free_kbytes == 67584
    assert [(m.min, m.low, m.high, m.promo) for m in kw.marks] == [
        (57, 71, 85, 99),
        (11483, 14353, 17223, 20093),
        (5355, 6693, 8031, 9369),
        (32, 32, 32, 32),
        (0, 0, 0, 0),
    ]
    assert kw.lowmem_reserve[0] == [0, 3018, 4426, 4426, 4426]
    assert kw.lowmem_reserve[1] == [0, 0, 1408, 1408, 1408]


def test_min_free_kbytes_square_root_rule():
    # the comment of calculate_min_free_kbytes(): 1 GiB -> 4096k, 4 GiB -> 8192k,
    # 16 GiB -> 16384k, 64 GiB -> 32768k; clamped to [128, 262144]
    gib = 1 << 18  # pages
    assert calculate_min_free_kbytes(gib) == 4096
    assert calculate_min_free_kbytes(4 * gib) == 8192
    assert calculate_min_free_kbytes(16 * gib) == 16384
    assert calculate_min_free_kbytes(64 * gib) == 32768
    assert calculate_min_free_kbytes(100) == 128
    assert calculate_min_free_kbytes(1 << 40) == 262144
    assert calculate_min_free_kbytes(gib, user_min_free_kbytes=10000) == 10000


def test_khugepaged_raise():
    zones = [Zone("DMA", 3840), Zone("DMA32", 700000), Zone("Normal", 3000000)]
    # 11 pageblocks of 512 pages per populated zone <= NORMAL, in KiB
    assert set_recommended_min_free_kbytes(zones, 1000, 10**9) == 3 * 11 * 512 * 4
    # capped at 5 % of nr_free_buffer_pages
    assert set_recommended_min_free_kbytes(zones, 100, 20000) == 1000 * 4
    # never lowers min_free_kbytes
    assert set_recommended_min_free_kbytes(zones, 10**6, 10**9) == 10**6
    # unpopulated zones do not count
    zones2 = [Zone("DMA", 0, 0), Zone("DMA32", 700000), Zone("Normal", 3000000)]
    assert set_recommended_min_free_kbytes(zones2, 0, 10**9) == 2 * 11 * 512 * 4


def test_watermark_scale_factor_and_old_rule():
    zones = [Zone("Normal", 1_000_000)]
    # min = 4000 pages; step = max(min/4 = 1000, 1e6 * 10 / 10000 = 1000)
    assert setup_per_zone_wmarks(zones, 16000) == [Watermarks(4000, 5000, 6000, 7000)]
    # scale factor 100 (1 %) dominates
    assert setup_per_zone_wmarks(zones, 16000, 100) == [Watermarks(4000, 14000, 24000, 34000)]
    # before v4.6: low = min + min/4, high = min + min/2
    assert setup_per_zone_wmarks(zones, 16000, None) == [Watermarks(4000, 5000, 6000, 6000)]
    # HighMem: min = clamp(managed / 1024, 32, 128), gaps from the proportional share
    hz = [Zone("Normal", 200_000), Zone("HighMem", 800_000)]
    m = setup_per_zone_wmarks(hz, 4000)
    assert m[1].min == 128 and m[0].min == 1000


def test_mult_frac_and_buffer_pages():
    assert mult_frac(772808, 10, 10000) == 772
    assert mult_frac(10**18, 3, 7) == (10**18 * 3) // 7
    zones = [Zone("DMA", 100), Zone("Normal", 1000), Zone("Movable", 500)]
    marks = [Watermarks(1, 2, 3, 4), Watermarks(10, 20, 30, 40), Watermarks(1, 1, 1, 1)]
    assert nr_free_buffer_pages(zones, marks) == 97 + 970
    assert nr_free_buffer_pages(zones, None) == 1100


@pytest.mark.parametrize("ratio", [[256, 256, 32, 0, 0], [100, 50, 10, 0, 0]])
def test_lowmem_reserve(ratio):
    zones = [Zone("DMA", 4000), Zone("DMA32", 700000), Zone("Normal", 300000),
             Zone("Movable", 1000), Zone("Device", 0, 0)]  # fmt: skip
    res = setup_per_zone_lowmem_reserve(zones, ratio)
    assert res[0][1] == 700000 // ratio[0]
    assert res[0][2] == 1000000 // ratio[0]
    assert res[1][3] == 301000 // ratio[1]
    assert res[2] == [0, 0, 0, 1000 // ratio[2], 1000 // ratio[2]]
    assert res[3] == [0] * 5  # ratio 0
    empty = setup_per_zone_lowmem_reserve([Zone("DMA", 0, 0), Zone("Normal", 10)], [256, 32])
    assert empty[0] == [0, 0]  # zone without managed pages keeps no reserve
