"""Errors of executors (reported by the CLI as one sentence, exit 2)."""

from __future__ import annotations

from mcstudy.errors import McStudyError


class ExecutorError(McStudyError):
    """Bad executor options (oversubscription, unreachable scheduler, bad shard)."""
