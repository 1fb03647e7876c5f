"""Large sweeps are read one point file at a time: the run directory's scan keeps a slim
record per point (no values, no tallies), values go straight into arrays, the manifest's
rows are made as they are written, and status never validates every point. The peak
memory of the commands on 1e5 points is measured by ``mcstudy.bench.largesweep``
(``benchmarks/test_large_sweep.py``); here, what the memory per point rests on."""

from __future__ import annotations

import tracemalloc

import pytest
from click.testing import CliRunner

from mcstudy.bench.largesweep import build
from mcstudy.cli import main
from mcstudy.storage.assemble import Collector, assemble, dataset_from_records
from mcstudy.storage.manifest import build_manifest, encode_manifest, read_manifest
from mcstudy.storage.points import HEAVY_KEYS, read_point
from mcstudy.storage.rundir import RunDir
from mcstudy.sweep.point import point_code_version

N = 1000


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    return build(tmp_path_factory.mktemp("large"), N)


def test_coordinates_by_index_are_the_points_coordinates(large):
    study = RunDir(large[1]).load_study()
    points = list(study.points())
    assert [study.coords_of(p.index) for p in points] == [p.coords for p in points]
    assert study.point(N - 1) == points[-1]
    with pytest.raises(IndexError):
        study.coords_of(N)


def test_a_scan_keeps_slim_records_and_hands_each_body_to_its_sink(large):
    rd = RunDir(large[1])
    study = rd.load_study()
    seen = []
    scan = rd.scan(study, rd.info()["code_version"], sink=lambda i, b: seen.append((i, b)))
    assert len(scan.records) == N == len(seen) and not scan.invalid
    assert all(not (HEAVY_KEYS & set(r)) for r in scan.records.values())
    index, body = seen[7]
    assert body == read_point(rd.points_dir / f"point-{index:07d}.json")  # whole, as read
    assert scan.records[index]["stream_key"] == body["stream_key"]


def test_reading_a_large_sweep_holds_little_per_point(large):
    """What a scan and the assembled values keep, per point (tracemalloc: Python
    allocations, NumPy arrays included): whole records took 10.5 KB a gather point."""
    rd = RunDir(large[1])
    study = rd.load_study()
    code = rd.info()["code_version"]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        collected = Collector(study)
        scan = rd.scan(study, code, sink=collected.add)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept / N < 3000, kept / N  # bytes per point (measured: about 2.2 KB)
    ds = dataset_from_records(study, scan.records, code, None, collected)
    whole = dataset_from_records(
        study, {i: read_point(rd.points_dir / f"point-{i:07d}.json") for i in range(N)}, code
    )
    for name in ds.data_vars:  # streaming gives the dataset of whole records, bit for bit
        assert ds[name].values.tobytes() == whole[name].values.tobytes(), name


def test_merge_and_status_of_a_large_sweep(large, tmp_path):
    rd = RunDir(large[1])
    res = CliRunner().invoke(main, ["merge", str(rd.path), "--out", str(tmp_path / "m.nc")])
    assert res.exit_code == 0, res.output
    assert f"({N} points: {N} done, 0 failed, 0 pending)" in res.output
    manifest = read_manifest(rd.manifest_file())
    assert manifest["counts"]["done"] == N and len(manifest["points"]) == N
    assert manifest["points"][N - 1]["coords"] == rd.load_study().coords_of(N - 1)
    res = CliRunner().invoke(main, ["status", str(rd.path)])
    assert res.exit_code == 0 and f"points: {N} total, {N} done" in res.output
    asm = assemble(rd.path, point_code_version(rd.load_study().model))
    again = encode_manifest(
        build_manifest(asm.study, range(N), asm.records, config_hash="h", code_version=asm.code)
    )
    assert again.count(b'"status": "done"') == N
