"""``mcstudy report``: write the report of an output dataset."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from mcstudy.errors import McStudyError

EXIT_USAGE = 2


@click.command("report")
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Report file (default: OUTPUT with .html, or .pdf with --format pdf).",
)
@click.option(
    "--figures",
    "figures_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also save every figure as PNG and SVG in this directory.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf"]),
    default="html",
    show_default=True,
    help="html: one self-contained page; pdf: a multi-page PDF.",
)
@click.option(
    "--convergence-seconds",
    type=click.FloatRange(min=0.0),
    default=6.0,
    hidden=True,
    help="Kept for old scripts: 0 leaves the convergence traces out (they are recorded "
    "by the run, so a report re-runs nothing).",
)
def report(
    output: Path, out: Path | None, figures_dir: Path | None, fmt: str, convergence_seconds: float
) -> None:
    """Write the report of the dataset OUTPUT (a file written by `mcstudy run`)."""
    from mcstudy.report.build import write_report

    t0 = time.perf_counter()
    try:
        path = write_report(
            output,
            out=out,
            figures_dir=figures_dir,
            fmt=fmt,
            convergence_seconds=convergence_seconds,
        )
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    extra = f", figures in {figures_dir}" if figures_dir is not None else ""
    click.echo(f"wrote {path} ({time.perf_counter() - t0:.1f} s{extra})")


def report_after_run(dataset: Path) -> Path | None:
    """Write ``<dataset>.html`` next to a dataset that ``mcstudy run`` just wrote.

    A report that cannot be made is a warning: the dataset is already safe on disk.
    """
    from mcstudy.report.build import write_report

    t0 = time.perf_counter()
    try:
        path = write_report(dataset, out=dataset.with_suffix(".html"))
    except McStudyError as exc:
        click.echo(
            f"mcstudy: warning: {dataset} was written but its report failed: {exc}", err=True
        )
        return None
    click.echo(f"wrote {path} (the report, {time.perf_counter() - t0:.1f} s)")
    return path
