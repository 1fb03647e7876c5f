"""How to lay a sweep out on a figure: x axis, one line per hue level, one panel per facet.

Dimensions of a sweep are assigned in order of preference: a numeric dimension with
many levels goes on the x axis, then up to ``MAX_HUE`` levels become lines and up to
``MAX_FACETS`` levels become panels; any further dimension gives one figure per
combination of its levels (at most ``max_figures``; the tables show the rest).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

MAX_HUE = 10
MAX_FACETS = 6


@dataclass(frozen=True)
class Layout:
    """One figure's assignment of sweep dimensions."""

    x: str | None
    hue: str | None
    facet: str | None
    fixed: dict[str, Any] = field(default_factory=dict)
    """Remaining dimensions held at one level each (coordinate values)."""

    def fixed_text(self) -> str:
        from mcstudy.fmt import coord

        return ", ".join(f"{k} = {coord(v)}" for k, v in self.fixed.items())


def sweep_dims(ds: xr.Dataset) -> list[str]:
    """The sweep dimensions, in config order (from the ``sweep_dims`` attribute)."""
    import json

    try:
        dims = json.loads(ds.attrs.get("sweep_dims", "null"))
    except ValueError:
        dims = None
    if not isinstance(dims, list) or any(d not in ds.dims for d in dims):
        # not the per-point checkpoints of the running estimates (mcstudy.storage.running)
        dims = [str(d) for d in ds.dims if d != "checkpoint"]
    return dims


def is_numeric(ds: xr.Dataset, dim: str) -> bool:
    return bool(np.issubdtype(ds[dim].dtype, np.number)) and ds[dim].dtype != bool


def wants_log(values: np.ndarray, ratio: float = 50.0) -> bool:
    """Log scale for positive values spanning at least ``ratio``."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return v.size >= 2 and float(v.max()) / float(v.min()) >= ratio


def choose_layouts(
    ds: xr.Dataset, prefer: Sequence[str | None] = (), max_figures: int = 4
) -> tuple[list[Layout], int]:
    """Layouts covering the sweep; returns (layouts, combinations left out)."""
    dims = sweep_dims(ds)
    varying = [d for d in dims if ds.sizes[d] > 1]
    single = {d: ds[d].values[0].item() for d in dims if ds.sizes[d] == 1}
    chosen: list[str | None] = []
    pool = list(varying)
    prefs = list(prefer) + [None] * (3 - len(prefer))
    for slot, pref in enumerate(prefs[:3]):
        if pref is not None and pref in pool:
            chosen.append(pref)
            pool.remove(pref)
            continue
        pick = None
        if slot == 0:
            numeric = [d for d in pool if is_numeric(ds, d)]
            cands = numeric or pool
            if cands:
                # float dims first, then the most levels
                pick = max(cands, key=lambda d: (ds[d].dtype.kind == "f", ds.sizes[d]))
        else:
            limit = MAX_HUE if slot == 1 else MAX_FACETS
            cands = [d for d in pool if ds.sizes[d] <= limit]
            if cands:
                pick = max(cands, key=lambda d: ds.sizes[d]) if slot == 1 else cands[0]
        if pick is not None:
            pool.remove(pick)
        chosen.append(pick)
    x, hue, facet = chosen
    if facet is not None and hue is not None and ds.sizes[facet] > ds.sizes[hue]:
        if ds.sizes[facet] <= MAX_HUE and ds.sizes[hue] <= MAX_FACETS and hue not in prefer:
            hue, facet = facet, hue
    combos = list(itertools.product(*(ds[d].values.tolist() for d in pool)))
    layouts = [
        Layout(x, hue, facet, {**single, **dict(zip(pool, combo, strict=True))})
        for combo in combos[:max_figures]
    ]
    return layouts, max(0, len(combos) - max_figures)


def select(ds: xr.Dataset | xr.DataArray, fixed: dict[str, Any]) -> Any:
    """``ds`` at the fixed coordinate values (dimensions not in ``fixed`` kept)."""
    if not fixed:
        return ds
    return ds.sel({k: v for k, v in fixed.items()})
