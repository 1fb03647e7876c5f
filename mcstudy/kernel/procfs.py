"""Strict parsers of the kernel's text files in /proc and /sys.

Every ``parse_*`` function takes either the file's text (a ``str``) and the name of its
source (a path or a label; defaults to the usual path, e.g. ``/proc/vmstat``), or a path
(an ``os.PathLike``, read here and named by its path). Every parser is strict: a line
that fits none of the file's forms, a number that is not one, a repeated entry, or a
missing required entry raises one :class:`ProcFormatError` whose message starts
``SOURCE:LINE:`` (LINE 1-based) and says what is wrong. Only blank lines are skipped.
Standard library only: the probe's worker process imports this module and must not
import numpy or Numba.

Files and their forms:

* ``/proc/zoneinfo`` (``zoneinfo_show_print()`` in mm/vmstat.c): one block per zone,
  ``Node N, zone NAME``, then ``pages free``, the watermarks ``min``/``low``/``high``
  (which include the boost), since v5.0 ``boost``, since v6.0 ``promo``, ``spanned``,
  ``present``, since v3.8 ``managed``, since v5.x ``cma``, ``protection: (..)`` (the
  lowmem reserves), per-zone counters, ``pagesets`` per CPU (``key: value`` lines).
  Since v4.8 node counters sit under ``per-node stats`` in the node's first zone;
  before, ``protection`` came after the counters.
* ``/proc/vmstat``: ``name value`` lines whose names changed over versions
  (``pgsteal_kswapd_normal`` -> ``pgsteal_kswapd``, ``thp_split`` -> ``thp_split_pmd``).
* ``/proc/meminfo``: ``Name: N kB`` or ``Name: N`` (``HugePages_Total``) lines.
  ``/proc/self/status``: ``Name:<tab>value``; values ``N kB`` and ``N`` are numbers,
  others (``Name``, ``State``, id lists, hex masks) are text and not returned.
* ``/proc/interrupts``: a ``CPU<n>`` header (online CPUs only), then ``LABEL:`` rows with
  one count per listed CPU and a description, or a single total (x86 ``ERR``/``MIS``,
  arm64 ``Err``). The rows described "Function call interrupts" (x86 ``CAL``,
  arm64/riscv ``IPI1``: ``smp_call_function*()`` IPIs received) and "TLB shootdowns"
  (x86 ``TLB``: remote ``flush_tlb_func()`` calls, each of which arrived as a
  function-call IPI and is also counted in ``CAL``) are returned.
* ``/proc/self/maps``: ``start-end perms offset dev inode [path]``; ``/proc/self/smaps``:
  the same header per VMA followed by ``Name: N kB``/``Name: N`` fields and ``VmFlags``.
* ``/proc/stat``: the machine-wide ``cpu`` line of tick counts.
* CPU lists (``0-3,6,8-9``), sysfs choice files (``always [madvise] never``), files of
  one integer (sysctls, sysfs counters), kernel config text (``CONFIG_X=y``, ``# CONFIG_X
  is not set``), ``/proc/self/cgroup`` and ``/proc/cpuinfo`` (``key : value`` lines).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from mcstudy.errors import McStudyError

Source = str | os.PathLike[str]
"""A file's text (``str``) or its path (``os.PathLike``)."""


class ProcFormatError(McStudyError):
    """A /proc or /sys file is malformed, truncated, or not the file it claims to be."""


MAX_FILE_BYTES = 64 << 20  # a /proc/zoneinfo of a large machine is a few MiB
MAX_DIGITS = 20  # digits of the largest number in these files (2**64 - 1)
_LONG_NUMBER = re.compile(rf"\d{{{MAX_DIGITS + 1},}}")


def _read(path: Path, name: str, what: str) -> str:
    """The text of a regular file (procfs and sysfs files are regular, of size 0); a
    device, FIFO or directory is refused before it is opened."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ProcFormatError(f"{name}: {what} file not found") from None
    except OSError as exc:
        raise ProcFormatError(f"{name}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ProcFormatError(f"{name}: not a regular file; expected a {what} file or copy")
    try:
        chunks: list[bytes] = []
        size = 0
        with open(path, "rb", buffering=0) as fh:  # small reads: sysctls refuse huge ones
            while size <= MAX_FILE_BYTES and (chunk := fh.read(1 << 16)):
                chunks.append(chunk)
                size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise ProcFormatError(f"{name}: cannot read {what} ({exc.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ProcFormatError(f"{name}: over {MAX_FILE_BYTES >> 20} MiB: not a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProcFormatError(f"{name}:{line}: not text (bytes that are not UTF-8)") from None


def _check_numbers(text: str, name: str) -> None:
    m = _LONG_NUMBER.search(text)  # longer than any counter (or than int() converts)
    if m is not None:
        line = text.count("\n", 0, m.start()) + 1
        raise ProcFormatError(
            f"{name}:{line}: a number of {len(m.group(0))} digits; the values of this file "
            f"have at most {MAX_DIGITS}"
        )


def _load(src: Source, source: str | None, default: str, what: str) -> tuple[str, str]:
    """(text, name) of ``src``: a path is read (and names itself), a str is the text."""
    if isinstance(src, os.PathLike):
        path = Path(src)
        name = source or str(path)
        text = _read(path, name, what)
    elif isinstance(src, str):
        text, name = src, source or default
    else:
        raise TypeError(f"expected the text (str) or a path (os.PathLike), got {type(src)!r}")
    _check_numbers(text, name)
    return text, name


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of every non-blank line (split at newlines only)."""
    for no, raw in enumerate(text.split("\n"), start=1):
        if raw.strip():
            yield no, raw


def _last_line(text: str) -> int:
    return max(1, len(text.rstrip("\n").split("\n")))


def _nonempty(text: str, name: str, what: str) -> None:
    if not text.strip():
        raise ProcFormatError(f"{name}:1: empty file; expected {what}")


def _one_line(text: str, name: str, what: str) -> tuple[int, str]:
    """(line number, stripped line) of a one-line sysfs/sysctl file (blank lines allowed)."""
    _nonempty(text, name, what)
    lines = list(_lines(text))
    if len(lines) > 1:
        no, raw = lines[1]
        raise ProcFormatError(f"{name}:{no}: expected {what} on one line, got {raw.strip()!r}")
    return lines[0][0], lines[0][1].strip()


# ----------------------------------------------------------------- /proc/zoneinfo

_HEADER = re.compile(r"^Node\s+(\d+),\s+zone\s+(\S+)\s*$")
_PAGES_FREE = re.compile(r"^\s+pages free\s+(-?\d+)\s*$")
_KEY_VALUE = re.compile(r"^\s+([a-z][a-z0-9_]*)\s+(-?\d+)\s*$")
_PROTECTION = re.compile(r"^\s+protection:\s*\(([^)]*)\)\s*$")
_COLON_VALUE = re.compile(r"^\s+([a-z][a-z _]*):\s*(-?\d+)\s*$")
_SECTION = re.compile(r"^\s+(pagesets|per-node stats)\s*$")

_REQUIRED = ("free", "min", "low", "high", "present")
_ZONE_FIELDS = ("min", "low", "high", "boost", "promo", "spanned", "present", "managed", "cma")


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
        """WMARK_MIN without the boost (pages)."""
        return self.min - self.boost

    @property
    def wmark_low(self) -> int:
        """WMARK_LOW without the boost (pages)."""
        return self.low - self.boost

    @property
    def wmark_high(self) -> int:
        """WMARK_HIGH without the boost (pages)."""
        return self.high - self.boost


def parse_zoneinfo(src: Source, source: str | None = None) -> list[ZoneInfo]:
    """All zones of a /proc/zoneinfo, in file order (page counts)."""
    text, name = _load(src, source, "/proc/zoneinfo", "/proc/zoneinfo")
    _nonempty(text, name, "/proc/zoneinfo")
    zones: list[ZoneInfo] = []
    seen_zones: set[tuple[int, str]] = set()
    cur: ZoneInfo | None = None
    seen: set[str] = set()
    has_boost: set[int] = set()
    in_pagesets = False
    for no, raw in _lines(text):
        m = _HEADER.match(raw)
        if m:
            if cur is not None:
                _check_zone(name, cur)
            cur = ZoneInfo(node=int(m.group(1)), name=m.group(2), line=no)
            if (cur.node, cur.name) in seen_zones:
                raise ProcFormatError(
                    f"{name}:{no}: zone {cur.name} of node {cur.node} appears twice"
                )
            seen_zones.add((cur.node, cur.name))
            zones.append(cur)
            seen = set()
            in_pagesets = False
            continue
        if cur is None:
            raise ProcFormatError(
                f"{name}:{no}: expected a 'Node N, zone NAME' header, got {raw.strip()!r}"
            )
        where = f"zone {cur.name} of node {cur.node}"
        if m := _PAGES_FREE.match(raw):
            key = "pages free"
            cur.free = int(m.group(1))
        elif m := _SECTION.match(raw):
            in_pagesets = m.group(1) == "pagesets"
            continue
        elif m := _PROTECTION.match(raw):
            key = "protection"
            try:
                cur.protection = [int(x) for x in m.group(1).split(",")]
            except ValueError:
                raise ProcFormatError(
                    f"{name}:{no}: protection: expected integers, got {m.group(1)!r}"
                ) from None
        elif m := _KEY_VALUE.match(raw):
            key, value = m.group(1), int(m.group(2))
            if key in _ZONE_FIELDS and not in_pagesets:
                setattr(cur, key, value)
            else:
                cur.counters[key] = value
        elif _COLON_VALUE.match(raw):
            continue  # pagesets (cpu:, count:, high:, batch:), threshold:, start_pfn: ...
        else:
            raise ProcFormatError(f"{name}:{no}: unrecognised line in {where}: {raw.strip()!r}")
        if key in seen:
            raise ProcFormatError(f"{name}:{no}: {key!r} appears twice in {where}")
        seen.add(key)
        if key == "boost" and not in_pagesets:
            has_boost.add(id(cur))
    if not zones:
        raise ProcFormatError(f"{name}:1: no 'Node N, zone NAME' header: not a /proc/zoneinfo")
    _check_zone(name, zones[-1])
    _check_managed(name, zones, has_boost)
    return zones


def _check_zone(name: str, z: ZoneInfo) -> None:
    for key in _REQUIRED:
        if getattr(z, key) < 0:
            label = "pages free" if key == "free" else key
            raise ProcFormatError(
                f"{name}:{z.line}: zone {z.name} of node {z.node} has no {label!r} line "
                "(truncated file?)"
            )
    if not (z.min <= z.low <= z.high):
        raise ProcFormatError(
            f"{name}:{z.line}: zone {z.name}: watermarks not ordered "
            f"(min {z.min}, low {z.low}, high {z.high})"
        )
    if z.boost < 0 or z.boost > z.min:
        raise ProcFormatError(
            f"{name}:{z.line}: zone {z.name} of node {z.node}: boost {z.boost} outside 0..min "
            f"({z.min}); the printed min includes the boost, so this file is damaged"
        )
    for key in ("free", "min", "present", "managed"):
        if (getattr(z, key) or 0) < 0:
            raise ProcFormatError(f"{name}:{z.line}: zone {z.name} of node {z.node}: {key} < 0")


def _check_managed(name: str, zones: list[ZoneInfo], has_boost: set[int]) -> None:
    """``managed`` is printed since v3.8, before ``boost`` (v5.0) and ``promo`` (v6.0): a
    zone without it, in a file from a kernel that prints it (another zone has it, or
    this zone has a newer field), is a truncated copy, not an old kernel."""
    newer = any(z.managed is not None for z in zones)
    for z in zones:
        if z.managed is None and (newer or id(z) in has_boost or z.promo is not None):
            raise ProcFormatError(
                f"{name}:{z.line}: zone {z.name} of node {z.node} has no 'managed' line, "
                "which this kernel prints (truncated file?)"
            )


def parse_zone_high_pages(src: Source, source: str | None = None) -> int:
    """Sum of every zone's ``high`` watermark in /proc/zoneinfo (pages, boost included)."""
    return sum(z.high for z in parse_zoneinfo(src, source))


# ----------------------------------------------------------------- /proc/vmstat

_VMSTAT = re.compile(r"^([a-z][a-z0-9_]*)\s+(-?\d+)\s*$")


def parse_vmstat(src: Source, source: str | None = None) -> dict[str, int]:
    """All counters of a /proc/vmstat: name -> value (pages or events)."""
    text, name = _load(src, source, "/proc/vmstat", "/proc/vmstat")
    _nonempty(text, name, "/proc/vmstat")
    out: dict[str, int] = {}
    for no, raw in _lines(text):
        m = _VMSTAT.match(raw)
        if not m:
            raise ProcFormatError(
                f"{name}:{no}: expected 'name value' of /proc/vmstat, got {raw.strip()!r}"
            )
        if m.group(1) in out:
            raise ProcFormatError(f"{name}:{no}: counter {m.group(1)!r} appears twice")
        out[m.group(1)] = int(m.group(2))
    if "pgfree" not in out:
        raise ProcFormatError(
            f"{name}:{_last_line(text)}: no 'pgfree' counter: not a /proc/vmstat (truncated?)"
        )
    return out


def vmstat_sum(stats: dict[str, int], prefix: str) -> int:
    """Sum of the counters ``prefix`` and ``prefix_<zone>`` (old per-zone names)."""
    return sum(v for k, v in stats.items() if k == prefix or k.startswith(prefix + "_"))


# ----------------------------------------------------------------- Name: value files

_FIELD = re.compile(r"^([A-Za-z0-9_()]+):[ \t]*(.*?)\s*$")
_INT = r"-?(?:0|[1-9][0-9]*)"
_NUMBER = re.compile(rf"^({_INT})(?:\s+kB)?$")
_FLAGS = re.compile(r"^(?:[a-z0-9]{2}(?:\s+[a-z0-9]{2})*)?$")


def _field_value(value: str, key: str, name: str, no: int, text_ok: bool) -> int | None:
    """The number of a ``Name: value`` field (kB for ``N kB``), None for a text value."""
    m = _NUMBER.match(value)
    if m:
        return int(m.group(1))
    if value.endswith("kB") or not text_ok:
        raise ProcFormatError(f"{name}:{no}: {key}: expected 'N kB' or 'N', got {value!r}")
    return None


def _kb_fields(text: str, name: str, what: str, text_ok: bool) -> dict[str, int]:
    _nonempty(text, name, what)
    out: dict[str, int] = {}
    keys: set[str] = set()
    for no, raw in _lines(text):
        m = _FIELD.match(raw)
        if not m:
            raise ProcFormatError(f"{name}:{no}: expected 'Name: value', got {raw.strip()!r}")
        key = m.group(1)
        if key in keys:
            raise ProcFormatError(f"{name}:{no}: field {key!r} appears twice")
        keys.add(key)
        value = _field_value(m.group(2), key, name, no, text_ok)
        if value is not None:
            out[key] = value
    return out


def parse_meminfo(src: Source, source: str | None = None) -> dict[str, int]:
    """/proc/meminfo: field -> value (kB for ``kB`` fields, a count for the others)."""
    text, name = _load(src, source, "/proc/meminfo", "/proc/meminfo")
    return _kb_fields(text, name, "/proc/meminfo", text_ok=False)


def parse_kb_fields(src: Source, source: str | None = None) -> dict[str, int]:
    """``Name: value`` fields of /proc/self/status (or meminfo): numeric field -> value.

    ``N kB`` gives N (kB), ``N`` gives N; text values (``Name``, ``State``, ``Uid`` lists,
    hex masks such as ``SigPnd``) are not numbers and are left out. A line that is not
    ``Name: value``, a repeated name or a malformed ``kB`` value raises.
    """
    text, name = _load(src, source, "/proc/self/status", "/proc/self/status")
    return _kb_fields(text, name, "'Name: value' fields", text_ok=True)


# ----------------------------------------------------------------- /proc/interrupts

FUNCTION_CALL_ROW = "Function call interrupts"
TLB_SHOOTDOWN_ROW = "TLB shootdowns"

_IRQ_ROW = re.compile(r"^\s*([^\s:]+):(.*)$")
_CPU = re.compile(r"^CPU(\d+)$")


@dataclass(frozen=True)
class Interrupts:
    """Per-CPU IPI counts from /proc/interrupts (interrupts; columns in ``cpus`` order)."""

    cpus: tuple[int, ...]
    function_call: tuple[int, ...]
    tlb_shootdown: tuple[int, ...]
    """Zeros where the architecture has no such row (e.g. arm64 broadcasts TLBI)."""


def _is_count(word: str) -> bool:
    return word.isascii() and word.isdigit()


def parse_interrupts(src: Source, source: str | None = None) -> Interrupts:
    """The per-CPU function-call and TLB-shootdown IPI counts of /proc/interrupts."""
    text, name = _load(src, source, "/proc/interrupts", "/proc/interrupts")
    _nonempty(text, name, "/proc/interrupts")
    lines = _lines(text)
    no, header = next(lines)
    ids = [_CPU.match(h) for h in header.split()]
    cpus = tuple(int(m.group(1)) for m in ids if m)
    if len(cpus) != len(ids) or list(cpus) != sorted(set(cpus)):
        raise ProcFormatError(
            f"{name}:{no}: expected a header of increasing 'CPU<n>' columns, got {header.strip()!r}"
        )
    n = len(cpus)
    labels: set[str] = set()
    rows: dict[str, tuple[int, ...]] = {}
    for no, raw in lines:
        m = _IRQ_ROW.match(raw)
        if not m:
            raise ProcFormatError(f"{name}:{no}: expected 'LABEL: counts', got {raw.strip()!r}")
        label, parts = m.group(1), m.group(2).split()
        if label in labels:
            raise ProcFormatError(f"{name}:{no}: row {label!r} appears twice")
        labels.add(label)
        if len(parts) == 1 and _is_count(parts[0]):
            continue  # a total, not per CPU: x86 ERR/MIS, arm64 Err
        counts = parts[:n]
        if len(counts) < n or not all(_is_count(c) for c in counts):
            raise ProcFormatError(
                f"{name}:{no}: row {label!r}: expected {n} per-CPU counts "
                f"(or one total), got {m.group(2).strip()!r}"
            )
        desc = " ".join(parts[n:])
        if desc in (FUNCTION_CALL_ROW, TLB_SHOOTDOWN_ROW):
            if desc in rows:
                raise ProcFormatError(f"{name}:{no}: a second {desc!r} row ({label!r})")
            rows[desc] = tuple(int(c) for c in counts)
    if FUNCTION_CALL_ROW not in rows:
        raise ProcFormatError(
            f"{name}:{_last_line(text)}: no {FUNCTION_CALL_ROW!r} row: cannot count the "
            "synchronous IPIs on this architecture"
        )
    return Interrupts(cpus, rows[FUNCTION_CALL_ROW], rows.get(TLB_SHOOTDOWN_ROW, (0,) * n))


# ----------------------------------------------------------------- maps and smaps

_MAPS = re.compile(
    r"^([0-9a-f]+)-([0-9a-f]+)\s+[r-][w-][x-][ps]\s+[0-9a-f]+\s+[0-9a-f]+:[0-9a-f]+\s+\d+"
    r"(?:\s.*)?$"
)


def _vma(raw: str, name: str, no: int) -> tuple[int, int] | None:
    """(start, end) of a maps line (byte addresses), None if the line is not one."""
    m = _MAPS.match(raw)
    if not m:
        return None
    start, end = int(m.group(1), 16), int(m.group(2), 16)
    if start >= end:
        raise ProcFormatError(
            f"{name}:{no}: VMA is empty or ends before it starts: {raw.strip()!r}"
        )
    return start, end


def parse_maps(src: Source, source: str | None = None) -> list[tuple[int, int]]:
    """/proc/self/maps: sorted (start, end) of every VMA (byte addresses)."""
    text, name = _load(src, source, "/proc/self/maps", "/proc/self/maps")
    _nonempty(text, name, "/proc/self/maps")
    out = []
    for no, raw in _lines(text):
        vma = _vma(raw, name, no)
        if vma is None:
            raise ProcFormatError(
                f"{name}:{no}: expected 'start-end perms offset dev inode [path]', "
                f"got {raw.strip()!r}"
            )
        out.append(vma)
    return sorted(out)


def parse_smaps(src: Source, source: str | None = None) -> dict[int, dict[str, int]]:
    """/proc/self/smaps: VMA start (byte address) -> its fields (kB, or counts).

    ``VmFlags`` (two-letter flags) is checked but not returned.
    """
    text, name = _load(src, source, "/proc/self/smaps", "/proc/self/smaps")
    _nonempty(text, name, "/proc/self/smaps")
    out: dict[int, dict[str, int]] = {}
    fields: dict[str, int] | None = None
    keys: set[str] = set()
    for no, raw in _lines(text):
        vma = _vma(raw, name, no)
        if vma is not None:
            if vma[0] in out:
                raise ProcFormatError(f"{name}:{no}: a second VMA starts at 0x{vma[0]:x}")
            fields = out[vma[0]] = {}
            keys = set()
            continue
        m = _FIELD.match(raw)
        if not m or fields is None:
            what = "a VMA header" if fields is None else "'Name: value' or a VMA header"
            raise ProcFormatError(f"{name}:{no}: expected {what}, got {raw.strip()!r}")
        key, value = m.group(1), m.group(2)
        if key in keys:
            raise ProcFormatError(f"{name}:{no}: field {key!r} appears twice in one VMA")
        keys.add(key)
        if key == "VmFlags":
            if not _FLAGS.match(value):
                raise ProcFormatError(f"{name}:{no}: VmFlags: expected 2-letter flags: {value!r}")
            continue
        number = _field_value(value, key, name, no, text_ok=False)
        assert number is not None
        fields[key] = number
    return out


def parse_smaps_vma(src: Source, start: int, source: str | None = None) -> dict[str, int]:
    """/proc/self/smaps fields (kB, or counts) of the VMA that starts at ``start`` (bytes)."""
    text, name = _load(src, source, "/proc/self/smaps", "/proc/self/smaps")
    vmas = parse_smaps(text, name)
    if start not in vmas:
        raise ProcFormatError(f"{name}:{_last_line(text)}: no VMA starts at 0x{start:x}")
    return vmas[start]


# ----------------------------------------------------------------- small sysfs/procfs files

_CPU_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_CHOICE = re.compile(r"^(\[)?([^\s\[\]]+)(\])?$")


def parse_cpu_list(src: Source, source: str | None = None) -> list[int]:
    """A kernel CPU list such as ``0-3,6,8-9`` (CPU ids, ascending; empty line: none)."""
    text, name = _load(src, source, "CPU list", "CPU list")
    if not text.strip():
        return []
    no, line = _one_line(text, name, "a CPU list")
    cpus: list[int] = []
    for part in line.split(","):
        m = _CPU_RANGE.match(part)
        lo = int(m.group(1)) if m else -1
        hi = int(m.group(2) or lo) if m else -1
        if not m or hi < lo or (cpus and lo <= cpus[-1]):
            raise ProcFormatError(
                f"{name}:{no}: expected ascending 'N' or 'N-M' items in a CPU list, "
                f"got {part!r} in {line!r}"
            )
        cpus.extend(range(lo, hi + 1))
    return cpus


def parse_sysfs_choice(src: Source, source: str | None = None) -> str:
    """The bracketed choice of a sysfs selector such as ``always [madvise] never``."""
    text, name = _load(src, source, "sysfs choice", "sysfs choice")
    no, line = _one_line(text, name, "'a [b] c' choices")
    chosen = []
    for word in line.split():
        m = _CHOICE.match(word)
        if not m or bool(m.group(1)) != bool(m.group(3)):
            raise ProcFormatError(f"{name}:{no}: malformed choice {word!r} in {line!r}")
        if m.group(1):
            chosen.append(m.group(2))
    if len(chosen) != 1:
        raise ProcFormatError(
            f"{name}:{no}: expected exactly one [bracketed] choice, got {len(chosen)} in {line!r}"
        )
    return chosen[0]


def parse_int(src: Source, source: str | None = None) -> int:
    """A file holding one integer (a sysctl such as vm.max_map_count, a sysfs counter)."""
    text, name = _load(src, source, "integer file", "integer file")
    no, line = _one_line(text, name, "one integer")
    if not re.fullmatch(_INT, line):
        raise ProcFormatError(f"{name}:{no}: expected one integer, got {line!r}")
    return int(line)


# ----------------------------------------------------------------- /proc/stat

STAT_CPU_FIELDS = (
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice",
)  # fmt: skip
"""Columns of the ``cpu`` lines of /proc/stat (USER_HZ ticks; ``guest`` is within ``user``)."""


def parse_stat_cpu(src: Source, source: str | None = None) -> dict[str, int]:
    """The machine-wide ``cpu`` line of /proc/stat: field -> USER_HZ ticks (older
    kernels print fewer columns; the missing ones are 0)."""
    text, name = _load(src, source, "/proc/stat", "/proc/stat")
    _nonempty(text, name, "/proc/stat")
    for no, raw in _lines(text):
        words = raw.split()
        if words[0] != "cpu":
            continue
        values = words[1:]
        if not 4 <= len(values) <= len(STAT_CPU_FIELDS) or not all(
            re.fullmatch(r"\d+", v) for v in values
        ):
            raise ProcFormatError(f"{name}:{no}: expected 'cpu' and 4 to 10 tick counts")
        counts = [int(v) for v in values] + [0] * (len(STAT_CPU_FIELDS) - len(values))
        return dict(zip(STAT_CPU_FIELDS, counts, strict=True))
    raise ProcFormatError(f"{name}:{_last_line(text)}: no 'cpu' line: not a /proc/stat")


# ----------------------------------------------------------------- kernel config

_KCONFIG_SET = re.compile(r'^(CONFIG_[A-Za-z0-9_]+)=("(?:[^"\\]|\\.)*"|[^\s"]+)$')
_KCONFIG_UNSET = re.compile(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$")


def parse_kconfig(src: Source, source: str | None = None) -> dict[str, str]:
    """A kernel .config: ``CONFIG_X`` -> value (``"n"`` for ``# CONFIG_X is not set``).

    Quoted strings are unquoted (``\\"`` and ``\\\\`` unescaped); other ``#`` lines are
    comments.
    """
    text, name = _load(src, source, "kernel config", "kernel config")
    _nonempty(text, name, "a kernel config")
    out: dict[str, str] = {}
    for no, raw in _lines(text):
        line = raw.strip()
        m = _KCONFIG_SET.match(line) or _KCONFIG_UNSET.match(line)
        if m is None:
            if line.startswith("#"):
                continue
            raise ProcFormatError(
                f"{name}:{no}: expected 'CONFIG_X=value', '# CONFIG_X is not set' or a "
                f"comment, got {line!r}"
            )
        key = m.group(1)
        if key in out:
            raise ProcFormatError(f"{name}:{no}: {key} appears twice")
        if m.re is _KCONFIG_UNSET:
            out[key] = "n"
        else:
            value = m.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            out[key] = value
    return out


# ----------------------------------------------------------------- cgroup, cpuinfo


class CgroupEntry(NamedTuple):
    """One line of /proc/self/cgroup (v2: hierarchy 0, no controllers)."""

    hierarchy: int
    controllers: tuple[str, ...]
    path: str


_CGROUP = re.compile(r"^(\d+):([^:]*):(/.*)$")
_CPUINFO = re.compile(r"^\s*([^\s:][^:]*?)\s*:\s*(.*?)\s*$")


def parse_cgroup(src: Source, source: str | None = None) -> list[CgroupEntry]:
    """/proc/self/cgroup: ``hierarchy-ID:controller-list:cgroup-path`` lines, in file order."""
    text, name = _load(src, source, "/proc/self/cgroup", "/proc/self/cgroup")
    _nonempty(text, name, "/proc/self/cgroup")
    out = []
    for no, raw in _lines(text):
        m = _CGROUP.match(raw)
        if not m:
            raise ProcFormatError(
                f"{name}:{no}: expected 'ID:controllers:/path', got {raw.strip()!r}"
            )
        controllers = tuple(c for c in m.group(2).split(",") if c)
        out.append(CgroupEntry(int(m.group(1)), controllers, m.group(3)))
    return out


def parse_cpuinfo(src: Source, source: str | None = None) -> list[tuple[str, str]]:
    """/proc/cpuinfo: every (key, value) line in file order (blank lines part the CPUs)."""
    text, name = _load(src, source, "/proc/cpuinfo", "/proc/cpuinfo")
    _nonempty(text, name, "/proc/cpuinfo")
    out = []
    for no, raw in _lines(text):
        m = _CPUINFO.match(raw)
        if not m:
            raise ProcFormatError(f"{name}:{no}: expected 'key : value', got {raw.strip()!r}")
        out.append((m.group(1), m.group(2) or ""))
    return out
