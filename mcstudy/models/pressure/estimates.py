"""Estimators of the pressure model (``docs/model.md`` §4.7, §4.9, §6.3).

Plain trajectories (``estimator = "plain"``), all from i.i.d. trajectories:

* time fractions (below min, kswapd awake): per trajectory the Rao-Blackwellised
  fraction of the horizon; mean and standard error across trajectories;
* rates per second (stalls, kswapd wake-ups, fallbacks, GFP_ATOMIC failures): per
  trajectory count / horizon_s; mean and standard error across trajectories;
* ``nowait_fail_prob``: failing gathers / gathers, a *ratio* estimator
  (``mcstudy.stats.ratio``), because the gathers of one trajectory are neither
  independent (successive gathers see correlated free-page levels) nor fixed in number;
  its interval is p +- 1.96 SE clipped to [0, 1], with no upper end (NaN) when no
  gather failed: use the importance sampler there;
* sync IPIs: each fallback's deliveries have mean ``targets x deliver_prob``; the
  per-trajectory IPI count is replaced by its conditional mean given the fallbacks
  (Rao-Blackwell), which is unbiased and has lower variance.

Importance sampling (``estimator = "importance"``): ratios of cycle means
(``mcstudy.models.pressure.rare``).
"""

from __future__ import annotations

import math
from typing import Any

from mcstudy.engine.tallies import Tallies
from mcstudy.models.pressure.prepare import PreparedPressure
from mcstudy.stats.interval import Z95, score_interval
from mcstudy.stats.mean import mean_and_variance, mean_from_sums
from mcstudy.stats.proportion import wilson_design_interval
from mcstudy.stats.ratio import ratio_of_means, ratio_of_sums


def _fail_prob(pf: float, se: float, n: int, gathers: float) -> dict[str, float]:
    """``nowait_fail_prob`` and its interval, relative error and effective sample size.

    A ratio of clustered counts: Poisson's score interval at its effective number of
    failing gathers; with none, 0 with the upper bound of no failure in ``gathers``.
    """
    zero = Z95 * Z95 / gathers if gathers > 0 else math.nan
    lo, hi = score_interval(pf, se, n, zero, 1.0)
    return {
        "nowait_fail_prob": pf,
        "nowait_fail_prob_stderr": se,
        "nowait_fail_prob_ci_low": lo,
        "nowait_fail_prob_ci_high": hi,
        "nowait_fail_prob_rel_err": se / pf if pf > 0 else math.nan,
        "nowait_fail_prob_ess": pf * (1 - pf) / se**2 if se > 0 else math.nan,
    }


def plain_estimates(prepared: PreparedPressure, tallies: Tallies) -> dict[str, Any]:
    """Estimates from plain trajectories."""
    p = prepared.params
    n = int(tallies["sequences"])
    t = p.horizon_s

    def per_s(name: str, sq: str) -> tuple[float, float]:
        m = mean_from_sums(tallies[name], tallies[sq], n)
        return m.estimate / t, m.stderr / t

    below = mean_from_sums(tallies["below_frac"], tallies["below_frac_sq"], n)
    awake = mean_from_sums(tallies["awake_frac"], tallies["awake_frac_sq"], n)
    held = mean_from_sums(tallies["held_mean"], tallies["held_mean_sq"], n)
    stalls = per_s("stalls", "stalls_sq")
    wake = per_s("wakeups", "wakeups_sq")
    fb = per_s("fallbacks", "fallbacks_sq")
    afail = per_s("atomic_fails", "atomic_fails_sq")
    if not prepared.uses_tlb_remove_table:
        fb = (0.0, 0.0)
    ipi_mean = prepared.fallback_ipi.mean
    g = int(tallies["gathers"])
    fails = int(tallies["failing_gathers"])
    ratio = ratio_of_sums(
        float(fails),
        float(g),
        tallies["failing_sq"],
        tallies["gathers_sq"],
        tallies["failing_x_gathers"],
        n,
    )
    return {
        **_fail_prob(ratio.estimate, ratio.stderr, n, float(g)),
        "time_below_min_frac": below.estimate,
        "time_below_min_frac_stderr": below.stderr,
        "kswapd_awake_frac": awake.estimate,
        "kswapd_awake_frac_stderr": awake.stderr,
        "stalls_per_s": stalls[0],
        "stalls_per_s_stderr": stalls[1],
        "kswapd_wakeups_per_s": wake[0],
        "kswapd_wakeups_per_s_stderr": wake[1],
        "fallbacks_per_s": fb[0],
        "fallbacks_per_s_stderr": fb[1],
        "sync_ipis_per_s": fb[0] * ipi_mean,
        "sync_ipis_per_s_stderr": fb[1] * ipi_mean,
        "atomic_fails_per_s": afail[0],
        "atomic_fails_per_s_stderr": afail[1],
        "rcu_held_pages_mean": held.estimate,
        "gathers": g,
        "sequences": n,
    }


def importance_estimates(prepared: PreparedPressure, tallies: Tallies) -> dict[str, Any]:
    """Estimates with delta-method errors from importance and plain cycle tallies.

    P(B) = E[L x steps in B per importance cycle] / E[steps per plain cycle]: a ratio of
    independent means (``ratio_of_means``); kswapd's awake fraction and wake-ups come
    from the plain cycles alone (``ratio_of_sums`` over plain cycles).
    """
    lam = prepared.tables.rate
    n = int(tallies["sequences"])
    nc = int(tallies["plain_cycles"])
    steps = float(tallies["plain_cycle_steps"])
    cbar, cvar = mean_and_variance(steps, tallies["plain_cycle_steps_sq"], nc)

    def over_cycle(num: str, num_sq: str) -> tuple[float, float]:
        ybar, yvar = mean_and_variance(tallies[num], tallies[num_sq], n)
        r = ratio_of_means(ybar, yvar, n, cbar, cvar, nc)
        return r.estimate, r.stderr

    def plain_ratio(num: str, num_sq: str, cross: str) -> tuple[float, float]:
        r = ratio_of_sums(
            float(tallies[num]), steps, tallies[num_sq], tallies["plain_cycle_steps_sq"],
            tallies[cross], nc,
        )  # fmt: skip
        return r.estimate, r.stderr

    pb, pb_se = over_cycle("is_below", "is_below_sq")
    st, st_se = over_cycle("is_stalls", "is_stalls_sq")
    fb, fb_se = over_cycle("is_fallbacks", "is_fallbacks_sq")
    af, af_se = over_cycle("is_afails", "is_afails_sq")
    aw, aw_se = plain_ratio("plain_awake_steps", "plain_awake_sq", "plain_awake_x_steps")
    wk, wk_se = plain_ratio("plain_wakeups", "plain_wakeups_sq", "plain_wakeups_x_steps")
    if not prepared.uses_tlb_remove_table:
        fb, fb_se = 0.0, 0.0
    ipi_mean = prepared.fallback_ipi.mean
    return {
        **_fail_prob(pb, pb_se, n, math.nan),
        "time_below_min_frac": pb,
        "time_below_min_frac_stderr": pb_se,
        "kswapd_awake_frac": aw,
        "kswapd_awake_frac_stderr": aw_se,
        "stalls_per_s": lam * st,
        "stalls_per_s_stderr": lam * st_se,
        "kswapd_wakeups_per_s": lam * wk,
        "kswapd_wakeups_per_s_stderr": lam * wk_se,
        "fallbacks_per_s": lam * fb,
        "fallbacks_per_s_stderr": lam * fb_se,
        "sync_ipis_per_s": lam * fb * ipi_mean,
        "sync_ipis_per_s_stderr": lam * fb_se * ipi_mean,
        "atomic_fails_per_s": lam * af,
        "atomic_fails_per_s_stderr": lam * af_se,
        "sequences": n,
    }


RATES = (
    "stalls_per_s",
    "kswapd_wakeups_per_s",
    "fallbacks_per_s",
    "sync_ipis_per_s",
    "atomic_fails_per_s",
    "split_nowait_fails_per_s",
)
"""Rates per second, each with a score interval (``docs/model.md`` §6.3)."""


def _intervals(prepared: PreparedPressure, out: dict[str, Any]) -> None:
    """The 95 % interval of every estimate but ``nowait_fail_prob``: time fractions by
    Wilson at the effective sample size, rates by the score interval, never [0, 0]."""
    p = prepared.params
    n = int(out["sequences"])
    gathers = float(out.get("gathers", 0) or 0)
    trials = gathers if gathers > 0 else float(n)
    for name in ("time_below_min_frac", "kswapd_awake_frac"):
        lo, hi = wilson_design_interval(out[name], out[f"{name}_stderr"], n, trials)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = lo, hi
    # no event in n trajectories of horizon_s: at most z^2 events in n horizon_s seconds
    once = Z95 * Z95 / (n * p.horizon_s) if n > 0 else math.nan
    zeros = {
        "fallbacks_per_s": once * p.tables_per_gather,
        "sync_ipis_per_s": once * p.tables_per_gather * prepared.fallback_ipi.mean,
        "split_nowait_fails_per_s": p.thp_split_rate * out["time_below_min_frac_ci_high"],
    }
    for name in RATES:
        zero = zeros.get(name, once)
        lo, hi = score_interval(out[name], out[f"{name}_stderr"], n, zero)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = lo, hi


def pressure_estimates(prepared: PreparedPressure, tallies: Tallies) -> dict[str, Any]:
    """Every estimate of one point, plain or importance-sampled."""
    if prepared.params.estimator == "importance":
        out = importance_estimates(prepared, tallies)
    else:
        out = plain_estimates(prepared, tallies)
        out.update(transient_estimates(prepared, tallies))
    p = prepared.params
    out["split_nowait_fails_per_s"] = p.thp_split_rate * out["time_below_min_frac"]
    out["split_nowait_fails_per_s_stderr"] = p.thp_split_rate * out["time_below_min_frac_stderr"]
    _intervals(prepared, out)
    out["uniformization_rate"] = prepared.tables.rate
    out["events"] = int(tallies["events"])
    start = prepared.start
    out["stationary_start"] = int(start.stationary)
    out["warmup_s_used"] = start.warmup_s
    out["relaxation_time_s"] = start.relaxation_s
    return out


def transient_estimates(prepared: PreparedPressure, tallies: Tallies) -> dict[str, float]:
    """Second minus first half of the counted window: the change of the time fractions
    below min and with kswapd awake, mean and standard error over trajectories (1)."""
    if prepared.params.estimator == "importance":  # regeneration cycles: no transient
        return {}
    n = int(tallies["sequences"])
    out = {}
    for name in ("below_frac", "awake_frac"):
        m = mean_from_sums(tallies[f"{name}_drift"], tallies[f"{name}_drift_sq"], n)
        out[f"{name}_drift"] = m.estimate
        out[f"{name}_drift_stderr"] = m.stderr
    return out
