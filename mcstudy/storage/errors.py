"""Errors of damaged or foreign result files (reported by the CLI as one sentence, exit 2)."""

from __future__ import annotations

from mcstudy.errors import OutputError


class RunDirError(OutputError):
    """A run directory does not match the study, or is damaged."""


class CheckedFileError(OutputError):
    """A checksummed file is unreadable, foreign or damaged."""
