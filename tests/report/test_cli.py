"""``mcstudy report`` and the report that ``mcstudy run`` leaves next to its dataset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from tests.report.conftest import ONE_AXIS_TOML
from tests.report.htmlcheck import check_report


def run_cli(args: list[str]):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_run_writes_the_report_next_to_the_dataset(tmp_path: Path) -> None:
    cfg = tmp_path / "axis.toml"
    cfg.write_text(ONE_AXIS_TOML)
    out = tmp_path / "out" / "axis.nc"
    res = run_cli(["run", str(cfg), "--out", str(out), "--quiet", "--threads", "1"])
    assert res.exit_code == 0, res.output
    html = out.with_suffix(".html")
    assert f"wrote {html}" in res.output
    p = check_report(html)
    assert "sensitivity" not in p.sections  # one axis: nothing to decompose
    # --no-report leaves only the dataset
    out2 = tmp_path / "out2" / "axis.nc"
    res = run_cli(["run", str(cfg), "--out", str(out2), "--quiet", "--no-report"])
    assert res.exit_code == 0, res.output
    assert out2.exists() and not out2.with_suffix(".html").exists()


@pytest.mark.slow
def test_report_command_html_pdf_and_figures(axis_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    figs = tmp_path / "figs"
    args = ["report", str(axis_dataset), "--convergence-seconds", "0"]
    res = run_cli([*args, "-o", str(out), "--figures", str(figs)])
    assert res.exit_code == 0, res.output
    assert re.search(rf"wrote {re.escape(str(out))} \(\d+\.\d s, figures in ", res.output)
    check_report(out, figs)
    pdf = tmp_path / "r.pdf"
    res = run_cli([*args, "--format", "pdf", "-o", str(pdf)])
    assert res.exit_code == 0, res.output
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    n_pages = len(re.findall(rb"/Type /Page\b", data))
    n_figures = len([f for f in figs.iterdir() if f.suffix == ".png"])
    assert n_pages >= n_figures + 2


def test_default_report_path_is_the_dataset_with_html(axis_dataset: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.nc"
    target.write_bytes(axis_dataset.read_bytes())
    res = run_cli(["report", str(target), "--convergence-seconds", "0"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "copy.html").exists()


def test_bad_inputs_exit_2_with_one_message(tmp_path: Path, axis_dataset: Path) -> None:
    res = run_cli(["report", str(tmp_path / "missing.nc")])
    assert res.exit_code == 2
    assert res.output.strip() == f"mcstudy: error: {tmp_path / 'missing.nc'}: file not found"
    junk = tmp_path / "junk.nc"
    junk.write_text("not a dataset")
    res = run_cli(["report", str(junk)])
    assert res.exit_code == 2 and "not a readable netCDF-4 file" in res.output
    assert len(res.output.strip().splitlines()) == 1
    # an existing report is left alone when the new one cannot be made
    keep = tmp_path / "keep.html"
    keep.write_text("old")
    res = run_cli(["report", str(junk), "-o", str(keep)])
    assert res.exit_code == 2 and keep.read_text() == "old"
    # the report may not overwrite its dataset, nor be a directory
    res = run_cli(["report", str(axis_dataset), "-o", str(axis_dataset)])
    assert res.exit_code == 2 and "would overwrite its own dataset" in res.output
    res = run_cli(["report", str(axis_dataset), "-o", str(tmp_path)])
    assert res.exit_code != 0
    assert not list(tmp_path.glob(".*.partial"))
