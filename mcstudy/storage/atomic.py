"""Atomic file writes shared by every writer of mcstudy (datasets, point files,
manifests, reports, figures, calibration fragments, benchmark results).

A file is written to a temporary ``.<name>.*.partial`` file in the target directory,
flushed (and fsynced when ``durable``), given ordinary read permissions and renamed
over the target: a reader, or a writer killed at any moment, sees the old file or the
whole new one, never a half file under the real name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_SUFFIX = ".partial"
FILE_MODE = 0o644  # mkstemp creates 0600; results are meant to be read


@contextmanager
def atomic_target(path: str | Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it over ``path``.

    For writers that want a file name (e.g. ``xarray.Dataset.to_netcdf``). On any
    exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, FILE_MODE)
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
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
