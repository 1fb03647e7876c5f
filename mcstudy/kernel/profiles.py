"""Kernel profiles: which Linux builds free page tables through ``tlb_remove_table()``.

Facts read from the kernel sources (function names to re-check them in a tree):

* ``tlb_remove_table()`` (mm/mmu_gather.c) allocates the batch page with
  ``__get_free_page(GFP_NOWAIT | __GFP_NOWARN)``; on failure it calls
  ``tlb_table_invalidate()`` and ``tlb_remove_table_one()``; nothing remembers the
  failure, so the next table tries again.
* ``MAX_TABLE_BATCH = (PAGE_SIZE - sizeof(struct mmu_table_batch)) / sizeof(void *)``
  (include/asm-generic/tlb.h): 509 with ``CONFIG_MMU_GATHER_RCU_TABLE_FREE`` (16-byte
  ``rcu_head`` + ``nr`` + padding = 24 bytes), 511 without.
* x86-64 up to v6.13 selects ``MMU_GATHER_RCU_TABLE_FREE if PARAVIRT`` but frees page
  tables through ``tlb_remove_table`` only in guests whose hypervisor replaces the TLB
  flush (``kvm_guest_init()`` with PV TLB flush, ``hyperv_setup_mmu_ops()``, Xen PV
  ``xen_mmu_ops``); bare metal uses ``native_tlb_remove_table()`` ->
  ``tlb_remove_page()``: no batch page, no fallback.
* v6.14 adds ``CONFIG_PT_RECLAIM`` (default y, x86-64 only). It routes bare-metal
  ``native_tlb_remove_table()`` to ``tlb_remove_table()`` and makes
  ``__tlb_remove_table_one()`` free the table with ``call_rcu()`` instead of
  ``tlb_remove_table_sync_one()``: the fallback sends no IPI.
* v6.15 makes ``MMU_GATHER_RCU_TABLE_FREE`` unconditional on x86 (commit "x86/mm: Make
  MMU_GATHER_RCU_TABLE_FREE unconditional"); ``___pte_free_tlb()`` always calls
  ``tlb_remove_table()``. The ``v6.15`` profile here is a v6.15 build *without*
  PT_RECLAIM (PT_RECLAIM=n on x86-64, or arm64 and other architectures that select RCU
  table freeing), whose fallback still broadcasts a synchronous IPI. A default-config
  x86-64 v6.15 behaves like ``v6.14-pt-reclaim``.
* ``collapse_huge_page()`` (mm/khugepaged.c) calls ``tlb_remove_table_sync_one()``
  unconditionally after ``pmdp_collapse_flush()``; it is a real IPI whenever RCU table
  freeing is compiled in (PARAVIRT distro kernels, so bare metal too).
* v7.0: ``config PT_RECLAIM`` is ``def_bool y`` with ``depends on
  MMU_GATHER_RCU_TABLE_FREE && !HAVE_ARCH_TLB_REMOVE_TABLE`` (mm/Kconfig; Qi Zheng's
  series "make PT_RECLAIM depend on MMU_GATHER_RCU_TABLE_FREE && !HAVE_ARCH_TLB_REMOVE_TABLE",
  rebased on v6.19-rc7): arm64, riscv and x86-64 builds fall back by ``call_rcu()``.
  powerpc and sparc64 select ``HAVE_ARCH_TLB_REMOVE_TABLE`` (they provide their own
  ``__tlb_remove_table()``, the free of one table; the batching ``tlb_remove_table()``
  is the generic one) and stay PT_RECLAIM=n.
* v7.1: "mm/mmu_gather: replace IPI with synchronize_rcu() when batch allocation
  fails": without PT_RECLAIM, ``__tlb_remove_table_one()`` calls ``synchronize_rcu()``
  (if RCU table freeing is built) and then frees the table: no round, but the unmapping
  task sleeps one grace period per fallback table.
* v7.2 (x86): "x86/tlb: skip redundant sync IPIs for native TLB flush":
  ``tlb_remove_table_sync_one()`` returns early when
  ``tlb_table_flush_implies_ipi_broadcast()`` (a static key set at boot by
  ``native_pv_tlb_init()`` when ``flush_tlb_multi`` is ``native_flush_tlb_multi`` and
  the CPU has no INVLPGB): khugepaged's collapse sends no round of its own there
  (its ``pmdp_collapse_flush()`` TLB flush reaches only the mm's CPUs).
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE_SIZE = 4096
POINTER_SIZE = 8
MMU_TABLE_BATCH_HEADER_RCU = 24  # struct rcu_head (16) + unsigned int nr (4) + padding (4)
MMU_TABLE_BATCH_HEADER_NO_RCU = 8  # unsigned int nr (4) + padding (4)


def max_table_batch(page_size: int = PAGE_SIZE, rcu_table_free: bool = True) -> int:
    """``MAX_TABLE_BATCH``: page-table pointers per batch page (entries)."""
    header = MMU_TABLE_BATCH_HEADER_RCU if rcu_table_free else MMU_TABLE_BATCH_HEADER_NO_RCU
    return (page_size - header) // POINTER_SIZE


@dataclass(frozen=True)
class KernelProfile:
    """What one kernel build does when it frees page tables and collapses THPs."""

    name: str
    description: str
    uses_tlb_remove_table: bool
    """Page tables freed by munmap go through tlb_remove_table() (so can hit the fallback)."""
    max_table_batch: int
    """MAX_TABLE_BATCH of the build (entries per batch page)."""
    fallback_sends_ipi: bool
    """tlb_remove_table_one() broadcasts tlb_remove_table_sync_one() (False: call_rcu)."""
    khugepaged_sync_ipi: bool
    """collapse_huge_page() sends a synchronous IPI per anonymous collapse."""
    fallback_waits_grace_period: bool = False
    """tlb_remove_table_one() blocks the unmapping task in synchronize_rcu() for one RCU
    grace period per fallback table (v7.1 and later without PT_RECLAIM); no IPI. Only
    with ``fallback_sends_ipi`` False."""

    def __post_init__(self) -> None:
        if self.fallback_waits_grace_period and self.fallback_sends_ipi:
            raise ValueError(
                f"kernel profile {self.name}: a fallback either sends a round or waits in "
                "synchronize_rcu(), not both"
            )

    def behaviour(self) -> str:
        """What the build does with a fallback table and a collapse, in one line of prose
        (the lab's kernel lines and the report's unswept profiles)."""
        if not self.uses_tlb_remove_table:
            fb = "page tables bypass tlb_remove_table() (tlb_remove_page(): no batch page)"
        elif self.fallback_sends_ipi:
            fb = "a fallback sends a synchronous round"
        elif self.fallback_waits_grace_period:
            fb = "a fallback sends no round but blocks the unmapping task in synchronize_rcu()"
        else:
            fb = "a fallback frees its table by call_rcu(): no round, no wait"
        kh = (
            "khugepaged sends its round"
            if self.khugepaged_sync_ipi
            else "khugepaged sends no round"
        )
        return f"{fb}; {kh}"


PROFILES: dict[str, KernelProfile] = {
    p.name: p
    for p in (
        KernelProfile(
            "v6.3-baremetal",
            "x86-64 v6.3 on bare metal (PARAVIRT distro build): page tables freed with "
            "tlb_remove_page(), no batch page, no fallback; khugepaged still broadcasts",
            uses_tlb_remove_table=False,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=True,
            khugepaged_sync_ipi=True,
        ),
        KernelProfile(
            "v6.3-kvm-pv",
            "x86-64 v6.3 KVM guest with PV TLB flush (also Hyper-V, Xen PV): "
            "tlb_remove_table() with a 509-entry batch; the fallback broadcasts a sync IPI",
            uses_tlb_remove_table=True,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=True,
            khugepaged_sync_ipi=True,
        ),
        KernelProfile(
            "v6.14-pt-reclaim",
            "x86-64 v6.14 with CONFIG_PT_RECLAIM=y (the default): tlb_remove_table() on bare "
            "metal too; the fallback frees the table with call_rcu(), no IPI",
            uses_tlb_remove_table=True,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=False,
            khugepaged_sync_ipi=True,
        ),
        KernelProfile(
            "v6.15",
            "v6.15 with RCU table freeing and without PT_RECLAIM (x86-64 PT_RECLAIM=n, arm64): "
            "tlb_remove_table() everywhere; the fallback broadcasts a sync IPI",
            uses_tlb_remove_table=True,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=True,
            khugepaged_sync_ipi=True,
        ),
        KernelProfile(
            "v7.0-pt-reclaim",
            "v7.0 and later with CONFIG_PT_RECLAIM=y, now def_bool y wherever RCU table "
            "freeing is and the architecture keeps the generic __tlb_remove_table() "
            "(arm64, riscv, x86-64): the fallback frees the table with call_rcu(), no IPI; "
            "khugepaged still broadcasts",
            uses_tlb_remove_table=True,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=False,
            khugepaged_sync_ipi=True,
        ),
        KernelProfile(
            "v7.1-sync-rcu",
            "v7.1 and later without PT_RECLAIM (powerpc, sparc64: their own "
            "__tlb_remove_table()): the fallback waits one RCU grace period in "
            "synchronize_rcu() before freeing the table: no IPI, but the unmapping task "
            "blocks; khugepaged still broadcasts",
            uses_tlb_remove_table=True,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=False,
            khugepaged_sync_ipi=True,
            fallback_waits_grace_period=True,
        ),
        KernelProfile(
            "v7.2-x86-native",
            "x86-64 kernels with the series 'x86/tlb: skip redundant sync IPIs for native TLB "
            "flush' (posted for 7.2; not in Debian's 7.2.13, where the lab saw the round), the "
            "native TLB flush (bare metal or a guest without PV TLB flush) and no INVLPGB: the "
            "fallback frees by call_rcu() (PT_RECLAIM) and tlb_remove_table_sync_one() returns "
            "early, so khugepaged sends no round",
            uses_tlb_remove_table=True,
            max_table_batch=max_table_batch(),
            fallback_sends_ipi=False,
            khugepaged_sync_ipi=False,
        ),
    )
}

KERNEL_NAMES = tuple(PROFILES)


def get_profile(name: str) -> KernelProfile:
    """The profile called ``name`` (KeyError naming the known profiles otherwise)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown kernel profile {name!r}; known: {', '.join(PROFILES)}") from None
