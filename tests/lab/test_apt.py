"""The lab's own apt configuration (mcstudy.lab.apt) with a stand-in for apt: every call
reads the configuration in the cache, names its architectures, and nothing points at the
system's apt directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from mcstudy.lab.apt import DEFAULT_MIRRORS, LabApt
from mcstudy.lab.errors import LabError


class FakeApt:
    """Records every call; answers from ``replies`` (keyed by the apt sub-command)."""

    def __init__(self, replies: dict[str, tuple[int, str, str]] | None = None) -> None:
        self.calls: list[tuple[list[str], dict]] = []
        self.replies = replies or {}

    def __call__(self, cmd, **kw):
        self.calls.append((list(cmd), kw))
        sub = next(a for a in cmd[1:] if not a.startswith("-") and "=" not in a)
        rc, out, err = self.replies.get(sub, (0, "", ""))
        if sub == "download" and rc == 0:
            name = cmd[-1].replace(":", "_").replace("=", "_")
            (Path(kw["cwd"]) / f"{name}.deb").write_bytes(b"!<arch>\n")
        return subprocess.CompletedProcess(cmd, rc, out, err)


@pytest.fixture
def keyring(tmp_path):
    k = tmp_path / "keyring.gpg"
    k.write_bytes(b"key")
    return str(k)


def lab_apt(tmp_path, keyring, fake, suites=("bookworm", "bookworm-security", "sid")):
    return LabApt(tmp_path / "cache", suites, runner=fake, keyring=keyring)


def test_configuration_lives_in_the_cache(tmp_path, keyring):
    apt = lab_apt(tmp_path, keyring, FakeApt())
    apt.ensure()
    conf = apt.conf_path.read_text()
    root = str(tmp_path / "cache" / "apt")
    for key in ("Dir::Etc ", "Dir::State ", "Dir::State::status", "Dir::Cache ", "Dir::Log "):
        (line,) = [ln for ln in conf.splitlines() if ln.startswith(key)]
        assert root in line, line
    assert "/etc/apt" not in conf and "/var/lib" not in conf and "/var/cache" not in conf
    src = apt.sources_path.read_text()
    assert f"URIs: {DEFAULT_MIRRORS['archive']}\nSuites: bookworm sid\n" in src
    assert f"URIs: {DEFAULT_MIRRORS['security']}\nSuites: bookworm-security\n" in src
    assert src.count(f"Signed-By: {keyring}") == 2 and "Components: main\n" in src
    assert (apt.root / "state" / "status").read_text() == ""


def test_every_call_uses_the_lab_config_and_its_architectures(tmp_path, keyring):
    madison = (
        "linux-image-cloud-arm64 |   7.2.13-1 | http://x/debian sid/main arm64 Packages\n"
        "linux-image-cloud-arm64 | 6.1.192-3 | http://x/debian-security "
        "bookworm-security/main arm64 Packages\n"
    )
    fake = FakeApt({"madison": (0, madison, "")})
    apt = lab_apt(tmp_path, keyring, fake)
    assert apt.update(log=lambda m: None)
    assert not apt.update(log=lambda m: None)  # fresh lists: no second fetch
    assert apt.madison("linux-image-cloud-arm64:arm64", "arm64") == [
        ("7.2.13-1", "sid"),
        ("6.1.192-3", "bookworm-security"),
    ]
    dest = tmp_path / "dl"
    dest.mkdir()
    deb = apt.download("busybox-static", "1:1.35", "arm64", dest)
    assert deb.parent == dest
    (update, _), (madison_cmd, _), (download, kw) = fake.calls
    assert update[:5] == [
        "apt-get",
        "-o",
        "APT::Architecture=amd64",
        "-o",
        "APT::Architectures=amd64,arm64",
    ]
    # the same architectures on every call (apt's binary cache stays valid); the guest's
    # architecture is in the package name
    assert madison_cmd[:5] == ["apt-cache", *update[1:5]]
    assert madison_cmd[-1] == "linux-image-cloud-arm64:arm64"
    assert download[-1] == "busybox-static:arm64=1:1.35" and kw["cwd"] == dest
    for cmd, kw in fake.calls:
        assert kw["env"]["APT_CONFIG"] == str(apt.conf_path)
        assert not any("/etc/apt" in a or a == "--add-architecture" for a in cmd)
        assert cmd[0] in ("apt-get", "apt-cache")


def test_mirror_from_the_lab_config_and_bad_lines(tmp_path, keyring):
    apt = lab_apt(tmp_path, keyring, FakeApt())
    apt.ensure()
    (apt.root / "mirrors").write_text("archive http://mirror.example/debian/\n")
    apt.ensure()
    src = apt.sources_path.read_text()
    assert "URIs: http://mirror.example/debian\n" in src
    assert f"URIs: {DEFAULT_MIRRORS['security']}\n" in src  # the default stays for the other
    (apt.root / "mirrors").write_text("archive\n")
    with pytest.raises(LabError, match=r"mirrors:1: expected 'archive URI'"):
        apt.ensure()


def test_update_failure_is_one_clear_error(tmp_path, keyring):
    fake = FakeApt({"update": (0, "", "E: Release file for http://x/sid/InRelease is expired\n")})
    apt = lab_apt(tmp_path, keyring, fake)
    with pytest.raises(LabError, match=r"apt-get update .* failed: E: Release file"):
        apt.update(log=lambda m: None)
    assert not apt.lists_fresh()
    fake = FakeApt({"download": (100, "", "E: Unable to locate package nope\n")})
    apt = lab_apt(tmp_path, keyring, fake)
    with pytest.raises(LabError, match=r"download -q nope:arm64=1.*Unable to locate"):
        apt.download("nope", "1", "arm64", tmp_path)


def test_missing_keyring_names_the_package(tmp_path):
    from mcstudy.lab.errors import LabNotReady

    apt = LabApt(tmp_path, ("sid",), runner=FakeApt(), keyring=str(tmp_path / "none.gpg"))
    with pytest.raises(LabNotReady, match="debian-archive-keyring"):
        apt.ensure()
