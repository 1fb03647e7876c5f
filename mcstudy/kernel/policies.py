"""The policy tables: every IPI, collapse and table policy, once (``docs/model.md`` §2.10,
§5.6, §5.4; the kernel profiles are the table of ``mcstudy.kernel.profiles``).

Each row names a policy, gives its integer code (its position: what a kernel reads), the
behaviour flags that say what it does, and its prose for reports. Everything else derives
from these rows: the ``Literal`` types of the parameters, the integer constants and flag
arrays the ``@njit`` kernels read (Numba freezes module-level ints and arrays into the
machine code; ``mcstudy.engine.jitcache`` hashes this file with the kernels because it
names ``@njit``), the exact solvers, the reference simulators, the probe's and lab's
predictions, the validation cases and the report's text.

No code outside this module branches on a policy's name: it asks a flag. A policy that
only combines existing behaviours is one new row (and a line in the docs); see
``docs/contributing-policies.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class IpiPolicy:
    """Who receives a synchronous page-table IPI round (``tlb_remove_table_sync_one()``)."""

    name: str
    code: int
    sends_rounds: bool
    """A sync is a real IPI round (False: no IPI; the table waits one RCU grace period,
    khugepaged in ``synchronize_rcu()``, a fallback table by ``call_rcu()``)."""
    mm_only: bool
    """Targets only the other CPUs of the mm's cpumask (False: every other online CPU).
    An isolated CPU runs only the RT task, so it sees only rounds of the RT mm's events."""
    kernel_mode_only: bool
    """A target receives the round only while it is in kernel mode."""
    prose: str
    """One line for reports: what the policy does."""
    mainline: bool = False
    """What the kernel does today."""


@dataclass(frozen=True)
class CollapsePolicy:
    """What ``collapse_huge_page()`` does with the old PTE table (khugepaged)."""

    name: str
    code: int
    fresh_table: bool
    """Allocates a fresh table for the deposit and frees the old one (False: one sync
    round, the old table becomes the deposit)."""
    old_table_by_rcu: bool
    """With ``fresh_table``: the old table is freed by ``call_rcu()`` (no round); else
    through an mmu_gather of one table, i.e. one ``tlb_remove_table()``."""
    prose: str
    mainline: bool = False


@dataclass(frozen=True)
class TablePolicy:
    """Where a PMD split finds the PTE table it needs (the THP model's ``table_policy``)."""

    name: str
    code: int
    deposit: bool
    """Withdraws the table deposited at fault time (never allocates)."""
    per_cpu_cache: bool
    """Takes a table from a per-CPU cache of ``cache_k`` tables, else allocates."""
    prose: str
    mainline: bool = False


IPI_TABLE: tuple[IpiPolicy, ...] = (
    IpiPolicy(
        "broadcast",
        0,
        sends_rounds=True,
        mm_only=False,
        kernel_mode_only=False,
        prose="every other online CPU (mainline)",
        mainline=True,
    ),
    IpiPolicy(
        "mm_cpumask",
        1,
        sends_rounds=True,
        mm_only=True,
        kernel_mode_only=False,
        prose="only the other CPUs in the mm's cpumask",
    ),
    IpiPolicy(
        "kernel_mode",
        2,
        sends_rounds=True,
        mm_only=True,
        kernel_mode_only=True,
        prose="only the other mm CPUs that are in kernel mode at that moment",
    ),
    IpiPolicy(
        "rcu",
        3,
        sends_rounds=False,
        mm_only=False,
        kernel_mode_only=False,
        prose="no IPI; the table waits one RCU grace period",
    ),
)

COLLAPSE_TABLE: tuple[CollapsePolicy, ...] = (
    CollapsePolicy(
        "sync_ipi",
        0,
        fresh_table=False,
        old_table_by_rcu=False,
        prose="one synchronous IPI round; the old table becomes the deposit (mainline)",
        mainline=True,
    ),
    CollapsePolicy(
        "fresh_table",
        1,
        fresh_table=True,
        old_table_by_rcu=False,
        prose="a fresh table is deposited; the old one goes through tlb_remove_table()",
    ),
    CollapsePolicy(
        "rcu_free",
        2,
        fresh_table=True,
        old_table_by_rcu=True,
        prose="a fresh table is deposited; the old one is freed by call_rcu()",
    ),
)

TABLE_POLICY_TABLE: tuple[TablePolicy, ...] = (
    TablePolicy(
        "deposit",
        0,
        deposit=True,
        per_cpu_cache=False,
        prose="withdraw the table deposited at fault time (mainline)",
        mainline=True,
    ),
    TablePolicy(
        "on_demand",
        1,
        deposit=False,
        per_cpu_cache=False,
        prose="allocate a table at split time",
    ),
    TablePolicy(
        "cache_k",
        2,
        deposit=False,
        per_cpu_cache=True,
        prose="take a table from a per-CPU cache of cache_k tables, else allocate",
    ),
)


@dataclass(frozen=True)
class SplitTableVariant:
    """One split-time table source the host study evaluates on every sequence: on demand
    with a GFP flag, or a per-CPU cache of ``cache_k`` tables refilled in the background."""

    name: str
    cache_k: int
    """Tables per CPU cache (0: no cache, allocate on demand)."""
    atomic: bool
    """The on-demand allocation is GFP_ATOMIC (False: GFP_NOWAIT)."""
    prose: str


HOST_CACHE_SIZES = (1, 2, 4, 8, 16, 64)
SPLIT_TABLE_VARIANTS: tuple[SplitTableVariant, ...] = (
    SplitTableVariant("on_demand", 0, False, "on demand, GFP_NOWAIT"),
    SplitTableVariant("on_demand_atomic", 0, True, "on demand, GFP_ATOMIC"),
    *(
        SplitTableVariant(f"cache_{k}", k, False, f"per-CPU cache of {k} tables, then GFP_NOWAIT")
        for k in HOST_CACHE_SIZES
    ),
)


def _check(rows: tuple, family: str) -> None:
    """Codes are the positions; names unique; exactly one mainline row."""
    for i, row in enumerate(rows):
        if row.code != i:
            raise AssertionError(f"{family} policy {row.name}: code {row.code} != position {i}")
    if len({r.name for r in rows}) != len(rows):
        raise AssertionError(f"{family} policy names repeat")
    if sum(r.mainline for r in rows) != 1:
        raise AssertionError(f"{family}: exactly one mainline policy")


_check(IPI_TABLE, "IPI")
_check(COLLAPSE_TABLE, "collapse")
_check(TABLE_POLICY_TABLE, "table")

# ---- names, Literal types, look-up
IPI_POLICIES: tuple[str, ...] = tuple(p.name for p in IPI_TABLE)
COLLAPSE_POLICIES: tuple[str, ...] = tuple(p.name for p in COLLAPSE_TABLE)
TABLE_POLICIES: tuple[str, ...] = tuple(p.name for p in TABLE_POLICY_TABLE)
IpiPolicyName = Literal[IPI_POLICIES]  # type: ignore[valid-type]
CollapsePolicyName = Literal[COLLAPSE_POLICIES]  # type: ignore[valid-type]
TablePolicyName = Literal[TABLE_POLICIES]  # type: ignore[valid-type]
MAINLINE_IPI: str = next(p.name for p in IPI_TABLE if p.mainline)
MAINLINE_COLLAPSE: str = next(p.name for p in COLLAPSE_TABLE if p.mainline)
MAINLINE_TABLE: str = next(p.name for p in TABLE_POLICY_TABLE if p.mainline)


def _lookup(rows: tuple, family: str, name: str):
    for row in rows:
        if row.name == name:
            return row
    known = ", ".join(r.name for r in rows)
    raise ValueError(f"unknown {family} {name!r}; known: {known}")


def ipi_policy(name: str) -> IpiPolicy:
    """The row of IPI policy ``name`` (ValueError naming the known ones otherwise)."""
    return _lookup(IPI_TABLE, "ipi_policy", name)


def collapse_policy(name: str) -> CollapsePolicy:
    """The row of collapse policy ``name``."""
    return _lookup(COLLAPSE_TABLE, "collapse_policy", name)


def table_policy(name: str) -> TablePolicy:
    """The row of table policy ``name``."""
    return _lookup(TABLE_POLICY_TABLE, "table_policy", name)


# ---- what the @njit kernels read: codes and per-code flag arrays (frozen constants)
IPI_MAINLINE_CODE = ipi_policy(MAINLINE_IPI).code
IPI_SENDS = np.array([p.sends_rounds for p in IPI_TABLE], dtype=np.bool_)
IPI_MM_ONLY = np.array([p.mm_only for p in IPI_TABLE], dtype=np.bool_)
IPI_KERNEL_ONLY = np.array([p.kernel_mode_only for p in IPI_TABLE], dtype=np.bool_)
COLLAPSE_FRESH = np.array([p.fresh_table for p in COLLAPSE_TABLE], dtype=np.bool_)
COLLAPSE_OLD_RCU = np.array([p.old_table_by_rcu for p in COLLAPSE_TABLE], dtype=np.bool_)
TABLE_DEPOSIT_CODE = table_policy("deposit").code
TABLE_ON_DEMAND_CODE = table_policy("on_demand").code
TABLE_CACHE_CODE = table_policy("cache_k").code


def round_delivery(policy: IpiPolicy, rt_mm_share: float, kernel_prob: float) -> float:
    """P(one round reaches the tagged isolated CPU): it must be sent, the event must be in
    the RT mm if the policy targets only the mm, and the CPU in kernel mode if it must be."""
    if not policy.sends_rounds:
        return 0.0
    share = rt_mm_share if policy.mm_only else 1.0
    return share * kernel_prob if policy.kernel_mode_only else share


def _first_with(rows: tuple, family: str, flags: dict[str, bool]) -> str:
    for row in rows:
        if all(getattr(row, k) == v for k, v in flags.items()):
            return row.name
    raise ValueError(f"no {family} policy with {flags}")


def ipi_with(**flags: bool) -> str:
    """The first IPI policy whose flags are ``flags`` (e.g. the one a test or a warm-up
    needs for a behaviour, without naming it)."""
    return _first_with(IPI_TABLE, "IPI", flags)


def collapse_with(**flags: bool) -> str:
    """The first collapse policy whose flags are ``flags``."""
    return _first_with(COLLAPSE_TABLE, "collapse", flags)
