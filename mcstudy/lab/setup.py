"""The lab's one-time set-up: system tools from Debian's packages, and a cache holding the
guest kernels, their modules, busybox and the compiled workload.

* System tools (root, the system's ``apt-get install``): the emulator
  (``qemu-system-arm`` or ``qemu-system-x86``) and a C compiler for static guest binaries
  (the cross compiler ``gcc-aarch64-linux-gnu`` on an amd64 host).
* Cache (any user): guest packages come through the lab's own apt configuration
  (:mod:`mcstudy.lab.apt`; the system's apt sources and dpkg architectures are never
  changed): the kernel of a version line (:mod:`mcstudy.lab.kernels`: ``--kernel 6.1``,
  ``6.12``, ``7.2``) or a named package (``--kernel-package``), with the packages a split
  7.x kernel needs, and ``busybox-static``, each unpacked with ``dpkg-deb -x``; the guest
  workload ``guest/labwork.c`` compiled statically. A manifest (``manifest.json``, written
  atomically) records the last prepared kernel; each kernel keeps its own ``kernel.json``.

Cache layout (``mcstudy.lab.arch.cache_dir()``)::

    <cache>/apt/...                                   the lab's apt (mcstudy.lab.apt)
    <cache>/<arch>/manifest.json
    <cache>/<arch>/kernels/<image package>_<version>/kernel.json
        .../boot/vmlinuz-<release>, boot/config-<release>, lib/modules/<release>/ (6.x)
        .../usr/lib/modules/<release>/{vmlinuz*,config,modules.builtin,kernel/} (7.x)
    <cache>/<arch>/busybox-static/bin/busybox
    <cache>/<arch>/labwork            (rebuilt when guest/labwork.c changes)

Several kernels of one architecture stay side by side under ``kernels/``.
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

from mcstudy.lab.apt import LabApt
from mcstudy.lab.arch import ArchSpec
from mcstudy.lab.errors import LabError, LabNotReady
from mcstudy.lab.kernels import (
    BUSYBOX_SUITES,
    DEFAULT_KERNEL,
    KernelChoice,
    get_kernel,
    lab_suites,
    newest_in,
    resolve,
    resolve_package,
)
from mcstudy.lab.kfiles import kernel_files
from mcstudy.storage.atomic import atomic_write_bytes, atomic_write_text

MANIFEST = "manifest.json"
KERNEL_JSON = "kernel.json"
APT_TIMEOUT_S = 900


@dataclass(frozen=True)
class Prepared:
    """What the cache holds for one run: the kernel, busybox, the workload (absolute paths)."""

    arch: str
    kernel_package: str
    kernel_version: str
    release: str
    vmlinuz: str
    config: str
    modules: dict[str, str]
    """Module name -> path of its ``.ko`` (the zram stack), in load order."""
    busybox: str
    labwork: str
    labwork_sha256: str
    kernel_line: str = ""
    """``6.1``, ``6.12``, ``7.2`` (:data:`mcstudy.lab.kernels.KERNELS`); '' if unknown."""
    suite: str = ""
    packages: tuple[str, ...] = ()
    """Every package unpacked for the kernel (7.x: image, base, binary, modules)."""
    zram: str = "module"
    """``module``, ``builtin`` or '' (no zram in this kernel)."""


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
    """Install the emulator and the compiler on the host with the system's ``apt-get``
    (root only; host packages only: guest packages come through the lab's own apt).
    LabError if that is not possible."""
    if os.geteuid() != 0:
        raise LabError(
            "installing the lab's system tools needs root (apt-get install "
            f"{spec.qemu_package} {' '.join(compiler_packages(spec))})"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
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


def _unpack(apt: LabApt, pkgs: list[tuple[str, str]], arch: str, dest: Path) -> None:
    """Download ``(package, version)`` pairs with the lab's apt and unpack them all into
    ``dest`` (made atomically: a kill leaves no half-unpacked directory behind)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".dl-") as tmp:
        os.chmod(tmp, 0o755)  # apt's sandbox user may write here
        unpack = Path(tmp) / "root"
        unpack.mkdir()
        for pkg, version in pkgs:
            deb = apt.download(pkg, version, arch, Path(tmp))
            _run(["dpkg-deb", "-x", str(deb), str(unpack)], f"dpkg-deb -x {deb.name}")
            deb.unlink()
        (unpack / ".version").write_text(pkgs[0][1] + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        unpack.rename(dest)


def fetch_kernel(apt: LabApt, choice: KernelChoice, root: Path, log: Callable[[str], None]) -> Path:
    """The directory holding ``choice`` unpacked (downloaded if the cache lacks it)."""
    kdir = root / "kernels" / f"{choice.image}_{choice.version}"
    meta = kdir / KERNEL_JSON
    if not meta.is_file():
        log(
            f"lab set-up: downloading Linux {choice.version_line or choice.image} "
            f"({choice.suite}): {', '.join(choice.packages)} {choice.version}"
        )
        _unpack(apt, [(p, choice.version) for p in choice.packages], choice.arch, kdir)
        atomic_write_text(meta, json.dumps(asdict(choice), indent=1, sort_keys=True) + "\n")
    return kdir


def cached_kernels(root: Path) -> list[KernelChoice]:
    """Every kernel unpacked in ``<cache>/<arch>/kernels``."""
    out = []
    for meta in sorted((root / "kernels").glob(f"*/{KERNEL_JSON}")):
        try:
            d = json.loads(meta.read_text())
            out.append(KernelChoice(**{**d, "packages": tuple(d["packages"])}))
        except (OSError, ValueError, TypeError, KeyError):
            continue
    return out


def choose_kernel(
    apt: LabApt,
    spec: ArchSpec,
    root: Path,
    kernel: str | None,
    kernel_package: str | None,
    have: Prepared | None,
    refresh: bool,
    log: Callable[[str], None],
) -> KernelChoice:
    """The kernel a run boots: ``--kernel-package``, else ``--kernel``, else the one the
    manifest names, else :data:`DEFAULT_KERNEL`. Resolved through the lab's apt (lists
    refreshed once a day); a kernel of the asked line already in the cache is used when
    apt cannot answer (offline)."""
    if kernel is not None and kernel_package is not None:
        raise LabError("give --kernel or --kernel-package, not both")
    if kernel_package is None and kernel is None and have is not None and not refresh:
        for c in cached_kernels(root):
            if c.image == have.kernel_package and c.version == have.kernel_version:
                return c
    line = get_kernel(kernel or DEFAULT_KERNEL) if kernel_package is None else None
    try:
        apt.update(force=refresh, log=log)
        if kernel_package is not None:
            return resolve_package(apt, kernel_package, spec.name)
        assert line is not None
        return resolve(apt, line, spec.name)
    except LabError as exc:
        cached = [
            c
            for c in cached_kernels(root)
            if (c.image == kernel_package if kernel_package else c.version_line == line.version)  # type: ignore[union-attr]
        ]
        if not cached:
            raise
        log(f"lab set-up: {exc}; using the cached {cached[-1].image} {cached[-1].version}")
        return cached[-1]


def fetch_busybox(apt: LabApt, spec: ArchSpec, root: Path, log: Callable[[str], None]) -> Path:
    """``busybox-static`` of :data:`BUSYBOX_SUITES` for the guest (kept if cached)."""
    broot = root / "busybox-static"
    if (broot / "bin" / "busybox").is_file():
        return broot
    version, suite = newest_in(apt, "busybox-static", spec.name, BUSYBOX_SUITES)
    log(f"lab set-up: downloading busybox-static:{spec.name} {version} ({suite})")
    _unpack(apt, [("busybox-static", version)], spec.name, broot)
    return broot


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
        prep = Prepared(**{**data, "packages": tuple(data.get("packages", ()))})
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
    kernel: str | None = None,
    apt: LabApt | None = None,
) -> Prepared:
    """Everything a lab run of ``spec`` needs, fetching and building what is missing.

    ``kernel``: a version line (``6.1``, ``6.12``, ``7.2``); ``kernel_package``: a named
    Debian kernel package. ``install``: also install system tools with the system's
    apt-get (root) and refresh the lab's package lists. Without it, missing tools raise
    :class:`LabNotReady` naming them and the set-up command.
    """
    if kernel is not None:
        get_kernel(kernel)  # an unknown version is an error before anything is fetched
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
    apt = apt or LabApt(cache, lab_suites())
    have = load_manifest(spec, cache)
    choice = choose_kernel(apt, spec, root, kernel, kernel_package, have, install, log)
    kroot = fetch_kernel(apt, choice, root, log)
    broot = fetch_busybox(apt, spec, root, log)
    files = kernel_files(kroot, choice.image)
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
        kernel_package=choice.image,
        kernel_version=choice.version,
        release=files.release,
        vmlinuz=str(files.vmlinuz),
        config=str(files.config),
        modules=files.modules,
        busybox=str(busybox),
        labwork=str(labwork),
        labwork_sha256=digest,
        kernel_line=choice.version_line,
        suite=choice.suite,
        packages=choice.packages,
        zram=files.zram,
    )
    atomic_write_text(root / MANIFEST, json.dumps(asdict(prep), indent=1, sort_keys=True) + "\n")
    return prep
