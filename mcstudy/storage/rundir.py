"""The run directory of a study: what it is, which points are done, what is damaged.

Layout (next to the dataset ``<stem>.nc``)::

    <stem>.run/
      study.json          the resolved study, its config hash and code version (checked)
      points/             one checked JSON record per committed point
      quarantine/         damaged or foreign point files, moved aside with the reason
      manifest.json       status, seed, timings and host of every point (derived)
      manifest-shard-I-of-N.json   the same for the points of one shard

The directory is created whole (``study.json``, ``points/``, ``lock``) under a temporary
name and renamed into place, so a kill at any instant leaves no half-made run directory
and of the array tasks starting together exactly one creates it and the others use it;
every later run or shard must have the same config hash and code version or is refused.
Writers hold its lock (``mcstudy.storage.lock``). Point files are the only source of
truth: the manifest is rebuilt from them. The final dataset's path is derived from the
directory's own name (``x.run`` -> ``x.nc``), never read from its contents.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcstudy.models.registry import is_model, model_names
from mcstudy.storage.atomic import (
    DIR_MODE,
    FILE_MODE,
    PARTIAL_SUFFIX,
    STALE_SECONDS,
    file_kind,
    is_partial_of,
    remove_stale_partials,
)
from mcstudy.storage.checked import read_checked, write_checked
from mcstudy.storage.contents import record_problem
from mcstudy.storage.errors import CheckedFileError, RunDirError, WriteError
from mcstudy.storage.lock import LOCK_FILE, RunLock, remove_stale_holder_files
from mcstudy.storage.points import DONE, FAILED, PENDING, index_of, load_point, slim_record
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


def dataset_for(run_dir: str | Path, recorded: str | None = None) -> Path:
    """The dataset path of a run directory, from the directory's own name.

    ``x.run`` -> ``x.nc``; ``x.h5.run`` (a run of ``--out x.h5``) -> ``x.nc`` or ``x.h5``:
    the name ``recorded`` in study.json only chooses between the two names that map to
    this directory, so an edited study.json cannot send the dataset anywhere else.
    """
    run_dir = Path(run_dir)
    stem = (
        run_dir.name.removesuffix(RUN_SUFFIX) if run_dir.name.endswith(RUN_SUFFIX) else run_dir.name
    )
    candidates = [run_dir.parent / f"{stem}.nc", run_dir.parent / stem]
    for c in candidates:
        if recorded is not None and c.name == recorded and run_dir_for(c) == run_dir:
            return c
    return candidates[0]


def _rmdir_quiet(path: str | Path) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


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


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def study_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two canonical studies, one phrase per key in the words of
    ``--set`` (``study.seed: 11 -> 12``; ``load: swept over [...] -> fixed at 'bursts'``);
    the order of the [sweep] keys only when nothing else tells the points apart."""
    out: list[str] = []
    a_study, b_study = old.get("study") or {}, new.get("study") or {}
    for key in sorted(set(a_study) | set(b_study)):
        if a_study.get(key) != b_study.get(key):
            out.append(f"study.{key}: {_short(a_study.get(key))} -> {_short(b_study.get(key))}")

    def where(canon: dict[str, Any], key: str) -> tuple[str, Any] | None:
        if key in (canon.get("sweep") or {}):
            return "sweep", canon["sweep"][key]
        if key in (canon.get("params") or {}):
            return "params", canon["params"][key]
        return None

    def said(w: tuple[str, Any] | None) -> str:
        if w is None:
            return "not set (the model's default)"
        if w[0] == "sweep":
            return f"swept over {_short(w[1])}"
        return f"fixed at {_short(w[1])}"

    keys = set(old.get("sweep") or {}) | set(old.get("params") or {})
    keys |= set(new.get("sweep") or {}) | set(new.get("params") or {})
    for key in sorted(keys):
        a, b = where(old, key), where(new, key)
        if a == b:
            continue
        if a is not None and b is not None and a[0] == b[0]:
            out.append(f"{a[0]}.{key}: {_short(a[1])} -> {_short(b[1])}")
        else:
            out.append(f"{key}: {said(a)} -> {said(b)}")
    a_order, b_order = old.get("sweep_order"), new.get("sweep_order")
    if not out and a_order != b_order:
        out.append(
            f"the order of the [sweep] keys: {a_order} -> {b_order} (it sets the dimensions "
            "and the numbering of the points)"
        )
    return out


def _config_diff(old: dict[str, Any], new: dict[str, Any], limit: int = 6) -> str:
    diffs = study_differences(old, new)
    more = f"; and {len(diffs) - limit} more" if len(diffs) > limit else ""
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
        """Where the final dataset of this run goes (derived from the directory's name;
        see :func:`dataset_for`)."""
        recorded = self.info().get("dataset")
        return dataset_for(self.path, recorded if isinstance(recorded, str) else None)

    def load_study(self) -> Study:
        """The study recorded in ``study.json`` (for merge and status)."""
        from pydantic import ValidationError

        info = self.info()
        try:
            canonical = info["canonical"]
            section = StudySection.model_validate(canonical["study"])
            if not is_model(section.model):
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
        if info.get("config_hash") != study.config_hash() or info.get("dims") != list(study.sweep):
            recorded = info.get("canonical")
            what = _config_diff(recorded if isinstance(recorded, dict) else {}, study.canonical())
            return (
                f"a different config (study {info.get('study_name')!r}, config "
                f"{str(info.get('config_hash'))[:12]}; now {study.config_hash()[:12]}: "
                f"{what or 'the recorded study is unreadable'})"
            )
        theirs = info.get("code_version")
        if not isinstance(theirs, dict) or not same_code(theirs, code):
            other = describe(theirs) if isinstance(theirs, dict) else "unknown code"
            return f"a different code version ({other}; now {describe(code)})"
        return None

    def count_point_files(self) -> int:
        """How many point files ``points/`` holds (unverified; 0 if unreadable)."""
        try:
            return sum(1 for e in os.scandir(self.points_dir) if index_of(e.name) is not None)
        except OSError:
            return 0

    def has_points(self) -> bool:
        if not self.points_dir.is_dir():
            return False
        return any(index_of(e.name) is not None for e in os.scandir(self.points_dir))

    # ------------------------------------------------------------------ creation

    def check_path(self) -> None:
        """Refuse a run directory path that is anything but absent or a real directory
        (a symbolic link, a device, a file: not a directory mcstudy created)."""
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise RunDirError(
                f"{self.path}: cannot use as a run directory ({exc.strerror})"
            ) from None
        if not stat.S_ISDIR(st.st_mode):
            raise RunDirError(
                f"{self.path}: exists and is {file_kind(st.st_mode)}, not a run directory; "
                "move it away or choose another --out"
            )
        for sub in (self.study_file, self.points_dir):
            try:
                mode = os.lstat(sub).st_mode
            except FileNotFoundError:
                continue
            want = stat.S_ISREG if sub == self.study_file else stat.S_ISDIR
            if not want(mode):
                raise RunDirError(
                    f"{sub}: is {file_kind(mode)}; not an mcstudy run directory (refusing "
                    "to use it)"
                )

    def _leftover_of_creation(self) -> bool:
        """True if the directory holds nothing but what an interrupted creation by an
        older mcstudy could leave: an empty points/ and temporary study records."""
        for entry in os.scandir(self.path):
            if entry.name == POINTS_DIR and entry.is_dir(follow_symlinks=False):
                if any(True for _ in os.scandir(entry.path)):
                    return False
            elif not is_partial_of(entry.name, STUDY_FILE):
                return False
        return True

    def _build(self, body: dict[str, Any]) -> Path:
        """A complete new run directory under a temporary name next to ``self.path``."""
        parent = self.path.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=PARTIAL_SUFFIX, dir=parent)
        )
        try:
            os.chmod(tmp, DIR_MODE)
            (tmp / POINTS_DIR).mkdir()
            write_checked(tmp / STUDY_FILE, RUN_FORMAT, RUN_FORMAT_VERSION, body)
            fd = os.open(tmp / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
            os.close(fd)
        except BaseException:  # a full disk, no inodes: leave no half-made directory
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return tmp

    def create(self, study: Study, code: dict[str, Any], dataset_name: str) -> bool:
        """Create the run directory of ``study`` atomically if it does not exist.

        The directory is built complete (study.json, points/, lock) under a temporary
        name and renamed into place, so it appears whole or not at all: a kill at any
        instant leaves no half-made run directory, and of several processes creating it
        at once (the tasks of a SLURM array) exactly one succeeds and the others use it.
        Returns True if this call created it. RunDirError if the path is taken by
        something that is not a run directory.
        """
        self.check_path()
        if self.path.is_dir() and not self.study_file.exists():
            if not self._leftover_of_creation():
                raise RunDirError(
                    f"{self.path}: exists but is not an mcstudy run directory (no "
                    f"{STUDY_FILE}); move it away or choose another --out"
                )
            for entry in os.scandir(self.path):  # an old interrupted creation: redo it
                if entry.is_dir(follow_symlinks=False):
                    _rmdir_quiet(entry.path)
                else:
                    Path(entry.path).unlink(missing_ok=True)
            _rmdir_quiet(self.path)
        if self.path.exists():
            self.check_path()
            return False
        try:
            tmp = self._build(self._info_body(study, code, dataset_name))
        except (OSError, WriteError) as exc:
            why = exc.reason if isinstance(exc, WriteError) else exc.strerror or str(exc)
            raise WriteError(
                f"{self.path}: cannot create the run directory ({why}); nothing was written",
                exc.errno,
                why,
            ) from None
        try:
            os.rename(tmp, self.path)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise RunDirError(
                    f"{self.path}: cannot create the run directory ({exc.strerror})"
                ) from None
            self.check_path()  # another process created it first: use theirs
            return False
        return True

    def lock(
        self, shard: tuple[int, int] | None = None, role: str = "run", warn: Any = None
    ) -> RunLock:
        """The (not yet acquired) lock of a writer of this run directory."""
        return RunLock(self.path, shard=shard, role=role, warn=warn)

    def check_study(self, study: Study, code: dict[str, Any]) -> None:
        """RunDirError (saying what differs) unless the directory holds ``study``."""
        why = self.mismatch(study, code)
        if why is not None:
            n = self.count_point_files()
            held = f"{n} committed point(s)" if n else "results"
            raise RunDirError(
                f"{self.path} holds {held} of {why}. Refusing to mix them: run this study "
                f"beside them with --out OTHER.nc (they stay), or pass --restart to discard "
                f"{'them' if not n else f'those {n} point(s)'} and start again"
            )

    def rewrite_study(self, study: Study, code: dict[str, Any], dataset_name: str) -> None:
        """Replace study.json (``--restart``, holding the exclusive lock)."""
        write_checked(
            self.study_file,
            RUN_FORMAT,
            RUN_FORMAT_VERSION,
            self._info_body(study, code, dataset_name),
        )

    def prepare(self, study: Study, code: dict[str, Any], dataset_name: str) -> bool:
        """Create the run directory for ``study`` or check that it holds this study
        (without a lock: for tests and tools; ``run_sweep`` locks). Returns True if it
        was created now."""
        created = self.create(study, code, dataset_name)
        if not created:
            self.check_study(study, code)
        return created

    def clear(self) -> None:
        """Remove this run's results (``--restart``, holding the exclusive lock):
        points/, quarantine/ and the manifests. study.json, the lock and anything else
        in the directory stay."""
        if not self.path.is_dir():
            return
        self.check_path()
        if not self.study_file.exists():
            raise RunDirError(
                f"{self.path}: not an mcstudy run directory; refusing to delete anything in it"
            )
        for sub in (self.points_dir, self.quarantine_dir):
            if sub.is_dir():
                shutil.rmtree(sub)
        self.points_dir.mkdir(exist_ok=True)
        for entry in os.scandir(self.path):
            if entry.name.startswith("manifest") and entry.name.endswith(".json"):
                os.unlink(entry.path)

    def clean_stale(self, everything: bool) -> int:
        """Remove temporary files of killed writers: with ``everything`` (the exclusive
        lock is held, no other writer runs) all of them, and dead merges' lock files;
        otherwise only those older than ``STALE_SECONDS``. Also, next to the directory,
        stale temporary files of its dataset and report and temporary run directories
        of interrupted creations. Returns how many."""
        age = 0.0 if everything else STALE_SECONDS
        n = remove_stale_partials(self.path, older_than=age)
        if self.points_dir.is_dir():
            n += remove_stale_partials(self.points_dir, older_than=age)
        if everything:
            n += remove_stale_holder_files(self.path)
        try:
            dataset = self.dataset_path()
            outputs = (dataset.name, dataset.with_suffix(".html").name)
            n += remove_stale_partials(self.path.parent, outputs)  # killed dataset writes
        except RunDirError:
            pass
        now = time.time()
        prefix = f".{self.path.name}."
        for entry in os.scandir(self.path.parent):
            if not (entry.name.startswith(prefix) and entry.name.endswith(PARTIAL_SUFFIX)):
                continue
            try:
                old = now - entry.stat(follow_symlinks=False).st_mtime > STALE_SECONDS
            except OSError:
                continue
            if old and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                n += 1
        return n

    # ------------------------------------------------------------------ points

    def scan(
        self,
        study: Study,
        code: dict[str, Any],
        points: list[Point] | None = None,
        owned: Callable[[int], bool] | None = None,
        sink: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> Scan:
        """Read and verify every point file (of the owned points, if given), one at a
        time: ``sink(index, body)`` receives each usable record whole (to take its
        values), and the scan keeps only its :func:`~mcstudy.storage.points.slim_record`,
        so memory grows by about 1 KB per point whatever the model. ``points`` is
        not needed (coordinates come from the study); it is accepted for old callers."""
        scan = Scan()
        if not self.points_dir.is_dir():
            return scan
        config_hash = study.config_hash()
        n_points = study.n_points
        names = sorted(e.name for e in os.scandir(self.points_dir))
        for name in names:
            index = index_of(name)
            if index is None:
                continue  # temporary files of writers, or anything else: not ours
            if owned is not None and not owned(index):
                continue
            path = self.points_dir / name
            if index >= n_points:
                scan.invalid.append(
                    (path, index, f"{path}: no such point (the sweep has {n_points} points)")
                )
                continue
            try:
                body = load_point(
                    path,
                    index=index,
                    config_hash=config_hash,
                    code_version=code,
                    coords=study.coords_of(index),
                )
            except CheckedFileError as exc:
                scan.invalid.append((path, index, str(exc)))
                continue
            why = record_problem(body, study)
            if why is not None:
                scan.invalid.append((path, index, f"{path}: impossible contents: {why}"))
                continue
            if sink is not None:
                sink(index, body)
            scan.records[index] = slim_record(body)
        return scan

    def quarantine(self, path: Path, reason: str) -> Path:
        """Move an unusable point file aside (with a ``.reason.txt``); returns its new
        path. Nothing is deleted: the file stays for inspection."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        dest = self.quarantine_dir / f"{path.name}.{stamp}"
        try:
            self.quarantine_dir.mkdir(exist_ok=True)
            os.replace(path, dest)
            dest.with_name(dest.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise WriteError(f"{dest}: cannot write ({why})", exc.errno, why) from None
        return dest
