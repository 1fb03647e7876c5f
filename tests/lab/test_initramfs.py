"""The initramfs writer: a newc archive the kernel's unpacker reads, byte for byte."""

from __future__ import annotations

import gzip

import pytest

from mcstudy.lab.initramfs import (
    S_IFCHR,
    S_IFDIR,
    S_IFMT,
    S_IFREG,
    Member,
    gzip_archive,
    lab_members,
    newc_archive,
    shell_conf,
)


def read_newc(blob: bytes) -> list[dict]:
    """A minimal newc reader (the format of the kernel's usr/gen_init_cpio.c)."""
    out, pos = [], 0
    while True:
        assert blob[pos : pos + 6] == b"070701"
        f = [int(blob[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name_at = pos + 110
        name = blob[name_at : name_at + namesize - 1].decode()
        assert blob[name_at + namesize - 1] == 0
        data_at = name_at + namesize + (-(110 + namesize) % 4)
        data = blob[data_at : data_at + filesize]
        pos = data_at + filesize + (-filesize % 4)
        if name == "TRAILER!!!":
            assert pos == len(blob) and len(blob) % 4 == 0
            return out
        out.append({"name": name, "mode": f[1], "nlink": f[4], "data": data, "rdev": (f[9], f[10])})


def test_archive_round_trips_dirs_files_devices_and_links():
    members = [
        Member.dir("bin"),
        Member.file("bin/x", b"abc", executable=True),
        Member.file("etc.conf", b"12345"),
        Member.chardev("dev/console", 5, 1),
        Member.symlink("bin/sh", "busybox"),
    ]
    entries = read_newc(newc_archive(members))
    assert [e["name"] for e in entries] == ["bin", "bin/x", "etc.conf", "dev/console", "bin/sh"]
    assert entries[0]["mode"] & S_IFMT == S_IFDIR and entries[0]["nlink"] == 2
    assert entries[1]["mode"] == S_IFREG | 0o755 and entries[1]["data"] == b"abc"
    assert entries[2]["mode"] == S_IFREG | 0o644 and entries[2]["data"] == b"12345"
    assert entries[3]["mode"] == S_IFCHR | 0o600 and entries[3]["rdev"] == (5, 1)
    assert entries[4]["data"] == b"busybox"


def test_archive_is_deterministic_and_gzip_wrapped():
    members = [Member.file("a", b"x" * 1000)]
    a, b = gzip_archive(members), gzip_archive(members)
    assert a == b
    assert gzip.decompress(a) == newc_archive(members)


def test_repeated_or_empty_paths_are_refused():
    with pytest.raises(ValueError, match="repeated"):
        newc_archive([Member.file("a", b""), Member.file("/a", b"")])
    with pytest.raises(ValueError, match="empty"):
        newc_archive([Member.dir("/")])


def test_lab_conf_is_plain_shell_assignments_and_refuses_quoting():
    text = shell_conf({"LEVELS": "0 300", "GATHERS": 20}).decode()
    assert text == 'LEVELS="0 300"\nGATHERS="20"\n'
    for bad in ({"X": "a;rm"}, {"X": '"'}, {"x": "1"}, {"X": "$(id)"}):
        with pytest.raises(ValueError, match="unsafe"):
            shell_conf(bad)


def test_lab_members_hold_the_guest_side(tmp_path):
    ko = tmp_path / "zram.ko"
    ko.write_bytes(b"\x7fELF")
    members = lab_members(b"BB", b"LW", b"#!/bin/sh\n", {"A": 1}, {"zram": str(ko)})
    by = {m.path: m for m in members}
    assert by["init"].mode == S_IFREG | 0o755
    assert by["bin/labwork"].data == b"LW" and by["bin/busybox"].data == b"BB"
    assert by["modules/zram.ko"].data == b"\x7fELF"
    assert by["dev/console"].rdev == (5, 1)
    assert by["lab.conf"].data == b'A="1"\n'
