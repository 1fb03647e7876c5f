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
    live_snapshots,
)
from mcstudy.calibrate.fragment import fragment, report, write_fragment
from mcstudy.calibrate.reclaim import (
    USER_HZ,
    KhugepagedPace,
    ReclaimInput,
    check_kswapd_lines,
    read_khugepaged,
    read_psi,
)
from mcstudy.calibrate.sysctl import read_sysctl
from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import parse_vmstat
from mcstudy.kernel.procfs_reclaim import parse_pid_stats
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
    "--pressure",
    "pressure",
    type=click.Path(dir_okay=False, path_type=Path),
    help="/proc/pressure/memory copied with --vmstat (PSI).",
)
@click.option(
    "--pressure-after",
    type=click.Path(dir_okay=False, path_type=Path),
    help="/proc/pressure/memory copied with --vmstat-after.",
)
@click.option(
    "--kswapd-stat",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the /proc/PID/stat lines of the kswapd threads, copied with --vmstat.",
)
@click.option(
    "--kswapd-stat-after",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the same, copied with --vmstat-after.",
)
@click.option(
    "--khugepaged",
    type=click.Path(file_okay=False, path_type=Path),
    help="a copy of /sys/kernel/mm/transparent_hugepage/khugepaged (pages_to_scan, "
    "scan_sleep_millisecs); default: the live one, else the kernel's defaults.",
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
    pressure: Path | None,
    pressure_after: Path | None,
    kswapd_stat: Path | None,
    kswapd_stat_after: Path | None,
    khugepaged: Path | None,
) -> None:
    """Pressure-model parameters from /proc/zoneinfo and two /proc/vmstat snapshots.

    Without --zoneinfo (on Linux) reads the live /proc, taking the two vmstat snapshots
    --interval seconds apart (default 5), with /proc/pressure/memory and the kswapd
    threads' /proc/PID/stat read at the same instants.
    """
    live = zoneinfo is None
    names = ("the first snapshot", "the second snapshot")
    pairs = {
        "--pressure": (pressure, pressure_after),
        "--kswapd-stat": (kswapd_stat, kswapd_stat_after),
    }
    try:
        if out is not None:  # refused before the wait and the work, never replaced
            check_output_file(out)
        if live:
            if not LIVE_ZONEINFO.exists():
                raise McStudyError("no --zoneinfo given and no live /proc/zoneinfo (not Linux?)")
            if vmstat is not None or vmstat_after is not None:
                raise McStudyError("--vmstat needs --zoneinfo (the live mode reads /proc itself)")
            for opt, pair in pairs.items():
                if any(x is not None for x in pair):
                    raise McStudyError(f"{opt} needs --zoneinfo (the live mode reads /proc itself)")
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

            if khugepaged is not None:
                raise McStudyError("--khugepaged needs --zoneinfo (the live mode reads /sys)")
            snaps, reclaim = live_snapshots(wait, LIVE_VMSTAT, say)
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
            reclaim = _file_reclaim(pairs, khugepaged, snaps is not None)
            source = str(zoneinfo)
        wsf = watermark_scale_factor
        if wsf is None:
            wsf = (read_sysctl("watermark_scale_factor") if live else None) or 10
        cal = calibrate(zoneinfo, snaps, node, wsf, names, reclaim)
        for message in cal.messages:
            click.echo(f"mcstudy: {message}", err=True)
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


def _file_reclaim(
    pairs: dict[str, tuple[Path | None, Path | None]], khugepaged: Path | None, vmstat: bool
) -> ReclaimInput:
    """The PSI, kswapd and khugepaged copies given with --vmstat (each pair both or none)."""
    for opt, (a, b) in pairs.items():
        if (a is None) != (b is None):
            raise McStudyError(f"give {opt} and {opt}-after together")
        if a is not None and not vmstat:
            raise McStudyError(f"{opt} needs --vmstat, --vmstat-after and --interval")
    inp = ReclaimInput(user_hz=USER_HZ)
    psi0, psi1 = pairs["--pressure"]
    if psi0 is not None and psi1 is not None:
        p0, missing0 = read_psi(psi0)
        p1, missing1 = read_psi(psi1)
        if p0 is None or p1 is None:  # a copy is a file: missing means a wrong path
            raise McStudyError(f"--pressure: {missing0 or missing1}")
        inp.psi = (p0, p1)
        inp.psi_names = (str(psi0), str(psi1))
    k0, k1 = pairs["--kswapd-stat"]
    if k0 is not None and k1 is not None:
        inp.kswapd = (
            check_kswapd_lines(parse_pid_stats(k0), str(k0)),
            check_kswapd_lines(parse_pid_stats(k1), str(k1)),
        )
        inp.kswapd_names = (str(k0), str(k1))
    if khugepaged is not None:
        pace = read_khugepaged(khugepaged, None)
        if pace is None:
            raise McStudyError(
                f"--khugepaged {khugepaged}: no pages_to_scan and scan_sleep_millisecs there"
            )
        inp.khugepaged = pace
    elif vmstat:
        inp.khugepaged = KhugepagedPace(4096, 10000, source="the kernel's defaults (not read)")
    return inp
