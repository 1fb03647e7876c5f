"""Readers of PSI and /proc/PID/stat: unavailable files told apart from damaged ones."""

from __future__ import annotations

import errno

import pytest

from mcstudy.kernel import procfs_reclaim
from mcstudy.kernel.procfs import ProcFormatError


def test_unavailable_files_are_told_apart_from_damaged_ones(tmp_path, monkeypatch):
    """ENOENT and EOPNOTSUPP raise ProcUnavailableError (still a ProcFormatError)."""
    with pytest.raises(procfs_reclaim.ProcUnavailableError, match="file not found") as info:
        procfs_reclaim.parse_psi(tmp_path / "memory")
    assert info.value.errno == errno.ENOENT and isinstance(info.value, ProcFormatError)
    path = tmp_path / "memory"
    path.write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    assert procfs_reclaim.parse_psi(path)["some"].total_us == 0

    def refuse(*args, **kwargs):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(procfs_reclaim, "open", refuse, raising=False)
    with pytest.raises(procfs_reclaim.ProcUnavailableError, match="does not provide it") as info:
        procfs_reclaim.parse_psi(path)
    assert info.value.errno == errno.EOPNOTSUPP


def test_damaged_or_wrong_files_are_format_errors(tmp_path):
    with pytest.raises(ProcFormatError, match="not a regular file") as info:
        procfs_reclaim.parse_psi(tmp_path)
    assert not isinstance(info.value, procfs_reclaim.ProcUnavailableError)
    path = tmp_path / "stat"
    path.write_bytes(b"47 (kswapd0) S \xff\n")
    with pytest.raises(ProcFormatError, match=rf"^{path}:1: not text"):
        procfs_reclaim.parse_pid_stats(path)


def test_vmstat_zone_sum_only_zone_forms():
    stats = {"pgscan_direct": 5, "pgscan_direct_throttle": 7, "pgscan_direct_normal": 1}
    assert procfs_reclaim.vmstat_zone_sum(stats, "pgscan_direct") == 6
