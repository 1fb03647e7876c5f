"""The lab in the emulator: a short run of each guest (marker ``lab``; about a minute each).

They skip, saying why, when QEMU, the compiler or the cached guest kernel is missing
(``mcstudy lab --setup --arch ARCH`` prepares them; ``.ci/run`` does).
"""

from __future__ import annotations

import shutil

import pytest

from mcstudy.lab.arch import cache_dir, get_arch
from mcstudy.lab.guestrun import LabRequest
from mcstudy.lab.setup import load_manifest, missing_tools

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def ready(arch: str) -> None:
    spec = get_arch(arch)
    missing = missing_tools(spec)
    if missing:
        pytest.skip(f"lab {arch}: {', '.join(missing)} not installed (mcstudy lab --setup)")
    if load_manifest(spec, cache_dir()) is None:
        pytest.skip(f"lab {arch}: no guest kernel in {cache_dir()} (mcstudy lab --setup)")
    if shutil.which(spec.qemu) is None:  # pragma: no cover - covered by missing_tools
        pytest.skip(f"lab {arch}: {spec.qemu} not installed")


def rows(ds):
    return {
        (str(p), str(q)): (float(m), float(pr), bool(a))
        for p, q, m, pr, a in zip(
            ds.check_phase.values,
            ds.quantity.values,
            ds.measured.values,
            ds.predicted.values,
            ds.agrees.values,
            strict=True,
        )
    }


def test_arm64_short_run_under_pressure():
    ready("arm64")
    from mcstudy.lab.cli import run_lab

    ds = run_lab(LabRequest(arch="arm64", gathers=300, levels=(350,), blocks=4), cache_dir())
    r = rows(ds)
    assert r[("munmap", "tables_per_gather")] == (66.0, 66.0, True)
    assert r[("munmap", "gathers_off_prediction")][2]
    fb = r[("fallback", "fallbacks_observed")]
    assert fb[0] == fb[1] and fb[2]
    if fb[0] > 0:
        assert r[("fallback", "sync_ipis_per_fallback")][2]
        # every failed attempt should follow free <= min at its check; a real guest's
        # trace from two vCPUs may break that for a rare attempt (1 of 468 in one CI
        # run), which the row's own Wilson noise interval decides
        assert r[("fallback", "fail_rule")][2]
    assert ("zone 350 MiB", "nowait_fail_prob") in r
    # the khugepaged phase after the level: every 2 MiB range collapsed, one round each
    assert r[("khugepaged", "collapses_observed")][2]
    assert r[("khugepaged", "collapse_rounds")][2]
    assert r[("khugepaged", "sync_ipis_per_collapse")][2]


def test_amd64_short_run_never_calls_tlb_remove_table():
    ready("amd64")
    from mcstudy.lab.cli import run_lab

    ds = run_lab(LabRequest(arch="amd64", gathers=200, levels=(0,), blocks=4), cache_dir())
    r = rows(ds)
    assert r[("munmap", "tlb_remove_table_per_gather")] == (0.0, 0.0, True)
    assert r[("munmap", "tables_per_gather")] == (66.0, 66.0, True)
