"""Shards: three shards merged equal one local run; gaps are reported, not hidden."""

from __future__ import annotations

from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.executors.local import LocalExecutor
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.manifest import read_manifest
from mcstudy.study import load_study
from mcstudy.sweep.coordinator import SweepOptions, run_sweep
from mcstudy.sweep.merge import merge_run
from mcstudy.sweep.shards import Shard
from tests.sweep.helpers import assert_same_results, status_of, write_config


def test_three_shards_merged_equal_one_run(tmp_path):
    study = load_study(write_config(tmp_path))
    whole = run_sweep(
        study, tmp_path / "whole.run", LocalExecutor(workers=1), SweepOptions(show_progress=False)
    ).dataset
    run_dir = tmp_path / "sharded.run"
    for i in (2, 0):
        res = run_sweep(
            study,
            run_dir,
            LocalExecutor(workers=1, threads=1),
            SweepOptions(show_progress=False, shard=Shard(i, 3)),
        )
        assert res.dataset is None and res.computed == 2
        manifest = read_manifest(run_dir / f"manifest-shard-{i}-of-3.json")
        assert [row["point"] for row in manifest["points"]] == [i, i + 3]
        assert manifest["counts"] == {"done": 2, "failed": 0, "pending": 0}

    # shard 1 has not run: merge writes the dataset with the gap and says so
    report = merge_run(run_dir)
    assert report.gaps and report.pending == [1, 4] and report.failed == []
    assert any("gap: 2 pending point(s): 1, 4" in line for line in report.lines)
    partial = open_dataset(tmp_path / "sharded.nc")
    assert list(status_of(partial)) == [1, 0, 1, 1, 0, 1]

    res = run_sweep(
        study,
        run_dir,
        LocalExecutor(workers=1),
        SweepOptions(show_progress=False, shard=Shard(1, 3)),
    )
    assert res.computed == 2
    # a rerun of a finished shard (a requeued array task) computes nothing
    again = run_sweep(
        study,
        run_dir,
        LocalExecutor(workers=1),
        SweepOptions(show_progress=False, shard=Shard(1, 3)),
    )
    assert again.computed == 0 and again.reused == 2
    report = merge_run(run_dir)
    assert not report.gaps
    merged = open_dataset(tmp_path / "sharded.nc")
    assert_same_results(whole, merged)
    assert read_manifest(run_dir / "manifest.json")["counts"]["done"] == 6


def test_slurm_array_variables_shard_the_cli_run(tmp_path):
    cfg = write_config(tmp_path)
    out = tmp_path / "arr.nc"
    runner = CliRunner()
    for task in (1, 2, 3):  # sbatch --array=1-3
        env = {
            "SLURM_JOB_ID": str(100 + task),
            "SLURM_ARRAY_JOB_ID": "100",
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_COUNT": "3",
            "SLURM_ARRAY_TASK_MIN": "1",
            "SLURM_CPUS_PER_TASK": "1",
        }
        res = runner.invoke(
            main, ["run", str(cfg), "--out", str(out), "--quiet", "--no-report"], env=env
        )
        assert res.exit_code == 0, res.output
        assert f"shard {task - 1}/3: (2 points" in res.output
        assert "mcstudy merge" in res.output
        assert not out.exists()
    st = runner.invoke(main, ["status", str(out)])
    assert "6 done, 0 failed, 0 pending" in st.output and "0/3, 1/3, 2/3" in st.output
    res = runner.invoke(main, ["merge", str(tmp_path / "arr.run")])
    assert res.exit_code == 0 and "6 done, 0 failed, 0 pending" in res.output
    sharded = open_dataset(out)
    single = tmp_path / "single.nc"
    assert (
        runner.invoke(
            main, ["run", str(cfg), "--out", str(single), "--quiet", "--no-report"]
        ).exit_code
        == 0
    )
    assert_same_results(open_dataset(single), sharded)
    import json

    prov = json.loads(sharded.attrs["provenance"])
    assert prov["slurm_array_jobs"] == ["100"] and prov["shards"] == ["0/3", "1/3", "2/3"]


def test_shard_of_another_config_is_refused(tmp_path):
    cfg = write_config(tmp_path)
    out = str(tmp_path / "x.nc")
    runner = CliRunner()
    assert (
        runner.invoke(
            main, ["run", str(cfg), "--out", out, "--shard", "0/2", "--quiet", "--no-report"]
        ).exit_code
        == 0
    )
    res = runner.invoke(
        main, ["run", str(cfg), "--out", out, "--shard", "1/2", "--set", "sequences=2000"]
    )
    assert res.exit_code == 2 and "different config" in res.output
    assert "study.sequences: 10000 -> 2000" in res.output
    res = runner.invoke(main, ["run", str(cfg), "--out", out, "--shard", "2/2"])
    assert res.exit_code == 2 and "0 <= I < N" in res.output


def test_sweep_key_order_survives_the_run_directory(tmp_path):
    """The [sweep] key order is the dims and point order: merge, status and resume must
    rebuild it from study.json (whose JSON objects have sorted keys)."""
    cfg = write_config(tmp_path)
    text = cfg.read_text()
    text = text.replace(
        "gfp_nowait_fail_p = [0.01, 0.3]\ntables_per_gather = [1, 509, 2000]",
        "tables_per_gather = [1, 509, 2000]\ngfp_nowait_fail_p = [0.01, 0.3]",
    )
    cfg.write_text(text)
    study = load_study(cfg)
    assert list(study.sweep) == ["tables_per_gather", "gfp_nowait_fail_p"]
    whole = run_sweep(
        study, tmp_path / "w.run", LocalExecutor(workers=1), SweepOptions(show_progress=False)
    )
    for i in range(2):
        run_sweep(
            study,
            tmp_path / "s.run",
            LocalExecutor(workers=1),
            SweepOptions(show_progress=False, shard=Shard(i, 2)),
        )
    report = merge_run(tmp_path / "s.run")
    assert not report.gaps, report.lines
    merged = open_dataset(tmp_path / "s.nc")
    assert list(merged.fallbacks_mean.dims) == ["tables_per_gather", "gfp_nowait_fail_p"]
    assert_same_results(whole.dataset, merged)
    # the same keys in another order is another sweep: refused, not mixed
    other = tmp_path / "other.toml"
    other.write_text(
        cfg.read_text().replace(
            "tables_per_gather = [1, 509, 2000]\ngfp_nowait_fail_p = [0.01, 0.3]",
            "gfp_nowait_fail_p = [0.01, 0.3]\ntables_per_gather = [1, 509, 2000]",
        )
    )
    res = CliRunner().invoke(main, ["run", str(other), "--out", str(tmp_path / "s.nc"), "--resume"])
    assert res.exit_code == 2 and "order of the [sweep] keys" in res.output
