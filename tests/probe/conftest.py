"""Fixtures of the probe tests: a synthetic worker result for a kernel of chosen behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mcstudy.probe.host import HostFacts
from mcstudy.probe.phases import COUNTER_NAMES
from mcstudy.probe.predict import ProfileMatch

MIB = 1 << 20
SLOT = 1 << 40
BASE_CAL = (0, 1, 0, 2, 1, 0, 0, 1)  # background function-call IPIs in 8 no-work windows
BASE_PT = (0, 1, 0, -1, 2, 0, 1, 0)  # background machine-wide page-table churn (tables)


def window(cal: int = 0, tlb: int = 0, seconds: float = 0.05, **counters: int) -> dict[str, Any]:
    """One window as the worker records it (CPU 0 = probe CPU, CPU 1 = the other CPU)."""
    c = dict.fromkeys(COUNTER_NAMES, 0)
    c.update(counters)
    return {"seconds": seconds, "cal": [7, cal], "tlb": [3, tlb], "counters": c}


def baselines() -> list[dict[str, Any]]:
    return [window(cal=c, PageTables_kB=4 * p) for c, p in zip(BASE_CAL, BASE_PT, strict=True)]


def fake_raw(
    thps: int = 64,
    deposit: float = 1.0,
    split_alloc: int = 0,
    ipis_per_collapse: float = 1.0,
    munmap_extra_freed: int = 0,
    fallback_ipis: int = 0,
    size: int = 64 * MIB,
    offset: int = MIB,
) -> dict[str, Any]:
    """A worker result from a kernel that deposits ``deposit`` tables per THP fault, etc.

    Background is added to every phase window: 1 CAL and 1 table of PageTables.
    The defaults describe a kernel that behaves as the model says.
    """
    start = SLOT
    end = start + thps * 2 * MIB
    upper = 2  # one PMD table (< 1 GiB) and one PUD table (fresh 512 GiB slot)
    dep = round(deposit * thps)
    collapse_cal = round(ipis_per_collapse * thps)

    def phase(name: str, w: dict[str, Any], **facts: Any) -> dict[str, Any]:
        return {"name": name, "window": w, "baselines": baselines(), "facts": facts}

    phases = [
        phase(
            "thp_fault",
            window(
                cal=1,
                VmPTE_kB=4 * (dep + upper),
                PageTables_kB=4 * (dep + upper + 1),
                thp_fault_alloc=thps,
            ),
            start=start,
            end=end,
            thps_requested=thps,
            thps_mapped=thps,
        ),
        phase(
            "thp_split",
            window(
                cal=1,
                VmPTE_kB=4 * split_alloc,
                PageTables_kB=4 * (split_alloc + 1),
                thp_split_pmd=thps,
            ),
            start=start,
            end=end,
            holes=thps,
            hole_offset=MIB,
            thps_split=thps,
        ),
        phase(
            "collapse",
            window(cal=collapse_cal + 1, PageTables_kB=4, thp_collapse_alloc=thps),
            start=start,
            end=end,
            ranges=thps,
            thps_before=0,
            thps_after=thps,
            collapsed=thps,
            madvise_errno=0,
        ),
    ]
    iso_freed, adj_freed = 35, 31  # 64 MiB at 1 MiB past a 512 GiB boundary
    for nb, freed in (("isolated", iso_freed), ("adjacent", adj_freed)):
        s, e = SLOT + offset, SLOT + offset + size
        geom = {"start": s, "end": e, "size": size, "offset": offset, "neighbours": nb}
        phases.append(
            phase(f"populate_4k_{nb}", window(cal=1, VmPTE_kB=4 * 35, PageTables_kB=4 * 36), **geom)
        )
        floor, ceiling = (0, None) if nb == "isolated" else (s, e)
        gone = freed + munmap_extra_freed
        phases.append(
            phase(
                f"munmap_4k_{nb}",
                window(cal=1 + fallback_ipis, VmPTE_kB=-4 * gone, PageTables_kB=-4 * (gone - 1)),
                floor=floor,
                ceiling=ceiling,
                **geom,
            )
        )
    return {
        "ok": True,
        "cpu": 0,
        "cpus": [0, 1],
        "slot": SLOT,
        "stat_refresh": True,
        "membarrier_settle": True,
        "threads": 1,
        "phases": phases,
    }


def linux_facts(**changes: Any) -> HostFacts:
    """Facts of a healthy 4-CPU Linux 6.18 machine with 16 GiB free (override any field)."""
    base = {
        "system": "Linux",
        "release": "6.18.4-test",
        "machine": "x86_64",
        "thp_enabled": "madvise",
        "thp_pmd_enabled": "inherit",
        "thp_defrag": "madvise",
        "hpage_pmd_size": 2 * MIB,
        "khugepaged": {"pages_to_scan": 4096},
        "config": {"CONFIG_PT_RECLAIM": "y", "CONFIG_MMU_GATHER_RCU_TABLE_FREE": "y"},
        "config_source": "/proc/config.gz",
        "hypervisor": True,
        "online_cpus": (0, 1, 2, 3),
        "allowed_cpus": (0, 1, 2, 3),
        "mem_available_kb": 16 << 20,
        "mem_free_kb": 16 << 20,
        "zone_high_kb": 64 << 10,
        "cgroup_memory_room": None,
        "max_map_count": 65530,
        "stat_refresh_writable": True,
        "page_size": 4096,
    }
    base.update(changes)
    return HostFacts(**base)


PROFILE = ProfileMatch("v6.14-pt-reclaim", ("test",), ())


@pytest.fixture
def make_raw() -> Callable[..., dict[str, Any]]:
    return fake_raw


@pytest.fixture
def profile() -> ProfileMatch:
    return PROFILE
