"""ctypes wrappers for the system calls the probe makes: mmap, munmap, madvise, membarrier.

Every wrapper raises ``OSError`` carrying the errno and a message naming the call and its
arguments, so a phase can turn it into one clear :class:`ProbeError`. Standard library
only (this module runs in the pinned worker process).

Constants are Linux UAPI values (include/uapi/asm-generic/mman-common.h); the portable
ones come from Python's ``mmap`` module.
"""

from __future__ import annotations

import ctypes
import mmap as _mmap
import os
import platform
import time

PAGE_SIZE = _mmap.PAGESIZE  # bytes
PROT_NONE = _mmap.PROT_NONE if hasattr(_mmap, "PROT_NONE") else 0
PROT_RW = _mmap.PROT_READ | _mmap.PROT_WRITE
MAP_PRIVATE = _mmap.MAP_PRIVATE
MAP_ANONYMOUS = _mmap.MAP_ANONYMOUS
MAP_FIXED_NOREPLACE = 0x100000  # Linux >= 4.17: fail with EEXIST instead of replacing

MADV_DONTNEED = 4
MADV_HUGEPAGE = 14
MADV_NOHUGEPAGE = 15
MADV_COLLAPSE = 25  # Linux >= 6.1: synchronous collapse into PMD-mapped THPs

MADV_NAMES = {
    MADV_DONTNEED: "MADV_DONTNEED",
    MADV_HUGEPAGE: "MADV_HUGEPAGE",
    MADV_NOHUGEPAGE: "MADV_NOHUGEPAGE",
    MADV_COLLAPSE: "MADV_COLLAPSE",
}

# membarrier(2) system call numbers; MEMBARRIER_CMD_GLOBAL waits for an RCU grace period
_SYS_MEMBARRIER = {"x86_64": 324, "aarch64": 283, "riscv64": 283, "ppc64le": 365, "s390x": 356}
MEMBARRIER_CMD_QUERY = 0
MEMBARRIER_CMD_GLOBAL = 1
SETTLE_SLEEP_S = 0.1  # fallback settle time when membarrier is unavailable (seconds)

_MAP_FAILED = ctypes.c_void_p(-1).value

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library with argument and return types set for the calls used here."""
    global _libc
    if _libc is None:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mmap.restype = ctypes.c_void_p
        lib.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        lib.munmap.restype = ctypes.c_int
        lib.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.madvise.restype = ctypes.c_int
        lib.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        lib.syscall.restype = ctypes.c_long
        _libc = lib
    return _libc


def _oserror(call: str) -> OSError:
    err = ctypes.get_errno()
    return OSError(err, f"{call}: {os.strerror(err)}")


def _size(length: int) -> str:
    if length % (1 << 20) == 0:
        return f"{length >> 20} MiB"
    return f"{length} bytes"


def mmap_anon(length: int, addr: int | None = None, prot: int = PROT_RW) -> int:
    """Map ``length`` bytes of private anonymous memory; at exactly ``addr`` if given.

    With ``addr`` the mapping uses ``MAP_FIXED_NOREPLACE``: it fails (EEXIST) rather
    than replace anything already mapped there. Returns the start address.
    """
    flags = MAP_PRIVATE | MAP_ANONYMOUS
    if addr is not None:
        flags |= MAP_FIXED_NOREPLACE
    ctypes.set_errno(0)
    got = libc().mmap(addr, length, prot, flags, -1, 0)
    where = f"0x{addr:x}" if addr is not None else "any address"
    if got is None or got == _MAP_FAILED:
        raise _oserror(f"mmap({_size(length)} at {where})")
    if addr is not None and got != addr:
        # a kernel before 4.17 ignores MAP_FIXED_NOREPLACE and treats addr as a hint
        libc().munmap(got, length)
        raise OSError(0, f"mmap({_size(length)} at {where}) returned 0x{got:x} instead")
    return int(got)


def munmap(addr: int, length: int) -> None:
    """Unmap [addr, addr + length)."""
    ctypes.set_errno(0)
    if libc().munmap(addr, length) != 0:
        raise _oserror(f"munmap(0x{addr:x}, {_size(length)})")


def madvise(addr: int, length: int, advice: int) -> None:
    """``madvise(addr, length, advice)``; OSError on failure."""
    ctypes.set_errno(0)
    if libc().madvise(addr, length, advice) != 0:
        name = MADV_NAMES.get(advice, str(advice))
        raise _oserror(f"madvise(0x{addr:x}, {_size(length)}, {name})")


def madvise_errno(addr: int, length: int, advice: int) -> int:
    """``madvise`` returning 0 or the errno (for calls whose partial failure is data)."""
    ctypes.set_errno(0)
    if libc().madvise(addr, length, advice) != 0:
        return ctypes.get_errno() or -1
    return 0


class Toucher:
    """Writes one byte every ``stride`` bytes of [addr, addr + length) in one C loop.

    Built before a measurement window (it allocates), called inside it: the call is a
    single strided memoryview assignment, so the window holds page faults, not Python.
    """

    def __init__(self, addr: int, length: int, stride: int) -> None:
        if length <= 0 or stride <= 0 or length % stride:
            raise ValueError("length must be a positive multiple of stride")
        self._view = memoryview((ctypes.c_char * length).from_address(addr)).cast("B")
        self._data = b"\x01" * (length // stride)
        self._stride = stride

    def __call__(self) -> None:
        self._view[:: self._stride] = self._data

    def release(self) -> None:
        """Drop the view (before the memory is unmapped)."""
        self._view.release()


def membarrier_supported() -> bool:
    """``membarrier(MEMBARRIER_CMD_GLOBAL)`` is available on this machine."""
    nr = _SYS_MEMBARRIER.get(platform.machine())
    if nr is None:
        return False
    mask = libc().syscall(nr, MEMBARRIER_CMD_QUERY, 0, 0)
    return mask > 0 and bool(mask & MEMBARRIER_CMD_GLOBAL)


def settle(use_membarrier: bool) -> None:
    """Let RCU-deferred page-table frees complete (they reach ``PageTables`` late).

    Page tables freed through ``tlb_remove_table()`` are released by ``call_rcu()``
    after a grace period; ``MEMBARRIER_CMD_GLOBAL`` is ``synchronize_rcu()``, so two of
    them leave the callbacks queued before the first one runnable and, in practice, run.
    """
    if use_membarrier:
        nr = _SYS_MEMBARRIER[platform.machine()]
        for _ in range(2):
            if libc().syscall(nr, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0:
                time.sleep(SETTLE_SLEEP_S)
                return
        return
    time.sleep(SETTLE_SLEEP_S)
