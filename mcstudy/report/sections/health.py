"""Run health: failed, pending or missing points, short samples, timings."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.document.blocks import Block, Bullets, Paragraph, Section, TableBlock, cell
from mcstudy.document.context import ReportContext
from mcstudy.document.convergence import point_coords
from mcstudy.document.layout import sweep_dims
from mcstudy.document.variables import SAMPLE_SIZE_VAR, STATUS_VAR
from mcstudy.fmt import coord, count, seconds
from mcstudy.storage.running import CHECKPOINT_DIM

DONE = frozenset({"done", "ok", "complete", "completed", "success", "succeeded"})
MAX_LISTED = 25


def point_status(ds: xr.Dataset) -> np.ndarray | None:
    """Status word of every point (flattened), from ``point_status`` when present.

    Strings are used as they are; integers are decoded with the CF attributes
    ``flag_values`` / ``flag_meanings`` when present.
    """
    if STATUS_VAR not in ds.variables:
        return None
    da = ds[STATUS_VAR]
    vals = np.asarray(da.values).ravel()
    if vals.dtype.kind in "USO":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in vals])
    meanings = str(da.attrs.get("flag_meanings", "")).split()
    flags = np.atleast_1d(np.asarray(da.attrs.get("flag_values", []))).tolist()
    table = dict(zip(flags, meanings, strict=False))
    return np.array([table.get(v.item(), f"status {v.item()}") for v in vals])


def _where(ds: xr.Dataset, flat: int) -> str:
    c = point_coords(ds, flat)
    return ", ".join(f"{k} = {coord(v)}" for k, v in c.items()) or "the single point"


def health(ctx: ReportContext) -> list[Section]:
    ds = ctx.ds
    prov = ctx.provenance
    problems: list[str] = []
    blocks: list[Block] = []
    n_points = int(np.prod([ds.sizes[d] for d in sweep_dims(ds)]))
    status = point_status(ds)
    if status is not None:
        counts = Counter(status.tolist())
        rows = [[cell(k), cell(count(v))] for k, v in sorted(counts.items())]
        blocks.append(TableBlock("Points by status (`point_status`)", ["status", "points"], rows))
        bad = [i for i, s in enumerate(status) if s.lower() not in DONE]
        if bad:
            problems.append(
                f"{len(bad)} of {n_points} point(s) are not done ("
                + ", ".join(f"{v} {k}" for k, v in counts.items() if k.lower() not in DONE)
                + "); their estimates are missing or partial."
            )
            blocks.append(Paragraph("Points not done:"))
            blocks.append(
                Bullets(
                    [f"{_where(ds, i)}: {status[i]}" for i in bad[:MAX_LISTED]]
                    + ([f"... and {len(bad) - MAX_LISTED} more."] if len(bad) > MAX_LISTED else [])
                )
            )
    rows = []
    missing_points: set[int] = set()
    for est in ctx.estimates:
        y = np.asarray(ds[est.name].values, dtype=float).ravel()
        nan = np.flatnonzero(~np.isfinite(y))
        missing_points.update(nan.tolist())
        rows.append([cell(f"`{est.name}`"), cell(count(y.size - nan.size)), cell(count(nan.size))])
    for name, da in ds.data_vars.items():
        if name == STATUS_VAR or not np.issubdtype(da.dtype, np.integer):
            continue
        if CHECKPOINT_DIM in da.dims:  # -1 past a point's last checkpoint is not missing
            continue
        neg = int(np.sum(np.asarray(da.values) < 0))
        if neg:
            rows.append([cell(f"`{name}`"), cell(count(da.size - neg)), cell(count(neg))])
    if rows:
        blocks.append(
            TableBlock(
                "Computed and missing values (NaN, or -1 for integer variables)",
                ["variable", "computed", "missing"],
                rows,
                key="missing",
            )
        )
    if missing_points:
        problems.append(
            f"{len(missing_points)} point(s) have missing estimates: "
            + "; ".join(_where(ds, i) for i in sorted(missing_points)[:5])
            + (" ..." if len(missing_points) > 5 else "")
        )
    per_point = int(ds.attrs.get("sequences_per_point", 0))
    if SAMPLE_SIZE_VAR in ds.data_vars and per_point:
        n = np.asarray(ds[SAMPLE_SIZE_VAR].values).ravel()
        short = np.flatnonzero((n >= 0) & (n < per_point))
        if short.size:
            problems.append(
                f"{short.size} point(s) have fewer than the {count(per_point)} sequences "
                f"asked for (smallest {count(n[short].min())}): stopped early or partial."
            )
    if "target_met" in ds.data_vars:
        met = np.asarray(ds["target_met"].values).ravel()
        missed = np.flatnonzero(met == 0)
        target = prov.get("target_rel_err")
        if missed.size:
            problems.append(
                f"{missed.size} point(s) stopped at max_sequences = "
                f"{prov.get('max_sequences')} before the target relative error {target}: "
                + "; ".join(_where(ds, int(i)) for i in missed[:5])
                + (" ..." if missed.size > 5 else "")
            )
        else:
            blocks.append(
                Paragraph(f"Adaptive precision: every point reached its target ({target}).")
            )
    blocks.append(Bullets(timing_facts(prov, n_points, per_point)))
    if problems:
        for p in reversed(problems):
            ctx.health.insert(0, p)
        blocks.insert(0, Bullets(problems))
        lead = f"{len(problems)} problem(s) found."
    else:
        msg = f"All {count(n_points)} point(s) computed, no missing values."
        ctx.trust.insert(0, msg)
        blocks.insert(0, Paragraph(msg))
        lead = msg
    return [Section("health", "Run health", blocks, order=70, lead=lead)]


def timing_facts(prov: dict[str, Any], n_points: int, per_point: int) -> list[str]:
    out = []
    if "wall_seconds" in prov:
        wall = float(prov["wall_seconds"])
        run = float(prov.get("run_seconds", wall))
        rate = n_points * per_point / run if run > 0 else float("nan")
        out.append(
            f"Wall time {seconds(wall)} (compile {seconds(prov.get('compile_seconds'))}, "
            f"simulation {seconds(run)}: {rate:.3g} sequences per second over all points) "
            f"on {prov.get('numba_threads', '?')} thread(s), threading layer "
            f"{prov.get('numba_threading_layer', '?')}, executor {prov.get('executor', '?')}."
        )
    if prov.get("numba_disable_jit"):
        out.append("Run with NUMBA_DISABLE_JIT=1 (pure Python kernels).")
    return out or ["No timing recorded."]
