"""Read what the guest printed on its console: framed, compressed artefacts per level.

The guest's ``init`` prints (``mcstudy/lab/guest/init``)::

    @@begin NAME        then base64 lines of the gzip-compressed artefact, then
    @@end NAME
    @@level MIB         a pressure level starts (its artefacts follow)
    @@global            the levels are over (the artefacts that follow are global)
    @@error MESSAGE     the experiment stopped
    @@done              everything was printed

Kernel messages can interleave with the artefacts on a serial console; inside a block
every line that is not base64 is dropped, and gzip's CRC then proves the artefact whole.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re
import zlib
from dataclasses import dataclass, field

from mcstudy.lab.errors import LabError

_B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


@dataclass
class Level:
    """The artefacts of one pressure level (churn MiB; 0 = no churn)."""

    mib: int
    files: dict[str, str] = field(default_factory=dict)


@dataclass
class Console:
    """Everything the guest reported."""

    files: dict[str, str] = field(default_factory=dict)
    """Artefacts printed outside any level (facts, events, dmesg, final vmstat)."""
    levels: list[Level] = field(default_factory=list)
    error: str | None = None
    done: bool = False


def _decode(name: str, lines: list[str]) -> str:
    try:
        raw = base64.b64decode("".join(lines), validate=True)
        return gzip.decompress(raw).decode("utf-8", errors="replace")
    except (binascii.Error, OSError, EOFError, zlib.error) as exc:
        raise LabError(f"guest console: artefact {name!r} is damaged ({exc})") from None


def parse_console(text: str) -> Console:
    """Split the console text into artefacts (LabError if one is damaged or unterminated)."""
    out = Console()
    block: str | None = None
    lines: list[str] = []
    in_levels = False
    for raw in text.splitlines():
        line = raw.strip("\r\n").strip()
        if block is not None:
            if line == f"@@end {block}":
                target = out.levels[-1].files if in_levels else out.files
                target[block] = _decode(block, lines)
                block, lines = None, []
            elif _B64.match(line):
                lines.append(line)
            continue
        if line.startswith("@@begin "):
            block = line.split(None, 1)[1]
        elif line.startswith("@@level "):
            try:
                out.levels.append(Level(int(line.split()[1])))
            except (IndexError, ValueError):
                raise LabError(f"guest console: bad level marker {line!r}") from None
            in_levels = True
        elif line == "@@global":
            in_levels = False
        elif line.startswith("@@error"):
            out.error = line[len("@@error") :].strip() or "unknown error"
        elif line == "@@done":
            out.done = True
    if block is not None:
        raise LabError(f"guest console: artefact {block!r} was cut off (the guest stopped)")
    return out
