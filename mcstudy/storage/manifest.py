"""The manifest: one row per sweep point with its status, seed, timings and host.

It is derived from the point files (which stay the only source of truth) and written
atomically, so it is always a complete JSON document that a person or a script
(``jq '.counts' outputs/default.run/manifest.json``) can read while a sweep runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcstudy.storage.atomic import atomic_write_bytes
from mcstudy.storage.points import DONE, FAILED, PENDING, error_line
from mcstudy.study import Point, Study

MANIFEST_FORMAT = "mcstudy-manifest"
MANIFEST_FORMAT_VERSION = 1


def point_row(point: Point, body: dict[str, Any] | None, seed: int) -> dict[str, Any]:
    """The manifest row of one point (``body`` None when pending; a whole record or its
    slim form)."""
    row: dict[str, Any] = {
        "point": point.index,
        "coords": point.coords,
        "status": PENDING if body is None else body["status"],
        "seed": seed,
    }
    if body is None:
        return row
    prov = body.get("provenance") or {}
    row.update(
        stream_key=body.get("stream_key"),
        started_utc=prov.get("started_utc"),
        seconds=prov.get("seconds"),
        host=prov.get("host"),
        worker=prov.get("worker"),
        executor=prov.get("executor"),
        numba_threads=prov.get("numba_threads"),
        attempt=prov.get("attempt"),
        shard=prov.get("shard"),
        slurm=prov.get("slurm"),
    )
    if body["status"] == FAILED:
        row["error"] = error_line(body)
    return row


def build_manifest(
    study: Study,
    points: Iterable[Point | int],
    records: dict[int, dict[str, Any]],
    *,
    config_hash: str,
    code_version: dict[str, Any],
    invalid: list[tuple[Path, int | None, str]] | None = None,
    shard: str | None = None,
) -> dict[str, Any]:
    """The manifest of ``points`` (all of them, or one shard's: points or their indices)
    given their records. Its ``points`` rows are made one at a time as the manifest is
    encoded (a list of 1e5 row dictionaries took about 100 MB)."""
    indices = [p if isinstance(p, int) else p.index for p in points]
    counts = {DONE: 0, FAILED: 0, PENDING: 0}
    for i in indices:
        counts[records[i]["status"] if i in records else PENDING] += 1
    seed = study.section.seed

    def rows() -> Iterator[dict[str, Any]]:
        for i in indices:
            yield point_row(Point(i, study.coords_of(i), None), records.get(i), seed)  # type: ignore[arg-type]

    return {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_FORMAT_VERSION,
        "study": study.name,
        "model": study.section.model,
        "config_hash": config_hash,
        "code_version": code_version,
        "seed": study.section.seed,
        "shard": shard,
        "updated_utc": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "counts": counts,
        "invalid_files": [{"file": str(p), "reason": r} for p, _, r in (invalid or [])],
        "points": _Rows(rows),
    }


class _Rows:
    """The rows of a manifest, made when iterated (each time: ``encode_manifest`` and
    anyone who reads them see the same rows)."""

    def __init__(self, make: Callable[[], Iterator[dict[str, Any]]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._make()

    def __getitem__(self, k: int) -> dict[str, Any]:
        return list(self._make())[k]

    def __len__(self) -> int:
        return sum(1 for _ in self._make())


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """JSON with one line per point row (fast to write, easy to grep and diff)."""
    head = {k: v for k, v in manifest.items() if k != "points"}
    lines = [json.dumps(row, default=str) for row in manifest.get("points", [])]
    text = json.dumps(head, default=str)[:-1]
    text += ', "points": [\n' + ",\n".join(lines) + "\n]}\n"
    return text.encode()


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    """Write a manifest atomically (not fsynced: it is rebuilt from the point files)."""
    return atomic_write_bytes(Path(path), encode_manifest(manifest), durable=False)


def read_manifest(path: Path) -> dict[str, Any]:
    """A manifest as written by :func:`write_manifest`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))
