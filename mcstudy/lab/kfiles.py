"""What an unpacked Debian kernel holds, in either packaging (:mod:`mcstudy.lab.kernels`):
its release, image, config, and the modules swap on zram needs, in load order.

* 6.x: ``boot/vmlinuz-<release>``, ``boot/config-<release>``,
  ``lib/modules/<release>/kernel/...``;
* 7.x: ``usr/lib/modules/<release>/vmlinuz`` (or ``vmlinuz.unsigned``), ``.../config``,
  ``.../modules.builtin``, ``.../kernel/...``.

Which modules the zram stack needs differs by kernel (6.1: ``zsmalloc``, ``lzo``,
``lzo-rle`` and ``zram`` are modules; 7.2 builds ``zsmalloc`` and the lzo compressors in
and compresses with zram's own backends): every wanted module is taken if it is a module,
skipped if ``modules.builtin`` lists it, and its ``depends=`` (from the module's
``.modinfo``) are loaded before it.
"""

from __future__ import annotations

import lzma
import re
from dataclasses import dataclass
from pathlib import Path

from mcstudy.lab.errors import LabError

ZRAM_WANTED = ("zsmalloc", "lzo", "lzo-rle", "zram")
"""Swap on zram: the allocator, the compressors ``init`` asks for first, the device."""
MOD_SUFFIXES = (".ko", ".ko.xz", ".ko.zst")


def _norm(name: str) -> str:
    return name.replace("-", "_")


@dataclass(frozen=True)
class KernelFiles:
    release: str
    vmlinuz: Path
    config: Path
    modules: dict[str, str]
    """Module name -> path, in load order (dependencies first)."""
    zram: str
    """``module``, ``builtin`` or '' (the kernel has no zram)."""


def module_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(raw)
    if path.name.endswith(".zst"):
        raise LabError(f"{path.name}: zstd-compressed modules are not supported (busybox insmod)")
    return raw


def module_depends(path: Path) -> list[str]:
    """The ``depends=`` of a module's ``.modinfo`` (names as the kernel spells them)."""
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", module_bytes(path))
    if not m:
        return []
    return [d for d in m.group(1).decode().split(",") if d]


def kernel_files(root: Path, what: str) -> KernelFiles:
    """The files of the kernel unpacked at ``root`` (``what`` names it in errors)."""
    boot = sorted((root / "boot").glob("vmlinuz-*"))
    usr = sorted(p for p in (root / "usr" / "lib" / "modules").glob("*/vmlinuz*") if p.is_file())
    if len(boot) == 1:
        release = boot[0].name.removeprefix("vmlinuz-")
        vmlinuz, config = boot[0], root / "boot" / f"config-{release}"
    elif usr:
        # 7.x: vmlinuz (signed) or vmlinuz.unsigned in usr/lib/modules/<release>/
        releases = {p.parent.name for p in usr}
        if len(releases) != 1:
            raise LabError(f"{what}: kernels of several releases: {sorted(releases)}")
        release = releases.pop()
        vmlinuz = usr[0]
        config = vmlinuz.parent / "config"
    else:
        raise LabError(f"{what}: no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz*")
    bases = [
        b
        for b in (root / "lib" / "modules" / release, root / "usr" / "lib" / "modules" / release)
        if b.is_dir()
    ]
    index: dict[str, Path] = {}
    builtin: set[str] = set()
    for base in bases:
        for p in (base / "kernel").rglob("*.ko*"):
            for suf in MOD_SUFFIXES:
                if p.name.endswith(suf):
                    index.setdefault(_norm(p.name.removesuffix(suf)), p)
        bl = base / "modules.builtin"
        if bl.is_file():
            builtin |= {
                _norm(Path(line.strip()).name.removesuffix(".ko"))
                for line in bl.read_text().splitlines()
                if line.strip()
            }
    order: list[str] = []
    names: dict[str, str] = {}

    def add(name: str, chain: tuple[str, ...]) -> None:
        key = _norm(name)
        if key in builtin or key in order:
            return
        if key not in index:
            raise LabError(f"{what}: module {name} (needed by {chain[-1]}) is missing")
        for dep in module_depends(index[key]):
            add(dep, (*chain, name))
        order.append(key)
        names[key] = index[key].name.split(".ko")[0]

    for want in ZRAM_WANTED:
        key = _norm(want)
        if key in builtin or key not in index:
            continue  # built in, or not in this kernel (a compressor zram does without)
        add(want, ("zram swap",))
    zram = "builtin" if "zram" in builtin else "module" if "zram" in order else ""
    mods = {names[k]: str(index[k]) for k in order}
    return KernelFiles(release, vmlinuz, config, mods, zram)
