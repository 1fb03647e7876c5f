"""Provenance: code version, environment and run facts recorded with every result."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numba
import numpy as np

import mcstudy


def git_commit() -> dict[str, Any]:
    """Commit of the source tree mcstudy was imported from (None outside a git checkout)."""
    root = Path(mcstudy.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": head, "git_dirty": bool(dirty)}


def threading_layer() -> str | None:
    """Numba's threading layer, once a parallel kernel has run (None before)."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def environment() -> dict[str, Any]:
    """Versions and machine facts that can change results or speed."""
    return {
        "mcstudy_version": mcstudy.__version__,
        **git_commit(),
        "python_version": sys.version.split()[0],
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
        "numba_threading_layer": threading_layer(),
        "numba_threads": numba.get_num_threads(),
        "numba_disable_jit": bool(numba.config.DISABLE_JIT),
        "host": platform.node(),
        "platform": platform.platform(),
    }
