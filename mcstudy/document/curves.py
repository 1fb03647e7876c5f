"""Exact curves between sweep points, from the model's own exact solver.

A dataset stores exact values only at its sweep points. Where the model has an exact
solver (``Model.exact``) and the x axis is numeric, the report evaluates it on a dense
grid between the swept values, holding every other parameter at the point's values, so a
figure can draw the exact curve rather than a line through a few points. Evaluation is
bounded by a time budget; past it the figures fall back to the stored exact values.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import xarray as xr
from pydantic import ValidationError

from mcstudy.models.base import Model

DENSE_POINTS = 64


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value a config would hold."""
    return value.item() if isinstance(value, np.generic) else value


def dataset_params(ds: xr.Dataset) -> dict[str, Any]:
    """The fixed ``[params]`` of the study that produced ``ds``."""
    try:
        params = json.loads(ds.attrs.get("params", "{}"))
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


class ExactCurves:
    """Memoised exact values of ``model`` at parameter sets near the dataset's points."""

    def __init__(self, model: Model, ds: xr.Dataset, budget_s: float = 4.0) -> None:
        self.model = model
        self.ds = ds
        self.base = dataset_params(ds)
        self.deadline = time.perf_counter() + budget_s
        self._memo: dict[tuple[tuple[str, Any], ...], dict[str, float] | None] = {}
        self.exhausted = False

    def exact_at(self, coords: dict[str, Any]) -> dict[str, float] | None:
        """Exact values at the study's params with ``coords`` substituted (None if invalid)."""
        values = {**self.base, **{k: plain(v) for k, v in coords.items()}}
        key = tuple(sorted(values.items(), key=lambda kv: kv[0]))
        if key in self._memo:
            return self._memo[key]
        if time.perf_counter() > self.deadline:
            self.exhausted = True
            return None
        try:
            params = self.model.Params.model_validate(values)
            out = self.model.exact(params)
        except (ValidationError, ValueError, KeyError):
            out = None
        self._memo[key] = out
        return out

    def curve(
        self, x: str, coords: dict[str, Any], name: str, log: bool
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(x values, exact ``name``) on a dense grid over the swept range of ``x``."""
        grid = self.ds[x].values
        if not np.issubdtype(grid.dtype, np.number) or grid.size < 2:
            return None
        lo, hi = float(np.min(grid)), float(np.max(grid))
        if log and lo > 0:
            dense = np.geomspace(lo, hi, DENSE_POINTS)
        else:
            dense = np.linspace(lo, hi, DENSE_POINTS)
        if np.issubdtype(grid.dtype, np.integer):
            xs = np.unique(np.concatenate([np.round(dense).astype(np.int64), grid]))
            xs_py = [int(v) for v in xs]
        else:
            xs = np.unique(np.concatenate([dense, grid.astype(float)]))
            xs_py = [float(v) for v in xs]
        ys = np.full(len(xs_py), np.nan)
        for i, xv in enumerate(xs_py):
            out = self.exact_at({**coords, x: xv})
            if out is None:
                if self.exhausted:
                    return None
                continue
            if name in out and out[name] is not None:
                ys[i] = float(out[name])
        if not np.any(np.isfinite(ys)):
            return None
        return np.asarray(xs, dtype=float), ys
