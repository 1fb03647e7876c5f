"""Point files with a valid checksum but impossible contents are never merged: ``status``
lists them (exit 1), ``--resume`` quarantines and recomputes them, and the dataset is the
uninterrupted run's, bit for bit."""

from __future__ import annotations

import copy

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.models.registry import get_model
from mcstudy.storage.checked import read_checked, write_checked
from mcstudy.storage.contents import content_problem
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.points import POINT_FORMAT, POINT_FORMAT_VERSION
from tests.sweep.helpers import assert_same_results, write_config

FORGERIES = {
    "a list for a number": (lambda b: b["values"].update(fallbacks_mean=[0.1, 0.2]), "expected"),
    "a negative count": (lambda b: b["values"].update(sequences=-10_000), "cannot be negative"),
    "NaN for an integer": (lambda b: b["values"].update(sequences={"float": "nan"}), "integer"),
    "a bool for an integer": (lambda b: b["tallies"].update(sequences=True), "integer"),
    "a negative tally": (lambda b: b["tallies"].update(fallbacks=-3), "cannot be negative"),
    "a tally too few": (lambda b: b["tallies"].pop("fallbacks"), "tallies do not match"),
    "an unknown value": (lambda b: b["values"].update(bogus=1.0), "not a variable"),
    "a missing estimate": (lambda b: b["values"].pop("fallbacks_mean"), "missing"),
    "zero blocks": (lambda b: b.update(blocks=0), "blocks"),
    "a string for a float": (lambda b: b["values"].update(fallback_prob="0.5"), "expected"),
    "a bad NaN tag": (lambda b: b["values"].update(fallback_prob={"float": "nope"}), "expected"),
    "sequences disagree": (lambda b: b["values"].update(sequences=7), "tallies count"),
    "a bad finding": (lambda b: b.update(findings=[{"kind": "rumour"}]), "findings"),
}


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contents")
    cfg = write_config(tmp)
    out = tmp / "ref.nc"
    assert cli("run", str(cfg), "--out", str(out), "--quiet", "--no-report").exit_code == 0
    return cfg, out


def test_every_forgery_is_named(done_run):
    _, out = done_run
    body = read_checked(out.with_suffix(".run") / "points" / "point-0000004.json", POINT_FORMAT, 1)
    model = get_model("gather")
    assert content_problem(body, model, False) is None
    for label, (forge, fragment) in FORGERIES.items():
        bad = copy.deepcopy(body)
        forge(bad)
        why = content_problem(bad, model, False)
        assert why is not None and fragment in why, (label, why)
    assert "adaptive" in content_problem(
        {**body, "values": {**body["values"], "target_met": 1}}, model, False
    )


def test_forged_files_are_reported_quarantined_and_recomputed(tmp_path, done_run):
    cfg, reference = done_run
    out = tmp_path / "x.nc"
    assert cli("run", str(cfg), "--out", str(out), "--quiet", "--no-report").exit_code == 0
    pts = tmp_path / "x.run" / "points"
    forged = {}
    for i, (label, (forge, _)) in enumerate(list(FORGERIES.items())[:6]):
        path = pts / f"point-{i:07d}.json"
        body = read_checked(path, POINT_FORMAT, POINT_FORMAT_VERSION)
        forge(body)
        write_checked(path, POINT_FORMAT, POINT_FORMAT_VERSION, body)  # a valid checksum
        forged[path.name] = label
    st = CliRunner().invoke(main, ["status", str(out)])
    assert st.exit_code == 1, st.output
    assert "0 done, 0 failed, 6 pending" in st.output
    assert st.output.count("impossible contents") == 6
    res = cli("run", str(cfg), "--out", str(out), "--quiet", "--no-report", "--resume")
    assert res.exit_code == 0 and "6 computed, 0 kept" in res.output
    assert len(list((tmp_path / "x.run" / "quarantine").glob("*.reason.txt"))) == 6
    assert_same_results(open_dataset(reference), open_dataset(out))
    assert CliRunner().invoke(main, ["status", str(out)]).exit_code == 0


def _halve(body: dict) -> None:
    """Half the sample, consistently: values, tallies and blocks."""
    n = body["values"]["sequences"] // 2
    body["values"]["sequences"] = body["tallies"]["sequences"] = n
    body["blocks"] = -(-n // body["block_size"])


#: edits whose checksum was recomputed, impossible for the study or its declarations
STUDY_FORGERIES = {
    "a probability of 7.5": (
        lambda b: b["values"].update(fallback_prob=7.5),
        "value fallback_prob = 7.5 outside [0, 1]",
    ),
    "an interval upside down": (
        lambda b: b["values"].update(
            fallbacks_mean_ci_low=b["values"]["fallbacks_mean_ci_high"] + 1.0
        ),
        "interval of fallbacks_mean: low end",
    ),
    "a negative mean": (
        lambda b: b["values"].update(sync_ipis_mean=-0.5),
        "value sync_ipis_mean = -0.5 outside [0, inf]",
    ),
    "a negative standard error": (
        lambda b: b["values"].update(fallbacks_stderr=-1e-3),
        "cannot be negative",
    ),
    "half the sequences": (_halve, "sequences = 5000, but the study runs 10000 per point"),
    "blocks that cannot hold them": (lambda b: b.update(blocks=3), "blocks = 3 cannot hold"),
    "another seed": (lambda b: b.update(seed=12), "seed 12, not the study's 11"),
    "another point's key": (lambda b: b.update(stream_key=[1, 2]), "stream_key [1, 2] is not"),
    "another study name": (lambda b: b.update(study="other"), "study 'other'"),
}


def test_impossible_values_and_foreign_identity_are_named(done_run):
    from mcstudy.storage.contents import record_problem
    from mcstudy.study import load_study

    cfg, out = done_run
    study = load_study(cfg)
    body = read_checked(out.with_suffix(".run") / "points" / "point-0000004.json", POINT_FORMAT, 1)
    assert record_problem(body, study) is None
    for label, (forge, fragment) in STUDY_FORGERIES.items():
        bad = copy.deepcopy(body)
        forge(bad)
        why = record_problem(bad, study)
        assert why is not None and fragment in why, (label, why)
    failed = {**body, "status": "failed", "error": {"type": "E", "message": "", "traceback": ""}}
    assert "seed 12" in record_problem({**failed, "seed": 12}, study)


def test_a_point_of_another_seed_with_its_config_hash_rewritten_is_refused(tmp_path, done_run):
    """A point file of the same config with another seed, its config hash rewritten to
    this run's and its checksum recomputed: status lists it, resume recomputes it."""
    cfg, reference = done_run
    other = tmp_path / "other.toml"
    other.write_text(cfg.read_text().replace("seed = 11", "seed = 12"))
    for c, name in ((cfg, "x"), (other, "y")):
        args = ["run", str(c), "--out", str(tmp_path / f"{name}.nc"), "--quiet", "--no-report"]
        assert cli(*args).exit_code == 0
    mine = tmp_path / "x.run" / "points" / "point-0000002.json"
    theirs = read_checked(tmp_path / "y.run" / "points" / mine.name, POINT_FORMAT, 1)
    theirs["config_hash"] = read_checked(mine, POINT_FORMAT, 1)["config_hash"]
    write_checked(mine, POINT_FORMAT, POINT_FORMAT_VERSION, theirs)
    st = CliRunner().invoke(main, ["status", str(tmp_path / "x.nc")])
    assert st.exit_code == 1 and "1 pending" in st.output
    assert "seed 12, not the study's 11: another study's point" in st.output
    args = ["run", str(cfg), "--out", str(tmp_path / "x.nc"), "--quiet", "--no-report"]
    res = cli(*args, "--resume")
    assert res.exit_code == 0 and "1 computed" in res.output
    assert_same_results(open_dataset(reference), open_dataset(tmp_path / "x.nc"))
