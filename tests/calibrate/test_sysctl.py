"""Reads of /proc/sys/vm sysctls: a missing file is None, a malformed one an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcstudy.calibrate.sysctl import read_sysctl
from mcstudy.kernel.procfs import ProcFormatError


def test_read_sysctl(tmp_path):
    (tmp_path / "watermark_scale_factor").write_text("10\n")
    assert read_sysctl("watermark_scale_factor", tmp_path) == 10
    assert read_sysctl("missing", tmp_path) is None
    (tmp_path / "lowmem_reserve_ratio").write_text("256\t256\t32\t0\t0\n")
    with pytest.raises(ProcFormatError, match=r"lowmem_reserve_ratio:1: expected one integer"):
        read_sysctl("lowmem_reserve_ratio", tmp_path)


@pytest.mark.live
@pytest.mark.skipif(not Path("/proc/sys/vm").is_dir(), reason="needs a Linux /proc")
def test_live_watermark_scale_factor():
    assert 1 <= read_sysctl("watermark_scale_factor") <= 3000
