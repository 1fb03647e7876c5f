"""``mcstudy validate``: replicate points with exact values, measure every interval."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

EXIT_USAGE = 2
MAX_REPLICATIONS = 4000
"""At most this many replications of one case in the full run."""


@click.command("validate")
@click.option("--quick", is_flag=True, help="Fewer replications, small cases only (CI).")
@click.option(
    "--model",
    "model_name",
    default=None,
    help="Only this model's cases (gather, pressure, thp, host).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("outputs") / "validate.nc",
    show_default=True,
    help="Where the coverage table is written (netCDF).",
)
def validate(quick: bool, model_name: str | None, out: Path) -> None:
    """Measure the coverage of every 95 % interval against exact values.

    Each case is a point with exact values, replicated with independent keyed streams;
    for every estimate the table gives the share of replications whose interval holds
    the exact value (with its Wilson interval), the mean z and the ratio of the
    estimates' spread to their reported standard error. The full run adds replications
    until every coverage is measured to within +- 1.5 %, and an interval passes when its
    measured coverage lies within 95 +- 2 %; --quick only asks that its Wilson interval
    meets 95 +- 2 %. Exit status 1 when an interval fails.
    """
    from mcstudy.errors import McStudyError
    from mcstudy.models.registry import model_names
    from mcstudy.storage.provenance import environment
    from mcstudy.validate.cases import cases_for
    from mcstudy.validate.coverage import coverage_of, replicate
    from mcstudy.validate.results import failures, replications_needed, summary_lines, write

    if model_name is not None and model_name not in model_names():
        click.echo(f"mcstudy: error: --model {model_name}: unknown model", err=True)
        sys.exit(EXIT_USAGE)
    cases = cases_for(model_name, quick)
    if not cases:
        click.echo(f"mcstudy: error: no validation case for model {model_name}", err=True)
        sys.exit(EXIT_USAGE)
    rows = []
    t0 = time.perf_counter()
    for case in cases:
        n = case.quick_replications if quick else case.replications
        click.echo(
            f"{case.name}: {n}{'' if quick else ' or more'} replications of {case.sequences} "
            f"sequences ({case.note})"
        )
        t = time.perf_counter()
        runs = replicate(case, n)
        found = coverage_of(case, runs, quick)
        # the full run: more replications until every judged row is measured to within
        # +- PRECISION (replications extend the same plan: the first ones are kept)
        while not quick and len(runs) < MAX_REPLICATIONS:
            need = replications_needed([r for r in found if r.exact != 0.0])
            if need <= len(runs):
                break
            more = min(MAX_REPLICATIONS, max(need + need // 20, len(runs) + 50))
            runs += replicate(case, more, first=len(runs))
            found = coverage_of(case, runs, quick)
        rows += [r for r in found if r.exact != 0.0]
        click.echo(f"  {len(runs)} replications, {time.perf_counter() - t:.1f} s")
    for line in summary_lines(rows):
        click.echo(line)
    try:
        write(rows, out, {**environment(), "quick": quick, "seconds": time.perf_counter() - t0})
    except (McStudyError, OSError) as exc:
        click.echo(f"mcstudy: error: cannot write {out}: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"wrote {out}")
    bad = failures(rows)
    if bad:
        sys.exit(1)
