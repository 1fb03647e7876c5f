"""What a study will cost, estimated at its start (``docs/model.md`` §7.5).

Every model's parameters estimate the events one sequence simulates and carry the
model's measured events per second (``ModelParams.cost``); a study adds them up over its
points and is refused above a CPU-time budget before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mcstudy.errors import ConfigError
from mcstudy.models.base import ModelParams, human_seconds


class StudySection(Protocol):
    """What the budget reads of a study's ``[study]`` table (``mcstudy.study``)."""

    sequences: int
    max_sequences: int | None
    target_rel_err: float | None


MAX_CPU_HOURS = 24.0
"""Estimated CPU time (hours of one core) a study may take unless ``--max-cpu-hours``
says otherwise (docs/model.md §7.5)."""
ESTIMATE_FACTOR = 3
"""How far the time estimates may be off, either way (docs/model.md §7.5)."""


@dataclass
class StudyCost:
    """The estimated cost of a study's points, added up at its start (docs/model.md §7.5)."""

    points: int = 0
    events_per_sequence: float = 0.0
    """summed over the points"""
    seconds_per_sequence: float = 0.0
    """summed over the points (seconds of one core)"""
    what: str = "events"
    events_per_second: float = 0.0

    def add(self, params: ModelParams) -> None:
        c = params.cost()
        self.points += 1
        self.events_per_sequence += c.events_per_sequence
        self.seconds_per_sequence += c.seconds()
        self.what, self.events_per_second = c.what, c.events_per_second

    def sequences(self, section: StudySection) -> int:
        """Sequences per point: ``sequences``, or an adaptive study's cap."""
        if section.target_rel_err is not None and section.max_sequences is not None:
            return section.max_sequences
        return section.sequences

    def seconds(self, section: StudySection) -> float:
        """Estimated seconds of one core for every point's sequences."""
        return self.seconds_per_sequence * self.sequences(section)


def usable_cpus() -> int:
    """CPUs this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def estimate_text(seconds: float) -> str:
    """``about 13.2 hours of one core (6.6 hours on the 2 CPU(s) of this machine)``."""
    cpus = usable_cpus()
    return (
        f"about {human_seconds(seconds)} of one core (about {human_seconds(seconds / cpus)} "
        f"on the {cpus} CPU(s) of this machine)"
    )


def check_budget(
    cost: StudyCost, section: StudySection, source: str, max_cpu_hours: float | None
) -> None:
    """ConfigError unless the study's estimated CPU time (every point, every sequence; the
    cap ``max_sequences`` of an adaptive study) is within ``max_cpu_hours`` (default
    ``MAX_CPU_HOURS``): checked at the start, before anything is written."""
    limit = MAX_CPU_HOURS if max_cpu_hours is None else max_cpu_hours
    adaptive = section.target_rel_err is not None
    sequences = cost.sequences(section)
    seconds = cost.seconds(section)
    if seconds <= limit * 3600.0:
        return
    key = "study.max_sequences" if adaptive else "study.sequences"
    per_point = cost.events_per_sequence / max(cost.points, 1)
    raise ConfigError(
        f"{source}: the study would take {estimate_text(seconds)}, more than its budget of {limit:g} CPU-hours: {cost.points:,} point(s) x "
        f"{sequences:,} sequences{' (the adaptive cap)' if adaptive else ''} x about "
        f"{per_point:.3g} events per sequence (counting {cost.what}), "
        f"{cost.events_per_sequence * sequences:.3g} in all, at about {cost.events_per_second:.3g} per second of one core (measured; an "
        f"estimate, good to a factor of about {ESTIMATE_FACTOR}). Lower {key}, shorten the "
        "sequences or shrink the sweep, or raise the budget with --max-cpu-hours N"
    )
