"""The guest workload compiles cleanly for this host and refuses bad arguments (exit 2)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mcstudy.lab.arch import ARCHES, ArchSpec, _host_arch
from mcstudy.lab.setup import build_labwork


@pytest.fixture(scope="module")
def labwork(tmp_path_factory):
    host = ARCHES.get(_host_arch())
    if host is None or shutil.which("gcc") is None:
        pytest.skip("no native gcc for this host's architecture")
    spec: ArchSpec = host
    out = tmp_path_factory.mktemp("labwork") / "labwork"
    try:
        build_labwork(spec, out)
    except Exception as exc:  # a host without static libc
        pytest.skip(f"cannot build a static binary here: {exc}")
    return out


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "usage: labwork churn|sample|ptwork"),
        (["churn", "0", "x", "1"], "MIB: expected an integer"),
        (["ptwork", "0", "10", "20", "500", "64", "isolated", "0"], "BLOCKS (20) exceeds GATHERS"),
        (["ptwork", "0", "10", "2", "500", "64", "sideways", "0"], "LAYOUT: expected"),
        (["ptwork", "0", "10", "2", "500", "64", "isolated", "6"], "not a multiple of 4"),
    ],
)
def test_bad_arguments_exit_2(labwork, args, message):
    proc = subprocess.run([str(labwork), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.startswith("labwork: error: ") and message in proc.stderr
