"""The policy tables (``mcstudy.kernel.policies``): one module names the policies, codes are
tied to names, and the kernels do what each row's flags say."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from mcstudy.kernel import policies as P
from mcstudy.kernel.ipi import ipi_targets
from tests.paths import REPO
from tests.simulate import simulate_model

PACKAGE = REPO / "mcstudy"
POLICY_MODULE = PACKAGE / "kernel" / "policies.py"


def _string_literals(path) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_ipi_and_collapse_names_are_literals_in_one_module_only():
    names = set(P.IPI_POLICIES) | set(P.COLLAPSE_POLICIES)
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in names & _string_literals(path):
            where.setdefault(name, []).append(str(path.relative_to(REPO)))
    outside = {
        n: [f for f in files if f != "mcstudy/kernel/policies.py"] for n, files in where.items()
    }
    assert not {n: f for n, f in outside.items() if f}, outside
    assert set(where) == names  # every name is in the table module


@pytest.mark.parametrize("rows", [P.IPI_TABLE, P.COLLAPSE_TABLE, P.TABLE_POLICY_TABLE])
def test_codes_are_positions_and_names_unique(rows):
    assert [r.code for r in rows] == list(range(len(rows)))
    assert len({r.name for r in rows}) == len(rows)
    assert sum(r.mainline for r in rows) == 1


def test_lookup_and_flag_arrays_follow_the_rows():
    for pol in P.IPI_TABLE:
        assert P.ipi_policy(pol.name) is pol
        assert P.IPI_SENDS[pol.code] == pol.sends_rounds
        assert P.IPI_MM_ONLY[pol.code] == pol.mm_only
        assert P.IPI_KERNEL_ONLY[pol.code] == pol.kernel_mode_only
    for col in P.COLLAPSE_TABLE:
        assert P.collapse_policy(col.name) is col
        assert P.COLLAPSE_FRESH[col.code] == col.fresh_table
        assert P.COLLAPSE_OLD_RCU[col.code] == col.old_table_by_rcu
    for t in P.TABLE_POLICY_TABLE:
        assert P.table_policy(t.name) is t
    assert P.TABLE_DEPOSIT_CODE == P.table_policy(P.MAINLINE_TABLE).code
    with pytest.raises(ValueError, match="unknown ipi_policy 'nope'; known: "):
        P.ipi_policy("nope")


def test_policies_module_is_hashed_with_the_kernels():
    """Its constants are frozen into @njit code: editing it must start a fresh cache."""
    from mcstudy.engine.jitcache import kernel_sources

    assert POLICY_MODULE.resolve() in {p.resolve() for p in kernel_sources()}


@pytest.mark.parametrize("pol", P.IPI_TABLE, ids=lambda p: p.name)
def test_ipi_targets_follow_flags(pol):
    t = ipi_targets(pol.name, online_cpus=10, mm_cpus=4, kernel_mode_fraction=0.25)
    if not pol.sends_rounds:
        assert (t.targets, t.deliver_prob) == (0, 0.0)
    else:
        assert t.targets == (3 if pol.mm_only else 9)
        assert t.deliver_prob == (0.25 if pol.kernel_mode_only else 1.0)


_THP = dict(
    horizon_s=20.0,
    warmup_s=0.0,
    fault_rate=2.0,
    lifetime_s=1.0,
    collapse_rate=20.0,
    gather_rate=0.0,
    gfp_nowait_fail_p=0.0,
    kernel="v6.15",
    online_cpus=8,
    isolated_cpus=2,
    mm_cpus=3,
    rt_cycle_us=10000.0,
)


def _thp_tallies(**params):
    tallies, _, _ = simulate_model("thp", dict(_THP, **params), 8, 3, 0, 4)
    return tallies


@pytest.mark.parametrize("pol", P.IPI_TABLE, ids=lambda p: p.name)
def test_thp_kernel_branch_per_ipi_code(pol):
    """The RT kernel, given each code, does what the row's flags say: rounds only if it
    sends them; none reach the isolated CPU outside the RT mm if it targets only the mm,
    nor in user mode if it targets only kernel mode."""
    outside_mm = _thp_tallies(ipi_policy=pol.name, rt_mm_share=0.0, rt_user_fraction=0.0)
    in_user = _thp_tallies(ipi_policy=pol.name, rt_mm_share=1.0, rt_user_fraction=1.0)
    assert outside_mm["collapses"] > 0
    assert (outside_mm["collapse_rounds"] > 0) == pol.sends_rounds
    assert (outside_mm["collapse_iso"] > 0) == (pol.sends_rounds and not pol.mm_only)
    assert (in_user["collapse_iso"] > 0) == (pol.sends_rounds and not pol.kernel_mode_only)


@pytest.mark.parametrize("col", P.COLLAPSE_TABLE, ids=lambda c: c.name)
def test_thp_kernel_branch_per_collapse_code(col):
    """No fresh table: one round per collapse. A fresh table (never failing here): the old
    one by call_rcu() (an RCU free per collapse) or by a tlb_remove_table() that never
    falls back (nothing)."""
    t = _thp_tallies(collapse_policy=col.name, ipi_policy=P.MAINLINE_IPI, fresh_table_gfp="kernel")
    assert t["collapses"] > 0
    assert t["collapse_rounds"] == (0 if col.fresh_table else t["collapses"])
    assert t["rcu_frees"] == (t["collapses"] if col.old_table_by_rcu else 0)


def test_host_kernel_branch_per_variant():
    """Every (IPI, collapse) variant of the host kernel, on common random numbers: the same
    collapses, rounds as the flags say."""
    from mcstudy.models.host.kernels import IPI_VARIANTS, ipi_prefix
    from mcstudy.models.host.scenarios import SMALL_BURSTY_HOST

    params = dict(SMALL_BURSTY_HOST, horizon_s=10.0, khugepaged_collapse_rate=5.0)
    tallies, _, _ = simulate_model("host", params, 4, 1, 0, 4)
    collapses = {tallies[ipi_prefix(v) + "collapses"] for v in range(len(IPI_VARIANTS))}
    assert len(collapses) == 1 and collapses.pop() > 0
    for v, (ipi, col) in enumerate(IPI_VARIANTS):
        rounds = tallies[ipi_prefix(v) + "collapse_rounds"]
        if not P.ipi_policy(ipi).sends_rounds:
            assert rounds == 0, (ipi, col)
        elif not P.collapse_policy(col).fresh_table:
            assert rounds == tallies[ipi_prefix(v) + "collapses"], (ipi, col)


def test_round_delivery_matches_flags():
    for pol in P.IPI_TABLE:
        q = P.round_delivery(pol, 0.5, 0.25)
        expect = (
            0.0
            if not pol.sends_rounds
            else (0.5 if pol.mm_only else 1.0) * (0.25 if pol.kernel_mode_only else 1.0)
        )
        assert q == pytest.approx(expect)
    assert np.all(P.IPI_SENDS == np.array([p.sends_rounds for p in P.IPI_TABLE]))
