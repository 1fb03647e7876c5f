"""Convergence traces re-run stored points: prefixes of the stored run, bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcstudy.models.registry import get_model
from mcstudy.report.convergence import point_coords, select_points, trace_point
from mcstudy.report.variables import find_estimates
from mcstudy.storage.dataset import open_dataset, write_dataset
from tests.report.conftest import GATHER_TOML, run_to_file

NAMES = ["fallbacks_mean", "fallback_prob", "alloc_attempts_mean", "sync_ipis_mean"]


def flat_index(ds, **coords) -> int:
    dims = ["kernel", "gfp_nowait_fail_p", "tables_per_gather"]
    idx = [list(ds[d].values).index(coords[d]) for d in dims]
    return int(np.ravel_multi_index(idx, [ds.sizes[d] for d in dims]))


def test_full_trace_reproduces_the_stored_point(gather_dataset: Path) -> None:
    ds = open_dataset(gather_dataset)
    model = get_model("gather")
    flat = flat_index(ds, kernel="v6.3-kvm-pv", gfp_nowait_fail_p=0.05, tables_per_gather=510)
    assert point_coords(ds, flat) == {
        "kernel": "v6.3-kvm-pv",
        "gfp_nowait_fail_p": 0.05,
        "tables_per_gather": 510,
    }
    tr = trace_point(ds, model, flat, budget_s=60.0, est_names=NAMES)
    assert tr.complete and tr.reproduced
    assert tr.blocks_total == 20 and tr.sequences[-1] == 20_000
    assert np.all(np.diff(tr.sequences) > 0) and tr.sequences[0] == 1000
    assert set(NAMES) <= set(tr.compared) and not tr.mismatched
    for name in NAMES:
        stored = float(
            ds[name].sel(kernel="v6.3-kvm-pv", gfp_nowait_fail_p=0.05, tables_per_gather=510)
        )
        assert tr.values[name][-1] == stored
    assert tr.exact["fallback_prob"] == float(
        ds.fallback_prob_exact.sel(
            kernel="v6.3-kvm-pv", gfp_nowait_fail_p=0.05, tables_per_gather=510
        )
    )


def test_running_estimate_is_the_estimate_of_a_shorter_run(
    gather_dataset: Path, tmp_path: Path
) -> None:
    # a run of the same study with 5,000 sequences per point is the first 5 blocks
    ds = open_dataset(gather_dataset)
    flat = flat_index(ds, kernel="v6.14-pt-reclaim", gfp_nowait_fail_p=0.3, tables_per_gather=5000)
    tr = trace_point(ds, get_model("gather"), flat, budget_s=60.0, est_names=NAMES)
    short = open_dataset(
        run_to_file(
            GATHER_TOML.replace("sequences = 20_000", "sequences = 5_000"), tmp_path, "short"
        )
    )
    k = list(tr.sequences).index(5000)
    at = {"kernel": "v6.14-pt-reclaim", "gfp_nowait_fail_p": 0.3, "tables_per_gather": 5000}
    for name in NAMES:
        assert tr.values[name][k] == float(short[name].sel(at))


def test_budget_limits_the_trace_to_a_prefix(gather_dataset: Path) -> None:
    ds = open_dataset(gather_dataset)
    flat = flat_index(ds, kernel="v6.3-kvm-pv", gfp_nowait_fail_p=0.3, tables_per_gather=5000)
    tr = trace_point(ds, get_model("gather"), flat, budget_s=0.0, est_names=NAMES)
    assert tr.blocks_done == 1 and not tr.complete and tr.reproduced is None
    assert list(tr.sequences) == [1000]


@pytest.mark.slow
def test_a_changed_dataset_is_not_reproduced(axis_dataset: Path, tmp_path: Path) -> None:
    from mcstudy.report.build import write_report
    from tests.report.htmlcheck import parse

    ds = open_dataset(axis_dataset).copy(deep=True)
    ds["alloc_attempts_mean"].values[...] = np.nextafter(ds["alloc_attempts_mean"].values, np.inf)
    path = write_dataset(ds, tmp_path / "changed.nc")
    p = parse(write_report(path, tmp_path / "changed.html", convergence_seconds=30.0))
    assert "did NOT reproduce the stored estimates" in p.text("findings")
    assert "DIFFERS: alloc_attempts_mean" in p.text("convergence")


def test_points_are_chosen_by_relative_error(gather_dataset: Path) -> None:
    ds = open_dataset(gather_dataset)
    main = find_estimates(ds, "fallbacks_mean")[0]
    picks = select_points(ds, main)
    rel = (ds.fallbacks_stderr / ds.fallbacks_mean).values.ravel()
    assert len(picks) == 3
    assert rel[picks[0]] == np.nanmax(rel[np.isfinite(rel) & (rel > 0)])
    assert rel[picks[-1]] == np.nanmin(rel[np.isfinite(rel) & (rel > 0)])
