"""A child compiling beside its parent never outlives it (mcstudy/engine/beside.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.paths import REPO

_PARENT = """
import sys, time
from mcstudy.engine import beside
child = beside.start("tests.engine.sleeper", [])
print(0 if child is None else child.proc.pid, flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)   # without waiting: the exit handler stops the child
time.sleep(60)     # killed outright here: the child sees its parent gone
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped by init) counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _child_of(how: str) -> int:
    env = {**os.environ}
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", _PARENT, how], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    if pid == 0:
        proc.kill()
        pytest.skip("one usable CPU: no child is started")
    if how == "kill":
        time.sleep(1.0)
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return pid


def _gone_within(pid: int, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_parent_that_exits_stops_its_child():
    assert _gone_within(_child_of("exit"), 5.0)


def test_a_child_ends_when_its_parent_is_killed_outright():
    assert _gone_within(_child_of("kill"), 5.0)
