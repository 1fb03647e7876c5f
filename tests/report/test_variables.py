"""Estimates read from their declarations, exact comparisons and number formatting."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from mcstudy.document.variables import agreement, bounds, find_estimates, stderr
from mcstudy.fmt import digits_for, estimate, interval, num
from mcstudy.models.contract import EstimateSpec, spec_attrs
from mcstudy.stats.interval import Z95

SPECS = (
    EstimateSpec(
        "rate_mean",
        "mean",
        "normal",
        stderr="rate_stderr",
        exact="rate_mean_exact",
        exact_var="rate_var_exact",
    ),
    EstimateSpec(
        "hit", "proportion", "wilson", ci=("hit_ci_low", "hit_ci_high"), exact="hit_exact"
    ),
    EstimateSpec(
        "q99", "quantile", "wilson-inversion", ci=("q99_ci_low", "q99_ci_high"), n="q99_n"
    ),
)


def synthetic() -> xr.Dataset:
    """A dataset as ``mcstudy.storage.dataset`` writes one: declarations on the estimates."""
    x = ("x", [1.0, 2.0, 3.0, 4.0])
    ds = xr.Dataset(
        {
            "rate_mean": (["x"], [1.0, 2.0, 3.0, 4.0], {"units": "1/s", "long_name": "rate"}),
            "rate_stderr": (["x"], [0.1, 0.1, 0.1, 0.0]),
            "rate_mean_exact": (["x"], [1.0, 2.5, 3.0, 4.0]),
            "rate_var_exact": (["x"], [100.0, 100.0, 100.0, 0.0]),
            "hit": (["x"], [0.5, 0.0, 0.2, np.nan], {"units": "1"}),
            "hit_ci_low": (["x"], [0.45, 0.0, 0.15, np.nan]),
            "hit_ci_high": (["x"], [0.55, 0.01, 0.25, np.nan]),
            "hit_exact": (["x"], [0.5, 0.0, 0.1, 0.3]),
            "q99": (["x"], [5.0, 6.0, 7.0, 8.0], {"units": "B"}),
            "q99_ci_low": (["x"], [4.0, 5.0, 6.0, 7.0]),
            "q99_ci_high": (["x"], [6.0, 7.0, 8.0, 9.0]),
            "q99_n": (["x"], [10, 10, 10, 10]),
            "plain": (["x"], [1.0, 1.0, 1.0, 1.0]),
            "sequences": (["x"], [10_000, 10_000, 10_000, 10_000]),
        },
        coords={"x": x},
    )
    for spec in SPECS:
        ds[spec.name].attrs.update(spec_attrs(spec))
    return ds


def test_estimates_are_found_by_their_declarations() -> None:
    ds = synthetic()
    found = {e.name: e for e in find_estimates(ds, main="hit")}
    assert list(found) == ["hit", "rate_mean", "q99"]  # main first; "plain" is no estimate
    rate = found["rate_mean"]
    assert (rate.kind, rate.stderr, rate.exact, rate.exact_var, rate.n) == (
        "mean",
        "rate_stderr",
        "rate_mean_exact",
        "rate_var_exact",
        "sequences",
    )
    hit = found["hit"]
    assert (hit.kind, hit.ci, hit.exact, hit.n) == (
        "proportion",
        ("hit_ci_low", "hit_ci_high"),
        "hit_exact",
        "sequences",
    )
    q = found["q99"]
    assert (q.kind, q.n, q.exact) == ("quantile", "q99_n", None)
    lo, hi = bounds(ds, rate)
    assert float(hi[0] - lo[0]) == pytest.approx(2 * Z95 * 0.1)
    assert float(stderr(ds, q)[0]) == pytest.approx(2.0 / (2 * Z95))


def test_a_dataset_without_declarations_has_no_estimates() -> None:
    """Names alone never make an estimate: ``rate_mean`` + ``rate_stderr`` is not one."""
    ds = synthetic()
    for name in ds.data_vars:
        ds[name].attrs = {k: v for k, v in ds[name].attrs.items() if k == "units"}
    assert find_estimates(ds) == []


def test_agreement_statuses_and_z() -> None:
    ds = synthetic()
    ests = {e.name: e for e in find_estimates(ds)}
    rate = agreement(ds, ests["rate_mean"])
    # exact variance 100 per sequence, n = 10,000: standard error 0.1
    assert rate.exact_se
    assert rate.z[1] == pytest.approx((2.0 - 2.5) / 0.1)
    assert list(rate.status) == ["tested", "tested", "tested", "equal"]
    assert list(rate.flagged) == [1]
    hit = agreement(ds, ests["hit"])
    assert list(hit.status) == ["tested", "equal", "tested", "missing"]
    assert hit.z[2] == pytest.approx((0.2 - 0.1) / np.sqrt(0.1 * 0.9 / 10_000))
    assert list(hit.flagged) == [2]
    assert hit.tested == 2 and hit.covered == 1
    assert agreement(ds, ests["q99"]) is None


def test_zero_variance_difference_is_a_certain_disagreement() -> None:
    ds = synthetic()
    ds["hit"].values[1] = 0.001  # exact probability 0, yet an event was seen
    hit = agreement(ds, find_estimates(ds, "hit")[0])
    assert hit.status[1] == "differs" and 1 in hit.flagged


def test_beyond_4_of_the_runs_own_standard_errors_is_a_disagreement_too() -> None:
    ds = synthetic().drop_vars("rate_var_exact")
    rate = agreement(ds, find_estimates(ds, "rate_mean")[0])
    assert not rate.exact_se
    assert list(rate.flagged) == [1]  # (2 - 2.5) / 0.1 = -5 run standard errors


def test_number_formatting() -> None:
    assert num(0.0) == "0"
    assert num(float("nan")) == "missing"
    assert num(1234567) == "1,234,567"
    assert num(0.012345678) == "0.01235"
    assert num(1.5e-7) == "1.5e-7"
    assert num(2.0e6) == "2,000,000"
    assert digits_for(0.99994, 0.99997) == 7
    assert digits_for(0.1, 0.2) == 3
    assert interval(0.99994, 0.99997) == "[0.99994, 0.99997]"
    # one formatter: the same decimals for an estimate and its interval, as many as tell
    # the ends apart; no "e+03" below a million; one format inside an interval
    assert estimate(0.999959, 0.99994, 0.99997) == ("0.99996", "[0.99994, 0.99997]")
    assert estimate(1.6, 1.599, 1.601) == ("1.600", "[1.599, 1.601]")
    assert estimate(1_171_234.0, 1_170_900.0, 1_171_500.0) == (
        "1,171,200",
        "[1,170,900, 1,171,500]",
    )
    assert estimate(2.3e9, 2.2e9, 2.4e9) == ("2.3e9", "[2.2e9, 2.4e9]")
    assert num(6028.18, 3) == "6,028" and num(3570.4) == "3,570" and num(52850.3) == "52,850"
    assert num(32512.3, 3) == "32,512"


def test_an_exact_value_is_written_like_its_estimate() -> None:
    from mcstudy.fmt import alike

    # beside "0.00048 [0.00007, 0.00309]": 0.0003098, not 3.098e-4
    assert alike(3.0981e-4, 4.8e-4, 7e-5, 3.09e-3) == "0.0003098"
    assert alike(3570.42, 3600.0, 3500.0, 3700.0) == "3,570"
    assert alike(2880.0, 2826.0, 2487.0, 3213.0) == "2,880"
    assert alike(5.4e-5, 0.0, 0.0, 0.49) == "0.000054"
    assert alike(1e-300, 0.0, 0.0, 0.49) == "1e-300"
