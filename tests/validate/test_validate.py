"""``mcstudy validate``: the coverage self-test runs, judges and stores its table."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.storage.dataset import open_dataset
from mcstudy.validate.coverage import Coverage
from mcstudy.validate.results import verdict


def _row(
    covered: int,
    n: int = 1000,
    spread: float = 1.0,
    discrete: bool = False,
    quick: bool = False,
) -> Coverage:
    return Coverage("c", "e", "score", 1.0, n, covered, 0, 0.0, spread, 1.0, discrete, quick)


def test_verdicts():
    assert verdict(_row(950)) == "ok"  # 95 %
    assert verdict(_row(1116, n=1200)) == verdict(_row(1164, n=1200)) == "ok"  # 93 %, 97 %
    # the row: 91.6 % [89.7, 93.2] passed the old rule (its interval met 93 %)
    assert verdict(_row(916)) == "low"
    assert verdict(_row(916, quick=True)) == "ok"
    assert verdict(_row(972)) == "high"
    assert verdict(_row(380, n=400)) == "imprecise"  # 95 % [92.4, 96.7]: +- 2.1 %
    assert verdict(_row(380, n=400, quick=True)) == "ok"
    assert verdict(_row(344, n=400, quick=True)) == "low"  # 86 %: below 93 % either way
    assert verdict(_row(1000, discrete=True)) == "n/a"
    assert verdict(_row(1000, spread=float("nan"))) == "n/a"  # no variance: no test


def test_replications_needed_for_a_precise_coverage():
    from mcstudy.validate.results import PRECISION, replications_needed

    need = replications_needed([_row(380, n=400), _row(1000, discrete=True)])
    assert 811 <= need <= 840  # Wald's 1.96^2 x 0.95 x 0.05 / 0.015^2 = 811, Wilson's more
    assert _row(round(0.95 * need), n=need).half_width <= PRECISION
    assert replications_needed([_row(900)]) == replications_needed([_row(930)])  # 93 % at most


def test_quick_gather_validation(tmp_path):
    out = tmp_path / "validate.nc"
    res = CliRunner().invoke(main, ["validate", "--quick", "--model", "gather", "--out", str(out)])
    assert res.exit_code == 0, res.output
    ds = open_dataset(out)
    rows = {(str(c), str(e)): float(v) for c, e, v in zip(ds.case.values, ds.estimate.values,
                                                         ds.coverage.values, strict=True)}  # fmt: skip
    assert rows[("gather-2-events", "fallbacks_mean")] >= 0.90
    assert set(ds.verdict.values) <= {"ok", "n/a"}
    assert "judged" in res.output and f"wrote {out}" in res.output
    shown = CliRunner().invoke(main, ["show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "mcstudy validate (--quick): coverage" in shown.output
    assert "gather-2-events      fallbacks_mean" in shown.output
    lines = shown.output.splitlines()
    assert sum(line.startswith("gather-") for line in lines) == ds.sizes["row"]


def test_the_table_never_cuts_a_name():
    from mcstudy.validate.results import dataset, rows_of, summary_lines

    long = "isolated_cpu_ipis_per_hour[ipi_policy=kernel_mode,collapse_policy=fresh_table]"
    rows = [_row(950), Coverage("c", long, "score", 1.0, 1000, 750, 0, 0.0, 1.0, 1.0)]
    lines = summary_lines(rows_of(dataset(rows, {})))
    assert any(long in line and line.endswith("LOW") for line in lines)
    assert lines[-1] == (
        "2 intervals, 2 judged, 1 pass (measured 95 +- 2 % to within +- 1.5 %): "
        f"outside: c/{long} (low)"
    )


@pytest.mark.slow
def test_quick_validation_of_every_model(tmp_path):
    """The CI form of the coverage self-test: every interval kind within 95 +- 2 %."""
    out = tmp_path / "validate.nc"
    res = CliRunner().invoke(main, ["validate", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    ds = open_dataset(out)
    assert set(ds.interval.values) >= {"score", "wilson", "wilson-design", "cornish-fisher"}


def test_unknown_model_is_one_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["validate", "--model", "nope", "--out", str(tmp_path / "v")])
    assert res.exit_code == 2 and "unknown model" in res.output
