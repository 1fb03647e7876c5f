"""``mcstudy lab``: hold the fallback model against a real kernel under real memory pressure."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mcstudy.errors import McStudyError
from mcstudy.lab.arch import ARCHES, CACHE_ENV, cache_dir, get_arch
from mcstudy.lab.guestrun import LabRequest
from mcstudy.lab.kernels import DEFAULT_KERNEL, KERNELS, run_defaults

if TYPE_CHECKING:
    import xarray as xr


def parse_levels(text: str) -> tuple[int, ...]:
    """``"0,300,350"`` -> (0, 300, 350) (McStudyError naming the bad item)."""
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise McStudyError(
                f"--pressure: expected comma-separated MiB of churn (integers >= 0), got {item!r}"
            )
        out.append(int(item))
    return tuple(out)


def run_lab(
    req: LabRequest,
    cache: Path,
    kernel_package: str | None = None,
    progress: bool = False,
    console_log: Path | None = None,
    kernel: str | None = None,
) -> xr.Dataset:
    """Prepare the cache, boot the guest, check every row, build the dataset (library
    entry point; LabError where the lab cannot run)."""
    from mcstudy.lab.dataset import build_lab_dataset
    from mcstudy.lab.experiment import analyse
    from mcstudy.lab.guestrun import run_guest
    from mcstudy.lab.setup import prepare
    from mcstudy.storage.provenance import environment

    t0 = time.perf_counter()
    spec = get_arch(req.arch)
    req.validate()
    log = (lambda m: click.echo(m, err=True)) if progress else (lambda m: None)
    prep = prepare(spec, cache, kernel_package=kernel_package, log=log, kernel=kernel)
    log(
        f"lab: booting {prep.kernel_package} ({prep.release}) in {spec.qemu}: "
        f"{req.gathers} gathers at each of {len(req.levels)} pressure levels..."
    )

    def on_line(line: str) -> None:
        log(f"lab: [{time.perf_counter() - t0:6.1f} s] guest {line.removeprefix('@@')}")

    console, cmdline, guest_s = run_guest(req, spec, prep, on_line, keep_console=console_log)
    result = analyse(console, req, spec, prep, cmdline, guest_s)
    prov = {**environment(), "wall_seconds": time.perf_counter() - t0}
    return build_lab_dataset(result, prov)


@click.command("lab")
@click.option(
    "--arch",
    type=click.Choice(sorted(ARCHES)),
    default=None,
    help="Guest architecture (arm64: RCU table freeing, the fallback sends IPIs; amd64: "
    "page tables through tlb_remove_page() up to 6.14) [default: arm64].",
)
@click.option(
    "--gathers",
    type=int,
    default=None,
    help="munmap gathers per level [default: the kernel's, 2000; 4000 on 6.12 arm64 and "
    "7.2 amd64].",
)
@click.option(
    "--pressure",
    "levels",
    default=None,
    help="Comma-separated pressure levels, MiB of anonymous-memory churn in the 256 MiB "
    "guest (0: none). Default: 0,300,400 (arm64), 0,300,350 (7.2 amd64), 0 (amd64 6.1, "
    "6.12).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="netCDF file for the dataset [default: outputs/lab-<arch>.nc; with --matrix "
    "outputs/lab-matrix.nc, its runs in outputs/lab-matrix/].",
)
@click.option(
    "--matrix",
    is_flag=True,
    help="Run every kernel line on every architecture, one after another, into one "
    "dataset (runs already in the output's folder with the same request are reused).",
)
@click.option(
    "--rerun",
    is_flag=True,
    help="With --matrix: run every kernel again instead of reusing earlier runs.",
)
@click.option(
    "--setup",
    is_flag=True,
    help="Install the emulator and compiler (apt-get, root), download the kernel and "
    "busybox packages into the cache, build the workload, and exit.",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Cache directory [default: ${CACHE_ENV}, else $XDG_CACHE_HOME/mcstudy/lab].",
)
@click.option(
    "--kernel",
    type=click.Choice(list(KERNELS)),
    default=None,
    help="Kernel version to boot: Debian's newest cloud kernel of that line (6.1: bookworm, "
    "6.12: trixie, 7.2: sid) [default: the cached one, else 6.1].",
)
@click.option(
    "--kernel-package",
    default=None,
    help="Debian kernel package to boot instead (any suite the lab's apt lists).",
)
@click.option("--blocks", type=int, default=8, show_default=True, help="Blocks per level.")
@click.option(
    "--timeout", type=float, default=1500.0, show_default=True, help="Guest time limit (s)."
)
@click.option(
    "--console-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also keep the guest's raw console output in this file.",
)
def lab(
    arch: str | None,
    gathers: int | None,
    levels: str | None,
    out: Path | None,
    matrix: bool,
    rerun: bool,
    setup: bool,
    cache: Path | None,
    kernel: str | None,
    kernel_package: str | None,
    blocks: int,
    timeout: float,
    console_log: Path | None,
) -> None:
    """Boot a Debian kernel in QEMU, put its zone under memory pressure, and compare what
    tlb_remove_table() does (attempts, failures, fallbacks, sync IPIs) with the model."""
    from mcstudy.lab.setup import prepare
    from mcstudy.lab.table import render_lab_table
    from mcstudy.storage.dataset import write_dataset

    t0 = time.perf_counter()
    root = cache_dir(cache)
    if matrix:
        lab_matrix(
            arch,
            gathers,
            levels,
            out,
            setup,
            root,
            kernel,
            kernel_package,
            blocks,
            timeout,
            console_log,
            rerun,
        )
        return
    arch = arch or "arm64"
    try:
        if rerun:
            raise McStudyError("--rerun goes with --matrix")
        spec = get_arch(arch)
        if setup:
            prep = prepare(
                spec,
                root,
                kernel_package=kernel_package,
                kernel=kernel,
                install=True,
                log=lambda m: click.echo(m, err=True),
            )
            click.echo(f"lab ready: {prep.kernel_package} ({prep.release}) in {root / arch}")
            return
        line = kernel or kernel_line_of(spec, root, kernel_package)
        d_gathers, d_levels = run_defaults(line, arch, spec.default_levels)
        req = LabRequest(
            arch=arch,
            gathers=gathers if gathers is not None else d_gathers,
            levels=parse_levels(levels) if levels is not None else d_levels,
            blocks=blocks,
            timeout_s=timeout,
        )
        target = out if out is not None else Path("outputs") / f"lab-{arch}.nc"
        if target.exists() and target.is_dir():
            raise McStudyError(f"{target}: output path is a directory")
        ds = run_lab(
            req, root, kernel_package, progress=True, console_log=console_log, kernel=kernel
        )
        write_dataset(ds, target)
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(2)
    click.echo(render_lab_table(ds))
    click.echo(f"\nwrote {target} ({time.perf_counter() - t0:.0f} s)")


def kernel_line_of(spec, root: Path, kernel_package: str | None) -> str:
    """The kernel line a run without ``--kernel`` boots (for its default gathers and
    levels): a named package's line ('' if it is of none), else the cached kernel's,
    else :data:`DEFAULT_KERNEL`."""
    from mcstudy.lab.setup import load_manifest

    if kernel_package is not None:
        name = kernel_package.removesuffix("-unsigned")
        return next((k for k, ln in KERNELS.items() if ln.image_re(spec.name).fullmatch(name)), "")
    have = load_manifest(spec, root)
    return have.kernel_line if have is not None and have.kernel_line else DEFAULT_KERNEL


def lab_matrix(
    arch: str | None,
    gathers: int | None,
    levels: str | None,
    out: Path | None,
    setup: bool,
    root: Path,
    kernel: str | None,
    kernel_package: str | None,
    blocks: int,
    timeout: float,
    console_log: Path | None,
    rerun: bool,
) -> None:
    """``mcstudy lab --matrix``: every kernel line on every architecture, one dataset."""
    from mcstudy.lab.matrix import matrix_runs, run_matrix, runs_folder
    from mcstudy.lab.section import render_matrix_table
    from mcstudy.storage.atomic import check_output_file

    t0 = time.perf_counter()
    try:
        clash = [
            name
            for name, given in (
                ("--arch", arch),
                ("--kernel", kernel),
                ("--kernel-package", kernel_package),
                ("--console-log", console_log),
            )
            if given is not None
        ] + (["--setup"] if setup else [])
        if clash:
            raise McStudyError(
                f"--matrix runs every kernel on every architecture; it does not take "
                f"{', '.join(clash)}"
            )
        target = out if out is not None else Path("outputs") / "lab-matrix.nc"
        check_output_file(target)
        folder = runs_folder(target)
        if folder.exists() and not folder.is_dir():
            raise McStudyError(f"{folder}: the matrix's runs folder exists and is not a folder")
        runs = matrix_runs(
            gathers, parse_levels(levels) if levels is not None else None, blocks, timeout
        )
        for r in runs:
            r.request.validate()
        ds = run_matrix(
            target, root, runs, run_lab, log=lambda m: click.echo(m, err=True), rerun=rerun
        )
    except McStudyError as exc:
        click.echo(f"mcstudy: error: {exc}", err=True)
        sys.exit(2)
    click.echo(render_matrix_table(ds))
    click.echo(f"\nwrote {target} ({time.perf_counter() - t0:.0f} s)")
