"""Local executor: 1 process, 2 processes and the in-memory run_study give the same bits."""

from __future__ import annotations

import json

import numba
import numpy as np
import pytest

from mcstudy.executors.local import LocalExecutor
from mcstudy.storage.dataset import open_dataset, write_dataset
from mcstudy.storage.manifest import read_manifest
from mcstudy.storage.points import read_point
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import SweepOptions, run_study, run_sweep
from tests.sweep.helpers import assert_same_results, status_of, write_config

QUIET = SweepOptions(show_progress=False)


@pytest.mark.slow
def test_one_and_two_processes_and_in_memory_are_bit_identical(tmp_path):
    study = load_study(write_config(tmp_path))
    threads_before = numba.get_num_threads()
    one = run_sweep(study, tmp_path / "one.run", LocalExecutor(workers=1, threads=1), QUIET)
    assert numba.get_num_threads() == threads_before  # restored after an in-process run
    two = run_sweep(study, tmp_path / "two.run", LocalExecutor(workers=2, threads=1), QUIET)
    assert one.counts == two.counts == {"done": 6, "failed": 0, "pending": 0}
    assert_same_results(one.dataset, two.dataset)
    assert_same_results(one.dataset, run_study(study, show_progress=False))
    # written and read back through netCDF: still the same
    write_dataset(two.dataset, tmp_path / "two.nc")
    assert_same_results(one.dataset, open_dataset(tmp_path / "two.nc"))

    ds = one.dataset
    assert (status_of(ds) == 1).all()
    assert ds.point_status.attrs["flag_meanings"] == "pending done failed"
    prov = json.loads(ds.attrs["provenance"])
    assert prov["points"] == {"done": 6, "failed": 0, "pending": 0}
    assert prov["code_version"]["sources_sha256"] and prov["config_hash"] == study.config_hash()
    assert prov["executor"] == "local" and prov["workers"] == 1 and prov["numba_threads"] == 1
    pids = {
        json.loads(json.dumps(read_point(p)))["provenance"]["pid"]
        for p in (tmp_path / "two.run" / "points").iterdir()
    }
    assert len(pids) == 2  # really two worker processes
    assert json.loads(two.dataset.attrs["provenance"])["numba_threads_per_point"] == [1]


def test_point_files_and_manifest_record_each_point(tmp_path):
    study = load_study(write_config(tmp_path))
    run_sweep(study, tmp_path / "x.run", LocalExecutor(workers=1), QUIET)
    files = sorted((tmp_path / "x.run" / "points").iterdir())
    assert [f.name for f in files] == [f"point-{i:07d}.json" for i in range(6)]
    body = read_point(files[4])
    assert body["status"] == "done" and body["point"] == 4
    assert body["coords"] == {"gfp_nowait_fail_p": 0.3, "tables_per_gather": 509}
    assert body["seed"] == 11 and len(body["stream_key"]) == 2
    assert body["config_hash"] == study.config_hash()
    assert body["tallies"]["sequences"] == 10_000 and body["blocks"] == 10
    prov = body["provenance"]
    for key in ("host", "pid", "executor", "worker", "numba_threads", "started_utc", "seconds"):
        assert key in prov
    manifest = read_manifest(tmp_path / "x.run" / "manifest.json")
    assert manifest["counts"] == {"done": 6, "failed": 0, "pending": 0}
    row = manifest["points"][4]
    assert row["status"] == "done" and row["seed"] == 11 and row["host"] and row["seconds"] > 0
    assert row["coords"] == body["coords"]


def test_values_match_the_tallies_they_came_from(tmp_path):
    study = load_study(write_config(tmp_path))
    res = run_sweep(study, tmp_path / "x.run", LocalExecutor(workers=1), QUIET)
    body = read_point(tmp_path / "x.run" / "points" / "point-0000005.json")
    t = body["tallies"]
    ds = res.dataset
    got = ds.fallbacks_mean.values.ravel()[5]
    assert got == t["fallbacks"] / t["sequences"]
    assert ds.fallback_prob.values.ravel()[5] == t["gathers_with_fallback"] / t["sequences"]
    assert np.isfinite(ds.fallbacks_mean_exact.values).all()
