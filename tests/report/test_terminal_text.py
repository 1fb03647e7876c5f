"""Text for the terminal (issue 19, item 9): as wide as the terminal (at most 100
columns, 100 when the output is not a terminal), findings counted as the lines printed
under the count, no literal backticks, the "wrote ..." line and ``mcstudy status``
wrapped."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy import fmt
from mcstudy.cli import main
from mcstudy.findings import Finding
from mcstudy.fmt import findings_count, text_width
from mcstudy.storage.points import DONE
from mcstudy.sweep.status import RunStatus, format_status
from tests.report.conftest import load_study_from_text

GATHER = """\
[study]
name = "g"
model = "gather"
seed = 1
sequences = 2000
description = "a gather study whose points all carry one long finding"

[params]
gfp_nowait_fail_p = 0.01
tables_per_gather = 64

[sweep]
kernel = ["v6.3-kvm-pv", "v6.14-pt-reclaim", "v6.15"]
"""

LONG = (
    "reserve_bytes_mean changes between the halves of the measured window by more than 4 "
    "standard errors: the transient is not over; set warmup_s"
)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_is_as_wide_as_the_terminal_at_most_100(monkeypatch):
    assert text_width(io.StringIO()) == 100  # a pipe or file: 100
    monkeypatch.setenv("COLUMNS", "80")
    assert text_width(_Tty()) == 80
    monkeypatch.setenv("COLUMNS", "200")
    assert text_width(_Tty()) == 100


def test_findings_are_counted_as_the_lines_printed():
    found = [Finding(i, "x", "transient", LONG) for i in range(3)]
    assert findings_count(found, ["one grouped line"]) == "1 finding, at 3 points"
    found.append(Finding(None, None, "warning", "another"))
    assert findings_count(found, ["a", "b"]) == "2 findings, at 3 points and for the whole study"


def _narrow(monkeypatch, width: int) -> None:
    """A terminal ``width`` columns wide, for every module that asks."""
    from mcstudy.report import answers, summary
    from mcstudy.sweep import status

    for mod in (fmt, answers, summary, status):
        monkeypatch.setattr(mod, "text_width", lambda stream=None: width)


def test_status_wraps_findings_to_the_terminal(monkeypatch):
    study = load_study_from_text(GATHER)
    points = list(study.points())
    records = {
        p.index: {
            "status": DONE,
            "values": {},
            "findings": [Finding(p.index, "x", "transient", LONG).__dict__],
        }
        for p in points
    }
    info = {"config_hash": "0" * 64, "code_version": {"mcstudy": "0", "model": "gather"}}
    st = RunStatus(Path("/r/g.run"), study, info, points, records)
    _narrow(monkeypatch, 80)
    text = format_status(st, 80)
    assert max(len(x) for x in text.splitlines()) <= 80, text
    assert "findings (1 finding, at 3 points):" in text
    assert len(re.findall(r"^  transient:", text, re.M)) == 1


def test_run_prints_nothing_wider_than_the_terminal(tmp_path, monkeypatch):
    cfg = tmp_path / "g.toml"
    cfg.write_text(GATHER)
    out = tmp_path / "g.nc"
    _narrow(monkeypatch, 80)
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--no-report", "--quiet"])
    assert res.exit_code == 0, res.output
    long = [x for x in res.output.splitlines() if len(x) > 80]
    assert long == [], long
    assert "`" not in res.output
    assert "(3 points x 2000 sequences: 3 computed" in " ".join(res.output.split())
    show = CliRunner().invoke(main, ["show", str(out)])
    long = [x for x in show.output.splitlines() if len(x) > 80]
    assert long == [], long


@pytest.mark.parametrize("width", [60, 80, 100])
def test_answers_block_follows_the_width(width, tmp_path, monkeypatch):
    from mcstudy.report.summary import answers_block
    from mcstudy.storage.dataset import open_dataset, write_dataset
    from mcstudy.sweep.coordinator import run_study

    ds = run_study(load_study_from_text(GATHER), show_progress=False)
    ds = open_dataset(write_dataset(ds, tmp_path / "g.nc"))
    _narrow(monkeypatch, width)
    block = answers_block(ds)
    assert block is not None
    lines = block.splitlines()
    assert lines[0] == "-" * width and max(len(x) for x in lines) <= width
    assert "`" not in block
