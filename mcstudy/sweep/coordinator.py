"""The coordinator of a sweep: decide what to run, hand it out, commit what comes back.

It sits above the executors (where points run) and the storage (where results go).

``run_sweep`` creates the run directory (or checks that it holds this study), takes its
lock (one whole run, or the shards of one array, at a time), scans the point files
already there (quarantining damaged or foreign ones), picks the points
still to compute (all, the pending ones with ``resume``, plus the failed ones with
``retry_failed``; only this shard's with ``shard``), runs them on an executor and
commits each record atomically the moment it arrives. A point is either committed
completely or not at all, so the process can be killed at any moment (SIGKILL
included) and resumed with no loss beyond the points in flight. Without a shard, the
final dataset is then assembled from the point files on disk. Ctrl-C
(KeyboardInterrupt) stops it at once: nothing more is committed, the point in flight is
abandoned, never recorded as failed, and :class:`SweepInterrupted` says what is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcstudy.executors.base import Executor, TaskLost
from mcstudy.executors.local import LocalExecutor
from mcstudy.findings import Finding, study_findings
from mcstudy.storage.assemble import Collector
from mcstudy.storage.checked import dumps_body
from mcstudy.storage.contents import record_problem
from mcstudy.storage.errors import RunDirError, WriteError
from mcstudy.storage.manifest import build_manifest, write_manifest
from mcstudy.storage.points import DONE, FAILED, findings_of, slim_record, write_point
from mcstudy.storage.rundir import RunDir
from mcstudy.storage.version import describe, same_code
from mcstudy.study import Study
from mcstudy.sweep.interrupt import set_context, sigint_handler
from mcstudy.sweep.point import point_code_version
from mcstudy.sweep.progress import CompileNotice, SweepProgress, wait_for
from mcstudy.sweep.shards import Shard
from mcstudy.sweep.task import PointTask, compute_point, lost_body, task_label, warm_model

if TYPE_CHECKING:
    import xarray as xr

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
    warn: Callable[[str], None] | None = None
    """receives warnings (e.g. a file system without locks); None: ignore them"""


class SweepWriteFailed(WriteError):
    """The file system refused a write during a sweep (no space, no inodes, read-only):
    the sweep stopped; ``done`` of ``total`` points of this run (or shard) are committed
    in ``run_dir`` and kept, and ``--resume`` computes the rest once there is room."""

    def __init__(self, exc: WriteError, run_dir: Path, done: int, total: int) -> None:
        super().__init__(str(exc), exc.errno, exc.reason)
        self.run_dir = run_dir
        self.done = done
        self.total = total


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a sweep: ``done`` of ``total`` points of this run (or shard) are
    committed in ``run_dir`` and kept; ``--resume`` computes the rest."""

    def __init__(self, run_dir: Path, done: int, total: int) -> None:
        super().__init__(f"{run_dir}: {done} of {total} points committed")
        self.run_dir = run_dir
        self.done = done
        self.total = total


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
    """findings and notes of this run's (or shard's) done points
    (``mcstudy.findings.study_findings``)"""
    sequences: tuple[int, int] = (0, 0)
    """fewest and most sequences of a done point (they differ with adaptive precision)"""


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
    why = record_problem(body, task.study)
    if why is not None:
        return lost_body(task, "ImpossibleResult", f"worker returned {why}")
    return body


def _tasks(
    study: Study,
    executor: Executor,
    indices: list[int],
    shard: Shard | None,
    attempts: dict,
    points: list[Any] | None = None,
) -> list[PointTask]:
    model = study.model
    if points is None:
        by_index = {i: study.point(i) for i in indices}  # validated: these points run
    else:
        by_index = {p.index: p for p in points}
    return [
        PointTask(
            study,
            model,
            by_index[i],
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
    with executor, SweepProgress(len(tasks), study.name, show_progress) as bar:
        for body in _results(executor, tasks, study.config_hash(), code):
            records[int(body["point"])] = json.loads(dumps_body(body))
            bar.update()
    return records, _facts(executor, t0, records.values(), len(records), 0)


def run_study(study: Study, threads: int | None = None, show_progress: bool = True) -> xr.Dataset:
    """Run all points of ``study`` in this process, in memory; returns the dataset.

    The same point pipeline and dataset assembly as ``mcstudy run`` (without a run
    directory), so the result is bit-identical to a run on any executor.
    """
    from mcstudy.storage.assemble import dataset_from_records

    executor = LocalExecutor(workers=1, threads=threads)
    records, facts = compute_in_memory(study, executor, show_progress=show_progress)
    return dataset_from_records(study, records, point_code_version(study.model), facts)


def _facts(
    executor: Executor,
    t0: float,
    bodies: Any,
    computed: int,
    reused: int,
    compiled_here: float = 0.0,
) -> dict[str, Any]:
    wall = time.perf_counter() - t0
    compile_seconds = max(
        [float((b.get("provenance") or {}).get("compile_seconds") or 0.0) for b in bodies]
        + [compiled_here]
    )
    return {
        **executor.describe(),
        "wall_seconds": wall,
        "compile_seconds": compile_seconds,
        "run_seconds": max(0.0, wall - compile_seconds),
        "points_computed": computed,
        "points_reused": reused,
    }


def _warm_up(study: Study, executor: Executor, todo: list[Any], show: bool) -> float:
    """Compile the kernel variants the points to do need, before they are handed out,
    saying so if it takes long (a first run); returns seconds. In this process for the
    local executor; for one on this machine (worker processes, a LocalCluster) it fills
    Numba's disk cache, which the workers then load. Skipped for a remote cluster."""
    if not getattr(executor, "shares_cache", True):
        return 0.0
    model = study.model
    params = [p.params for p in todo]
    notice = CompileNotice(show)
    t0 = time.perf_counter()
    try:
        wait_for(lambda: warm_model(model, params), notice.tick, name="mcstudy-compile")
    except Exception:  # the points warm up again themselves, and record the error
        pass
    seconds = time.perf_counter() - t0
    notice.done(seconds)
    return seconds


def run_sweep(
    study: Study,
    run_dir: str | Path,
    executor: Executor,
    options: SweepOptions | None = None,
    on_commit: Callable[[int, dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run (or continue) the sweep of ``study`` in ``run_dir`` on ``executor``.

    ``on_commit(index, body)`` is called after each point is committed.
    Raises RunDirError if the directory holds another config or code version, holds
    results and neither resume, retry nor restart was asked for, or is in use by another
    run; SweepInterrupted on Ctrl-C; WriteError if the run directory cannot be created
    (nothing was written) and SweepWriteFailed if a write fails later (a full disk: what
    was committed is kept).
    """
    options = options or SweepOptions()
    rd = RunDir(run_dir)
    shard = options.shard
    rd.create(study, point_code_version(study.model), options.dataset_name or _dataset_name(rd))
    lock = rd.lock(None if shard is None else (shard.index, shard.count), warn=options.warn)
    kept = _Kept()
    with lock:
        try:
            return _locked_sweep(study, rd, executor, options, on_commit, kept)
        except WriteError as exc:
            raise SweepWriteFailed(exc, rd.path, kept.done(), len(kept.mine)) from None


@dataclass
class _Kept:
    """The points of this run (or shard) and the records committed so far, for the
    message of a sweep stopped by a failed write."""

    mine: list[int] = field(default_factory=list)
    records: dict[int, dict[str, Any]] = field(default_factory=dict)

    def done(self) -> int:
        return sum(1 for i in self.mine if i in self.records)


def _dataset_name(rd: RunDir) -> str:
    return f"{rd.path.stem}.nc"


def _locked_sweep(
    study: Study,
    rd: RunDir,
    executor: Executor,
    options: SweepOptions,
    on_commit: Callable[[int, dict[str, Any]], None] | None,
    kept: _Kept,
) -> SweepResult:
    t0 = time.perf_counter()
    model = study.model
    code = point_code_version(model)
    config_hash = study.config_hash()
    shard = options.shard
    resume = options.resume or options.retry_failed or shard is not None
    if options.restart:
        rd.clear()
        rd.rewrite_study(study, code, options.dataset_name or _dataset_name(rd))
    else:
        rd.check_study(study, code)
    rd.clean_stale(everything=shard is None)

    owned = shard.owns if shard is not None else None
    mine = [i for i in range(study.n_points) if owned is None or owned(i)]
    # the records kept are slim (points.slim_record): about 1 KB a point, any model
    collected = Collector(study)  # the done points' values, for the study's findings
    scan = rd.scan(study, code, owned=owned, sink=collected.add)
    if not resume and (scan.records or scan.invalid):
        unusable = f" and {len(scan.invalid)} unusable point file(s)" if scan.invalid else ""
        raise RunDirError(
            f"{rd.path} already holds {len(scan.records)} point result(s) of this "
            f"study{unusable}; pass --resume to keep them and compute the rest, "
            "--retry-failed to also recompute failed points, or --restart to recompute "
            "everything"
        )
    kept.mine, kept.records = mine, scan.records
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

    manifest_path = rd.manifest_file(shard)
    last_write = 0.0
    write_cost = 0.0

    def write_current_manifest() -> None:
        nonlocal last_write, write_cost
        t = time.monotonic()
        write_manifest(
            manifest_path,
            build_manifest(
                study,
                mine,
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
    compiled = 0.0
    try:
        if todo:
            # Ctrl-C raises KeyboardInterrupt only here, where the main thread waits
            with sigint_handler():
                todo_points = [study.point(i) for i in todo]
                compiled = _warm_up(study, executor, todo_points, options.show_progress)
                tasks = _tasks(study, executor, todo, shard, attempts, todo_points)
                desc = study.name if shard is None else f"{study.name} [{shard}]"
                with executor, SweepProgress(len(tasks), desc, options.show_progress) as bar:
                    try:
                        for body in _results(executor, tasks, config_hash, code):
                            index = int(body["point"])
                            write_point(rd.points_dir, body)
                            records[index] = kept_now = slim_record(body)
                            collected.add(index, body)
                            computed.append(kept_now)
                            bar.update()
                            waited = time.monotonic() - last_write
                            if waited >= min(
                                MANIFEST_COST_RATIO * write_cost, MANIFEST_MAX_SECONDS
                            ):
                                write_current_manifest()
                            if on_commit is not None:
                                on_commit(index, body)
                    except BaseException:
                        try:  # the manifest is derived: a failure to write it must not
                            write_current_manifest()  # hide the Ctrl-C or the first error
                        except WriteError:
                            pass
                        raise
                    write_current_manifest()
    except KeyboardInterrupt:
        done = sum(1 for i in mine if i in records)
        raise SweepInterrupted(rd.path, done, len(mine)) from None
    done = sum(1 for i in mine if i in records)
    set_context(kept=f"{done} of {len(mine)} points are committed in {rd.path}")  # for Ctrl-C
    facts = _facts(executor, t0, computed, len(computed), reused, compiled)
    counts = {DONE: 0, FAILED: 0, "pending": 0}
    for i in mine:
        counts[records[i]["status"] if i in records else "pending"] += 1
    failed = [i for i in mine if i in records and records[i]["status"] == FAILED]
    dataset = None
    if shard is None:
        from mcstudy.storage.assemble import assemble

        dataset = assemble(rd.path, code, run_facts=facts).dataset
    found = study_findings(
        model,
        collected.rows(i for i in mine if records.get(i, {}).get("status") == DONE),
        [f for i in mine if i in records for f in findings_of(records[i])],
    )
    seqs = [_sequences(study, records[i]) for i in mine if records.get(i, {}).get("status") == DONE]
    return SweepResult(
        rd.path,
        shard,
        dataset,
        counts,
        len(computed),
        reused,
        failed,
        quarantined,
        facts,
        found,
        (min(seqs), max(seqs)) if seqs else (0, 0),
    )


def _sequences(study: Study, body: dict[str, Any]) -> int:
    """Sequences a done point simulated: its blocks, the last one possibly short."""
    sec = study.section
    cap = sec.max_sequences if sec.target_rel_err is not None else sec.sequences
    return min(int(body.get("blocks") or 0) * sec.block_size, int(cap or 0))
