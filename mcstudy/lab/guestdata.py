"""The guest's artefacts, parsed: the workload's windows and snapshots, the zone samples,
and the kprobe trace cut into gathers.

* ``ptwork`` output (``mcstudy/lab/guest/labwork.c``): the region, the process's VMAs,
  and for every window (``work``: a block of gathers; ``idle``: the no-work window after
  it, as long as the block) the text of each snapshot file at its begin and end:
  ``/proc/interrupts``, ``/proc/vmstat``, ``/proc/zoneinfo``, kswapd's ``/proc/PID/stat``
  and the trace histograms (tables per task, sync callbacks per CPU). Each is parsed with
  the strict parsers of :mod:`mcstudy.kernel.procfs`.
* ``samples``: ``z MS NODE ZONE FREE MIN LOW HIGH BOOST`` lines (pages) every few ms.
* ``trace``: the ftrace text of the ``lab`` kprobe events (docs/lab.md): ``gather``
  (``tlb_gather_mmu()``), ``attempt`` (``tlb_remove_table()`` entered with no batch page),
  ``gfp`` (``__get_free_pages()`` returning to ``tlb_remove_table()``: the attempt's
  outcome), ``wmark`` (``__zone_watermark_ok()``: the slow watermark check, with the mark
  and the free pages it saw), ``sync`` (``smp_call_function(tlb_remove_table_smp_sync)``:
  one fallback's round), ``rcufree`` (``call_rcu(__tlb_remove_table_one_rcu)``: a
  PT_RECLAIM fallback), ``rcuwait``/``rcuwaited`` (entry and return of
  ``tlb_remove_table_sync_rcu()``: a 7.1+ PT_RECLAIM=n fallback's wait), ``free_*`` (architecture table frees) and ``finish``
  (``tlb_finish_mmu()``, with the batch page and the tables it holds).

Timestamps: the trace runs on the ``mono`` clock, the workload's windows on
``CLOCK_MONOTONIC``: the same time base, so each gather falls in one window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mcstudy.kernel import procfs
from mcstudy.lab.errors import LabError

NS = 1e-9
TRACE_LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+\S+\s+(?P<ts>\d+\.\d+):\s+"
    r"(?P<event>[A-Za-z0-9_]+):\s+\((?P<where>[^)]*)\)(?P<fields>.*)$"
)
FIELD = re.compile(r"(\w+)=(\S+)")


# ----------------------------------------------------------------- ptwork windows


@dataclass
class Window:
    """One window of the workload: a block of gathers (``work``) or a no-work window."""

    kind: str
    block: int
    gathers: int
    start_ns: int
    end_ns: int
    begin: dict[str, str] = field(default_factory=dict)
    """Snapshot file path -> text at the window's start."""
    end: dict[str, str] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) * NS

    def file(self, edge: str, suffix: str) -> str:
        """The text of the snapshot whose path ends with ``suffix`` (LabError if none)."""
        files = self.begin if edge == "begin" else self.end
        hits = [text for path, text in files.items() if path.endswith(suffix)]
        if len(hits) != 1:
            raise LabError(f"window {self.kind} {self.block}: no single snapshot of *{suffix}")
        return hits[0]

    def function_calls(self) -> list[int]:
        """Function-call IPIs received per CPU during the window (``/proc/interrupts``)."""
        a = procfs.parse_interrupts(self.file("begin", "/interrupts"), "/proc/interrupts")
        b = procfs.parse_interrupts(self.file("end", "/interrupts"), "/proc/interrupts")
        if a.cpus != b.cpus:
            raise LabError("a guest CPU went on- or offline during a window")
        return [y - x for x, y in zip(a.function_call, b.function_call, strict=True)]

    def vmstat_delta(self, name: str, exact: bool = False) -> int:
        """Change of one ``/proc/vmstat`` counter over the window (summed over zones for
        a prefix such as ``pgalloc``; ``exact``: that counter alone, so that
        ``thp_collapse_alloc`` leaves out ``thp_collapse_alloc_failed``)."""
        a = procfs.parse_vmstat(self.file("begin", "/vmstat"), "/proc/vmstat")
        b = procfs.parse_vmstat(self.file("end", "/vmstat"), "/proc/vmstat")
        if exact:
            return b.get(name, 0) - a.get(name, 0)
        return procfs.vmstat_sum(b, name) - procfs.vmstat_sum(a, name)

    def has(self, suffix: str) -> bool:
        """The window has a snapshot whose path ends with ``suffix``."""
        return any(p.endswith(suffix) for p in self.begin)

    def number_delta(self, suffix: str) -> int:
        """Change of a file holding one number (a sysfs counter) over the window."""

        def value(edge: str) -> int:
            text = self.file(edge, suffix).strip()
            try:
                return int(text)
            except ValueError:
                raise LabError(
                    f"window {self.kind} {self.block}: *{suffix} holds {text[:40]!r}, not a number"
                ) from None

        return value("end") - value("begin")

    def hist_delta(self, suffix: str) -> dict[int, int]:
        """Change of a trace histogram's hit counts per key over the window."""
        a = parse_hist(self.file("begin", suffix))
        b = parse_hist(self.file("end", suffix))
        return {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}

    def kswapd_cpu_ticks(self) -> int:
        """kswapd's CPU time during the window (clock ticks, utime + stime)."""
        return _proc_stat_ticks(self.file("end", "/stat")) - _proc_stat_ticks(
            self.file("begin", "/stat")
        )


@dataclass
class PtworkRun:
    """Everything the workload printed for one level."""

    region: tuple[int, int]
    maps: list[tuple[int, int]]
    windows: list[Window]
    done: int

    def of_kind(self, kind: str) -> list[Window]:
        return [w for w in self.windows if w.kind == kind]


_HIST = re.compile(r"^\{\s*(\w+):\s*(-?\d+)\s*\}\s*hitcount:\s*(\d+)\s*$")


def parse_hist(text: str) -> dict[int, int]:
    """``{ key: value } hitcount: N`` lines of a trace histogram: key value -> hits."""
    out: dict[int, int] = {}
    for line in text.splitlines():
        m = _HIST.match(line.strip())
        if m:
            out[int(m.group(2))] = int(m.group(3))
        elif (
            line.strip()
            and not line.startswith("#")
            and not line.strip().startswith(("Totals:", "Hits:", "Entries:", "Dropped:"))
        ):
            raise LabError(f"trace histogram: unrecognised line {line.strip()!r}")
    return out


def _proc_stat_ticks(text: str) -> int:
    """utime + stime (clock ticks) of a ``/proc/PID/stat`` line."""
    rest = text.rsplit(")", 1)[-1].split()
    try:
        return int(rest[11]) + int(rest[12])
    except (IndexError, ValueError):
        raise LabError(f"/proc/PID/stat: cannot read utime/stime from {text.strip()!r}") from None


def parse_ptwork(text: str) -> PtworkRun:
    """The workload's output (LabError naming the line if it is not what it writes)."""
    region: tuple[int, int] | None = None
    maps_text: list[str] | None = None
    windows: list[Window] = []
    begin: dict[str, str] = {}
    end: dict[str, str] = {}
    done = -1
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("@region "):
            a, b = line.split()[1:3]
            region = (int(a), int(b))
        elif line == "@maps":
            maps_text = []
            while i < len(lines) and lines[i] != "@end":
                maps_text.append(lines[i])
                i += 1
            i += 1
        elif line.startswith("@file "):
            _, edge, path = line.split(None, 2)
            body = []
            while i < len(lines) and lines[i] != "@end":
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise LabError(f"ptwork output: snapshot of {path} not terminated")
            i += 1
            (begin if edge == "begin" else end)[path] = "\n".join(body) + "\n"
        elif line.startswith("@window "):
            parts = line.split()
            if len(parts) != 6:
                raise LabError(f"ptwork output: bad window line {line!r}")
            kind, block, gathers, t0, t1 = parts[1], *map(int, parts[2:])
            windows.append(Window(kind, block, gathers, t0, t1, begin, end))
            begin, end = {}, {}
        elif line.startswith("@done "):
            done = int(line.split()[1])
        elif line.strip():
            raise LabError(f"ptwork output: unexpected line {line[:80]!r}")
    if region is None or maps_text is None or done < 0:
        raise LabError("ptwork output is incomplete (no region, maps or end marker)")
    maps = procfs.parse_maps("\n".join(maps_text) + "\n", "/proc/PID/maps of ptwork")
    return PtworkRun(region, maps, windows, done)


# ----------------------------------------------------------------- zone samples


@dataclass(frozen=True)
class ZoneSample:
    """One sample of a zone (pages; ``ms`` since the sampler started). The marks include
    the boost, as ``/proc/zoneinfo`` prints them."""

    ms: int
    node: int
    zone: str
    free: int
    min: int
    low: int
    high: int
    boost: int


def parse_samples(text: str) -> list[ZoneSample]:
    """The sampler's lines (LabError naming a bad line)."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] != "z" or len(parts) != 9:
            raise LabError(f"zone samples:{no}: bad line {line!r}")
        try:
            ms, node = int(parts[1]), int(parts[2])
            free, lo_min, low, high, boost = (int(x) for x in parts[4:9])
        except ValueError:
            raise LabError(f"zone samples:{no}: bad number in {line!r}") from None
        out.append(ZoneSample(ms, node, parts[3], free, lo_min, low, high, boost))
    return out


# ----------------------------------------------------------------- trace


@dataclass
class Attempt:
    """One batch-page attempt of ``tlb_remove_table()``."""

    ts: float
    failed: bool | None = None
    """None until its ``__get_free_pages()`` return is seen."""
    checks: list[tuple[int, int]] = field(default_factory=list)
    """(mark, free pages) of every slow watermark check during the attempt."""
    flags: list[int] = field(default_factory=list)
    """The ``alloc_flags`` of each check in ``checks`` (-1: not recorded)."""
    fallback: bool = False
    """A ``tlb_remove_table_one()`` round followed it."""


@dataclass
class Gather:
    """One mmu_gather of the workload (``tlb_gather_mmu()`` .. ``tlb_finish_mmu()``)."""

    start: float
    end: float = -1.0
    attempts: list[Attempt] = field(default_factory=list)
    syncs: int = 0
    """Fallback rounds: ``smp_call_function(tlb_remove_table_smp_sync)`` on this task."""
    rcu_frees: int = 0
    """Fallbacks freed by ``call_rcu(__tlb_remove_table_one_rcu)`` (PT_RECLAIM)."""
    waits: list[float] = field(default_factory=list)
    """Seconds the task waited in each ``tlb_remove_table_sync_rcu()`` (7.1 on, no PT_RECLAIM)."""
    wait_start: float | None = None
    free_calls: dict[str, int] = field(default_factory=dict)
    batch_at_finish: bool = False
    tables_in_batch: int = 0
    """Tables in the batch page at ``tlb_finish_mmu()`` (0 if none is held)."""

    @property
    def failures(self) -> int:
        return sum(1 for a in self.attempts if a.failed)

    @property
    def fallbacks(self) -> int:
        """Fallbacks seen on the kernel's own fallback path: a round, a ``call_rcu()`` of
        one table or a wait for a grace period (a version takes one of them)."""
        return self.syncs + self.rcu_frees + len(self.waits)

    def tables(self, max_table_batch: int) -> int:
        """Tables handed to ``tlb_remove_table()``: one per fallback, plus the tables of
        every batch page (full ones flushed at ``MAX_TABLE_BATCH``, the last one at finish)."""
        full = self.successes - (1 if self.batch_at_finish else 0)
        return self.fallbacks + max_table_batch * max(full, 0) + self.tables_in_batch

    @property
    def successes(self) -> int:
        return sum(1 for a in self.attempts if a.failed is False)

    def outcomes(self) -> list[bool]:
        """Failed? per attempt, in order."""
        return [bool(a.failed) for a in self.attempts]


@dataclass
class Trace:
    """The workload's gathers, and what the trace could not place in one."""

    gathers: list[Gather]
    stray: int
    """Events of the workload outside any gather (page faults' allocations: ignored)."""


def _int(value: str) -> int:
    return int(value, 16) if value.lower().startswith("0x") else int(value)


def parse_trace(text: str, task: str = "ptwork") -> Trace:
    """Cut the trace into the gathers of ``task`` (LabError naming a line it cannot read)."""
    gathers: list[Gather] = []
    cur: Gather | None = None
    stray = 0
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = TRACE_LINE.match(line)
        if not m:
            raise LabError(f"trace:{no}: unrecognised line {line.strip()[:100]!r}")
        if m.group("task").strip() != task:
            continue
        ev = m.group("event")
        ts = float(m.group("ts"))
        fields = {k: _int(v) for k, v in FIELD.findall(m.group("fields"))}
        if ev == "gather":
            if cur is not None:
                raise LabError(f"trace:{no}: a gather starts inside another (nested mmu_gather)")
            cur = Gather(start=ts)
            continue
        if cur is None:
            stray += 1
            continue
        if ev == "attempt":
            cur.attempts.append(Attempt(ts))
        elif ev == "gfp":
            if "tlb_remove_table" not in m.group("where"):
                stray += 1
                continue
            if not cur.attempts or cur.attempts[-1].failed is not None:
                raise LabError(f"trace:{no}: a batch-page return without its attempt")
            cur.attempts[-1].failed = fields.get("ret", 0) == 0
        elif ev == "wmark":
            if cur.attempts and cur.attempts[-1].failed is None:
                cur.attempts[-1].checks.append((fields["mark"], fields["free"]))
                cur.attempts[-1].flags.append(fields.get("flags", -1))
        elif ev == "sync":
            cur.syncs += 1
            if cur.attempts:
                cur.attempts[-1].fallback = True
        elif ev == "rcufree":
            cur.rcu_frees += 1
            if cur.attempts:
                cur.attempts[-1].fallback = True
        elif ev == "rcuwait":
            cur.wait_start = ts
        elif ev == "rcuwaited":
            if cur.wait_start is None:
                raise LabError(f"trace:{no}: a tlb_remove_table_sync_rcu() return without its call")
            cur.waits.append(ts - cur.wait_start)
            cur.wait_start = None
            if cur.attempts:
                cur.attempts[-1].fallback = True
        elif ev.startswith("free_"):
            name = ev.removeprefix("free_")
            cur.free_calls[name] = cur.free_calls.get(name, 0) + 1
        elif ev == "finish":
            cur.end = ts
            cur.batch_at_finish = fields.get("batch", 0) != 0
            cur.tables_in_batch = fields.get("nr", 0) if cur.batch_at_finish else 0
            gathers.append(cur)
            cur = None
        else:
            raise LabError(f"trace:{no}: unknown event {ev!r}")
    if cur is not None:
        raise LabError("trace: the last gather has no tlb_finish_mmu()")
    return Trace(gathers, stray)


def trace_stats(text: str) -> dict[str, int]:
    """``per_cpu/cpuN/stats`` of the trace buffer (entries, overrun, dropped events...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        try:
            out[key.strip()] = int(float(value.split()[0]))
        except (ValueError, IndexError):
            continue
    return out
