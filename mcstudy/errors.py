"""Errors that the command line reports as one sentence and exit status 2."""

from __future__ import annotations


class McStudyError(Exception):
    """A user-facing error: bad config, missing file, foreign output file..."""


class ConfigError(McStudyError):
    """A study config (or an override of it) is invalid."""


class OutputError(McStudyError):
    """An output file is missing, corrupt, or not an mcstudy dataset."""
