"""What a dataset's numbers mean, stored with them: every parameter as the model resolved
it, and the facts each point used that its parameters do not state.

A dataset carries, beside its outputs:

* ``parameters`` (global attribute, JSON): every parameter that is not swept and has one
  value at every point, as the model's schema resolved it (defaults filled in, values the
  model derives from others included; ``null``: not set, unused in this study);
* ``parameter_info`` (JSON): per parameter (swept ones included) its ``units``,
  ``long_name`` and ``source`` (``config``, ``default``, ``swept`` or ``derived from ...``);
* ``kernel_facts`` and ``fact_info`` (JSON): the same for the facts a point used beyond
  its parameters (``ModelParams.facts``: a kernel profile's behaviour flags, a load's
  description);
* a variable per parameter or fact whose value differs between points without being
  swept (attribute ``mcstudy_role``), over the sweep dimensions it varies with.

:class:`Meaning` reads them back without the model: the report, ``mcstudy show`` and the
Answers never validate parameters again nor look up a kernel profile.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mcstudy.models.base import ModelParams
from mcstudy.units import unit_attrs

if TYPE_CHECKING:
    import xarray as xr  # imported where used: a run needs it only at its end

PARAMETERS_ATTR = "parameters"
PARAMETER_INFO_ATTR = "parameter_info"
FACTS_ATTR = "kernel_facts"
FACT_INFO_ATTR = "fact_info"
ROLE_ATTR = "mcstudy_role"
MAIN_ESTIMATE_ATTR = "main_estimate"
MAIN_AT_ATTR = "main_estimate_at"
"""JSON of the main estimate's cell when it has output dimensions ({dimension: value})."""
OUTPUT_DIMENSION = "output_dimension"
"""``mcstudy_role`` of the coordinate of an output dimension (``Variable.dims``)."""
DESCRIPTION_ATTR = "model_description"


def _json_value(value: Any) -> Any:
    """``value`` as plain JSON data (numpy scalars, tuples)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def field_info(params: type[ModelParams], name: str) -> tuple[str, str]:
    """(units, description) of parameter ``name`` in the schema ``params``."""
    f = params.model_fields[name]
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    return str(extra.get("units", "")), f.description or name


def _column(values: list[Any]) -> np.ndarray:
    """One array of per-point values: numbers stay numbers (None -> NaN), booleans 0/1,
    anything else text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return np.array([-1 if v is None else int(v) for v in values], dtype=np.int8)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        if len(present) == len(values):
            return np.array(values, dtype=np.int64)
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return np.array(
        ["" if v is None else v if isinstance(v, str) else json.dumps(v) for v in values],
        dtype=object,
    )


def _reduce(values: list[Any], dims: list[str], shape: tuple[int, ...]) -> tuple[list[str], Any]:
    """The per-point ``values`` over only the dimensions they vary along."""
    arr = np.empty(len(values), dtype=object)
    arr[:] = [json.dumps(v, sort_keys=True) for v in values]
    arr = arr.reshape(shape)
    keep = []
    for axis in range(len(dims)):
        first = np.take(arr, [0], axis=axis)
        if not np.all(arr == first):
            keep.append(axis)
    index = tuple(slice(None) if a in keep else 0 for a in range(len(dims)))
    picked = np.arange(len(values)).reshape(shape)[index].ravel()
    kept_shape = tuple(shape[a] for a in keep)
    return [dims[a] for a in keep], _column([values[i] for i in picked]).reshape(kept_shape)


def describe(
    points: Iterable[Any],
    params: type[ModelParams],
    given: Mapping[str, Any],
    sweep: Mapping[str, list[Any]],
    taken: Iterable[str] = (),
) -> tuple[dict[str, str], dict[str, tuple[list[str], np.ndarray, dict[str, str]]]]:
    """The meaning of a study's points: (global attributes, per-point variables).

    ``points`` are the validated points (``Study.points()``: ``.params`` each),
    ``given`` the study's fixed ``[params]``, ``sweep`` its swept values; names in
    ``taken`` (outputs, coordinates) get no variable of their own."""
    dims = list(sweep)
    shape = tuple(len(v) for v in sweep.values())
    names = [n for n in params.model_fields if n not in sweep]
    per_param: dict[str, list[Any]] = {n: [] for n in names}
    sources: dict[str, str] = {}
    per_fact: dict[str, list[Any]] = {}
    fact_info: dict[str, dict[str, str]] = {}
    for point in points:
        p = point.params
        dumped = p.model_dump(mode="json")
        resolved = p.resolved()
        for n in names:
            if n in resolved:
                value, source = resolved[n]
                sources.setdefault(n, f"derived from {source}")
                per_param[n].append(_json_value(value))
            else:
                per_param[n].append(dumped.get(n))
        for n, fact in p.facts().items():
            per_fact.setdefault(n, []).append(_json_value(fact.value))
            fact_info[n] = {"units": fact.units, "long_name": fact.long_name}
    info: dict[str, dict[str, str]] = {}
    for n in params.model_fields:
        units, long_name = field_info(params, n)
        if n in sweep:
            source = "swept"
        elif n in given:
            source = "config"
        else:
            source = sources.get(n, "default")
        info[n] = {"units": units, "long_name": long_name, "source": source}
    taken = set(taken) | set(sweep)
    fixed: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    variables: dict[str, tuple[list[str], np.ndarray, dict[str, str]]] = {}
    for role, table, meta, out in (
        ("parameter", per_param, info, fixed),
        ("kernel_fact", per_fact, fact_info, facts),
    ):
        for n, values in table.items():
            if not values:
                continue
            if all(v == values[0] for v in values):
                out[n] = values[0]
            elif n not in taken:
                var_dims, arr = _reduce(values, dims, shape)
                attrs = {
                    "long_name": meta[n]["long_name"],
                    ROLE_ATTR: role,
                }
                attrs.update(unit_attrs(meta[n]["units"]))
                variables[n] = (var_dims, arr, attrs)
    attrs = {
        PARAMETERS_ATTR: json.dumps(fixed, sort_keys=True),
        PARAMETER_INFO_ATTR: json.dumps(info),  # the schema's order
        FACTS_ATTR: json.dumps(facts, sort_keys=True),
        FACT_INFO_ATTR: json.dumps(fact_info),
    }
    return attrs, variables


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _load(ds: xr.Dataset, attr: str) -> dict[str, Any] | None:
    text = ds.attrs.get(attr)
    if text is None:
        return None
    try:
        out = json.loads(str(text))
    except json.JSONDecodeError:
        return None
    return out if isinstance(out, dict) else None


class Meaning:
    """The parameters and facts a dataset stores, read without the model."""

    def __init__(self, ds: xr.Dataset) -> None:
        self.ds = ds
        params = _load(ds, PARAMETERS_ATTR)
        self.recorded = params is not None
        """the dataset stores its resolved parameters (mcstudy wrote it after they were)"""
        self.fixed: dict[str, Any] = {**(params or {}), **(_load(ds, FACTS_ATTR) or {})}
        self.info: dict[str, dict[str, str]] = {
            **(_load(ds, PARAMETER_INFO_ATTR) or {}),
            **(_load(ds, FACT_INFO_ATTR) or {}),
        }
        self.dims = [str(d) for d in json.loads(str(ds.attrs.get("sweep_dims", "[]")))]

    def has(self, name: str) -> bool:
        """The dataset records ``name`` (as a coordinate, a variable or a fixed value)."""
        return name in self.fixed or name in self.dims or name in self.ds.data_vars

    def value(self, name: str, at: Mapping[str, Any] | None = None) -> Any:
        """Parameter or fact ``name`` at the point ``at`` (coordinates; dimensions not
        given: their first value). None when not set, or not recorded."""
        at = at or {}
        if name in at:
            return _plain(at[name])
        if name in self.dims and name in self.ds.coords:
            return _plain(self.ds[name].values[0])
        if name in self.ds.data_vars:
            da = self.ds[name]
            keep = {k: v for k, v in at.items() if k in da.dims}
            sel = da.sel(keep) if keep else da
            if sel.ndim:
                sel = sel.isel({d: 0 for d in sel.dims})
            v = _plain(sel.values.item() if hasattr(sel.values, "item") else sel.values)
            if isinstance(v, float) and v != v:
                return None
            if da.attrs.get(ROLE_ATTR) == "kernel_fact" and da.dtype == np.int8:
                return None if v < 0 else bool(v)
            return None if v == "" else v
        return self.fixed.get(name)

    def units(self, name: str) -> str:
        return str(self.info.get(name, {}).get("units", ""))

    def long_name(self, name: str) -> str:
        return str(self.info.get(name, {}).get("long_name", ""))

    def source(self, name: str) -> str:
        return str(self.info.get(name, {}).get("source", ""))

    def parameters(self) -> list[str]:
        """Every parameter of the model, in its schema's order."""
        return [n for n, i in self.info.items() if "source" in i]

    def varying(self, name: str) -> bool:
        """``name`` is a per-point variable (not swept, not one value everywhere)."""
        return name in self.ds.data_vars and name not in self.fixed
