"""The ``run``, ``show``, ``status`` and ``merge`` commands (thin: parse, call, map errors).

Heavy modules are imported inside the commands so that ``mcstudy --help`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from mcstudy.errors import McStudyError

EXIT_USAGE = 2
EXIT_FINDINGS = 3
LONG_RUN_SECONDS = 600.0
"""A run estimated at this much CPU time or more says so at its start."""
EXIT_WRITE = 4
"""The file system refused a write (no space, no inodes, read-only): what was committed
is kept, nothing is half-written; continue with --resume once there is room."""


def _fail(exc: Exception) -> None:
    click.echo(f"mcstudy: error: {exc}", err=True)
    sys.exit(EXIT_USAGE)


@click.command()
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output netCDF file (default: outputs/<study name>.nc; with --set or --params, "
    "outputs/<study name>-<the overrides>.nc). Point results go to the run directory next "
    "to it (<stem>.run/).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value: [study.|params.|sweep.]key=value (repeatable). "
    "sweep.key=v is a one-value sweep, sweep.key=[a,b] a list; 1e6 is fine for an integer.",
)
@click.option(
    "--params",
    "params_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with a [params] table merged over the config (repeatable).",
)
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: this machine (this process, or --workers processes); dask: a Dask cluster.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (local: default 1) or LocalCluster workers (dask: default "
    "cores / threads).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Numba threads per worker (default: cores / workers; workers x threads must "
    "not exceed the cores). Results do not depend on it.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --executor dask: join the cluster of this scheduler (tcp://host:8786) "
    "instead of starting a LocalCluster.",
)
@click.option(
    "--shard",
    metavar="I/N",
    default=None,
    help="Run only shard I of N (0 <= I < N; point i belongs to shard i mod N); "
    "implies --resume. In a SLURM array job the default comes from "
    "SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT.",
)
@click.option("--resume", is_flag=True, help="Keep the points already done and compute the rest.")
@click.option(
    "--retry-failed", is_flag=True, help="Like --resume, and recompute the failed points."
)
@click.option(
    "--restart", is_flag=True, help="Discard the results of the run directory, start again."
)
@click.option(
    "--max-points",
    type=click.IntRange(min=1),
    default=None,
    help="Largest sweep accepted (default 100000 points; a bigger sweep is refused "
    "before anything is written).",
)
@click.option(
    "--max-cpu-hours",
    type=click.FloatRange(min=0.0, min_open=True),
    default=None,
    help="Largest estimated CPU time accepted, in hours of one core (default 24; a "
    "study estimated above it is refused before anything is written).",
)
@click.option(
    "--quiet",
    is_flag=True,
    help="No progress output (by default a bar on a terminal, else a line every 30 s).",
)
@click.option("--no-report", is_flag=True, help="Do not write the HTML report next to the dataset.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit with status 3 if the run has any finding (a disagreement with an exact "
    "value, an unfinished transient, a vacuous estimate), for batch pipelines.",
)
def run(**options: Any) -> None:
    """Run the study in CONFIG (default: configs/default.toml, or the copy shipped with
    mcstudy outside a checkout) and write its dataset.

    Every point is committed to the run directory as soon as it is computed, so an
    interrupted run continues with --resume; a failing point is recorded (see
    `mcstudy status`) and the others go on. Disagreements with exact values and warnings
    are printed at the end. Exit status 1 if points failed; with --strict, 3 if there
    are findings; 4 if the file system refused a write (a full disk: the committed points
    are kept); 130 after Ctrl-C (the committed points are kept: resume with --resume).
    """
    from mcstudy.storage.errors import WriteError
    from mcstudy.sweep.interrupt import exit_on_sigint

    resume_args = _resume_args(options)
    # Ctrl-C ends the command at once with the line that continues it; only while the
    # sweep waits for points does it stop the sweep first (to say what is committed)
    with exit_on_sigint(resume_args):
        try:
            _run(**options)  # the options, typed, are _run's parameters
        except KeyboardInterrupt as exc:
            _interrupted(exc, resume_args)
        except WriteError as exc:
            _write_failed(exc, resume_args)


def _resume_args(o: dict[str, Any]) -> list[str]:
    """The ``mcstudy run`` command that continues this run (``o``: its options)."""
    args = ["mcstudy", "run"] + ([str(o["config"])] if o["config"] is not None else [])
    if o["out"] is not None:
        args += ["--out", str(o["out"])]
    for item in o["overrides"]:
        args += ["--set", item]
    for pf in o["params_files"]:
        args += ["--params", str(pf)]
    if o["executor"] != "local":
        args += ["--executor", o["executor"]]
    for flag in (
        "--scheduler",
        "--workers",
        "--threads",
        "--shard",
        "--max-points",
        "--max-cpu-hours",
    ):
        key = flag[2:].replace("-", "_")
        if o.get(key) is not None:
            args += [flag, str(o[key])]
    for flag in ("--quiet", "--no-report", "--strict"):  # the same command, continued
        if o[flag[2:].replace("-", "_")]:
            args.append(flag)
    return [*args, "--retry-failed" if o["retry_failed"] else "--resume"]


def _interrupted(exc: KeyboardInterrupt, resume_args: list[str]) -> None:
    """Ctrl-C: one line saying what is kept and how to continue; exit status 130."""

    from mcstudy.sweep.coordinator import SweepInterrupted
    from mcstudy.sweep.interrupt import EXIT_INTERRUPTED, exit_now, interrupted_line

    kept = ""
    if isinstance(exc, SweepInterrupted):
        kept = f"{exc.done} of {exc.total} points are committed in {exc.run_dir}"
    click.echo(f"\n{interrupted_line(kept, resume_args)}", err=True)
    exit_now(EXIT_INTERRUPTED)


def _write_failed(exc: Exception, resume_args: list[str]) -> None:
    """A write refused by the file system: what is kept, how to continue; exit 4."""
    import shlex

    from mcstudy.sweep.coordinator import SweepWriteFailed

    click.echo(f"mcstudy: error: {exc}", err=True)
    kept = "mcstudy: "
    if isinstance(exc, SweepWriteFailed):
        kept += f"{exc.done} of {exc.total} points are committed in {exc.run_dir} and kept; "
    click.echo(
        f"{kept}make room (df -h, df -i) and continue with: {shlex.join(resume_args)}", err=True
    )
    sys.exit(EXIT_WRITE)


def _run(
    config: Path | None,
    out: Path | None,
    overrides: tuple[str, ...],
    params_files: tuple[Path, ...],
    executor: str,
    workers: int | None,
    threads: int | None,
    scheduler: str | None,
    shard: str | None,
    resume: bool,
    retry_failed: bool,
    restart: bool,
    max_points: int | None,
    max_cpu_hours: float | None,
    quiet: bool,
    no_report: bool,
    strict: bool,
) -> None:
    """The body of ``mcstudy run`` (see its help)."""
    import os

    from mcstudy.budget import ESTIMATE_FACTOR, estimate_text
    from mcstudy.storage.atomic import check_output_file
    from mcstudy.storage.errors import WriteError
    from mcstudy.storage.rundir import RunDir, run_dir_for
    from mcstudy.study import default_config, default_output, load_study
    from mcstudy.sweep.coordinator import SweepOptions, run_sweep
    from mcstudy.sweep.shards import resolve_shard

    try:
        if restart and (resume or retry_failed):
            raise McStudyError("--restart discards results; do not combine it with --resume")
        if scheduler is not None and executor != "dask":
            raise McStudyError("--scheduler ADDRESS needs --executor dask")
        study = load_study(
            config or default_config(), overrides, params_files, max_points, max_cpu_hours
        )
        seconds = study.estimated_seconds()
        if seconds is not None and seconds >= LONG_RUN_SECONDS and not quiet:
            click.echo(
                f"mcstudy: the whole study is estimated at {estimate_text(seconds)}, good to a "
                f"factor of about {ESTIMATE_FACTOR} (docs/model.md §7.5)",
                err=True,
            )
        for note in study.notes:
            click.echo(f"mcstudy: note: {note}", err=True)
        target = out or default_output(study, params_files)
        # output paths: refused before anything is written if they exist as anything but
        # a regular file (a device, a FIFO, a link...) or a run directory
        check_output_file(target)
        if not no_report:
            check_output_file(target.with_suffix(".html"), "report path")
        RunDir(run_dir_for(target)).check_path()
        the_shard = resolve_shard(shard, os.environ)
        if the_shard is not None and restart:
            raise McStudyError(
                "--restart with a shard would delete the other shards' results; "
                "run `mcstudy run --restart` once without shards, or remove the run directory"
            )
        if executor == "dask":
            from mcstudy.executors.dask import DaskExecutor

            ex = DaskExecutor(scheduler=scheduler, workers=workers, threads=threads)
        else:
            from mcstudy.executors.local import LocalExecutor

            ex = LocalExecutor(workers=workers, threads=threads)
        options = SweepOptions(
            resume=resume,
            retry_failed=retry_failed,
            restart=restart,
            shard=the_shard,
            show_progress=not quiet,
            dataset_name=target.name,
            warn=lambda msg: click.echo(f"mcstudy: warning: {msg}", err=True),
        )
        result = run_sweep(study, run_dir_for(target), ex, options)
        for _path, reason in result.quarantined:
            click.echo(f"mcstudy: warning: {reason}; moved to quarantine/, recomputed", err=True)
        ds = result.dataset
        if ds is not None:
            from mcstudy.storage.dataset import write_dataset  # xarray: after the sweep
            from mcstudy.sweep.coordinator import SweepWriteFailed

            try:
                write_dataset(ds, target)
            except WriteError as exc:
                n = sum(result.counts.values())
                done = n - result.counts["pending"]
                raise SweepWriteFailed(exc, result.run_dir, done, n) from None
    except WriteError:
        raise  # run() says what is kept: exit status 4
    except McStudyError as exc:
        _fail(exc)
    facts = result.run_facts
    c = result.counts
    where = f"shard {result.shard}: " if result.shard is not None else f"wrote {target} "
    low, high = result.sequences
    seqs = f"{study.section.sequences}" if low == high or not high else f"{low}..{high}"
    if study.section.target_rel_err is not None:
        seqs += f" (adaptive, target {study.section.target_rel_err:g})"
    _echo_wrapped(
        f"{where}({sum(c.values())} points x {seqs} sequences: "
        f"{result.computed} computed, {result.reused} kept; {c['done']} done, "
        f"{c['failed']} failed, {c['pending']} pending)",
        f"{facts['executor']}: {facts.get('workers') or '?'} worker(s) x "
        f"{facts.get('threads_per_worker') or '?'} thread(s); compile "
        f"{facts['compile_seconds']:.1f} s, run {facts['run_seconds']:.1f} s",
    )
    if ds is not None and not no_report:
        from mcstudy.report.cli import report_after_run

        report_after_run(target)
    if ds is not None:
        _print_answers(ds)
    if result.shard is not None:
        click.echo(f"when every shard is done: mcstudy merge {result.run_dir}")
    _echo_findings(result.findings, study)
    if result.failed:
        click.echo(
            f"mcstudy: {len(result.failed)} point(s) failed (NaN in the dataset, "
            f"point_status = failed): see `mcstudy status {result.run_dir}`; rerun with "
            "--retry-failed",
            err=True,
        )
        sys.exit(1)
    from mcstudy.findings import real_findings

    if strict and real_findings(result.findings):
        sys.exit(EXIT_FINDINGS)


def _echo_wrapped(*lines: str, err: bool = False) -> None:
    """Lines wrapped to the terminal's width (at most 100 columns; 100 when not a
    terminal); the lines after the first and continuations are indented."""
    import textwrap

    from mcstudy.fmt import text_width

    width = text_width(sys.stderr if err else sys.stdout)
    for i, line in enumerate(lines):
        first = "" if i == 0 else "  "
        click.echo(
            textwrap.fill(
                line,
                width,
                initial_indent=first,
                subsequent_indent=first + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            ),
            err=err,
        )


def _echo_findings(found: list, study: object) -> None:
    """Print the run's findings (or that there are none), under a count of the lines
    printed, then its notes."""
    import textwrap

    from mcstudy.findings import format_findings, notes_of, real_findings
    from mcstudy.fmt import findings_count, text_width

    points = list(study.points())  # type: ignore[attr-defined]

    def where(i: int) -> str:
        return ", ".join(f"{k}={v}" for k, v in points[i].coords.items()) or f"point {i}"

    def echo(lines: list[str], err: bool) -> None:
        width = text_width(sys.stderr if err else sys.stdout)
        for line in lines:
            wrapped = textwrap.fill(line, width, initial_indent="  ", subsequent_indent="    ")
            click.echo(wrapped, err=err)

    real, notes = real_findings(found), notes_of(found)
    if not real:
        click.echo("findings: none (no disagreement with an exact value, no warning)")
    else:
        lines = format_findings(real, where)
        click.echo(
            textwrap.fill(
                f"findings ({findings_count(real, lines)}): they qualify the numbers above",
                text_width(sys.stderr),
                subsequent_indent="  ",
            ),
            err=True,
        )
        echo(lines, True)
    if notes:
        click.echo(f"notes ({len(notes)}): information, not findings")
        echo(format_findings(notes, where), False)


def _print_answers(ds: object) -> None:
    """The Answers block at the end of a run (after the dataset and report are written)."""
    from mcstudy.report.summary import answers_block

    block = answers_block(ds)  # type: ignore[arg-type]
    if block:
        click.echo(block)


@click.command()
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
def show(output: Path) -> None:
    """Print a readable summary of an output dataset: its answers, findings, every
    estimate with its 95 % interval and sample size, and its provenance."""
    from mcstudy.report.summary import summarize
    from mcstudy.storage.dataset import open_dataset

    try:
        ds = open_dataset(output)
    except McStudyError as exc:
        _fail(exc)
    click.echo(summarize(ds, output))


@click.command()
@click.argument("output", required=False, type=click.Path(path_type=Path))
def status(output: Path | None) -> None:
    """Done / failed / pending points and findings of a run (OUTPUT: its .run directory
    or .nc; default: the run of `mcstudy run`, outputs/<default study>.run).

    Exit status 0 when every point is done, 1 when points are pending or failed or a
    point file is unusable, 2 when OUTPUT is not a run.
    """
    from mcstudy.storage.rundir import resolve_run_dir
    from mcstudy.sweep.status import default_run_dir, format_status, run_status

    try:
        run_dir = resolve_run_dir(output) if output is not None else default_run_dir()
        st = run_status(run_dir)
    except McStudyError as exc:
        _fail(exc)
    click.echo(format_status(st))
    counts = st.counts
    if counts["pending"] or counts["failed"] or st.invalid:
        sys.exit(1)


@click.command()
@click.argument("output_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Dataset to write (default: the run's own, <stem>.nc next to OUTPUT_DIR).",
)
def merge(output_dir: Path, out: Path | None) -> None:
    """Assemble the dataset of a (sharded) run from its point files; report gaps.

    Missing and failed points are kept as NaN with point_status; exit status 1 if
    there are any, 4 if the dataset cannot be written (a full disk).
    """
    from mcstudy.storage.errors import WriteError
    from mcstudy.sweep.merge import merge_run

    try:
        report = merge_run(output_dir, out)
    except WriteError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        click.echo(
            "mcstudy: the point files are untouched; make room (df -h, df -i) and merge again",
            err=True,
        )
        sys.exit(EXIT_WRITE)
    except McStudyError as exc:
        _fail(exc)
    for line in report.lines:
        click.echo(line)
    if report.gaps:
        sys.exit(1)


COMMANDS = (run, show, status, merge)
