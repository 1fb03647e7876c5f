"""The command line: a run writes a labelled dataset; bad input exits 2 and touches nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.dataset import open_dataset, provenance_of

SMALL = """
[study]
name = "small"
model = "gather"
seed = {seed}
sequences = 20000
block_size = 1024

[params]
ipi_policy = "kernel_mode"
kernel_mode_fraction = 0.25

[sweep]
gfp_nowait_fail_p = [0.01, 0.3]
tables_per_gather = [1, 510, 1018]
"""


def run_cli(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def make_config(tmp_path: Path, seed: int = 4, text: str = SMALL) -> Path:
    path = tmp_path / f"small-{seed}.toml"
    path.write_text(text.format(seed=seed))
    return path


def assert_same_results(a, b):
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    for dim in a.dims:
        np.testing.assert_array_equal(a[dim].values, b[dim].values)


def test_run_writes_labelled_dataset(tmp_path):
    out = tmp_path / "out.nc"
    res = run_cli(["run", str(make_config(tmp_path)), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    ds = open_dataset(out)
    assert list(ds.fallbacks_mean.dims) == ["gfp_nowait_fail_p", "tables_per_gather"]
    assert ds.sequences.dtype == np.int64 and (ds.sequences == 20000).all()
    for name in (
        "fallbacks_mean",
        "fallback_prob_ci_low",
        "fallbacks_mean_exact",
        "sync_ipis_mean",
    ):
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"]
    prov = provenance_of(ds)
    for key in (
        "mcstudy_version",
        "git_commit",
        "config_text",
        "seed",
        "numba_version",
        "numba_threading_layer",
        "numba_threads",
        "wall_seconds",
        "compile_seconds",
    ):
        assert key in prov
    assert prov["seed"] == 4 and "[sweep]" in prov["config_text"]
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.slow
def test_thread_count_and_repeat_give_identical_datasets(tmp_path):
    cfg = make_config(tmp_path)
    outs = []
    for i, threads in enumerate(["1", "2", "2"]):
        out = tmp_path / f"t{i}.nc"
        res = run_cli(["run", str(cfg), "--out", str(out), "--threads", threads, "--quiet"])
        assert res.exit_code == 0, res.output
        outs.append(open_dataset(out))
    assert_same_results(outs[0], outs[1])
    assert_same_results(outs[1], outs[2])
    other = tmp_path / "other.nc"
    assert (
        run_cli(
            ["run", str(make_config(tmp_path, seed=5)), "--out", str(other), "--quiet"]
        ).exit_code
        == 0
    )
    assert not np.array_equal(
        open_dataset(other).fallbacks_mean.values, outs[0].fallbacks_mean.values
    )


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (("kernel_mode_fraction = 0.25", "kernel_mode_fractio = 0.25"), "unknown parameter"),
        (
            ("kernel_mode_fraction = 0.25", "kernel_mode_fraction = '0.25'"),
            "expected a valid number",
        ),
        (("[0.01, 0.3]", "[-0.01, 0.3]"), "expected greater than or equal to 0"),
        (("[0.01, 0.3]", "[0.01, 1.3]"), "expected less than or equal to 1"),
        (("[1, 510, 1018]", "[]"), "empty list"),
    ],
)
def test_bad_config_exits_2_and_leaves_outputs_alone(tmp_path, edit, fragment):
    out = tmp_path / "existing.nc"
    out.write_bytes(b"previous results")
    before = out.stat().st_mtime_ns
    cfg = tmp_path / "bad.toml"
    cfg.write_text(SMALL.format(seed=1).replace(*edit))
    res = CliRunner().invoke(main, ["run", str(cfg), "--out", str(out)])
    assert res.exit_code == 2
    assert fragment in res.output and str(cfg) in res.output
    assert "Traceback" not in res.output
    assert out.read_bytes() == b"previous results" and out.stat().st_mtime_ns == before
    assert sorted(os.listdir(tmp_path)) == ["bad.toml", "existing.nc"]


def test_missing_config_exits_2(tmp_path):
    res = CliRunner().invoke(main, ["run", str(tmp_path / "missing.toml")])
    assert res.exit_code == 2 and "config file not found" in res.output


def test_show_rejects_foreign_and_corrupt_files(tmp_path):
    foreign = tmp_path / "foreign.nc"
    import xarray as xr

    xr.Dataset({"x": ("i", [1, 2])}).to_netcdf(foreign, engine="h5netcdf")
    res = CliRunner().invoke(main, ["show", str(foreign)])
    assert res.exit_code == 2 and "not an mcstudy dataset" in res.output
    corrupt = tmp_path / "corrupt.nc"
    corrupt.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    res = CliRunner().invoke(main, ["show", str(corrupt)])
    assert res.exit_code == 2 and "not a readable netCDF-4 file" in res.output


def test_help_documents_commands():
    res = run_cli(["--help"])
    assert res.exit_code == 0 and "run" in res.output
    res = run_cli(["run", "--help"])
    for opt in ("--out", "--set", "--params", "--threads"):
        assert opt in res.output


def test_default_config_is_the_host_study_and_sets_no_failure_by_hand(repo_root):
    from mcstudy.study import load_study

    study = load_study(repo_root / "configs" / "default.toml")
    assert study.section.model == "host"
    assert set(study.sweep) == {"load", "kernel"} and "bursts" in study.sweep["load"]
    hand_set = ("fail_p", "pressure_fraction", "pressure_episode", "fail_prob")
    keys = [*study.params, *study.sweep]
    assert not [k for k in keys if any(h in k for h in hand_set)]
    assert json.loads(json.dumps(study.canonical()))


def test_gather_grid_config_keeps_the_old_default(repo_root):
    from mcstudy.study import load_study

    study = load_study(repo_root / "configs" / "gather-grid.toml")
    assert study.name == "gather-grid" and study.section.sequences >= 10**6
    assert study.n_points == 4 * 9 * 9
