"""Real runs of ``mcstudy lab --kernel 6.12`` and ``--kernel 7.2`` on arm64 with the default
pressure levels (0, 300, 400 MiB; 2000 gathers each on 7.2, 4000 on 6.12, whose 2000 gave
99 fallbacks) and the khugepaged phase, recorded
with ``--console-log`` on a 2-core machine without KVM; the row logic is checked on them
without an emulator.

* 6.12.118 (trixie, no PT_RECLAIM): profile v6.15, every fallback sends a round, one
  sync-IPI callback per fallback on the other vCPU;
* 7.2.13 (sid, CONFIG_PT_RECLAIM=y): profile v7.0-pt-reclaim, every fallback frees its
  table by call_rcu(__tlb_remove_table_one_rcu), no round, 0 callbacks per fallback.

On both, khugepaged's collapse_huge_page() sends one round per collapse."""

from __future__ import annotations

import gzip
from dataclasses import replace

import pytest

from mcstudy.lab.arch import get_arch
from mcstudy.lab.console import parse_console
from mcstudy.lab.dataset import build_lab_dataset
from mcstudy.lab.experiment import analyse
from mcstudy.lab.guestrun import LabRequest, kernel_cmdline
from mcstudy.lab.table import render_lab_table
from tests.lab.conftest import LAB, recorded

KERNELS = {
    # line: (console, package, release, PT_RECLAIM, profile, IPIs per fallback, gathers)
    "6.12": (
        "console-arm64-6.12-300-400.txt.gz",
        "linux-image-6.12.118+deb13-cloud-arm64-unsigned",
        "6.12.118+deb13-cloud-arm64",
        False,
        "v6.15",
        1.0,
        4000,
    ),
    "7.2": (
        "console-arm64-7.2-300-400.txt.gz",
        "linux-image-7.2.13+deb14-cloud-arm64",
        "7.2.13+deb14-cloud-arm64",
        True,
        "v7.0-pt-reclaim",
        0.0,
        2000,
    ),
}


def analysed(line: str, tmp_path):
    name, pkg, release, pt_reclaim, _, _, gathers = KERNELS[line]
    _, _, prep = recorded("arm64", tmp_path)
    config = tmp_path / f"config-{release}"
    config.write_text(
        "CONFIG_MMU_GATHER_TABLE_FREE=y\nCONFIG_MMU_GATHER_RCU_TABLE_FREE=y\n"
        + ("CONFIG_PT_RECLAIM=y\n" if pt_reclaim else "# CONFIG_PT_RECLAIM is not set\n")
    )
    prep = replace(prep, kernel_package=pkg, release=release, config=str(config))
    console = parse_console(gzip.decompress((LAB / name).read_bytes()).decode())
    req = LabRequest(arch="arm64", gathers=gathers)
    spec = get_arch("arm64")
    return analyse(console, req, spec, prep, kernel_cmdline(req, spec), 300.0)


@pytest.mark.parametrize("line", sorted(KERNELS))
def test_recorded_run_under_pressure(line, tmp_path):
    _, _, release, _, profile, ipis, _ = KERNELS[line]
    res = analyse_ = analysed(line, tmp_path)
    assert res.facts["release"] == release and res.profile.name == profile
    by = {(r.phase, r.quantity): r for r in res.rows}
    fb = by[("fallback", "fallbacks_observed")]
    under_pressure = sum(g.failures for lv in res.levels if lv.mib > 0 for g in lv.gathers)
    assert fb.measured == fb.predicted == under_pressure >= 100
    # the path the fallbacks took is the version's
    rounds = sum(g.syncs for lv in res.levels for g in lv.gathers)
    rcu = sum(g.rcu_frees for lv in res.levels for g in lv.gathers)
    assert (rounds, rcu) == ((fb.measured, 0) if ipis else (0, fb.measured))
    ipi = by[("fallback", "sync_ipis_per_fallback")]
    assert ipi.predicted == ipis and ipi.agrees
    assert ipi.measured == pytest.approx(ipis, abs=0.02)
    # every deterministic row agrees; the law and zone rows report what they find
    for key in (
        ("munmap", "tables_per_gather"),
        ("munmap", "gathers_off_prediction"),
        ("munmap", "tlb_remove_table_per_gather"),
        ("fallback", "fail_rule"),
        ("khugepaged", "collapses_observed"),
        ("khugepaged", "collapse_rounds"),
        ("khugepaged", "sync_ipis_per_collapse"),
    ):
        assert by[key].agrees, key
    assert by[("khugepaged", "collapses_observed")].measured == 16
    assert by[("khugepaged", "sync_ipis_per_collapse")].measured == pytest.approx(1.0, abs=0.1)
    w = by[("fallback", "fallback_wait_us")]
    if line == "7.2":
        assert res.support.has("rcu_callback") and res.support.has("sync_rcu")
        assert w.measured == 0.0 and w.agrees  # 7.2 has tlb_remove_table_sync_rcu(), unused here
    else:
        assert "tlb_remove_table_sync_rcu" in w.not_measurable  # 6.12 has no such function
    # the share of fallbacks freed by call_rcu(): all on 7.2; 6.12 has no such callback
    rcu = by[("fallback", "rcu_frees_per_fallback")]
    if line == "7.2":
        assert (rcu.measured, rcu.predicted, rcu.agrees) == (1.0, 1.0, True)
    else:
        assert "__tlb_remove_table_one_rcu" in rcu.not_measurable and rcu.predicted == 0.0
    ds = build_lab_dataset(analyse_, {})
    assert ds.attrs["kernel_release"] == release
    text = render_lab_table(ds)
    assert f"kernel profile: {profile}" in text and "khugepaged collapses" in text


def test_recorded_amd64_6_12_run(tmp_path):
    """``mcstudy lab --arch amd64 --kernel 6.12`` (2000 gathers, no churn; 1 min 23 s):
    x86-64 6.12 below 6.14 frees page tables with tlb_remove_page() (profile
    v6.3-baremetal: no tlb_remove_table() call), yet khugepaged's collapse still sends
    its round (RCU table freeing is compiled in: PARAVIRT)."""
    _, _, prep = recorded("amd64", tmp_path)
    config = tmp_path / "config-6.12.118+deb13-cloud-amd64"
    config.write_text(
        "CONFIG_MMU_GATHER_TABLE_FREE=y\nCONFIG_MMU_GATHER_RCU_TABLE_FREE=y\n"
        "# CONFIG_PT_RECLAIM is not set\n"
    )
    prep = replace(
        prep,
        kernel_package="linux-image-6.12.118+deb13-cloud-amd64-unsigned",
        release="6.12.118+deb13-cloud-amd64",
        config=str(config),
    )
    console = parse_console(
        gzip.decompress((LAB / "console-amd64-6.12-0.txt.gz").read_bytes()).decode()
    )
    req = LabRequest(arch="amd64", levels=(0,))
    spec = get_arch("amd64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 77.0)
    assert res.facts["release"] == "6.12.118+deb13-cloud-amd64"
    assert res.profile.name == "v6.3-baremetal"
    by = {(r.phase, r.quantity): r for r in res.rows}
    assert all(r.agrees for r in res.rows)
    assert by[("munmap", "tlb_remove_table_per_gather")].measured == 0.0
    assert by[("munmap", "tables_per_gather")].measured == 66.0
    assert by[("khugepaged", "collapses_observed")].measured == 16
    assert by[("khugepaged", "collapse_rounds")].measured == 1.0
    assert by[("khugepaged", "sync_ipis_per_collapse")].measured == pytest.approx(1.0, abs=0.1)
