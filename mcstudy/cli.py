"""The ``mcstudy`` command line (thin: parse, call the library, map errors to exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mcstudy import __version__
from mcstudy.errors import McStudyError

EXIT_USAGE = 2


def _fail(exc: Exception) -> None:
    click.echo(f"mcstudy: error: {exc}", err=True)
    sys.exit(EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mcstudy")
def main() -> None:
    """Monte Carlo study of Linux page-table freeing under memory pressure.

    Runs parameter sweeps of the tlb_remove_table() fallback model (and others) from
    TOML configs into labelled netCDF datasets under outputs/.
    """


@main.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output netCDF file (default: outputs/<study name>.nc).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value: [study.|params.|sweep.]key=value (repeatable).",
)
@click.option(
    "--params",
    "params_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with a [params] table merged over the config (repeatable).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Numba threads (default: all cores). Results do not depend on it.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def run(
    config: Path | None,
    out: Path | None,
    overrides: tuple[str, ...],
    params_files: tuple[Path, ...],
    threads: int | None,
    quiet: bool,
) -> None:
    """Run the study in CONFIG (default: configs/default.toml) and write its dataset."""
    from mcstudy.runner import run_study
    from mcstudy.store import write_dataset
    from mcstudy.study import DEFAULT_CONFIG, load_study

    try:
        study = load_study(config or DEFAULT_CONFIG, overrides, params_files)
        target = out or Path("outputs") / f"{study.name}.nc"
        if target.exists() and target.is_dir():
            raise McStudyError(f"{target}: output path is a directory")
        ds = run_study(study, threads=threads, show_progress=not quiet)
        write_dataset(ds, target)
    except McStudyError as exc:
        _fail(exc)
    import json

    prov = json.loads(ds.attrs["provenance"])
    click.echo(
        f"wrote {target} ({study.n_points} points x {study.section.sequences} sequences; "
        f"compile {prov['compile_seconds']:.1f} s, run {prov['run_seconds']:.1f} s, "
        f"{prov['numba_threads']} threads)"
    )


@main.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def show(output: Path) -> None:
    """Print a summary of an output dataset."""
    from mcstudy.store import open_dataset

    try:
        ds = open_dataset(output)
    except McStudyError as exc:
        _fail(exc)
    click.echo(ds)


if __name__ == "__main__":  # pragma: no cover
    main()
