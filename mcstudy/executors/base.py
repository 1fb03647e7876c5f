"""The executor interface: map a picklable function over tasks, yield results as they come.

An executor knows nothing of what a task is. ``map(fn, tasks)`` yields ``(task, result)``
pairs in completion order, where ``result`` is ``fn(task)`` or, when no worker could
finish the task (its process died, Dask gave up on it, it could not be pickled), a
:class:`TaskLost` saying why. Exceptions raised by ``fn`` itself are ``fn``'s business:
the sweep's point function turns them into failed records and never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class TaskLost:
    """A task no worker could finish: the error's type name and a one-line message."""

    error_type: str
    message: str


class Executor(Protocol):
    """Where tasks run (``local``: this machine; ``dask``: a Dask cluster)."""

    name: str
    threads: int | None
    """Numba threads per task (None: each worker's own setting)."""
    shares_cache: bool
    """True if the workers run on this machine (and load kernels from its Numba cache)."""

    def describe(self) -> dict[str, Any]:
        """Run facts: executor name, workers, threads per worker (for the provenance)."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def map(
        self,
        fn: Callable[[T], Any],
        tasks: Sequence[T],
        label: Callable[[T], str] = str,
    ) -> Iterator[tuple[T, Any]]:
        """Yield ``(task, fn(task) or TaskLost)`` as tasks complete; ``label`` names a
        task for the scheduler (Dask task keys)."""
        ...
