"""The coverage table: verdicts, text for the terminal, and the dataset on disk."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import xarray as xr

from mcstudy.storage.dataset import FORMAT_NAME, FORMAT_VERSION, write_dataset
from mcstudy.validate.coverage import Coverage

TOLERANCE = 0.02
"""An interval passes when its measured coverage lies within 95 % +- 2 %."""
PRECISION = 0.015
"""... measured from enough replications that its Wilson interval is within +- 1.5 %."""
NOMINAL = 0.95


def verdict(row: Coverage) -> str:
    """``ok``, ``low``, ``high`` or ``imprecise``; ``n/a`` for an estimate without spread
    (every replication alike) or one marked discrete by its case.

    The full run's rule: the measured coverage (the point estimate) lies within
    95 +- 2 % and its Wilson interval within +- 1.5 % (else ``imprecise``: too few
    replications to judge). ``--quick`` (a few hundred replications, for CI) only asks
    that the Wilson interval meets 95 +- 2 %."""
    if row.discrete or not (row.spread_ratio > 0.0):
        return "n/a"
    if row.quick:
        lo, hi = row.coverage_ci
        if hi < NOMINAL - TOLERANCE:
            return "low"
        if lo > NOMINAL + TOLERANCE:
            return "high"
        return "ok"
    if row.coverage < NOMINAL - TOLERANCE - 1e-12:
        return "low"
    if row.coverage > NOMINAL + TOLERANCE + 1e-12:
        return "high"
    if row.half_width > PRECISION:
        return "imprecise"
    return "ok"


def replications_needed(rows: list[Coverage]) -> int:
    """Replications that bring every judged row's Wilson interval within
    ``PRECISION`` at its measured coverage (at least 93 %: a row outside the tolerance
    needs no more to fail); 0 when no row is judged."""
    from mcstudy.stats.interval import Z95
    from mcstudy.stats.proportion import wilson

    need = 0
    for r in rows:
        if r.discrete or not (r.spread_ratio > 0.0):
            continue
        c = min(max(r.coverage, NOMINAL - TOLERANCE), 1.0 - 1e-3)
        n = math.ceil(Z95 * Z95 * c * (1.0 - c) / PRECISION**2)  # Wald's, then Wilson's
        while (w := wilson(round(c * n), n)).ci_high - w.ci_low > 2.0 * PRECISION:
            n += max(1, n // 100)
        need = max(need, n)
    return need


def table(rows: list[Coverage]) -> list[str]:
    """The coverage table as text lines (100 columns, wider when an estimate's name is
    longer than 30 characters: names are never cut)."""
    w = max([30, *(len(r.estimate) for r in rows)])
    head = (
        f"{'case':<20} {'estimate':<{w}} {'interval':<15} {'n':>5} {'coverage [95 %]':>20} "
        f"{'z':>6} {'spread':>6}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        lo, hi = r.coverage_ci
        cov = f"{100 * r.coverage:5.1f} [{100 * lo:4.1f}, {100 * hi:4.1f}]"
        v = verdict(r)
        mark = {"ok": "", "n/a": "  (not judged)"}.get(v, f"  {v.upper()}")
        out.append(
            f"{r.case:<20.20} {r.estimate:<{w}} {r.interval:<15.15} {r.replications:>5} "
            f"{cov:>20} {r.mean_z:>+6.2f} {r.spread_ratio:>6.2f}{mark}"
        )
    return out


def dataset(rows: list[Coverage], provenance: dict) -> xr.Dataset:
    """The table as an xarray dataset (one row per case and estimate)."""
    lows, highs = zip(*(r.coverage_ci for r in rows), strict=True) if rows else ((), ())

    def col(values: list, attrs: dict) -> tuple:
        return ("row", np.asarray(values), attrs)

    ds = xr.Dataset(
        {
            "case": col([r.case for r in rows], {"long_name": "validation case"}),
            "estimate": col([r.estimate for r in rows], {"long_name": "estimate"}),
            "interval": col([r.interval for r in rows], {"long_name": "interval method"}),
            "exact": col([r.exact for r in rows], {"long_name": "exact value"}),
            "replications": col([r.replications for r in rows], {"units": "runs"}),
            "covered": col([r.covered for r in rows], {"units": "runs"}),
            "coverage": col([r.coverage for r in rows], {"units": "1"}),
            "coverage_ci_low": col(list(lows), {"units": "1", "long_name": "Wilson 95 %"}),
            "coverage_ci_high": col(list(highs), {"units": "1", "long_name": "Wilson 95 %"}),
            "open_ended": col([r.open_ended for r in rows], {"units": "runs"}),
            "mean_z": col([r.mean_z for r in rows], {"units": "1"}),
            "spread_ratio": col(
                [r.spread_ratio for r in rows],
                {"units": "1", "long_name": "observed spread / mean reported standard error"},
            ),
            "verdict": col(
                [verdict(r) for r in rows], {"long_name": "ok, low, high, imprecise or n/a"}
            ),
        },
        coords={"row": np.arange(len(rows))},
    )
    ds.attrs.update(
        {
            "mcstudy_format": FORMAT_NAME,
            "mcstudy_format_version": FORMAT_VERSION,
            "model": "validate",
            "title": "mcstudy validate: coverage of every interval",
            "study_name": "validate",
            "sweep_dims": "[]",
            "params": "{}",
            "tolerance": TOLERANCE,
            "precision": PRECISION,
            "rule": "quick" if any(r.quick for r in rows) else "full",
            "provenance": json.dumps(provenance, sort_keys=True, default=str),
        }
    )
    return ds


def rows_of(ds: xr.Dataset) -> list[Coverage]:
    """The rows of a coverage dataset written by :func:`dataset` (for ``mcstudy show``)."""
    rule = ds.attrs.get("rule")
    quick = rule == "quick" if rule else '"quick": true' in str(ds.attrs.get("provenance", ""))
    out = []
    for i in range(ds.sizes.get("row", 0)):
        r = {name: ds[name].values[i].item() for name in ds.data_vars}
        out.append(
            Coverage(
                case=str(r["case"]),
                estimate=str(r["estimate"]),
                interval=str(r["interval"]),
                exact=float(r["exact"]),
                replications=int(r["replications"]),
                covered=int(r["covered"]),
                open_ended=int(r["open_ended"]),
                mean_z=float(r["mean_z"]),
                spread_ratio=float(r["spread_ratio"]),
                mean_estimate=math.nan,
                discrete=str(r["verdict"]) == "n/a",
                quick=quick,
            )
        )
    return out


def summary_lines(rows: list[Coverage]) -> list[str]:
    """The table and its one-line verdict."""
    bad = failures(rows)
    judged = sum(1 for r in rows if verdict(r) != "n/a")
    quick = any(r.quick for r in rows)
    rule = (
        "its Wilson interval meets 95 +- 2 % (--quick)"
        if quick
        else f"measured {100 * NOMINAL:.0f} +- {100 * TOLERANCE:.0f} % to within +- "
        f"{100 * PRECISION:.1f} %"
    )
    verdict_line = f"{len(rows)} intervals, {judged} judged, {judged - len(bad)} pass ({rule})" + (
        ""
        if not bad
        else ": outside: " + ", ".join(f"{r.case}/{r.estimate} ({verdict(r)})" for r in bad)
    )
    return [*table(rows), verdict_line]


def write(rows: list[Coverage], path: Path, provenance: dict) -> Path:
    """Write the table atomically to ``path`` (netCDF)."""
    return write_dataset(dataset(rows, provenance), path)


def failures(rows: list[Coverage]) -> list[Coverage]:
    """Rows that fail their rule (:func:`verdict`)."""
    return [
        r for r in rows if verdict(r) in ("low", "high", "imprecise") and not math.isnan(r.coverage)
    ]
