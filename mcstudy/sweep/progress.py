"""What a running sweep tells its user on stderr, on a terminal and in a batch log.

* On a terminal: a live ``tqdm`` bar of committed points.
* Anywhere else (a redirected stderr, a SLURM log): one plain line every
  ``MCSTUDY_PROGRESS_SECONDS`` seconds (default 30) and one at the end, never ``\\r``
  updates that pile up on one line of the log.
* While the kernels compile (only on a first run; Numba caches them on disk): a line
  saying so, with a timer, instead of a bar frozen at 0 %.

``wait_for`` runs a blocking call in a helper thread and waits for it in the main
thread, so Ctrl-C is handled at once even while a Numba kernel computes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

DEFAULT_LOG_SECONDS = 30.0
COMPILE_NOTICE_AFTER = 1.0
"""A warm-up shorter than this (kernels loaded from the cache) shows nothing."""
COMPILING = "compiling kernels (first run only; cached for later runs)"


def log_interval() -> float:
    """Seconds between progress lines in a log (``MCSTUDY_PROGRESS_SECONDS``)."""
    raw = os.environ.get("MCSTUDY_PROGRESS_SECONDS", "")
    try:
        value = float(raw) if raw else DEFAULT_LOG_SECONDS
    except ValueError:
        value = DEFAULT_LOG_SECONDS
    return value if value > 0 else DEFAULT_LOG_SECONDS


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class SweepProgress:
    """Progress of ``total`` points (a bar on a terminal, plain lines in a log)."""

    def __init__(
        self,
        total: int,
        desc: str,
        enabled: bool = True,
        stream: TextIO | None = None,
        interval: float | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and total > 0
        self.total = total
        self.desc = desc
        self.done = 0
        self.interval = log_interval() if interval is None else interval
        self.tty = self.enabled and _is_tty(self.stream)
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar: Any = None
        if self.tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="pt", desc=desc, file=self.stream)

    def _line(self) -> str:
        elapsed = time.monotonic() - self.started
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = f"{self.desc}: {self.done}/{self.total} points ({pct:.0f} %), {_clock(elapsed)}"
        if 0 < self.done < self.total:
            left = elapsed / self.done * (self.total - self.done)
            text += f", about {_clock(left)} left"
        return text

    def update(self, n: int = 1) -> None:
        """``n`` more points committed."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if self.enabled and now - self._last_line >= self.interval and self.done < self.total:
            self._last_line = now
            print(self._line(), file=self.stream, flush=True)

    def close(self) -> None:
        """End the bar (terminal) or print the last line (log)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled and self.done:
            print(self._line(), file=self.stream, flush=True)
            self.enabled = False

    def __enter__(self) -> SweepProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(
    fn: Callable[[], T],
    tick: Callable[[float], None] | None = None,
    name: str = "mcstudy-wait",
) -> T:
    """``fn()`` run in a daemon thread; the calling thread waits, calling ``tick(seconds
    so far)`` about every 0.2 s. A KeyboardInterrupt in the caller abandons the thread
    (its result is never used); an exception of ``fn`` is raised here."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    t0 = time.monotonic()
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        if tick is not None and thread.is_alive():
            tick(time.monotonic() - t0)
    if "error" in box:
        raise box["error"]
    return box["result"]


class CompileNotice:
    """Says that kernels are compiling, with a timer, if it takes more than a second.

    Terminal: one line rewritten in place, then ``compiled kernels in N s``. Log: a line
    when it starts to take long and one when it is done.
    """

    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = _is_tty(self.stream)
        self.shown = False
        self._last = -1

    def tick(self, seconds: float) -> None:
        """Called while compiling with the seconds so far."""
        if not self.enabled or seconds < COMPILE_NOTICE_AFTER:
            return
        if self.tty:
            whole = int(seconds)
            if whole != self._last:
                self._last = whole
                self.stream.write(f"\r{COMPILING}: {whole} s")
                self.stream.flush()
        elif not self.shown:
            print(f"{COMPILING} ...", file=self.stream, flush=True)
        self.shown = True

    def done(self, seconds: float) -> None:
        """Compilation finished after ``seconds``."""
        if not (self.enabled and self.shown):
            return
        end = "\r" if self.tty else ""
        pad = " " * 20 if self.tty else ""
        print(f"{end}compiled kernels in {seconds:.1f} s{pad}", file=self.stream, flush=True)
