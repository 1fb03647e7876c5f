"""What the guest's kernel offers the lab's rows, read from the kernel itself.

The guest's ``init`` picks each probed function by name from ``/proc/kallsyms`` (names
change between versions: ``__get_free_pages()`` is ``get_free_pages_noprof()`` from 6.10;
``tlb_remove_table_one()`` is inlined on 6.12 and 7.2; 7.2 adds
``tlb_remove_table_sync_rcu()`` and ``__tlb_remove_table_one_rcu()``) and reads the
offsets of ``struct mmu_gather.batch`` and ``struct mmu_table_batch.nr`` from the kernel's
BTF (``/sys/kernel/btf/vmlinux``, ``labwork btf``). It prints what it found as the
``support`` artefact::

    btf yes|no
    field mmu_gather.batch 8          ("-": no such member, or no BTF)
    role gfp get_free_pages_noprof    ("-": none of the names is in kallsyms)
    symbol tlb_remove_table_sync_rcu yes|no

:func:`unmeasurable` gives, per row, why this kernel cannot measure it ('' if it can):
such a row is kept in the dataset and the table as "not measurable on this kernel:
<reason>", never a crash or a silent zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLE_NAMES = {
    "gather": "tlb_gather_mmu",
    "finish": "tlb_finish_mmu",
    "table": "tlb_remove_table",
    "gfp": "__get_free_pages or get_free_pages_noprof",
    "wmark": "__zone_watermark_ok",
    "smp_call": "smp_call_function",
    "sync_callback": "tlb_remove_table_smp_sync",
    "call_rcu": "call_rcu",
    "rcu_callback": "__tlb_remove_table_one_rcu",
    "sync_rcu": "tlb_remove_table_sync_rcu",
}
NEWER_ROLES = ("call_rcu", "rcu_callback", "sync_rcu")
"""Roles a console of the 6.1 era did not record (6.1 has neither the PT_RECLAIM fallback
``__tlb_remove_table_one_rcu()`` nor ``tlb_remove_table_sync_rcu()``)."""


@dataclass(frozen=True)
class KernelSupport:
    btf: bool
    fields: dict[str, int | None]
    roles: dict[str, str | None]
    symbols: dict[str, bool] = field(default_factory=dict)
    recorded: bool = True
    """False for a console of an older lab without the artefact (6.1 era: everything present)."""

    def has(self, role: str) -> bool:
        return self.roles.get(role) is not None

    def offset(self, name: str) -> int | None:
        return self.fields.get(name)


LEGACY = KernelSupport(
    btf=False,
    fields={"mmu_gather.batch": 8, "mmu_table_batch.nr": 16},
    roles={r: (None if r in NEWER_ROLES else n.split(" or ")[0]) for r, n in ROLE_NAMES.items()},
    recorded=False,
)
"""A console recorded before the lab read kernels (Debian's 6.1, whose layout it hard-coded)."""


def parse_support(text: str | None) -> KernelSupport:
    """The ``support`` artefact (None: an older console, see :data:`LEGACY`)."""
    if text is None:
        return LEGACY
    btf = False
    fields: dict[str, int | None] = {}
    roles: dict[str, str | None] = {}
    symbols: dict[str, bool] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "btf":
            btf = parts[1] == "yes"
        elif len(parts) == 3 and parts[0] == "field":
            fields[parts[1]] = None if parts[2] == "-" else int(parts[2])
        elif len(parts) == 3 and parts[0] == "role":
            role = parts[1]
            if role not in ROLE_NAMES:
                # a console printed by an earlier init under another role name: the
                # function it found says which role it is (a missing one says nothing)
                role = next((r for r, n in ROLE_NAMES.items() if n == parts[2]), role)
            roles[role] = None if parts[2] == "-" else parts[2]
        elif len(parts) == 3 and parts[0] == "symbol":
            symbols[parts[1]] = parts[2] == "yes"
    return KernelSupport(btf, fields, roles, symbols)


def _missing_fn(s: KernelSupport, *roles: str) -> str:
    gone = [ROLE_NAMES[r] for r in roles if not s.has(r)]
    return f"no {', '.join(gone)} in /proc/kallsyms" if gone else ""


def _missing_field(s: KernelSupport, *names: str) -> str:
    gone = [n for n in names if s.offset(n) is None]
    if not gone:
        return ""
    where = "in the kernel's BTF" if s.btf else "(no BTF: /sys/kernel/btf/vmlinux is missing)"
    return f"no struct {' / '.join(gone)} {where}"


def fallback_path(s: KernelSupport) -> str:
    """Which of the fallback's paths the kernel lets the lab probe ('' if none): a round
    (``smp_call_function(tlb_remove_table_smp_sync)``), ``call_rcu()`` of
    ``__tlb_remove_table_one_rcu()`` or ``tlb_remove_table_sync_rcu()``."""
    paths = []
    if s.has("smp_call") and s.has("sync_callback"):
        paths.append("rounds")
    if s.has("call_rcu") and s.has("rcu_callback"):
        paths.append("call_rcu()")
    if s.has("sync_rcu"):
        paths.append("grace-period waits")
    return ", ".join(paths)


def unmeasurable(quantity: str, s: KernelSupport, via_table: bool) -> str:
    """Why the kernel ``s`` cannot measure ``quantity`` ('' if it can).

    ``via_table``: the profile frees page tables through ``tlb_remove_table()`` (else
    through ``tlb_remove_page()``, counted by the architecture's ``___p*_free_tlb()``)."""
    attempts = _missing_fn(s, "table") or _missing_field(s, "mmu_gather.batch")
    outcome = attempts or _missing_fn(s, "gfp")
    rounds = _missing_fn(s, "smp_call", "sync_callback")
    if quantity == "tlb_remove_table_per_gather":
        return _missing_fn(s, "table")
    if quantity in ("tables_per_gather", "gathers_off_prediction"):
        if not via_table:
            return ""
        no_path = (
            ""
            if fallback_path(s)
            else f"{_missing_fn(s, 'sync_callback', 'rcu_callback', 'sync_rcu')} "
            "(fallbacks are counted on their path)"
        )
        return outcome or _missing_field(s, "mmu_table_batch.nr") or no_path
    if quantity == "fallbacks_observed":
        return outcome
    if quantity == "sync_ipis_per_fallback":
        return rounds
    if quantity == "rcu_frees_per_fallback":
        return outcome or _missing_fn(s, "call_rcu", "rcu_callback")
    if quantity == "fallback_wait_us":
        return outcome or _missing_fn(s, "sync_rcu")
    if quantity.removesuffix("_timed") in ("time_below_min_frac", "stalls_per_s"):
        return ""  # the zone's own samples and vmstat
    if quantity == "fail_rule":
        return outcome or _missing_fn(s, "wmark")
    # the within-gather laws and the zone rows need each attempt's outcome
    return outcome
