"""The declarations every model makes to the rest of mcstudy: tally layouts, stored
variables and estimates, checked against what the models really return."""

from __future__ import annotations

import pytest

from mcstudy.engine.tallies import TallyLayout
from mcstudy.models.contract import EstimateSpec, Variable, spec_attrs, spec_from_attrs
from mcstudy.models.gather.model import GatherModel
from mcstudy.models.registry import builtin_model_names, get_model
from tests.simulate import simulate_model


@pytest.mark.parametrize("name", builtin_model_names())
def test_what_a_model_returns_is_what_it_declares(name):
    model = get_model(name)
    tallies, est, exact = simulate_model(name, model.warmup_params(), 4, 1, 0, 2)
    assert set(tallies.as_dict()) == set(model.tallies.ints + model.tallies.floats)
    params = model.Params.model_validate(model.warmup_params())
    returned = set(est) | set(exact) | set(model.derived(params))
    cells = model.point_variables()  # one key per cell of an output dimension
    assert returned <= set(cells), returned - set(cells)
    for spec in model.point_specs():
        assert spec.name in est, spec.name
        for companion in (spec.stderr, *(spec.ci or ())):
            if companion is not None:
                assert companion in est, (spec.name, companion)
        if spec.exact is not None:
            assert spec.exact in exact, (spec.name, spec.exact)
        assert spec.n in est or spec.n in cells
    assert model.estimate_spec(model.main_estimate).name == model.main_estimate
    assert model.main_spec().name == model.main_key() and model.main_key() in est


@pytest.mark.parametrize("name", builtin_model_names())
def test_declarations_survive_the_dataset_attributes(name):
    for spec in get_model(name).estimate_specs:
        assert spec_from_attrs(spec.name, spec_attrs(spec)) == spec


def test_bad_declarations_are_refused_when_the_model_is_defined():
    with pytest.raises(ValueError, match="kind"):
        EstimateSpec("x", "median", "normal", stderr="x_se")
    with pytest.raises(ValueError, match="standard error or an interval"):
        EstimateSpec("x", "mean", "normal")
    with pytest.raises(ValueError, match="undeclared variables: nowhere_stderr"):

        class Broken(GatherModel):
            name = "broken"
            variables = {"nowhere": Variable("1", "x"), "sequences": Variable("1", "n")}
            estimate_specs = (EstimateSpec("nowhere", "mean", "normal", stderr="nowhere_stderr"),)

    with pytest.raises(ValueError, match="main estimate"):

        class NoMain(GatherModel):
            name = "no-main"
            main_estimate = "not_declared"
            variables = GatherModel.variables
            estimate_specs = GatherModel.estimate_specs

    per_policy = {
        **GatherModel.variables,
        "y": Variable("1", "y", dims=("policy",)),
        "y_stderr": Variable("1", "y", dims=("policy",)),
    }
    with pytest.raises(ValueError, match="main_at"):

        class NoCell(GatherModel):  # a main estimate with a dimension and no cell of it
            name = "no-cell"
            main_estimate = "y"
            output_coords = {"policy": ("a", "b")}
            variables = per_policy
            estimate_specs = (EstimateSpec("y", "mean", "normal", stderr="y_stderr"),)

    class Cell(GatherModel):
        name = "cell"
        main_estimate = "y"
        main_at = {"policy": "b"}
        output_coords = {"policy": ("a", "b")}
        variables = per_policy
        estimate_specs = (EstimateSpec("y", "mean", "normal", stderr="y_stderr"),)

    assert Cell.main_key() == "y[policy=b]" and Cell.main_spec().stderr == "y_stderr[policy=b]"


def test_tally_layouts_name_every_column_once():
    with pytest.raises(ValueError, match="used twice: a"):
        TallyLayout(("a", "b"), ("a",))
    joined = TallyLayout(("a",), ("x",)) + TallyLayout(("b",), ("y",))
    assert (joined.int_col("b"), joined.float_col("y")) == (1, 1)
