"""The probe's user-facing error (printed by the CLI as one line, exit status 2)."""

from __future__ import annotations

from mcstudy.errors import McStudyError


class ProbeError(McStudyError):
    """The live-kernel probe cannot run here, or a probe step failed (says which and why)."""
