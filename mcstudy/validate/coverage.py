"""Replicate a validation case and measure its intervals against the exact values.

The replications of a case are the blocks of one engine run: block r simulates
replication r with its own keyed streams (``docs/model.md`` §7), so replications are
independent, run in parallel, and give the same numbers on any machine. For every
declared estimate with an exact value the result holds the coverage of its 95 %
interval (with Wilson's interval for that coverage), the mean z against the exact
value, and the ratio of the estimates' observed spread to the mean reported standard
error (1 when the standard errors are honest).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcstudy.engine.blocks import CHUNK_BLOCKS, BlockPlan
from mcstudy.engine.rng import stream_key
from mcstudy.models.base import Model
from mcstudy.models.registry import get_model
from mcstudy.stats.interval import Z95
from mcstudy.stats.proportion import wilson
from mcstudy.validate.cases import Case

SEED = 20231127


@dataclass(frozen=True)
class Coverage:
    """The intervals of one estimate over the replications of one case."""

    case: str
    estimate: str
    interval: str
    exact: float
    replications: int
    covered: int
    open_ended: int
    """replications whose interval has a missing end (no claim on that side)"""
    mean_z: float
    spread_ratio: float
    mean_estimate: float
    discrete: bool = False
    """an integer estimate with a standard error under one unit (coverage not judged)"""
    quick: bool = False
    """measured by ``--quick``: judged by the lenient rule (``results.verdict``)"""

    @property
    def coverage(self) -> float:
        return self.covered / self.replications if self.replications else math.nan

    @property
    def coverage_ci(self) -> tuple[float, float]:
        w = wilson(self.covered, self.replications)
        return w.ci_low, w.ci_high

    @property
    def half_width(self) -> float:
        """Half the width of the coverage's Wilson interval (its precision)."""
        lo, hi = self.coverage_ci
        return (hi - lo) / 2.0


def _bounds(model: Model, values: dict, spec) -> tuple[float, float, float]:
    """(low, high, standard error) of one estimate as the model reports it."""
    est = float(values[spec.name])
    se = float(values[spec.stderr]) if spec.stderr is not None else math.nan
    if spec.ci is not None:
        lo, hi = float(values[spec.ci[0]]), float(values[spec.ci[1]])
    else:
        lo, hi = est - Z95 * se, est + Z95 * se
    if not math.isfinite(se) and math.isfinite(lo) and math.isfinite(hi):
        se = (hi - lo) / (2.0 * Z95)
    return lo, hi, se


def replicate(
    case: Case,
    replications: int,
    progress: Callable[[int], None] | None = None,
    first: int = 0,
) -> list[dict]:
    """Estimates (and exact values) of the independent runs ``first`` to
    ``replications - 1`` of ``case`` (replication r is block r of one plan, so a run
    extended later holds the same first replications)."""
    model = get_model(case.model)
    params = model.Params.model_validate(case.params)
    prepared = model.prepare(params)
    exact = model.exact(params)
    plan = BlockPlan(case.sequences * replications, case.sequences)
    key = stream_key(SEED, zlib.crc32(case.name.encode()))
    out = []
    for start in range(first, replications, CHUNK_BLOCKS):
        n = min(CHUNK_BLOCKS, replications - start)
        ints, floats = model.simulate(prepared, key, plan, start, n)
        for r in range(n):
            tallies = model.tallies.new()
            tallies.add_blocks(ints[r : r + 1], floats[r : r + 1])
            values = dict(model.estimates(prepared, tallies))
            values.update(model.derived(params))
            values.update(exact)
            out.append(values)
        if progress is not None:
            progress(n)
    return out


def coverage_of(case: Case, runs: list[dict], quick: bool = False) -> list[Coverage]:
    """Coverage statistics of every estimate of ``case`` that has an exact value
    (``quick``: judged by the lenient rule of ``--quick``)."""
    model = get_model(case.model)
    rows = []
    for spec in model.point_specs():
        if spec.exact is None or spec.exact not in runs[0]:
            continue
        exact = float(runs[0][spec.exact])
        if not math.isfinite(exact):
            continue
        ests, zs, ses = [], [], []
        covered = open_ended = 0
        for values in runs:
            est = float(values[spec.name])
            lo, hi, se = _bounds(model, values, spec)
            if math.isnan(lo) or math.isnan(hi):
                open_ended += 1
            lo = -math.inf if math.isnan(lo) else lo
            hi = math.inf if math.isnan(hi) else hi
            covered += int(lo <= exact <= hi)
            if math.isfinite(est):
                ests.append(est)
            if math.isfinite(est) and math.isfinite(se) and se > 0.0:
                zs.append((est - exact) / se)
                ses.append(se)
        spread = float(np.std(ests, ddof=1)) if len(ests) > 1 else math.nan
        rows.append(
            Coverage(
                case=case.name,
                estimate=spec.name,
                interval=spec.interval,
                exact=exact,
                replications=len(runs),
                covered=covered,
                open_ended=open_ended,
                mean_z=float(np.mean(zs)) if zs else math.nan,
                spread_ratio=spread / float(np.mean(ses)) if ses else math.nan,
                mean_estimate=float(np.mean(ests)) if ests else math.nan,
                discrete=spec.name in case.discrete,
                quick=quick,
            )
        )
    return rows
