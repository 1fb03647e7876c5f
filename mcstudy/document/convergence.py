"""Convergence traces: the running main estimate each point recorded during its run.

A point records its ``main_estimate`` and 95 % interval after every checkpoint (1, 2, 3,
4, 6, 8, 11, 16, ... blocks and its last block; ``mcstudy.storage.running``). Because
every random number of point ``i`` is keyed by (study seed, i, block, sub-stream), the
estimate after ``k`` blocks is the estimate of a run of ``k`` blocks: the curve is the
path the stored estimate took. The report reads these from the dataset and never re-runs
a kernel, so a report costs the same in a fresh process as right after the run. The
last running value must equal the stored estimate bit for bit, which the report checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.document.curves import plain
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import Estimate, stderr
from mcstudy.fmt import coord
from mcstudy.stats.interval import Z95
from mcstudy.storage.running import CHECKPOINT_DIM, HIGH, LOW, SEQUENCES, VALUE


@dataclass
class Trace:
    """The running main estimate of one point after each checkpoint."""

    index: int
    coords: dict[str, Any]
    sequences: np.ndarray
    value: np.ndarray
    low: np.ndarray
    high: np.ndarray
    stored: float
    """the point's stored estimate"""
    stored_sequences: int
    exact: float | None = None

    @property
    def matches(self) -> bool:
        """The last running value is the stored estimate, bit for bit."""
        return bool(self.value.size) and _same_bits(self.value[-1], self.stored)

    def title(self) -> str:
        if not self.coords:
            return "the single point"
        return ", ".join(f"{k} = {coord(v)}" for k, v in self.coords.items())

    def relative_error(self) -> np.ndarray:
        """Half the 95 % interval / 1.96 over |estimate| (the relative standard error)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.high - self.low) / (2.0 * Z95) / np.abs(self.value)


def point_coords(ds: xr.Dataset, flat: int) -> dict[str, Any]:
    """Coordinates of the point with C-order index ``flat`` over the sweep dimensions."""
    dims = sweep_dims(ds)
    shape = tuple(ds.sizes[d] for d in dims)
    idx = np.unravel_index(flat, shape) if dims else ()
    return {d: plain(ds[d].values[i]) for d, i in zip(dims, idx, strict=True)}


def has_running(ds: xr.Dataset, est: Estimate) -> bool:
    """The dataset holds the running estimate of ``est`` (written by a run that records it)."""
    names = (SEQUENCES, VALUE, LOW, HIGH)
    return all(n in ds.data_vars for n in names) and ds[VALUE].attrs.get("estimate") == est.name


def _at(ds: xr.Dataset, name: str, coords: dict[str, Any]) -> Any:
    da = ds[name]
    return da.sel(coords) if coords else da


def read_trace(ds: xr.Dataset, est: Estimate, flat: int) -> Trace | None:
    """The stored running estimate of point ``flat`` (None when it has no checkpoint)."""
    coords = point_coords(ds, flat)
    seq = np.asarray(_at(ds, SEQUENCES, coords).values, dtype=np.int64).ravel()
    keep = seq > 0
    if not np.any(keep):
        return None

    def series(name: str) -> np.ndarray:
        return np.asarray(_at(ds, name, coords).values, dtype=float).ravel()[keep]

    stored_n = int(seq[keep][-1])
    if "sequences" in ds.data_vars:
        stored_n = int(_at(ds, "sequences", coords).values)
    exact = None
    if est.exact is not None:
        exact = float(_at(ds, est.exact, coords).values)
    return Trace(
        index=flat,
        coords=coords,
        sequences=seq[keep],
        value=series(VALUE),
        low=series(LOW),
        high=series(HIGH),
        stored=float(_at(ds, est.name, coords).values),
        stored_sequences=stored_n,
        exact=exact if exact is not None and math.isfinite(exact) else None,
    )


def _same_bits(a: Any, b: Any) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) and math.isnan(b):
        return True
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def select_points(ds: xr.Dataset, est: Estimate, k: int = 3) -> list[int]:
    """Up to ``k`` points worth showing: the noisiest, a median and the most precise.

    Candidates have a finite, non-zero estimate and a finite positive standard error.
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


def convergence_traces(ds: xr.Dataset, est: Estimate) -> list[Trace]:
    """The stored traces of the points chosen by :func:`select_points`."""
    if not has_running(ds, est) or CHECKPOINT_DIM not in ds[VALUE].dims:
        return []
    found = (read_trace(ds, est, p) for p in select_points(ds, est))
    return [t for t in found if t is not None]
