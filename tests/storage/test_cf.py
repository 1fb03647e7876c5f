"""The datasets follow the CF conventions (1.10): checked by the IOOS compliance checker,
and every unit mcstudy declares has a CF form that UDUNITS parses."""

from __future__ import annotations

import json

import pytest

from mcstudy.models.contract import Variable
from mcstudy.models.registry import builtin_model_names, get_model
from mcstudy.storage.dataset import open_dataset
from mcstudy.units import CF_UNITS, DECLARED_ATTR, cf_units, shown_units, unit_attrs
from tests.report.conftest import run_to_file, small_study_toml

cf_units_lib = pytest.importorskip("cf_units")


def _declared_units() -> dict[str, set[str]]:
    """Every unit a built-in model declares (outputs and parameters) -> where."""
    out: dict[str, set[str]] = {}
    for name in builtin_model_names():
        model = get_model(name)
        for v, var in model.variables.items():
            assert isinstance(var, Variable)
            out.setdefault(var.units, set()).add(f"{name}.{v}")
        for p, field in model.Params.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and extra.get("units"):
                out.setdefault(str(extra["units"]), set()).add(f"{name} parameter {p}")
    return out


def test_every_declared_unit_has_a_cf_form_that_udunits_parses():
    bad = {}
    for unit, where in _declared_units().items():
        if not unit:
            continue
        try:
            cf_units_lib.Unit(cf_units(unit))
        except ValueError:
            bad[unit] = sorted(where)[:3]
    assert bad == {}, "add these to mcstudy.units.CF_UNITS"
    for cf in CF_UNITS.values():
        cf_units_lib.Unit(cf)  # the table itself holds only UDUNITS units


def test_the_declared_unit_is_kept_for_people():
    assert unit_attrs("IPIs/h") == {"units": "h-1", DECLARED_ATTR: "IPIs/h"}
    assert unit_attrs("s") == {"units": "s"} and unit_attrs("") == {}
    assert shown_units(unit_attrs("MiB")) == "MiB"
    assert shown_units({"units": "tables/h"}) == "tables/h"  # a dataset from before


@pytest.mark.parametrize(
    "model",
    [
        "gather",
        "pressure",
        # the checker alone takes 25 s (thp) and 95 s (host, 280 variables) on 2 busy cores
        pytest.param("thp", marks=pytest.mark.slow),
        pytest.param("host", marks=pytest.mark.slow),
    ],
)
def test_a_small_dataset_of_each_model_passes_the_cf_checker(model, tmp_path):
    """No high or medium priority failure of cf:1.10 (none is accepted)."""
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    path = run_to_file(small_study_toml(model, sequences=500, block_size=250), tmp_path, model)
    ds = open_dataset(path)
    assert ds.attrs["Conventions"] == "CF-1.10"
    for c in ds.coords:
        assert "_FillValue" not in ds[c].encoding or ds[c].encoding["_FillValue"] is None, c
    CheckSuite.load_all_available_checkers()
    report = tmp_path / "cf.json"
    ComplianceChecker.run_checker(
        str(path), ["cf:1.10"], 0, "normal", output_filename=str(report), output_format="json"
    )
    result = json.loads(report.read_text())["cf:1.10"]
    failing = [
        (r["name"], r["msgs"])
        for level in ("high_priorities", "medium_priorities")
        for r in result[level]
        if r["value"][0] < r["value"][1]
    ]
    assert failing == []
    assert result["scored_points"] == result["possible_points"]
    # `mcstudy show` prints the declared units, not the CF ones
    from mcstudy.report.summary import summarize

    text = summarize(ds, path)
    assert not any(cf in text for cf in (" h-1", " s-1", "(h-1", "(s-1", "1048576 byte"))
    declared = {
        str(ds[v].attrs[DECLARED_ATTR]) for v in ds.data_vars if DECLARED_ATTR in ds[v].attrs
    }
    assert any(u in text for u in declared), declared
