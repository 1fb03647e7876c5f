"""Results on disk: xarray datasets in netCDF-4 (h5netcdf), written atomically.

A dataset has one dimension per ``[sweep]`` key (in file order, coordinates = the
swept values), one variable per model output (``units`` and ``long_name`` attributes;
an estimate's variable also carries its declaration, ``mcstudy.models.contract``), and
dataset attributes identifying it as an mcstudy result, with provenance as a JSON
string. Writes go to a temporary file in the target directory, are flushed to disk and
renamed over the target, so a killed run never leaves a half file under the real name.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcstudy import __version__
from mcstudy.errors import OutputError
from mcstudy.models.base import Model
from mcstudy.models.contract import cell_name, cells, spec_attrs
from mcstudy.storage.atomic import atomic_write_bytes, check_output_file, file_kind
from mcstudy.storage.meaning import (
    DESCRIPTION_ATTR,
    MAIN_AT_ATTR,
    MAIN_ESTIMATE_ATTR,
    OUTPUT_DIMENSION,
    ROLE_ATTR,
    describe,
    field_info,
)
from mcstudy.storage.points import REL_ERR, TARGET_MET  # noqa: F401 (re-exported)
from mcstudy.study import Study
from mcstudy.units import CONVENTIONS, unit_attrs

if TYPE_CHECKING:
    import xarray as xr  # imported where used: a run needs it only at its end

FORMAT_NAME = "mcstudy-dataset"
FORMAT_VERSION = 1
ENGINE = "h5netcdf"


def empty_columns(model: Model, n_points: int) -> dict[str, np.ndarray]:
    """One array per variable of ``model`` for ``n_points`` points (first axis; then the
    variable's output dimensions), every point not computed (NaN, or -1 for an integer):
    filled point by point with :func:`fill_columns`, so assembling a sweep never holds a
    dictionary per point."""
    out = {}
    for name, var in model.variables.items():
        shape = (n_points, *(len(model.output_coords[d]) for d in var.dims))
        out[name] = (
            np.full(shape, -1, dtype=np.int64)
            if var.dtype == "int64"
            else np.full(shape, np.nan, dtype=np.float64)
        )
    return out


def column_cells(model: Model) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Where each key of a point's values lives in the columns: (variable, cell index)."""
    out = {}
    for name, var in model.variables.items():
        for idx, at in cells(var.dims, model.output_coords):
            out[cell_name(name, var.dims, at)] = (name, idx)
    return out


def fill_columns(
    columns: dict[str, np.ndarray],
    index: int,
    values: Mapping[str, Any],
    where: Mapping[str, tuple[str, tuple[int, ...]]] | None = None,
) -> None:
    """Put the decoded values of point ``index`` into its place in every column
    (``where``: :func:`column_cells` of the model, for variables with output dimensions)."""
    if where is None:
        where = {name: (name, ()) for name in columns}
    for key, (name, idx) in where.items():
        v = values.get(key)
        if v is not None:
            columns[name][(index, *idx)] = v


def _check_repeats_coordinate(
    name: str, arr: np.ndarray, values: Sequence[Any], dims: list[str]
) -> None:
    """ValueError unless output ``name`` equals its sweep coordinate wherever computed:
    the dataset then keeps only the coordinate."""
    axis = dims.index(name)
    coord = np.asarray(values).reshape([-1 if d == axis else 1 for d in range(len(dims))])
    done = arr >= 0 if arr.dtype.kind in "iu" else np.isfinite(arr)
    if not np.all(np.where(done, arr == np.broadcast_to(coord, arr.shape), True)):
        raise ValueError(f"output {name!r} differs from the swept {name} it repeats")


def build_dataset(
    study: Study,
    model: Model,
    results: list[dict[str, Any]] | Mapping[str, np.ndarray],
    provenance: dict[str, Any],
) -> xr.Dataset:
    """Assemble per-point results into a labelled dataset: ``results`` is a list of value
    dictionaries in point order, or the columns of :func:`empty_columns`, filled."""
    dims = list(study.sweep)
    shape = study.shape
    if isinstance(results, Mapping):
        columns = results
    else:
        if len(results) != study.n_points:
            raise ValueError("one result per sweep point is required")
        columns = empty_columns(model, study.n_points)
        where = column_cells(model)
        for i, res in enumerate(results):
            fill_columns(columns, i, res, where)
    data_vars = {}
    specs = {spec.name: spec for spec in model.estimate_specs}
    clash = sorted(set(model.output_coords) & set(dims))
    if clash:
        raise ValueError(
            f"cannot sweep {', '.join(clash)}: model {model.name} computes every value of it "
            "in one run (an output dimension)"
        )
    for name, var in model.variables.items():
        arr = columns[name]
        if name in study.sweep:  # an output that repeats a swept parameter (host zone_scale)
            _check_repeats_coordinate(name, arr.reshape(shape), study.sweep[name], dims)
            continue
        attrs = {**unit_attrs(var.units), "long_name": var.long_name}
        if var.dtype == "int64":
            attrs["missing_value_note"] = "-1 where not computed"
        if name in specs:
            attrs.update(spec_attrs(specs[name]))
        data_vars[name] = ([*dims, *var.dims], arr.reshape(shape + arr.shape[1:]), attrs)
    coords = {}
    for key, values in study.sweep.items():
        units, long_name = field_info(model.Params, key)
        attrs = {"long_name": long_name, **unit_attrs(units)}
        coords[key] = (key, np.asarray(values), attrs)
    used = {d for var in model.variables.values() for d in var.dims}
    for key in model.output_coords:
        if key in used:
            attrs = {
                "long_name": f"{key}: every value computed in one run, on the same sequences",
                ROLE_ATTR: OUTPUT_DIMENSION,
            }
            coords[key] = (key, np.asarray(model.output_coords[key]), attrs)
    meaning, per_point = describe(
        study.points(), model.Params, study.params, study.sweep, taken=data_vars
    )
    data_vars.update(per_point)
    import xarray as xr

    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    ds.attrs.update(
        {
            "Conventions": CONVENTIONS,
            "history": f"written by mcstudy {__version__} (mcstudy run of study {study.name})",
            "mcstudy_format": FORMAT_NAME,
            "mcstudy_format_version": FORMAT_VERSION,
            "title": f"mcstudy {model.name} study {study.name}",
            "study_name": study.name,
            "model": model.name,
            "seed": study.section.seed,
            "sequences_per_point": study.section.sequences,
            "config_hash": study.config_hash(),
            "params": json.dumps(study.params, sort_keys=True),
            "sweep_dims": json.dumps(dims),
            "provenance": json.dumps(provenance, sort_keys=True, default=str),
            MAIN_ESTIMATE_ATTR: model.main_estimate,
            **({MAIN_AT_ATTR: json.dumps(model.main_at)} if model.main_at else {}),
            DESCRIPTION_ATTR: model_description(model),
            **meaning,
        }
    )
    return ds


def model_description(model: Model) -> str:
    """The first two paragraphs of the model module's docstring (what the report's design
    section says the model is)."""
    doc = inspect.getdoc(inspect.getmodule(type(model))) or ""
    paras = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    return "\n\n".join(paras[:2])


def write_dataset(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file + fsync + rename).

    The netCDF-4 file is made in memory and written by mcstudy itself: HDF5 never holds
    a file on disk, so a full disk is one WriteError naming the path (HDF5 failing to
    flush a half-written file crashed the process when it closed it at exit)."""
    path = Path(path)
    check_output_file(path)
    buffer = io.BytesIO()
    # CF: a coordinate has no missing values, so no _FillValue (xarray gives floats one)
    encoding = {str(c): {"_FillValue": None} for c in ds.coords if ds[c].dtype.kind == "f"}
    ds.to_netcdf(buffer, engine=ENGINE, invalid_netcdf=False, encoding=encoding)
    atomic_write_bytes(path, buffer.getbuffer())
    return path


def open_dataset(path: str | Path) -> xr.Dataset:
    """Open an mcstudy dataset, loaded into memory; OutputError if it is not one."""
    path = Path(path)
    try:
        st = os.stat(path)  # a link to a dataset is fine to read
    except FileNotFoundError:
        raise OutputError(f"{path}: file not found") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        # a FIFO would block the open forever, a device would be read without end
        raise OutputError(
            f"{path}: is {file_kind(st.st_mode)}, not a regular file; expected an mcstudy "
            "dataset (.nc)"
        )
    import xarray as xr

    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
    except Exception as exc:  # h5py/xarray raise many types for damaged files
        raise OutputError(
            f"{path}: not a readable netCDF-4 file ({type(exc).__name__}: {exc})"
        ) from None
    if ds.attrs.get("mcstudy_format") != FORMAT_NAME:
        raise OutputError(f"{path}: not an mcstudy dataset (no mcstudy_format attribute)")
    if int(ds.attrs.get("mcstudy_format_version", -1)) != FORMAT_VERSION:
        raise OutputError(
            f"{path}: mcstudy dataset format version {ds.attrs.get('mcstudy_format_version')} "
            f"is not supported (expected {FORMAT_VERSION})"
        )
    return ds


def provenance_of(ds: xr.Dataset) -> dict[str, Any]:
    """The provenance dictionary stored in a dataset."""
    return json.loads(ds.attrs["provenance"])
