"""Variables with output dimensions of their own (``Variable.dims``, e.g. one value per
policy computed on common random numbers): one key per cell in a point's values, one
dimension in the dataset, selected by coordinate."""

from __future__ import annotations

import numpy as np
import pytest

from mcstudy.models.contract import EstimateSpec, Variable, cell_name
from mcstudy.models.gather.model import GatherModel
from mcstudy.storage.assemble import ColumnRow
from mcstudy.storage.dataset import build_dataset, column_cells, empty_columns, fill_columns
from mcstudy.study import load_study
from tests.paths import REPO

VARIANTS = ("a", "b", "c")


class PerVariant(GatherModel):
    name = "per-variant"
    output_coords = {"variant": VARIANTS}
    variables = {
        **GatherModel.variables,
        "x": Variable("1", "x per variant", dims=("variant",)),
        "x_stderr": Variable("1", "standard error of x", dims=("variant",)),
    }
    estimate_specs = (
        *GatherModel.estimate_specs,
        EstimateSpec("x", "mean", "normal", stderr="x_stderr"),
    )


def _study(*overrides: str):
    return load_study(
        REPO / "configs" / "gather-grid.toml",
        [
            "sweep.kernel=['v6.15']",
            "sweep.gfp_nowait_fail_p=[0.1, 0.2]",
            "sweep.tables_per_gather=[8]",
            *overrides,
        ],
    )


def _values(point: int) -> dict[str, float]:
    out = {}
    for j, v in enumerate(VARIANTS):
        out[cell_name("x", ("variant",), {"variant": v})] = 10.0 * point + j
        out[cell_name("x_stderr", ("variant",), {"variant": v})] = 0.5
    return out


def test_point_specs_name_each_cell_of_every_companion():
    specs = {s.name: s for s in PerVariant.point_specs()}
    s = specs["x[variant=b]"]
    assert (s.stderr, s.n) == ("x_stderr[variant=b]", "sequences")
    assert "x[variant=c]" in PerVariant.point_variables()


def test_a_variable_with_output_dims_is_a_dimension_of_the_dataset():
    study = _study()
    model = PerVariant()
    ds = build_dataset(study, model, [_values(i) for i in range(study.n_points)], {})
    assert ds["x"].dims == (*study.sweep, "variant")
    assert list(ds["variant"].values) == list(VARIANTS)
    at = {d: ds[d].values[0] for d in study.sweep}
    assert float(ds["x"].sel(**at, variant="c")) == 2.0
    assert float(ds["x"].sel(**{**at, "gfp_nowait_fail_p": 0.2}, variant="b")) == 11.0
    assert "x_stderr" in ds["x"].attrs["ancillary_variables"]


def test_columns_and_rows_keep_cells_apart():
    study = _study()
    model = PerVariant()
    columns = empty_columns(model, study.n_points)
    assert columns["x"].shape == (study.n_points, len(VARIANTS))
    where = column_cells(model)
    fill_columns(columns, 1, _values(1), where)
    row = ColumnRow(columns, 1, where)
    assert row["x[variant=a]"] == 10.0 and row["x[variant=c]"] == 12.0
    assert np.isnan(columns["x"][0]).all()
    assert "x[variant=a]" not in ColumnRow(columns, 0, where)


def test_sweeping_an_output_dimension_is_refused():
    class Clash(PerVariant):
        name = "clash"
        output_coords = {"kernel": ("v6.15",), "variant": VARIANTS}

    study = _study()
    with pytest.raises(ValueError, match="cannot sweep kernel"):
        build_dataset(study, Clash(), [{} for _ in range(study.n_points)], {})


def test_companions_must_share_the_estimate_dims():
    with pytest.raises(ValueError, match="companion x_stderr"):

        class Bad(GatherModel):
            name = "bad"
            output_coords = {"variant": VARIANTS}
            variables = {
                **GatherModel.variables,
                "x": Variable("1", "x", dims=("variant",)),
                "x_stderr": Variable("1", "se"),
            }
            estimate_specs = (EstimateSpec("x", "mean", "normal", stderr="x_stderr"),)
