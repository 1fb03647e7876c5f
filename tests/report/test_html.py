"""The HTML report of a small gather study: structure, figures, tables, provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mcstudy.storage.dataset import open_dataset, write_dataset
from tests.report.htmlcheck import check_report, parse


def test_gather_report_structure(gather_report: tuple[Path, Path]) -> None:
    path, figures = gather_report
    p = check_report(path, figures)
    for sid in ("summary", "headline", "exact", "convergence", "sensitivity"):
        assert sid in p.sections
    keys = {img.figure for img in p.images}
    # headline answers first: the fallback probability and the IPIs per gather
    assert {"headline-fallback_prob", "headline-sync_ipis_mean"} <= keys
    assert {"fallbacks_mean", "alloc_attempts_mean", "convergence", "sensitivity"} <= keys
    assert "exact-zscores" in keys
    # every figure is also a PNG and an SVG file, and nothing else is there
    assert sorted(f.name for f in figures.iterdir()) == sorted(
        [f"{k}.png" for k in keys] + [f"{k}.svg" for k in keys]
    )
    # the full table of each estimate lists all 27 points
    tables = [
        t
        for t in p.tables
        if t.cls == "estimates"
        and t.header[:3] == ["kernel", "gfp_nowait_fail_p", "tables_per_gather"]
    ]
    assert len(tables) == 4 and all(len(t.rows) == 27 for t in tables)


def test_design_and_provenance_say_what_was_run(gather_report: tuple[Path, Path]) -> None:
    path, _ = gather_report
    p = parse(path)
    design = p.text("design")
    for needle in (
        "tiny-gather",
        "27 point(s)",
        "20,000",
        "Seed 7",
        "v6.14-pt-reclaim",
        "call_rcu",
        "ipi_policy",
        "broadcast",
        "report test study",
    ):
        assert needle in design, needle
    prov = p.text("provenance")
    for needle in (
        "mcstudy_version",
        "numba_version",
        "block_size",
        "1000",
        "git_commit",
        'name = "tiny-gather"',
        "mcstudy report",
    ):
        assert needle in prov, needle


def test_headline_numbers_come_from_the_dataset(
    gather_dataset: Path, gather_report: tuple[Path, Path]
) -> None:
    path, _ = gather_report
    p = parse(path)
    head = p.text("headline")
    ds = open_dataset(gather_dataset)
    # bare metal v6.3 never falls back: the report says so, with the gathers simulated
    assert "`v6.3-baremetal`" not in head  # backticks are rendered as code, not shown
    assert "v6.3-baremetal: no fallback at any swept point (180,000 gathers simulated" in head
    assert "the fallback sends no IPI" in head  # v6.14-pt-reclaim
    assert "each fallback sends 63 sync IPI deliveries" in head  # 64 CPUs, broadcast
    # the small-p table: P(>= 1 fallback) / p against ceil(n / 509) batch pages
    small = next(t for t in p.tables if t.header and t.header[0] == "tables per gather n")
    assert [r[1].text for r in small.rows] == ["1", "2", "10"]
    # the smallest swept p at which every gather size is resolved to +-25 %
    kvm = ds.sel(kernel="v6.3-kvm-pv")
    rel = (kvm.fallback_prob_ci_high - kvm.fallback_prob_ci_low) / (2 * kvm.fallback_prob)
    p_small = float(kvm.gfp_nowait_fail_p[(rel <= 0.25).all("tables_per_gather")][0])
    assert f"at p = {p_small:g}, kernel = v6.3-kvm-pv" in head
    for row, n in zip(small.rows, (1, 510, 5000), strict=True):
        exact = 1 - (1 - p_small) ** -(-n // 509)
        assert float(row[-1].text) == float(f"{exact:.4g}")
        y = float(kvm.fallback_prob.sel(gfp_nowait_fail_p=p_small, tables_per_gather=n))
        # the estimate as printed: rounded to the last decimal its interval warrants
        text = row[2].text.strip()
        half = 0.5 * 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)
        assert abs(float(text) - y) <= half * (1 + 1e-9) and abs(float(text) - y) <= 0.01 * y


def test_disagreement_with_exact_is_flagged(gather_dataset: Path, tmp_path: Path) -> None:
    from mcstudy.report.build import write_report

    ds = open_dataset(gather_dataset)
    bad = ds.sel(kernel=["v6.3-kvm-pv"]).copy(deep=True)
    sel = {"kernel": "v6.3-kvm-pv", "gfp_nowait_fail_p": 0.05, "tables_per_gather": 510}
    bad["fallback_prob_exact"].loc[sel] = 0.2  # the estimate is about 0.0975
    path = write_dataset(bad, tmp_path / "bad.nc")
    out = write_report(path, tmp_path / "bad.html", convergence_seconds=0)
    p = parse(out)
    summary = p.text("findings")
    assert "Findings: read these before the numbers" in summary
    assert "disagreement: fallback_prob disagrees with its exact value" in summary
    exact = p.text("exact")
    assert (
        "fallback_prob at kernel = v6.3-kvm-pv, gfp_nowait_fail_p = 0.05, tables_per_gather = 510"
        in exact
    )
    assert "No convergence trace: convergence traces were switched off" in p.text("convergence")


def test_failed_and_missing_points_are_shown(gather_dataset: Path, tmp_path: Path) -> None:
    from mcstudy.report.build import write_report

    ds = open_dataset(gather_dataset).sel(kernel=["v6.3-kvm-pv", "v6.14-pt-reclaim"])
    ds = ds.copy(deep=True)
    status = np.zeros(ds.fallback_prob.shape, dtype=np.int8) + 1
    status[0, 2, 0] = 2
    status[1, 0, 1] = 0
    ds["point_status"] = (
        list(ds.fallback_prob.dims),
        status,
        {"flag_values": np.array([0, 1, 2], dtype=np.int8), "flag_meanings": "pending done failed"},
    )
    for name in ds.data_vars:
        if name != "point_status" and ds[name].dtype.kind == "f":
            ds[name].values[status != 1] = np.nan
    path = write_dataset(ds, tmp_path / "holes.nc")
    p = parse(write_report(path, tmp_path / "holes.html", convergence_seconds=0))
    health = p.text("health")
    assert "2 of 18 point(s) are not done (1 failed, 1 pending)" in health
    assert "kernel = v6.3-kvm-pv, gfp_nowait_fail_p = 0.3, tables_per_gather = 1: failed" in health
    assert (
        "kernel = v6.14-pt-reclaim, gfp_nowait_fail_p = 0.001, tables_per_gather = 510: pending"
        in health
    )
    assert "not done" in p.text("findings")
    # the tables say "missing" where there is no value, and the report still renders
    check_report(tmp_path / "holes.html")


def test_report_of_a_single_point_study(tmp_path: Path) -> None:
    from mcstudy.report.build import write_report
    from tests.report.conftest import run_to_file

    text = (
        "\n".join(
            [
                "[study]",
                'name = "one"',
                'model = "gather"',
                "seed = 3",
                "sequences = 4000",
                "block_size = 500",
                "[params]",
                "tables_per_gather = 600",
                "gfp_nowait_fail_p = 0.2",
            ]
        )
        + "\n"
    )
    path = run_to_file(text, tmp_path, "one")
    p = check_report(write_report(path, convergence_seconds=2.0))
    assert "sensitivity" not in p.sections  # no axis to decompose
    assert json.loads(open_dataset(path).attrs["sweep_dims"]) == []
    table = next(t for t in p.tables if t.section == "convergence")
    assert [(r[0].text.strip(), r[-1].text.strip()) for r in table.rows] == [
        ("the single point", "yes")
    ]


def test_per_point_tables_of_a_large_sweep_are_capped(
    gather_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    """Above MAX_TABLE_ROWS a per-point table shows its flagged points first, then the
    first in sweep order, and says how many of how many (here with a cap of 3 of 9)."""
    from mcstudy.report.build import write_report

    monkeypatch.setattr("mcstudy.report.sections.estimates.MAX_TABLE_ROWS", 3)
    ds = open_dataset(gather_dataset)
    bad = ds.sel(kernel=["v6.3-kvm-pv"]).copy(deep=True)
    sel = {"kernel": "v6.3-kvm-pv", "gfp_nowait_fail_p": 0.05, "tables_per_gather": 510}
    bad["fallback_prob_exact"].loc[sel] = 0.2  # flagged: the last point in sweep order
    path = write_dataset(bad, tmp_path / "bad.nc")
    out = write_report(path, tmp_path / "bad.html", convergence_seconds=0)
    html = out.read_text()
    assert "Shown: 3 of 9 points (the flagged ones, then the first in sweep order)" in html
    tables = [t[: t.index("</table>")] for t in html.split("Shown: 3 of 9 points")[1:]]
    assert tables and all(t.count("<tr") == 4 for t in tables)  # header + 3 rows each
    assert sum("disagrees with exact" in t for t in tables) == 1  # fallback_prob's table
