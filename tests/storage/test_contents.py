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
