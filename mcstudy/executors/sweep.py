"""The coordinator of a sweep: decide what to run, hand it out, commit what comes back.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import xarray as xr

from mcstudy.errors import ConfigError
from mcstudy.executors.checked import dumps_body
from mcstudy.executors.errors import RunDirError
from mcstudy.executors.manifest import build_manifest, write_manifest
from mcstudy.executors.points import DONE, FAILED, write_point
from mcstudy.executors.rundir import RunDir
from mcstudy.executors.shards import Shard
from mcstudy.executors.version import code_version, describe, same_code
from mcstudy.executors.worker import PointTask, lost_body
from mcstudy.study import Study

#: the manifest is rewritten after a commit unless that would spend more than about
#: 1/MANIFEST_COST_RATIO of the time writing it; and at least every MANIFEST_MAX_SECONDS
MANIFEST_COST_RATIO = 20.0
MANIFEST_MAX_SECONDS = 2.0


class Executor(Protocol):
    name: str
    threads: int | None

    def describe(self) -> dict[str, Any]: ...
    def __enter__(self) -> Executor: ...
    def __exit__(self, *exc: object) -> None: ...
    def run(self, tasks: list[PointTask]) -> Any: ...


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


def check_adaptive(study: Study) -> None:
    """ConfigError if the study asks for adaptive precision its model cannot give."""
    from mcstudy.runner import supports_adaptive

    if study.section.target_rel_err is not None and not supports_adaptive(study.model):
        raise ConfigError(
            f"{study.source}: [study] target_rel_err: model {study.section.model!r} has no "
            f"standard error for its main estimate {study.model.main_estimate!r}"
        )


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


def compute_in_memory(
    study: Study, executor: Executor, show_progress: bool = False
) -> tuple[dict[int, dict[str, Any]], dict[str, Any]]:
    """Compute every point without a run directory (``run_study``): the records, as
    they would be read back from disk, and the run facts."""
    from tqdm import tqdm

    check_adaptive(study)
    t0 = time.perf_counter()
    code = code_version(study.model)
    config_hash = study.config_hash()
    tasks = _tasks(study, executor, list(range(study.n_points)), None, {})
    records: dict[int, dict[str, Any]] = {}
    by_index = {t.point.index: t for t in tasks}
    with (
        executor,
        tqdm(total=len(tasks), unit="pt", desc=study.name, disable=not show_progress) as bar,
    ):
        for body in executor.run(tasks):
            body = _accept(body, by_index[body["point"]], config_hash, code)
            records[int(body["point"])] = json.loads(dumps_body(body))
            bar.update()
    return records, _facts(executor, t0, records.values(), len(records), 0)


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
    from tqdm import tqdm

    from mcstudy.executors.assemble import assemble

    options = options or SweepOptions()
    check_adaptive(study)
    t0 = time.perf_counter()
    model = study.model
    code = code_version(model)
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
        by_index = {t.point.index: t for t in tasks}
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
                for body in executor.run(tasks):
                    index = int(body["point"])
                    body = _accept(body, by_index[index], config_hash, code)
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
        dataset = assemble(rd.path, run_facts=facts).dataset
    return SweepResult(
        rd.path, shard, dataset, counts, len(computed), reused, failed, quarantined, facts
    )
