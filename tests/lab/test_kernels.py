"""Kernels by version (mcstudy.lab.kernels, mcstudy.lab.kfiles): resolution through the lab's
apt on answers shaped like the archive's (6.12: one -unsigned image package; 7.2: a split
image whose binary, modules and base packages are followed), and the files of either
packaging unpacked."""

from __future__ import annotations

import lzma
import subprocess
from pathlib import Path

import pytest

from mcstudy.lab import setup as lab_setup
from mcstudy.lab.apt import LabApt
from mcstudy.lab.arch import get_arch
from mcstudy.lab.errors import LabError
from mcstudy.lab.kernels import (
    KERNELS,
    compare_versions,
    depends,
    lab_suites,
    resolve,
    resolve_package,
)
from mcstudy.lab.kfiles import kernel_files

V72 = "7.2.13+deb14-cloud-arm64"
ARCHIVE = {
    # package: [(version, suite, Depends)]
    "linux-image-cloud-arm64": [
        (
            "7.2.13-1",
            "sid",
            f"linux-base-cloud-arm64 (= 7.2.13-1), linux-image-{V72} (= 7.2.13-1)",
        ),
        ("6.12.118-1", "trixie-security", "linux-image-6.12.118+deb13-cloud-arm64 (= 6.12.118-1)"),
        ("6.12.117-1", "trixie", "linux-image-6.12.117+deb13-cloud-arm64 (= 6.12.117-1)"),
        ("6.1.176-1", "bookworm", "linux-image-6.1.0-50-cloud-arm64 (= 6.1.176-1)"),
    ],
    "linux-image-6.12.118+deb13-cloud-arm64": [
        (
            "6.12.118-1",
            "trixie-security",
            "kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool",
        )
    ],
    "linux-image-6.12.118+deb13-cloud-arm64-unsigned": [
        (
            "6.12.118-1",
            "trixie-security",
            "kmod, initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool",
        )
    ],
    f"linux-image-{V72}": [
        (
            "7.2.13-1",
            "sid",
            f"dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, linux-base-{V72} "
            f"(= 7.2.13-1), linux-binary-{V72} (= 7.2.13-1), linux-modules-{V72} (= 7.2.13-1)",
        )
    ],
    f"linux-binary-{V72}": [("7.2.13-1", "sid", f"linux-base-{V72} (= 7.2.13-1)")],
    f"linux-binary-unsigned-{V72}": [("7.2.13-1", "sid", f"linux-base-{V72} (= 7.2.13-1)")],
    f"linux-modules-{V72}": [("7.2.13-1", "sid", f"kmod, linux-base-{V72} (= 7.2.13-1)")],
    f"linux-base-{V72}": [("7.2.13-1", "sid", "")],
}


def fake_archive(archive=ARCHIVE):
    calls = []

    def run(cmd, **kw):
        calls.append(list(cmd))
        sub, arg = cmd[5], cmd[-1]
        name, _, rest = arg.partition(":")
        arch, _, version = rest.partition("=")
        recs = [r for r in archive.get(name, []) if not version or r[0] == version]
        if sub == "madison":
            out = "".join(
                f"{name}:{arch} | {v} | http://x/debian {s}/main {arch} Packages\n"
                for v, s, _ in recs
            )
        elif sub == "show":
            out = "\n".join(
                f"Package: {name}\nVersion: {v}\n" + (f"Depends: {d}\n" if d else "")
                for v, s, d in recs
            )
            if not recs:
                return subprocess.CompletedProcess(cmd, 100, "", "E: No packages found")
        else:
            out = ""
        return subprocess.CompletedProcess(cmd, 0, out, "")

    return run, calls


@pytest.fixture
def apt(tmp_path):
    key = tmp_path / "k.gpg"
    key.write_bytes(b"k")
    run, calls = fake_archive()
    a = LabApt(tmp_path / "cache", lab_suites(), runner=run, keyring=str(key))
    a.calls = calls  # type: ignore[attr-defined]
    return a


def test_debian_version_order():
    assert compare_versions("6.12.118-1", "6.12.117-1") == 1
    assert compare_versions("6.1.192-3", "6.1.192-2") == 1
    assert compare_versions("1:1.35.0-4", "1.38.0-3") == 1  # the epoch wins
    assert compare_versions("7.0~rc2-1", "7.0-1") == -1  # a tilde sorts before anything
    assert compare_versions("6.12.9-1", "6.12.10-1") == -1  # numerically, not as text
    assert compare_versions("1.0-1", "1.0-1") == 0


def test_depends_parses_alternatives_and_versions():
    rec = "Package: x\nDepends: a (>= 1) | b, c:any (= 2)\n"
    assert depends(rec) == [["a", "b"], ["c"]]


def test_6_12_is_the_newest_trixie_kernel_unsigned(apt):
    c = resolve(apt, KERNELS["6.12"], "arm64")
    assert (c.suite, c.version) == ("trixie-security", "6.12.118-1")
    assert c.packages == ("linux-image-6.12.118+deb13-cloud-arm64-unsigned",)


def test_7_2_follows_the_split_packages(apt):
    c = resolve(apt, KERNELS["7.2"], "arm64")
    assert (c.suite, c.version, c.image) == ("sid", "7.2.13-1", f"linux-image-{V72}")
    # the image's own dependencies of its ABI, the binary's unsigned build preferred;
    # dracut / initramfs-tools / kmod are not followed
    assert set(c.packages) == {
        f"linux-image-{V72}",
        f"linux-base-{V72}",
        f"linux-binary-unsigned-{V72}",
        f"linux-modules-{V72}",
    }
    assert c.packages[0] == c.image


def test_a_suite_that_moved_on_is_named(apt, tmp_path):
    archive = {
        "linux-image-cloud-arm64": [
            ("7.3.1-1", "sid", "linux-image-7.3.1+deb14-cloud-arm64 (= 7.3.1-1)")
        ]
    }
    run, _ = fake_archive(archive)
    apt.runner = run
    with pytest.raises(LabError, match=r"7\.3\.1\+deb14.*not a Linux 7\.2 cloud image"):
        resolve(apt, KERNELS["7.2"], "arm64")


def test_named_package_keeps_its_name(apt):
    c = resolve_package(apt, f"linux-image-{V72}", "arm64")
    assert c.version_line == "7.2" and c.image == f"linux-image-{V72}"
    assert f"linux-binary-{V72}" in c.packages  # named: no -unsigned swap


# ------------------------------------------------------------------ unpacked files


def _ko(depends: str) -> bytes:
    return b"\x7fELF....\x00license=GPL\x00depends=" + depends.encode() + b"\x00name=x\x00"


def test_files_of_a_6x_package(tmp_path):
    rel = "6.12.118+deb13-cloud-arm64"
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / f"vmlinuz-{rel}").write_bytes(b"k")
    (tmp_path / "boot" / f"config-{rel}").write_text("CONFIG_X=y\n")
    k = tmp_path / "lib" / "modules" / rel / "kernel"
    for rel_path, deps in {
        "mm/zsmalloc.ko.xz": "",
        "lib/lz4/lz4_compress.ko.xz": "",
        "drivers/block/zram/zram.ko.xz": "zsmalloc,lz4_compress",
    }.items():
        (k / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (k / rel_path).write_bytes(lzma.compress(_ko(deps)))
    f = kernel_files(tmp_path, "pkg")
    assert f.release == rel and f.config.name == f"config-{rel}"
    assert list(f.modules) == ["zsmalloc", "lz4_compress", "zram"] and f.zram == "module"


def test_files_of_a_split_7x_kernel(tmp_path):
    base = tmp_path / "usr" / "lib" / "modules" / V72
    (base / "kernel" / "drivers" / "block" / "zram").mkdir(parents=True)
    (base / "vmlinuz.unsigned").write_bytes(b"k")
    (base / "config").write_text("CONFIG_PT_RECLAIM=y\n")
    (base / "modules.builtin").write_text("kernel/mm/zsmalloc.ko\nkernel/crypto/lzo-rle.ko\n")
    (base / "kernel" / "drivers" / "block" / "zram" / "zram.ko.xz").write_bytes(
        lzma.compress(_ko("zsmalloc"))
    )
    f = kernel_files(tmp_path, "pkg")
    assert f.release == V72 and f.vmlinuz.name == "vmlinuz.unsigned" and f.config.name == "config"
    assert list(f.modules) == ["zram"]  # zsmalloc and lzo-rle are built in


def test_a_missing_dependency_is_named(tmp_path):
    rel = "6.1.0-57-cloud-arm64"
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / f"vmlinuz-{rel}").write_bytes(b"k")
    z = tmp_path / "lib" / "modules" / rel / "kernel" / "drivers" / "block" / "zram"
    z.mkdir(parents=True)
    (z / "zram.ko").write_bytes(_ko("zsmalloc"))
    with pytest.raises(LabError, match=r"module zsmalloc .needed by zram. is missing"):
        kernel_files(tmp_path, "pkg")


def test_prepare_keeps_kernels_side_by_side(apt, tmp_path, monkeypatch):
    """Two version lines prepared in turn: both stay unpacked, the manifest names the last."""

    def fake_unpack(apt_, pkgs, arch, dest):
        name = pkgs[0][0]
        if name.startswith("busybox"):
            (dest / "bin").mkdir(parents=True)
            (dest / "bin" / "busybox").write_bytes(b"bb")
            return
        rel = name.removeprefix("linux-image-").removesuffix("-unsigned")
        if "7.2" in rel:
            d = dest / "usr" / "lib" / "modules" / rel
            d.mkdir(parents=True)
            (d / "vmlinuz.unsigned").write_bytes(b"k")
            (d / "modules.builtin").write_text("kernel/drivers/block/zram/zram.ko\n")
        else:
            (dest / "boot").mkdir(parents=True)
            (dest / "boot" / f"vmlinuz-{rel}").write_bytes(b"k")

    archive = dict(ARCHIVE)
    archive["busybox-static"] = [("1:1.35.0-4", "bookworm", "")]
    apt.runner, calls = fake_archive(archive)
    monkeypatch.setattr(lab_setup, "_unpack", fake_unpack)
    monkeypatch.setattr(lab_setup, "missing_tools", lambda spec: [])
    monkeypatch.setattr(lab_setup, "build_labwork", lambda spec, out: out.write_bytes(b"") or "d")
    spec = get_arch("arm64")
    cache = apt.root.parent
    a = lab_setup.prepare(spec, cache, kernel="6.12", apt=apt, log=lambda m: None)
    b = lab_setup.prepare(spec, cache, kernel="7.2", apt=apt, log=lambda m: None)
    assert (a.kernel_line, b.kernel_line) == ("6.12", "7.2") and b.zram == "builtin"
    assert Path(a.vmlinuz).is_file() and Path(b.vmlinuz).is_file()
    assert {c.version_line for c in lab_setup.cached_kernels(cache / "arm64")} == {"6.12", "7.2"}
    assert lab_setup.load_manifest(spec, cache).kernel_package == b.kernel_package
    # without --kernel the manifest's kernel is booted again, with no apt call
    n = len(calls)
    c = lab_setup.prepare(spec, cache, apt=apt, log=lambda m: None)
    assert c.kernel_package == b.kernel_package and len(calls) == n
    with pytest.raises(LabError, match=r"unknown kernel version '5\.10'"):
        lab_setup.prepare(spec, cache, kernel="5.10", apt=apt, log=lambda m: None)
