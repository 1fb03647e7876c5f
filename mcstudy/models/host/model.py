"""The coupled host study (``model = "host"``, ``docs/model.md`` §11): one RT host, its zone,
its THPs, khugepaged, housekeeping munmaps and an isolated CPU, in one simulation.

The zone pressure chain (docs/model.md §4.1) is the only source of allocation failure:
a GFP_NOWAIT allocation (a gather's batch page, an on-demand split table, khugepaged's
fresh table, a per-CPU cache refill) fails exactly while the simulated zone is at or
below ``wmark_min``, a GFP_ATOMIC one while it is at or below the atomic mark. Nothing
sets a failure probability or a pressure fraction by hand. Every policy is evaluated on
the same sequences (common random numbers); kernel profile and load are swept.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from mcstudy.engine import beside
from mcstudy.engine.blocks import BlockPlan
from mcstudy.engine.jitcache import has_cache_index
from mcstudy.engine.parallel import blocks_in_threads
from mcstudy.engine.tallies import Tallies
from mcstudy.exact.pressure import ZoneChain
from mcstudy.exact.thp import (
    PAGE_TABLE_BYTES,
    IpiInput,
    cache_level_law,
    expected_max_of_iid,
    ipi_exact,
)
from mcstudy.exact.timed import zone_fallbacks_mean
from mcstudy.exact.warm import compile_level_recursion, recursion_cached, recursion_needed
from mcstudy.kernel.policies import (
    MAINLINE_COLLAPSE,
    MAINLINE_IPI,
    SPLIT_TABLE_VARIANTS,
    ipi_policy,
)
from mcstudy.mechanisms.zone_grid import levels
from mcstudy.models.base import Model, Warmup
from mcstudy.models.host import kernels as KH
from mcstudy.models.host.estimates import SECONDS_PER_HOUR, host_estimates
from mcstudy.models.host.outputs import (
    FRESH_COLLAPSE,
    MAINLINE_AT,
    OUTPUT_COORDS,
    SPECS,
    VARIABLES,
    key,
)
from mcstudy.models.host.params import HostParams
from mcstudy.models.host.prepare import (
    PreparedHost,
    cut_chain,
    prepare,
    rt_cycles,
    zone_stationary,
)

CHILD = "mcstudy.models.host.warm"
"""the warm-up's child process (``python -m``)"""
RECURSION = "--level-recursion"
"""its option: compile the level recursion too"""
NEGLIGIBLE_EVENTS = 1e-9
"""Expected below-min gathers per horizon under which the per-cycle IPI law is computed as
if the zone never reached min (the error is below this probability)."""


class HostModel(Model):
    """``model = "host"``: the review's questions for one host, coupled end to end."""

    name = "host"
    Params = HostParams
    tallies = KH.TALLIES
    main_estimate = "isolated_cpu_ipis_per_hour"
    main_at = MAINLINE_AT
    variables = VARIABLES
    estimate_specs = SPECS
    output_coords = OUTPUT_COORDS

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        """A tiny bursty host; its zone (60 pages, 244 states) is solved by GTH."""
        return {
            "horizon_s": 2.0,
            "load": "bursts",
            "managed_pages": 60,
            "wmark_min": 5,
            "wmark_low": 8,
            "wmark_high": 12,
            "alloc_rate": 20.0,
            "free_rate": 18.0,
            "kswapd_rate": 1.0,
            "reclaim_batch": 8,
            "direct_reclaim_batch": 8,
            "burst_alloc_rate": 60.0,
            "burst_start_rate": 0.5,
            "burst_end_rate": 1.0,
            "atomic_alloc_rate": 1.0,
            "thp_fault_rate": 5.0,
            "thp_lifetime_s": 1.0,
            "split_rate": 1.0,
            "reclaim_split_rate": 1.0,
            "khugepaged_collapse_rate": 2.0,
            "gather_rate": 5.0,
            "tables_per_gather": 3,
            "online_cpus": 6,
            "isolated_cpus": 1,
            "mm_cpus": 2,
            "rt_mm_share": 0.5,
            "rt_cycle_us": 100_000.0,
        }

    def warmup_variants(self, params: Iterable[HostParams]) -> list[Warmup]:
        """The kernel on a bursty zone and on a steady one (their zone chains and exact
        solvers differ), each with the exact solver, as the points need them (no
        points: both)."""
        params = list(params)
        bursty = {p.setup().chain.burst_alloc_rate is not None for p in params}
        bursty = bursty or {True, False}
        steady = {"load": "steady", "atomic_alloc_rate": 0.0, "burst_alloc_rate": None}
        out = []
        if True in bursty:
            out.append(Warmup(self.warmup_params()))
        if False in bursty:
            out.append(Warmup({**self.warmup_params(), **steady}))
        return out

    def run_warmups(self, variants: list[Warmup], params: list[HostParams]) -> None:
        """The kernel's warm-ups, and the zone's level recursion if the points' laws
        need it, are not stored, and it is not in Numba's cache (``mcstudy.exact.warm``;
        a cached recursion loads when a point solves its law; the warm-up's own zone is
        small enough for GTH elimination, which compiles nothing).

        When ``host_block`` is not in Numba's cache and there is a second CPU, a child
        process (``mcstudy.models.host.warm``) compiles the zone's path and the recursion
        and the THP exact solver into the cache while this one compiles the per-sequence
        consumers; ``host_block`` then finds both compiled
        (``docs/model.md`` §7.3). The same functions are compiled either way.
        """
        if not variants:
            return
        # a cached recursion loads when a point solves its law: no warm-up for it
        recursion = recursion_needed(p.setup().chain for p in params) and not recursion_cached()
        child = None
        if not has_cache_index(KH.host_block):  # else loading takes a second: no child
            child = beside.start(CHILD, [RECURSION] if recursion else [])
        try:
            if child is None:
                if recursion:
                    compile_level_recursion()
            else:
                first = self.Params.model_validate(variants[0].params)
                KH.compile_consumers(self.prepare(first).arrays)
                child.wait()
            super().run_warmups(variants, params)
        except BaseException:
            if child is not None:
                child.stop()
            raise

    def prepare(self, params: HostParams) -> PreparedHost:
        return prepare(params)

    def simulate(
        self,
        prepared: PreparedHost,
        key: tuple[int, int],
        plan: BlockPlan,
        first_block: int,
        n_blocks: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        k0, k1 = key
        zone, arrays = prepared.zone, prepared.arrays

        def block(b: int, n_seq: int, out_i: np.ndarray, out_f: np.ndarray) -> None:
            KH.host_block(k0, k1, b, n_seq, *zone, arrays, out_i, out_f)

        return blocks_in_threads(block, plan, first_block, n_blocks, KH.N_INT, KH.N_FLOAT)

    def estimates(self, prepared: PreparedHost, tallies: Tallies) -> dict[str, float]:
        return host_estimates(prepared, tallies)

    def derived(self, params: HostParams) -> dict[str, float]:
        s = params.setup()
        return {
            "zone_scale": s.scale,
            "zone_managed_pages": s.zone.managed_pages,
            "zone_wmark_min": s.zone.wmark_min,
            "zone_wmark_low": s.zone.wmark_low,
            "zone_wmark_high": s.zone.wmark_high,
        }

    def exact(self, params: HostParams) -> dict[str, float]:
        return host_exact(params)


@functools.lru_cache(maxsize=16)
def below_min_fallbacks(chain: ZoneChain, tables: int, batch: int, round_s: float) -> float:
    """Mean fallbacks of a gather that starts below min, its attempts ``round_s`` apart
    after each failure (docs/model.md §11.8; ``mcstudy.exact.timed``)."""
    z, _ = zone_stationary(chain)
    chain = cut_chain(chain)
    p_min = float(z.pi.sum(axis=(0, 1))[levels(chain) <= chain.wmark_min].sum())
    if p_min <= 0.0:
        return float(tables)
    return zone_fallbacks_mean(chain, z.pi, tables, batch, round_s) / p_min


def _ipi_input(
    p: HostParams, tables: int, gathers: float, ipi: str, col: str, below_min: float
) -> IpiInput:
    prof = p.profile()
    sends = prof.uses_tlb_remove_table and prof.fallback_sends_ipi and ipi_policy(ipi).sends_rounds
    below = float(tables)
    if sends and below_min > 0.0 and tables <= p.batch():
        below = below_min_fallbacks(p.setup().chain, tables, p.batch(), p.spacing_us() * 1e-6)
    return IpiInput(
        collapse_rate=p.khugepaged_collapse_rate,
        collapse_policy=col,
        deposit=True,
        fresh_nowait=p.fresh_table_gfp == "nowait",
        khugepaged_sync=prof.khugepaged_sync_ipi,
        uses_trt=prof.uses_tlb_remove_table,
        fallback_ipi=prof.fallback_sends_ipi,
        ipi_policy=ipi,
        gather_rate=gathers,
        tables_per_gather=tables,
        max_table_batch=p.batch(),
        nowait_p=(0.0, 1.0),
        rt_mm_share=p.rt_mm_share,
        kernel_prob=1.0 - p.rt_user_fraction,
        pressure_fraction=below_min,
        pressure_episode_s=1.0,  # rates do not depend on it; the cycle law is taken at 0
        rt_cycle_s=p.rt_cycle_us * 1e-6,
        sync_round_s=p.spacing_us() * 1e-6,
        cycles=rt_cycles(p),
        fallbacks_mean=(0.0, below) if tables <= p.batch() else None,
    )


def host_exact(p: HostParams) -> dict[str, float]:
    """Exact values of one point (NaN where no exact value applies; docs/model.md §11.10).

    From the zone's exact stationary law ``pi``: the time fractions, and, because gathers,
    collapses and splits are Poisson processes independent of the zone, every rate that
    is linear in ``P(f <= min)`` (PASTA). Splits are Poisson when no reclaim split
    modulates them (Burke: departures of a stationary M/M/inf are Poisson, splits an
    independent thinning), which makes the cache levels birth-death chains when refills
    are blocking.
    """
    nan = math.nan
    s = p.setup()
    z, _ = zone_stationary(s.chain)
    hours = SECONDS_PER_HOUR
    pf = z.pi.sum(axis=(0, 1))  # per level, whose free pages are zone_grid.levels
    pos = levels(cut_chain(s.chain))
    p_min = float(pf[pos <= s.chain.wmark_min].sum())
    p_atomic = float(pf[pos <= s.atomic_mark].sum())
    out: dict[str, float] = {
        "nowait_fail_prob_exact": p_min,
        "atomic_fail_prob_exact": p_atomic,
        "kswapd_awake_frac_exact": z.kswapd_awake_prob,
        "direct_reclaim_stalls_per_hour_exact": z.stalls_per_s * hours,
    }
    plain = p.reclaim_split_rate == 0.0
    thp = s.thp_mean if plain else nan
    splits_s = s.split_rate_per_thp * thp
    out["thp_mean_exact"] = thp
    out["deposit_bytes_mean_exact"] = thp * PAGE_TABLE_BYTES
    out["splits_per_hour_exact"] = splits_s * hours
    cpus = p.n_split_cpus()
    blocking = p.refill_gfp == "kernel"
    for tv in SPLIT_TABLE_VARIANTS:
        k = tv.cache_k
        if k == 0:  # on demand: a split allocates, failing while the zone is at the mark
            fails = splits_s * (p_atomic if tv.atomic else p_min) * hours
        elif blocking and plain:
            law = cache_level_law(k, p.cache_refill_rate, splits_s / cpus)
            fails = splits_s * float(law[0]) * p_min * hours
            reserve = cpus * float(np.arange(k + 1) @ law) * PAGE_TABLE_BYTES
        else:
            fails = reserve = nan
        out[key("split_alloc_failures_per_hour_exact", {"table_policy": tv.name})] = fails
        if k > 0:
            out[key("reserve_bytes_mean_exact", {"cache_k": k})] = reserve
    tables = s.tables_per_gather
    rare = p_min * s.zone.gather_rate * tables * p.horizon_s < NEGLIGIBLE_EVENTS
    cycles = rt_cycles(p)
    for ipi, col in KH.IPI_VARIANTS:
        ex = ipi_exact(_ipi_input(p, tables, s.zone.gather_rate, ipi, col, p_min))
        iso = ex.isolated_collapse_per_s + ex.isolated_fallback_per_s
        cell = {"ipi_policy": ipi, "collapse_policy": col}
        out[key("isolated_cpu_ipis_per_hour_exact", cell)] = iso * hours
        mx = nan
        if rare:
            calm = ipi_exact(_ipi_input(p, tables, s.zone.gather_rate, ipi, col, 0.0))
            if calm.cycle_pmf is not None:
                mx = expected_max_of_iid(calm.cycle_pmf, cycles)
            if cell == MAINLINE_AT:
                out["rt_cycle_hit_prob_exact"] = calm.hit_prob
        out[key("rt_cycle_ipis_max_exact", cell)] = mx
        if ipi != MAINLINE_IPI:
            continue
        here = {"collapse_policy": col}
        out[key("collapse_ipis_per_hour_exact", here)] = ex.isolated_collapse_per_s * hours
        if col == MAINLINE_COLLAPSE:
            out["fallbacks_per_hour_exact"] = ex.fallbacks_per_s * hours
            out["fallback_ipis_per_hour_exact"] = ex.isolated_fallback_per_s * hours
        if col == FRESH_COLLAPSE:
            out["fresh_alloc_failures_per_hour_exact"] = ex.fresh_failures_per_s * hours
    out.setdefault("rt_cycle_hit_prob_exact", nan)
    return {k: float(v) for k, v in out.items()}
