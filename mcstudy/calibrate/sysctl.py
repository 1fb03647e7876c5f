"""Reads of the live ``/proc/sys/vm`` sysctls that calibration needs."""

from __future__ import annotations

from pathlib import Path

from mcstudy.kernel.procfs import parse_int

LIVE_SYSCTL = Path("/proc/sys/vm")


def read_sysctl(name: str, root: Path = LIVE_SYSCTL) -> int | None:
    """The integer sysctl ``vm.<name>`` (None if it cannot be read, e.g. not Linux).

    A file that does not hold one integer raises ``ProcFormatError`` naming it.
    """
    path = root / name
    try:
        text = path.read_text()
    except OSError:
        return None
    return parse_int(text, str(path))
