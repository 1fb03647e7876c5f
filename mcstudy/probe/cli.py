"""``mcstudy probe``: measure the live kernel and hold the model against it."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcstudy.errors import McStudyError
from mcstudy.probe.host import MIB, ProbeRequest

if TYPE_CHECKING:
    import xarray as xr

DEFAULT_OUT = Path("outputs") / "probe.nc"


def run_probe(req: ProbeRequest, progress: bool = False) -> xr.Dataset:
    """Preflight, run the worker, check every row and build the dataset (library entry point).

    Raises :class:`~mcstudy.probe.errors.ProbeError` where the probe cannot run.
    """
    from mcstudy.probe.checks import build_checks
    from mcstudy.probe.dataset import build_probe_dataset
    from mcstudy.probe.host import check_counters, host_facts, preflight
    from mcstudy.probe.predict import match_profile
    from mcstudy.probe.runner import run_worker
    from mcstudy.storage.provenance import environment

    facts = host_facts()
    preflight(facts, req)
    check_counters()
    profile = match_profile(
        facts.release, facts.machine, facts.config, facts.config_source, facts.hypervisor
    )
    if progress:
        click.echo(
            f"probing Linux {facts.release} on CPU {req.cpu if req.cpu is not None else min(facts.allowed_cpus)} "
            f"({req.thps} THPs, {req.baselines} no-work windows per phase)...",
            err=True,
        )
    t0 = time.perf_counter()
    raw = run_worker(facts, req)
    wall = time.perf_counter() - t0
    checks = build_checks(raw, profile)
    prov = {**environment(), "wall_seconds": wall}
    return build_probe_dataset(raw, checks, facts, req, profile, prov)


@click.command("probe")
@click.option(
    "--thps", type=int, default=256, show_default=True, help="THPs to fault, split and collapse."
)
@click.option(
    "--cpu", type=int, default=None, help="CPU to pin the probe to (default: the lowest allowed)."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="netCDF file for the dataset.",
)
@click.option(
    "--munmap-mib",
    type=float,
    default=64.0,
    show_default=True,
    help="Size of the 4 KiB-page region unmapped in the munmap phases (MiB).",
)
@click.option(
    "--munmap-offset-kib",
    type=int,
    default=1024,
    show_default=True,
    help="Start of that region past a 512 GiB boundary (KiB, multiple of 4).",
)
@click.option(
    "--baselines",
    type=int,
    default=8,
    show_default=True,
    help="No-work windows per phase (background noise).",
)
def probe(
    thps: int, cpu: int | None, out: Path, munmap_mib: float, munmap_offset_kib: int, baselines: int
) -> None:
    """Measure THP deposits, PMD splits, collapse IPIs and munmap page-table frees on this
    kernel, and compare each with the model's prediction within the measured noise."""
    from mcstudy.probe.table import render_probe_table
    from mcstudy.storage.atomic import check_output_file
    from mcstudy.storage.dataset import write_dataset

    munmap_bytes = round(munmap_mib * MIB)
    req = ProbeRequest(
        thps=thps,
        cpu=cpu,
        munmap_bytes=munmap_bytes if munmap_bytes == munmap_mib * MIB else -1,
        munmap_offset=munmap_offset_kib * 1024,
        baselines=baselines,
    )
    try:
        check_output_file(out)  # before the measurement: a device or link is never replaced
        ds = run_probe(req, progress=True)
        write_dataset(ds, out)
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(2)
    click.echo(render_probe_table(ds))
    click.echo(f"\nwrote {out}")
