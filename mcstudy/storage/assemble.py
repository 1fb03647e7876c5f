"""Point records -> the final dataset; and what may differ between two runs of it.

The dataset is ``store.build_dataset`` of the decoded per-point values (so its format is
unchanged), plus

* ``point_status`` (int8, per point): 0 pending, 1 done, 2 failed (CF ``flag_values``);
  a point that is not done has NaN in every float variable and -1 in every integer one,
  it is never dropped;
* with adaptive precision, ``main_rel_err`` and ``target_met``;
* the running main estimate of every point (``mcstudy.storage.running``).

Per-point provenance (host, pid, executor, worker, Numba threads, start time, seconds,
shard, SLURM ids, attempt) stays in the point files and ``manifest.json`` of the run
directory; the ``provenance`` attribute summarises it. Every variable is a result: two
runs of the same study by the same code give datasets identical bit for bit except for
the keys ``RUN_PROVENANCE_KEYS`` of the ``provenance`` attribute (where, when and how the
run went: hosts, executor, workers, threads, timings, SLURM ids). ``differences``
compares everything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcstudy.findings import FINDINGS_ATTR, encode_findings, study_findings
from mcstudy.storage.dataset import (
    REL_ERR,
    TARGET_MET,
    build_dataset,
    column_cells,
    empty_columns,
    fill_columns,
)
from mcstudy.storage.points import DONE, FAILED, PENDING, findings_of, values_of
from mcstudy.storage.provenance import environment
from mcstudy.storage.rundir import RunDir
from mcstudy.storage.running import running_series, running_variables
from mcstudy.storage.version import same_code
from mcstudy.study import Study

if TYPE_CHECKING:
    import xarray as xr  # imported where used: a run needs it only at its end

POINT_STATUS_CODES = {PENDING: 0, DONE: 1, FAILED: 2}
RUN_PROVENANCE_KEYS = frozenset(
    {
        # environment of the process that assembled the dataset
        "host",
        "platform",
        "numba_threading_layer",
        "numba_threads",
        # how this run went
        "executor",
        "scheduler",
        "workers",
        "threads_per_worker",
        "wall_seconds",
        "compile_seconds",
        "run_seconds",
        "points_computed",
        "points_reused",
        "run_dir",
        # summaries of the points' run facts
        "executors",
        "hosts",
        "numba_threads_per_point",
        "point_seconds_total",
        "shards",
        "slurm_array_jobs",
    }
)
RNG = "Philox4x32-10, key=SplitMix64(seed, point), counter=(call, block, substream)"


@dataclass
class Assembly:
    """A dataset assembled from a run directory, and its gaps."""

    dataset: xr.Dataset
    study: Study
    counts: dict[str, int]
    pending: list[int]
    failed: list[int]
    invalid: list[tuple[Path, int | None, str]] = field(default_factory=list)
    code_differs: bool = False
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    code: dict[str, Any] = field(default_factory=dict)


def _sorted_set(values: Any) -> list[Any]:
    return sorted({v for v in values if v is not None}, key=str)


def dataset_provenance(
    study: Study,
    records: dict[int, dict[str, Any]],
    code: dict[str, Any],
    run_facts: dict[str, Any],
) -> dict[str, Any]:
    """The ``provenance`` attribute: environment, config, code version, seeds, and a
    summary of the points' run facts."""
    runs = [r.get("provenance") or {} for r in records.values()]
    counts = {DONE: 0, FAILED: 0, PENDING: 0}
    for i in range(study.n_points):
        counts[records[i]["status"] if i in records else PENDING] += 1
    slurm_jobs = [
        (p.get("slurm") or {}).get("array_job_id") or (p.get("slurm") or {}).get("job_id")
        for p in runs
    ]
    return {
        **environment(),
        "config_path": study.source,
        "config_text": study.text,
        "overrides": list(study.overrides),
        "config_hash": study.config_hash(),
        "code_version": code,
        "seed": study.section.seed,
        "block_size": study.section.block_size,
        "target_rel_err": study.section.target_rel_err,
        "max_sequences": study.section.max_sequences,
        "rng": RNG,
        "points": counts,
        "executors": _sorted_set(p.get("executor") for p in runs),
        "hosts": _sorted_set(p.get("host") for p in runs),
        "numba_threads_per_point": _sorted_set(p.get("numba_threads") for p in runs),
        "point_seconds_total": float(sum(float(p.get("seconds") or 0.0) for p in runs)),
        "shards": _sorted_set(p.get("shard") for p in runs),
        "slurm_array_jobs": _sorted_set(slurm_jobs),
        "point_provenance": "points/point-NNNNNNN.json and manifest.json of the run directory",
        **run_facts,
    }


class ColumnRow(Mapping[str, Any]):
    """One point's values in the columns of a :class:`Collector`, keyed as the point's own
    values (one key per cell of a variable with output dimensions): a value not computed
    there (NaN, or -1 for an integer) is absent."""

    def __init__(
        self,
        columns: Mapping[str, np.ndarray],
        index: int,
        where: Mapping[str, tuple[str, tuple[int, ...]]] | None = None,
    ) -> None:
        self._columns = columns
        self._index = index
        self._where = where if where is not None else {n: (n, ()) for n in columns}

    def __getitem__(self, name: str) -> Any:
        column, idx = self._where[name]
        x = self._columns[column][(self._index, *idx)]
        if (x != x) if x.dtype.kind == "f" else x == -1:
            raise KeyError(name)
        return x.item()

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._where if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        try:
            self[name]  # type: ignore[index]
        except KeyError:
            return False
        return True


class Collector:
    """The values of each done record, put into flat arrays as the record is read (a sink
    of ``RunDir.scan``): assembling a sweep holds no dictionary of values per point."""

    def __init__(self, study: Study) -> None:
        n = study.n_points
        self.model = study.model
        self.columns = empty_columns(study.model, n)
        self.where = column_cells(study.model)
        self.running: dict[int, np.ndarray] = {}
        """each done point's running main estimate (``running.running_series``)"""
        self.adaptive = study.section.target_rel_err is not None
        self.rel = np.full(n, np.nan) if self.adaptive else None
        self.met = np.full(n, -1, dtype=np.int8) if self.adaptive else None

    def rows(self, indices: Iterable[int]) -> dict[int, Mapping[str, Any]]:
        """The values of points ``indices`` as read-only mappings over the columns (what
        ``mcstudy.findings.study_findings`` reads), without a dictionary per point."""
        return {i: ColumnRow(self.columns, i, self.where) for i in indices}

    def add(self, index: int, body: dict[str, Any]) -> None:
        run = running_series(self.model, body)
        if run is not None:
            self.running[index] = run
        res = values_of(body)
        fill_columns(self.columns, index, res, self.where)
        if self.adaptive and REL_ERR in res:
            self.rel[index] = res[REL_ERR]  # type: ignore[index]
            self.met[index] = res[TARGET_MET]  # type: ignore[index]


def dataset_from_records(
    study: Study,
    records: dict[int, dict[str, Any]],
    code: dict[str, Any],
    run_facts: dict[str, Any] | None = None,
    collected: Collector | None = None,
) -> xr.Dataset:
    """The final dataset of ``study`` from its point records (missing points: NaN);
    ``code`` is the code version that computed them. ``records`` are whole bodies, or
    slim records (``points.slim_record``) whose values ``collected`` took as they were
    read."""
    model = study.model
    n = study.n_points
    if collected is None:
        collected = Collector(study)
        for i, body in records.items():
            collected.add(i, body)
    provenance = dataset_provenance(study, records, code, run_facts or {})
    ds = build_dataset(study, model, collected.columns, provenance)
    done = [i for i in sorted(records) if records[i]["status"] == DONE]
    ds.attrs[FINDINGS_ATTR] = encode_findings(
        study_findings(
            model,
            collected.rows(done),
            [f for i in sorted(records) for f in findings_of(records[i])],
        )
    )
    dims = list(study.sweep)
    shape = study.shape

    status = np.zeros(n, dtype=np.int8)
    for i, body in records.items():
        status[i] = POINT_STATUS_CODES[body["status"]]
    ds["point_status"] = (
        dims,
        status.reshape(shape),
        {
            "long_name": "status of the sweep point (not done: NaN / -1 in every variable)",
            "flag_values": np.array(list(POINT_STATUS_CODES.values()), dtype=np.int8),
            "flag_meanings": " ".join(POINT_STATUS_CODES),
        },
    )
    if collected.adaptive:
        assert collected.rel is not None and collected.met is not None
        ds[REL_ERR] = (
            dims,
            collected.rel.reshape(shape),
            {
                "units": "1",
                "long_name": f"relative standard error of {model.main_estimate} at stop "
                f"(target {study.section.target_rel_err})",
            },
        )
        ds[TARGET_MET] = (
            dims,
            collected.met.reshape(shape),
            {
                "long_name": "1 if target_rel_err was reached, 0 if max_sequences was",
                "missing_value_note": "-1 where not computed",
            },
        )
    for name, var in running_variables(study, model, collected.running).items():
        ds[name] = var
    return ds


def assemble(
    run_dir: str | Path, current_code: dict[str, Any], run_facts: dict[str, Any] | None = None
) -> Assembly:
    """Assemble the dataset of a run directory from its verified point files.

    Damaged or foreign files are listed in ``invalid`` and treated as pending: never
    merged. ``code_differs`` tells that ``current_code`` (this mcstudy's code version of
    the model) is not the code that computed the points (the dataset is still theirs:
    values come from the files).
    """
    rd = RunDir(run_dir)
    info = rd.info()
    study = rd.load_study()
    code = info["code_version"]
    collected = Collector(study)
    scan = rd.scan(study, code, sink=collected.add)  # one record in memory at a time
    facts = {"executor": "merge"} if run_facts is None else run_facts
    facts = {"run_dir": rd.path.name, **facts}
    ds = dataset_from_records(study, scan.records, code, facts, collected)
    indices = range(study.n_points)
    return Assembly(
        ds,
        study,
        scan.counts(indices),
        [i for i in indices if scan.status(i) == PENDING],
        [i for i in indices if scan.status(i) == FAILED],
        scan.invalid,
        not same_code(code, current_code),
        scan.records,
        code,
    )


def _same_array(a: xr.DataArray, b: xr.DataArray) -> bool:
    va, vb = np.asarray(a.values), np.asarray(b.values)
    if va.dtype != vb.dtype or va.shape != vb.shape:
        return False
    if va.dtype == object or va.dtype.kind in "US":
        return va.tolist() == vb.tolist()
    return va.tobytes() == vb.tobytes()


def _same_attr(x: Any, y: Any) -> bool:
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(np.asarray(x), np.asarray(y))
    return x == y


def differences(a: xr.Dataset, b: xr.Dataset) -> list[str]:
    """Everything that differs between two datasets except run facts (empty if they are
    the same results bit for bit). Ignores only ``RUN_PROVENANCE_KEYS``."""
    out: list[str] = []
    names_a = set(a.variables)
    names_b = set(b.variables)
    if names_a != names_b:
        out.append(f"variables differ: {sorted(names_a ^ names_b)}")
    for name in sorted(names_a & names_b):
        va, vb = a[name], b[name]
        if va.dims != vb.dims:
            out.append(f"{name}: dims {va.dims} != {vb.dims}")
        elif not _same_array(va, vb):
            out.append(f"{name}: values differ")
        if set(va.attrs) != set(vb.attrs) or any(
            not _same_attr(va.attrs[k], vb.attrs[k]) for k in va.attrs
        ):
            out.append(f"{name}: attributes differ")
    attrs_a = {k: v for k, v in a.attrs.items() if k != "provenance"}
    attrs_b = {k: v for k, v in b.attrs.items() if k != "provenance"}
    for key in sorted(set(attrs_a) | set(attrs_b)):
        if not _same_attr(attrs_a.get(key), attrs_b.get(key)):
            out.append(f"attribute {key}: {attrs_a.get(key)!r} != {attrs_b.get(key)!r}")
    pa = json.loads(a.attrs.get("provenance", "{}"))
    pb = json.loads(b.attrs.get("provenance", "{}"))
    for key in sorted((set(pa) | set(pb)) - RUN_PROVENANCE_KEYS):
        if pa.get(key) != pb.get(key):
            out.append(f"provenance {key}: {pa.get(key)!r} != {pb.get(key)!r}")
    return out
