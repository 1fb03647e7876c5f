"""Convergence traces are recorded by the run: prefixes of the stored run, bit for bit, and
a report draws them without running a kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcstudy.document.convergence import point_coords, read_trace, select_points
from mcstudy.document.variables import find_estimates
from mcstudy.models.registry import get_model, model_names
from mcstudy.storage.dataset import open_dataset, write_dataset
from mcstudy.storage.running import HIGH, LOW, RUNNING_VARS, SEQUENCES, VALUE
from tests.report.conftest import GATHER_TOML, run_to_file
from tests.report.htmlcheck import check_report, parse

DIMS = ["kernel", "gfp_nowait_fail_p", "tables_per_gather"]


def flat_index(ds, **coords) -> int:
    idx = [list(ds[d].values).index(coords[d]) for d in DIMS]
    return int(np.ravel_multi_index(idx, [ds.sizes[d] for d in DIMS]))


def test_every_point_records_its_running_estimate(gather_dataset: Path) -> None:
    ds = open_dataset(gather_dataset)
    assert ds[VALUE].attrs["estimate"] == "fallbacks_mean"
    seq = ds[SEQUENCES].values.reshape(-1, ds.sizes["checkpoint"])
    # 20 blocks of 1,000: checkpoints after 1, 2, 3, 4, 6, 8, 11, 16 blocks and the last
    want = [1000 * b for b in (1, 2, 3, 4, 6, 8, 11, 16, 20)]
    assert all(row.tolist() == want for row in seq)
    # the last running value is the stored estimate, bit for bit, at every point
    last = ds[VALUE].isel(checkpoint=-1)
    assert last.values.tobytes() == ds["fallbacks_mean"].values.tobytes()
    assert (
        ds[LOW].isel(checkpoint=-1).values.tobytes() == ds["fallbacks_mean_ci_low"].values.tobytes()
    )


def test_running_estimate_is_the_estimate_of_a_shorter_run(
    gather_dataset: Path, tmp_path: Path
) -> None:
    # a run of the same study with 4,000 sequences per point is its first 4 blocks
    ds = open_dataset(gather_dataset)
    short = open_dataset(
        run_to_file(
            GATHER_TOML.replace("sequences = 20_000", "sequences = 4_000"), tmp_path, "short"
        )
    )
    k = list(ds[SEQUENCES].values.reshape(-1, ds.sizes["checkpoint"])[0]).index(4000)
    for name, var in (("fallbacks_mean", VALUE), ("fallbacks_mean_ci_low", LOW)):
        stored = ds[var].isel(checkpoint=k).values
        assert stored.tobytes() == short[name].values.tobytes(), name
    assert (
        ds[HIGH].isel(checkpoint=k).values.tobytes()
        == short["fallbacks_mean_ci_high"].values.tobytes()
    )


def test_a_trace_reads_the_stored_point(gather_dataset: Path) -> None:
    ds = open_dataset(gather_dataset)
    main = find_estimates(ds, "fallbacks_mean")[0]
    at = {"kernel": "v6.3-kvm-pv", "gfp_nowait_fail_p": 0.05, "tables_per_gather": 510}
    flat = flat_index(ds, **at)
    assert point_coords(ds, flat) == at
    tr = read_trace(ds, main, flat)
    assert tr is not None and tr.matches
    assert tr.sequences[-1] == tr.stored_sequences == 20_000
    assert tr.value[-1] == float(ds.fallbacks_mean.sel(at))
    assert tr.exact == float(ds.fallbacks_mean_exact.sel(at))
    rel = tr.relative_error()
    assert np.all(np.isfinite(rel)) and rel[-1] < rel[0]


def _no_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the report ran a Monte Carlo kernel")

    for name in model_names():
        monkeypatch.setattr(type(get_model(name)), "simulate", refuse)


def test_the_report_draws_convergence_without_running_a_kernel(
    axis_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcstudy.report.build import write_report

    _no_kernels(monkeypatch)
    p = check_report(write_report(axis_dataset, tmp_path / "axis.html"))
    text = p.text("convergence")
    assert "convergence" in {img.figure for img in p.images}
    assert "missing" not in text and "No convergence trace" not in text
    table = next(t for t in p.tables if t.section == "convergence")
    assert len(table.rows) == 3
    for row in table.rows:
        assert row[-1].text.strip() == "yes"
        assert row[3].ci is not None and "missing" not in row[3].ci


def test_a_dataset_without_running_estimates_says_why(axis_dataset: Path, tmp_path: Path) -> None:
    from mcstudy.report.build import write_report

    ds = open_dataset(axis_dataset).drop_vars(list(RUNNING_VARS))
    path = write_dataset(ds, tmp_path / "old.nc")
    text = parse(write_report(path, tmp_path / "old.html")).text("convergence")
    assert "No convergence trace: the dataset does not hold the running estimates" in text
    assert "missing" not in text


def test_a_changed_dataset_is_flagged(axis_dataset: Path, tmp_path: Path) -> None:
    from mcstudy.report.build import write_report

    ds = open_dataset(axis_dataset).copy(deep=True)
    ds["alloc_attempts_mean"].values[...] = np.nextafter(ds["alloc_attempts_mean"].values, np.inf)
    ds["fallbacks_mean"].values[...] = np.nextafter(ds["fallbacks_mean"].values, np.inf)
    path = write_dataset(ds, tmp_path / "changed.nc")
    p = parse(write_report(path, tmp_path / "changed.html"))
    assert "does NOT end at the stored fallbacks_mean" in p.text("findings")
    assert "the last running value" in p.text("convergence")
    assert "differs from the stored" in p.text("convergence")


def test_points_are_chosen_by_relative_error(gather_dataset: Path) -> None:
    ds = open_dataset(gather_dataset)
    main = find_estimates(ds, "fallbacks_mean")[0]
    picks = select_points(ds, main)
    rel = (ds.fallbacks_stderr / ds.fallbacks_mean).values.ravel()
    assert len(picks) == 3
    assert rel[picks[0]] == np.nanmax(rel[np.isfinite(rel) & (rel > 0)])
    assert rel[picks[-1]] == np.nanmin(rel[np.isfinite(rel) & (rel > 0)])


HOST_ONE_BLOCK = """\
[study]
name = "host-blocks"
model = "host"
seed = 20230419
sequences = 8
block_size = 1

[params]
horizon_s = 60.0
load = "bursts"
kernel = "v6.15"
"""

CHECK_NO_KERNEL = """
import sys
from mcstudy.models.registry import get_model, model_names
from mcstudy.models.registry import get_model, model_names

def refuse(*a, **k):
    raise SystemExit("the report ran a Monte Carlo kernel")

for name in model_names():
    type(get_model(name)).simulate = refuse
from mcstudy.report.build import write_report
write_report(sys.argv[1], sys.argv[2], fmt=sys.argv[3])
"""


@pytest.mark.slow
def test_a_fresh_process_draws_the_convergence_of_one_sequence_blocks(tmp_path: Path) -> None:
    # the default study's shape (blocks of one host-hour): a fresh report process used to
    # re-run 1 of 64 blocks and print "[missing, missing]"
    path = run_to_file(HOST_ONE_BLOCK, tmp_path, "host")
    for fmt in ("html", "pdf"):
        out = tmp_path / f"host.{fmt}"
        res = subprocess.run(
            [sys.executable, "-c", CHECK_NO_KERNEL, str(path), str(out), fmt],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert res.returncode == 0, res.stderr
        assert "Warning" not in res.stderr, res.stderr
    p = check_report(tmp_path / "host.html")
    text = p.text("convergence")
    assert "missing" not in text and "No convergence trace" not in text
    table = next(t for t in p.tables if t.section == "convergence")
    assert all(row[1].text.strip() == "8" for row in table.rows)
    assert all(row[-1].text.strip() == "yes" for row in table.rows)
