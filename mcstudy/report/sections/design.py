"""What was simulated: the model, the kernel profiles, the parameters, the sample, the seeds."""

from __future__ import annotations

import inspect
import itertools
import math
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from mcstudy.report.context import ReportContext
from mcstudy.report.curves import dataset_params, plain
from mcstudy.report.document import Bullets, Paragraph, Section, TableBlock, cell
from mcstudy.report.fmt import coord, count, num
from mcstudy.report.layout import sweep_dims


def model_summary(ctx: ReportContext) -> list[str]:
    """The first paragraphs of the model module's docstring, as plain text."""
    if ctx.model is None:
        return []
    doc = inspect.getdoc(inspect.getmodule(type(ctx.model))) or ""
    paras = [" ".join(p.split()) for p in doc.split("\n\n") if p.strip()]
    return [p.replace("``", "`") for p in paras[:2]]


def study_description(ctx: ReportContext) -> str:
    """``[study] description`` from the stored config text (empty when absent)."""
    text = ctx.provenance.get("config_text")
    if not text:
        return ""
    try:
        return str(tomllib.loads(text).get("study", {}).get("description", ""))
    except tomllib.TOMLDecodeError:
        return ""


def _field_info(ctx: ReportContext, name: str) -> tuple[str, str]:
    if ctx.model is None:
        return "", ""
    f = ctx.model.Params.model_fields.get(name)
    if f is None:
        return "", ""
    extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
    units = str(extra.get("units", ""))
    return ("" if units == "1" else units), (f.description or "")


def resolved_params(ctx: ReportContext) -> dict[str, Any]:
    """All model parameters at the first point (defaults filled in by the schema)."""
    given = dataset_params(ctx.ds)
    if ctx.model is None:
        return given
    dims = sweep_dims(ctx.ds)
    first = {d: plain(ctx.ds[d].values[0]) for d in dims}
    try:
        return ctx.model.Params.model_validate({**given, **first}).model_dump()
    except Exception:  # a dataset from another version of the model
        return given


MAX_RESOLVED_POINTS = 2000
"""Derived values are resolved at every point of sweeps up to this size (else at the
first point only, and said so)."""


@dataclass
class Derived:
    """A parameter left unset that the model derives: its value at every point."""

    source: str
    values: list[Any]
    points: list[dict[str, Any]]


def derived_params(ctx: ReportContext) -> tuple[dict[str, Derived], bool]:
    """The model's own resolution (``ModelParams.resolved``) of the unset parameters at
    every point; and whether every point was resolved."""
    if ctx.model is None:
        return {}, True
    ds = ctx.ds
    given = dataset_params(ds)
    dims = sweep_dims(ds)
    levels = [[plain(v) for v in ds[d].values] for d in dims]
    combos = list(itertools.islice(itertools.product(*levels), MAX_RESOLVED_POINTS))
    n_points = math.prod(len(lv) for lv in levels)
    out: dict[str, Derived] = {}
    for combo in combos:
        at = dict(zip(dims, combo, strict=True))
        try:
            params = ctx.model.Params.model_validate({**given, **at})
        except Exception:  # a dataset from another version of the model
            return {}, True
        for name, (value, source) in params.resolved().items():
            d = out.setdefault(name, Derived(source, [], []))
            d.values.append(value)
            d.points.append(at)
    return out, len(combos) == n_points


def _value_text(value: Any, units: str) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return coord(value)
    text = num(value)
    if units == "pages" and value > 0:
        text += f" ({gib(value * PAGE_BYTES)})"
    return text


def gib(n_bytes: float) -> str:
    """A memory size in MiB or GiB, 3 to 4 significant digits."""
    if n_bytes >= 1 << 30:
        return f"{num(n_bytes / (1 << 30))} GiB"
    return f"{num(n_bytes / (1 << 20))} MiB"


PAGE_BYTES = 4096


def derived_text(d: Derived, units: str, dims: list[str]) -> str:
    """One value, or the value per level of the one swept parameter it depends on, or
    its range and the swept parameters it varies with."""
    texts = [_value_text(v, units) for v in d.values]
    if len(set(texts)) == 1:
        return texts[0]
    for dim in dims:
        by: dict[str, str] = {}
        if all(by.setdefault(coord(p[dim]), t) == t for p, t in zip(d.points, texts, strict=True)):
            return "; ".join(f"{k}: {v}" for k, v in by.items()) + f" (by {dim})"
    numbers = [v for v in d.values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    varying = [
        dim for dim in dims if len({coord(p[dim]) for p in d.points}) > 1
    ]  # fmt: skip
    if numbers:
        return (
            f"{_value_text(min(numbers), units)} to {_value_text(max(numbers), units)} "
            f"(varies with {', '.join(varying)})"
        )
    return f"varies with {', '.join(varying)}"


def _profiles_text(values: list[Any]) -> list[str]:
    try:
        from mcstudy.kernel.profiles import PROFILES
    except ImportError:  # pragma: no cover
        return []
    out = []
    for v in values:
        p = PROFILES.get(str(v))
        if p is not None:
            out.append(f"`{p.name}`: {p.description}.")
    return out


def design(ctx: ReportContext) -> list[Section]:
    ds = ctx.ds
    dims = sweep_dims(ds)
    blocks: list[Any] = []
    desc = study_description(ctx)
    model = ds.attrs.get("model", "?")
    n_points = 1
    for d in dims:
        n_points *= ds.sizes[d]
    per_point = int(ds.attrs.get("sequences_per_point", 0))
    lead = f"Model `{model}`, {count(n_points)} sweep point(s) x {count(per_point)} sequences" + (
        f": {desc}" if desc else ""
    )
    if desc:
        blocks.append(Paragraph(f"Study: {desc}."))
    for p in model_summary(ctx):
        blocks.append(Paragraph(p))
    given = dataset_params(ds)
    resolved = resolved_params(ctx)
    facts = [
        f"Study `{ds.attrs.get('study_name', '?')}`: {count(n_points)} point(s), "
        f"{count(per_point)} Monte Carlo sequences per point, "
        f"{count(n_points * per_point)} in all"
        + (
            f", simulated in blocks of {count(ctx.provenance['block_size'])}"
            if "block_size" in ctx.provenance
            else ""
        )
        + ".",
        f"Seed {ds.attrs.get('seed', '?')}: the random numbers of point i come from "
        "Philox4x32-10 keyed by (seed, i), with the block and a named sub-stream in the "
        "counter, so each point is reproducible on its own and independent of the thread "
        "count.",
    ]
    if dims:
        facts.append(
            "Swept (one dataset dimension each, points in C order, last fastest): "
            + "; ".join(f"`{d}` ({ds.sizes[d]} values)" for d in dims)
            + "."
        )
    kernels = list(ds["kernel"].values) if "kernel" in dims else []
    if not kernels and "kernel" in resolved:
        kernels = [resolved["kernel"]]
    blocks.append(Bullets(facts))
    prof = _profiles_text(kernels)
    if prof:
        blocks.append(Paragraph("Kernel profiles:"))
        blocks.append(Bullets(prof))
    if dims:
        rows = []
        for d in dims:
            units, meaning = _field_info(ctx, d)
            values = ", ".join(coord(v) for v in ds[d].values)
            rows.append([cell(f"`{d}`"), cell(values), cell(units), cell(meaning)])
        blocks.append(
            TableBlock(
                "Swept parameters", ["parameter", "values", "units", "meaning"], rows, key="swept"
            )
        )
    rows = []
    derived, every_point = derived_params(ctx)
    for name, value in resolved.items():
        if name in dims:
            continue
        units, meaning = _field_info(ctx, name)
        source = "config" if name in given else "default"
        if value is None and name in derived:
            shown = derived_text(derived[name], units, dims)
            source = f"derived from {derived[name].source}"
        else:
            shown = "not set" if value is None else coord(value)
        rows.append([cell(f"`{name}`"), cell(shown), cell(units), cell(source), cell(meaning)])
    if rows:
        blocks.append(
            TableBlock(
                "Fixed parameters (a derived value is the model's own resolution at each "
                "point; 'not set': the model does not use it in this study)",
                ["parameter", "value", "units", "from", "meaning"],
                rows,
                key="fixed",
            )
        )
        if derived and not every_point:
            blocks.append(
                Paragraph(
                    f"Derived values are shown for the first {count(MAX_RESOLVED_POINTS)} "
                    "points of the sweep."
                )
            )
    return [Section("design", "What was simulated", blocks, order=10, lead=_plain(lead))]


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
