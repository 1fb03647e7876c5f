"""Page tables freed by munmap: the floor/ceiling rules of ``free_pgd_range()``.

``unmap_region()`` -> ``free_pgtables()`` -> ``free_pgd_range(tlb, addr, end, floor,
ceiling)`` (mm/memory.c) with ``floor = prev ? prev->vm_end : FIRST_USER_ADDRESS`` and
``ceiling = next ? next->vm_start : USER_PGTABLES_CEILING``. On x86-64 with 4-level
paging a present table whose aligned slot touches [addr, end) is freed iff the whole
slot lies inside [floor, ceiling):

* PTE table, 2 MiB slot: ``free_pte_range()`` -> ``pte_free_tlb()``
* PMD table, 1 GiB slot: ``free_pmd_range()`` tail -> ``pmd_free_tlb()``
* PUD table, 512 GiB slot: ``free_pud_range()`` tail -> ``pud_free_tlb()``

Each of those calls is one ``tlb_remove_table()`` in the same mmu_gather (on the
kernels that use it). The front end assumes every 2 MiB slot of the VMA is populated
with 4 KiB pages (a PMD-mapped THP slot frees its deposit with ``pte_free()`` instead,
outside the gather).
"""

from __future__ import annotations

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
PTE_TABLE_SPAN = 2 * MIB  # one PTE table maps 512 x 4 KiB
PMD_TABLE_SPAN = 1 * GIB  # one PMD table maps 512 x 2 MiB
PUD_TABLE_SPAN = 512 * GIB  # one PUD table maps 512 x 1 GiB
VMA_BASE = 0x7F00_0000_0000  # a 512 GiB-aligned user address where the VMA is placed

VMA_NEIGHBOURS = ("adjacent", "isolated")


@dataclass(frozen=True)
class FreedTables:
    """Page tables freed by one ``free_pgd_range()`` call (tables)."""

    pte: int
    pmd: int
    pud: int

    @property
    def total(self) -> int:
        return self.pte + self.pmd + self.pud


def _freed_at_level(addr: int, end: int, floor: int, ceiling: int | None, span: int) -> int:
    first = addr - addr % span
    count = 0
    for slot in range(first, end, span):
        if slot >= floor and (ceiling is None or slot + span <= ceiling):
            count += 1
    return count


def free_pgd_range_tables(
    addr: int, end: int, floor: int = 0, ceiling: int | None = None
) -> FreedTables:
    """Tables freed when [addr, end) is unmapped between ``floor`` and ``ceiling`` (bytes).

    ``ceiling=None`` means no mapping above (``USER_PGTABLES_CEILING`` = 0 in the kernel).
    """
    if not 0 <= floor <= addr < end or (ceiling is not None and ceiling < end):
        raise ValueError("need floor <= addr < end <= ceiling")
    return FreedTables(
        pte=_freed_at_level(addr, end, floor, ceiling, PTE_TABLE_SPAN),
        pmd=_freed_at_level(addr, end, floor, ceiling, PMD_TABLE_SPAN),
        pud=_freed_at_level(addr, end, floor, ceiling, PUD_TABLE_SPAN),
    )


def munmap_tables(
    size_mib: float, neighbours: str = "adjacent", offset_kib: int = 0
) -> FreedTables:
    """Tables freed by munmap of a fully populated VMA of ``size_mib`` MiB.

    ``neighbours="adjacent"``: other VMAs end at its start and begin at its end (floor =
    start, ceiling = end), so only slots entirely inside it are freed.
    ``"isolated"``: no other VMA shares any 512 GiB slot it touches.
    ``offset_kib``: start of the VMA past a 512 GiB-aligned address (KiB, multiple of 4).
    """
    size = round(size_mib * MIB)
    if size <= 0 or size % 4096 or size != size_mib * MIB:
        raise ValueError(f"VMA size {size_mib} MiB is not a positive multiple of 4 KiB")
    if offset_kib < 0 or offset_kib % 4:
        raise ValueError(f"VMA offset {offset_kib} KiB is not a non-negative multiple of 4 KiB")
    start = VMA_BASE + offset_kib * KIB
    end = start + size
    if neighbours == "adjacent":
        return free_pgd_range_tables(start, end, floor=start, ceiling=end)
    if neighbours == "isolated":
        return free_pgd_range_tables(start, end, floor=0, ceiling=None)
    raise ValueError(f"unknown vma_neighbours {neighbours!r}; known: {', '.join(VMA_NEIGHBOURS)}")
