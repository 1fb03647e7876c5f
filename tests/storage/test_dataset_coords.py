"""A model output that repeats a swept parameter (the host study's ``zone_scale``) is
kept once, as the coordinate; a value that contradicts its coordinate is refused."""

from __future__ import annotations

import numpy as np
import pytest

from mcstudy.storage.dataset import build_dataset, empty_columns
from mcstudy.study import load_study
from tests.paths import REPO


def _study():
    return load_study(
        REPO / "configs" / "default.toml",
        ["sweep.zone_scale=[256, 512]", "study.sequences=4"],
    )


def test_a_swept_zone_scale_is_one_coordinate():
    study = _study()
    columns = empty_columns(study.model, study.n_points)
    scale_axis = list(study.sweep).index("zone_scale")
    for i in range(study.n_points):
        index = np.unravel_index(i, study.shape)
        columns["zone_scale"][i] = study.sweep["zone_scale"][index[scale_axis]]
    ds = build_dataset(study, study.model, columns, {})
    assert "zone_scale" in ds.coords and "zone_scale" not in ds.data_vars
    assert list(ds["zone_scale"].values) == [256, 512]


def test_an_output_that_contradicts_its_coordinate_is_refused():
    study = _study()
    columns = empty_columns(study.model, study.n_points)
    columns["zone_scale"][0] = 999
    with pytest.raises(ValueError, match="differs from the swept zone_scale"):
        build_dataset(study, study.model, columns, {})
