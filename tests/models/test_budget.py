"""The event budget (docs/model.md §7.5): every model estimates the events of a sequence
and refuses one it cannot finish; the start of a study adds up every point's estimated
CPU time and refuses a study over its budget, with the estimate, before anything is
written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from mcstudy.budget import MAX_CPU_HOURS
from mcstudy.cli import main
from mcstudy.errors import ConfigError
from mcstudy.models.base import Model, ModelParams, human_seconds
from mcstudy.models.gather.model import GatherModel
from mcstudy.models.registry import builtin_model_names, get_model
from mcstudy.study import load_study
from tests.paths import REPO

CONFIGS = {
    "gather": "gather-grid.toml",
    "pressure": "pressure.toml",
    "thp": "thp.toml",
    "host": "default.toml",
}
"""A shipped config of every built-in model."""


def test_every_builtin_model_has_a_shipped_config_here():
    assert set(CONFIGS) == set(builtin_model_names())


@pytest.mark.parametrize("name", builtin_model_names())
def test_every_model_estimates_its_events(name):
    params_cls = get_model(name).Params
    assert params_cls.expected_events_per_sequence is not ModelParams.expected_events_per_sequence
    assert params_cls.EVENTS_PER_SECOND > 0 and params_cls.MAX_EVENTS_PER_SEQUENCE > 0
    study = load_study(REPO / "configs" / CONFIGS[name])
    for point in study.points():
        cost = point.params.cost()
        assert 1.0 <= cost.events_per_sequence <= params_cls.MAX_EVENTS_PER_SEQUENCE
        assert cost.seconds() == cost.events_per_sequence / params_cls.EVENTS_PER_SECOND
    # every shipped config is far inside the default budget
    assert study.estimated_seconds() < MAX_CPU_HOURS * 3600.0 / 10


def test_a_model_without_an_event_estimate_cannot_be_defined():
    class NoEstimate(ModelParams):
        x: int = 1

    with pytest.raises(TypeError, match="expected_events_per_sequence"):

        class Bad(GatherModel):  # defining it is the test
            name = "bad"
            Params = NoEstimate

    assert issubclass(GatherModel, Model)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("pressure", {"horizon_s": 1e9}),
        ("thp", {"horizon_s": 1e9}),
        ("host", {"horizon_s": 1e9}),  # issue 19 item 17: about 6e11 events per sequence
    ],
)
def test_a_sequence_over_the_model_limit_is_refused_with_its_estimate(name, change):
    study = load_study(REPO / "configs" / CONFIGS[name])
    values = {**study.params, **next(study.points()).coords, **change}
    with pytest.raises(ValidationError) as info:
        get_model(name).Params.model_validate(values)
    text = str(info.value)
    assert "events per sequence" in text and "of one core" in text and "at most" in text


def test_a_gather_never_exceeds_its_limit_and_its_cost_grows_with_fallbacks():
    """The schema allows at most 1e9 tables per gather, each at most one fallback: below
    the gather model's ceiling, so no single gather is refused."""
    p = GatherModel.Params
    worst = p.model_validate({"tables_per_gather": 10**9, "gfp_nowait_fail_p": 1.0})
    assert worst.expected_events_per_sequence() <= p.MAX_EVENTS_PER_SEQUENCE
    calm = p.model_validate({"tables_per_gather": 1018, "gfp_nowait_fail_p": 0.0})
    hot = p.model_validate({"tables_per_gather": 1018, "gfp_nowait_fail_p": 0.5})
    assert calm.expected_events_per_sequence() == 1.0 < hot.expected_events_per_sequence()


@pytest.mark.parametrize("name", builtin_model_names())
def test_a_study_over_its_budget_is_refused_with_a_time_estimate(name):
    cfg = REPO / "configs" / CONFIGS[name]
    with pytest.raises(ConfigError) as info:
        load_study(cfg, ["study.sequences=1e13"])
    text = str(info.value)
    for words in ("years of one core", "CPU(s) of this machine", "budget of 24 CPU-hours",
                  "events per sequence", "study.sequences", "--max-cpu-hours"):  # fmt: skip
        assert words in text, (words, text)
    # the documented option raises the budget
    assert load_study(cfg, ["study.sequences=1e13"], max_cpu_hours=1e30).n_points > 0


def test_an_adaptive_study_is_budgeted_at_its_cap():
    cfg = REPO / "configs" / "default.toml"
    sets = ["study.target_rel_err=0.01", "study.max_sequences=1e9"]
    with pytest.raises(ConfigError, match=r"study\.max_sequences"):
        load_study(cfg, sets)
    study = load_study(cfg, ["study.target_rel_err=0.01", "study.max_sequences=128"])
    assert study.estimated_seconds() == pytest.approx(2 * load_study(cfg).estimated_seconds())


@pytest.mark.parametrize(
    ("sets", "words"),
    [
        (["horizon_s=1e9"], ["events per sequence", "hours of one core", "horizon_s"]),
        (["study.sequences=1e13"], ["years of one core", "--max-cpu-hours"]),
    ],
)
def test_run_refuses_a_study_it_cannot_finish_and_writes_nothing(tmp_path: Path, sets, words):
    out = tmp_path / "d.nc"
    args = ["run", "--out", str(out), "--quiet"] + [x for s in sets for x in ("--set", s)]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 2, res.output
    for word in words:
        assert word in res.output, (word, res.output)
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_durations_read_in_the_unit_that_fits():
    assert human_seconds(40.0) == "40 s"
    assert human_seconds(7000.0) == "117 min"
    assert human_seconds(3 * 86400.0) == "3 days"
    assert human_seconds(1e12) == "3.17e+04 years"


def test_a_long_run_states_its_estimate_when_it_starts(tmp_path: Path):
    """9 points x 4096 host-hours: about 3 hours of one core, said before anything runs
    (here the output path is a symbolic link, so the run then stops with exit 2)."""
    out = tmp_path / "d.nc"
    out.symlink_to(tmp_path / "elsewhere.nc")
    args = ["run", "--out", str(out), "--set", "study.sequences=4096"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert "the whole study is estimated at about" in res.output
    assert "hours of one core" in res.output and "docs/model.md §7.5" in res.output
