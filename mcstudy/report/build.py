"""Write the report of a dataset: one self-contained HTML (or PDF) file.

:func:`write_report` opens a dataset written by ``mcstudy run``, builds the sections
listed for its kind (``mcstudy.report.catalog``: a model's headline answers, then the
generic design, estimates, exact checks, convergence, sensitivity, run health and
provenance sections), renders figures with matplotlib ``Figure`` objects and writes one
file atomically. Figures can also be saved as PNG and SVG files.
"""

from __future__ import annotations

from pathlib import Path

from mcstudy.document.blocks import Report
from mcstudy.document.context import ReportContext
from mcstudy.document.convergence import point_coords
from mcstudy.document.curves import ExactCurves
from mcstudy.document.variables import cell_view, find_estimates
from mcstudy.errors import OutputError
from mcstudy.findings import FINDINGS_ATTR, Finding, format_findings, read_findings, read_notes
from mcstudy.fmt import coord, findings_count
from mcstudy.models.registry import get_model, is_model
from mcstudy.report.catalog import builders_for
from mcstudy.report.figures import png_bytes, svg_bytes
from mcstudy.report.files import write_atomic
from mcstudy.report.meta import provenance
from mcstudy.stats.agreement import FAMILY_ALPHA
from mcstudy.storage.dataset import open_dataset
from mcstudy.storage.meaning import MAIN_ESTIMATE_ATTR

FORMATS = ("html", "pdf")


def write_report(
    dataset_path: str | Path,
    out: str | Path | None = None,
    figures_dir: str | Path | None = None,
    fmt: str = "html",
    convergence_seconds: float = 6.0,
    exact_curve_seconds: float = 4.0,
) -> Path:
    """Write the report of the dataset at ``dataset_path``; returns the report's path.

    ``out`` defaults to the dataset's path with ``.html`` (or ``.pdf``). ``figures_dir``
    also receives every figure as PNG and SVG. ``convergence_seconds`` = 0 leaves the
    convergence traces out (they are read from the dataset; nothing is re-run);
    ``exact_curve_seconds`` the time spent evaluating exact curves between sweep points.
    Raises ``OutputError`` (an ``McStudyError``) for a missing, foreign or damaged
    dataset or an unusable output path; an existing report is replaced only when the
    new one is complete.
    """
    if fmt not in FORMATS:
        raise OutputError(f"report format {fmt!r}: expected one of {', '.join(FORMATS)}")
    dataset_path = Path(dataset_path)
    out = Path(out) if out is not None else dataset_path.with_suffix(f".{fmt}")
    if out.exists() and out.is_dir():
        raise OutputError(f"{out}: report path is a directory")
    if dataset_path.exists() and out.resolve() == dataset_path.resolve():
        raise OutputError(f"{out}: the report would overwrite its own dataset")
    if figures_dir is not None:
        figures_dir = Path(figures_dir)
        if figures_dir.exists() and not figures_dir.is_dir():
            raise OutputError(f"{figures_dir}: figures path exists and is not a directory")
    stored = open_dataset(dataset_path)
    ds = cell_view(stored)  # generic sections: one estimate per cell of an output dimension
    model_name = str(ds.attrs.get("model", ""))
    # the model is needed only to draw exact curves between sweep points (and for the
    # estimates of a dataset written before they were stored with it): the report reads
    # everything else from the dataset
    model = get_model(model_name) if is_model(model_name) else None
    main = ds.attrs.get(MAIN_ESTIMATE_ATTR)
    ctx = ReportContext(
        ds=ds,
        stored=stored,
        path=dataset_path,
        model=model,
        estimates=find_estimates(ds, None if main is None else str(main), model),
        provenance=provenance(ds),
        options={"convergence": convergence_seconds != 0, "out_path": out},
    )
    if model is not None:
        ctx.curves = ExactCurves(model, ds, exact_curve_seconds)
    sections = []
    for build in builders_for(ctx.kind):
        sections.extend(build(ctx))
    sections.sort(key=lambda s: s.order)
    _unique_figure_keys(sections)
    _lead_with_findings(ctx)
    name = ds.attrs.get("study_name", dataset_path.stem)
    report = Report(
        title=f"mcstudy report: {name}",
        subtitle=f"Model `{model_name or '?'}`, dataset `{dataset_path.name}`",
        trust=ctx.trust,
        problems=ctx.health,
        sections=sections,
    )
    if fmt == "html":
        from mcstudy.report.render import render_html

        data = render_html(report)
    else:
        from mcstudy.report.pdf import render_pdf

        data = render_pdf(report)
    try:
        write_atomic(out, data)
        if figures_dir is not None:
            save_figures(report, figures_dir)
    except OSError as exc:
        raise OutputError(f"cannot write the report: {exc}") from None
    return out


def _lead_with_findings(ctx: ReportContext) -> None:
    """The dataset's findings open the summary; a run without any says so."""
    found = read_findings(ctx.ds.attrs)
    seen = {(f.point, f.estimate, f.kind) for f in found}
    for ag in ctx.agreements():  # the report's own check: an edited or older dataset
        for flat in ag.flagged:
            key = (int(flat), ag.estimate.name, "disagreement")
            if key not in seen:
                seen.add(key)
                found.append(
                    Finding(
                        int(flat),
                        ag.estimate.name,
                        "disagreement",
                        f"{ag.estimate.name} disagrees with its exact value "
                        "(found by the report, not recorded by the run)",
                    )
                )
    if not found and FINDINGS_ATTR not in ctx.ds.attrs:
        return  # written before findings were recorded: nothing to vouch for

    def where(i: int) -> str:
        coords = point_coords(ctx.ds, i)
        return ", ".join(f"{k} = {coord(v)}" for k, v in coords.items()) or f"point {i}"

    notes = read_notes(ctx.ds.attrs)
    if notes:
        ctx.trust += [f"Note (information, not a finding): {line[len('note: ') :]}"
                      for line in format_findings(notes, where)]  # fmt: skip
    if not found:
        ctx.trust.insert(
            0,
            ("The run recorded no finding" if ctx.health else "No findings")
            + ": no estimate disagrees with its exact value (family-wise level "
            f"{FAMILY_ALPHA:g}), no transient was left unfinished, no estimate is vacuous.",
        )
        return

    lines = format_findings(found, where)
    ctx.health[:0] = [
        f"{findings_count(found, lines).capitalize()}; see also 'Agreement with exact values'."
    ]
    ctx.health[1:1] = lines


def save_figures(report: object, figures_dir: Path) -> list[Path]:
    """Save every figure of ``report`` as ``<key>.png`` and ``<key>.svg``."""
    written = []
    for fb in report.figures():  # type: ignore[attr-defined]
        written.append(write_atomic(figures_dir / f"{fb.key}.png", png_bytes(fb.figure)))
        written.append(write_atomic(figures_dir / f"{fb.key}.svg", svg_bytes(fb.figure)))
    return written


def _unique_figure_keys(sections: list) -> None:
    seen: dict[str, int] = {}
    for s in sections:
        for fb in s.figures():
            k = fb.key
            if k in seen:
                seen[k] += 1
                fb.key = f"{k}-{seen[k]}"
            else:
                seen[k] = 1
