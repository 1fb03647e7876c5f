"""Guest kernels by version: which Debian suite serves each, and which packages hold it.

``mcstudy lab --kernel 6.1|6.12|7.2`` names a kernel line; :data:`KERNELS` maps it to the
Debian suites that serve it and to the name its cloud image package must have. The exact
package and version are resolved through the lab's own apt (:mod:`mcstudy.lab.apt`): the
newest ``linux-image-cloud-<arch>`` of those suites, and the image package it depends on.

Packaging differs between the lines (checked on the archive):

* 6.1 (bookworm) and 6.12 (trixie): one package, ``linux-image-<abi>-cloud-<arch>``, holds
  ``boot/vmlinuz-*``, ``boot/config-*`` and the modules; its ``-unsigned`` build (the same
  kernel without a signature) is preferred where the archive has it;
* 7.x (sid): the image package is almost empty; it depends on ``linux-binary-<abi>``
  (``usr/lib/modules/<release>/vmlinuz``; ``linux-binary-unsigned-<abi>`` preferred),
  ``linux-modules-<abi>`` (the modules) and ``linux-base-<abi>`` (``config``,
  ``System.map``, ``modules.builtin``). :func:`kernel_packages` follows the image's
  dependencies that carry its ABI name, so both layouts resolve the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mcstudy.lab.apt import LabApt
from mcstudy.lab.errors import LabError, LabNotReady

META = "linux-image-cloud-{arch}"
"""Debian's metapackage whose dependency names a suite's current cloud kernel."""


@dataclass(frozen=True)
class KernelLine:
    """One kernel version the lab knows."""

    version: str
    suites: tuple[str, ...]
    """Debian suites serving it (the newest version among them is taken)."""
    image: str
    """Regular expression the image package's name must match (``{arch}``: the guest's)."""
    packaging: str

    def image_re(self, arch: str) -> re.Pattern[str]:
        return re.compile(self.image.replace("{arch}", re.escape(arch)))


KERNELS: dict[str, KernelLine] = {
    "6.1": KernelLine(
        "6.1",
        ("bookworm", "bookworm-security"),
        r"linux-image-6\.1\.0-\d+-cloud-{arch}",
        "one package (boot/vmlinuz-*, boot/config-*, lib/modules)",
    ),
    "6.12": KernelLine(
        "6.12",
        ("trixie", "trixie-security"),
        r"linux-image-6\.12\.\d+\+deb13-cloud-{arch}",
        "one package (boot/vmlinuz-*, boot/config-*, lib/modules)",
    ),
    "7.2": KernelLine(
        "7.2",
        ("sid",),
        r"linux-image-7\.2\.\d+\+deb14-cloud-{arch}",
        "split: linux-binary-* (vmlinuz), linux-modules-*, linux-base-* (config)",
    ),
}
DEFAULT_KERNEL = "6.1"

RUN_DEFAULTS: dict[tuple[str, str], tuple[int | None, tuple[int, ...] | None]] = {
    # (line, arch): (gathers per level, pressure levels); None: the lab's default (2000
    # gathers, the architecture's levels). Chosen so that every kernel that frees page
    # tables through tlb_remove_table() on that architecture gives at least 100 fallbacks
    # under pressure with margin, each run under 10 minutes on 2 cores without KVM.
    # 6.12 arm64: 2000 gathers gave 99 fallbacks in one run (2 min 49 s), 4000 gave 1446
    # (2 min 30 s): how often the batch page fails varies several times between runs.
    ("6.12", "arm64"): (4000, None),
    # 7.2 amd64 frees page tables through tlb_remove_table() (RCU table freeing on x86
    # since 6.15), so its fallbacks need pressure levels. 2000 gathers at 300 and 400 MiB
    # gave 1108 fallbacks on a loaded machine but 44 on a quiet one (35 at 300 MiB, 9 at
    # 400 MiB: the DMA zone serves attempts while DMA32 is at min); 4000 gathers at 300
    # and 350 MiB gave 2089 (1371 + 718) on a loaded machine.
    ("7.2", "amd64"): (4000, (0, 300, 350)),
}
DEFAULT_GATHERS = 2000


def run_defaults(line: str, arch: str, arch_levels: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """(gathers per level, pressure levels) a run of kernel ``line`` on ``arch`` takes when
    ``--gathers`` and ``--pressure`` are not given (``line`` '': a named package)."""
    gathers, levels = RUN_DEFAULTS.get((line, arch), (None, None))
    return gathers or DEFAULT_GATHERS, levels or arch_levels


BUSYBOX_SUITES = ("bookworm", "bookworm-security")
"""busybox-static comes from one suite for every kernel, so that only the kernel differs."""


def lab_suites() -> tuple[str, ...]:
    """Every suite the lab's sources list names (each once, in table order)."""
    out: list[str] = []
    for s in (*BUSYBOX_SUITES, *(s for k in KERNELS.values() for s in k.suites)):
        if s not in out:
            out.append(s)
    return tuple(out)


def get_kernel(version: str) -> KernelLine:
    try:
        return KERNELS[version]
    except KeyError:
        raise LabError(
            f"--kernel: unknown kernel version {version!r}; known: {', '.join(KERNELS)}"
        ) from None


# ------------------------------------------------------------------ Debian versions


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _cmp_part(a: str, b: str) -> int:
    while a or b:
        na = re.match(r"\D*", a).group()  # type: ignore[union-attr]
        nb = re.match(r"\D*", b).group()  # type: ignore[union-attr]
        for i in range(max(len(na), len(nb))):
            x = _order(na[i]) if i < len(na) else 0
            y = _order(nb[i]) if i < len(nb) else 0
            if x != y:
                return -1 if x < y else 1
        a, b = a[len(na) :], b[len(nb) :]
        da = re.match(r"\d*", a).group()  # type: ignore[union-attr]
        db = re.match(r"\d*", b).group()  # type: ignore[union-attr]
        x, y = int(da or 0), int(db or 0)
        if x != y:
            return -1 if x < y else 1
        a, b = a[len(da) :], b[len(db) :]
    return 0


def compare_versions(a: str, b: str) -> int:
    """Debian's version order (deb-version(7)): -1, 0 or 1."""

    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        up, _, rev = rest.rpartition("-") if "-" in rest else (rest, "", "0")
        return int(epoch or 0), up, rev

    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _cmp_part(ua, ub) or _cmp_part(ra, rb)


def newest(versions: list[str]) -> str:
    best = versions[0]
    for v in versions[1:]:
        if compare_versions(v, best) > 0:
            best = v
    return best


# ------------------------------------------------------------------ resolution


def depends(record: str) -> list[list[str]]:
    """The ``Depends`` of one ``apt-cache show`` record: alternatives of package names."""
    for line in record.splitlines():
        if line.startswith("Depends:"):
            groups = []
            for group in line.removeprefix("Depends:").split(","):
                names = [re.sub(r"\s*\(.*\)", "", alt).strip() for alt in group.split("|")]
                groups.append([n.split(":")[0] for n in names if n])
            return groups
    return []


def _first_record(text: str) -> str:
    return text.strip().split("\n\n")[0] if text.strip() else ""


@dataclass(frozen=True)
class KernelChoice:
    """A guest kernel resolved to packages of the archive."""

    version_line: str
    """``6.1``, ``6.12``, ``7.2``; '' for a package named with ``--kernel-package``."""
    arch: str
    suite: str
    image: str
    """The image package (its ``-unsigned`` build where there is one)."""
    version: str
    packages: tuple[str, ...]
    """Every package to unpack (the image and its ABI dependencies), image first."""


def newest_in(apt: LabApt, pkg: str, arch: str, suites: tuple[str, ...] | None) -> tuple[str, str]:
    """(version, suite) of the newest ``pkg`` in ``suites`` (None: any suite)."""
    found = [(v, s) for v, s in apt.madison(f"{pkg}:{arch}", arch) if suites is None or s in suites]
    if not found:
        where = f" in {', '.join(suites)}" if suites else ""
        raise LabNotReady(
            f"the lab's apt lists have no {pkg}:{arch}{where} (run `mcstudy lab --setup "
            f"--arch {arch}` to refresh them)"
        )
    v = newest([v for v, _ in found])
    return v, next(s for vv, s in found if vv == v)


def _unsigned(apt: LabApt, name: str, version: str, arch: str) -> str:
    """The ``-unsigned`` build of ``name`` where the archive has one at ``version``."""
    for cand in (f"{name}-unsigned", re.sub(r"^linux-binary-", "linux-binary-unsigned-", name)):
        if cand != name and apt.show(f"{cand}:{arch}={version}", arch).strip():
            return cand
    return name


def kernel_packages(
    apt: LabApt, image: str, version: str, arch: str, prefer_unsigned: bool = True
) -> tuple[str, ...]:
    """The image and every dependency carrying its ABI name (7.x: ``linux-binary-*``,
    ``linux-modules-*``, ``linux-base-*``), each at ``version``, image first."""
    abi = image.removeprefix("linux-image-").removesuffix("-unsigned")
    first = _unsigned(apt, image, version, arch) if prefer_unsigned else image
    out = [first]
    queue = [first]
    while queue:
        name = queue.pop(0)
        record = _first_record(apt.show(f"{name}:{arch}={version}", arch))
        if not record:
            raise LabError(f"the archive has no {name}:{arch} at version {version}")
        for group in depends(record):
            ours = [n for n in group if abi in n and n.startswith("linux-")]
            if not ours:
                continue
            dep = _unsigned(apt, ours[0], version, arch) if prefer_unsigned else ours[0]
            if dep not in out:
                out.append(dep)
                queue.append(dep)
    return tuple(out)


def resolve(apt: LabApt, line: KernelLine, arch: str) -> KernelChoice:
    """The packages of the newest cloud kernel of ``line`` for ``arch``."""
    meta = META.format(arch=arch)
    version, suite = newest_in(apt, meta, arch, line.suites)
    record = _first_record(apt.show(f"{meta}:{arch}={version}", arch))
    images = [n for g in depends(record) for n in g[:1] if line.image_re(arch).fullmatch(n)]
    if not images:
        named = [n for g in depends(record) for n in g[:1] if n.startswith("linux-image-")]
        raise LabError(
            f"{meta} {version} ({suite}) depends on {', '.join(named) or 'no image'}, not a "
            f"Linux {line.version} cloud image (the suite moved on: name the package with "
            "--kernel-package)"
        )
    image = images[0]
    pkgs = kernel_packages(apt, image, version, arch)
    return KernelChoice(line.version, arch, suite, pkgs[0], version, pkgs)


def resolve_package(apt: LabApt, name: str, arch: str) -> KernelChoice:
    """A kernel package named with ``--kernel-package`` (any suite of the lab's lists),
    with its ABI dependencies (a 7.x image: the binary, modules and base packages)."""
    version, suite = newest_in(apt, name, arch, None)
    pkgs = kernel_packages(apt, name, version, arch, prefer_unsigned=False)
    line = next(
        (
            k.version
            for k in KERNELS.values()
            if k.image_re(arch).fullmatch(name.removesuffix("-unsigned"))
        ),
        "",
    )
    return KernelChoice(line, arch, suite, name, version, pkgs)
