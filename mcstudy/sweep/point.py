"""One sweep point through the block engine.

Point ``i`` uses the Philox key ``stream_key(seed, i)``, so its numbers depend only on
(seed, point, block, sub-stream): never on the thread count, the process or machine that
runs it, or the other points. ``run_point`` is what every executor calls.

Adaptive precision (``target_rel_err`` and ``max_sequences`` in ``[study]``): a point
runs at least ``sequences`` (rounded up to whole blocks), then more blocks until the
relative standard error of the model's ``main_estimate`` is at most the target, or
``max_sequences`` is reached. Blocks always run in order 0, 1, 2, ... and the size of
each next chunk is a deterministic function of the tallies so far, which are
bit-identical everywhere; so a point stops after the same blocks with the same result
whatever the executor, worker or thread count. Block ``b`` draws the same numbers as in
a fixed-size run, so an adaptive point that stopped after ``k`` blocks equals a fixed
run of ``k * block_size`` sequences bit for bit.

Running estimate: after every checkpoint (``engine.blocks.is_checkpoint``: 1, 2, 3, 4,
6, 8, 11, 16, ... blocks, and the last block) a point evaluates its ``main_estimate``
and 95 % interval on the tallies so far, which are those of a run of that many blocks.
The report draws the convergence of the stored run from these (``running`` in the point
record, ``running_*`` variables of the dataset) and never re-runs a kernel.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mcstudy.engine.blocks import CHUNK_BLOCKS, BlockPlan, fold_observed, run_blocks
from mcstudy.engine.rng import stream_key
from mcstudy.engine.tallies import Tallies
from mcstudy.findings import Finding
from mcstudy.models.base import Model
from mcstudy.stats.interval import Z95
from mcstudy.storage.points import REL_ERR, TARGET_MET
from mcstudy.storage.version import code_version
from mcstudy.study import Point, Study

#: the first adaptive re-check comes after at most this many blocks past the minimum
_GROWTH_SAFETY = 1.1


def main_interval(model: Model, values: dict[str, Any]) -> tuple[float, float, float]:
    """The main estimate and the ends of its 95 % interval (the declared interval, else
    +-1.96 declared standard errors)."""
    spec = model.main_spec()
    y = float(values[spec.name])
    if spec.ci is not None:
        return y, float(values[spec.ci[0]]), float(values[spec.ci[1]])
    assert spec.stderr is not None  # an EstimateSpec has a stderr or an interval
    se = float(values[spec.stderr])
    return y, y - Z95 * se, y + Z95 * se


@dataclass
class Running:
    """The main estimate with its 95 % interval after each checkpoint of a point."""

    estimate: str
    sequences: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)

    def add(self, sequences: int, triple: tuple[float, float, float]) -> None:
        self.sequences.append(sequences)
        self.value.append(triple[0])
        self.low.append(triple[1])
        self.high.append(triple[2])

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "sequences": list(self.sequences),
            "value": list(self.value),
            "low": list(self.low),
            "high": list(self.high),
        }


@dataclass(frozen=True)
class PointResult:
    """Everything computed for one point.

    ``values``: estimates, derived and exact values (and, with adaptive precision,
    ``main_rel_err`` and ``target_met``); ``tallies``: the exactly reduced tallies;
    ``blocks``: blocks simulated; ``seconds``: wall time of the point; ``findings``:
    warnings, vacuous estimates and notes of this point (disagreements are decided over
    the study); ``running``: the running main estimate (:class:`Running`).
    """

    index: int
    values: dict[str, Any]
    tallies: dict[str, int | float]
    blocks: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    running: Running | None = None
    simulation_started: float | None = None
    """wall-clock time (epoch s) of the point's first kernel call (None: none ran)"""


def _recorder(model: Model, prepared: Any, plan: BlockPlan, running: Running) -> Any:
    def observe(tallies: Tallies) -> None:
        n = plan.sequences_in(0, tallies.blocks_done)
        running.add(n, main_interval(model, model.estimates(prepared, tallies)))

    return observe


def relative_error(model: Model, estimates: dict[str, Any]) -> float:
    """Relative standard error of ``model.main_estimate`` (dimensionless).

    The standard error is the one its declaration names (``EstimateSpec.stderr``), else
    half the width of its declared 95 % interval / z. ``inf`` when the estimate is 0 or
    not finite: with no events seen the precision is unknown, so adaptive precision
    keeps sampling.
    """
    spec = model.main_spec()
    est = float(estimates[spec.name])
    if spec.stderr is not None:
        se = float(estimates[spec.stderr])
    else:
        assert spec.ci is not None  # an EstimateSpec has a stderr or an interval
        se = (float(estimates[spec.ci[1]]) - float(estimates[spec.ci[0]])) / (2.0 * Z95)
    if est == 0.0 or not math.isfinite(est) or not math.isfinite(se):
        return math.inf
    return se / abs(est)


def point_code_version(model: Model) -> dict[str, Any]:
    """The code version of ``model``'s points: its sources and this point pipeline."""
    return code_version(model, (sys.modules[__name__],))


def next_chunk(done: int, rel_err: float, target: float, remaining: int) -> int:
    """Blocks to run before the next check (deterministic in its arguments).

    The relative error falls like 1/sqrt(n): aim for ``done * (rel/target)**2`` blocks
    plus 10 %, but grow by at least ``done/8`` (few checks), at most ``done`` (no big
    jump on an early, noisy estimate) and at most ``CHUNK_BLOCKS`` (bounded memory).
    """
    if math.isfinite(rel_err) and rel_err > 0.0:
        want = math.ceil(done * (rel_err / target) ** 2 * _GROWTH_SAFETY) - done
    else:
        want = done
    grow = max(want, -(-done // 8), 1)
    grow = min(grow, max(done, 1), CHUNK_BLOCKS)
    return min(grow, remaining)


def _run_adaptive(
    kernel: Callable[[int, int], Any],
    plan: BlockPlan,
    model: Model,
    prepared: Any,
    min_blocks: int,
    target: float,
    progress: Callable[[int], None] | None,
    observe: Callable[[Tallies], None] | None = None,
) -> tuple[Tallies, float, bool]:
    tallies = model.tallies.new()
    done = 0
    rel = math.inf
    while done < plan.n_blocks:
        if done < min_blocks:
            n = min(CHUNK_BLOCKS, min_blocks - done)
        else:
            rel = relative_error(model, model.estimates(prepared, tallies))
            if rel <= target:
                return tallies, rel, True
            n = next_chunk(done, rel, target, plan.n_blocks - done)
        ints, floats = kernel(done, n)
        fold_observed(tallies, ints, floats, observe)
        if progress is not None:
            progress(plan.sequences_in(done, n))
        done += n
    rel = relative_error(model, model.estimates(prepared, tallies))
    return tallies, rel, rel <= target


def run_point(
    study: Study, model: Model, point: Point, progress: Callable[[int], None] | None = None
) -> PointResult:
    """Simulate one sweep point and return its estimates next to the exact values."""
    t0 = time.perf_counter()
    section = study.section
    prepared = model.prepare(point.params)
    key = stream_key(section.seed, point.index)
    adaptive = section.target_rel_err is not None
    plan = BlockPlan(
        section.max_sequences if adaptive else section.sequences,  # type: ignore[arg-type]
        section.block_size,
    )

    started: list[float] = []

    def kernel(first: int, n: int) -> Any:
        if not started:
            started.append(time.time())
        return model.simulate(prepared, key, plan, first, n)

    values: dict[str, Any] = {}
    running = Running(model.main_key())
    observe = _recorder(model, prepared, plan, running)
    if adaptive:
        min_blocks = -(-section.sequences // section.block_size)
        tallies, rel, met = _run_adaptive(
            kernel, plan, model, prepared, min_blocks, section.target_rel_err, progress, observe
        )
    else:
        tallies = run_blocks(kernel, plan, model.tallies, progress=progress, observe=observe)
    values.update(model.estimates(prepared, tallies))
    n_done = plan.sequences_in(0, tallies.blocks_done)
    if not running.sequences or running.sequences[-1] != n_done:
        running.add(n_done, main_interval(model, values))
    if adaptive:
        values[REL_ERR] = rel
        values[TARGET_MET] = int(met)
    values.update(model.derived(point.params))
    values.update(model.exact(point.params))
    found = [replace(f, point=point.index) for f in point_findings(model, prepared, values)]
    return PointResult(
        point.index,
        values,
        tallies.as_dict(),
        tallies.blocks_done,
        time.perf_counter() - t0,
        found,
        running,
        started[0] if started else None,
    )


def _number(values: dict[str, Any], name: str | None) -> float | None:
    if name is None or name not in values or values[name] is None:
        return None
    return float(values[name])


FEW_EVENTS = 5.0
"""Below this many effective events (estimate / standard error)^2 a score or clustered
Wilson interval's coverage depends on how the events cluster (``docs/model.md`` §6.1)."""
FEW_EVENTS_INTERVALS = ("score", "wilson-design")


def few_events(model: Model, values: dict[str, Any]) -> list[Finding]:
    """Score and clustered-Wilson estimates resting on fewer than ``FEW_EVENTS``
    effective events (for a proportion p: p^2 / se^2 = p x its effective sample size,
    near p = 0)."""
    out = []
    for spec in model.point_specs():
        if spec.interval not in FEW_EVENTS_INTERVALS:
            continue
        est, se = _number(values, spec.name), _number(values, spec.stderr)
        if est is None or se is None or not (est > 0.0 and se > 0.0):
            continue
        if (est / se) ** 2 < FEW_EVENTS:
            out.append(
                Finding(
                    None,
                    spec.name,
                    "warning",
                    f"{spec.name} rests on fewer than {FEW_EVENTS:g} effective events: its "
                    "interval is rough, and undercovers if the events come in clusters; "
                    "run more sequences",
                )
            )
    return out


def point_findings(model: Model, prepared: Any, values: dict[str, Any]) -> list[Finding]:
    """What one point can tell about itself: estimates on too few events, and the
    model's own findings (unfinished transients, vacuous estimates, notes). Whether an
    estimate disagrees with its exact value is decided over the whole study
    (``mcstudy.findings.study_findings``: one family of comparisons)."""
    return few_events(model, values) + list(model.findings(prepared, values))
