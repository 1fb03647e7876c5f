"""A dataset as readable text: ``mcstudy show`` and the block ``mcstudy run`` ends with.

:func:`summarize` gives, in this order: what the dataset is, its answers
(``mcstudy.report.answers``), its findings (``mcstudy.findings``), every estimate with
its 95 % interval and sample size at every point (up to a limit per estimate), and one
provenance line. Plain text as wide as the terminal (at most 100 columns; 100 when the
output is not a terminal); never the raw xarray repr.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import bounds, cell_view, find_estimates
from mcstudy.findings import format_findings, read_findings, read_notes
from mcstudy.fmt import alike, coord, count, findings_count, num, text_width
from mcstudy.report.answering import answers_for
from mcstudy.report.answers import plain, quote, render_text

MAX_POINTS = 12
"""Points listed per estimate; the rest are counted (the report lists them all)."""


def _wrap(
    text: str, indent: str = "", width: int | None = None, more: str | None = None
) -> list[str]:
    return textwrap.wrap(
        text.replace("`", ""),
        width or text_width(),
        initial_indent=indent,
        subsequent_indent=indent if more is None else more,
    ) or [""]


def _points(ds: xr.Dataset) -> list[dict[str, Any]]:
    dims = sweep_dims(ds)
    if not dims:
        return [{}]
    grids = np.meshgrid(*(ds[d].values for d in dims), indexing="ij")
    return [
        {d: plain(g.ravel()[i]) for d, g in zip(dims, grids, strict=True)}
        for i in range(grids[0].size)
    ]


def header(ds: xr.Dataset, path: str | Path | None, width: int | None = None) -> list[str]:
    """What the dataset is: model, study, sweep and sample size."""
    model = ds.attrs.get("model", "?")
    name = ds.attrs.get("study_name", Path(path).stem if path else "?")
    dims = sweep_dims(ds)
    shape = " x ".join(
        f"{d} ({ds.sizes[d]}: {', '.join(coord(v) for v in ds[d].values)})" for d in dims
    )
    n = len(_points(ds))
    lines = _wrap(
        f"{path or 'dataset'}: mcstudy {model} study {name!r}, {n} point(s)"
        + (f" over {shape}" if dims else "")
        + (
            f", {num(ds.attrs['sequences_per_point'])} sequences per point"
            if "sequences_per_point" in ds.attrs
            else ""
        )
        + ".",
        width=width,
    )
    desc = ds.attrs.get("description") or _description(ds)
    if desc:
        lines += _wrap(str(desc), width=width)
    return lines


def _description(ds: xr.Dataset) -> str:
    try:
        prov = json.loads(str(ds.attrs.get("provenance", "{}")))
    except json.JSONDecodeError:
        return ""
    text = str(prov.get("config_text", ""))
    for line in text.splitlines():
        if line.strip().startswith("description"):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def findings_lines(ds: xr.Dataset, width: int | None = None) -> list[str]:
    """The dataset's findings (disagreements, transients, warnings), grouped as the run
    printed them (``mcstudy.findings.format_findings``), under a count of those lines."""
    found = read_findings(ds.attrs)
    notes = read_notes(ds.attrs)
    points = _points(ds)

    def where(i: int) -> str:
        at = points[i] if 0 <= i < len(points) else {}
        return ", ".join(f"{k}={coord(v)}" for k, v in at.items()) or f"point {i}"

    lines = format_findings(found, where)
    if found:
        out = _wrap(
            f"Findings: {findings_count(found, lines)}; they qualify the answers above and "
            "the estimates below.",
            width=width,
        )
    else:
        out = ["Findings: none recorded."]
    for line in lines:
        out += _wrap(f"- {line}", "", width, "    ")
    if notes:
        out += _wrap(f"Notes ({len(notes)}): information, not findings", width=width)
        for line in format_findings(notes, where):
            out += _wrap(f"- {line}", "", width, "    ")
    return out


def estimate_lines(
    ds: xr.Dataset, max_points: int = MAX_POINTS, width: int | None = None
) -> list[str]:
    """Every estimate with its interval and sample size, point by point (one per cell of
    an output dimension, named by its coordinates)."""
    ds = cell_view(ds)
    ests = find_estimates(ds)
    if not ests:
        return []
    points = _points(ds)
    dims = sweep_dims(ds)
    out = [f"Estimates ({len(ests)}, 95 % intervals; n = sample size):"]
    for e in ests:
        unit = "" if e.units in ("", "1") else e.units
        out += _wrap(f"{e.name} ({e.long_name}{', ' + unit if unit else ''}):", width=width)
        lo, hi = bounds(ds, e)
        y = np.asarray(ds[e.name].values, dtype=float).ravel()
        lo_v = np.asarray(lo.values, dtype=float).ravel()
        hi_v = np.asarray(hi.values, dtype=float).ravel()
        n = np.asarray(ds[e.n].values).ravel() if e.n is not None else None
        ex = np.asarray(ds[e.exact].values, dtype=float).ravel() if e.exact else None
        for i, at in enumerate(points[:max_points]):
            where = ", ".join(f"{d}={coord(at[d])}" for d in dims) if dims else "value"
            text = f"  {where}: {quote(y[i], lo_v[i], hi_v[i])}"
            if n is not None and int(n[i]) >= 0:
                text += f", n = {count(n[i])}"
            if ex is not None and math.isfinite(ex[i]):
                text += f" (exact {alike(ex[i], y[i], lo_v[i], hi_v[i])})"
            out += _wrap(text.strip(), "  ", width, "      ")
        if len(points) > max_points:
            out.append(
                f"  ... {len(points) - max_points} more point(s): `mcstudy report` lists all"
            )
    return out


def provenance_line(ds: xr.Dataset, width: int | None = None) -> list[str]:
    """One line: code version, commit, seed, config hash, points, timings."""
    try:
        prov = json.loads(str(ds.attrs.get("provenance", "{}")))
    except json.JSONDecodeError:
        prov = {}
    parts = []
    for key, label in (
        ("mcstudy_version", "mcstudy"),
        ("git_commit", "commit"),
        ("seed", "seed"),
        ("config_hash", "config"),
        ("wall_seconds", "wall s"),
    ):
        v = prov.get(key, ds.attrs.get(key))
        if isinstance(v, dict):
            v = v.get("version") or v.get("hash")
        if v not in (None, ""):
            text = str(v)
            if key in ("git_commit", "config_hash") and len(text) > 12:
                text = text[:12]
            if key == "wall_seconds":
                text = f"{float(v):.1f}"
            parts.append(f"{label} {text}")
    pts = prov.get("points")
    if isinstance(pts, dict):
        parts.append(", ".join(f"{v} {k}" for k, v in pts.items()) + " point(s)")
    return _wrap(
        "Provenance: " + ("; ".join(parts) if parts else "not recorded") + ".", width=width
    )


def summarize(ds: xr.Dataset, path: str | Path | None = None, width: int | None = None) -> str:
    """The readable summary of any mcstudy dataset, ``width`` columns wide (default: the
    terminal's, :func:`mcstudy.fmt.text_width`)."""
    width = width or text_width()
    if ds.attrs.get("model") == "validate":
        from mcstudy.validate.results import rows_of, summary_lines

        quick = " (--quick)" if '"quick": true' in str(ds.attrs.get("provenance", "")) else ""
        return "\n".join(
            [
                f"{path or 'dataset'}: mcstudy validate{quick}: coverage of every 95 % "
                "interval against exact values.",
                "",
                *summary_lines(rows_of(ds)),
                "",
                *provenance_line(ds, width),
            ]
        )
    out = header(ds, path, width)
    ans = answers_for(ds)
    if ans is not None and (ans.items or ans.tables or ans.notes):
        out += ["", render_text(ans, width)]
    out += ["", *findings_lines(ds, width)]
    est = estimate_lines(ds, width=width)
    if est:
        out += ["", *est]
    out += ["", *provenance_line(ds, width)]
    return "\n".join(out)


def answers_block(ds: xr.Dataset, width: int | None = None) -> str | None:
    """The Answers block ``mcstudy run`` prints at its end (None when there is none),
    ``width`` columns wide (default: the terminal's)."""
    ans = answers_for(ds)
    if ans is None or not (ans.items or ans.tables or ans.notes):
        return None
    width = width or text_width()
    rule = "-" * width
    found = read_findings(ds.attrs)
    note = []
    if found:
        count_text = findings_count(found, format_findings(found))
        note = _wrap(f"These numbers carry {count_text}: listed below.", width=width)
    return "\n".join([rule, render_text(ans, width), *note, rule])
