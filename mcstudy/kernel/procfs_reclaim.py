"""Strict readers of the files calibration's reclaim values come from (docs/model.md
§8.1.1): /proc/pressure/* (PSI), ``/proc/PID/stat`` lines, and the per-zone reclaim
counters of /proc/vmstat; beside :mod:`mcstudy.kernel.procfs` (same conventions: a
malformed line raises one ``ProcFormatError`` starting ``SOURCE:LINE:``), and, like it,
standard library only.

A missing file, or one the kernel refuses to produce (``EOPNOTSUPP``: PSI disabled),
raises :class:`ProcUnavailableError` from :func:`read_optional`: the facility is
absent, the file is not damaged.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from mcstudy.kernel.procfs import (
    ProcFormatError,
    Source,
    _last_line,
    _lines,
    _load,
    _nonempty,
)

MAX_SMALL_FILE = 1 << 20
"""Largest PSI or stat copy read (bytes); the kernel's are under 1 KiB per line."""


class ProcUnavailableError(ProcFormatError):
    """The file does not exist, or the kernel refuses to produce it (``EOPNOTSUPP``, as
    a PSI file of a kernel booted with PSI disabled). ``errno`` is the failed call's."""

    def __init__(self, message: str, errno_: int) -> None:
        super().__init__(message)
        self.errno = errno_


def read_optional(path: Path, what: str) -> str:
    """The text of a small regular file that may legitimately be absent:
    ProcUnavailableError if it is missing or the kernel answers EOPNOTSUPP, else
    ProcFormatError naming it (not a regular file, unreadable, too large, not text)."""
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ProcUnavailableError(f"{name}: {what} file not found", errno.ENOENT) from None
    except OSError as exc:
        raise ProcFormatError(f"{name}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ProcFormatError(f"{name}: not a regular file; expected a {what} file or copy")
    try:
        with open(path, "rb", buffering=0) as fh:
            data = fh.read(MAX_SMALL_FILE + 1)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.ENOTSUP):
            raise ProcUnavailableError(
                f"{name}: cannot read {what} ({exc.strerror}: the kernel does not provide it)",
                exc.errno,
            ) from None
        raise ProcFormatError(f"{name}: cannot read {what} ({exc.strerror})") from None
    if len(data) > MAX_SMALL_FILE:
        raise ProcFormatError(f"{name}: over {MAX_SMALL_FILE} bytes: not a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProcFormatError(f"{name}:{line}: not text (bytes that are not UTF-8)") from None


def _text(src: Source, source: str | None, default: str, what: str) -> tuple[str, str]:
    if isinstance(src, os.PathLike):
        return _load(read_optional(Path(src), what), source or str(src), default, what)
    return _load(src, source, default, what)


_ZONE_SUFFIXES = ("dma", "dma32", "normal", "high", "highmem", "movable", "device")


def vmstat_zone_sum(stats: dict[str, int], prefix: str) -> int:
    """Sum of the counter ``prefix`` and its per-zone forms ``prefix_<zone>`` only
    (``allocstall_movable``, before v4.8 ``pgscan_direct_normal``): unlike
    :func:`vmstat_sum`, other counters that share the prefix, such as
    ``pgscan_direct_throttle`` (throttled direct reclaimers, not pages), are left out."""
    names = {prefix, *(f"{prefix}_{z}" for z in _ZONE_SUFFIXES)}
    return sum(v for k, v in stats.items() if k in names)


# ----------------------------------------------------------------- /proc/pressure/*

_PSI_LINE = re.compile(
    r"^(some|full) avg10=(\d+\.\d\d) avg60=(\d+\.\d\d) avg300=(\d+\.\d\d) total=(\d+)$"
)


@dataclass(frozen=True)
class PsiLine:
    """One line of a PSI file (``psi_show()`` in kernel/sched/psi.c): the running
    averages (percent of wall time over 10, 60 and 300 s) and ``total``, the cumulative
    stall time (microseconds)."""

    kind: str
    """``some`` or ``full``."""
    avg10: float
    avg60: float
    avg300: float
    total_us: int
    line: int


def parse_psi(src: Source, source: str | None = None) -> dict[str, PsiLine]:
    """A PSI file such as /proc/pressure/memory: ``some`` (required) and ``full`` (the
    memory and io files always have it, the cpu file since v5.13) -> its line."""
    text, name = _text(src, source, "/proc/pressure/memory", "pressure stall information")
    _nonempty(text, name, "PSI lines 'some avg10=.. avg60=.. avg300=.. total=..'")
    out: dict[str, PsiLine] = {}
    for no, raw in _lines(text):
        m = _PSI_LINE.match(raw.strip())
        if not m:
            raise ProcFormatError(
                f"{name}:{no}: expected 'some|full avg10=N.NN avg60=N.NN avg300=N.NN "
                f"total=N' (pressure stall information), got {raw.strip()!r}"
            )
        kind = m.group(1)
        if kind in out:
            raise ProcFormatError(f"{name}:{no}: a second {kind!r} line")
        avgs = [float(m.group(i)) for i in (2, 3, 4)]
        if any(a > 100.0 for a in avgs):
            raise ProcFormatError(f"{name}:{no}: {kind}: an average above 100 %: {raw.strip()!r}")
        out[kind] = PsiLine(kind, *avgs, int(m.group(5)), no)
    if "some" not in out:
        raise ProcFormatError(f"{name}:{_last_line(text)}: no 'some' line: not a PSI file")
    return out


# ----------------------------------------------------------------- /proc/PID/stat

PF_KTHREAD = 0x00200000
"""``task_struct.flags`` bit of a kernel thread (include/linux/sched.h)."""


@dataclass(frozen=True)
class PidStat:
    """The fields of one ``/proc/PID/stat`` line that calibration uses
    (``do_task_stat()`` in fs/proc/array.c; times in USER_HZ clock ticks)."""

    pid: int
    comm: str
    flags: int
    utime: int
    stime: int
    starttime: int
    """Clock ticks after boot at which the task started (tells a reused PID apart)."""
    line: int

    @property
    def cpu_ticks(self) -> int:
        """utime + stime (USER_HZ ticks)."""
        return self.utime + self.stime

    @property
    def kthread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)


_PID_STAT = re.compile(r"^(\d+) \((.*)\) (\S.*)$")


def _pid_stat_line(raw: str, name: str, no: int) -> PidStat:
    m = _PID_STAT.match(raw.strip())
    rest = m.group(3).split() if m else []
    # after "(comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
    if not m or len(rest) < 20 or not all(re.fullmatch(r"-?\d+", f) for f in rest[1:20]):
        raise ProcFormatError(
            f"{name}:{no}: expected a /proc/PID/stat line 'PID (COMM) STATE PPID ...' with "
            f"at least 22 fields, got {raw.strip()[:80]!r}"
        )
    flags, utime, stime, start = (int(rest[i]) for i in (6, 11, 12, 19))
    if min(flags, utime, stime, start) < 0:
        raise ProcFormatError(f"{name}:{no}: negative flags, utime, stime or starttime")
    return PidStat(int(m.group(1)), m.group(2), flags, utime, stime, start, no)


def parse_pid_stats(src: Source, source: str | None = None) -> list[PidStat]:
    """One or more ``/proc/PID/stat`` lines (a copy of several tasks' files, one line
    each), in file order; a PID may appear once."""
    text, name = _text(src, source, "/proc/PID/stat", "/proc/PID/stat")
    _nonempty(text, name, "/proc/PID/stat lines")
    out: list[PidStat] = []
    seen: set[int] = set()
    for no, raw in _lines(text):
        st = _pid_stat_line(raw, name, no)
        if st.pid in seen:
            raise ProcFormatError(f"{name}:{no}: PID {st.pid} appears twice")
        seen.add(st.pid)
        out.append(st)
    return out


def parse_pid_stat(src: Source, source: str | None = None) -> PidStat:
    """A single ``/proc/PID/stat`` line."""
    stats = parse_pid_stats(src, source)
    if len(stats) != 1:
        name = source or (str(src) if isinstance(src, os.PathLike) else "/proc/PID/stat")
        raise ProcFormatError(f"{name}:{stats[1].line}: expected one /proc/PID/stat line")
    return stats[0]
