"""Failure tolerance: failed points are recorded and retried; damaged or foreign point
files are reported, never merged, and recomputed; a dying worker loses nothing else."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.executors.local import LocalExecutor
from mcstudy.storage.checked import read_checked, write_checked
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.points import POINT_FORMAT, POINT_FORMAT_VERSION, read_point
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import SweepOptions, run_sweep
from tests.models import faulty_model
from tests.sweep.helpers import assert_same_results, status_of, write_config

QUIET = SweepOptions(show_progress=False)
RESUME = SweepOptions(show_progress=False, resume=True)


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.slow
def test_failed_point_is_recorded_reported_and_retried(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, model=faulty_model.NAME)
    study = load_study(cfg)
    clean = run_sweep(study, tmp_path / "clean.run", LocalExecutor(workers=1), QUIET).dataset

    monkeypatch.setenv(faulty_model.FAIL_ENV, "509")  # points 1 and 4 raise
    run_dir = tmp_path / "out.run"
    res = run_sweep(study, run_dir, LocalExecutor(workers=2, threads=1), QUIET)
    assert res.failed == [1, 4]
    assert res.counts == {"done": 4, "failed": 2, "pending": 0}
    ds = res.dataset
    assert list(status_of(ds)) == [1, 2, 1, 1, 2, 1]
    for i in (1, 4):
        assert math.isnan(ds.fallbacks_mean.values.ravel()[i])
        assert ds.sequences.values.ravel()[i] == -1
        # the exact value is a result too: missing with the point, never half-filled
        assert math.isnan(ds.fallbacks_mean_exact.values.ravel()[i])
    body = read_point(run_dir / "points" / "point-0000004.json")
    assert body["status"] == "failed" and body["seed"] == study.section.seed
    assert body["error"]["type"] == "RuntimeError"
    assert "injected failure at tables_per_gather=509" in body["error"]["traceback"]
    assert "Traceback" in body["error"]["traceback"]

    out = CliRunner().invoke(main, ["status", str(run_dir)])
    assert out.exit_code == 1  # not every point is done
    assert "6 total, 4 done, 2 failed, 0 pending" in out.output
    assert "point 4 (gfp_nowait_fail_p=0.3, tables_per_gather=509), seed 11" in out.output
    assert "RuntimeError: injected failure" in out.output and "--retry-failed" in out.output

    # --resume alone keeps the failures; --retry-failed reruns exactly those
    again = run_sweep(study, run_dir, LocalExecutor(workers=1), RESUME)
    assert again.computed == 0 and again.failed == [1, 4]
    monkeypatch.delenv(faulty_model.FAIL_ENV)
    retried = run_sweep(
        study,
        run_dir,
        LocalExecutor(workers=1),
        SweepOptions(show_progress=False, retry_failed=True),
    )
    assert retried.computed == 2 and retried.reused == 4 and retried.failed == []
    assert_same_results(clean, retried.dataset)
    assert read_point(run_dir / "points" / "point-0000004.json")["provenance"]["attempt"] == 2


def test_cli_run_with_failures_writes_dataset_and_exits_1(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, model=faulty_model.NAME)
    monkeypatch.setenv(faulty_model.FAIL_ENV, "1")
    out = tmp_path / "r.nc"
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"])
    assert res.exit_code == 1
    assert "2 point(s) failed" in res.output and "--retry-failed" in res.output
    ds = open_dataset(out)
    assert list(status_of(ds)) == [2, 1, 1, 2, 1, 1]
    monkeypatch.delenv(faulty_model.FAIL_ENV)
    res = cli("run", str(cfg), "--out", str(out), "--quiet", "--no-report", "--retry-failed")
    assert res.exit_code == 0 and "2 computed, 4 kept" in res.output
    assert (status_of(open_dataset(out)) == 1).all()


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[-20] ^= 0x01
    path.write_bytes(bytes(data))


def test_damaged_and_foreign_point_files_are_never_merged(tmp_path):
    cfg = write_config(tmp_path)
    study = load_study(cfg)
    run_dir = tmp_path / "small.run"
    original = run_sweep(study, run_dir, LocalExecutor(workers=1), QUIET).dataset
    other_study = load_study(write_config(tmp_path, seed=99))
    run_sweep(other_study, tmp_path / "other.run", LocalExecutor(workers=1), QUIET)
    pts = run_dir / "points"

    _flip_byte(pts / "point-0000000.json")  # bit rot: checksum mismatch
    (pts / "point-0000001.json").write_bytes(  # foreign: another config's point 1
        (tmp_path / "other.run" / "points" / "point-0000001.json").read_bytes()
    )
    body = read_checked(pts / "point-0000002.json", POINT_FORMAT, POINT_FORMAT_VERSION)
    body["code_version"] = {**body["code_version"], "sources_sha256": "0" * 64}
    body["values"]["fallbacks_mean"] = 123.0  # a "valid" file from other code
    write_checked(pts / "point-0000002.json", POINT_FORMAT, POINT_FORMAT_VERSION, body)
    data = (pts / "point-0000003.json").read_bytes()
    (pts / "point-0000003.json").write_bytes(data[: len(data) // 2])  # truncated copy
    (pts / "point-0000005.json").write_text("not json at all\n")
    (pts / "point-0000017.json").write_bytes(data)  # beyond the sweep

    st = CliRunner().invoke(main, ["status", str(run_dir)])
    assert st.exit_code == 1
    assert "6 total, 1 done, 0 failed, 5 pending" in st.output
    for fragment in (
        "point-0000000.json: damaged mcstudy-point file: SHA-256 checksum mismatch",
        "point-0000001.json: foreign: computed for config",
        "point-0000002.json: foreign: computed by other code",
        "point-0000003.json: damaged mcstudy-point file",
        "point-0000005.json: not an mcstudy-point file",
        "point-0000017.json: no such point",
    ):
        assert fragment in " ".join(st.output.split()), fragment  # wrapped to the width

    merged = cli("merge", str(run_dir))
    assert merged.exit_code == 1
    assert "gap: 5 pending point(s): 0, 1, 2, 3, 5" in merged.output
    assert "unusable point file, not merged" in merged.output
    ds = open_dataset(tmp_path / "small.nc")
    assert list(status_of(ds)) == [0, 0, 0, 0, 1, 0]
    assert np.isnan(np.delete(ds.fallbacks_mean.values.ravel(), 4)).all()
    assert 123.0 not in ds.fallbacks_mean.values

    res = run_sweep(study, run_dir, LocalExecutor(workers=1), RESUME)
    assert res.computed == 5 and res.reused == 1
    assert len(res.quarantined) == 6  # the five, and the file of a point that does not exist
    q = sorted(p.name for p in (run_dir / "quarantine").iterdir())
    assert len(q) == 12 and sum(name.endswith(".reason.txt") for name in q) == 6
    assert_same_results(original, res.dataset)


def test_killed_writer_leaves_no_half_point(tmp_path):
    cfg = write_config(tmp_path)
    study = load_study(cfg)
    run_dir = tmp_path / "small.run"
    original = run_sweep(study, run_dir, LocalExecutor(workers=1), QUIET).dataset
    # a writer killed between its temporary file and the rename leaves only this:
    point = run_dir / "points" / "point-0000002.json"
    stale = run_dir / "points" / ".point-0000002.json.k1ll3d.partial"
    stale.write_bytes(point.read_bytes()[:100])
    point.unlink()
    stale_manifest = run_dir / ".manifest.json.k1ll3d.partial"
    stale_manifest.write_text("{")
    st = cli("status", str(run_dir))
    assert "5 done, 0 failed, 1 pending" in st.output and "pending points: 2" in st.output
    res = run_sweep(study, run_dir, LocalExecutor(workers=1), RESUME)
    assert res.computed == 1 and not stale.exists() and not stale_manifest.exists()
    assert_same_results(original, res.dataset)


@pytest.mark.slow
def test_worker_process_death_loses_only_its_point(tmp_path, monkeypatch):
    cfg = write_config(tmp_path, model=faulty_model.NAME)
    cfg.write_text(cfg.read_text().replace("[0.01, 0.3]", "[0.3]"))
    study = load_study(cfg)
    monkeypatch.setenv(faulty_model.DIE_ENV, "509")  # point 1 kills its worker process
    res = run_sweep(study, tmp_path / "x.run", LocalExecutor(workers=2, threads=1), QUIET)
    assert res.failed == [1]
    assert res.counts == {"done": 2, "failed": 1, "pending": 0}
    body = read_point(tmp_path / "x.run" / "points" / "point-0000001.json")
    assert body["error"]["type"] == "WorkerProcessDied"
    assert json.loads(res.dataset.attrs["provenance"])["points"]["done"] == 2


@pytest.mark.parametrize("flag", ["--resume", "--retry-failed"])
def test_resume_refuses_another_config(tmp_path, flag):
    cfg = write_config(tmp_path)
    out = tmp_path / "x.nc"
    assert cli("run", str(cfg), "--out", str(out), "--quiet", "--no-report").exit_code == 0
    before = sorted(p.read_bytes() for p in (tmp_path / "x.run" / "points").iterdir())
    res = CliRunner().invoke(
        main,
        ["run", str(cfg), "--out", str(out), "--quiet", "--no-report", flag, "--set", "seed=12"],
    )
    assert res.exit_code == 2
    assert "holds 6 committed point(s) of a different config" in res.output
    assert "study.seed: 11 -> 12" in res.output and "--restart" in res.output
    assert sorted(p.read_bytes() for p in (tmp_path / "x.run" / "points").iterdir()) == before
