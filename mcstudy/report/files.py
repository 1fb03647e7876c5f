"""Atomic file writes for reports and figures (see ``mcstudy.storage.atomic``)."""

from __future__ import annotations

from pathlib import Path

from mcstudy.storage.atomic import atomic_write_bytes


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one."""
    return atomic_write_bytes(path, data)
