"""One point of the pressure model packed for its kernels (``docs/model.md`` §4.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcstudy.kernel.ipi import IpiTargets
from mcstudy.mechanisms.zone import atomic_min_mark
from mcstudy.mechanisms.zone_events import ZoneInts, stall_arrays, zone_ints
from mcstudy.mechanisms.zone_tables import EventTables, event_tables
from mcstudy.models.pressure.params import PressureParams
from mcstudy.models.pressure.start import StartPlan, start_plan


def pack_ip(p: PressureParams) -> ZoneInts:
    """The zone chain's integer parameters as the kernels take them."""
    z = p.zone()
    return zone_ints(
        z,
        atomic_mark=atomic_min_mark(z.wmark_min),
        tables_per_gather=p.tables_per_gather,
        max_table_batch=p.batch(),
        initial_free=p.initial_free,
    )


@dataclass
class PreparedPressure:
    """Packed parameters, event tables and what the estimators need; ``cache`` keeps the
    importance sampler's regeneration state per point key."""

    params: PressureParams
    ip: tuple[int, ...]
    tables: EventTables
    uses_tlb_remove_table: bool
    fallback_ipi: IpiTargets
    start: StartPlan
    stall: tuple[Any, ...]
    """``zone_events.stall_arrays`` of the zone (timed direct-reclaim stalls)"""
    cache: dict[Any, Any] = field(default_factory=dict)


def prepare(params: PressureParams) -> PreparedPressure:
    """Pack ``params`` for the kernels."""
    tables = event_tables(params.zone())
    return PreparedPressure(
        params=params,
        ip=pack_ip(params),
        tables=tables,
        uses_tlb_remove_table=params.profile().uses_tlb_remove_table,
        fallback_ipi=params.fallback_ipi(),
        start=start_plan(params, tables.rate),
        stall=stall_arrays(params.zone()),
    )
