"""Estimators of the host study (``docs/model.md`` §11.9): tallies -> estimates with 95 %
intervals and sample sizes.

Sequences (host-hours) are i.i.d.; every standard error is the between-sequence one.
Counts of events (fallbacks, IPIs, failures) get the union of the normal interval and
Garwood's exact Poisson interval of the pooled count (events cluster within a pressure
period, so the Poisson one alone would be too narrow; with no event it gives the upper
bound). Time fractions and per-horizon maxima get the normal interval, and when no
sequence saw the event at all, the 95 % upper bound that the sample of sequences allows.
"""

from __future__ import annotations

import math

from mcstudy.engine.tallies import Tallies
from mcstudy.exact.thp import PAGE_TABLE_BYTES
from mcstudy.models.host import kernels as KH
from mcstudy.models.host.outputs import COLLAPSE_ROWS, ipi_name, table_name
from mcstudy.models.host.prepare import PreparedHost
from mcstudy.stats.interval import normal_interval, union
from mcstudy.stats.mean import mean_from_sums
from mcstudy.stats.poisson import garwood
from mcstudy.stats.proportion import wilson

SECONDS_PER_HOUR = 3600.0


def _mean(out: dict[str, float], name: str, total: float, sq: float, n: int, scale: float) -> None:
    m = mean_from_sums(total, sq, n)
    out[name] = m.estimate * scale
    out[f"{name}_stderr"] = m.stderr * scale


def _normal_ci(out: dict[str, float], name: str, low: float = 0.0, high: float = math.inf) -> None:
    lo, hi = normal_interval(out[name], out[f"{name}_stderr"], low, high)
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = lo, hi


def count_rate(
    out: dict[str, float], name: str, count: int, sq: float, n: int, hours: float
) -> None:
    """Events per hour: mean of per-sequence counts / hours; normal union Garwood."""
    _mean(out, name, count, sq, n, 1.0 / hours)
    lo, hi = union(
        normal_interval(out[name], out[f"{name}_stderr"], 0.0), garwood(int(count), n * hours)
    )
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = lo, hi


def zero_bound(
    out: dict[str, float],
    name: str,
    total: float,
    sq: float,
    n: int,
    seen: int,
    bound: float,
    high: float = math.inf,
    scale: float = 1.0,
) -> None:
    """A mean of non-negative per-sequence values: normal interval; [0, ``bound``] when
    no sequence saw the event (``seen`` = 0)."""
    _mean(out, name, total, sq, n, scale)
    if seen == 0 and n > 0:
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = 0.0, bound
    else:
        _normal_ci(out, name, 0.0, high)


def host_estimates(prepared: PreparedHost, t: Tallies) -> dict[str, float]:
    """Estimates of one point from its reduced tallies."""
    p = prepared.params
    s = prepared.setup
    n = int(t["sequences"])
    hours = p.horizon_s / SECONDS_PER_HOUR
    out: dict[str, float] = {"sequences": n}
    reach_bound = wilson(0, n).ci_high if n > 0 else math.nan
    reached = int(t["reached_min"])
    out["sequences_reaching_min"] = reached
    zero_bound(
        out, "nowait_fail_prob", t["below_frac"], t["below_frac_sq"], n, reached, reach_bound, 1.0
    )
    zero_bound(
        out,
        "atomic_fail_prob",
        t["below_atomic_frac"],
        t["below_atomic_frac_sq"],
        n,
        int(t["reached_atomic"]),
        reach_bound,
        1.0,
    )
    _mean(out, "kswapd_awake_frac", t["awake_frac"], t["awake_frac_sq"], n, 1.0)
    _mean(out, "direct_reclaim_stalls_per_hour", t["stalls"], t["stalls_sq"], n, s.scale / hours)

    # the THPs and the table policies
    _mean(out, "thp_mean", t["thp_avg"], t["thp_avg_sq"], n, 1.0)
    _mean(out, "deposit_bytes_mean", t["thp_avg"], t["thp_avg_sq"], n, PAGE_TABLE_BYTES)
    _normal_ci(out, "deposit_bytes_mean")
    _mean(out, "deposit_bytes_peak", t["thp_peak"], t["thp_peak_sq"], n, PAGE_TABLE_BYTES)
    _mean(out, "splits_per_hour", t["splits"], t["splits_sq"], n, 1.0 / hours)
    for v, variant in enumerate(KH.TABLE_VARIANTS):
        pre = KH.table_prefix(v)
        count_rate(
            out,
            table_name("split_alloc_failures_per_hour", variant),
            t[pre + "fails"],
            t[pre + "fails_sq"],
            n,
            hours,
        )
        if KH.TABLE_KS[v] > 0:
            name = f"reserve_bytes_mean_{variant}"
            _mean(out, name, t[pre + "reserve"], t[pre + "reserve_sq"], n, PAGE_TABLE_BYTES)
            _normal_ci(out, name)

    # the IPI side, per (ipi_policy, collapse_policy)
    bound_max = garwood(0, n * hours)[1] * hours if n > 0 else math.nan
    for v, (ipi, col) in enumerate(KH.IPI_VARIANTS):
        pre = KH.ipi_prefix(v)
        iso = t[pre + "collapse_iso"] + t[pre + "fallback_iso"]
        count_rate(
            out, ipi_name("isolated_cpu_ipis_per_hour", ipi, col), iso, t[pre + "iso_sq"], n, hours
        )
        zero_bound(
            out,
            ipi_name("rt_cycle_ipis_max", ipi, col),
            t[pre + "rt_max_sum"],
            t[pre + "rt_max_sq"],
            n,
            int(t[pre + "rt_max_sum"]),
            bound_max,
        )
        if ipi != "broadcast":
            continue
        if col in COLLAPSE_ROWS.values():
            name = next(k for k, c in COLLAPSE_ROWS.items() if c == col)
            count_rate(out, name, t[pre + "collapse_iso"], t[pre + "collapse_iso_sq"], n, hours)
        if col == "sync_ipi":
            count_rate(
                out, "fallbacks_per_hour", t[pre + "fallbacks"], t[pre + "fallbacks_sq"], n, hours
            )
            count_rate(
                out,
                "fallback_ipis_per_hour",
                t[pre + "fallback_iso"],
                t[pre + "fallback_iso_sq"],
                n,
                hours,
            )
            cycles = int(t[pre + "rt_cycles"])
            out["rt_cycles"] = cycles
            hit = wilson(int(t[pre + "rt_hit_cycles"]), cycles)
            hm = mean_from_sums(t[pre + "rt_hit_cycles"], t[pre + "rt_hits_sq"], n)
            per = prepared.cycles
            out["rt_cycle_hit_prob"] = hit.estimate
            out["rt_cycle_hit_prob_stderr"] = hm.stderr / per if per > 0 else math.nan
            lo, hi = union(
                (hit.ci_low, hit.ci_high),
                normal_interval(hit.estimate, out["rt_cycle_hit_prob_stderr"], 0.0, 1.0),
            )
            out["rt_cycle_hit_prob_ci_low"], out["rt_cycle_hit_prob_ci_high"] = lo, hi
        if col == "fresh_table":
            count_rate(
                out,
                "fresh_alloc_failures_per_hour",
                t[pre + "fresh_failures"],
                t[pre + "fresh_failures_sq"],
                n,
                hours,
            )
    return out
