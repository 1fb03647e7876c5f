"""Run a study: every sweep point through the block engine, into one dataset.

Point ``i`` uses the Philox key ``stream_key(seed, i)``, so its numbers depend only on
(seed, point, block, sub-stream): never on the thread count or on the other points.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import xarray as xr

from mcstudy.engine.blocks import BlockPlan, run_blocks
from mcstudy.engine.rng import stream_key
from mcstudy.models.base import Model
from mcstudy.provenance import environment
from mcstudy.store import build_dataset
from mcstudy.study import Point, Study


@dataclass(frozen=True)
class PointResult:
    """Everything computed for one point (estimates, exact values, derived, timing)."""

    index: int
    values: dict[str, Any]
    seconds: float


def run_point(
    study: Study, model: Model, point: Point, progress: Callable[[int], None] | None = None
) -> PointResult:
    """Simulate one sweep point and return its estimates next to the exact values."""
    t0 = time.perf_counter()
    prepared = model.prepare(point.params)
    plan = BlockPlan(study.section.sequences, study.section.block_size)
    key = stream_key(study.section.seed, point.index)
    tallies = run_blocks(
        lambda first, n: model.simulate(prepared, key, plan, first, n),
        plan,
        model.int_tallies,
        model.float_tallies,
        progress=progress,
    )
    values: dict[str, Any] = {}
    values.update(model.estimates(prepared, tallies))
    values.update(model.derived(point.params))
    values.update(model.exact(point.params))
    return PointResult(point.index, values, time.perf_counter() - t0)


def run_study(study: Study, threads: int | None = None, show_progress: bool = True) -> xr.Dataset:
    """Run all points of ``study`` in this process; returns the labelled dataset."""
    from tqdm import tqdm

    if threads is not None:
        numba.set_num_threads(threads)
    model = study.model
    t_start = time.perf_counter()
    compile_seconds = model.warmup()
    points = list(study.points())
    results: list[dict[str, Any]] = []
    with tqdm(
        total=len(points) * study.section.sequences,
        unit="seq",
        unit_scale=True,
        desc=study.name,
        disable=not show_progress,
        leave=False,
    ) as bar:
        for point in points:
            res = run_point(study, model, point, progress=bar.update)
            results.append(res.values)
    wall = time.perf_counter() - t_start
    provenance = {
        **environment(),
        "config_path": study.source,
        "config_text": study.text,
        "overrides": list(study.overrides),
        "config_hash": study.config_hash(),
        "seed": study.section.seed,
        "block_size": study.section.block_size,
        "rng": "Philox4x32-10, key=SplitMix64(seed, point), counter=(call, block, substream)",
        "wall_seconds": wall,
        "compile_seconds": compile_seconds,
        "run_seconds": wall - compile_seconds,
        "executor": "local",
    }
    return build_dataset(study, model, results, provenance)
