"""Parameter groups that several models share, declared once.

* The kernel profile and IPI group (:class:`KernelIpiParams`): which kernel build
  (``mcstudy.kernel.profiles``), ``MAX_TABLE_BATCH``, and who receives a synchronous IPI
  round (``mcstudy.kernel.ipi``; ``docs/model.md`` §2.10).
* The time window of trajectory models (:data:`WarmupSeconds`, :data:`HorizonSeconds`):
  simulated seconds before counting, and counted seconds per sequence.

Each field type carries its bounds, unit and description (``Annotated``); a model picks
only its defaults.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticUndefined

from mcstudy.kernel.ipi import IpiTargets, ipi_targets
from mcstudy.kernel.policies import MAINLINE_IPI, IpiPolicyName
from mcstudy.kernel.profiles import KERNEL_NAMES, KernelProfile, get_profile
from mcstudy.models.base import Fact, ModelParams


def units(unit: str, description: str, default: Any = PydanticUndefined, **bounds: Any) -> Any:
    """A pydantic ``Field`` with a unit, a description, bounds, and a default if given (the
    one helper every parameter schema declares its fields with)."""
    return Field(default, json_schema_extra={"units": unit}, description=description, **bounds)


def real_field(default: Any, unit: str, description: str, **bounds: Any) -> Any:
    """A float parameter (finite: no inf or NaN) with a default, unit and bounds."""
    return units(unit, description, default, allow_inf_nan=False, **bounds)


def int_field(default: Any, unit: str, description: str, **bounds: Any) -> Any:
    """An integer parameter with a default, unit and bounds."""
    return units(unit, description, default, **bounds)


Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Kernel = Annotated[Literal[KERNEL_NAMES], Field(description="kernel profile")]  # type: ignore[valid-type]
IpiPolicy = Annotated[
    IpiPolicyName,
    Field(description="who receives a synchronous IPI round"),
]
MaxTableBatch = Annotated[
    int | None,
    units("entries", "MAX_TABLE_BATCH (default: the kernel profile's)", ge=1, le=1 << 20),
]
OnlineCpus = Annotated[int, units("CPUs", "online CPUs", ge=1, le=1 << 16)]
MmCpus = Annotated[
    int, units("CPUs", "CPUs in the mm's cpumask, the sending CPU included", ge=1, le=1 << 16)
]
KernelModeFraction = Annotated[
    float,
    units("1", "P(an mm CPU is in kernel mode when an IPI round is sent)", ge=0.0, le=1.0),
    Field(allow_inf_nan=False),
]
WarmupSeconds = Annotated[
    float,
    units("s", "simulated time before the measured window (not counted)", ge=0.0, le=1e9),
    Field(allow_inf_nan=False),
]
HorizonSeconds = Annotated[
    float,
    units("s", "measured (counted) simulated time per sequence", gt=0.0, le=1e9),
    Field(allow_inf_nan=False),
]


def profile_facts(profile: KernelProfile) -> dict[str, Fact]:
    """A kernel profile's behaviour as facts stored with every point that uses it."""
    flag = "1 (true) or 0 (false): "
    return {
        "kernel_description": Fact(profile.description, "", "what the kernel profile is"),
        "kernel_uses_tlb_remove_table": Fact(
            profile.uses_tlb_remove_table,
            "1",
            flag + "page tables freed by munmap go through tlb_remove_table()",
        ),
        "kernel_fallback_sends_ipi": Fact(
            profile.fallback_sends_ipi,
            "1",
            flag + "tlb_remove_table_one() sends a synchronous IPI round (0: call_rcu())",
        ),
        "kernel_fallback_waits_grace_period": Fact(
            profile.fallback_waits_grace_period,
            "1",
            flag + "tlb_remove_table_one() blocks the unmapping task in synchronize_rcu()",
        ),
        "kernel_khugepaged_sync_ipi": Fact(
            profile.khugepaged_sync_ipi,
            "1",
            flag + "collapse_huge_page() sends a synchronous IPI round per collapse",
        ),
        "kernel_max_table_batch": Fact(
            profile.max_table_batch, "1", "MAX_TABLE_BATCH of the kernel profile (entries)"
        ),
    }


class KernelIpiParams(ModelParams):
    """The kernel profile and the IPI policy of a model (``docs/model.md`` §2.3, §2.10)."""

    kernel: Kernel = "v6.3-kvm-pv"
    max_table_batch: MaxTableBatch = None
    ipi_policy: IpiPolicy = MAINLINE_IPI
    online_cpus: OnlineCpus = 64
    mm_cpus: MmCpus = 8
    kernel_mode_fraction: KernelModeFraction = 0.1

    @model_validator(mode="after")
    def _mm_within_online(self) -> KernelIpiParams:
        if self.mm_cpus > self.online_cpus:
            raise ValueError(
                f"mm_cpus ({self.mm_cpus}) must not exceed online_cpus ({self.online_cpus})"
            )
        return self

    def profile(self) -> KernelProfile:
        """The kernel profile's facts."""
        return get_profile(self.kernel)

    def batch(self) -> int:
        """MAX_TABLE_BATCH in force (entries)."""
        if self.max_table_batch is not None:
            return self.max_table_batch
        return self.profile().max_table_batch

    def resolved(self) -> dict[str, tuple[Any, str]]:
        out = super().resolved()
        if self.max_table_batch is None:
            out["max_table_batch"] = (self.batch(), "kernel (its profile)")
        return out

    def facts(self) -> dict[str, Fact]:
        return {**super().facts(), **profile_facts(self.profile())}

    def round_targets(self) -> IpiTargets:
        """Deliveries of one synchronous IPI round under ``ipi_policy`` (CPUs)."""
        return ipi_targets(
            self.ipi_policy, self.online_cpus, self.mm_cpus, self.kernel_mode_fraction
        )

    def fallback_ipi(self) -> IpiTargets:
        """Deliveries of one ``tlb_remove_table_one()`` round (none when the profile frees
        the table by ``call_rcu()``)."""
        if not self.profile().fallback_sends_ipi:
            return IpiTargets(0, 0.0)
        return self.round_targets()

    def khugepaged_ipi(self) -> IpiTargets:
        """Deliveries of one ``collapse_huge_page()`` sync round (``tlb_remove_table_sync_one``)."""
        if not self.profile().khugepaged_sync_ipi:
            return IpiTargets(0, 0.0)
        return self.round_targets()
