"""The zone pressure model (``model = "pressure"``, ``docs/model.md`` §4): when GFP_NOWAIT
batch pages really fail.

A sequence is one trajectory of the zone pressure chain (free pages x kswapd state, plus
the optional extension state), simulated by uniformisation (``events``, ``kernels``):
``warmup_s`` seconds not counted, then ``horizon_s`` seconds counted, from
``initial_free`` free pages (default: all), kswapd asleep. ``estimator = "importance"``
switches to regenerative importance sampling for rare failures (``rare``). Estimators in
``estimates``; the exact stationary law in ``mcstudy.exact.pressure``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from mcstudy.engine.blocks import BlockPlan
from mcstudy.engine.rng import stream_key
from mcstudy.engine.tallies import Tallies
from mcstudy.findings import Finding
from mcstudy.models.base import Model, Warmup
from mcstudy.models.contract import EstimateSpec, Variable
from mcstudy.models.pressure import kernels as K
from mcstudy.models.pressure.checks import pressure_findings
from mcstudy.models.pressure.estimates import RATES, pressure_estimates
from mcstudy.models.pressure.params import PressureParams
from mcstudy.models.pressure.prepare import PreparedPressure, prepare
from mcstudy.models.pressure.rare import simulate_importance
from mcstudy.models.pressure.start import exact_chain, stationary


def _var(units: str, long_name: str, dtype: str = "float64") -> Variable:
    return Variable(units, long_name, dtype)


_EXACT_KEYS = ("nowait_fail_prob", "time_below_min_frac", "kswapd_awake_frac", *RATES)


def _variables() -> dict[str, Variable]:
    v = {
        "nowait_fail_prob": _var("1", "P(a gather's first GFP_NOWAIT batch-page attempt fails)"),
        "nowait_fail_prob_stderr": _var("1", "standard error of nowait_fail_prob"),
        "nowait_fail_prob_ci_low": _var("1", "95% interval low end of nowait_fail_prob"),
        "nowait_fail_prob_ci_high": _var("1", "95% interval high end of nowait_fail_prob"),
        "nowait_fail_prob_rel_err": _var("1", "relative standard error of nowait_fail_prob"),
        "nowait_fail_prob_ess": _var(
            "gathers", "effective sample size: p(1-p)/stderr^2 of nowait_fail_prob"
        ),
        "time_below_min_frac": _var("1", "fraction of time with free <= min (+boost)"),
        "time_below_min_frac_stderr": _var("1", "standard error of time_below_min_frac"),
        "kswapd_awake_frac": _var("1", "fraction of time kswapd is awake"),
        "kswapd_awake_frac_stderr": _var("1", "standard error of kswapd_awake_frac"),
        "stalls_per_s": _var("1/s", "direct-reclaim stalls per second"),
        "stalls_per_s_stderr": _var("1/s", "standard error of stalls_per_s"),
        "kswapd_wakeups_per_s": _var("1/s", "kswapd wake-ups per second"),
        "kswapd_wakeups_per_s_stderr": _var("1/s", "standard error of kswapd_wakeups_per_s"),
        "fallbacks_per_s": _var("1/s", "tlb_remove_table_one() fallbacks per second"),
        "fallbacks_per_s_stderr": _var("1/s", "standard error of fallbacks_per_s"),
        "sync_ipis_per_s": _var("IPIs/s", "fallback sync IPI deliveries per second"),
        "sync_ipis_per_s_stderr": _var("IPIs/s", "standard error of sync_ipis_per_s"),
        "atomic_fails_per_s": _var("1/s", "failed GFP_ATOMIC allocations per second"),
        "atomic_fails_per_s_stderr": _var("1/s", "standard error of atomic_fails_per_s"),
        "split_nowait_fails_per_s": _var(
            "1/s", "GFP_NOWAIT failures per second of on-demand split-time table allocations"
        ),
        "split_nowait_fails_per_s_stderr": _var("1/s", "standard error of the above"),
        "rcu_held_pages_mean": _var("pages", "mean batch pages waiting for a grace period"),
        "khugepaged_ipis_per_s": _var(
            "IPIs/s", "collapse_huge_page() sync IPI deliveries per second (exact)"
        ),
        "gathers": _var("gathers", "gathers simulated in counted time", "int64"),
        "sequences": _var("sequences", "trajectories (or importance cycles): sample size", "int64"),
        "events": _var("events", "uniformised events simulated (incl. warm-up)", "int64"),
        "uniformization_rate": _var("events/s", "Lambda of the uniformised chain"),
        "stationary_start": _var(
            "1", "1 if sequences started from the exact stationary law, 0 if fixed", "int64"
        ),
        "warmup_s_used": _var("s", "simulated time before the counted window"),
        "relaxation_time_s": _var(
            "s", "estimated relaxation time from the fixed start (0: stationary start)"
        ),
        "below_frac_drift": _var(
            "1", "time below min: second minus first half of the counted window (mean)"
        ),
        "below_frac_drift_stderr": _var("1", "standard error of below_frac_drift"),
        "awake_frac_drift": _var(
            "1", "time kswapd is awake: second minus first half of the counted window (mean)"
        ),
        "awake_frac_drift_stderr": _var("1", "standard error of awake_frac_drift"),
    }
    for k in _EXACT_KEYS[1:]:
        v[f"{k}_ci_low"] = _var(v[k].units, f"95% interval low end of {k}")
        v[f"{k}_ci_high"] = _var(v[k].units, f"95% interval high end of {k}")
    for k in _EXACT_KEYS:
        v[f"{k}_exact"] = _var(v[k].units, f"exact stationary value of {k}")
    return v


def _specs() -> tuple[EstimateSpec, ...]:
    def spec(name: str, kind: str, interval: str) -> EstimateSpec:
        return EstimateSpec(
            name,
            kind,
            interval,
            stderr=f"{name}_stderr",
            ci=(f"{name}_ci_low", f"{name}_ci_high"),
            exact=f"{name}_exact",
        )

    specs = [spec("nowait_fail_prob", "ratio", "score")]
    specs += [spec(name, "mean", "wilson-design") for name in _EXACT_KEYS[1:3]]
    specs += [spec(name, "rate", "score") for name in _EXACT_KEYS[3:]]
    return tuple(specs)


class PressureModel(Model):
    """``model = "pressure"``: GFP_NOWAIT failures from the zone's free-page dynamics."""

    name = "pressure"
    Params = PressureParams
    tallies = K.TALLIES
    main_estimate = "nowait_fail_prob"
    variables = _variables()
    estimate_specs = _specs()

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        return {
            "managed_pages": 40,
            "wmark_min": 4,
            "wmark_low": 6,
            "wmark_high": 8,
            "alloc_rate": 2.0,
            "free_rate": 1.0,
            "kswapd_rate": 0.1,
            "gather_rate": 0.5,
            "reclaim_batch": 4,
            "direct_reclaim_batch": 4,
            "warmup_s": 1.0,
            "horizon_s": 5.0,
        }

    def warmup_variants(self, params: Iterable[PressureParams]) -> list[Warmup]:
        """Plain or importance-sampling kernels, each with or without the exact solver
        (the stationary start and the exact column need it), as the points need them."""
        params = list(params)
        if params:
            keys = {(p.estimator, exact_chain(p) is not None) for p in params}
        else:
            keys = {("plain", True), ("importance", True)}
        out = []
        for estimator, exact in sorted(keys):
            tiny = dict(self.warmup_params())
            stream = (1, 2)
            if estimator == "importance":
                tiny.update(estimator="importance", pilot_steps=64, plain_cycles=1)
                stream = stream_key(1, 0)  # its cycles are short (others can take minutes)
            if not exact:
                tiny["initial_free"] = 8  # a fixed start: no stationary law to solve
            out.append(Warmup(tiny, exact, stream))
        return out

    def prepare(self, params: PressureParams) -> PreparedPressure:
        return prepare(params)

    def simulate(
        self,
        prepared: PreparedPressure,
        key: tuple[int, int],
        plan: BlockPlan,
        first_block: int,
        n_blocks: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        p = prepared.params
        if p.estimator == "importance":
            return simulate_importance(prepared, key, plan, first_block, n_blocks)
        return super().simulate(prepared, key, plan, first_block, n_blocks)

    def kernel_call(self, prepared: PreparedPressure) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The plain estimator's driver (importance sampling: ``rare.simulate_importance``)."""
        t = prepared.tables
        return K.simulate_pressure_blocks, (
            prepared.ip,
            t.rate * prepared.start.warmup_s,
            t.rate * prepared.params.horizon_s,
            prepared.start.init_cdf,
            prepared.start.init_levels,
            t.kernel_args(),
            t.agg,
            prepared.stall,
        )

    def estimates(self, prepared: PreparedPressure, tallies: Tallies) -> dict[str, float]:
        return pressure_estimates(prepared, tallies)

    def findings(self, prepared: PreparedPressure, values: dict[str, Any]) -> list[Finding]:
        return pressure_findings(prepared, values)

    def derived(self, params: PressureParams) -> dict[str, float]:
        return {
            "khugepaged_ipis_per_s": params.khugepaged_collapse_rate * params.khugepaged_ipi().mean
        }

    def exact(self, params: PressureParams) -> dict[str, float]:
        chain = exact_chain(params)
        if chain is None:
            return {}
        try:
            st = stationary(chain)
        except ValueError:
            return {}
        uses = params.profile().uses_tlb_remove_table
        fb = params.gather_rate * params.tables_per_gather * st.below_min_prob if uses else 0.0
        return {
            "nowait_fail_prob_exact": st.below_min_prob,
            "time_below_min_frac_exact": st.below_min_prob,
            "kswapd_awake_frac_exact": st.kswapd_awake_prob,
            "stalls_per_s_exact": st.stalls_per_s,
            "kswapd_wakeups_per_s_exact": st.kswapd_wakeups_per_s,
            "fallbacks_per_s_exact": fb,
            "sync_ipis_per_s_exact": fb * params.fallback_ipi().mean,
            "atomic_fails_per_s_exact": st.atomic_fails_per_s,
            "split_nowait_fails_per_s_exact": params.thp_split_rate * st.below_min_prob,
        }
