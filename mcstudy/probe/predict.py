"""The model's predictions for each probe phase, and which kernel profile the live kernel is.

Predictions reuse the model's own code, never a copy of it:

* page tables present / freed: :func:`mcstudy.kernel.pgtable.free_pgd_range_tables` and
  :func:`~mcstudy.kernel.pgtable.munmap_tables` (the gather model's munmap front end,
  reached through :class:`mcstudy.models.gather.GatherParams`);
* fallbacks during munmap: the gather model's exact solver
  (:func:`mcstudy.exact.gather.gather_exact`) at GFP_NOWAIT failure probability 0 (the
  probe never creates memory pressure), with the profile's ``MAX_TABLE_BATCH``;
* sync IPI deliveries: :func:`mcstudy.kernel.ipi.ipi_targets` with the ``broadcast``
  policy (``smp_call_function()`` reaches every other online CPU) and the collapse
  policy ``sync_ipi`` (``collapse_huge_page()`` -> ``tlb_remove_table_sync_one()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcstudy.exact.gather import gather_exact
from mcstudy.kernel.ipi import ipi_targets
from mcstudy.kernel.pgtable import MIB, FreedTables, free_pgd_range_tables, munmap_tables
from mcstudy.kernel.policies import MAINLINE_IPI, collapse_policy
from mcstudy.kernel.profiles import KernelProfile, get_profile
from mcstudy.models.gather.params import GatherParams
from mcstudy.probe.host import kernel_version

# ----------------------------------------------------------------- kernel profile


@dataclass(frozen=True)
class ProfileMatch:
    """The kernel profile the live kernel matches, with the facts used and the caveats."""

    name: str
    basis: tuple[str, ...]
    caveats: tuple[str, ...]

    @property
    def profile(self) -> KernelProfile:
        return get_profile(self.name)


def match_profile(
    release: str,
    machine: str,
    config: dict[str, str] | None,
    config_source: str | None = None,
    hypervisor: bool = False,
) -> ProfileMatch:
    """Map (uname release, architecture, kernel config, hypervisor) to a kernel profile.

    Rules (mcstudy.kernel.profiles): x86-64 >= 6.14 with ``CONFIG_PT_RECLAIM=y`` (the
    default) -> ``v6.14-pt-reclaim`` (a default v6.15+ build behaves the same);
    x86-64 >= 6.15 without it -> ``v6.15``; older x86-64 -> ``v6.3-kvm-pv`` in a
    hypervisor guest (assumes PV TLB flush), else ``v6.3-baremetal``; other
    architectures (RCU table freeing) -> ``v6.15``, or ``v6.14-pt-reclaim`` with PT_RECLAIM.
    From 7.0 (PT_RECLAIM ``def_bool y``): ``v7.0-pt-reclaim`` (x86-64 included: the
    series behind ``v7.2-x86-native`` is not matched by version, since Debian's 7.2.13
    amd64 still sends khugepaged's round in the lab); without PT_RECLAIM (powerpc,
    sparc64: ``HAVE_ARCH_TLB_REMOVE_TABLE``) >= 7.1 -> ``v7.1-sync-rcu``.
    """
    version = kernel_version(release)
    cfg = config or {}
    pt_reclaim = cfg.get("CONFIG_PT_RECLAIM") if config is not None else None
    rcu_free = cfg.get("CONFIG_MMU_GATHER_RCU_TABLE_FREE") if config is not None else None
    vtext = f"{version[0]}.{version[1]}"
    basis = [f"uname: Linux {release} ({machine})"]
    caveats: list[str] = []
    if config is None:
        basis.append("kernel config: not readable (no /proc/config.gz or /boot/config-*)")
    else:
        basis.append(
            f"kernel config ({config_source}): CONFIG_PT_RECLAIM={pt_reclaim or 'n'}, "
            f"CONFIG_MMU_GATHER_RCU_TABLE_FREE={rcu_free or 'n'}"
        )
    x86 = machine in ("x86_64", "amd64")
    own_free = machine.startswith(("ppc", "powerpc", "sparc"))  # HAVE_ARCH_TLB_REMOVE_TABLE
    if version >= (7, 0) and (pt_reclaim == "n" or (pt_reclaim is None and own_free)):
        if version >= (7, 1) and rcu_free != "n":
            name = "v7.1-sync-rcu"
            basis.append(
                f"{machine} Linux {vtext} >= 7.1 without PT_RECLAIM: a failed batch "
                "allocation waits in synchronize_rcu(), no IPI"
            )
        else:
            name = "v6.15"
            basis.append(
                f"{machine} Linux {vtext} without PT_RECLAIM: the fallback broadcasts a sync IPI"
            )
        if pt_reclaim is None:
            caveats.append(
                f"CONFIG_PT_RECLAIM assumed n ({machine} provides its own __tlb_remove_table()): "
                "no kernel config to check"
            )
    elif version >= (7, 0):
        name = "v7.0-pt-reclaim"
        basis.append(
            f"{machine} Linux {vtext} >= 7.0: PT_RECLAIM is def_bool y, a failed batch "
            "allocation frees the table by call_rcu(), no IPI"
        )
        if x86:
            caveats.append(
                "khugepaged's round is assumed: the x86 series that skips it for the native "
                "TLB flush (profile v7.2-x86-native) is not matched by version; Debian's "
                "7.2.13 amd64 still sent it in the lab"
            )
    elif x86 and version >= (6, 14) and pt_reclaim in ("y", None):
        name = "v6.14-pt-reclaim"
        basis.append(
            f"x86-64 Linux {vtext} >= 6.14 with PT_RECLAIM: page tables go through "
            "tlb_remove_table(); a failed batch allocation frees the table by call_rcu(), no IPI"
        )
        if version >= (6, 15):
            basis.append(
                "v6.15+ makes RCU table freeing unconditional on x86; PT_RECLAIM keeps the RCU fallback"
            )
        if pt_reclaim is None:
            caveats.append(
                "CONFIG_PT_RECLAIM assumed y (its x86-64 default): no kernel config to check"
            )
    elif x86 and version >= (6, 15):
        name = "v6.15"
        basis.append(
            f"x86-64 Linux {vtext} >= 6.15 without PT_RECLAIM: the fallback broadcasts a sync IPI"
        )
    elif x86:
        if hypervisor:
            name = "v6.3-kvm-pv"
            basis.append(
                f"x86-64 Linux {vtext} < 6.14 in a hypervisor guest: tlb_remove_table() with a "
                "broadcast sync-IPI fallback"
            )
            caveats.append(
                "assumes the hypervisor provides PV TLB flush (KVM, Hyper-V, Xen PV); without it "
                "the guest frees page tables like bare metal (v6.3-baremetal)"
            )
        else:
            name = "v6.3-baremetal"
            basis.append(
                f"x86-64 Linux {vtext} < 6.14 on bare metal: tlb_remove_page(), no fallback"
            )
        if rcu_free == "n":
            caveats.append(
                "CONFIG_MMU_GATHER_RCU_TABLE_FREE is not set: tlb_remove_table_sync_one() is a "
                "no-op and collapses send no IPI; no profile models this build"
            )
    elif pt_reclaim == "y":
        name = "v6.14-pt-reclaim"
        basis.append(
            f"{machine} with PT_RECLAIM: the fallback frees the table by call_rcu(), no IPI"
        )
    else:
        name = "v6.15"
        basis.append(
            f"{machine} (RCU table freeing): tlb_remove_table() everywhere, the fallback "
            "broadcasts a sync IPI"
        )
    if version < (6, 1):
        caveats.append(f"Linux {vtext} predates MADV_COLLAPSE (6.1)")
    return ProfileMatch(name, tuple(basis), tuple(caveats))


# ----------------------------------------------------------------- predictions


def tables_in_fresh_slot(start: int, end: int) -> FreedTables:
    """Tables present once every 2 MiB of [start, end) is faulted in a 512 GiB slot that had none.

    The same set an isolated ``free_pgd_range()`` frees: one PTE table per 2 MiB slot,
    one PMD table per 1 GiB slot, one PUD table per 512 GiB slot touched.
    """
    return free_pgd_range_tables(start, end, floor=0, ceiling=None)


def split_tables_freed(hole_start: int, hole_end: int) -> int:
    """Tables freed by unmapping a hole inside one VMA (floor/ceiling = the hole's own ends)."""
    return free_pgd_range_tables(hole_start, hole_end, floor=hole_start, ceiling=hole_end).total


def collapse_sync_rounds(
    policy: str, profile: KernelProfile, gfp_nowait_fail_p: float = 0.0
) -> float:
    """Mean synchronous IPI rounds per anonymous collapse under a collapse policy (docs/model.md §5.6).

    Without a fresh table (mainline): one ``tlb_remove_table_sync_one()`` per collapse
    (when the build has RCU table freeing, ``profile.khugepaged_sync_ipi``). With one, the
    old table is freed by ``call_rcu()`` (no round) or goes through the mmu_gather, so a
    round only on a GFP_NOWAIT fallback that sends an IPI.
    """
    col = collapse_policy(policy)
    if not col.fresh_table:
        return 1.0 if profile.khugepaged_sync_ipi else 0.0
    if col.old_table_by_rcu:
        return 0.0
    if not (profile.uses_tlb_remove_table and profile.fallback_sends_ipi):
        return 0.0
    return gather_exact(1, gfp_nowait_fail_p, profile.max_table_batch).fallbacks_mean


def broadcast_per_other_cpu(online_cpus: int) -> float:
    """Deliveries of one ``smp_call_function()`` round to each other online CPU."""
    targets = ipi_targets(MAINLINE_IPI, online_cpus, 1, 0.0)
    return targets.mean / (online_cpus - 1)


@dataclass(frozen=True)
class MunmapPrediction:
    """What the gather model predicts for one munmap of a 4 KiB-populated VMA."""

    tables: FreedTables
    """From the gather model's front end (``munmap_tables`` via ``GatherParams``)."""
    tables_at_addresses: FreedTables
    """``free_pgd_range_tables`` at the real addresses, floor and ceiling (cross-check)."""
    fallbacks_mean: float
    """Mean tlb_remove_table_one() fallbacks (exact solver, GFP_NOWAIT failure p = 0)."""
    sync_ipis_per_other_cpu: float


def munmap_prediction(
    size: int,
    offset: int,
    neighbours: str,
    start: int,
    end: int,
    floor: int,
    ceiling: int | None,
    profile_name: str,
    online_cpus: int,
) -> MunmapPrediction:
    """Tables freed and fallback IPIs for munmap of [start, end) (bytes) in the probe layout."""
    params = GatherParams(
        munmap_mib=size / MIB,
        vma_neighbours=neighbours,
        vma_offset_kib=offset // 1024,
        gfp_nowait_fail_p=0.0,
        kernel=profile_name,
        ipi_policy=MAINLINE_IPI,
        online_cpus=online_cpus,
        mm_cpus=1,
    )
    tables = munmap_tables(params.munmap_mib, params.vma_neighbours, params.vma_offset_kib)
    profile = get_profile(profile_name)
    if profile.uses_tlb_remove_table:
        fallbacks = gather_exact(
            params.n_tables(), params.gfp_nowait_fail_p, params.batch()
        ).fallbacks_mean
    else:
        fallbacks = 0.0  # tlb_remove_page(): no batch page, no fallback
    ipi = params.ipi()
    return MunmapPrediction(
        tables=tables,
        tables_at_addresses=free_pgd_range_tables(start, end, floor, ceiling),
        fallbacks_mean=fallbacks,
        sync_ipis_per_other_cpu=fallbacks * ipi.mean / (online_cpus - 1),
    )
