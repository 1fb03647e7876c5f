"""Shards: ``--shard I/N`` or a SLURM job array splits the points of one sweep.

Shard ``I`` of ``N`` (0 <= I < N) owns the points whose index ``i`` has ``i % N == I``.
Striding (rather than contiguous ranges) spreads expensive corners of a sweep (the last
sweep key varies fastest) evenly over the shards. Every shard writes into the same run
directory; ``mcstudy merge`` assembles the dataset and reports any gaps.

Inside a SLURM array job, the shard is ``(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /
SLURM_ARRAY_TASK_STEP`` of ``SLURM_ARRAY_TASK_COUNT``, so ``--array=0-9`` and
``--array=1-10`` both give shards 0..9 of 10.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mcstudy.executors.errors import ExecutorError

_SLURM_FACTS = (
    "SLURM_JOB_ID",
    "SLURM_ARRAY_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "SLURM_JOB_NODELIST",
    "SLURM_CPUS_PER_TASK",
    "SLURM_CLUSTER_NAME",
    "SLURM_RESTART_COUNT",
)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ExecutorError(
                f"shard {self.index}/{self.count}: expected I/N with N >= 1 and 0 <= I < N"
            )

    def owns(self, point_index: int) -> bool:
        return point_index % self.count == self.index

    def select(self, indices: Iterable[int]) -> list[int]:
        """The indices this shard owns, in order."""
        return [i for i in indices if self.owns(i)]

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"I/N"`` -> Shard (ExecutorError with the expected form otherwise)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise ExecutorError(f"--shard {text!r}: expected I/N, e.g. 0/4 (shards 0..N-1)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or index >= count:
        raise ExecutorError(f"--shard {text}: expected I/N with 0 <= I < N (shards 0..N-1)")
    return Shard(index, count)


def _int_var(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ExecutorError(f"{name} is not set, but SLURM_ARRAY_TASK_ID is")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ExecutorError(f"{name}={raw!r}: expected an integer") from None


def shard_from_slurm(environ: Mapping[str, str]) -> Shard | None:
    """The shard of this SLURM array task (None outside an array job)."""
    if not environ.get("SLURM_ARRAY_TASK_ID"):
        return None
    task = _int_var(environ, "SLURM_ARRAY_TASK_ID")
    count = _int_var(environ, "SLURM_ARRAY_TASK_COUNT")
    first = _int_var(environ, "SLURM_ARRAY_TASK_MIN", 0)
    step = _int_var(environ, "SLURM_ARRAY_TASK_STEP", 1)
    offset = task - first
    if step < 1 or offset < 0 or offset % step or offset // step >= count:
        raise ExecutorError(
            f"SLURM_ARRAY_TASK_ID={task} is not one of {count} evenly spaced array tasks "
            f"from {first} in steps of {step}; use --array=0-{count - 1} or pass --shard I/N"
        )
    return Shard(offset // step, count)


def resolve_shard(option: str | None, environ: Mapping[str, str]) -> Shard | None:
    """``--shard`` if given, else the SLURM array task's shard, else None."""
    if option is not None:
        return parse_shard(option)
    return shard_from_slurm(environ)


def slurm_facts(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """SLURM job ids of this process (None outside SLURM), for provenance."""
    facts = {
        name.removeprefix("SLURM_").lower(): environ[name]
        for name in _SLURM_FACTS
        if environ.get(name)
    }
    return facts or None
