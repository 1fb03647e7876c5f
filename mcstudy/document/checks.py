"""The measured-vs-predicted rows of a probe or lab dataset, as text and as a report section.

``mcstudy probe`` (a live kernel) and ``mcstudy lab`` (a kernel booted in QEMU) both
store their result as ``check`` rows (``mcstudy.probe.dataset.check_variables``): a
phase, a quantity, its scope, the measured value, the model's prediction and the
half-width of the noise interval. This module turns those rows into the fixed-width
table both commands print, the report table, the per-scope verdict lines and the report
section; each package supplies only its own summary, verdict wording and method.
Everything is read back from the dataset, so the command and a report built from the
stored file show the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import xarray as xr

from mcstudy.document.blocks import Bullets, Code, Paragraph, Section, TableBlock, cell
from mcstudy.document.context import ReportContext

HEADER = ("phase", "quantity", "scope", "unit", "measured", "predicted", "noise ±", "agrees")


def fmt_number(x: float, unit: str) -> str:
    """A value in a row's unit: 3 decimals for per-unit rates, 1 for counts."""
    if math.isnan(x):
        return "nan"
    if "/" in unit:
        return f"{x:.3f}"
    r = round(x, 1)
    return f"{int(r)}" if r.is_integer() else f"{r:.1f}"


def check_rows(ds: xr.Dataset) -> list[list[str]]:
    """One list of strings per row, in :data:`HEADER` order."""
    rows = []
    nm = ds.not_measurable.values if "not_measurable" in ds else None  # lab rows
    for i in range(ds.sizes["check"]):
        unit = str(ds.unit.values[i])
        if nm is not None and str(nm[i]):
            rows.append(
                [
                    str(ds.check_phase.values[i]),
                    str(ds.label.values[i]),
                    str(ds.scope.values[i]),
                    unit,
                    "not measurable",
                    fmt_number(float(ds.predicted.values[i]), unit),
                    "",
                    "n/a",
                ]
            )
            continue
        rows.append(
            [
                str(ds.check_phase.values[i]),
                str(ds.label.values[i]),
                str(ds.scope.values[i]),
                unit,
                fmt_number(float(ds.measured.values[i]), unit),
                fmt_number(float(ds.predicted.values[i]), unit),
                fmt_number(float(ds.noise_halfwidth.values[i]), unit),
                "yes" if bool(ds.agrees.values[i]) else "NO",
            ]
        )
    return rows


def scope_agreement(
    ds: xr.Dataset, order: tuple[str, ...]
) -> list[tuple[str, list[int], list[int]]]:
    """Per scope of ``order`` that has rows: (scope, its check rows, those that disagree)."""
    scopes = [str(x) for x in ds.scope.values]
    nm = [str(x) for x in ds.not_measurable.values] if "not_measurable" in ds else None
    out = []
    for scope in order:
        idx = [
            i
            for i in range(ds.sizes["check"])
            if scopes[i] == scope and not (nm and nm[i])  # lab rows this kernel cannot measure
        ]
        if idx:
            out.append((scope, idx, [i for i in idx if not bool(ds.agrees.values[i])]))
    return out


def scope_lines(
    ds: xr.Dataset,
    order: tuple[str, ...],
    marker: str,
    name: str,
    note: Callable[[str, list[int]], str] | None = None,
) -> list[str]:
    """One line per scope of ``order``: how many of its rows agree, then ``marker`` and
    the phase and ``name`` (a check variable) of each row that does not, then ``note(scope,
    rows)`` if given."""
    lines = []
    for scope, idx, bad in scope_agreement(ds, order):
        line = f"{scope}: {len(idx) - len(bad)} of {len(idx)} rows agree"
        if bad:
            line += f"; {marker}: " + "; ".join(
                f"{ds.check_phase.values[i]} {ds[name].values[i]}" for i in bad
            )
            if note is not None:
                line += note(scope, idx)
        lines.append(line)
    return lines


def render_table(ds: xr.Dataset, summary: list[str], verdict: list[str]) -> str:
    """The summary, the fixed-width table and the verdict, as ``mcstudy probe`` and
    ``mcstudy lab`` print them."""
    rows = check_rows(ds)
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(HEADER)]
    right = {4, 5, 6}

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(widths[j]) if j in right else c.ljust(widths[j]) for j, c in enumerate(cells)
        ).rstrip()

    out = [*summary, "", line(HEADER), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    out += ["", *verdict]
    return "\n".join(out)


def checks_table(ds: xr.Dataset, caption: str, key: str) -> TableBlock:
    """The rows as a report table, rows beyond the noise flagged."""
    rows = []
    for r in check_rows(ds):
        cells = [cell(x) for x in r]
        if r[-1] != "yes":
            cells[-1] = cell(r[-1], flag="beyond noise")
        rows.append(cells)
    return TableBlock(caption=caption, header=list(HEADER), rows=rows, key=key)


@dataclass(frozen=True)
class ChecksSection:
    """What the probe's or the lab's report section says besides its rows: its id, title,
    order, table caption and key, method, and the caption of the command that measures
    again."""

    section_id: str
    title: str
    order: int
    caption: str
    key: str
    method: str
    command_caption: str


def checks_section(
    ds: xr.Dataset,
    kind: ChecksSection,
    lead: str,
    summary: list[str],
    verdict: list[str],
    command: str,
) -> Section:
    """The report section of a probe or lab dataset: summary, table, verdict, method and
    the command that measures again."""
    return Section(
        id=kind.section_id,
        title=kind.title,
        order=kind.order,
        lead=lead,
        blocks=[
            Bullets(summary),
            checks_table(ds, kind.caption, kind.key),
            Bullets(verdict),
            Paragraph(kind.method),
            Code(command, caption=kind.command_caption),
        ],
    )


def record_verdict(ctx: ReportContext, problem: str, evidence: str) -> None:
    """Mark every variable of the dataset covered and put the verdict in the summary box:
    ``problem`` when rows disagree, else ``evidence`` (``{bad}``: rows beyond noise,
    ``{n}``: rows)."""
    ds = ctx.ds
    ctx.covered.update(str(v) for v in ds.data_vars)
    bad = int(ds.attrs["disagreements"])
    if bad:
        ctx.health.append(problem.format(bad=bad, n=ds.sizes["check"]))
    else:
        ctx.trust.append(evidence.format(bad=bad, n=ds.sizes["check"]))
