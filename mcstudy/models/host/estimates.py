"""Estimators of the host study (``docs/model.md`` §11.9): tallies -> estimates with 95 %
intervals and sample sizes.

Sequences (of ``horizon_s`` each) are i.i.d.; every standard error is the between-sequence one.
Rates of events (fallbacks, IPIs, failures) and per-horizon maxima get Poisson's score
interval at their effective number of events (events cluster within a pressure period;
``docs/model.md`` §6.1), with no event the upper bound of z^2 events in all simulated host-hours
(sequences x ``horizon_s`` / 3600).
Time fractions get Wilson's interval at the effective sample size, with no sequence
reaching the mark Wilson's bound for 0 of n sequences (§6.2). Means of tables held get
the normal interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mcstudy.engine.tallies import Tallies
from mcstudy.exact.thp import PAGE_TABLE_BYTES
from mcstudy.kernel.policies import MAINLINE_COLLAPSE, MAINLINE_IPI
from mcstudy.models.host import kernels as KH
from mcstudy.models.host.outputs import FRESH_COLLAPSE, key
from mcstudy.models.host.prepare import PreparedHost
from mcstudy.stats.interval import Z95, score_interval, t_inflation
from mcstudy.stats.mean import mean_from_sums
from mcstudy.stats.proportion import wilson_design_interval

SECONDS_PER_HOUR = 3600.0
Cell = Mapping[str, Any] | None
"""The cell of a variable with output dimensions (``outputs.key``); None: no dimension."""


def _mean(
    out: dict[str, float],
    name: str,
    total: float,
    sq: float,
    n: int,
    scale: float,
    at: Cell = None,
) -> None:
    m = mean_from_sums(total, sq, n)
    out[key(name, at)] = m.estimate * scale
    out[key(f"{name}_stderr", at)] = m.stderr * scale


def _normal_ci(out: dict[str, float], name: str, n: int, at: Cell = None) -> None:
    """Student's t interval from ``n`` sequences, cut at 0 (a mean of non-negative values)."""
    m, se = out[key(name, at)], out[key(f"{name}_stderr", at)] * t_inflation(n)
    _ci(out, name, at, max(0.0, m - Z95 * se), m + Z95 * se)


def _ci(out: dict[str, float], name: str, at: Cell, lo: float, hi: float) -> None:
    out[key(f"{name}_ci_low", at)], out[key(f"{name}_ci_high", at)] = lo, hi


def _zero_rate(n: int, hours: float) -> float:
    """Upper bound (per hour) on a rate of which no event was seen in ``n`` x ``hours``."""
    return Z95 * Z95 / (n * hours) if n > 0 else math.nan


def count_rate(
    out: dict[str, float],
    name: str,
    count: float,
    sq: float,
    n: int,
    hours: float,
    scale: float = 1.0,
    at: Cell = None,
) -> None:
    """Events per hour: mean of per-sequence counts x ``scale`` / ``hours``; score
    interval (``scale``: real events per simulated one)."""
    _mean(out, name, count, sq, n, scale / hours, at)
    zero = _zero_rate(n, hours) * scale
    lo, hi = score_interval(out[key(name, at)], out[key(f"{name}_stderr", at)], n, zero)
    _ci(out, name, at, lo, hi)


def time_fraction(
    out: dict[str, float], name: str, total: float, sq: float, n: int, seen: int | None = None
) -> None:
    """A fraction of time in [0, 1] averaged over ``n`` sequences; Wilson at the effective
    sample size, Wilson's bound for 0 of ``n`` when no sequence saw it (``seen``: the
    sequences that reached the mark, whose values alone make the standard error)."""
    _mean(out, name, total, sq, n, 1.0)
    lo, hi = wilson_design_interval(out[name], out[f"{name}_stderr"], n, float(n), seen)
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = lo, hi


def host_estimates(prepared: PreparedHost, t: Tallies) -> dict[str, float]:
    """Estimates of one point from its reduced tallies."""
    p = prepared.params
    n = int(t["sequences"])
    hours = p.horizon_s / SECONDS_PER_HOUR
    out: dict[str, float] = {"sequences": n}
    out["sequences_reaching_min"] = int(t["reached_min"])
    time_fraction(
        out, "nowait_fail_prob", t["below_frac"], t["below_frac_sq"], n, int(t["reached_min"])
    )
    time_fraction(
        out,
        "atomic_fail_prob",
        t["below_atomic_frac"],
        t["below_atomic_frac_sq"],
        n,
        int(t["reached_atomic"]),
    )
    time_fraction(out, "kswapd_awake_frac", t["awake_frac"], t["awake_frac_sq"], n)
    count_rate(out, "direct_reclaim_stalls_per_hour", t["stalls"], t["stalls_sq"], n, hours)

    # the THPs and the table policies
    _mean(out, "thp_mean", t["thp_avg"], t["thp_avg_sq"], n, 1.0)
    _normal_ci(out, "thp_mean", n)
    _mean(out, "deposit_bytes_mean", t["thp_avg"], t["thp_avg_sq"], n, PAGE_TABLE_BYTES)
    _normal_ci(out, "deposit_bytes_mean", n)
    _mean(out, "deposit_bytes_peak", t["thp_peak"], t["thp_peak_sq"], n, PAGE_TABLE_BYTES)
    _normal_ci(out, "deposit_bytes_peak", n)
    count_rate(out, "splits_per_hour", t["splits"], t["splits_sq"], n, hours)
    for v, variant in enumerate(KH.TABLE_VARIANTS):
        pre = KH.table_prefix(v)
        here = {"table_policy": variant}
        name = "split_alloc_failures_per_hour"
        count_rate(out, name, t[pre + "fails"], t[pre + "fails_sq"], n, hours, at=here)
        if KH.TABLE_KS[v] > 0:
            name, k = "reserve_bytes_mean", {"cache_k": KH.TABLE_KS[v]}
            _mean(out, name, t[pre + "reserve"], t[pre + "reserve_sq"], n, PAGE_TABLE_BYTES, k)
            _normal_ci(out, name, n, k)

    # the IPI side, per (ipi_policy, collapse_policy)
    bound_max = _zero_rate(n, hours) * hours
    for v, (ipi, col) in enumerate(KH.IPI_VARIANTS):
        pre = KH.ipi_prefix(v)
        cell = {"ipi_policy": ipi, "collapse_policy": col}
        iso = t[pre + "collapse_iso"] + t[pre + "fallback_iso"]
        count_rate(out, "isolated_cpu_ipis_per_hour", iso, t[pre + "iso_sq"], n, hours, at=cell)
        name = "rt_cycle_ipis_max"
        _mean(out, name, t[pre + "rt_max_sum"], t[pre + "rt_max_sq"], n, 1.0, cell)
        se = out[key(f"{name}_stderr", cell)]
        _ci(out, name, cell, *score_interval(out[key(name, cell)], se, n, bound_max))
        if ipi != MAINLINE_IPI:
            continue
        count_rate(
            out,
            "collapse_ipis_per_hour",
            t[pre + "collapse_iso"],
            t[pre + "collapse_iso_sq"],
            n,
            hours,
            at={"collapse_policy": col},
        )
        if col == MAINLINE_COLLAPSE:
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
            hits = t[pre + "rt_hit_cycles"]
            hm = mean_from_sums(hits, t[pre + "rt_hits_sq"], n)
            per = prepared.cycles
            est = hits / cycles if cycles > 0 else math.nan
            se = hm.stderr / per if per > 0 else math.nan
            out["rt_cycle_hit_prob"] = est
            out["rt_cycle_hit_prob_stderr"] = se
            lo, hi = wilson_design_interval(est, se, n, float(cycles))
            out["rt_cycle_hit_prob_ci_low"], out["rt_cycle_hit_prob_ci_high"] = lo, hi
        if col == FRESH_COLLAPSE:
            count_rate(
                out,
                "fresh_alloc_failures_per_hour",
                t[pre + "fresh_failures"],
                t[pre + "fresh_failures_sq"],
                n,
                hours,
            )
    return out
