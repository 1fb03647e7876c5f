"""What was simulated: the model, the kernel profiles, the parameters, the sample, the seeds."""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from mcstudy.document.blocks import Bullets, Paragraph, Section, TableBlock, cell
from mcstudy.document.context import ReportContext
from mcstudy.document.curves import dataset_params, plain
from mcstudy.document.layout import sweep_dims
from mcstudy.fmt import coord, count, num
from mcstudy.storage.meaning import DESCRIPTION_ATTR, Meaning


def model_summary(ctx: ReportContext) -> list[str]:
    """What the model is: the description the dataset stores (the first paragraphs of
    the model module's docstring when it was written)."""
    doc = str(ctx.ds.attrs.get(DESCRIPTION_ATTR, ""))
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


def _field_info(meaning: Meaning, name: str) -> tuple[str, str]:
    units = meaning.units(name)
    return ("" if units == "1" else units), meaning.long_name(name)


def resolved_params(ctx: ReportContext) -> dict[str, Any]:
    """Every model parameter at the first point, as the dataset records it (a dataset
    written before mcstudy recorded them: the parameters its config gave)."""
    meaning = Meaning(ctx.ds)
    if not meaning.recorded:
        return dataset_params(ctx.ds)
    return {name: meaning.value(name) for name in meaning.parameters()}


@dataclass
class Derived:
    """A parameter left unset that the model derives: its value at every point."""

    source: str
    values: list[Any]
    points: list[dict[str, Any]]


def derived_values(meaning: Meaning, name: str) -> Derived:
    """The values the model derived for ``name`` at the points of the dataset (one when
    it is the same everywhere)."""
    source = meaning.source(name).removeprefix("derived from ")
    if not meaning.varying(name):
        return Derived(source, [meaning.value(name)], [{}])
    da = meaning.ds[name]
    levels = [[plain(v) for v in meaning.ds[d].values] for d in da.dims]
    points = [dict(zip(da.dims, c, strict=True)) for c in itertools.product(*levels)]
    return Derived(source, [meaning.value(name, p) for p in points], points)


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
    dims = [dim for dim in dims if all(dim in p for p in d.points)]
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


def _profiles_text(meaning: Meaning, values: list[Any]) -> list[str]:
    out = []
    for v in values:
        desc = meaning.value("kernel_description", {"kernel": v})
        if desc:
            out.append(f"`{v}`: {desc}.")
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
    stored = Meaning(ds)
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
    prof = _profiles_text(stored, kernels)
    if prof:
        blocks.append(Paragraph("Kernel profiles:"))
        blocks.append(Bullets(prof))
    if dims:
        rows = []
        for d in dims:
            units, meaning = _field_info(stored, d)
            values = ", ".join(coord(v) for v in ds[d].values)
            rows.append([cell(f"`{d}`"), cell(values), cell(units), cell(meaning)])
        blocks.append(
            TableBlock(
                "Swept parameters", ["parameter", "values", "units", "meaning"], rows, key="swept"
            )
        )
    rows = []
    for name, value in resolved.items():
        if name in dims:
            continue
        units, meaning = _field_info(stored, name)
        source = stored.source(name) or "config"
        if source.startswith("derived from "):
            shown = derived_text(derived_values(stored, name), units, dims)
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
    return [Section("design", "What was simulated", blocks, order=10, lead=_plain(lead))]


def _plain(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
