"""What the lab needs to know about each guest architecture, and where it keeps its cache.

A guest is a Debian cloud kernel booted by QEMU in software emulation (TCG: no KVM is
needed) into a busybox initramfs. Every fact here is about that set-up, not about the
host: the Debian packages that provide the emulator, the cross compiler, the kernel and
busybox; the emulator's command line; and the kernel functions the architecture frees
page tables through (docs/lab.md).
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from mcstudy.lab.errors import LabError

CACHE_ENV = "MCSTUDY_LAB_CACHE"
"""Environment variable naming the cache directory (overrides the XDG default)."""


@dataclass(frozen=True)
class ArchSpec:
    """One guest architecture."""

    name: str
    """Debian architecture name (``arm64``, ``amd64``)."""
    machine: str
    """``uname -m`` in the guest."""
    qemu: str
    qemu_package: str
    qemu_args: tuple[str, ...]
    console: str
    kernel_meta: str
    """Debian metapackage whose dependency names the current cloud kernel."""
    compiler: str
    compiler_packages: tuple[str, ...]
    free_funcs: tuple[str, ...]
    """Architecture entry points of page-table frees, recorded per call (x86:
    ``___pte_free_tlb()`` and the PMD/PUD variants in arch/x86/mm/pgtable.c)."""
    default_levels: tuple[int, ...]
    """Default pressure levels (churn MiB; 0 = no churn)."""

    @property
    def compiler_cmd(self) -> str:
        """The C compiler for static guest binaries (the native ``gcc`` on a same-arch host)."""
        return "gcc" if _host_arch() == self.name else self.compiler


def _host_arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


ARCHES: dict[str, ArchSpec] = {
    "arm64": ArchSpec(
        name="arm64",
        machine="aarch64",
        qemu="qemu-system-aarch64",
        qemu_package="qemu-system-arm",
        # pauth-impdef: QEMU's own pointer-authentication hash, much faster to emulate
        qemu_args=("-M", "virt", "-cpu", "max,pauth-impdef=on"),
        console="ttyAMA0",
        kernel_meta="linux-image-cloud-arm64",
        compiler="aarch64-linux-gnu-gcc",
        compiler_packages=("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"),
        free_funcs=(),
        default_levels=(0, 300, 400),
    ),
    "amd64": ArchSpec(
        name="amd64",
        machine="x86_64",
        qemu="qemu-system-x86_64",
        qemu_package="qemu-system-x86",
        qemu_args=("-M", "pc", "-cpu", "max"),
        console="ttyS0",
        kernel_meta="linux-image-cloud-amd64",
        compiler="x86_64-linux-gnu-gcc",
        compiler_packages=("gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"),
        free_funcs=("___pte_free_tlb", "___pmd_free_tlb", "___pud_free_tlb"),
        default_levels=(0,),
    ),
}


def get_arch(name: str) -> ArchSpec:
    """The spec of a guest architecture; LabError naming the known ones otherwise."""
    try:
        return ARCHES[name]
    except KeyError:
        raise LabError(f"unknown lab architecture {name!r}; known: {', '.join(ARCHES)}") from None


def cache_dir(override: str | Path | None = None) -> Path:
    """Where downloads and builds go: ``override``, else ``$MCSTUDY_LAB_CACHE``, else
    ``$XDG_CACHE_HOME/mcstudy/lab`` (``~/.cache/mcstudy/lab``). Never inside the repository."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mcstudy" / "lab"
