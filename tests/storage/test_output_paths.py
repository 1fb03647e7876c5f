"""Hostile output paths: an output that exists as anything but a regular file (a device, a
FIFO, a socket, a directory, a symbolic link) is refused before anything is opened or
written, by every writer and command; so is a run directory that mcstudy did not make.

No test writes to a device: devices are only ever handed to code that refuses them after
an lstat(); the FIFOs, sockets, links and directories are made in a temporary directory.
"""

from __future__ import annotations

import os
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.errors import OutputError
from mcstudy.storage.atomic import atomic_write_text, check_output_file
from mcstudy.storage.errors import RunDirError
from mcstudy.storage.rundir import RunDir
from tests.paths import PROC
from tests.sweep.helpers import write_config


def _special(tmp_path: Path, kind: str) -> Path:
    """A FIFO, socket, directory or symbolic link (to a regular file) in ``tmp_path``."""
    path = tmp_path / f"special-{kind}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    elif kind == "dir":
        path.mkdir()
    elif kind == "symlink":
        target = tmp_path / "link-target.nc"
        target.write_text("precious")
        path.symlink_to(target)
    elif kind == "dangling":
        path.symlink_to(tmp_path / "nowhere")
    return path


KINDS = ["fifo", "socket", "dir", "symlink", "dangling"]
WORDS = {
    "fifo": "FIFO",
    "socket": "socket",
    "dir": "directory",
    "symlink": "symbolic link",
    "dangling": "symbolic link",
}


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(directory)): (p.lstat().st_mode, p.lstat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
    }


@pytest.mark.parametrize("kind", KINDS)
def test_atomic_writes_refuse_special_files(tmp_path, kind):
    path = _special(tmp_path, kind)
    before = _snapshot(tmp_path)
    with pytest.raises(OutputError, match=WORDS[kind]):
        atomic_write_text(path, "data")
    assert _snapshot(tmp_path) == before  # nothing replaced, no temporary file left
    if kind == "symlink":
        assert (tmp_path / "link-target.nc").read_text() == "precious"


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_a_device_is_refused_after_lstat_alone():
    with pytest.raises(OutputError, match="character device"):
        check_output_file("/dev/null")


@pytest.mark.parametrize("kind", KINDS)
def test_run_refuses_special_out_before_writing(tmp_path, kind):
    cfg = write_config(tmp_path)
    out = _special(tmp_path, kind)
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    assert str(out) in res.output and WORDS[kind] in res.output
    assert "Traceback" not in res.output
    assert _snapshot(tmp_path) == before  # no run directory, no report, nothing


@pytest.mark.parametrize("kind", ["fifo", "symlink", "file"])
def test_run_refuses_a_run_directory_it_did_not_make(tmp_path, kind):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    run_dir = tmp_path / "x.run"
    if kind == "fifo":
        os.mkfifo(run_dir)
    elif kind == "symlink":
        (tmp_path / "elsewhere").mkdir()
        run_dir.symlink_to(tmp_path / "elsewhere")
    else:
        run_dir.write_text("a file")
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    assert f"{run_dir}: exists and is" in res.output and "not a run directory" in res.output
    assert _snapshot(tmp_path) == before


def test_run_refuses_a_foreign_directory_and_a_report_path_that_is_a_link(tmp_path):
    cfg = write_config(tmp_path)
    foreign = tmp_path / "y.run"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("keep me")
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "y.nc")])
    assert res.exit_code == 2 and "not an mcstudy run directory" in res.output
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.tex"]
    (tmp_path / "z.html").symlink_to(tmp_path / "thesis.html")
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "z.nc")])
    assert res.exit_code == 2 and "report path" in res.output and "symbolic link" in res.output
    assert not (tmp_path / "z.run").exists()


def test_run_directory_parts_must_be_what_they_claim(tmp_path):
    rd = RunDir(tmp_path / "a.run")
    rd.path.mkdir()
    (rd.path / "study.json").mkdir()
    with pytest.raises(RunDirError, match=r"study\.json: is a directory"):
        rd.check_path()


@pytest.mark.parametrize("kind", ["fifo", "dir", "symlink"])
def test_calibrate_refuses_special_out_before_reading(tmp_path, kind):
    out = _special(tmp_path, kind)
    before = _snapshot(tmp_path)
    res = CliRunner().invoke(
        main, ["calibrate", "--zoneinfo", str(PROC / "zoneinfo"), "-o", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert WORDS[kind] in res.output and "Traceback" not in res.output
    assert _snapshot(tmp_path) == before


def test_report_and_bench_refuse_special_out(tmp_path):
    fifo = _special(tmp_path, "fifo")
    res = CliRunner().invoke(main, ["bench", "--show", str(fifo)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["bench", "--quick", "--out", str(fifo)])
    assert res.exit_code == 2 and "FIFO" in res.output


def test_unwritable_directory_is_one_clear_error(tmp_path, monkeypatch):
    """A read-only file system (EROFS), simulated: root ignores permission bits."""
    import errno
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    out = tmp_path / "calib.toml"
    res = CliRunner().invoke(
        main, ["calibrate", "--zoneinfo", str(PROC / "zoneinfo"), "-o", str(out)]
    )
    assert res.exit_code == 2, res.output
    assert f"{out}: cannot write (Read-only file system)" in res.output
    assert "Traceback" not in res.output


def test_parent_that_is_a_file_is_one_clear_error(tmp_path):
    parent = tmp_path / "plain-file"
    parent.write_text("x")
    with pytest.raises(OutputError, match="Not a directory"):
        atomic_write_text(parent / "out.toml", "data")


@contextmanager
def _unblocked(fifo: Path, seconds: float = 3.0):
    """While the block runs, a shell opens ``fifo`` for writing and closes it every
    ``seconds``, so a reader blocked in open() gets end of file instead of hanging the
    test run (a process: HDF5 opens files holding the GIL, which would stall a thread)."""
    import subprocess

    loop = f"while sleep {seconds}; do : > '{fifo}'; done"
    proc = subprocess.Popen(["sh", "-c", loop])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("command", ["show", "report"])
def test_show_and_report_refuse_a_fifo_without_opening_it(tmp_path, command):
    fifo = _special(tmp_path, "fifo")
    args = [command, str(fifo)] + (["-o", str(tmp_path / "r.html")] if command == "report" else [])
    with _unblocked(fifo):
        res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in res.output
    assert not (tmp_path / "r.html").exists()


def test_status_refuses_a_symlinked_points_directory_like_run_and_merge(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet"]).exit_code == 0
    points = tmp_path / "x.run" / "points"
    points.rename(tmp_path / "elsewhere")
    points.symlink_to(tmp_path / "elsewhere")
    for args in (["status", str(out)], ["merge", str(tmp_path / "x.run")]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2, (args, res.output)
        assert f"{points}: is a symbolic link; not an mcstudy run directory" in res.output
