"""``mcstudy lab --matrix``: every kernel line and architecture the lab knows, one after
another, in one dataset.

Each run is an ordinary ``mcstudy lab --arch A --kernel K`` with that kernel's default
gathers and pressure levels (:func:`mcstudy.lab.kernels.run_defaults`), written
atomically as ``<matrix>/lab-<arch>-<kernel>.nc`` beside its gzip-compressed console as
soon as it ends. A later ``--matrix`` reuses every run whose file is there and was made
with the same request, so an interrupted matrix resumes where it stopped; a kernel that
fails (no package, the guest stopped, ...) becomes a column "not run: <reason>" and the
others go on.

The matrix dataset (``attrs["model"] = "lab-matrix"``) has dimensions ``kernel`` x
``arch`` x ``row``: ``row`` is every (phase, quantity) of the lab's long format any run
produced (coordinates ``row_phase``, ``row_quantity``, ``row_label``, ``row_unit``), and
``measured``, ``predicted``, ``noise_halfwidth``, ``verdict`` and ``not_measurable``
hold each run's row (NaN and verdict ``absent`` where a run has no such row). Per run
(``kernel`` x ``arch``): ``status``, the release, packages, matched profile, request and
wall time.
"""

from __future__ import annotations

import gzip
import json
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.errors import McStudyError
from mcstudy.lab.arch import ARCHES, get_arch
from mcstudy.lab.guestrun import LabRequest
from mcstudy.lab.kernels import KERNELS, run_defaults
from mcstudy.lab.setup import MANIFEST
from mcstudy.storage.atomic import atomic_write_bytes
from mcstudy.storage.dataset import FORMAT_NAME, FORMAT_VERSION, open_dataset, write_dataset

MATRIX_MODEL = "lab-matrix"
MATRIX_ARCHES = ("arm64", "amd64")
"""Columns in this order (every architecture of :data:`mcstudy.lab.arch.ARCHES`)."""

Runner = Callable[..., xr.Dataset]


@dataclass
class MatrixRun:
    """One cell of the matrix: a kernel line on an architecture."""

    kernel: str
    arch: str
    request: LabRequest
    status: str = "not run: not reached"
    """``ran``, ``reused`` (an earlier matrix's file) or ``not run: <reason>``."""
    ds: xr.Dataset | None = None
    wall_seconds: float = math.nan

    @property
    def name(self) -> str:
        return f"lab-{self.arch}-{self.kernel}"


def matrix_runs(
    gathers: int | None = None,
    levels: tuple[int, ...] | None = None,
    blocks: int = 8,
    timeout_s: float = 1500.0,
) -> list[MatrixRun]:
    """Every (kernel line, architecture) the lab knows, in run order (arm64 first, then
    amd64; old kernels first), each with its request (``gathers``/``levels``: the same
    for every run, else each kernel's defaults)."""
    out = []
    for arch in MATRIX_ARCHES:
        spec = get_arch(arch)
        for line in KERNELS:
            g, lv = run_defaults(line, arch, spec.default_levels)
            req = LabRequest(
                arch=arch,
                gathers=gathers if gathers is not None else g,
                levels=levels if levels is not None else lv,
                blocks=blocks,
                timeout_s=timeout_s,
            )
            out.append(MatrixRun(line, arch, req))
    assert set(MATRIX_ARCHES) == set(ARCHES)
    return out


def request_key(req: LabRequest) -> str:
    """The request as stored in a lab dataset's ``params`` attribute."""
    return json.dumps({**asdict(req), "levels": list(req.levels)})


def reusable(ds: xr.Dataset, run: MatrixRun) -> bool:
    """``ds`` (an earlier run's file) was made by the same request on the same line."""
    a = ds.attrs
    try:
        same = json.loads(str(a.get("params", "{}"))) == json.loads(request_key(run.request))
    except ValueError:
        return False
    return same and a.get("kernel_line") == run.kernel and a.get("arch") == run.arch


def runs_folder(out: Path) -> Path:
    """Where the matrix ``out`` keeps its runs: ``outputs/lab-matrix.nc`` ->
    ``outputs/lab-matrix/`` (``out`` without a suffix: ``<out>-runs/``)."""
    return out.with_suffix("") if out.suffix else out.with_name(out.name + "-runs")


def run_matrix(
    out: Path,
    cache: Path,
    runs: list[MatrixRun],
    runner: Runner,
    log: Callable[[str], None] = lambda m: None,
    rerun: bool = False,
) -> xr.Dataset:
    """Run (or reuse) every cell, then write the matrix dataset to ``out`` atomically.

    ``runner(req, cache, kernel=..., progress=..., console_log=...)`` is
    :func:`mcstudy.lab.cli.run_lab`. Runs go into :func:`runs_folder`."""
    t0 = time.perf_counter()
    folder = runs_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    # every run records its kernel as the cache's default (its manifest): put back the
    # defaults the matrix found, so that `mcstudy lab` boots what it booted before
    manifests = {a: cache / a / MANIFEST for a in dict.fromkeys(r.arch for r in runs)}
    before = {a: p.read_bytes() for a, p in manifests.items() if p.is_file()}
    try:
        _run_all(folder, cache, runs, runner, log, rerun)
    finally:
        for a, data in before.items():
            atomic_write_bytes(manifests[a], data)
    ds = build_matrix_dataset(runs, {"wall_seconds": time.perf_counter() - t0})
    write_dataset(ds, out)
    return ds


def _run_all(
    folder: Path,
    cache: Path,
    runs: list[MatrixRun],
    runner: Runner,
    log: Callable[[str], None],
    rerun: bool,
) -> None:
    for i, run in enumerate(runs, 1):
        path = folder / f"{run.name}.nc"
        head = f"lab matrix [{i}/{len(runs)}] Linux {run.kernel} {run.arch}"
        if path.is_file() and not rerun:
            try:
                ds = open_dataset(path)
            except McStudyError:
                ds = None
            if ds is not None and reusable(ds, run):
                run.ds, run.status = ds, "reused"
                run.wall_seconds = float(
                    json.loads(ds.attrs.get("provenance", "{}")).get("wall_seconds", math.nan)
                )
                log(f"{head}: reusing {path}")
                continue
        log(
            f"{head}: {run.request.gathers} gathers at "
            f"{','.join(map(str, run.request.levels))} MiB..."
        )
        console = folder / f"console-{run.arch}-{run.kernel}.txt"
        t = time.perf_counter()
        try:
            ds = runner(run.request, cache, kernel=run.kernel, progress=True, console_log=console)
            write_dataset(ds, path)
        except McStudyError as exc:
            run.status = f"not run: {exc}"
        except Exception as exc:  # one kernel's failure must not lose the others
            last = traceback.extract_tb(exc.__traceback__)[-1]
            run.status = (
                f"not run: {type(exc).__name__}: {exc} ({Path(last.filename).name}:{last.lineno})"
            )
        else:
            run.ds, run.status = ds, "ran"
        finally:
            run.wall_seconds = time.perf_counter() - t
            if console.is_file():  # keep the console, compressed, for a later analysis
                atomic_write_bytes(
                    console.with_suffix(".txt.gz"), gzip.compress(console.read_bytes())
                )
                console.unlink()
        log(f"{head}: {run.status} ({run.wall_seconds:.0f} s)")


def _str(values: list[str]) -> np.ndarray:
    return np.array(values, dtype=object)


def build_matrix_dataset(runs: list[MatrixRun], provenance: dict[str, Any]) -> xr.Dataset:
    """One dataset of every run's rows: ``kernel`` x ``arch`` x ``row``."""
    kernels = list(dict.fromkeys(r.kernel for r in runs))
    arches = list(dict.fromkeys(r.arch for r in runs))
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    for run in runs:
        if run.ds is None:
            continue
        d = run.ds
        for p, q, lab, u in zip(
            d.check_phase.values, d.quantity.values, d.label.values, d.unit.values, strict=True
        ):
            rows.setdefault((str(p), str(q)), (str(lab), str(u)))
    keys = list(rows)
    shape3 = (len(kernels), len(arches), len(keys))
    shape2 = (len(kernels), len(arches))
    measured = np.full(shape3, np.nan)
    predicted = np.full(shape3, np.nan)
    noise = np.full(shape3, np.nan)
    verdict = np.full(shape3, "absent", dtype=object)
    why = np.full(shape3, "", dtype=object)
    per_run: dict[str, np.ndarray] = {
        k: np.full(shape2, "", dtype=object)
        for k in (
            "status",
            "kernel_release",
            "kernel_package",
            "kernel_package_version",
            "kernel_profile",
            "params",
        )
    }
    wall = np.full(shape2, np.nan)
    guest = np.full(shape2, np.nan)
    bad = np.full(shape2, -1, dtype=np.int64)
    for run in runs:
        i, j = kernels.index(run.kernel), arches.index(run.arch)
        per_run["status"][i, j] = run.status
        per_run["params"][i, j] = request_key(run.request)
        wall[i, j] = run.wall_seconds
        if run.ds is None:
            continue
        d = run.ds
        a = d.attrs
        for k in ("kernel_release", "kernel_package", "kernel_package_version", "kernel_profile"):
            per_run[k][i, j] = str(a.get(k, ""))
        guest[i, j] = float(a.get("guest_seconds", math.nan))
        nm = d["not_measurable"].values if "not_measurable" in d else [""] * d.sizes["check"]
        n_bad = 0
        for c in range(d.sizes["check"]):
            key = (str(d.check_phase.values[c]), str(d.quantity.values[c]))
            r = keys.index(key)
            measured[i, j, r] = float(d.measured.values[c])
            predicted[i, j, r] = float(d.predicted.values[c])
            noise[i, j, r] = float(d.noise_halfwidth.values[c])
            why[i, j, r] = str(nm[c])
            if why[i, j, r]:
                verdict[i, j, r] = "not measurable"
            elif bool(d.agrees.values[c]):
                verdict[i, j, r] = "agrees"
            else:
                verdict[i, j, r] = "disagrees"
                n_bad += 1
        bad[i, j] = n_bad
    dims3 = ("kernel", "arch", "row")
    dims2 = ("kernel", "arch")
    data_vars: dict[str, tuple] = {
        "measured": (dims3, measured, {"long_name": "measured (units: see row_unit)"}),
        "predicted": (dims3, predicted, {"long_name": "the assigned profile's prediction"}),
        "noise_halfwidth": (dims3, noise, {"long_name": "half-width of the row's interval"}),
        "verdict": (
            dims3,
            verdict,
            {"long_name": "agrees, disagrees, not measurable, or absent (no such row)"},
        ),
        "not_measurable": (dims3, why, {"long_name": "why the kernel cannot measure the row"}),
        **{k: (dims2, v, {}) for k, v in per_run.items()},
        "wall_seconds": (dims2, wall, {"units": "s", "long_name": "wall time of the run"}),
        "guest_seconds": (dims2, guest, {"units": "s", "long_name": "time in the guest"}),
        "disagreements": (
            dims2,
            bad,
            {"long_name": "rows beyond their noise interval (-1: not run)"},
        ),
    }
    coords = {
        "kernel": ("kernel", _str(kernels), {"long_name": "Debian kernel line"}),
        "arch": ("arch", _str(arches), {"long_name": "guest architecture"}),
        "row": ("row", np.arange(len(keys))),
        "row_phase": ("row", _str([p for p, _ in keys])),
        "row_quantity": ("row", _str([q for _, q in keys])),
        "row_label": ("row", _str([rows[k][0] for k in keys])),
        "row_unit": ("row", _str([rows[k][1] for k in keys])),
    }
    ds = xr.Dataset(data_vars=data_vars, coords=coords)
    ran = [r for r in runs if r.ds is not None]
    ds.attrs.update(
        {
            "mcstudy_format": FORMAT_NAME,
            "mcstudy_format_version": FORMAT_VERSION,
            "model": MATRIX_MODEL,
            "title": "mcstudy kernel lab matrix: every kernel line and architecture in QEMU",
            "study_name": "lab-matrix",
            "sweep_dims": "[]",
            "runs": len(runs),
            "runs_done": len(ran),
            "disagreements": int(
                sum(int(bad[kernels.index(r.kernel), arches.index(r.arch)]) for r in ran)
            ),
            "provenance": json.dumps(provenance, sort_keys=True, default=str),
        }
    )
    return ds


def is_matrix_dataset(ds: xr.Dataset) -> bool:
    """``ds`` was written by ``mcstudy lab --matrix``."""
    return ds.attrs.get("model") == MATRIX_MODEL


__all__ = [
    "MATRIX_MODEL",
    "MatrixRun",
    "build_matrix_dataset",
    "is_matrix_dataset",
    "matrix_runs",
    "run_matrix",
]
