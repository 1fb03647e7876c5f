"""Atomic file writes shared by every writer of mcstudy (datasets, point files,
manifests, reports, figures, calibration fragments, benchmark results).

A file is written to a temporary ``.<name>.*.partial`` file in the target directory,
flushed (and fsynced when ``durable``), given ordinary read permissions and renamed
over the target: a reader, or a writer killed at any moment, sees the old file or the
whole new one, never a half file under the real name.

An output path is only ever a regular file: one that exists as anything else (a device
such as ``/dev/null``, a FIFO, a socket, a directory, a symbolic link) is refused
before anything is opened or created (:func:`check_output_file`), so a mistyped
``--out`` cannot replace a device node or write through a link. Failures of the file
system (read-only directory, no space) become one :class:`~mcstudy.errors.OutputError`
naming the path.
"""

from __future__ import annotations

import os
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mcstudy.errors import OutputError
from mcstudy.storage.errors import WriteError

PARTIAL_SUFFIX = ".partial"
STALE_SECONDS = 60.0
"""A temporary ``.partial`` file older than this belongs to no live writer (a point
file, manifest or study record is written in milliseconds): it is safe to remove."""


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


FILE_MODE = 0o666 & ~_umask()
"""Mode of every file written (what ``open()`` would give: 0644 under umask 022).
``mkstemp`` alone would create 0600, unreadable to a group on a shared file system."""

DIR_MODE = 0o777 & ~_umask()
"""Mode of every directory created (``mkdtemp`` alone would create 0700)."""

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISLNK, "a symbolic link"),
)


def file_kind(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, in words (``"a regular file"``...)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def check_output_file(path: str | Path, what: str = "output path") -> Path:
    """Refuse ``path`` as an output file unless it is absent or a regular file.

    Symbolic links are refused too (a rename would replace the link, not its target).
    Nothing is opened or created. Raises OutputError naming the path and what it is.
    """
    path = Path(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise OutputError(f"{path}: cannot use this {what} ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(
            f"{path}: {what} exists and is {file_kind(st.st_mode)}, not a regular file; "
            "refusing to replace it (choose another path)"
        )
    return path


def _os_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    return WriteError(f"{path}: cannot write ({reason})", exc.errno, reason)


@contextmanager
def atomic_target(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path``.

    For writers that want a file name (e.g. ``xarray.Dataset.to_netcdf``). On any
    exception the temporary file is removed and ``path`` is left untouched. OutputError
    if ``path`` exists and is not a regular file, or the directory cannot be written.
    """
    path = Path(path)
    check_output_file(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=parent)
    except OSError as exc:
        raise _os_error(path, exc) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        check_output_file(path)  # still not replaced by something else meanwhile
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno is None:
            raise
        raise _os_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes, *, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (fsynced before the rename if ``durable``)."""
    with atomic_target(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)


def is_partial_of(name: str, target: str) -> bool:
    """True if file ``name`` is a temporary file of a writer of ``target`` (a name)."""
    return name.startswith(f".{target}.") and name.endswith(PARTIAL_SUFFIX)


def remove_stale_partials(
    directory: str | Path, targets: tuple[str, ...] | None = None, older_than: float = STALE_SECONDS
) -> int:
    """Remove temporary files of killed writers in ``directory``; returns how many.

    ``targets``: only partials of these file names (None: every ``.*.partial`` file).
    Only files last modified more than ``older_than`` seconds ago are removed (0: all,
    for a caller that knows no other writer is running). Directories are left alone.
    """
    removed = 0
    now = time.time()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(PARTIAL_SUFFIX)):
            continue
        if targets is not None and not any(is_partial_of(name, t) for t in targets):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < older_than:
            continue
        try:
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
    return removed
