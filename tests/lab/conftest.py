"""Fixtures of the lab tests: guest consoles recorded by ``mcstudy lab --console-log`` on
Debian's 6.1 cloud kernels (tests/data/lab), and what the analysis needs beside them."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mcstudy.lab.console import Console, parse_console
from mcstudy.lab.guestrun import LabRequest
from mcstudy.lab.setup import Prepared
from tests.paths import DATA

LAB = DATA / "lab"
RECORDED = {
    # arch: (console file, request it was recorded with, kernel package, release)
    "arm64": (
        "console-arm64-350.txt.gz",
        LabRequest(arch="arm64", gathers=200, levels=(0, 350), blocks=4),
        "linux-image-6.1.0-56-cloud-arm64-unsigned",
        "6.1.0-56-cloud-arm64",
    ),
    "amd64": (
        "console-amd64-0.txt.gz",
        LabRequest(arch="amd64", gathers=200, levels=(0,), blocks=4),
        "linux-image-6.1.0-56-cloud-amd64-unsigned",
        "6.1.0-56-cloud-amd64",
    ),
}
CONFIG = "CONFIG_MMU_GATHER_TABLE_FREE=y\nCONFIG_MMU_GATHER_RCU_TABLE_FREE=y\n# CONFIG_PT_RECLAIM is not set\n"
"""The lines of the packages' boot/config-* the profile match reads (both 6.1 cloud kernels)."""


def recorded(arch: str, tmp: Path) -> tuple[Console, LabRequest, Prepared]:
    name, req, pkg, release = RECORDED[arch]
    console = parse_console(gzip.decompress((LAB / name).read_bytes()).decode())
    config = tmp / f"config-{release}"
    config.write_text(CONFIG)
    prep = Prepared(
        arch=arch,
        kernel_package=pkg,
        kernel_version="6.1.192-2",
        release=release,
        vmlinuz="",
        config=str(config),
        modules={},
        busybox="",
        labwork="",
        labwork_sha256="",
    )
    return console, req, prep


@pytest.fixture
def arm64_run(tmp_path):
    return recorded("arm64", tmp_path)


@pytest.fixture
def amd64_run(tmp_path):
    return recorded("amd64", tmp_path)


ZONE_CONSOLE = "console-arm64-6.1-zone.txt.gz"
"""A real run of ``mcstudy lab`` (arm64, Debian's 6.1 cloud kernel, default levels) with the
stall trace, the fast zone sampler, PSI and the zone-independent workload."""


def analysed_zone(tmp: Path, text: str | None = None):
    """The lab's analysis of :data:`ZONE_CONSOLE` (or of ``text``, a console)."""
    from dataclasses import replace

    from mcstudy.lab.arch import get_arch
    from mcstudy.lab.experiment import analyse
    from mcstudy.lab.guestrun import kernel_cmdline

    _, _, prep = recorded("arm64", tmp)
    prep = replace(
        prep,
        kernel_package="linux-image-6.1.0-57-cloud-arm64-unsigned",
        release="6.1.0-57-cloud-arm64",
    )
    req = LabRequest(arch="arm64")
    spec = get_arch("arm64")
    if text is None:
        text = gzip.decompress((LAB / ZONE_CONSOLE).read_bytes()).decode()
    return analyse(parse_console(text), req, spec, prep, kernel_cmdline(req, spec), 300.0)


@pytest.fixture(scope="session")
def zone_result(tmp_path_factory):
    """:func:`analysed_zone` of the recording, once per session (it solves the timed-stall
    chains: about 15 s)."""
    return analysed_zone(tmp_path_factory.mktemp("zone61"))
