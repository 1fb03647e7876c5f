"""Who receives a synchronous page-table IPI under each policy.

``tlb_remove_table_sync_one()`` is ``smp_call_function(tlb_remove_table_smp_sync, NULL,
1)``: a synchronous IPI to every other online CPU. The policies compared (docs/model.md §2.10):

* ``broadcast``: every other online CPU (mainline).
* ``mm_cpumask``: only the other CPUs in the mm's cpumask (series patch 2/3).
* ``kernel_mode``: only the other mm CPUs that are in kernel mode at that moment
  (patch 3/3), each independently with probability ``kernel_mode_fraction``.
* ``rcu``: no IPI; the table waits one RCU grace period.

A sync is modelled as Binomial(targets, deliver_prob) deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass

IPI_POLICIES = ("broadcast", "mm_cpumask", "kernel_mode", "rcu")


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
    """Targets of one synchronous IPI round sent by a CPU of the mm (CPUs)."""
    if policy == "broadcast":
        return IpiTargets(online_cpus - 1, 1.0)
    if policy == "mm_cpumask":
        return IpiTargets(mm_cpus - 1, 1.0)
    if policy == "kernel_mode":
        return IpiTargets(mm_cpus - 1, kernel_mode_fraction)
    if policy == "rcu":
        return IpiTargets(0, 0.0)
    raise ValueError(f"unknown ipi_policy {policy!r}; known: {', '.join(IPI_POLICIES)}")
