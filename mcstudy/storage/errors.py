"""Errors of damaged or foreign result files (reported by the CLI as one sentence, exit 2)."""

from __future__ import annotations

from mcstudy.errors import OutputError


class RunDirError(OutputError):
    """A run directory does not match the study, or is damaged."""


class WriteError(OutputError):
    """The file system refused a write (no space, no inodes, quota, read-only, I/O
    error): not bad input. What was committed before stays; nothing is half-written."""

    def __init__(self, message: str, errno: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.errno = errno
        self.reason = reason or message
        """what the file system said (``No space left on device``)"""


class CheckedFileError(OutputError):
    """A checksummed file is unreadable, foreign or damaged."""
