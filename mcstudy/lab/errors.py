"""The lab's user-facing errors (printed by the CLI as one line, exit status 2)."""

from __future__ import annotations

from mcstudy.errors import McStudyError


class LabError(McStudyError):
    """The kernel lab cannot run here, or a lab step failed (says which and why)."""


class LabNotReady(LabError):
    """The emulator, the cross compiler or the cached guest kernel is missing."""
