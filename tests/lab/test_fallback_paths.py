"""Fallbacks counted on every kernel, whatever its fallback does (mm/mmu_gather.c):

* up to 7.0 without PT_RECLAIM (Debian's 6.1 and 6.12 arm64): ``tlb_remove_table_one()``
  sends a round, ``smp_call_function(tlb_remove_table_smp_sync)`` (the ``sync`` event);
* with PT_RECLAIM (7.2 arm64): ``call_rcu(&ptdesc->pt_rcu_head,
  __tlb_remove_table_one_rcu)``, no round (the ``rcufree`` event);
* from 7.1 without PT_RECLAIM: ``tlb_remove_table_sync_rcu()`` = ``synchronize_rcu()``,
  the task waits (``rcuwait``/``rcuwaited``).

The recorded 6.1 arm64 run is rewritten as each of these kernels would have traced it (its
rounds become call_rcu() events, or grace-period waits), and the rows are checked."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from mcstudy.lab.arch import get_arch
from mcstudy.lab.console import Console
from mcstudy.lab.errors import LabError
from mcstudy.lab.experiment import analyse
from mcstudy.lab.guestdata import parse_trace
from mcstudy.lab.guestrun import kernel_cmdline
from mcstudy.lab.support import fallback_path, parse_support
from tests.lab.test_support import SUPPORT_7X

SYNC = re.compile(r"sync: \(smp_call_function\+0x0/0x40\) func=0x[0-9a-f]+")


def as_kernel(console: Console, event: str) -> Console:
    """The console with every round of the workload replaced by ``event``'s lines."""
    levels = []
    for lv in console.levels:
        text = lv.files["trace"]
        if event == "rcufree":
            text = SYNC.sub("rcufree: (call_rcu+0x0/0x20) func=0xffff800080123450", text)
        elif event == "wait":
            out = []
            for line in text.splitlines():
                if SYNC.search(line):
                    ts = float(line.split()[3].rstrip(":"))
                    head = line[: line.index("[")]
                    out.append(f"{head}[001] .....  {ts:.6f}: rcuwait: (tlb_remove_table_sync_rcu)")
                    out.append(
                        f"{head}[001] .....  {ts + 0.0125:.6f}: rcuwaited: "
                        "(tlb_remove_table+0x1a0/0x1e4 <- tlb_remove_table_sync_rcu)"
                    )
                else:
                    out.append(line)
            text = "\n".join(out) + "\n"
        elif event == "none":
            text = "\n".join(ln for ln in text.splitlines() if not SYNC.search(ln)) + "\n"
        levels.append(replace(lv, files={**lv.files, "trace": text}))
    return replace(console, levels=levels)


def run(arm64_run, support: str, event: str, pt_reclaim: bool):
    console, req, prep = arm64_run
    if pt_reclaim:
        with open(prep.config) as f:
            text = f.read().replace("# CONFIG_PT_RECLAIM is not set", "CONFIG_PT_RECLAIM=y")
        with open(prep.config, "w") as f:
            f.write(text)
    console = replace(as_kernel(console, event), files={**console.files, "support": support})
    spec = get_arch("arm64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 60.0)
    return res, {(r.phase, r.quantity): r for r in res.rows}


def failed(res) -> int:
    return sum(g.failures for lv in res.levels for g in lv.gathers)


def test_rounds_are_fallbacks_on_6_1(arm64_run):
    res, by = run(arm64_run, SUPPORT_7X, "sync", pt_reclaim=False)
    fb = by[("fallback", "fallbacks_observed")]
    assert fb.measured == fb.predicted == failed(res) > 0
    assert "rounds" in fb.source and "0 call_rcu" in fb.source
    assert by[("fallback", "sync_ipis_per_fallback")].predicted == 1.0
    w = by[("fallback", "fallback_wait_us")]
    assert w.measured == 0.0 and w.agrees


def test_call_rcu_fallbacks_on_a_pt_reclaim_kernel(arm64_run):
    """7.2 arm64: the fallback frees by call_rcu(); each is counted, and the profile
    (PT_RECLAIM) predicts no sync IPI per fallback."""
    res, by = run(arm64_run, SUPPORT_7X, "rcufree", pt_reclaim=True)
    assert res.profile.name == "v6.14-pt-reclaim"
    fb = by[("fallback", "fallbacks_observed")]
    n = failed(res)
    assert fb.measured == n > 0 and fb.agrees
    assert f"0 rounds smp_call_function(tlb_remove_table_smp_sync), {n} call_rcu" in fb.source
    assert sum(g.rcu_frees for lv in res.levels for g in lv.gathers) == n
    ipi = by[("fallback", "sync_ipis_per_fallback")]
    assert ipi.predicted == 0.0
    # the recorded callbacks were the 6.1 rounds: against 0 they disagree, as they must
    assert ipi.measured == pytest.approx(1.0, abs=0.05) and not ipi.agrees


def test_grace_period_waits_are_fallbacks_and_their_wait_is_measured(arm64_run):
    res, by = run(arm64_run, SUPPORT_7X, "wait", pt_reclaim=False)
    n = failed(res)
    assert by[("fallback", "fallbacks_observed")].measured == n
    w = by[("fallback", "fallback_wait_us")]
    assert w.measured == pytest.approx(12500.0, rel=1e-3)  # 12.5 ms per fallback
    assert not w.agrees  # the v6.15 profile's fallback sends a round, it does not wait


def test_without_a_path_probe_failed_attempts_count(arm64_run):
    text = (
        SUPPORT_7X.replace("role sync_callback tlb_remove_table_smp_sync", "role sync_callback -")
        .replace("role rcu_callback __tlb_remove_table_one_rcu", "role rcu_callback -")
        .replace("role sync_rcu tlb_remove_table_sync_rcu", "role sync_rcu -")
    )
    assert fallback_path(parse_support(text)) == ""
    res, by = run(arm64_run, text, "none", pt_reclaim=True)
    fb = by[("fallback", "fallbacks_observed")]
    assert fb.measured == failed(res) > 0 and "no probe on the fallback's path" in fb.source
    t = by[("munmap", "tables_per_gather")]
    assert math.isnan(t.measured) and "fallbacks are counted on their path" in t.not_measurable
    assert "tlb_remove_table_sync_rcu" in by[("fallback", "fallback_wait_us")].not_measurable


def test_a_wait_return_without_its_call_is_an_error():
    line = "  ptwork-1 [001] ..... {:.6f}: {}: (x)"
    text = "\n".join(
        [
            line.format(1.0, "gather"),
            line.format(1.1, "rcuwaited"),
            line.format(1.2, "finish"),
        ]
    )
    with pytest.raises(LabError, match="without its call"):
        parse_trace(text)


def test_a_sync_rcu_profile_predicts_a_wait_it_cannot_size(arm64_run, monkeypatch):
    """7.1 on without PT_RECLAIM (profile v7.1-sync-rcu): the fallback sleeps one RCU
    grace period in synchronize_rcu() (mm/mmu_gather.c, tlb_remove_table_sync_rcu()).
    The model gives no grace-period length: the row says "not predicted" with the reason
    (not 0 us) and checks only that the task waited."""
    import mcstudy.lab.experiment as experiment
    from mcstudy.probe.predict import ProfileMatch

    monkeypatch.setattr(
        experiment, "guest_profile", lambda facts, prep: ProfileMatch("v7.1-sync-rcu", (), ())
    )
    _, by = run(arm64_run, SUPPORT_7X, "wait", pt_reclaim=False)
    w = by[("fallback", "fallback_wait_us")]
    assert math.isnan(w.predicted) and "not predicted" in w.basis
    assert "synchronize_rcu()" in w.basis and "grace period" in w.not_predicted
    assert w.measured == pytest.approx(12500.0, rel=1e-3) and w.agrees
    # a kernel of that profile whose fallback did not wait disagrees
    _, none = run(arm64_run, SUPPORT_7X, "rcufree", pt_reclaim=False)
    w0 = none[("fallback", "fallback_wait_us")]
    assert w0.measured == 0.0 and not w0.agrees and math.isnan(w0.predicted)
    assert by[("fallback", "rcu_frees_per_fallback")].predicted == 0.0


def test_the_wait_row_of_a_sync_rcu_run_in_the_dataset_and_the_matrix(arm64_run, monkeypatch):
    import mcstudy.lab.experiment as experiment
    from mcstudy.lab.dataset import build_lab_dataset
    from mcstudy.lab.guestrun import LabRequest
    from mcstudy.lab.matrix import MatrixRun, build_matrix_dataset
    from mcstudy.lab.section import claim_cell
    from mcstudy.lab.table import verdict
    from mcstudy.probe.predict import ProfileMatch

    monkeypatch.setattr(
        experiment, "guest_profile", lambda facts, prep: ProfileMatch("v7.1-sync-rcu", (), ())
    )
    res, _ = run(arm64_run, SUPPORT_7X, "wait", pt_reclaim=False)
    ds = build_lab_dataset(res, {})
    i = [str(q) for q in ds.quantity.values].index("fallback_wait_us")
    assert "grace period" in str(ds.not_predicted.values[i]) and bool(ds.agrees.values[i])
    assert any("not predicted" in line for line in verdict(ds))
    mrun = MatrixRun("7.1", "arm64", LabRequest(arch="arm64"), status="ran", ds=ds)
    m = build_matrix_dataset([mrun], {})
    text, v = claim_cell(m, "7.1", "arm64", "fallback", "fallback_wait_us")
    assert v == "agrees" and text.startswith("12500 / not predicted (> 0)")
