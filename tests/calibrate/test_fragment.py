"""The calibration fragment (TOML), its atomic write, and the text report."""

from __future__ import annotations

import tomllib

import pytest

from mcstudy.calibrate.calibration import calibrate
from mcstudy.calibrate.fragment import fragment, report, write_fragment
from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import parse_vmstat
from tests.paths import PROC

DATA = PROC


def _cal():
    snaps = (parse_vmstat(DATA / "vmstat.before"), parse_vmstat(DATA / "vmstat.after"), 12.14)
    return calibrate(DATA / "zoneinfo", snaps)


def test_fragment_is_toml_with_params_and_calibration():
    text = fragment(_cal(), "snapshots")
    assert text.startswith("# mcstudy calibrate: zone Normal of node 0 from snapshots\n")
    doc = tomllib.loads(text)
    assert doc["params"]["managed_pages"] == 5394266
    assert isinstance(doc["params"]["managed_pages"], int)
    assert isinstance(doc["params"]["alloc_rate"], float)
    assert doc["calibration"]["zone"] == "Normal" and doc["calibration"]["interval_s"] == 12.14


def test_report_compares_every_zone_with_the_formulas():
    text = report(_cal())
    assert text.startswith("node 0: 5 zones\nkernel formulas: min_free_kbytes = 67584 KiB")
    assert text.count(" yes") == 5 and "GFP_NOWAIT zone: Normal (node 0)" in text
    assert "  managed_pages = 5394266" in text and "(zone = Normal)" not in text


def test_write_fragment_replaces_whole_file_or_refuses_a_directory(tmp_path):
    target = tmp_path / "calib.toml"
    target.write_text("old")
    write_fragment(target, "[params]\nx = 1\n")
    assert target.read_text() == "[params]\nx = 1\n"
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left
    with pytest.raises(McStudyError, match="exists and is a directory"):
        write_fragment(tmp_path, "[params]\n")
