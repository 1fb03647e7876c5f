"""The lab's one-time set-up: system tools from Debian's packages, and a cache holding the
guest kernel, its modules, busybox and the compiled workload.

* System tools (root, ``apt-get install``): the emulator (``qemu-system-arm`` or
  ``qemu-system-x86``) and a C compiler for static guest binaries (the cross compiler
  ``gcc-aarch64-linux-gnu`` on an amd64 host). For a foreign architecture the set-up
  also adds it to dpkg (``dpkg --add-architecture``) and runs ``apt-get update``, so
  that its packages can be downloaded.
* Cache (any user with ``apt-get download``): the cloud kernel package (by default the
  one the metapackage ``linux-image-cloud-<arch>`` depends on, its ``-unsigned`` build
  where there is one; ``kernel_package`` chooses another) and ``busybox-static`` for the
  guest architecture, unpacked with ``dpkg-deb -x``; the guest workload
  ``guest/labwork.c`` compiled statically. A manifest (``manifest.json``, written
  atomically) records what is there.

Cache layout (``mcstudy.lab.arch.cache_dir()``)::

    <cache>/<arch>/manifest.json
    <cache>/<arch>/<kernel package>/boot/vmlinuz-<release> ... lib/modules/<release>/...
    <cache>/<arch>/busybox-static/bin/busybox
    <cache>/<arch>/labwork            (rebuilt when guest/labwork.c changes)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from mcstudy.lab.arch import ArchSpec
from mcstudy.lab.errors import LabError, LabNotReady
from mcstudy.storage.atomic import atomic_write_bytes, atomic_write_text

MANIFEST = "manifest.json"
ZRAM_MODULES = ("mm/zsmalloc", "crypto/lzo", "crypto/lzo-rle", "drivers/block/zram/zram")
"""Modules for swap on zram, in load order (zram needs zsmalloc and a compressor)."""
APT_TIMEOUT_S = 900


@dataclass(frozen=True)
class Prepared:
    """What the cache holds for one architecture (absolute paths)."""

    arch: str
    kernel_package: str
    kernel_version: str
    release: str
    vmlinuz: str
    config: str
    modules: dict[str, str]
    """Module name -> path of its ``.ko`` (the zram stack)."""
    busybox: str
    labwork: str
    labwork_sha256: str


def guest_source(name: str) -> bytes:
    """A file of the guest side (``mcstudy/lab/guest/NAME``), from the installed package."""
    return resources.files("mcstudy.lab").joinpath("guest", name).read_bytes()


def _run(cmd: list[str], what: str, cwd: Path | None = None, timeout: float = APT_TIMEOUT_S) -> str:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise LabNotReady(f"{what}: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"{what}: {cmd[0]} did not finish within {timeout:.0f} s") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(
            f"{what} failed (exit status {proc.returncode}): {lines[-1] if lines else ''}"
        )
    return proc.stdout


def compiler_packages(spec: ArchSpec) -> tuple[str, ...]:
    """Debian packages of the C compiler the guest workload is built with."""
    return ("gcc", "libc6-dev") if spec.compiler_cmd == "gcc" else spec.compiler_packages


def missing_tools(spec: ArchSpec) -> list[str]:
    """Host programs the lab needs for ``spec`` that are not on ``PATH``."""
    need = [spec.qemu, spec.compiler_cmd, "dpkg-deb", "apt-get", "apt-cache"]
    return [t for t in need if shutil.which(t) is None]


def install_tools(spec: ArchSpec, log: Callable[[str], None] = print) -> None:
    """Install the emulator and the compiler with ``apt-get`` and enable the guest's
    architecture in dpkg (root only). LabError if that is not possible."""
    if os.geteuid() != 0:
        raise LabError(
            "installing the lab's system tools needs root (apt-get install "
            f"{spec.qemu_package} {' '.join(compiler_packages(spec))})"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    foreign = _run(["dpkg", "--print-foreign-architectures"], "dpkg").split()
    native = _run(["dpkg", "--print-architecture"], "dpkg").strip()
    if spec.name != native and spec.name not in foreign:
        log(f"lab set-up: dpkg --add-architecture {spec.name}")
        _run(["dpkg", "--add-architecture", spec.name], "dpkg --add-architecture")
    log("lab set-up: apt-get update")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
    pkgs = [spec.qemu_package, *compiler_packages(spec)]
    log(f"lab set-up: apt-get install {' '.join(pkgs)}")
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *pkgs],
        env=env,
        capture_output=True,
        text=True,
        timeout=APT_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(f"apt-get install {' '.join(pkgs)} failed: {tail[-1] if tail else ''}")


def default_kernel_package(spec: ArchSpec) -> str:
    """The kernel package the metapackage ``linux-image-cloud-<arch>`` depends on, its
    ``-unsigned`` build where Debian has one (the same kernel without a signature)."""
    out = _run(["apt-cache", "depends", f"{spec.kernel_meta}:{spec.name}"], "apt-cache depends")
    deps = [
        line.split(":", 1)[1].strip().split(":")[0]
        for line in out.splitlines()
        if line.strip().startswith("Depends:") and "linux-image-" in line
    ]
    if not deps:
        raise LabNotReady(
            f"apt-cache knows no {spec.kernel_meta}:{spec.name}; run `mcstudy lab --setup "
            f"--arch {spec.name}` as root (it enables the architecture and updates the lists)"
        )
    name = deps[0]
    unsigned = f"{name}-unsigned"
    show = subprocess.run(
        ["apt-cache", "show", f"{unsigned}:{spec.name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return unsigned if show.returncode == 0 and show.stdout.strip() else name


def _download(pkg: str, arch: str, dest: Path) -> Path:
    """``apt-get download`` one package into ``dest`` and unpack it there (its root)."""
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".dl-") as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write here
        _run(["apt-get", "download", f"{pkg}:{arch}"], f"apt-get download {pkg}:{arch}", Path(tmp))
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise LabError(f"apt-get download {pkg}:{arch} left {len(debs)} .deb files")
        version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], "dpkg-deb -f").strip()
        unpack = Path(tmp) / "root"
        _run(["dpkg-deb", "-x", str(debs[0]), str(unpack)], f"dpkg-deb -x {debs[0].name}")
        if dest.exists():
            shutil.rmtree(dest)
        unpack.rename(dest)
    (dest / ".version").write_text(version + "\n")
    return dest


def _kernel_files(root: Path, pkg: str) -> tuple[str, Path, Path, dict[str, str]]:
    vmlinuz = sorted((root / "boot").glob("vmlinuz-*"))
    if len(vmlinuz) != 1:
        raise LabError(f"{pkg}: expected one boot/vmlinuz-*, found {len(vmlinuz)}")
    release = vmlinuz[0].name.removeprefix("vmlinuz-")
    config = root / "boot" / f"config-{release}"
    mods: dict[str, str] = {}
    for base in (root / "lib" / "modules" / release, root / "usr" / "lib" / "modules" / release):
        for rel in ZRAM_MODULES:
            for suffix in (".ko", ".ko.xz", ".ko.zst"):
                p = base / "kernel" / f"{rel}{suffix}"
                if p.exists():
                    mods[Path(rel).name] = str(p)
    return release, vmlinuz[0], config, mods


def build_labwork(spec: ArchSpec, out: Path) -> str:
    """Compile ``guest/labwork.c`` statically for ``spec`` into ``out``; its source SHA-256."""
    src = guest_source("labwork.c")
    digest = hashlib.sha256(src + spec.compiler_cmd.encode()).hexdigest()
    with tempfile.TemporaryDirectory(prefix="mcstudy-lab-cc-") as tmp:
        c = Path(tmp) / "labwork.c"
        c.write_bytes(src)
        binary = Path(tmp) / "labwork"
        _run(
            [spec.compiler_cmd, "-O2", "-static", "-Wall", "-o", str(binary), str(c)],
            f"compiling the guest workload with {spec.compiler_cmd}",
            timeout=300,
        )
        atomic_write_bytes(out, binary.read_bytes())
    os.chmod(out, 0o755)
    return digest


def load_manifest(spec: ArchSpec, cache: Path) -> Prepared | None:
    """The cache's manifest for ``spec`` if every file it names is there, else None."""
    path = cache / spec.name / MANIFEST
    try:
        data = json.loads(path.read_text())
        prep = Prepared(**data)
    except (OSError, ValueError, TypeError):
        return None
    files = [prep.vmlinuz, prep.busybox, prep.labwork, *prep.modules.values()]
    return prep if all(Path(f).is_file() for f in files) else None


def prepare(
    spec: ArchSpec,
    cache: Path,
    kernel_package: str | None = None,
    install: bool = False,
    log: Callable[[str], None] = print,
) -> Prepared:
    """Everything a lab run of ``spec`` needs, fetching and building what is missing.

    ``install``: also install system tools with apt-get (root). Without it, missing tools
    raise :class:`LabNotReady` naming them and the set-up command.
    """
    if install:
        install_tools(spec, log)
    missing = missing_tools(spec)
    if missing:
        raise LabNotReady(
            f"the lab needs {', '.join(missing)} (run `mcstudy lab --setup --arch {spec.name}` "
            "as root)"
        )
    root = cache / spec.name
    root.mkdir(parents=True, exist_ok=True)
    have = load_manifest(spec, cache)
    pkg = kernel_package or (
        have.kernel_package if have and not install else default_kernel_package(spec)
    )
    if have is None or have.kernel_package != pkg:
        log(f"lab set-up: downloading {pkg}:{spec.name} and busybox-static:{spec.name}")
        kroot = _download(pkg, spec.name, root / pkg)
        broot = _download("busybox-static", spec.name, root / "busybox-static")
    else:
        kroot, broot = Path(have.vmlinuz).parents[1], Path(have.busybox).parents[1]
    release, vmlinuz, config, mods = _kernel_files(kroot, pkg)
    busybox = broot / "bin" / "busybox"
    if not busybox.is_file():
        raise LabError(f"busybox-static:{spec.name} has no bin/busybox")
    labwork = root / "labwork"
    digest = hashlib.sha256(guest_source("labwork.c") + spec.compiler_cmd.encode()).hexdigest()
    if have is None or have.labwork_sha256 != digest or not labwork.is_file():
        log(f"lab set-up: compiling the guest workload with {spec.compiler_cmd}")
        digest = build_labwork(spec, labwork)
    prep = Prepared(
        arch=spec.name,
        kernel_package=pkg,
        kernel_version=(kroot / ".version").read_text().strip()
        if (kroot / ".version").exists()
        else "",
        release=release,
        vmlinuz=str(vmlinuz),
        config=str(config),
        modules=mods,
        busybox=str(busybox),
        labwork=str(labwork),
        labwork_sha256=digest,
    )
    atomic_write_text(root / MANIFEST, json.dumps(asdict(prep), indent=1, sort_keys=True) + "\n")
    return prep
