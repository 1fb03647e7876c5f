"""The 7.x kernel profiles (``docs/model.md`` §2.3): their flags as the source says, the
host kernel following them, and the Answers naming what each kernel changes."""

from __future__ import annotations

import pytest

from mcstudy.kernel.profiles import PROFILES, KernelProfile, get_profile
from mcstudy.report.answering import answers_for
from mcstudy.storage.dataset import open_dataset, write_dataset
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import run_study
from tests.simulate import simulate_model


def test_seven_x_profiles_follow_the_source():
    """v7.0: PT_RECLAIM def_bool y -> call_rcu(); v7.1 without PT_RECLAIM ->
    synchronize_rcu() (no round, a wait); v7.2 x86 native flush -> khugepaged's
    tlb_remove_table_sync_one() returns early."""
    v70, v71, v72 = (
        get_profile(n) for n in ("v7.0-pt-reclaim", "v7.1-sync-rcu", "v7.2-x86-native")
    )
    for p in (v70, v71, v72):
        assert p.uses_tlb_remove_table and not p.fallback_sends_ipi and p.max_table_batch == 509
    assert not v70.fallback_waits_grace_period and v70.khugepaged_sync_ipi
    assert v71.fallback_waits_grace_period and v71.khugepaged_sync_ipi
    assert not v72.fallback_waits_grace_period and not v72.khugepaged_sync_ipi
    # the older profiles are unchanged: no waits anywhere before v7.1
    old = [p for n, p in PROFILES.items() if not n.startswith("v7.")]
    assert len(old) == 4 and not any(p.fallback_waits_grace_period for p in old)


def test_a_fallback_cannot_both_send_a_round_and_wait():
    with pytest.raises(ValueError, match="synchronize_rcu"):
        KernelProfile("bad", "", True, 509, True, True, fallback_waits_grace_period=True)


def _host(kernel: str) -> dict:
    from mcstudy.models.host.kernels import IPI_VARIANTS, ipi_prefix
    from mcstudy.models.host.scenarios import SMALL_BURSTY_HOST

    params = dict(SMALL_BURSTY_HOST, horizon_s=10.0, khugepaged_collapse_rate=5.0, kernel=kernel)
    tallies, _, _ = simulate_model("host", params, 4, 1, 0, 4)
    pre = ipi_prefix(IPI_VARIANTS.index(("broadcast", "sync_ipi")))
    names = ("fallbacks", "fallback_rounds", "collapses", "collapse_rounds")
    return {n: tallies[pre + n] for n in names}


def test_host_kernel_follows_the_seven_x_flags():
    """Mainline policies on a bursty host: v6.15 sends a round per fallback and per
    collapse; v7.1-sync-rcu none per fallback (the same fallbacks as call_rcu()'s
    all-or-nothing v7.0) but one per collapse; v7.2-x86-native none at all."""
    v615, v70, v71, v72 = (
        _host(k) for k in ("v6.15", "v7.0-pt-reclaim", "v7.1-sync-rcu", "v7.2-x86-native")
    )
    assert v615["fallbacks"] > 0 and v615["fallback_rounds"] == v615["fallbacks"]
    assert v615["collapse_rounds"] == v615["collapses"] > 0
    assert v71["fallbacks"] == v70["fallbacks"] > 0 and v71["fallback_rounds"] == 0
    assert v71["collapse_rounds"] == v71["collapses"] > 0
    assert v72["fallback_rounds"] == 0 and v72["collapses"] > 0 and v72["collapse_rounds"] == 0


KERNELS_TOML = """\
[study]
name = "tiny-kernels"
model = "host"
seed = 5
sequences = 4
block_size = 2

[params]
horizon_s = 40.0
host_memory_gib = 0.5
thp_lifetime_s = 60.0
zone_scale = 16
load = "bursts"

[sweep]
kernel = ["v6.15", "v7.0-pt-reclaim", "v7.1-sync-rcu", "v7.2-x86-native"]
"""


def test_answers_name_what_each_seven_x_kernel_changes(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text(KERNELS_TOML)
    ds = open_dataset(
        write_dataset(run_study(load_study(cfg), show_progress=False), tmp_path / "k.nc")
    )
    assert ds["kernel_fallback_waits_grace_period"].dims == ("kernel",)
    ans = answers_for(ds)
    item = next(i for i in ans.items if "kernel to kernel" in i.question)
    parts = dict(p.split(": ", 1) for p in item.answer.rstrip(".").split(". `"))
    assert set(parts) == {"`v6.15`", "v7.0-pt-reclaim`", "v7.1-sync-rcu`", "v7.2-x86-native`"}
    assert "sends a synchronous round" in parts["`v6.15`"]
    assert "call_rcu()" in parts["v7.0-pt-reclaim`"]
    assert "round per collapse" in parts["v7.0-pt-reclaim`"]
    wait = parts["v7.1-sync-rcu`"]
    assert "synchronize_rcu()" in wait and "(20 ms each)" in wait
    assert "s of blocked unmapping per host-hour" in wait and "[0, 0]" not in wait
    assert "no round of its own" in parts["v7.2-x86-native`"]
    fb = next(i for i in ans.items if "fallback fire" in i.question)
    assert "`v7.1-sync-rcu`" in fb.answer and "synchronize_rcu() wait" in fb.answer


def test_behaviour_text_follows_the_flags():
    """One sentence per profile, from its flags: the lab and the report both quote it."""
    from mcstudy.kernel.profiles import PROFILES

    for p in PROFILES.values():
        text = p.behaviour()
        assert ("bypass tlb_remove_table()" in text) == (not p.uses_tlb_remove_table)
        sends = p.uses_tlb_remove_table and p.fallback_sends_ipi
        assert ("a fallback sends a synchronous round" in text) == sends
        waits = p.uses_tlb_remove_table and p.fallback_waits_grace_period
        assert ("synchronize_rcu()" in text) == waits
        assert text.endswith("khugepaged sends its round" if p.khugepaged_sync_ipi else "no round")
