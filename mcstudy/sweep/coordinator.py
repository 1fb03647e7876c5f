"""The coordinator of a sweep: decide what to run, hand it out, commit what comes back.

It sits above the executors (where points run) and the storage (where results go).

``run_sweep`` prepares the run directory (or checks that it holds this study), scans
the point files already there (quarantining damaged or foreign ones), picks the points
still to compute (all, the pending ones with ``resume``, plus the failed ones with
``retry_failed``; only this shard's with ``shard``), runs them on an executor and
commits each record atomically the moment it arrives. A point is either committed
completely or not at all, so the process can be killed at any moment (SIGKILL
included) and resumed with no loss beyond the points in flight. Without a shard, the
final dataset is then assembled from the point files on disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr
from tqdm import tqdm

from mcstudy.executors.base import Executor, TaskLost
from mcstudy.executors.local import LocalExecutor
from mcstudy.findings import Finding
from mcstudy.storage.assemble import assemble, dataset_from_records
from mcstudy.storage.checked import dumps_body
from mcstudy.storage.errors import RunDirError
from mcstudy.storage.manifest import build_manifest, write_manifest
from mcstudy.storage.points import DONE, FAILED, findings_of, write_point
from mcstudy.storage.rundir import RunDir
from mcstudy.storage.version import describe, same_code
from mcstudy.study import Study
from mcstudy.sweep.point import point_code_version
from mcstudy.sweep.shards import Shard
from mcstudy.sweep.task import PointTask, compute_point, lost_body, task_label

#: the manifest is rewritten after a commit unless that would spend more than about
#: 1/MANIFEST_COST_RATIO of the time writing it; and at least every MANIFEST_MAX_SECONDS
MANIFEST_COST_RATIO = 20.0
MANIFEST_MAX_SECONDS = 2.0


@dataclass(frozen=True)
class SweepOptions:
    """How to treat existing results, and which points are ours.

    ``resume``: keep committed points (done and failed), compute the pending ones.
    ``retry_failed``: as ``resume``, and recompute the failed points too.
    ``restart``: discard the run directory's results first.
    ``shard``: compute only this shard's points (implies ``resume``: array tasks share
    the directory, and a requeued task continues where it stopped).
    """

    resume: bool = False
    retry_failed: bool = False
    restart: bool = False
    shard: Shard | None = None
    show_progress: bool = True
    dataset_name: str | None = None


@dataclass
class SweepResult:
    """What a sweep did. ``dataset`` is None for a shard (``mcstudy merge`` builds it)."""

    run_dir: Path
    shard: Shard | None
    dataset: xr.Dataset | None
    counts: dict[str, int]
    computed: int
    reused: int
    failed: list[int]
    quarantined: list[tuple[Path, str]] = field(default_factory=list)
    run_facts: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    """disagreements and warnings of this run's (or shard's) done points"""


def _accept(
    body: dict[str, Any], task: PointTask, config_hash: str, code: dict[str, Any]
) -> dict[str, Any]:
    """The body to commit: a worker's record if it belongs to this run, else a failure
    saying why (e.g. a Dask worker running another mcstudy version)."""
    if body.get("point") != task.point.index:
        return lost_body(task, "ForeignResult", f"worker returned point {body.get('point')!r}")
    if body.get("config_hash") != config_hash:
        return lost_body(task, "ForeignResult", "worker computed another config")
    theirs = body.get("code_version")
    if not isinstance(theirs, dict) or not same_code(theirs, code):
        other = describe(theirs) if isinstance(theirs, dict) else "unknown code"
        return lost_body(
            task,
            "CodeVersionMismatch",
            f"worker runs {other}, this run needs {describe(code)}; install the same "
            "mcstudy on every worker",
        )
    return body


def _tasks(
    study: Study, executor: Executor, indices: list[int], shard: Shard | None, attempts: dict
) -> list[PointTask]:
    model = study.model
    points = {p.index: p for p in study.points()}
    return [
        PointTask(
            study,
            model,
            points[i],
            executor.threads,
            executor.name,
            None if shard is None else str(shard),
            {"attempt": attempts.get(i, 1)},
        )
        for i in indices
    ]


def _results(
    executor: Executor, tasks: list[PointTask], config_hash: str, code: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Record bodies of ``tasks`` as the executor finishes them, each checked to belong
    to this run (a lost task becomes a ``failed`` record saying why)."""
    for task, result in executor.map(compute_point, tasks, label=task_label):
        if isinstance(result, TaskLost):
            yield lost_body(task, result.error_type, result.message)
        else:
            yield _accept(result, task, config_hash, code)


def compute_in_memory(
    study: Study, executor: Executor, show_progress: bool = False
) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Compute every point without a run directory (``run_study``): the records, as
    they would be read back from disk, and the run facts."""
    t0 = time.perf_counter()
    code = point_code_version(study.model)
    tasks = _tasks(study, executor, list(range(study.n_points)), None, {})
    records: dict[int, dict[str, Any]] = {}
    with (
        executor,
        tqdm(total=len(tasks), unit="pt", desc=study.name, disable=not show_progress) as bar,
    ):
        for body in _results(executor, tasks, study.config_hash(), code):
            records[int(body["point"])] = json.loads(dumps_body(body))
            bar.update()
    return records, _facts(executor, t0, records.values(), len(records), 0)


def run_study(study: Study, threads: int | None = None, show_progress: bool = True) -> xr.Dataset:
    """Run all points of ``study`` in this process, in memory; returns the dataset.

    The same point pipeline and dataset assembly as ``mcstudy run`` (without a run
    directory), so the result is bit-identical to a run on any executor.
    """
    executor = LocalExecutor(workers=1, threads=threads)
    records, facts = compute_in_memory(study, executor, show_progress=show_progress)
    return dataset_from_records(study, records, point_code_version(study.model), facts)


def _facts(
    executor: Executor, t0: float, bodies: Any, computed: int, reused: int
) -> dict[str, Any]:
    wall = time.perf_counter() - t0
    compile_seconds = max(
        [float((b.get("provenance") or {}).get("compile_seconds") or 0.0) for b in bodies] or [0.0]
    )
    return {
        **executor.describe(),
        "wall_seconds": wall,
        "compile_seconds": compile_seconds,
        "run_seconds": max(0.0, wall - compile_seconds),
        "points_computed": computed,
        "points_reused": reused,
    }


def run_sweep(
    study: Study,
    run_dir: str | Path,
    executor: Executor,
    options: SweepOptions | None = None,
    on_commit: Callable[[int, dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run (or continue) the sweep of ``study`` in ``run_dir`` on ``executor``.

    ``on_commit(index, body)`` is called after each point is committed.
    Raises RunDirError if the directory holds another config or code version, or
    holds results and neither resume, retry nor restart was asked for.
    """
    options = options or SweepOptions()
    t0 = time.perf_counter()
    model = study.model
    code = point_code_version(model)
    config_hash = study.config_hash()
    rd = RunDir(run_dir)
    shard = options.shard
    resume = options.resume or options.retry_failed or shard is not None
    if options.restart:
        rd.clear()
    rd.prepare(study, code, options.dataset_name or f"{rd.path.stem}.nc")

    points = list(study.points())
    owned = shard.owns if shard is not None else None
    mine = [p.index for p in points if owned is None or owned(p.index)]
    scan = rd.scan(study, code, points, owned)
    if not resume and (scan.records or scan.invalid):
        unusable = f" and {len(scan.invalid)} unusable point file(s)" if scan.invalid else ""
        raise RunDirError(
            f"{rd.path} already holds {len(scan.records)} point result(s) of this "
            f"study{unusable}; pass --resume to keep them and compute the rest, "
            "--retry-failed to also recompute failed points, or --restart to recompute "
            "everything"
        )
    quarantined = [(path, reason) for path, _, reason in scan.invalid]
    for path, _, reason in scan.invalid:
        rd.quarantine(path, reason)
    records = scan.records
    todo = [
        i
        for i in mine
        if i not in records or (options.retry_failed and records[i]["status"] == FAILED)
    ]
    attempts = {
        i: int((records[i].get("provenance") or {}).get("attempt") or 1) + 1
        for i in todo
        if i in records
    }
    reused = len(mine) - len(todo)
    rd.clean_partials(set(todo))

    manifest_path = rd.manifest_file(shard)
    rd.clean_manifest_partials(manifest_path)
    mine_points = [points[i] for i in mine]
    last_write = 0.0
    write_cost = 0.0

    def write_current_manifest() -> None:
        nonlocal last_write, write_cost
        t = time.monotonic()
        write_manifest(
            manifest_path,
            build_manifest(
                study,
                mine_points,
                records,
                config_hash=config_hash,
                code_version=code,
                invalid=scan.invalid,
                shard=None if shard is None else str(shard),
            ),
        )
        last_write = time.monotonic()
        write_cost = last_write - t

    write_current_manifest()
    computed: list[dict[str, Any]] = []
    if todo:
        tasks = _tasks(study, executor, todo, shard, attempts)
        with (
            executor,
            tqdm(
                total=len(tasks),
                unit="pt",
                desc=study.name if shard is None else f"{study.name} [{shard}]",
                disable=not options.show_progress,
            ) as bar,
        ):
            try:
                for body in _results(executor, tasks, config_hash, code):
                    index = int(body["point"])
                    write_point(rd.points_dir, body)
                    records[index] = body
                    computed.append(body)
                    bar.update()
                    waited = time.monotonic() - last_write
                    if waited >= min(MANIFEST_COST_RATIO * write_cost, MANIFEST_MAX_SECONDS):
                        write_current_manifest()
                    if on_commit is not None:
                        on_commit(index, body)
            finally:
                write_current_manifest()
    facts = _facts(executor, t0, computed, len(computed), reused)
    counts = {DONE: 0, FAILED: 0, "pending": 0}
    for i in mine:
        counts[records[i]["status"] if i in records else "pending"] += 1
    failed = [i for i in mine if i in records and records[i]["status"] == FAILED]
    dataset = None
    if shard is None:
        dataset = assemble(rd.path, code, run_facts=facts).dataset
    found = [f for i in mine if i in records for f in findings_of(records[i])]
    return SweepResult(
        rd.path, shard, dataset, counts, len(computed), reused, failed, quarantined, facts, found
    )
