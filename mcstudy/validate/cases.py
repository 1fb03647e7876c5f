"""Validation points: parameter sets whose exact values are known, chosen where intervals
are hardest (a couple of expected events, 16 trajectories, a 99th percentile from few
long sequences). ``docs/model.md`` §6.6 describes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcstudy.kernel.policies import ipi_with
from mcstudy.models.host.outputs import key
from mcstudy.models.host.scenarios import SMALL_BURSTY_HOST
from mcstudy.models.pressure.scenarios import RARE_ZONE, SMALL_ZONE


@dataclass(frozen=True)
class Case:
    """One validation point: a model, its parameters and the sample size of one replication."""

    name: str
    model: str
    params: dict[str, Any]
    sequences: int
    """sequences of one replication (one block of the engine: replications run in parallel)"""
    replications: int
    """replications of the full run (``--quick`` runs ``quick_replications``)"""
    quick_replications: int
    note: str = ""
    quick: bool = True
    """part of ``--quick``"""
    discrete: tuple[str, ...] = ()
    """estimates whose coverage is set by a lattice here, shown, not judged: integers
    with a standard error under one unit (conservative by construction), and counts of
    about one expected event per replication (Poisson's lattice fixes their coverage,
    whatever the interval)"""


_PRESSURE = dict(SMALL_ZONE, alloc_rate=1.0)
_THP_SMALL = dict(
    horizon_s=20.0,
    fault_rate=8.0,
    lifetime_s=2.0,
    munmap_split_rate=0.1,
    madvise_split_rate=0.05,
    collapse_rate=1.0,
    online_cpus=8,
    isolated_cpus=2,
    mm_cpus=3,
)

_HOST_SMALL = SMALL_BURSTY_HOST

_HOST_TIMED_BAND = dict(
    _HOST_SMALL,
    sync_round_us=20_000.0,
    atomic_alloc_rate=20.0,
    managed_pages=1200,
    wmark_min=16,
    wmark_low=48,
    wmark_high=80,
    zone_scale=8,
    fine_band_pages=40,
    alloc_rate=40.0,
    free_rate=36.0,
    kswapd_rate=1.5,
    burst_alloc_rate=160.0,
    stall_mean_s=0.05,
    alloc_tasks=3,
    stall_phases=2,
)

CASES: tuple[Case, ...] = (
    Case(
        "gather-2-events",
        "gather",
        dict(tables_per_gather=1, gfp_nowait_fail_p=1e-4),
        20_000,
        2000,
        400,
        "about 2 expected fallbacks per run",
    ),
    Case(
        "gather-clustered",
        "gather",
        dict(
            tables_per_gather=1018,
            gfp_nowait_fail_p=0.002,
            pressure_episode_prob=0.01,
            pressure_fail_p=0.5,
            ipi_policy=ipi_with(kernel_mode_only=True),
        ),
        2000,
        2000,
        400,
        "rare pressure episodes with several fallbacks each: clustered events, about 15 "
        "effective events per run",
    ),
    Case(
        "pressure-16-medium",
        "pressure",
        dict(_PRESSURE, free_rate=0.6, kswapd_rate=0.06, horizon_s=200.0),
        16,
        1000,
        200,
        "16 trajectories, P(free <= min) about 0.04",
    ),
    Case(
        "pressure-16-light",
        "pressure",
        dict(_PRESSURE, free_rate=0.8, kswapd_rate=0.2, horizon_s=500.0),
        16,
        1000,
        200,
        "16 trajectories, P(free <= min) about 1e-3: a few failing gathers per run",
    ),
    Case(
        "pressure-16-timed-stalls",
        "pressure",
        dict(
            _PRESSURE,
            free_rate=0.6,
            kswapd_rate=0.06,
            horizon_s=200.0,
            stall_mean_s=5.0,
            alloc_tasks=3,
            stall_phases=2,
        ),
        16,
        1000,
        200,
        "16 trajectories, 3 allocating tasks whose direct-reclaim stalls last 5 s on "
        "average (Erlang, 2 phases): P(free <= min) about 0.02",
    ),
    Case(
        "pressure-importance",
        "pressure",
        dict(RARE_ZONE, pilot_steps=1 << 14),
        64,
        1000,
        200,
        "regenerative importance sampling of P(free <= min) about 5e-11, 64 cycles",
    ),
    Case(
        "thp-small-host",
        "thp",
        dict(
            _THP_SMALL,
            table_policy="cache_k",
            cache_k=2,
            gather_rate=2.0,
            tables_per_gather=40,
            gfp_nowait_fail_p=0.02,
            rt_cycle_us=10_000.0,
        ),
        40,
        1000,
        200,
        "a host with 20 THPs on average: Poisson deposit, cache chain, IPIs",
        discrete=("deposit_bytes_p99",),
    ),
    Case(
        "thp-medium-host",
        "thp",
        dict(_THP_SMALL, fault_rate=1000.0, table_policy="deposit"),
        40,
        1000,
        200,
        "a host with 1,540 THPs on average: the p99 of a Poisson deposit from sequences "
        "ten lifetimes long; rt_cycle_ipis_max is 1 in almost every sequence (not judged: "
        "its interval is conservative when under one sequence per run differs)",
        discrete=("rt_cycle_ipis_max",),
    ),
    Case(
        "host-small-bursty",
        "host",
        dict(_HOST_SMALL, sync_round_us=20_000.0, atomic_alloc_rate=20.0),
        16,
        1000,
        200,
        "a 300-page bursty zone coupled to THPs, khugepaged and gathers (P(free <= min) "
        "about 0.19, P(free <= the GFP_ATOMIC mark) about 1e-3, failing gathers cut short "
        "by 20 ms rounds), 16 host-sequences of 20 s; on-demand GFP_ATOMIC split "
        "failures are 1.1 per replication, where every interval with 2.5 % tails covers "
        "about 97 % (a Poisson count: P(N <= 3) = 97.3 %; not judged)",
        discrete=(key("split_alloc_failures_per_hour", {"table_policy": "on_demand_atomic"}),),
    ),
    Case(
        "host-timed-band",
        "host",
        _HOST_TIMED_BAND,
        16,
        1000,
        200,
        "the fine band (docs/model.md §4.14) and timed direct reclaim (§11.6) together: a "
        "1,200-page bursty zone simulated 8 pages a level outside a 40-page band at min, "
        "3 allocating tasks whose stalls last 50 ms (Erlang, 2 phases); P(free <= min) "
        "about 0.14, 16 host-sequences of 20 s; the zone almost never reaches the "
        "GFP_ATOMIC mark (P about 1e-7: no failure in a replication), so the GFP_ATOMIC "
        "rows are covered by construction, not judged",
        discrete=(
            "atomic_fail_prob",
            key("split_alloc_failures_per_hour", {"table_policy": "on_demand_atomic"}),
        ),
    ),
    Case(
        "thp-reference-host",
        "thp",
        dict(
            horizon_s=900.0,
            fault_rate=130.3885,
            lifetime_s=3600.0,
            munmap_split_rate=1.0e-5,
            madvise_split_rate=2.0e-5,
            mprotect_split_rate=2.0e-6,
            migration_split_rate=1.0e-6,
            cow_split_rate=2.0e-6,
            collapse_rate=0.8,
            table_policy="deposit",
            online_cpus=80,
            isolated_cpus=4,
        ),
        32,
        400,
        0,
        "the configs/thp.toml host without pressure (Poisson deposit of 419,430 THPs): "
        "32 sequences of 900 s, shorter than a THP's mean life of an hour",
        quick=False,
    ),
)


def cases_for(model: str | None, quick: bool) -> list[Case]:
    """The cases of ``model`` (all models for None) in the quick or the full set."""
    return [c for c in CASES if (model is None or c.model == model) and (c.quick or not quick)]
