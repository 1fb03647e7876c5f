"""What a worker does for one sweep point: compute it and return its record body.

``compute_point`` runs in whichever process the executor chose (this process, a spawned
worker, a Dask worker on another node). It never raises for a failing point: the
exception and its traceback become a ``failed`` record, so one bad point cannot stop a
sweep. It does not touch the run directory either: the coordinator verifies and commits
every record, so workers need no shared file system.
"""

from __future__ import annotations

import os
import platform
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mcstudy.engine.rng import stream_key
from mcstudy.executors.threads import available_cores
from mcstudy.models.base import Model, ModelParams
from mcstudy.storage.points import DONE, FAILED, RUNNING, encode_mapping, encode_running
from mcstudy.storage.provenance import threading_layer
from mcstudy.study import Point, Study
from mcstudy.sweep.point import point_code_version, run_point
from mcstudy.sweep.shards import slurm_facts

_WARM: set[tuple[type, str]] = set()
"""(model class, variant key) of the kernel variants this process has compiled"""


@dataclass(frozen=True)
class PointTask:
    """One point to compute: the study, the model instance, the point, and how.

    ``threads``: Numba threads for this point (None: the process's setting, or for a
    Dask worker its cores divided by its task slots). ``shard``: ``"I/N"`` or None.
    """

    study: Study
    model: Model
    point: Point
    threads: int | None
    executor: str
    shard: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def base_body(task: PointTask) -> dict[str, Any]:
    """The identifying part of a record: point, study, config hash, code, seed, key."""
    study = task.study
    seed = study.section.seed
    k0, k1 = stream_key(seed, task.point.index)
    return {
        "point": task.point.index,
        "coords": encode_mapping(task.point.coords),
        "study": study.name,
        "model": task.model.name,
        "config_hash": study.config_hash(),
        "code_version": point_code_version(task.model),
        "seed": seed,
        "stream_key": [k0, k1],
        "block_size": study.section.block_size,
    }


def _dask_worker() -> Any:
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _threads_for(task: PointTask) -> int | None:
    if task.threads is not None:
        return task.threads
    if task.executor == "dask":
        worker = _dask_worker()
        if worker is not None:
            import numba

            slots = max(1, int(getattr(worker, "nthreads", 1) or 1))
            cores = min(available_cores(), numba.config.NUMBA_NUM_THREADS)
            return max(1, cores // slots)
    return None


def _worker_name(task: PointTask) -> str:
    if task.executor == "dask":
        worker = _dask_worker()
        if worker is not None:
            return str(worker.address)
    return f"{platform.node()}:{os.getpid()}"


def run_facts(
    task: PointTask,
    started: datetime,
    seconds: float,
    compile_seconds: float,
    simulation_started: float | None = None,
):
    """Where, when and how the point ran (varies between runs; never compared).
    ``simulation_started`` (epoch s): when its first kernel call began (what
    ``mcstudy bench`` measures a start up to)."""
    import numba

    return {
        "host": platform.node(),
        "pid": os.getpid(),
        "executor": task.executor,
        "worker": _worker_name(task),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": threading_layer(),
        "started_utc": started.isoformat(timespec="milliseconds"),
        "seconds": seconds,
        "compile_seconds": compile_seconds,
        "simulation_started_utc": None
        if simulation_started is None
        else datetime.fromtimestamp(simulation_started, UTC).isoformat(timespec="milliseconds"),
        "shard": task.shard,
        "slurm": slurm_facts(os.environ),
        **task.extra,
    }


def warm_model(model: Model, params: Iterable[ModelParams]) -> float:
    """Compile (or load from Numba's cache) the kernel variants that points with these
    parameters need and that this process has not warmed yet; returns seconds (0.0 when
    there was nothing to do)."""
    params = list(params)
    todo = [v for v in model.warmup_variants(params) if (type(model), v.key) not in _WARM]
    if not todo:
        return 0.0
    t0 = time.perf_counter()
    model.run_warmups(todo, params)
    _WARM.update((type(model), v.key) for v in todo)
    return time.perf_counter() - t0


def compute_point(task: PointTask) -> dict[str, Any]:
    """Compute one point; returns its record body (``done`` or ``failed``)."""
    import numba

    threads = _threads_for(task)
    if threads is not None:
        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    body = base_body(task)
    compile_seconds = 0.0
    simulation_started = None
    try:
        compile_seconds = warm_model(task.model, [task.point.params])
        res = run_point(task.study, task.model, task.point)
        simulation_started = res.simulation_started
        body.update(
            status=DONE,
            values=encode_mapping(res.values),
            tallies=encode_mapping(res.tallies),
            blocks=res.blocks,
            findings=[f.as_dict() for f in res.findings],
        )
        if res.running is not None:
            body[RUNNING] = encode_running(res.running.as_dict())
    except Exception as exc:
        body.update(
            status=FAILED,
            error={
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            },
        )
    body["provenance"] = run_facts(
        task, started, time.perf_counter() - t0, compile_seconds, simulation_started
    )
    return body


def task_label(task: PointTask) -> str:
    """The name of a task on a scheduler: study and point."""
    return f"{task.study.name}-point-{task.point.index}"


def lost_body(task: PointTask, error_type: str, message: str) -> dict[str, Any]:
    """A ``failed`` record made by the coordinator when no worker could return one
    (a worker process died, Dask gave up on the task)."""
    body = base_body(task)
    body.update(
        status=FAILED,
        error={"type": error_type, "message": message, "traceback": ""},
        provenance={
            "host": platform.node(),
            "pid": os.getpid(),
            "executor": task.executor,
            "worker": None,
            "started_utc": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "seconds": 0.0,
            "shard": task.shard,
            "slurm": slurm_facts(os.environ),
            **task.extra,
        },
    )
    return body
