"""free_pgd_range() floor/ceiling rules for the munmap front end."""

from __future__ import annotations

import pytest

from mcstudy.kernel.pgtable import (
    GIB,
    MIB,
    VMA_BASE,
    FreedTables,
    free_pgd_range_tables,
    munmap_tables,
)


def test_adjacent_small_vma_frees_only_its_pte_tables():
    assert munmap_tables(10, "adjacent") == FreedTables(pte=5, pmd=0, pud=0)


def test_isolated_vma_frees_covering_pmd_and_pud_tables():
    assert munmap_tables(10, "isolated") == FreedTables(pte=5, pmd=1, pud=1)


def test_one_gib_aligned_vma_between_neighbours_frees_its_pmd_table():
    t = munmap_tables(1024, "adjacent")
    assert t == FreedTables(pte=512, pmd=1, pud=0)
    assert t.total == 513


def test_unaligned_vma_keeps_boundary_tables_shared_with_neighbours():
    # starts 1 MiB into a 2 MiB slot: the first and the last slots are shared
    t = munmap_tables(4, "adjacent", offset_kib=1024)
    assert t.pte == 1  # slots [0,2) and [4,6) MiB are shared; only [2,4) is inside
    assert munmap_tables(4, "isolated", offset_kib=1024).pte == 3


def test_floor_and_ceiling_semantics():
    start = VMA_BASE + 2 * MIB
    end = start + 6 * MIB
    # neighbour ends 1 MiB before: the slot [VMA_BASE, +2M) is not ours anyway
    assert free_pgd_range_tables(start, end, floor=start - MIB, ceiling=end + MIB).pte == 3
    # ceiling None: nothing above up to the top of the address space
    assert free_pgd_range_tables(VMA_BASE, VMA_BASE + GIB, floor=0).pmd == 1
    with pytest.raises(ValueError):
        free_pgd_range_tables(end, start)


def test_rejects_sizes_that_are_not_pages():
    with pytest.raises(ValueError):
        munmap_tables(0.001)
    with pytest.raises(ValueError):
        munmap_tables(1, offset_kib=3)
    with pytest.raises(ValueError):
        munmap_tables(1, "elsewhere")
