"""Errors of the sweep machinery (all reported by the CLI as one sentence, exit 2)."""

from __future__ import annotations

from mcstudy.errors import McStudyError, OutputError


class ExecutorError(McStudyError):
    """Bad executor options (oversubscription, unreachable scheduler, bad shard)."""


class RunDirError(OutputError):
    """A run directory does not match the study, or is damaged."""


class CheckedFileError(OutputError):
    """A checksummed file is unreadable, foreign or damaged."""
