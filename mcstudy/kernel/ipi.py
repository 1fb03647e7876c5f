"""Who receives a synchronous page-table IPI under each policy.

``tlb_remove_table_sync_one()`` is ``smp_call_function(tlb_remove_table_smp_sync, NULL,
1)``: a synchronous IPI to every other online CPU. The policies compared (docs/model.md §2.10)
are the rows of ``mcstudy.kernel.policies.IPI_TABLE``; their flags say who is a target
(every other online CPU, or the other CPUs of the mm's cpumask), whether a target must
be in kernel mode (independently with probability ``kernel_mode_fraction``), and whether
a round is sent at all.

A sync is modelled as Binomial(targets, deliver_prob) deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcstudy.kernel.policies import IPI_POLICIES, ipi_policy

__all__ = ["IPI_POLICIES", "IpiTargets", "ipi_targets"]


@dataclass(frozen=True)
class IpiTargets:
    """Deliveries of one sync IPI round: Binomial(targets, deliver_prob)."""

    targets: int
    deliver_prob: float

    @property
    def mean(self) -> float:
        return self.targets * self.deliver_prob

    @property
    def var(self) -> float:
        return self.targets * self.deliver_prob * (1.0 - self.deliver_prob)


def ipi_targets(
    policy: str, online_cpus: int, mm_cpus: int, kernel_mode_fraction: float
) -> IpiTargets:
    """Targets of one synchronous IPI round sent by a CPU of the mm (CPUs), from the
    policy's flags (``mcstudy.kernel.policies``)."""
    pol = ipi_policy(policy)
    if not pol.sends_rounds:
        return IpiTargets(0, 0.0)
    targets = (mm_cpus if pol.mm_only else online_cpus) - 1
    return IpiTargets(targets, kernel_mode_fraction if pol.kernel_mode_only else 1.0)
