"""The guest's initramfs: a ``newc`` cpio archive (the format ``gen_init_cpio`` writes).

It holds busybox, the guest workload ``labwork``, the ``init`` script, the experiment's
settings (``/lab.conf``) and the zram modules of the guest kernel. Standard library only. Every member is written with fixed owner (root), fixed mtime (0)
and inode numbers in member order, so the same inputs give the same bytes.
"""

from __future__ import annotations

import gzip
import lzma
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mcstudy.lab.errors import LabError

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"
S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFLNK = 0o120000
S_IFCHR = 0o020000
S_IFMT = 0o170000


@dataclass(frozen=True)
class Member:
    """One archive member: a directory, a regular file or a symbolic link."""

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)
    """(major, minor) of a device node."""

    @staticmethod
    def dir(path: str) -> Member:
        return Member(path, S_IFDIR | 0o755)

    @staticmethod
    def file(path: str, data: bytes, executable: bool = False) -> Member:
        return Member(path, S_IFREG | (0o755 if executable else 0o644), data)

    @staticmethod
    def symlink(path: str, target: str) -> Member:
        return Member(path, S_IFLNK | 0o777, target.encode())

    @staticmethod
    def chardev(path: str, major: int, minor: int) -> Member:
        return Member(path, S_IFCHR | 0o600, b"", (major, minor))


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _entry(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int] = (0, 0)) -> bytes:
    raw = name.encode() + b"\0"
    nlink = 2 if (mode & S_IFMT) == S_IFDIR else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, *rdev, len(raw), 0)
    header = NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)
    out = header + raw
    out += _pad4(len(out))
    out += data + _pad4(len(data))
    return out


def newc_archive(members: Iterable[Member]) -> bytes:
    """The uncompressed newc archive of ``members`` (paths relative, no leading ``/``)."""
    parts = []
    seen: set[str] = set()
    for ino, m in enumerate(members, start=1):
        name = m.path.strip("/")
        if not name or name in seen:
            raise ValueError(f"initramfs member {m.path!r}: empty or repeated path")
        seen.add(name)
        parts.append(_entry(ino, name, m.mode, m.data, m.rdev))
    parts.append(_entry(0, TRAILER, 0, b""))
    blob = b"".join(parts)
    return blob + _pad4(len(blob))


def gzip_archive(members: Iterable[Member]) -> bytes:
    """The gzip-compressed newc archive (what the kernel's initramfs unpacker reads)."""
    return gzip.compress(newc_archive(members), compresslevel=6, mtime=0)


def _module_bytes(path: str) -> bytes:
    """A kernel module's ELF bytes (``.ko``, or ``.ko.xz`` decompressed)."""
    raw = Path(path).read_bytes()
    if path.endswith(".xz"):
        return lzma.decompress(raw)
    if path.endswith(".zst"):
        raise LabError(f"{path}: zstd-compressed modules are not supported (busybox insmod)")
    return raw


def shell_conf(conf: dict[str, str | int]) -> bytes:
    """``/lab.conf``: shell assignments, each value checked to need no quoting."""
    lines = []
    for key, value in conf.items():
        text = str(value)
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key) or not re.fullmatch(
            r"[A-Za-z0-9_./ ,+-]*", text
        ):
            raise ValueError(f"lab.conf: unsafe entry {key}={text!r}")
        lines.append(f'{key}="{text}"')
    return ("\n".join(lines) + "\n").encode()


def lab_members(
    busybox: bytes, labwork: bytes, init: bytes, conf: dict[str, str | int], modules: dict[str, str]
) -> list[Member]:
    """The members of the lab's initramfs (docs/lab.md)."""
    members = [Member.dir(d) for d in ("bin", "dev", "proc", "sys", "tmp", "modules")]
    members += [
        Member.chardev("dev/console", 5, 1),
        Member.file("bin/busybox", busybox, executable=True),
        Member.file("bin/labwork", labwork, executable=True),
        Member.file("init", init, executable=True),
        Member.file("lab.conf", shell_conf(conf)),
    ]
    members += [
        Member.file(f"modules/{name}.ko", _module_bytes(path)) for name, path in modules.items()
    ]
    return members
