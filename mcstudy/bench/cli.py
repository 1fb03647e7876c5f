"""The ``mcstudy bench`` command."""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path

import click

from mcstudy.errors import McStudyError


def _default_out() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("outputs") / f"bench-{stamp}.json"


@click.command()
@click.option(
    "--quick", is_flag=True, help="Smoke run (tens of seconds): small sizes, no uncached JIT start."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Largest thread count to measure (default: all Numba threads).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="NAME",
    help="Only this model (repeatable; default: every registered model).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON results file (default: outputs/bench-<time>.json).",
)
@click.option(
    "--show",
    "show",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Print the table of an earlier JSON result instead of measuring.",
)
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def bench(
    quick: bool,
    threads: int | None,
    models: tuple[str, ...],
    out: Path | None,
    show: Path | None,
    quiet: bool,
) -> None:
    """Measure generator limits, kernel throughput, baselines, scaling and JIT cost.

    Prints a table and writes the results as JSON (machine, versions, threads) so runs
    can be compared across machines and commits. Exit status 1 if a measurement failed
    (the others are still written), 2 on bad input.
    """
    from mcstudy.bench.report import read_json, render, write_json
    from mcstudy.storage.atomic import check_output_file

    try:
        if show is not None:
            click.echo(render(read_json(show)), nl=False)
            return
        import numba

        from mcstudy.bench.suite import run_bench

        if threads is not None and threads > numba.config.NUMBA_NUM_THREADS:
            raise McStudyError(
                f"--threads {threads} exceeds the {numba.config.NUMBA_NUM_THREADS} "
                "threads Numba was started with (NUMBA_NUM_THREADS)"
            )
        target = out or _default_out()
        check_output_file(target)  # before measuring: a device or link is never replaced
        say = None if quiet else (lambda msg: click.echo(f"  {msg}", err=True))
        try:
            doc = run_bench(quick=quick, max_threads=threads, models=models or None, progress=say)
        except KeyError as exc:
            raise McStudyError(str(exc.args[0])) from None
        write_json(doc, target)
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(2)
    click.echo(render(doc), nl=False)
    click.echo(f"wrote {target}")
    if doc["errors"]:
        sys.exit(1)
