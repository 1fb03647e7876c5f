"""``mcstudy lab`` on bad input and without its tools: one clear error, exit status 2."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.errors import McStudyError
from mcstudy.lab import setup as lab_setup
from mcstudy.lab.arch import CACHE_ENV, cache_dir, get_arch
from mcstudy.lab.cli import parse_levels
from mcstudy.lab.errors import LabError
from mcstudy.lab.guestrun import LabRequest


def test_levels_parse_and_bad_ones_are_named():
    assert parse_levels("0, 300,400") == (0, 300, 400)
    for bad in ("300,-5", "a", "300,,400", "1.5"):
        with pytest.raises(McStudyError, match="--pressure"):
            parse_levels(bad)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--pressure", "300,x"], "--pressure: expected comma-separated MiB"),
        (["--gathers", "3"], "--gathers must be >= blocks"),
        (["--pressure", "300,300"], "repeated level"),
    ],
)
def test_bad_options_exit_2(args, message, tmp_path):
    res = CliRunner().invoke(main, ["lab", "--cache", str(tmp_path), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.count("mcstudy: error:") == 1


def test_missing_tools_name_the_set_up_step(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_setup, "missing_tools", lambda spec: [spec.qemu])
    res = CliRunner().invoke(main, ["lab", "--cache", str(tmp_path), "--gathers", "10"])
    assert res.exit_code == 2
    assert "qemu-system-aarch64" in res.output and "mcstudy lab --setup --arch arm64" in res.output


def test_unknown_arch_and_request_checks():
    with pytest.raises(LabError, match="unknown lab architecture"):
        get_arch("riscv64")
    with pytest.raises(LabError, match="layout"):
        LabRequest(layout="sideways").validate()
    with pytest.raises(LabError, match="no-work ratio"):
        LabRequest(idle_ratio=0.0).validate()
    LabRequest().validate()


def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "mcstudy" / "lab"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert cache_dir() == tmp_path / "env"
    assert cache_dir(tmp_path / "opt") == tmp_path / "opt"


def test_guest_side_ships_as_package_data():
    init = lab_setup.guest_source("init").decode()
    assert init.startswith("#!/bin/busybox sh") and "@@done" in init
    assert b"tlb_remove_table" in lab_setup.guest_source("labwork.c")


def test_manifest_of_an_empty_cache_is_none(tmp_path):
    assert lab_setup.load_manifest(get_arch("arm64"), tmp_path) is None
