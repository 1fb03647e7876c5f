"""The run directory of a study: what it is, which points are done, what is damaged.

Layout (next to the dataset ``<stem>.nc``)::

    <stem>.run/
      study.json          the resolved study, its config hash and code version (checked)
      points/             one checked JSON record per committed point
      quarantine/         damaged or foreign point files, moved aside with the reason
      manifest.json       status, seed, timings and host of every point (derived)
      manifest-shard-I-of-N.json   the same for the points of one shard

``study.json`` is created once, atomically and only if absent, so array tasks starting
together agree on it; every later run or shard must have the same config hash and code
version or is refused. Point files are the only source of truth: the manifest is
rebuilt from them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcstudy.models.registry import model_names
from mcstudy.storage.checked import PARTIAL_SUFFIX, create_checked, read_checked
from mcstudy.storage.errors import CheckedFileError, RunDirError
from mcstudy.storage.points import DONE, FAILED, PENDING, index_of, load_point
from mcstudy.storage.version import describe, same_code
from mcstudy.study import Point, Study, StudySection

RUN_FORMAT = "mcstudy-run"
RUN_FORMAT_VERSION = 1
STUDY_FILE = "study.json"
POINTS_DIR = "points"
QUARANTINE_DIR = "quarantine"
MANIFEST = "manifest.json"
RUN_SUFFIX = ".run"


def run_dir_for(dataset: str | Path) -> Path:
    """The run directory of a dataset path: ``outputs/x.nc`` -> ``outputs/x.run``."""
    dataset = Path(dataset)
    if dataset.suffix == ".nc":
        return dataset.with_suffix(RUN_SUFFIX)
    return dataset.parent / (dataset.name + RUN_SUFFIX)


def resolve_run_dir(path: str | Path) -> Path:
    """A run directory given either itself or its dataset path (``x.nc``)."""
    path = Path(path)
    if path.is_dir() or path.suffix == RUN_SUFFIX:
        return path
    return run_dir_for(path)


@dataclass
class Scan:
    """What the points directory holds: usable records and unusable files."""

    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    invalid: list[tuple[Path, int | None, str]] = field(default_factory=list)

    def status(self, index: int) -> str:
        body = self.records.get(index)
        return PENDING if body is None else str(body["status"])

    def counts(self, indices: list[int] | range) -> dict[str, int]:
        out = {DONE: 0, FAILED: 0, PENDING: 0}
        for i in indices:
            out[self.status(i)] += 1
        return out


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _config_diff(old: dict[str, Any], new: dict[str, Any], limit: int = 6) -> str:
    a, b = _flatten(old), _flatten(new)
    diffs = [
        f"{k}: {a.get(k)!r} -> {b.get(k)!r}"
        for k in sorted(set(a) | set(b))
        if a.get(k) != b.get(k)
    ]
    more = f", and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


class RunDir:
    """A run directory (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def study_file(self) -> Path:
        return self.path / STUDY_FILE

    @property
    def points_dir(self) -> Path:
        return self.path / POINTS_DIR

    @property
    def quarantine_dir(self) -> Path:
        return self.path / QUARANTINE_DIR

    def manifest_file(self, shard: Any = None) -> Path:
        if shard is None:
            return self.path / MANIFEST
        return self.path / f"manifest-shard-{shard.index}-of-{shard.count}.json"

    def exists(self) -> bool:
        return self.study_file.exists()

    # ------------------------------------------------------------------ study.json

    def info(self) -> dict[str, Any]:
        """The verified content of ``study.json`` (RunDirError if absent or damaged)."""
        if not self.path.exists():
            raise RunDirError(f"{self.path}: run directory not found")
        if not self.study_file.exists():
            raise RunDirError(
                f"{self.path}: not an mcstudy run directory (no {STUDY_FILE}); "
                "expected the <name>.run directory next to a dataset"
            )
        try:
            return read_checked(self.study_file, RUN_FORMAT, RUN_FORMAT_VERSION)
        except CheckedFileError as exc:
            raise RunDirError(f"{exc}; the run directory cannot be used") from None

    def dataset_path(self) -> Path:
        """Where the final dataset of this run goes."""
        return self.path.parent / str(self.info().get("dataset", self.path.stem + ".nc"))

    def load_study(self) -> Study:
        """The study recorded in ``study.json`` (for merge and status)."""
        from pydantic import ValidationError

        info = self.info()
        try:
            canonical = info["canonical"]
            section = StudySection.model_validate(canonical["study"])
            if section.model not in model_names():
                raise RunDirError(
                    f"{self.study_file}: model {section.model!r} is not known to this "
                    f"mcstudy (known: {', '.join(model_names())})"
                )
            # the sweep's key order is the dims order and the point order; JSON objects
            # are written with sorted keys, so it is restored from "dims"
            sweep = {k: list(canonical["sweep"][k]) for k in info["dims"]}
            if set(sweep) != set(canonical["sweep"]):
                raise KeyError("dims")
            study = Study(
                section,
                dict(canonical["params"]),
                sweep,
                str(info.get("config_path", self.study_file)),
                str(info.get("config_text", "")),
                tuple(info.get("overrides", ())),
            )
        except (KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise RunDirError(f"{self.study_file}: malformed study record ({exc})") from None
        if study.config_hash() != info.get("config_hash"):
            raise RunDirError(
                f"{self.study_file}: the recorded study does not reproduce its config hash"
            )
        return study

    def _info_body(self, study: Study, code: dict[str, Any], dataset_name: str) -> dict[str, Any]:
        import platform

        return {
            "study_name": study.name,
            "model": study.section.model,
            "config_hash": study.config_hash(),
            "code_version": code,
            "canonical": study.canonical(),
            "config_path": study.source,
            "config_text": study.text,
            "overrides": list(study.overrides),
            "dims": list(study.sweep),
            "shape": list(study.shape),
            "n_points": study.n_points,
            "dataset": dataset_name,
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_on": platform.node(),
        }

    def mismatch(self, study: Study, code: dict[str, Any]) -> str | None:
        """Why this run directory's results cannot be mixed with ``study`` run by
        ``code`` (None if they can)."""
        info = self.info()
        if info.get("dims") != list(study.sweep):
            return (
                f"a different order of the [sweep] keys ({info.get('dims')}; now "
                f"{list(study.sweep)}), which orders the points differently"
            )
        if info.get("config_hash") != study.config_hash():
            return (
                f"a different config (study {info.get('study_name')!r}, config "
                f"{str(info.get('config_hash'))[:12]}; now {study.config_hash()[:12]}: "
                f"{_config_diff(info.get('canonical', {}), study.canonical())})"
            )
        theirs = info.get("code_version")
        if not isinstance(theirs, dict) or not same_code(theirs, code):
            other = describe(theirs) if isinstance(theirs, dict) else "unknown code"
            return f"a different code version ({other}; now {describe(code)})"
        return None

    def has_points(self) -> bool:
        if not self.points_dir.is_dir():
            return False
        return any(index_of(e.name) is not None for e in os.scandir(self.points_dir))

    def prepare(self, study: Study, code: dict[str, Any], dataset_name: str) -> bool:
        """Create the run directory for ``study`` or check that it holds this study.

        Returns True if it was created now. RunDirError (with what differs) if it
        belongs to another config or code version, or is not a run directory at all.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: exists and is not a directory")
        if self.path.is_dir() and not self.study_file.exists():
            foreign = [e.name for e in os.scandir(self.path) if e.name not in (POINTS_DIR,)]
            if foreign or self.has_points():
                raise RunDirError(
                    f"{self.path}: exists but is not an mcstudy run directory (no "
                    f"{STUDY_FILE}); move it away or choose another --out"
                )
        self.path.mkdir(parents=True, exist_ok=True)
        self.points_dir.mkdir(exist_ok=True)
        body = self._info_body(study, code, dataset_name)
        created = create_checked(self.study_file, RUN_FORMAT, RUN_FORMAT_VERSION, body)
        if not created:
            why = self.mismatch(study, code)
            if why is not None:
                raise RunDirError(
                    f"{self.path} holds results of {why}. Refusing to mix them: pass "
                    f"--restart to discard them, or --out another path"
                )
        return created

    def clear(self) -> None:
        """Remove this run's files (``--restart``): study.json, manifests, points/,
        quarantine/. Nothing else in the directory is touched."""
        if not self.path.is_dir():
            return
        if not self.study_file.exists() and any(
            e.name not in (POINTS_DIR,) for e in os.scandir(self.path)
        ):
            raise RunDirError(
                f"{self.path}: not an mcstudy run directory; refusing to delete anything in it"
            )
        for sub in (self.points_dir, self.quarantine_dir):
            if sub.is_dir():
                shutil.rmtree(sub)
        for entry in os.scandir(self.path):
            if entry.name == STUDY_FILE or (
                entry.name.startswith("manifest") and entry.name.endswith(".json")
            ):
                os.unlink(entry.path)

    # ------------------------------------------------------------------ points

    def scan(
        self,
        study: Study,
        code: dict[str, Any],
        points: list[Point],
        owned: Callable[[int], bool] | None = None,
    ) -> Scan:
        """Read and verify every point file (of the owned points, if given)."""
        scan = Scan()
        if not self.points_dir.is_dir():
            return scan
        config_hash = study.config_hash()
        for entry in sorted(os.scandir(self.points_dir), key=lambda e: e.name):
            index = index_of(entry.name)
            if index is None:
                continue  # temporary files of writers, or anything else: not ours
            if owned is not None and not owned(index):
                continue
            path = Path(entry.path)
            if index >= len(points):
                scan.invalid.append(
                    (path, index, f"{path}: no such point (the sweep has {len(points)} points)")
                )
                continue
            try:
                body = load_point(
                    path,
                    index=index,
                    config_hash=config_hash,
                    code_version=code,
                    coords=points[index].coords,
                )
            except CheckedFileError as exc:
                scan.invalid.append((path, index, str(exc)))
            else:
                scan.records[index] = body
        return scan

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move an unusable point file aside (with a ``.reason.txt``); returns its new
        path. Nothing is deleted: the file stays for inspection."""
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        dest = self.quarantine_dir / f"{path.name}.{stamp}"
        os.replace(path, dest)
        dest.with_name(dest.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        return dest

    def clean_manifest_partials(self, manifest: Path) -> int:
        """Delete temporary files left by a killed writer of ``manifest`` (only this
        run or shard writes that name, so none of them is in use)."""
        removed = 0
        for entry in os.scandir(self.path):
            if entry.name.startswith(f".{manifest.name}.") and entry.name.endswith(PARTIAL_SUFFIX):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed

    def clean_partials(self, indices: set[int]) -> int:
        """Delete temporary files left by killed writers of the given points."""
        removed = 0
        if not self.points_dir.is_dir():
            return 0
        for entry in os.scandir(self.points_dir):
            name = entry.name
            if not (name.startswith(".point-") and name.endswith(PARTIAL_SUFFIX)):
                continue
            index = index_of(name[1:].split(".json", 1)[0] + ".json")
            if index is not None and index in indices:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        return removed
