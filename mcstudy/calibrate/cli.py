"""The ``mcstudy calibrate`` click command."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mcstudy.calibrate.calibration import (
    LIVE_VMSTAT,
    LIVE_ZONEINFO,
    MAX_LIVE_WAIT,
    calibrate,
    check_interval,
    live_vmstat_snapshots,
)
from mcstudy.calibrate.fragment import fragment, report, write_fragment
from mcstudy.calibrate.sysctl import read_sysctl
from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import parse_vmstat
from mcstudy.storage.atomic import check_output_file


@click.command("calibrate")
@click.option(
    "--zoneinfo", type=click.Path(dir_okay=False, path_type=Path), help="/proc/zoneinfo copy."
)
@click.option(
    "--vmstat", type=click.Path(dir_okay=False, path_type=Path), help="first /proc/vmstat."
)
@click.option(
    "--vmstat-after",
    type=click.Path(dir_okay=False, path_type=Path),
    help="second /proc/vmstat, --interval seconds later.",
)
@click.option(
    "--interval",
    type=float,
    default=None,
    help="seconds between the snapshots (0.001 .. 1e7; live: how long to wait, default 5, "
    "at most 3600).",
)
@click.option(
    "--node",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="NUMA node whose zone serves the GFP_NOWAIT batch pages (the node of the CPUs "
    "that free page tables).",
)
@click.option(
    "--watermark-scale-factor",
    type=click.IntRange(min=1, max=3000),
    default=None,
    help="vm.watermark_scale_factor for the formula check (default: live value, else 10).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the TOML fragment here.",
)
def calibrate_command(
    zoneinfo: Path | None,
    vmstat: Path | None,
    vmstat_after: Path | None,
    interval: float | None,
    node: int,
    watermark_scale_factor: int | None,
    out: Path | None,
) -> None:
    """Pressure-model parameters from /proc/zoneinfo and two /proc/vmstat snapshots.

    Without --zoneinfo (on Linux) reads the live /proc, taking the two vmstat snapshots
    --interval seconds apart (default 5).
    """
    live = zoneinfo is None
    names = ("the first snapshot", "the second snapshot")
    try:
        if out is not None:  # refused before the wait and the work, never replaced
            check_output_file(out)
        if live:
            if not LIVE_ZONEINFO.exists():
                raise McStudyError("no --zoneinfo given and no live /proc/zoneinfo (not Linux?)")
            if vmstat is not None or vmstat_after is not None:
                raise McStudyError("--vmstat needs --zoneinfo (the live mode reads /proc itself)")
            zoneinfo = LIVE_ZONEINFO
            wait = check_interval(interval if interval is not None else 5.0, most=MAX_LIVE_WAIT)
            names = (f"{LIVE_VMSTAT} (before)", f"{LIVE_VMSTAT} (after)")
            waits = [0]

            def say(w: float) -> None:
                waits[0] += 1
                if waits[0] == 1:
                    click.echo(f"reading /proc/vmstat twice, {w:g} s apart ...", err=True)
                else:
                    click.echo(f"no page allocated yet; reading again in {w:g} s ...", err=True)

            snaps = live_vmstat_snapshots(wait, LIVE_VMSTAT, say)
            source = "the live /proc"
        else:
            given = [vmstat is not None, vmstat_after is not None, interval is not None]
            if any(given) and not all(given):
                raise McStudyError("give --vmstat, --vmstat-after and --interval together")
            snaps = None
            if all(given):
                check_interval(float(interval))  # type: ignore[arg-type]
                snaps = (parse_vmstat(vmstat), parse_vmstat(vmstat_after), float(interval))  # type: ignore[arg-type]
                names = (str(vmstat), str(vmstat_after))
            source = str(zoneinfo)
        wsf = watermark_scale_factor
        if wsf is None:
            wsf = (read_sysctl("watermark_scale_factor") if live else None) or 10
        cal = calibrate(zoneinfo, snaps, node, wsf, names)
        text = fragment(cal, source)
        click.echo(report(cal))
        if out is not None:
            write_fragment(out, text)
            click.echo(f"wrote {out}")
        else:
            click.echo("")
            click.echo(text, nl=False)
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(2)
