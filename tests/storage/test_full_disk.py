"""A file system that refuses writes (no space, no inodes): one clear error, exit status 4,
what was committed kept, nothing half-made, never a crash.

No test fills a disk: the failures are injected (``tempfile.mkstemp`` refusing to create
a file, as a file system out of inodes or space does) or made by a file size limit
(``RLIMIT_FSIZE``) in a child process.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import tempfile
import textwrap

from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.dataset import open_dataset
from tests.paths import REPO
from tests.sweep.helpers import assert_same_results, write_config

_real_mkstemp = tempfile.mkstemp


def _refuse(prefix: str, after: int = 0):
    """A ``tempfile.mkstemp`` that fails with ENOSPC for files whose temporary name
    starts with ``prefix`` once ``after`` of them were created."""
    made = [0]

    def mkstemp(*args, **kwargs):
        if str(kwargs.get("prefix", "")).startswith(prefix):
            if made[0] >= after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            made[0] += 1
        return _real_mkstemp(*args, **kwargs)

    return mkstemp


def _run(cfg, out, *extra):
    return CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", *extra])


def test_a_full_disk_while_creating_the_run_directory_leaves_nothing(tmp_path, monkeypatch):
    cfg = write_config(tmp_path)
    monkeypatch.setattr(tempfile, "mkstemp", _refuse(".study.json."))
    res = _run(cfg, tmp_path / "x.nc")
    assert res.exit_code == 4, res.output
    assert (
        f"{tmp_path / 'x.run'}: cannot create the run directory (No space left on device); "
        "nothing was written" in res.stderr
    )
    assert "make room (df -h, df -i) and continue with: mcstudy run" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [cfg.name]  # no .x.run.*.partial


def test_out_of_inodes_mid_run_keeps_the_committed_points(tmp_path, monkeypatch):
    """Two points committed, then no file can be created: exit 4 (not 2, "bad input,
    nothing written"), saying what is kept; --resume then gives the whole result."""
    cfg = write_config(tmp_path)
    reference = tmp_path / "ref.nc"
    assert _run(cfg, reference, "--no-report").exit_code == 0
    out = tmp_path / "x.nc"
    monkeypatch.setattr(tempfile, "mkstemp", _refuse(".point-", after=2))
    res = _run(cfg, out, "--no-report")
    assert res.exit_code == 4, res.output
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith(f"mcstudy: error: {tmp_path / 'x.run' / 'points'}/point-")
    assert lines[0].endswith(": cannot write (No space left on device)")
    assert lines[1].startswith(f"mcstudy: 2 of 6 points are committed in {tmp_path / 'x.run'}")
    assert lines[1].endswith(f"--out {out} --quiet --no-report --resume") and len(lines) == 2
    assert len(list((tmp_path / "x.run" / "points").glob("point-*.json"))) == 2
    assert not out.exists()
    # the dataset cannot be written either: merge says the point files are untouched
    monkeypatch.setattr(tempfile, "mkstemp", _refuse(".x.nc."))
    res = CliRunner().invoke(main, ["merge", str(tmp_path / "x.run")])
    assert res.exit_code == 4 and "the point files are untouched" in res.stderr
    monkeypatch.setattr(tempfile, "mkstemp", _real_mkstemp)
    res = _run(cfg, out, "--no-report", "--resume")
    assert res.exit_code == 0 and "4 computed, 2 kept" in res.output
    assert_same_results(open_dataset(reference), open_dataset(out))


def test_a_full_disk_while_writing_the_dataset_is_an_error_not_a_crash(tmp_path):
    """HDF5 failing to write a file, then closing it at exit, crashed the process (exit
    139). In a child limited to 20 kB files: one OutputError, no file, a normal exit."""
    script = textwrap.dedent(
        f"""
        import resource, signal
        import numpy as np, xarray as xr
        from mcstudy.storage.dataset import write_dataset
        from mcstudy.errors import OutputError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
        ds = xr.Dataset({{"a": ("x", np.linspace(0, 1, 20_000))}})
        try:
            write_dataset(ds, {str(tmp_path / "d.nc")!r})
        except OutputError as exc:
            print("refused:", exc)
        """
    )
    res = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert f"refused: {tmp_path / 'd.nc'}: cannot write (File too large)" in res.stdout
    assert list(tmp_path.iterdir()) == []
