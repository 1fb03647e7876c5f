"""Numba's on-disk cache, keyed by the sources of every kernel.

Numba keys a cached function on its own file only: a kernel that calls (and inlines)
``@njit`` code or constants from another file, like every model's block kernel, would
load stale machine code after that other file changed. So mcstudy points Numba's cache
at a directory named after a hash of all its ``@njit`` source files (and the Numba and
Python versions): editing any kernel starts a fresh cache, editing an estimator, a
report or a schema (files without ``@njit``) does not.

The base directory is ``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/mcstudy/numba``
(``~/.cache/mcstudy/numba``). This runs when ``mcstudy.engine`` is imported, before any
kernel module is, because Numba picks a function's cache directory when it is decorated.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numba

PACKAGE = Path(__file__).resolve().parent.parent
MARKER = "@njit"


def kernel_sources() -> list[Path]:
    """The package's source files that hold ``@njit`` code, sorted."""
    return sorted(p for p in PACKAGE.rglob("*.py") if MARKER in p.read_text(encoding="utf-8"))


def kernel_hash() -> str:
    """SHA-256 (first 16 hex digits) of the kernel sources, Numba and Python versions."""
    digest = hashlib.sha256(f"numba {numba.__version__} python {sys.version}".encode())
    for path in kernel_sources():
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cache_base() -> Path:
    """Where mcstudy's Numba caches live (one sub-directory per kernel hash)."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    root = Path(xdg) if xdg else Path.home() / ".cache"
    return root / "mcstudy" / "numba"


def configure() -> Path:
    """Point Numba's cache at ``cache_base() / kernel_hash()``; returns that directory.

    If it cannot be created (read-only home), Numba's own locations are left in place.
    """
    path = cache_base() / kernel_hash()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path(numba.config.CACHE_DIR or "")
    numba.config.CACHE_DIR = str(path)
    return path


def has_cache_index(dispatcher: object) -> bool:
    """Whether ``dispatcher`` (a ``@njit(cache=True)`` function) has an index file in
    Numba's cache, i.e. some process has compiled and saved it. This reads a private
    attribute of Numba's ``FunctionCache``; where that is missing (another Numba) it says
    False, and the caller acts as if nothing were cached (slower, never wrong)."""
    try:
        index = dispatcher._cache._cache_file._index_path  # type: ignore[attr-defined]
    except AttributeError:
        return False
    return Path(index).is_file()
