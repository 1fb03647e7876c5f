"""Parameters of the gather model (``model = "gather"``, ``docs/model.md`` §3.6)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mcstudy.kernel.ipi import IpiTargets
from mcstudy.kernel.pgtable import VMA_NEIGHBOURS, munmap_tables
from mcstudy.models.shared import KernelIpiParams, Probability, units

_Neighbours = Literal[VMA_NEIGHBOURS]  # type: ignore[valid-type]


FALLBACK_EVENTS = 8.0
"""A fallback costs about as much as 8 gathers without one (its failing attempt's
geometric gap, the IPI delivery draw; measured, docs/model.md §7.5)."""
MAX_EVENTS_PER_SEQUENCE = 1e11
"""Expected events of one gather (docs/model.md §7.5): above what the schema allows
(at most 10^9 tables, each at most one fallback)."""
EVENTS_PER_SECOND = 6e7
"""Gather events one core simulates per second (measured, docs/model.md §7.5)."""


class GatherParams(KernelIpiParams):
    """Parameters of the gather model (units in each field's ``units``)."""

    EVENTS = "a gather as 1, a fallback as 8"
    EVENTS_PER_SECOND = EVENTS_PER_SECOND
    MAX_EVENTS_PER_SEQUENCE = MAX_EVENTS_PER_SEQUENCE
    TOO_MANY_EVENTS_HINT = "lower tables_per_gather"

    tables_per_gather: Annotated[
        int | None,
        units(
            "tables",
            "page tables freed through tlb_remove_table() by one mmu_gather",
            ge=1,
            le=10**9,
        ),
    ] = None
    munmap_mib: Annotated[
        float | None,
        units("MiB", "instead of tables_per_gather: size of the unmapped VMA", gt=0.0, le=2.0**30),
        Field(allow_inf_nan=False),
    ] = None
    vma_neighbours: Annotated[_Neighbours, Field(description="VMAs around the unmapped one")] = (
        "adjacent"
    )
    vma_offset_kib: Annotated[
        int, units("KiB", "start of the VMA past a 512 GiB boundary", ge=0, le=2**39)
    ] = 0
    gfp_nowait_fail_p: Annotated[
        Probability, units("1", "P(GFP_NOWAIT batch-page allocation fails)")
    ]
    pressure_episode_prob: Annotated[
        Probability, units("1", "P(a gather runs in a pressure episode)")
    ] = 0.0
    pressure_fail_p: Annotated[
        Probability, units("1", "GFP_NOWAIT failure prob. in an episode")
    ] = 0.5

    @model_validator(mode="after")
    def _consistent(self) -> GatherParams:
        if (self.tables_per_gather is None) == (self.munmap_mib is None):
            raise ValueError("give exactly one of tables_per_gather and munmap_mib")
        if self.munmap_mib is not None:
            munmap_tables(self.munmap_mib, self.vma_neighbours, self.vma_offset_kib)
        self.check_sequence_events()  # docs/model.md §7.5
        return self

    def expected_events_per_sequence(self) -> float:
        """One gather (a gather without failure costs O(1)) and ``FALLBACK_EVENTS`` per
        expected fallback. With the batch-page attempts failing at ``p`` (the episode
        mix), fallbacks ``f = p x attempts`` and attempts ``ceil(n / batch) + f`` give
        ``f = p ceil(n / batch) / (1 - p)``, at most ``n``."""
        n = self.n_tables()
        e = self.pressure_episode_prob
        p = (1.0 - e) * self.gfp_nowait_fail_p + e * self.pressure_fail_p
        need = -(-n // self.batch())
        fallbacks = float(n) if p >= 1.0 else min(float(n), p * need / (1.0 - p))
        return 1.0 + FALLBACK_EVENTS * fallbacks

    def resolved(self) -> dict[str, tuple[Any, str]]:
        out = super().resolved()
        if self.tables_per_gather is None:
            out["tables_per_gather"] = (self.n_tables(), "munmap_mib and the VMA's layout")
        return out

    def n_tables(self) -> int:
        """Tables freed by one gather (tables)."""
        if self.tables_per_gather is not None:
            return self.tables_per_gather
        return munmap_tables(self.munmap_mib, self.vma_neighbours, self.vma_offset_kib).total

    def ipi(self) -> IpiTargets:
        """Deliveries of one fallback's sync IPI round under the profile and policy."""
        return self.fallback_ipi()
