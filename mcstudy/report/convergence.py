"""Convergence traces: re-run a few stored points block by block and follow the estimate.

A dataset stores final estimates only. Because every random number of point ``i`` is
keyed by (study seed, i, block, sub-stream), the first k blocks of a re-run are the
first k blocks of the stored run: running the blocks in order and evaluating the
model's estimator after each one gives the running estimate *of the stored run*, not of
a new one. When the whole point is re-run, the final estimates must equal the stored
ones bit for bit, which the report checks.

Only public interfaces are used: the study's ``[params]`` and the point's coordinates
are validated by the model's parameter schema, ``Model.prepare``/``simulate``/
``estimates`` produce the tallies and estimates, ``engine.rng.stream_key`` gives the
point's key. Work is bounded by a time budget; a point that does not fit is traced over
its first blocks only (and said so).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.engine.blocks import CHUNK_BLOCKS, BlockPlan
from mcstudy.engine.rng import stream_key
from mcstudy.models.base import Model
from mcstudy.report.curves import dataset_params, plain
from mcstudy.report.fmt import coord
from mcstudy.report.layout import sweep_dims
from mcstudy.report.variables import Estimate, stderr
from mcstudy.stats.interval import Z95

MAX_CHECKPOINTS = 200


@dataclass
class Trace:
    """Running estimates of one point after each checkpoint (a number of whole blocks)."""

    index: int
    coords: dict[str, Any]
    sequences: np.ndarray
    values: dict[str, np.ndarray]
    stored_sequences: int
    blocks_total: int
    blocks_done: int
    seconds: float
    exact: dict[str, float] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every block of the stored run was re-run."""
        return self.blocks_done == self.blocks_total

    @property
    def reproduced(self) -> bool | None:
        """Final re-run estimates equal the stored ones bit for bit (None: not complete)."""
        if not self.complete:
            return None
        return not self.mismatched

    def title(self) -> str:
        if not self.coords:
            return "the single point"
        return ", ".join(f"{k} = {coord(v)}" for k, v in self.coords.items())

    def bounds(self, est: Estimate) -> tuple[np.ndarray, np.ndarray]:
        y = self.values[est.name]
        if est.ci is not None and est.ci[0] in self.values:
            return self.values[est.ci[0]], self.values[est.ci[1]]
        if est.stderr is not None and est.stderr in self.values:
            se = self.values[est.stderr]
            return y - Z95 * se, y + Z95 * se
        return np.full_like(y, np.nan), np.full_like(y, np.nan)

    def relative_error(self, est: Estimate) -> np.ndarray:
        """Standard error (or 95 % half-width / 1.96) over |estimate|."""
        y = self.values.get(est.name)
        if y is None:
            return np.full(self.sequences.shape, np.nan)
        lo, hi = self.bounds(est)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (hi - lo) / (2.0 * Z95) / np.abs(y)


def point_coords(ds: xr.Dataset, flat: int) -> dict[str, Any]:
    """Coordinates of the point with C-order index ``flat`` over the sweep dimensions."""
    dims = sweep_dims(ds)
    shape = tuple(ds.sizes[d] for d in dims)
    idx = np.unravel_index(flat, shape) if dims else ()
    return {d: plain(ds[d].values[i]) for d, i in zip(dims, idx, strict=True)}


def _at(ds: xr.Dataset, name: str, coords: dict[str, Any]) -> Any:
    da = ds[name]
    return da.sel(coords).values.item() if coords else da.values.item()


def trace_point(
    ds: xr.Dataset, model: Model, flat: int, budget_s: float, est_names: list[str]
) -> Trace:
    """Re-run point ``flat`` of ``ds`` block by block, within ``budget_s`` seconds."""
    from mcstudy.report.meta import block_size_of, planned_sequences

    t0 = time.perf_counter()
    coords = point_coords(ds, flat)
    params = model.Params.model_validate({**dataset_params(ds), **coords})
    prepared = model.prepare(params)
    plan = BlockPlan(planned_sequences(ds), block_size_of(ds))
    stored_n = plan.sequences
    if "sequences" in ds.data_vars:
        stored_n = int(_at(ds, "sequences", coords))
    # an adaptive point stops after whole blocks; a fixed one runs the whole plan
    blocks_total = min(plan.n_blocks, -(-stored_n // plan.block_size))
    key = stream_key(int(ds.attrs["seed"]), flat)
    tallies = model.tallies.new()
    checkpoints = set(
        np.unique(np.geomspace(1, blocks_total, min(MAX_CHECKPOINTS, blocks_total)).round())
        .astype(int)
        .tolist()
    )
    seqs: list[int] = []
    rows: list[dict[str, float]] = []
    done = 0
    chunk = 1
    while done < blocks_total:
        n = min(chunk, blocks_total - done, CHUNK_BLOCKS)
        c0 = time.perf_counter()
        ints, floats = model.simulate(prepared, key, plan, done, n)
        spent = time.perf_counter() - c0
        for j in range(n):
            tallies.add_blocks(ints[j : j + 1], floats[j : j + 1])
            if done + j + 1 in checkpoints or done + j + 1 == blocks_total:
                seqs.append(plan.sequences_in(0, done + j + 1))
                rows.append(model.estimates(prepared, tallies))
        done += n
        elapsed = time.perf_counter() - t0
        per_block = spent / n
        if done < blocks_total:
            nxt = min(2 * chunk, CHUNK_BLOCKS)
            if elapsed + per_block * min(nxt, blocks_total - done) > budget_s:
                # take only what still fits, then stop
                fit = int((budget_s - elapsed) / max(per_block, 1e-9))
                if fit < 1:
                    break
                nxt = fit
            chunk = nxt
    if done > 0 and (not seqs or seqs[-1] != plan.sequences_in(0, done)):
        seqs.append(plan.sequences_in(0, done))
        rows.append(model.estimates(prepared, tallies))
    keys = list(rows[0]) if rows else []
    values = {k: np.array([float(r[k]) for r in rows]) for k in keys}
    tr = Trace(
        index=flat,
        coords=coords,
        sequences=np.array(seqs, dtype=np.int64),
        values=values,
        stored_sequences=stored_n,
        blocks_total=blocks_total,
        blocks_done=done,
        seconds=time.perf_counter() - t0,
    )
    for name in est_names:
        exact = f"{name}_exact"
        if exact in ds.data_vars:
            tr.exact[name] = float(_at(ds, exact, coords))
    if tr.complete and rows:
        final = rows[-1]
        for k, v in final.items():
            if k not in ds.data_vars:
                continue
            tr.compared.append(k)
            stored = _at(ds, k, coords)
            if not _same_bits(v, stored):
                tr.mismatched.append(k)
    return tr


def _same_bits(a: Any, b: Any) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) and math.isnan(b):
        return True
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def select_points(ds: xr.Dataset, est: Estimate, k: int = 3) -> list[int]:
    """Up to ``k`` points worth tracing: the noisiest, a median and the most precise.

    Candidates have a finite, non-zero estimate and a finite positive standard error;
    the order puts the noisiest (usually cheapest) first so it is traced in full.
    """
    y = np.asarray(ds[est.name].values, dtype=float).ravel()
    se = np.asarray(stderr(ds, est).values, dtype=float).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = se / np.abs(y)
    ok = np.flatnonzero(np.isfinite(rel) & (rel > 0) & (y != 0))
    if ok.size == 0:
        return []
    order = ok[np.argsort(rel[ok], kind="stable")]
    picks = [int(order[-1]), int(order[len(order) // 2]), int(order[0])]
    out: list[int] = []
    for p in picks:
        if p not in out:
            out.append(p)
    return out[:k]


def convergence_traces(
    ds: xr.Dataset, model: Model, est: Estimate, est_names: list[str], budget_s: float = 6.0
) -> list[Trace]:
    """Traces of the points chosen by :func:`select_points`, sharing ``budget_s`` seconds."""
    points = select_points(ds, est)
    base = dataset_params(ds)  # compile only the kernel variants these points use
    model.warmup([model.Params.model_validate({**base, **point_coords(ds, p)}) for p in points])
    t0 = time.perf_counter()
    traces = []
    for i, flat in enumerate(points):
        left = budget_s - (time.perf_counter() - t0)
        if left <= 0:
            break
        share = left / (len(points) - i)
        traces.append(trace_point(ds, model, flat, share, est_names))
    return traces
