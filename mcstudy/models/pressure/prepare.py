"""One point of the pressure model packed for its kernels (``docs/model.md`` §4.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcstudy.kernel.ipi import IpiTargets
from mcstudy.mechanisms.zone import atomic_min_mark
from mcstudy.mechanisms.zone_events import (
    IP_AMARK,
    IP_BATCH,
    IP_BOOST_PAGES,
    IP_D,
    IP_F0,
    IP_HIGH,
    IP_KB,
    IP_LOW,
    IP_MAX_BOOST,
    IP_MIN,
    IP_N,
    IP_R,
    IP_RCU,
    IP_TABLES,
    N_IP,
)
from mcstudy.mechanisms.zone_tables import EventTables, event_tables
from mcstudy.models.pressure.params import PressureParams
from mcstudy.models.pressure.start import StartPlan, start_plan


def pack_ip(p: PressureParams) -> tuple[int, ...]:
    """Integer parameters in the layout of ``events.IP_*`` (a tuple: kernels take it by
    value, with no reference counting in the event loop)."""
    z = p.zone()
    ip = np.zeros(N_IP, dtype=np.int64)
    ip[IP_N] = z.managed_pages
    ip[IP_MIN] = z.wmark_min
    ip[IP_LOW] = z.wmark_low
    ip[IP_HIGH] = z.wmark_high
    ip[IP_R] = z.reclaim_batch
    ip[IP_D] = z.direct_reclaim_batch
    ip[IP_KB] = z.alloc_batch_pages
    ip[IP_TABLES] = p.tables_per_gather
    ip[IP_BATCH] = p.batch()
    ip[IP_RCU] = int(z.rcu_grace_period_s > 0.0)
    ip[IP_BOOST_PAGES] = z.boost_pages
    ip[IP_MAX_BOOST] = z.max_boost
    ip[IP_AMARK] = atomic_min_mark(z.wmark_min)
    ip[IP_F0] = z.managed_pages if p.initial_free is None else p.initial_free
    return tuple(int(x) for x in ip)


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
