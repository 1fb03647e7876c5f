"""Measured versus predicted, row by row, within the measured background noise.

Each row reads one statistic from a phase's window (a counter delta or a sum of
per-CPU IPI counts, in its raw unit), subtracts its background mean (:mod:`noise`),
and maps the excess to the row's unit: ``measured = offset + slope * excess`` (for
example deposits per THP fault = (tables - PMD/PUD tables) / THPs). The noise
half-width scales by ``|slope|``. A row agrees iff |measured - predicted| <= half-width.

IPIs are read on the *other* CPUs only (the worker is pinned to the probe CPU). On
x86 every IPI that carries a TLB shootdown is also a function-call interrupt, so the
synchronous ``smp_call_function()`` IPIs are counted as ``CAL - TLB``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcstudy.kernel.policies import MAINLINE_COLLAPSE
from mcstudy.probe.noise import Background, background, burst_size, row_level
from mcstudy.probe.predict import (
    ProfileMatch,
    broadcast_per_other_cpu,
    collapse_sync_rounds,
    munmap_prediction,
    split_tables_freed,
    tables_in_fresh_slot,
)

TABLE_KB = 4  # one page table = 4 KiB (x86-64 / arm64 4 KiB pages)
SCOPES = ("this mm", "other CPUs", "machine")
"""What a row's counter sees: the worker's own mm (exact, no other process can move it),
the IPIs received by the other CPUs, or a machine-wide counter every process moves."""


def scope_of(source: str) -> str:
    """The scope (one of :data:`SCOPES`) of a row reading ``source``."""
    if source.startswith("VmPTE"):
        return "this mm"
    if source.startswith(("CAL", "TLB")):
        return "other CPUs"
    return "machine"


COLLAPSE_POLICY = MAINLINE_COLLAPSE

Window = dict[str, Any]
Statistic = Callable[[Window], float]


@dataclass(frozen=True)
class Spec:
    """One row before measurement: what to read and what the model says."""

    phase: str
    quantity: str
    label: str
    unit: str
    source: str
    statistic: Statistic
    predicted: float
    basis: str
    offset: float = 0.0
    slope: float = 1.0


@dataclass(frozen=True)
class Check:
    """One row: measured, predicted, noise half-width (row units) and the raw numbers."""

    phase: str
    quantity: str
    label: str
    unit: str
    source: str
    basis: str
    predicted: float
    phase_value: float
    background: Background
    offset: float
    slope: float

    @property
    def scope(self) -> str:
        return scope_of(self.source)

    @property
    def measured(self) -> float:
        return self.offset + self.slope * (self.phase_value - self.background.mean)

    @property
    def halfwidth(self) -> float:
        return abs(self.slope) * self.background.halfwidth

    @property
    def agrees(self) -> bool:
        tol = 1e-9 * max(1.0, abs(self.predicted))
        return abs(self.measured - self.predicted) <= self.halfwidth + tol


def _counter(name: str, per: float = 1.0, sign: float = 1.0) -> Statistic:
    return lambda w: sign * w["counters"][name] / per


def _sync_ipis(others: list[int]) -> Statistic:
    return lambda w: float(sum(w["cal"][i] - w["tlb"][i] for i in others))


def _tlb(others: list[int]) -> Statistic:
    return lambda w: float(sum(w["tlb"][i] for i in others))


def _ipi_rows(phase: str, others: list[int], cpu_text: str) -> list[Spec]:
    return [
        Spec(
            phase,
            "sync_ipis",
            "sync IPIs on the other CPUs",
            "IPIs",
            f"CAL - TLB on {cpu_text}",
            _sync_ipis(others),
            0.0,
            "no smp_call_function() in this path",
        ),
        Spec(
            phase,
            "tlb_shootdowns",
            "TLB shootdowns on the other CPUs",
            "IPIs",
            f"TLB on {cpu_text}",
            _tlb(others),
            0.0,
            "single-threaded mm pinned to the probe CPU: flush_tlb_mm_range() targets no other CPU",
        ),
    ]


def _vmpte(per: float = TABLE_KB, sign: float = 1.0) -> Statistic:
    return _counter("VmPTE_kB", per, sign)


def _pagetables(sign: float = 1.0) -> Statistic:
    return _counter("PageTables_kB", TABLE_KB, sign)


def _pagetables_row(phase: str, expected: float, why: str) -> Spec:
    """The machine-wide ``PageTables`` change of a phase, in tables."""
    return Spec(
        phase,
        "pagetables_allocated",
        "PageTables change",
        "tables",
        "meminfo (machine-wide)",
        _pagetables(),
        expected,
        why,
    )


def _vmpte_row(phase: str, expected: float, why: str) -> Spec:
    """The page tables this mm allocated in a phase (``VmPTE``), in tables."""
    return Spec(
        phase,
        "page_tables_allocated",
        "page tables allocated",
        "tables",
        "VmPTE (this mm)",
        _vmpte(),
        expected,
        why,
    )


def phase_specs(
    phase: dict[str, Any], profile: ProfileMatch, cpus: list[int], probe_cpu: int
) -> list[Spec]:
    """The rows of one phase (``phase`` as recorded by the worker)."""
    name, f = phase["name"], phase["facts"]
    others = [i for i, c in enumerate(cpus) if c != probe_cpu]
    online = len(cpus)
    cpu_text = "CPU " + ", ".join(str(cpus[i]) for i in others)
    if name == "thp_fault":
        m = f["thps_mapped"]
        fell_back = f["thps_requested"] - m  # 4 KiB faults: one PTE table each, no deposit
        fresh = tables_in_fresh_slot(f["start"], f["end"])
        upper = fresh.pmd + fresh.pud
        tables = f"{m} deposits + {fresh.pmd} PMD + {fresh.pud} PUD tables of a fresh 512 GiB slot"
        if fell_back:
            tables += f" + {fell_back} PTE tables of faults that fell back to 4 KiB pages"
        return [
            Spec(
                name,
                "thp_fault_alloc",
                "THP faults (thp_fault_alloc)",
                "events",
                "vmstat (machine-wide)",
                _counter("thp_fault_alloc"),
                float(m),
                f"{m} PMD-mapped THPs in smaps after the faults",
            ),
            _vmpte_row(name, float(m + fell_back + upper), tables),
            Spec(
                name,
                "deposit_per_thp_fault",
                "deposited PTE tables per THP fault",
                "tables/THP",
                "VmPTE (this mm)",
                _vmpte(),
                1.0,
                "docs/model.md §2.8: pte_alloc_one() + pgtable_trans_huge_deposit() per THP fault",
                offset=-(upper + fell_back) / m,
                slope=1.0 / m,
            ),
            _pagetables_row(
                name,
                float(m + fell_back + upper),
                "as VmPTE; NR_PAGETABLE counts PTE, PMD and PUD tables",
            ),
            *_ipi_rows(name, others, cpu_text),
        ]
    if name == "thp_split":
        m = f["thps_split"]
        hole = f["start"] + f["hole_offset"]
        freed = split_tables_freed(hole, hole + 4096)
        return [
            Spec(
                name,
                "thp_split_pmd",
                "PMD splits (thp_split_pmd)",
                "events",
                "vmstat (machine-wide)",
                _counter("thp_split_pmd"),
                float(m),
                "munmap of 4 KiB inside each PMD-mapped THP splits its PMD",
            ),
            Spec(
                name,
                "deposit_reused_per_split",
                "deposit reused as live PTE table, per split",
                "tables/split",
                "VmPTE (this mm)",
                _vmpte(),
                1.0,
                "__split_huge_pmd_locked() withdraws the deposit: a split allocates no table",
                offset=1.0 - freed / m,
                slope=-1.0 / m,
            ),
            _pagetables_row(
                name,
                float(-freed),
                "no allocation at split; free_pgd_range() frees nothing inside a 2 MiB slot",
            ),
            *_ipi_rows(name, others, cpu_text),
        ]
    if name == "collapse":
        c = f["collapsed"]
        rounds = collapse_sync_rounds(COLLAPSE_POLICY, profile.profile)
        per_cpu = broadcast_per_other_cpu(online)
        return [
            Spec(
                name,
                "thp_collapse_alloc",
                "collapses (thp_collapse_alloc)",
                "events",
                "vmstat (machine-wide)",
                _counter("thp_collapse_alloc"),
                float(c),
                f"{c} new PMD-mapped THPs in smaps after MADV_COLLAPSE",
            ),
            Spec(
                name,
                "sync_ipis_per_collapse",
                "sync IPIs per collapse per other CPU",
                "IPIs/collapse/CPU",
                f"CAL - TLB on {cpu_text}",
                _sync_ipis(others),
                rounds * per_cpu,
                f"collapse policy {COLLAPSE_POLICY} (profile {profile.name}): "
                "collapse_huge_page() -> tlb_remove_table_sync_one() to every other online CPU",
                slope=1.0 / (c * len(others)),
            ),
            Spec(
                name,
                "page_tables_allocated",
                "page tables allocated per collapse",
                "tables/collapse",
                "VmPTE (this mm)",
                _vmpte(),
                0.0,
                "the old PTE table becomes the new THP's deposit",
                slope=1.0 / c,
            ),
            _pagetables_row(name, 0.0, "the old PTE table becomes the new THP's deposit"),
            _ipi_rows(name, others, cpu_text)[1],
        ]
    if name.startswith("populate_4k_"):
        present = tables_in_fresh_slot(f["start"], f["end"])
        text = f"{present.pte} PTE + {present.pmd} PMD + {present.pud} PUD tables of a fresh 512 GiB slot"
        return [
            _vmpte_row(name, float(present.total), text),
            _pagetables_row(name, float(present.total), text),
        ]
    if name.startswith("munmap_4k_"):
        pred = munmap_prediction(
            f["size"],
            f["offset"],
            f["neighbours"],
            f["start"],
            f["end"],
            f["floor"],
            f["ceiling"],
            profile.name,
            online,
        )
        t = pred.tables
        text = (
            f"free_pgd_range() via munmap_tables({f['size'] / (1 << 20):g} MiB, "
            f"{f['neighbours']}, offset {f['offset'] // 1024} KiB) = {t.pte} PTE + {t.pmd} PMD "
            f"+ {t.pud} PUD"
        )
        if pred.tables_at_addresses != t:
            a = pred.tables_at_addresses
            text += f" [at the real floor/ceiling: {a.pte} PTE + {a.pmd} PMD + {a.pud} PUD]"
        return [
            Spec(
                name,
                "page_tables_freed",
                "page tables freed",
                "tables",
                "VmPTE (this mm)",
                _vmpte(sign=-1.0),
                float(t.total),
                text,
            ),
            Spec(
                name,
                "pagetables_freed",
                "PageTables freed (after RCU)",
                "tables",
                "meminfo (machine-wide)",
                _pagetables(sign=-1.0),
                float(t.total),
                text,
            ),
            Spec(
                name,
                "fallback_ipis_per_cpu",
                "fallback sync IPIs per other CPU",
                "IPIs/CPU",
                f"CAL - TLB on {cpu_text}",
                _sync_ipis(others),
                pred.sync_ipis_per_other_cpu,
                f"gather model, exact: {pred.fallbacks_mean:g} fallbacks at GFP_NOWAIT failure "
                f"p = 0 (no memory pressure), profile {profile.name}",
                slope=1.0 / len(others),
            ),
            _ipi_rows(name, others, cpu_text)[1],
        ]
    raise ValueError(f"unknown probe phase {name!r}")


def build_checks(raw: dict[str, Any], profile: ProfileMatch) -> list[Check]:
    """Every row of a probe run (``raw`` = the worker's result)."""
    cpus = list(raw["cpus"])
    specs = [s for ph in raw["phases"] for s in phase_specs(ph, profile, cpus, raw["cpu"])]
    level = row_level(len(specs))
    by_phase = {ph["name"]: ph for ph in raw["phases"]}
    out = []
    for s in specs:
        ph = by_phase[s.phase]
        burst = 0.0
        if s.source.startswith("meminfo"):  # machine-wide gauge: heavy-tailed jumps
            burst = burst_size([[s.statistic(w) for w in p["baselines"]] for p in raw["phases"]])
        own = scope_of(s.source) == "this mm"
        bg = background([s.statistic(w) for w in ph["baselines"]], level, burst, poisson=not own)
        out.append(
            Check(
                phase=s.phase,
                quantity=s.quantity,
                label=s.label,
                unit=s.unit,
                source=s.source,
                basis=s.basis,
                predicted=s.predicted,
                phase_value=s.statistic(ph["window"]),
                background=bg,
                offset=s.offset,
                slope=s.slope,
            )
        )
    return out
