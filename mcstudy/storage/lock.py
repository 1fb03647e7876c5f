"""Locks of a run directory: one writer, or the shards of one array, at a time.

Two ``mcstudy run`` processes writing the same run directory would remove each other's
temporary files at start-up and race on the manifest. Every writer therefore holds an
advisory ``flock`` on ``<run>/lock`` (``flock`` is per open file, released by the kernel
when the process dies, and works across nodes on NFS):

* a whole run (no shard) holds it **exclusively**: nothing else may run;
* a shard ``I/N`` holds it **shared**, plus ``<run>/locks/shard-I-of-N.lock``
  exclusively: the shards of an array run together, but the same shard never twice;
* ``mcstudy merge`` holds it shared (with ``locks/merge-<host>-<pid>.lock``), so it
  never assembles while a whole run is writing.

A holder writes who it is (host, pid, start, command) into the file it holds alone, so a
refused process names the other one. Where the file system does not support locks,
the run goes on unlocked after one warning (``RunLock.supported``).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcstudy.storage.atomic import FILE_MODE
from mcstudy.storage.errors import RunDirError

LOCK_FILE = "lock"
LOCKS_DIR = "locks"
_UNSUPPORTED = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}


class RunLockedError(RunDirError):
    """The run directory is in use by another mcstudy process."""


def holder_identity(role: str) -> dict[str, Any]:
    """Who holds a lock: role, host, pid, start time (UTC) and command line."""
    return {
        "role": role,
        "host": platform.node(),
        "pid": os.getpid(),
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300],
    }


def _describe(ident: dict[str, Any] | None) -> str:
    if not ident:
        return "another mcstudy process (identity not recorded)"
    return (
        f"{ident.get('role', 'a run')} (pid {ident.get('pid')} on {ident.get('host')}, "
        f"since {ident.get('started_utc')}: {ident.get('command')})"
    )


def _read_identity(fd: int) -> dict[str, Any] | None:
    try:
        raw = os.pread(fd, 4096, 0)
        ident = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return ident if isinstance(ident, dict) else None


def _write_identity(fd: int, ident: dict[str, Any]) -> None:
    data = (json.dumps(ident, sort_keys=True) + "\n").encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError:
        pass  # the identity only serves error messages


def _open(path: Path) -> int:
    """A lock file opened for reading and writing (created if absent; never a link)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
    except OSError as exc:
        raise RunDirError(f"{path}: cannot open the lock file ({exc.strerror})") from None


def _try_lock(fd: int, how: int) -> bool | None:
    """True if locked, False if held by another, None if the file system cannot lock."""
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return None
        raise
    return True


def held_by_others(directory: Path) -> list[dict[str, Any] | None]:
    """Identities in the per-holder lock files of ``directory`` that are held now."""
    out: list[dict[str, Any] | None] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if not entry.name.endswith(".lock"):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if _try_lock(fd, fcntl.LOCK_SH) is False:
                out.append(_read_identity(fd))
        finally:
            os.close(fd)
    return out


class RunLock:
    """The lock of one writer of a run directory (see the module docstring).

    ``shard``: ``(index, count)`` for a shard, None for a whole run; ``role``: ``"run"``
    or ``"merge"`` (a merge takes the shared lock). Use as a context manager, or call
    :meth:`acquire` and :meth:`release`. ``warn`` receives the one warning printed when
    the file system cannot lock.
    """

    def __init__(
        self,
        run_dir: str | Path,
        *,
        shard: tuple[int, int] | None = None,
        role: str = "run",
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.shard = shard
        self.role = role
        self.warn = warn
        self.supported = True
        self._fds: list[int] = []
        self._own_file: Path | None = None

    @property
    def exclusive(self) -> bool:
        """True for a whole run, which excludes every other writer."""
        return self.shard is None and self.role == "run"

    def _label(self) -> str:
        if self.shard is not None:
            return f"shard {self.shard[0]}/{self.shard[1]}"
        return "a whole run" if self.role == "run" else self.role

    def _refuse(self, why: str) -> RunLockedError:
        return RunLockedError(
            f"{self.run_dir} is in use by {why}; wait for it to finish or stop it "
            f"(the shards of one array may run together, {self._label()} cannot run now)"
        )

    def _unsupported(self) -> None:
        self.supported = False
        self.release()
        if self.warn is not None:
            self.warn(
                f"{self.run_dir}: this file system does not support file locks; running "
                "unlocked (do not start two runs of this output at once)"
            )

    def acquire(self) -> RunLock:
        """Take the lock (RunLockedError naming the holder if another process has it)."""
        try:
            return self._acquire()
        except BaseException:
            self.release()
            raise

    def _acquire(self) -> RunLock:
        main = _open(self.run_dir / LOCK_FILE)
        self._fds.append(main)
        got = _try_lock(main, fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH)
        if got is None:
            self._unsupported()
            return self
        if not got:
            raise self._conflict(main)
        ident = holder_identity(self._label())
        if self.exclusive:
            _write_identity(main, ident)
            return self
        locks = self.run_dir / LOCKS_DIR
        locks.mkdir(exist_ok=True)
        if self.shard is not None:
            name = f"shard-{self.shard[0]}-of-{self.shard[1]}.lock"
        else:
            name = f"{self.role}-{platform.node()}-{os.getpid()}.lock"
        own_path = locks / name
        own = _open(own_path)
        self._fds.append(own)
        got = _try_lock(own, fcntl.LOCK_EX)
        if got is None:
            self._unsupported()
            return self
        if not got:
            other = _read_identity(own)
            self.release()
            raise self._refuse(_describe(other))
        _write_identity(own, ident)
        if self.shard is None:
            self._own_file = own_path  # a per-process name: removed on release
        return self

    def _conflict(self, main: int) -> RunLockedError:
        probe = _try_lock(main, fcntl.LOCK_SH) if self.exclusive else False
        if probe:  # only shared holders: shards or merges
            fcntl.flock(main, fcntl.LOCK_UN)
            holders = held_by_others(self.run_dir / LOCKS_DIR)
            self.release()
            shown = "; ".join(_describe(h) for h in holders[:4]) or "shards or a merge"
            more = f" and {len(holders) - 4} more" if len(holders) > 4 else ""
            return self._refuse(shown + more)
        ident = _read_identity(main)
        self.release()
        return self._refuse(_describe(ident))

    def release(self) -> None:
        """Release the lock (closing the files releases it)."""
        if self._own_file is not None:
            self._own_file.unlink(missing_ok=True)
            self._own_file = None
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []

    def __enter__(self) -> RunLock:
        return self.acquire() if not self._fds else self

    def __exit__(self, *exc: object) -> None:
        self.release()


def remove_stale_holder_files(run_dir: str | Path) -> int:
    """Remove per-process lock files of merges that died (call with the exclusive lock)."""
    removed = 0
    locks = Path(run_dir) / LOCKS_DIR
    try:
        entries = list(os.scandir(locks))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.startswith("merge-") and entry.name.endswith(".lock"):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed
