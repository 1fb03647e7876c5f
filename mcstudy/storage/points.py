"""The per-point record: one checksummed JSON file per sweep point.

A record holds everything the final dataset needs for its point, bit for bit (the
estimates, derived and exact values, the reduced tallies, the block count, and
``running``: the main estimate and its 95 % interval after each checkpoint), what it
belongs to (study name, model, config hash, code version, point index and coordinates,
seed and Philox key) and the run facts of its computation (``provenance``: host, pid,
executor, worker, Numba threads, start time, seconds, SLURM ids). A failed point has
``status = "failed"`` and an ``error`` (type, message, traceback) instead of values.

Floats are written with Python's shortest round-trip representation, which JSON
parsing turns back into the same IEEE-754 double; non-finite floats are written as
``{"float": "nan"}`` / ``"inf"`` / ``"-inf"`` (every NaN becomes the canonical quiet
NaN). Decoding a record therefore gives the bits that were computed, whichever
process, node or run reads it.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mcstudy.findings import Finding
from mcstudy.storage.checked import read_checked, write_checked
from mcstudy.storage.errors import CheckedFileError
from mcstudy.storage.version import describe, same_code

POINT_FORMAT = "mcstudy-point"
POINT_FORMAT_VERSION = 1
DONE = "done"
FAILED = "failed"
PENDING = "pending"
#: values added to a point's results when adaptive precision is on
REL_ERR = "main_rel_err"
TARGET_MET = "target_met"
#: a done record's running main estimate: {"estimate": name, "sequences": [...],
#: "value": [...], "low": [...], "high": [...]} (one entry per checkpoint)
RUNNING = "running"
RUNNING_SERIES = ("sequences", "value", "low", "high")
_NAME = re.compile(r"^point-(\d+)\.json$")


def point_filename(index: int) -> str:
    """File name of point ``index`` (``point-0000042.json``)."""
    return f"point-{index:07d}.json"


def index_of(name: str) -> int | None:
    """Point index of a point file name, or None if ``name`` is not one."""
    m = _NAME.match(name)
    return int(m.group(1)) if m else None


def encode_value(value: Any) -> Any:
    """A JSON value that decodes to exactly ``value`` (ints, floats, str, None)."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return {"float": "nan"}
        if math.isinf(x):
            return {"float": "inf" if x > 0 else "-inf"}
        return x
    raise TypeError(f"cannot store a {type(value).__name__} in a point record")


def decode_value(value: Any) -> Any:
    """Inverse of :func:`encode_value`."""
    if isinstance(value, dict):
        return float(value["float"])
    return value


def encode_mapping(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k): encode_value(v) for k, v in values.items()}


def decode_mapping(values: dict[str, Any]) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in values.items()}


def encode_running(running: dict[str, Any]) -> dict[str, Any]:
    """The ``running`` entry of a record (floats as :func:`encode_value` writes them)."""
    out: dict[str, Any] = {"estimate": str(running["estimate"])}
    for key in RUNNING_SERIES:
        out[key] = [encode_value(v) for v in running[key]]
    return out


def running_of(body: dict[str, Any]) -> dict[str, Any] | None:
    """The decoded running estimate of a done record (None: not recorded or malformed)."""
    run = body.get(RUNNING) if body.get("status") == DONE else None
    if not isinstance(run, dict) or not isinstance(run.get("estimate"), str):
        return None
    series = [run.get(key) for key in RUNNING_SERIES]
    if not all(isinstance(s, list) for s in series) or len({len(s) for s in series}) != 1:
        return None
    out: dict[str, Any] = {"estimate": run["estimate"]}
    for key, values in zip(RUNNING_SERIES, series, strict=True):
        out[key] = [decode_value(v) for v in values]
    return out


def write_point(points_dir: Path, body: dict[str, Any]) -> Path:
    """Commit a record atomically as ``points_dir/point-NNNNNNN.json``."""
    return write_checked(
        Path(points_dir) / point_filename(int(body["point"])),
        POINT_FORMAT,
        POINT_FORMAT_VERSION,
        body,
    )


def read_point(path: Path) -> dict[str, Any]:
    """Read and checksum-verify a point file (CheckedFileError if damaged/foreign)."""
    return read_checked(Path(path), POINT_FORMAT, POINT_FORMAT_VERSION)


def check_point(
    body: dict[str, Any],
    *,
    index: int,
    config_hash: str,
    code_version: dict[str, Any],
    coords: dict[str, Any],
) -> str | None:
    """Why a verified record cannot be used for point ``index`` of this run (None if it
    can): another point, another config, another code version, or malformed."""
    if body.get("point") != index:
        return f"holds point {body.get('point')!r}, not point {index}"
    if body.get("config_hash") != config_hash:
        return (
            f"foreign: computed for config {str(body.get('config_hash'))[:12]} "
            f"(study {body.get('study')!r}), not {config_hash[:12]}"
        )
    theirs = body.get("code_version")
    if not isinstance(theirs, dict) or not same_code(theirs, code_version):
        other = describe(theirs) if isinstance(theirs, dict) else repr(theirs)
        return f"foreign: computed by other code ({other}), not {describe(code_version)}"
    if body.get("coords") != encode_mapping(coords):
        return f"coordinates {body.get('coords')!r} differ from this point's {coords!r}"
    status = body.get("status")
    if status == DONE:
        if not isinstance(body.get("values"), dict) or not isinstance(body.get("tallies"), dict):
            return "malformed: a done point without values or tallies"
    elif status == FAILED:
        if not isinstance(body.get("error"), dict):
            return "malformed: a failed point without its error"
    else:
        return f"malformed: unknown status {status!r}"
    return None


def load_point(
    path: Path,
    *,
    index: int,
    config_hash: str,
    code_version: dict[str, Any],
    coords: dict[str, Any],
) -> dict[str, Any]:
    """Read, verify and check a point file; CheckedFileError names what is wrong."""
    body = read_point(path)
    reason = check_point(
        body, index=index, config_hash=config_hash, code_version=code_version, coords=coords
    )
    if reason is not None:
        raise CheckedFileError(f"{path}: {reason}")
    return body


HEAVY_KEYS = frozenset(
    {
        "values",
        "tallies",
        RUNNING,
        "code_version",
        "config_hash",
        "coords",
        "study",
        "model",
        "block_size",
    }
)
"""What a record that is kept in memory for a whole sweep drops (:func:`slim_record`):
the results (assembled into arrays as they are read) and what every record of a run
shares (checked when read)."""
KEPT_PROVENANCE = (
    "attempt",
    "compile_seconds",
    "executor",
    "host",
    "numba_threads",
    "seconds",
    "shard",
    "slurm",
    "started_utc",
    "worker",
)
"""The run facts of a point that the manifest, the dataset's provenance and ``status``
show (the point file keeps them all)."""


def _interned(value: Any) -> Any:
    return sys.intern(value) if isinstance(value, str) and len(value) < 64 else value


def slim_record(body: dict[str, Any]) -> dict[str, Any]:
    """What a sweep keeps in memory of a checked record, for every point at once: its
    status, seed, stream key, blocks, findings, the run facts in ``KEPT_PROVENANCE`` and
    a failed point's error type and first line. About 1 KB instead of 10 KB (a gather
    point) to 150 KB (a THP point's tallies); the file keeps the rest."""
    out = {k: v for k, v in body.items() if k not in HEAVY_KEYS}
    prov = body.get("provenance")
    if isinstance(prov, dict):
        out["provenance"] = {k: _interned(prov[k]) for k in KEPT_PROVENANCE if k in prov}
    if body.get("status") == FAILED:
        err = body.get("error") or {}
        first = str(err.get("message", "")).strip().splitlines()
        out["error"] = {"type": err.get("type"), "message": first[0] if first else ""}
    return out


def values_of(body: dict[str, Any]) -> dict[str, Any]:
    """The decoded per-point values of a done record (empty for a failed one)."""
    if body.get("status") != DONE:
        return {}
    return decode_mapping(body["values"])


def findings_of(body: dict[str, Any]) -> list[Finding]:
    """The findings recorded in a done record (empty for a failed one or none)."""
    if body.get("status") != DONE:
        return []
    return [Finding.from_dict(d) for d in body.get("findings") or []]


def error_line(body: dict[str, Any]) -> str:
    """``Type: message`` of a failed record (first line of the message)."""
    err = body.get("error") or {}
    msg = str(err.get("message", "")).strip().splitlines()
    return f"{err.get('type', 'Error')}: {msg[0] if msg else ''}".rstrip(": ")
