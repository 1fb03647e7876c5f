"""One point of the pressure model packed for its kernels (``docs/model.md`` §4.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcstudy.kernel.ipi import IpiTargets
from mcstudy.mechanisms.zone import atomic_min_mark
from mcstudy.mechanisms.zone_events import ZoneInts
from mcstudy.mechanisms.zone_tables import EventTables, event_tables
from mcstudy.models.pressure.params import PressureParams
from mcstudy.models.pressure.start import StartPlan, start_plan


def pack_ip(p: PressureParams) -> ZoneInts:
    """The zone chain's integer parameters as the kernels take them."""
    z = p.zone()
    return ZoneInts(
        managed_pages=z.managed_pages,
        wmark_min=z.wmark_min,
        wmark_low=z.wmark_low,
        wmark_high=z.wmark_high,
        reclaim_batch=z.reclaim_batch,
        direct_reclaim_batch=z.direct_reclaim_batch,
        alloc_batch_pages=z.alloc_batch_pages,
        tables_per_gather=p.tables_per_gather,
        max_table_batch=p.batch(),
        rcu=int(z.rcu_grace_period_s > 0.0),
        boost_pages=z.boost_pages,
        max_boost=z.max_boost,
        atomic_mark=atomic_min_mark(z.wmark_min),
        initial_free=z.managed_pages if p.initial_free is None else p.initial_free,
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
    )
