"""Parsers for /proc/zoneinfo and /proc/vmstat (old and new kernel formats).

``/proc/zoneinfo`` (``zoneinfo_show_print()`` in mm/vmstat.c): one block per zone,
``Node N, zone NAME``, then ``pages free``, the watermarks ``min``/``low``/``high``
(which include the boost), since v5.0 ``boost``, since v6.0 ``promo``, ``spanned``,
``present``, since v3.8 ``managed``, since v5.x ``cma``, ``protection: (..)`` (the
lowmem reserves), per-zone counters, ``pagesets`` per CPU. Since v4.8 node counters sit
under ``per-node stats`` in the node's first zone; before, ``protection`` came after the
counters. ``/proc/vmstat``: ``name value`` lines whose names changed over versions
(``pgsteal_kswapd_normal`` -> ``pgsteal_kswapd``, ``thp_split`` -> ``thp_split_pmd``).

A line that fits none of these forms, a missing required field or a number that is not
one gives ``ProcFormatError`` naming the file and the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mcstudy.errors import McStudyError


class ProcFormatError(McStudyError):
    """A /proc file is malformed, truncated, or not the file it claims to be."""


_HEADER = re.compile(r"^Node\s+(\d+),\s+zone\s+(\S+)\s*$")
_PAGES_FREE = re.compile(r"^\s+pages free\s+(-?\d+)\s*$")
_KEY_VALUE = re.compile(r"^\s+([a-z][a-z0-9_]*)\s+(-?\d+)\s*$")
_PROTECTION = re.compile(r"^\s+protection:\s*\(([^)]*)\)\s*$")
_COLON_VALUE = re.compile(r"^\s+([a-z][a-z _]*):\s*(-?\d+)\s*$")
_SECTION = re.compile(r"^\s+(pagesets|per-node stats)\s*$")
_VMSTAT = re.compile(r"^([a-z][a-z0-9_]*)\s+(-?\d+)\s*$")

_REQUIRED = ("free", "min", "low", "high", "present")


@dataclass
class ZoneInfo:
    """One zone of /proc/zoneinfo (pages). ``min``/``low``/``high`` include ``boost``."""

    node: int
    name: str
    line: int
    free: int = -1
    min: int = -1
    low: int = -1
    high: int = -1
    boost: int = 0
    promo: int | None = None
    spanned: int | None = None
    present: int = -1
    managed: int | None = None
    cma: int | None = None
    protection: list[int] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def managed_pages(self) -> int:
        """Managed pages (``present`` on kernels before v3.8, which do not print it)."""
        return self.managed if self.managed is not None else self.present

    @property
    def wmark_min(self) -> int:
        """WMARK_MIN without the boost."""
        return self.min - self.boost

    @property
    def wmark_low(self) -> int:
        return self.low - self.boost

    @property
    def wmark_high(self) -> int:
        return self.high - self.boost


def _read(path: str | Path, what: str) -> list[str]:
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ProcFormatError(f"{path}: {what} file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProcFormatError(f"{path}: cannot read {what} ({exc})") from None
    if not text.strip():
        raise ProcFormatError(f"{path}:1: empty file; expected {what}")
    return text.splitlines()


def parse_zoneinfo(path: str | Path) -> list[ZoneInfo]:
    """All zones of a /proc/zoneinfo file, in file order."""
    lines = _read(path, "/proc/zoneinfo")
    zones: list[ZoneInfo] = []
    cur: ZoneInfo | None = None
    in_pagesets = False
    for no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        m = _HEADER.match(raw)
        if m:
            if cur is not None:
                _check_zone(path, cur)
            cur = ZoneInfo(node=int(m.group(1)), name=m.group(2), line=no)
            zones.append(cur)
            in_pagesets = False
            continue
        if cur is None:
            raise ProcFormatError(
                f"{path}:{no}: expected a 'Node N, zone NAME' header, got {raw.strip()!r}"
            )
        m = _PAGES_FREE.match(raw)
        if m:
            cur.free = int(m.group(1))
            continue
        m = _SECTION.match(raw)
        if m:
            in_pagesets = m.group(1) == "pagesets"
            continue
        m = _PROTECTION.match(raw)
        if m:
            try:
                cur.protection = [int(x) for x in m.group(1).split(",")]
            except ValueError:
                raise ProcFormatError(
                    f"{path}:{no}: protection: expected integers, got {m.group(1)!r}"
                ) from None
            continue
        m = _KEY_VALUE.match(raw)
        if m:
            key, value = m.group(1), int(m.group(2))
            if key in ("min", "low", "high", "boost", "promo", "spanned", "present"):
                if not in_pagesets:
                    setattr(cur, key, value)
                    continue
            if key in ("managed", "cma") and not in_pagesets:
                setattr(cur, key, value)
                continue
            cur.counters[key] = value
            continue
        m = _COLON_VALUE.match(raw)
        if m:  # pagesets (cpu:, count:, high:, batch:, ...), vm stats threshold:, start_pfn:
            continue
        raise ProcFormatError(
            f"{path}:{no}: unrecognised line in zone {cur.name} of node {cur.node}: {raw.strip()!r}"
        )
    if not zones:
        raise ProcFormatError(f"{path}:1: no 'Node N, zone NAME' header: not a /proc/zoneinfo")
    _check_zone(path, zones[-1])
    return zones


def _check_zone(path: str | Path, z: ZoneInfo) -> None:
    for key in _REQUIRED:
        if getattr(z, key) < 0:
            label = "pages free" if key == "free" else key
            raise ProcFormatError(
                f"{path}:{z.line}: zone {z.name} of node {z.node} has no {label!r} line "
                "(truncated file?)"
            )
    if not (z.min <= z.low <= z.high):
        raise ProcFormatError(
            f"{path}:{z.line}: zone {z.name}: watermarks not ordered "
            f"(min {z.min}, low {z.low}, high {z.high})"
        )


def parse_vmstat(path: str | Path) -> dict[str, int]:
    """All counters of a /proc/vmstat file."""
    lines = _read(path, "/proc/vmstat")
    out: dict[str, int] = {}
    for no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        m = _VMSTAT.match(raw)
        if not m:
            raise ProcFormatError(
                f"{path}:{no}: expected 'name value' of /proc/vmstat, got {raw.strip()!r}"
            )
        if m.group(1) in out:
            raise ProcFormatError(f"{path}:{no}: counter {m.group(1)!r} appears twice")
        out[m.group(1)] = int(m.group(2))
    for key in ("pgfree",):
        if key not in out:
            raise ProcFormatError(
                f"{path}:{len(lines)}: no {key!r} counter: not a /proc/vmstat (truncated?)"
            )
    return out


def vmstat_sum(stats: dict[str, int], prefix: str) -> int:
    """Sum of the counters ``prefix`` and ``prefix_<zone>`` (old per-zone names)."""
    return sum(v for k, v in stats.items() if k == prefix or k.startswith(prefix + "_"))
