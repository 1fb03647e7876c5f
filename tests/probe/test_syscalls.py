"""ctypes wrappers: errors carry errno and name the call; mappings land where asked."""

from __future__ import annotations

import errno
import platform

import pytest

from mcstudy.probe import procstats, syscalls

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(platform.system() != "Linux", reason="Linux system calls"),
]

PAGE = syscalls.PAGE_SIZE


def test_map_touch_and_unmap():
    addr = syscalls.mmap_anon(16 * PAGE)
    try:
        touch = syscalls.Toucher(addr, 16 * PAGE, PAGE)
        touch()
        touch.release()
        # the kernel may merge the mapping with an adjacent anonymous VMA
        assert _covered(addr, addr + 16 * PAGE)
    finally:
        syscalls.munmap(addr, 16 * PAGE)
    assert not _covered(addr, addr + 16 * PAGE)


def _covered(start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in procstats.read_maps())


def test_fixed_noreplace_refuses_an_occupied_address():
    addr = syscalls.mmap_anon(4 * PAGE)
    try:
        with pytest.raises(OSError) as info:
            syscalls.mmap_anon(PAGE, addr + PAGE)
        assert info.value.errno == errno.EEXIST
        assert f"at 0x{addr + PAGE:x}" in str(info.value)
    finally:
        syscalls.munmap(addr, 4 * PAGE)


def test_madvise_errors_name_the_advice():
    addr = syscalls.mmap_anon(PAGE)
    try:
        with pytest.raises(OSError) as info:
            syscalls.madvise(addr + 1, PAGE, syscalls.MADV_NOHUGEPAGE)  # unaligned
        assert info.value.errno == errno.EINVAL
        assert "MADV_NOHUGEPAGE" in str(info.value)
        assert syscalls.madvise_errno(addr + 1, PAGE, syscalls.MADV_NOHUGEPAGE) == errno.EINVAL
        assert syscalls.madvise_errno(addr, PAGE, syscalls.MADV_NOHUGEPAGE) == 0
    finally:
        syscalls.munmap(addr, PAGE)


def test_toucher_rejects_bad_stride():
    with pytest.raises(ValueError):
        syscalls.Toucher(0, 10, 4)
