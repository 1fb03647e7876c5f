"""How busy the machine was with other work while the benchmark ran.

Timings on a shared machine measure the others too. The benchmark reads the
machine-wide CPU time of ``/proc/stat`` and its own (``getrusage`` of itself and its
waited-for subprocesses) at start and end: the difference is the CPU time every other
process used meanwhile, as a fraction of the machine's CPUs x wall time. Above
``LOADED_FRACTION`` the figures are marked unreliable in the table and the JSON. (Where
/proc/stat cannot be read, a 1-minute load average above half the usable CPUs at the
start does; it lags, and counts the benchmark's own earlier work too.)
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcstudy.errors import McStudyError
from mcstudy.kernel.procfs import parse_stat_cpu

LOADED_FRACTION = 0.10
"""Share of the machine's CPU time other processes may use before timings are suspect."""
_BUSY = ("user", "nice", "system", "irq", "softirq", "steal")


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy CPU seconds of the whole machine and of this process tree, at one instant."""

    machine: float | None
    own: float


def snapshot(stat: Path = Path("/proc/stat")) -> CpuSnapshot:
    """CPU seconds used so far by the machine (None where /proc/stat cannot be read) and
    by this process and its waited-for children."""
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        own += ru.ru_utime + ru.ru_stime
    try:
        ticks = parse_stat_cpu(stat)
        machine = sum(ticks[k] for k in _BUSY) / os.sysconf("SC_CLK_TCK")
    except (McStudyError, OSError, ValueError):
        machine = None
    return CpuSnapshot(machine, own)


def assess(
    start: CpuSnapshot,
    end: CpuSnapshot,
    wall: float,
    cpus: int,
    load_start: list[float] | None = None,
) -> dict[str, Any]:
    """The ``load`` record of a bench result: the share of the machine's CPU time other
    processes used during ``wall`` seconds, and whether that makes the timings
    unreliable (with the reason)."""
    other = None
    if start.machine is not None and end.machine is not None and wall > 0 and cpus > 0:
        used = (end.machine - start.machine) - (end.own - start.own)
        other = max(0.0, used / (wall * cpus))
    reasons = []
    if other is not None and other > LOADED_FRACTION:
        reasons.append(
            f"other processes used {100 * other:.0f} % of the {cpus} CPUs during the run"
        )
    if other is None and load_start and load_start[0] > 0.5 * cpus:
        reasons.append(f"load average {load_start[0]:g} on {cpus} CPUs at the start")
    return {
        "other_cpu_fraction": other,
        "threshold": LOADED_FRACTION,
        "loaded": bool(reasons),
        "reason": "; ".join(reasons) or None,
    }
