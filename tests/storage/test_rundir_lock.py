"""Run directories: created whole or not at all (concurrent creators, kills), locked against
a second writer (shards of one array excepted), cleaned of what killed writers left,
readable by the group, and never a way to write outside themselves."""

from __future__ import annotations

import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.atomic import FILE_MODE
from mcstudy.storage.checked import read_checked, write_checked
from mcstudy.storage.errors import RunDirError
from mcstudy.storage.lock import RunLock, RunLockedError
from mcstudy.storage.rundir import RUN_FORMAT, RUN_FORMAT_VERSION, RunDir, dataset_for
from mcstudy.study import load_study
from mcstudy.sweep.point import point_code_version
from tests.sweep.helpers import write_config


def _create(args: tuple[str, str, int]) -> bool:
    cfg, run_dir, start = args
    while time.time() < start:  # all creators released at the same instant
        pass
    study = load_study(cfg)
    return RunDir(run_dir).prepare(study, point_code_version(study.model), "x.nc")


@pytest.mark.slow
def test_concurrent_creators_agree(tmp_path):
    cfg = write_config(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    for rep in range(3):
        run_dir = tmp_path / f"c{rep}.run"
        start = time.time() + 3.0
        with ctx.Pool(6) as pool:
            created = pool.map(_create, [(str(cfg), str(run_dir), start)] * 6)
        assert sum(created) == 1, created  # exactly one made it, the others use it
        assert sorted(p.name for p in run_dir.iterdir()) == ["lock", "points", "study.json"]
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".c")]


def _study(tmp_path: Path):
    study = load_study(write_config(tmp_path))
    return study, point_code_version(study.model)


def test_leftovers_of_an_interrupted_creation_are_redone(tmp_path):
    """What an older mcstudy killed between mkdir and study.json left behind."""
    study, code = _study(tmp_path)
    rd = RunDir(tmp_path / "x.run")
    (rd.path / "points").mkdir(parents=True)
    (rd.path / ".study.json.abc123.partial").write_text('{"format": "mcst')
    assert rd.prepare(study, code, "x.nc")
    assert sorted(p.name for p in rd.path.iterdir()) == ["lock", "points", "study.json"]
    # an empty directory is no run directory, but holds nothing to lose either
    rd2 = RunDir(tmp_path / "y.run")
    rd2.path.mkdir()
    assert rd2.prepare(study, code, "y.nc")


@pytest.mark.slow
def test_stale_temporary_files_and_directories_are_cleaned(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet"]).exit_code == 0
    run_dir = tmp_path / "x.run"
    old = time.time() - 3600
    stale = [
        run_dir / ".study.json.k1ll3d.partial",
        run_dir / ".manifest.json.k1ll3d.partial",
        run_dir / "points" / ".point-0000003.json.k1ll3d.partial",
        tmp_path / ".x.nc.k1ll3d.partial",
        tmp_path / ".x.html.k1ll3d.partial",
    ]
    for p in stale:
        p.write_text("half")
        os.utime(p, (old, old))
    creator = tmp_path / ".x.run.k1ll3d.partial"
    (creator / "points").mkdir(parents=True)
    os.utime(creator, (old, old))
    fresh = tmp_path / ".x.nc.writing.partial"  # a live writer's: too young to touch
    fresh.write_text("in progress")
    other = tmp_path / ".other.nc.k1ll3d.partial"  # another output's: not ours
    other.write_text("x")
    os.utime(other, (old, old))
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--resume"])
    assert res.exit_code == 0, res.output
    assert [p for p in stale if p.exists()] == [] and not creator.exists()
    assert fresh.exists() and other.exists()


@pytest.mark.slow
def test_files_are_readable_by_the_group(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet"]).exit_code == 0
    run_dir = tmp_path / "x.run"
    for p in [out, out.with_suffix(".html"), *run_dir.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        want = FILE_MODE if p.is_file() else FILE_MODE | 0o111
        assert mode == want, (p, oct(mode))
    assert FILE_MODE & 0o040  # under the usual umask 022: group-readable


def test_merge_derives_the_dataset_path_from_the_directory(tmp_path):
    cfg = write_config(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    out = deep / "x.nc"
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"])
    assert res.exit_code == 0
    study_file = deep / "x.run" / "study.json"
    info = read_checked(study_file, RUN_FORMAT, RUN_FORMAT_VERSION)
    info["dataset"] = "../../ESCAPED.nc"  # an edited study.json with a valid checksum
    write_checked(study_file, RUN_FORMAT, RUN_FORMAT_VERSION, info)
    out.unlink()
    res = CliRunner().invoke(main, ["merge", str(deep / "x.run")])
    assert res.exit_code == 0, res.output
    assert out.exists() and not (tmp_path / "ESCAPED.nc").exists()
    assert not list(tmp_path.rglob("ESCAPED*"))
    assert dataset_for(Path("o/r.h5.run"), "r.h5") == Path("o/r.h5")
    assert dataset_for(Path("o/r.run"), "../r.nc") == Path("o/r.nc")


# ----------------------------------------------------------------------------- locks


def _run_dir(tmp_path: Path) -> Path:
    study, code = _study(tmp_path)
    rd = RunDir(tmp_path / "x.run")
    rd.prepare(study, code, "x.nc")
    return rd.path


def test_a_whole_run_excludes_everything_and_names_itself(tmp_path):
    path = _run_dir(tmp_path)
    with RunLock(path):
        for other in (RunLock(path), RunLock(path, shard=(0, 2)), RunLock(path, role="merge")):
            with pytest.raises(RunLockedError) as err:
                other.acquire()
            assert f"pid {os.getpid()}" in str(err.value) and "a whole run" in str(err.value)
    with RunLock(path):  # released: free again
        pass


def test_shards_of_one_array_run_together_but_not_twice(tmp_path):
    path = _run_dir(tmp_path)
    with RunLock(path, shard=(0, 4)), RunLock(path, shard=(1, 4)), RunLock(path, role="merge"):
        with pytest.raises(RunLockedError, match=r"shard 0/4 .*pid"):
            RunLock(path, shard=(0, 4)).acquire()
        with pytest.raises(RunLockedError) as err:
            RunLock(path).acquire()
        assert "shard 0/4" in str(err.value) and "shard 1/4" in str(err.value)
    assert not list((path / "locks").glob("merge-*"))  # a merge's own file goes with it


@pytest.mark.slow
def test_a_second_run_of_the_same_output_is_refused(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet"]).exit_code == 0
    with RunLock(tmp_path / "x.run"):  # as if another process were running it
        res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--resume"])
        assert res.exit_code == 2 and "is in use by a whole run (pid" in res.output
        res = CliRunner().invoke(main, ["merge", str(tmp_path / "x.run")])
        assert res.exit_code == 2 and "is in use by" in res.output


def test_restart_is_refused_on_a_directory_that_is_not_a_run(tmp_path):
    rd = RunDir(tmp_path / "q.run")
    rd.path.mkdir()
    (rd.path / "data.csv").write_text("1,2")
    with pytest.raises(RunDirError, match="not an mcstudy run directory"):
        rd.clear()
