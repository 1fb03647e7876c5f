"""Kernel profile matching and the model's predictions for the probe phases."""

from __future__ import annotations

import pytest

from mcstudy.kernel.pgtable import munmap_tables
from mcstudy.kernel.profiles import get_profile
from mcstudy.probe.errors import ProbeError
from mcstudy.probe.host import kernel_version
from mcstudy.probe.predict import (
    broadcast_per_other_cpu,
    collapse_sync_rounds,
    match_profile,
    munmap_prediction,
    split_tables_freed,
    tables_in_fresh_slot,
)

MIB = 1 << 20
SLOT = 1 << 40
Y = {"CONFIG_PT_RECLAIM": "y", "CONFIG_MMU_GATHER_RCU_TABLE_FREE": "y"}
N = {"CONFIG_PT_RECLAIM": "n", "CONFIG_MMU_GATHER_RCU_TABLE_FREE": "y"}


def test_kernel_version():
    assert kernel_version("6.18.44-fc-v782") == (6, 18)
    assert kernel_version("5.15.0-91-generic") == (5, 15)
    with pytest.raises(ProbeError):
        kernel_version("weird")


@pytest.mark.parametrize(
    ("release", "machine", "config", "hyp", "expected"),
    [
        ("6.18.44", "x86_64", Y, True, "v6.14-pt-reclaim"),
        ("6.14.0", "x86_64", Y, False, "v6.14-pt-reclaim"),
        ("6.16.1", "x86_64", None, False, "v6.14-pt-reclaim"),  # default PT_RECLAIM=y assumed
        ("6.16.1", "x86_64", N, False, "v6.15"),
        ("6.5.0", "x86_64", None, True, "v6.3-kvm-pv"),
        ("6.3.0", "x86_64", None, False, "v6.3-baremetal"),
        ("6.14.0", "x86_64", N, False, "v6.3-baremetal"),
        ("6.8.0", "aarch64", None, False, "v6.15"),
        ("7.0.0", "aarch64", Y, False, "v7.0-pt-reclaim"),
        ("7.2.13", "aarch64", Y, False, "v7.0-pt-reclaim"),
        ("7.2.13", "x86_64", Y, False, "v7.0-pt-reclaim"),  # the lab saw khugepaged's round
        ("7.2.13", "x86_64", Y, True, "v7.0-pt-reclaim"),
        ("7.1.0", "x86_64", None, False, "v7.0-pt-reclaim"),
        ("7.1.0", "ppc64le", None, False, "v7.1-sync-rcu"),
        ("7.1.0", "aarch64", N, False, "v7.1-sync-rcu"),
        ("7.0.0", "ppc64le", N, False, "v6.15"),
    ],
)
def test_match_profile(release, machine, config, hyp, expected):
    m = match_profile(release, machine, config, "/proc/config.gz", hyp)
    assert m.name == expected
    assert m.profile is get_profile(expected)
    assert any(release in b for b in m.basis)


def test_match_profile_caveats():
    assert any("assumed" in c for c in match_profile("6.16.1", "x86_64", None).caveats)
    assert any(
        "PV TLB flush" in c for c in match_profile("6.5.0", "x86_64", None, None, True).caveats
    )
    no_rcu = {"CONFIG_MMU_GATHER_RCU_TABLE_FREE": "n"}
    assert any("no-op" in c for c in match_profile("6.1.0", "x86_64", no_rcu).caveats)
    assert match_profile("6.18.44", "x86_64", Y).caveats == ()


def test_fresh_slot_tables():
    t = tables_in_fresh_slot(SLOT, SLOT + 256 * 2 * MIB)  # 512 MiB of THPs
    assert (t.pte, t.pmd, t.pud) == (256, 1, 1)
    t = tables_in_fresh_slot(SLOT + MIB, SLOT + 65 * MIB)
    assert (t.pte, t.pmd, t.pud) == (33, 1, 1)
    t = tables_in_fresh_slot(SLOT, SLOT + 1536 * MIB)  # 1.5 GiB: two PMD tables
    assert t.pmd == 2


def test_split_frees_nothing():
    hole = SLOT + MIB
    assert split_tables_freed(hole, hole + 4096) == 0


def test_collapse_policies():
    prof = get_profile("v6.14-pt-reclaim")
    assert collapse_sync_rounds("sync_ipi", prof) == 1.0
    assert collapse_sync_rounds("rcu_free", prof) == 0.0
    # PT_RECLAIM frees a failed table by RCU: no IPI even when the allocation always fails
    assert collapse_sync_rounds("fresh_table", prof, gfp_nowait_fail_p=1.0) == 0.0
    v615 = get_profile("v6.15")
    assert collapse_sync_rounds("fresh_table", v615, gfp_nowait_fail_p=0.0) == 0.0
    assert collapse_sync_rounds("fresh_table", v615, gfp_nowait_fail_p=0.25) == pytest.approx(0.25)
    with pytest.raises(ValueError):
        collapse_sync_rounds("nope", prof)


def test_broadcast_reaches_each_other_cpu_once():
    for cpus in (2, 4, 64):
        assert broadcast_per_other_cpu(cpus) == 1.0


@pytest.mark.parametrize("neighbours", ["isolated", "adjacent"])
@pytest.mark.parametrize(("size", "offset"), [(64 * MIB, MIB), (16 * MIB, 0), (3 * MIB, 4096)])
def test_munmap_prediction_is_the_gather_front_end(neighbours, size, offset):
    start = SLOT + offset
    end = start + size
    floor, ceiling = (0, None) if neighbours == "isolated" else (start, end)
    p = munmap_prediction(size, offset, neighbours, start, end, floor, ceiling, "v6.15", 4)
    assert p.tables == munmap_tables(size / MIB, neighbours, offset // 1024)
    assert p.tables_at_addresses == p.tables  # the probe layout is the front end's layout
    assert p.fallbacks_mean == 0.0 and p.sync_ipis_per_other_cpu == 0.0


def test_munmap_prediction_counts():
    p = munmap_prediction(
        64 * MIB,
        MIB,
        "adjacent",
        SLOT + MIB,
        SLOT + 65 * MIB,
        SLOT + MIB,
        SLOT + 65 * MIB,
        "v6.14-pt-reclaim",
        2,
    )
    assert (p.tables.pte, p.tables.pmd, p.tables.pud) == (31, 0, 0)
    p = munmap_prediction(
        64 * MIB, MIB, "isolated", SLOT + MIB, SLOT + 65 * MIB, 0, None, "v6.3-baremetal", 2
    )
    assert p.tables.total == 35 and p.fallbacks_mean == 0.0
