"""The worker reports a malformed /proc file as an error result, not a traceback."""

from __future__ import annotations

import gc
import io
import json

import pytest

from mcstudy.kernel.procfs import ProcFormatError
from mcstudy.probe import host, worker


def test_proc_format_error_becomes_an_error_result(monkeypatch, capsys):
    def broken(cfg):
        raise ProcFormatError("/proc/interrupts:7: row 'CAL': expected 2 per-CPU counts")

    monkeypatch.setattr(worker, "run_phases", broken)
    monkeypatch.setattr(worker.os, "sched_getaffinity", lambda pid: {0})
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"cpu": 0})))
    try:
        assert worker.main() == 0
    finally:
        gc.enable()  # the worker disables the collector for its whole (short) life
    out = json.loads(capsys.readouterr().out)
    assert out == {"ok": False, "error": "/proc/interrupts:7: row 'CAL': expected 2 per-CPU counts"}


def test_check_counters_turns_a_format_error_into_a_probe_error(monkeypatch):
    def broken():
        raise ProcFormatError("/proc/interrupts:9: no 'Function call interrupts' row")

    monkeypatch.setattr(host.procstats, "read_interrupts", broken)
    with pytest.raises(
        host.ProbeError, match="cannot read the probe's counters: /proc/interrupts:9:"
    ):
        host.check_counters()
