"""Ctrl-C, at any instant of a command: exit status 130 and, for ``mcstudy run``, the line
that continues the run.

Two regimes of the main thread's SIGINT handler:

* **exit now** (:func:`exit_on_sigint`, and from the first line of ``mcstudy.cli`` when
  it runs as the ``mcstudy`` command, before click, NumPy or SciPy are imported): SIGINT
  prints one line (what is kept, the command that continues) and ends the process at
  once with status 130. No exception is raised, so no import is left half-done
  (``AttributeError`` / ``RecursionError`` from a NumPy interrupted mid-import), no
  Numba kernel called from the main thread sees one (``SystemError: CPUDispatcher
  returned a result with an exception set``), and no ``except Exception`` can turn the
  interrupt into another exit status. Ending at once is safe whatever is being done:
  every write is atomic (a temporary file renamed into place), as for a kill -9.
* **raise** (:func:`sigint_handler`, only while a sweep waits for its points): the first
  SIGINT raises ``KeyboardInterrupt`` in the main thread, which only waits for results
  (points compute in a helper thread, worker processes or Dask workers), so the sweep
  can stop its executor, end worker processes and say how many points are committed; a
  second SIGINT exits at once.

Worker processes ignore SIGINT themselves (it reaches the whole process group on a
terminal): their coordinator ends them. A SIGINT in the first tens of milliseconds,
while Python itself starts and before any mcstudy code runs, ends the process as it
does any program (the shell's status is 130, without the line).
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130
"""128 + SIGINT, the shell's status of a command ended by Ctrl-C."""

_context: dict[str, object] = {"resume": None, "kept": ""}
"""What the exit-now handler says: the command that continues (argv list, or None) and
what is kept (a phrase, or empty)."""


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # closed, or re-entered from a signal handler mid-write
            pass


def exit_now(status: int = EXIT_INTERRUPTED) -> None:
    """Flush stdout and stderr and end the process at once (helper threads may still be
    inside a Numba kernel; nothing is left half-written: every write is atomic)."""
    _flush_quietly()
    os._exit(status)


def interrupted_line(kept: str = "", resume: list[str] | None = None) -> str:
    """``mcstudy: interrupted[: kept][; continue with: ...]``."""
    line = "mcstudy: interrupted"
    if kept:
        line += f": {kept}"
    if resume:
        line += f"; continue with: {shlex.join(resume)}"
    return line


def set_context(*, resume: list[str] | None = None, kept: str | None = None) -> None:
    """Set what an interrupt from now on says (``None``: leave as it is)."""
    if resume is not None:
        _context["resume"] = list(resume)
    if kept is not None:
        _context["kept"] = kept


def _exit_handler(signum: int, frame: FrameType | None) -> None:
    resume = _context["resume"]
    line = interrupted_line(str(_context["kept"]), resume if isinstance(resume, list) else None)
    _flush_quietly()
    try:
        os.write(2, f"\n{line}\n".encode())
    finally:
        os._exit(EXIT_INTERRUPTED)


def resume_from_argv(argv: list[str]) -> list[str] | None:
    """The command that continues ``mcstudy run ...`` as typed (``argv[1:]``), before its
    options are parsed: the same arguments with ``--resume`` (``--restart`` dropped,
    ``--retry-failed`` kept); None for any other command."""
    args = list(argv[1:])
    command = next((a for a in args if not a.startswith("-")), None)
    if command != "run" or any(a in ("-h", "--help") for a in args):
        return None
    kept = [a for a in args if a not in ("--restart", "--resume")]
    if "--retry-failed" not in kept:
        kept.append("--resume")
    return ["mcstudy", *kept]


def started_as_command() -> bool:
    """True in the ``mcstudy`` program (its console script or ``python -m mcstudy``),
    False when mcstudy is imported by other code (tests, notebooks)."""
    argv0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(argv0) == "mcstudy" or argv0.endswith(
        os.path.join("mcstudy", "__main__.py")
    )


def _ignored() -> bool:
    """True if SIGINT is ignored (a background job of a shell script: the terminal's
    Ctrl-C is not meant for it)."""
    return signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def install_at_start() -> None:
    """In the ``mcstudy`` program, the exit-now handler from its first line on (before the
    heavy imports); a no-op anywhere else, and where SIGINT is ignored. A SIGINT held
    pending while Python started (SIGINT blocked at exec) is handled now."""
    if not started_as_command() or threading.current_thread() is not threading.main_thread():
        return
    if _ignored():
        return
    _context["resume"] = resume_from_argv(sys.argv)
    signal.signal(signal.SIGINT, _exit_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def raise_on_sigint() -> None:
    """In the ``mcstudy`` program: Python's own SIGINT handling from now on (a command
    that cleans up as ``KeyboardInterrupt`` unwinds it)."""
    if started_as_command() and threading.current_thread() is threading.main_thread():
        if not _ignored():
            signal.signal(signal.SIGINT, signal.default_int_handler)


def ignore_sigint_at_exit() -> None:
    """In the ``mcstudy`` program whose command has finished: ignore SIGINT, so that a
    Ctrl-C while the interpreter shuts down (which puts back the default action of a
    signal with a Python handler, killing the process) does not kill a process whose
    work is complete and whose exit status is decided. (Ignored, not blocked: a signal
    to the process goes to any thread that does not block it, Numba's included.)"""
    if started_as_command() and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def exit_on_sigint(resume: list[str] | None = None, kept: str = "") -> Iterator[None]:
    """Within the block, SIGINT ends the process at once with status 130 and the line
    naming what is kept and the command ``resume`` that continues (no-op outside the
    main thread). The previous handler and context are restored afterwards."""
    if threading.current_thread() is not threading.main_thread() or _ignored():
        yield
        return
    saved = dict(_context)
    _context.update(resume=resume, kept=kept)
    previous = signal.signal(signal.SIGINT, _exit_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _context.update(saved)


def _second(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"\nmcstudy: interrupted again: exiting now\n")
    os._exit(EXIT_INTERRUPTED)


def _first(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, _second)
    raise KeyboardInterrupt


@contextmanager
def sigint_handler() -> Iterator[None]:
    """Within the block, the first SIGINT raises KeyboardInterrupt and a second one ends
    the process with status 130 (no-op outside the main thread). Only for code whose
    main thread waits (a sweep handing out points), never around Numba kernels or
    imports in the main thread."""
    if threading.current_thread() is not threading.main_thread() or _ignored():
        yield
        return
    previous = signal.signal(signal.SIGINT, _first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
