"""The gather model (``model = "gather"``, ``docs/model.md`` §3): per-gather fallbacks of
``tlb_remove_table()`` and the sync IPIs they send.

Parameters in ``params``, the block kernel in ``kernels``, the exact dynamic programme in
``mcstudy.exact.gather``. Estimators: per-gather means with their standard errors across
gathers (gathers are i.i.d.), and P(>= 1 fallback) with Wilson's interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcstudy.engine.rng import probability_threshold
from mcstudy.engine.tallies import Tallies
from mcstudy.exact.gather import gather_exact_mixture
from mcstudy.findings import Finding
from mcstudy.kernel.ipi import IpiTargets
from mcstudy.kernel.policies import ipi_with
from mcstudy.models.base import Model
from mcstudy.models.contract import EstimateSpec, Variable
from mcstudy.models.gather import kernels as K
from mcstudy.models.gather.params import GatherParams
from mcstudy.stats.interval import Z95, score_interval
from mcstudy.stats.mean import mean_from_sums
from mcstudy.stats.proportion import wilson


@dataclass(frozen=True)
class PreparedGather:
    """Packed kernel inputs of one point."""

    params: GatherParams
    n_tables: int
    batch: int
    ipi: IpiTargets
    uses_tlb_remove_table: bool
    inputs: K.GatherInputs
    """the block kernel's parameters (``pack_gather``)"""


def _log_q(p: float) -> float:
    """log1p(-p): the geometric gaps' parameter (p = 1 gives -inf: every attempt fails)."""
    with np.errstate(divide="ignore"):
        return float(np.log1p(-np.float64(p)))


def pack_gather(
    params: GatherParams, n_tables: int, batch: int, uses_trt: bool, ipi: IpiTargets
) -> K.GatherInputs:
    """The block kernel's parameters (units in ``kernels.GatherInputs``). The only place
    one is built: every field is converted to its one type, so the kernel sees one
    signature."""
    hi, lo, always = probability_threshold(params.pressure_episode_prob)
    return K.GatherInputs(
        n_tables=int(n_tables),
        batch=int(batch),
        uses_trt=bool(uses_trt),
        targets=int(ipi.targets),
        episodes=bool(params.pressure_episode_prob > 0.0),
        episode_hi=np.uint64(hi),
        episode_lo=np.uint64(lo),
        episode_always=bool(always),
        log_q_calm=_log_q(params.gfp_nowait_fail_p),
        log_q_pressure=_log_q(params.pressure_fail_p),
        deliver_prob=float(ipi.deliver_prob),
    )


def _var(units: str, long_name: str, dtype: str = "float64") -> Variable:
    return Variable(units, long_name, dtype)


class GatherModel(Model):
    """``model = "gather"``: fallbacks and sync IPIs per mmu_gather."""

    name = "gather"
    Params = GatherParams
    tallies = K.TALLIES
    main_estimate = "fallbacks_mean"
    variables = {
        "fallbacks_mean": _var(
            "fallbacks/gather", "mean tlb_remove_table_one() fallbacks per gather"
        ),
        "fallbacks_stderr": _var("fallbacks/gather", "standard error of fallbacks_mean"),
        "fallback_prob": _var("1", "P(>= 1 fallback in a gather)"),
        "fallback_prob_ci_low": _var("1", "95% Wilson interval low end of fallback_prob"),
        "fallback_prob_ci_high": _var("1", "95% Wilson interval high end of fallback_prob"),
        "fallbacks_mean_ci_low": _var("fallbacks/gather", "95% interval low end of fallbacks_mean"),
        "fallbacks_mean_ci_high": _var(
            "fallbacks/gather", "95% interval high end of fallbacks_mean"
        ),
        "alloc_attempts_mean": _var(
            "attempts/gather", "mean GFP_NOWAIT batch-page attempts per gather"
        ),
        "alloc_attempts_stderr": _var("attempts/gather", "standard error of alloc_attempts_mean"),
        "alloc_attempts_mean_ci_low": _var(
            "attempts/gather", "95% interval low end of alloc_attempts_mean"
        ),
        "alloc_attempts_mean_ci_high": _var(
            "attempts/gather", "95% interval high end of alloc_attempts_mean"
        ),
        "sync_ipis_mean": _var(
            "IPIs/gather", "mean sync IPI deliveries per gather under ipi_policy"
        ),
        "sync_ipis_stderr": _var("IPIs/gather", "standard error of sync_ipis_mean"),
        "sync_ipis_mean_ci_low": _var("IPIs/gather", "95% interval low end of sync_ipis_mean"),
        "sync_ipis_mean_ci_high": _var("IPIs/gather", "95% interval high end of sync_ipis_mean"),
        "sequences": _var("gathers", "simulated gathers (sample size)", "int64"),
        "tables_per_gather_used": _var("tables", "page tables freed per gather", "int64"),
        "fallbacks_mean_exact": _var("fallbacks/gather", "exact mean fallbacks per gather (DP)"),
        "fallbacks_var_exact": _var(
            "fallbacks^2/gather^2", "exact variance of fallbacks per gather"
        ),
        "fallback_prob_exact": _var("1", "exact P(>= 1 fallback in a gather)"),
        "alloc_attempts_mean_exact": _var("attempts/gather", "exact mean batch-page attempts"),
        "sync_ipis_mean_exact": _var("IPIs/gather", "exact mean sync IPI deliveries per gather"),
    }
    estimate_specs = (
        EstimateSpec(
            "fallbacks_mean",
            "mean",
            "score",
            stderr="fallbacks_stderr",
            ci=("fallbacks_mean_ci_low", "fallbacks_mean_ci_high"),
            exact="fallbacks_mean_exact",
            exact_var="fallbacks_var_exact",
        ),
        EstimateSpec(
            "fallback_prob",
            "proportion",
            "wilson",
            ci=("fallback_prob_ci_low", "fallback_prob_ci_high"),
            exact="fallback_prob_exact",
        ),
        EstimateSpec(
            "alloc_attempts_mean",
            "mean",
            "score",
            stderr="alloc_attempts_stderr",
            ci=("alloc_attempts_mean_ci_low", "alloc_attempts_mean_ci_high"),
            exact="alloc_attempts_mean_exact",
        ),
        EstimateSpec(
            "sync_ipis_mean",
            "mean",
            "score",
            stderr="sync_ipis_stderr",
            ci=("sync_ipis_mean_ci_low", "sync_ipis_mean_ci_high"),
            exact="sync_ipis_mean_exact",
        ),
    )

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        return {
            "tables_per_gather": 3,
            "gfp_nowait_fail_p": 0.5,
            "max_table_batch": 2,
            "ipi_policy": ipi_with(kernel_mode_only=True),
            "kernel_mode_fraction": 0.5,
            "pressure_episode_prob": 0.5,
        }

    def prepare(self, params: GatherParams) -> PreparedGather:
        profile = params.profile()
        ipi = params.ipi()
        n_tables = params.n_tables()
        batch = params.batch()
        return PreparedGather(
            params,
            n_tables,
            batch,
            ipi,
            profile.uses_tlb_remove_table,
            pack_gather(params, n_tables, batch, profile.uses_tlb_remove_table, ipi),
        )

    def kernel_call(self, prepared: PreparedGather) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return K.simulate_gather_blocks, (prepared.inputs,)

    def estimates(self, prepared: PreparedGather, tallies: Tallies) -> dict[str, float]:
        n = int(tallies["sequences"])
        f = mean_from_sums(tallies["fallbacks"], tallies["fallbacks_sq"], n)
        a = mean_from_sums(tallies["alloc_attempts"], tallies["alloc_attempts_sq"], n)
        d = mean_from_sums(tallies["sync_ipis"], tallies["sync_ipis_sq"], n)
        hit = wilson(int(tallies["gathers_with_fallback"]), n)
        # no event in n gathers: at most z^2 / n events per gather (single fallbacks)
        zero = Z95 * Z95 / n if n > 0 else math.nan
        f_lo, f_hi = score_interval(f.estimate, f.stderr, n, zero)
        d_lo, d_hi = score_interval(d.estimate, d.stderr, n, zero * prepared.ipi.mean)
        # attempts beyond the ceil(n / MAX_TABLE_BATCH) of a gather without failure
        floor = -(-prepared.n_tables // prepared.batch) if prepared.uses_tlb_remove_table else 0
        x_lo, x_hi = score_interval(a.estimate - floor, a.stderr, n, zero)
        return {
            "fallbacks_mean": f.estimate,
            "fallbacks_stderr": f.stderr,
            "fallbacks_mean_ci_low": f_lo,
            "fallbacks_mean_ci_high": f_hi,
            "fallback_prob": hit.estimate,
            "fallback_prob_ci_low": hit.ci_low,
            "fallback_prob_ci_high": hit.ci_high,
            "alloc_attempts_mean": a.estimate,
            "alloc_attempts_stderr": a.stderr,
            "alloc_attempts_mean_ci_low": floor + x_lo,
            "alloc_attempts_mean_ci_high": floor + x_hi,
            "sync_ipis_mean": d.estimate,
            "sync_ipis_stderr": d.stderr,
            "sync_ipis_mean_ci_low": d_lo,
            "sync_ipis_mean_ci_high": d_hi,
            "sequences": n,
        }

    def findings(self, prepared: PreparedGather, values: dict[str, Any]) -> list[Finding]:
        """A note where the settings rule the fallback out (information: the config asks
        for it); a vacuous finding where it can happen but none was observed."""
        p = prepared.params
        if not prepared.uses_tlb_remove_table:
            why = (
                f"kernel {p.kernel} frees page tables without tlb_remove_table() "
                "(tlb_remove_page()): no fallback can happen, every estimate is 0 exactly"
            )
            return [Finding(None, "fallbacks_mean", "note", why)]
        if p.gfp_nowait_fail_p == 0.0 and (
            p.pressure_episode_prob == 0.0 or p.pressure_fail_p == 0.0
        ):
            why = "the GFP_NOWAIT failure probability is 0: no fallback can happen"
            return [Finding(None, "fallbacks_mean", "note", why)]
        if values.get("fallbacks_mean") == 0.0:
            why = (
                "no fallback observed: the estimates are 0 with a positive upper bound "
                "(more sequences would resolve them)"
            )
            return [Finding(None, "fallbacks_mean", "vacuous", why)]
        return []

    def derived(self, params: GatherParams) -> dict[str, float]:
        return {"tables_per_gather_used": params.n_tables()}

    def exact(self, params: GatherParams) -> dict[str, float]:
        if not params.profile().uses_tlb_remove_table:
            return {
                "fallbacks_mean_exact": 0.0,
                "fallbacks_var_exact": 0.0,
                "fallback_prob_exact": 0.0,
                "alloc_attempts_mean_exact": 0.0,
                "sync_ipis_mean_exact": 0.0,
            }
        e = params.pressure_episode_prob
        ex = gather_exact_mixture(
            params.n_tables(),
            params.batch(),
            [(1.0 - e, params.gfp_nowait_fail_p), (e, params.pressure_fail_p)],
        )
        return {
            "fallbacks_mean_exact": ex.fallbacks_mean,
            "fallbacks_var_exact": ex.fallbacks_var,
            "fallback_prob_exact": ex.fallback_prob,
            "alloc_attempts_mean_exact": ex.alloc_attempts_mean,
            "sync_ipis_mean_exact": ex.fallbacks_mean * params.ipi().mean,
        }
