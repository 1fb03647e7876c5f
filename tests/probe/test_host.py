"""Where the probe cannot or must not run: one clear error, exit status 2, no traceback."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from mcstudy.cli import main
from mcstudy.probe import host
from mcstudy.probe.errors import ProbeError
from mcstudy.probe.host import ProbeRequest, peak_bytes, preflight

from .conftest import MIB, linux_facts

REQ = ProbeRequest(thps=64, munmap_bytes=16 * MIB, munmap_offset=MIB, baselines=8)


def test_healthy_machine_passes():
    preflight(linux_facts(), REQ)


@pytest.mark.parametrize(
    ("changes", "req", "message"),
    [
        ({"system": "Darwin"}, REQ, "needs Linux; this is Darwin"),
        ({"thp_enabled": None}, REQ, "no transparent hugepages"),
        ({"thp_enabled": "never"}, REQ, "transparent hugepages are disabled"),
        ({"thp_pmd_enabled": "never"}, REQ, "hugepages-2048kB/enabled is 'never'"),
        ({"release": "6.0.9"}, REQ, "no MADV_COLLAPSE"),
        ({"online_cpus": (0,), "allowed_cpus": (0,)}, REQ, "at least 2 online CPUs"),
        ({"page_size": 65536}, REQ, "4 KiB pages"),
        ({}, ProbeRequest(thps=64, cpu=7), "--cpu 7 is not an online CPU"),
        ({"allowed_cpus": (1, 2)}, ProbeRequest(thps=64, cpu=0), "--cpu 0 is not an online CPU"),
        ({}, ProbeRequest(thps=0), "--thps must be at least 1"),
        ({}, ProbeRequest(baselines=2), "--baselines must be at least 3"),
        ({}, ProbeRequest(munmap_bytes=5000), "multiple of 4 KiB"),
        ({"mem_available_kb": 1 << 20}, ProbeRequest(thps=256), "more than 25 % of MemAvailable"),
        (
            {"mem_free_kb": 400 << 10, "zone_high_kb": 100 << 10},
            ProbeRequest(thps=128),
            "high watermarks",
        ),
        ({"cgroup_memory_room": 256 * MIB}, ProbeRequest(thps=64), "memory.max"),
        ({"max_map_count": 100}, ProbeRequest(thps=64), "vm.max_map_count"),
    ],
)
def test_refusals(changes, req, message):
    with pytest.raises(ProbeError, match=re.escape(message)):
        preflight(linux_facts(**changes), req)


def test_memory_limit_is_25_percent_of_memavailable():
    need = peak_bytes(ProbeRequest(thps=255))
    facts = linux_facts(mem_available_kb=4 * need // 1024)
    preflight(facts, ProbeRequest(thps=255))
    with pytest.raises(ProbeError, match="use --thps 255 or fewer"):
        preflight(facts, ProbeRequest(thps=256))


def test_thp_always_mode_is_accepted():
    preflight(linux_facts(thp_enabled="always"), REQ)
    assert linux_facts(thp_enabled="never", thp_pmd_enabled="madvise").thp_mode == "madvise"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"system": "Darwin", "release": "23.1.0"}, "needs Linux"),
        ({"thp_enabled": "never"}, "transparent hugepages are disabled"),
        ({"release": "5.15.0-91-generic"}, "no MADV_COLLAPSE (added in Linux 6.1)"),
        ({"mem_available_kb": 100 << 10}, "more than 25 % of MemAvailable"),
        ({"online_cpus": (0,), "allowed_cpus": (0,)}, "at least 2 online CPUs"),
    ],
)
def test_cli_errors_are_one_line(monkeypatch, tmp_path, changes, message):
    monkeypatch.setattr(host, "host_facts", lambda: linux_facts(**changes))
    out = tmp_path / "probe.nc"
    result = CliRunner().invoke(main, ["probe", "--thps", "64", "--out", str(out)])
    assert result.exit_code == 2
    assert "mcstudy: error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_cli_refuses_directory_output(tmp_path):
    result = CliRunner().invoke(main, ["probe", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "is a directory" in result.output
