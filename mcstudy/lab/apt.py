"""The lab's own apt configuration, kept in its cache: the system's apt is never touched.

The lab finds and downloads guest kernels and busybox from Debian's suites (bookworm for
Linux 6.1, trixie for 6.12, sid for 7.x: :mod:`mcstudy.lab.kernels`). It does so through
an apt configuration of its own under ``<cache>/apt``:

* ``mirrors``: the archive URIs, one ``NAME URI`` per line (``archive`` for the suites,
  ``security`` for the ``*-security`` suites). Written with Debian's public archive URIs
  on first use; edit it to use another mirror of Debian's archive;
* ``etc/sources.list.d/mcstudy-lab.sources``: the suites the lab needs, ``main`` only,
  signed by Debian's archive keyring (:data:`KEYRING`); regenerated from ``mirrors``;
* ``apt.conf`` (passed as ``APT_CONFIG``): every ``Dir::`` setting points into the cache
  (its own state, lists, status file, package cache and archives), so apt reads none of
  the system's sources, preferences, keyrings or configuration fragments, and writes
  nothing outside the cache.

Architectures are given per call (``-o APT::Architecture=... -o APT::Architectures=...``):
no ``dpkg --add-architecture`` is needed. Nothing here needs root: ``apt-get update`` and
``apt-get download`` write only below the cache. Release files are checked against the
keyring; their ``Valid-Until`` date is not (``Check-Valid-Until: no``), so a mirror that
serves a dated snapshot of the archive stays usable.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcstudy.lab.errors import LabError, LabNotReady
from mcstudy.storage.atomic import atomic_write_text

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
"""Debian's archive keyring (package ``debian-archive-keyring``)."""
DEFAULT_MIRRORS = {
    "archive": "http://deb.debian.org/debian",
    "security": "http://deb.debian.org/debian-security",
}
"""Debian's public archive URIs (the ones a Debian system's own sources use)."""
LAB_ARCHES = ("amd64", "arm64")
"""Architectures whose package lists the lab keeps (one ``apt-get update`` for all)."""
LISTS_MAX_AGE_S = 86400.0
"""Package lists older than this are refreshed before a kernel is resolved."""
APT_TIMEOUT_S = 900.0

Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class AptResult:
    returncode: int
    stdout: str
    stderr: str


class LabApt:
    """apt-get / apt-cache through the lab's configuration under ``<cache>/apt``.

    ``suites``: the suites of the sources list (the ``*-security`` ones are fetched from
    the ``security`` mirror). ``runner``: ``subprocess.run`` or a stand-in (tests).
    """

    def __init__(
        self,
        cache: Path,
        suites: Sequence[str],
        arches: Sequence[str] = LAB_ARCHES,
        runner: Runner = subprocess.run,
        keyring: str = KEYRING,
    ) -> None:
        self.root = Path(cache) / "apt"
        self.suites = tuple(suites)
        self.arches = tuple(arches)
        self.runner = runner
        self.keyring = keyring

    # ------------------------------------------------------------------ configuration
    @property
    def conf_path(self) -> Path:
        return self.root / "apt.conf"

    @property
    def sources_path(self) -> Path:
        return self.root / "etc" / "sources.list.d" / "mcstudy-lab.sources"

    @property
    def lists_dir(self) -> Path:
        return self.root / "state" / "lists"

    @property
    def archives_dir(self) -> Path:
        return self.root / "cache" / "archives"

    def mirrors(self) -> dict[str, str]:
        """The URIs of ``<cache>/apt/mirrors`` (written with the defaults if absent)."""
        path = self.root / "mirrors"
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write_text(
                path,
                "# mcstudy lab: Debian archive URIs (NAME URI); edit to use another mirror\n"
                + "".join(f"{k} {v}\n" for k, v in DEFAULT_MIRRORS.items()),
            )
        out = dict(DEFAULT_MIRRORS)
        for no, line in enumerate(path.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or parts[0] not in DEFAULT_MIRRORS or "://" not in parts[1]:
                raise LabError(
                    f"{path}:{no}: expected 'archive URI' or 'security URI', got {line!r}"
                )
            out[parts[0]] = parts[1].rstrip("/")
        return out

    def sources_text(self) -> str:
        """The deb822 sources list of the lab's suites."""
        m = self.mirrors()
        main = [s for s in self.suites if not s.endswith("-security")]
        sec = [s for s in self.suites if s.endswith("-security")]
        stanzas = []
        for uri, suites in ((m["archive"], main), (m["security"], sec)):
            if suites:
                stanzas.append(
                    "Types: deb\n"
                    f"URIs: {uri}\n"
                    f"Suites: {' '.join(suites)}\n"
                    "Components: main\n"
                    f"Signed-By: {self.keyring}\n"
                    "Check-Valid-Until: no\n"
                )
        return "# written by mcstudy lab (mcstudy.lab.apt); edit <cache>/apt/mirrors\n" + (
            "\n".join(stanzas)
        )

    def conf_text(self) -> str:
        """``apt.conf``: every directory apt reads or writes, inside the cache."""
        r = self.root
        lines = [
            f'Dir::Etc "{r / "etc"}";',
            'Dir::Etc::main "/dev/null";',
            'Dir::Etc::sourcelist "/dev/null";',
            'Dir::Etc::sourceparts "sources.list.d";',
            'Dir::Etc::parts "apt.conf.d";',
            'Dir::Etc::preferences "/dev/null";',
            'Dir::Etc::preferencesparts "preferences.d";',
            'Dir::Etc::trusted "/dev/null";',
            'Dir::Etc::trustedparts "trusted.gpg.d";',
            f'Dir::State "{r / "state"}";',
            'Dir::State::lists "lists";',
            f'Dir::State::status "{r / "state" / "status"}";',
            'Dir::State::extended_states "extended_states";',
            f'Dir::Cache "{r / "cache"}";',
            'Dir::Cache::archives "archives";',
            'Dir::Cache::pkgcache "pkgcache.bin";',
            'Dir::Cache::srcpkgcache "";',
            f'Dir::Log "{r / "log"}";',
            'Acquire::Languages "none";',
            'Acquire::GzipIndexes "true";',
        ]
        return "// written by mcstudy lab (mcstudy.lab.apt)\n" + "\n".join(lines) + "\n"

    def ensure(self) -> None:
        """Write the configuration and make its directories (idempotent, atomic writes)."""
        for d in (
            self.root / "etc" / "sources.list.d",
            self.root / "etc" / "apt.conf.d",
            self.root / "etc" / "preferences.d",
            self.root / "etc" / "trusted.gpg.d",
            self.lists_dir / "partial",
            self.archives_dir / "partial",
            self.root / "log",
        ):
            d.mkdir(parents=True, exist_ok=True)
        if not Path(self.keyring).is_file():
            raise LabNotReady(
                f"Debian's archive keyring {self.keyring} is missing (package "
                "debian-archive-keyring)"
            )
        status = self.root / "state" / "status"
        if not status.exists():
            atomic_write_text(status, "")
        for path, text in (
            (self.conf_path, self.conf_text()),
            (self.sources_path, self.sources_text()),
        ):
            if not path.exists() or path.read_text() != text:
                atomic_write_text(path, text)

    # ------------------------------------------------------------------ calls
    def command(self, tool: str, args: Sequence[str], arch: str | None = None) -> list[str]:
        """The command line of one call. Every call names all of :attr:`arches` (the same
        value each time, so apt's binary cache of the lists stays valid between calls);
        ``arch`` is the guest architecture a query is about, which the package names
        carry (``PKG:ARCH``)."""
        del arch
        return [
            tool,
            "-o",
            f"APT::Architecture={self.arches[0]}",
            "-o",
            f"APT::Architectures={','.join(self.arches)}",
            *args,
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("APT_")}
        return {**env, "APT_CONFIG": str(self.conf_path), "LC_ALL": "C"}

    def call(
        self,
        tool: str,
        args: Sequence[str],
        arch: str | None = None,
        cwd: Path | None = None,
        check: bool = True,
    ) -> AptResult:
        """Run one apt call; LabError (naming the call and apt's last line) if it fails."""
        self.ensure()
        cmd = self.command(tool, args, arch)
        what = " ".join([tool, *args])
        try:
            proc = self.runner(
                cmd,
                cwd=cwd,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=APT_TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError:
            raise LabNotReady(f"{what}: {tool} is not installed") from None
        except subprocess.TimeoutExpired:
            raise LabError(f"{what}: did not finish within {APT_TIMEOUT_S:.0f} s") from None
        res = AptResult(proc.returncode, proc.stdout or "", proc.stderr or "")
        if check and res.returncode != 0:
            lines = [ln for ln in (res.stderr or res.stdout).strip().splitlines() if ln]
            raise LabError(
                f"{what} (the lab's apt configuration) failed (exit status "
                f"{res.returncode}): {lines[-1] if lines else ''}"
            )
        return res

    def _stamp(self) -> Path:
        return self.root / "state" / "updated"

    def _digest(self) -> str:
        return hashlib.sha256((self.sources_text() + ",".join(self.arches)).encode()).hexdigest()

    def lists_fresh(self, max_age_s: float = LISTS_MAX_AGE_S) -> bool:
        """Whether the lists were fetched for the current sources less than ``max_age_s`` ago."""
        stamp = self._stamp()
        try:
            text = stamp.read_text().strip()
            age = time.time() - stamp.stat().st_mtime
        except OSError:
            return False
        return text == self._digest() and age < max_age_s

    def update(self, force: bool = False, log: Callable[[str], None] = print) -> bool:
        """``apt-get update`` of the lab's lists unless they are fresh; True if it ran.

        apt reports a list it could not fetch or verify on stderr (``W:``/``E:`` lines)
        with exit status 0 or 100; either is an error naming apt's message."""
        self.ensure()
        if not force and self.lists_fresh():
            return False
        log(f"lab apt: apt-get update ({' '.join(self.suites)}; {', '.join(self.arches)})")
        res = self.call("apt-get", ["update", "-q"], check=False)
        bad = [
            ln
            for ln in res.stderr.splitlines()
            if ln.startswith("E:") or (ln.startswith("W:") and "sandbox" not in ln.lower())
        ]
        if res.returncode != 0 or bad:
            raise LabError(
                "apt-get update (the lab's apt configuration) failed: "
                + (bad[0] if bad else f"exit status {res.returncode}")
            )
        atomic_write_text(self._stamp(), self._digest() + "\n")
        return True

    def show(self, pkg: str, arch: str) -> str:
        """``apt-cache show PKG`` ('' if apt knows no such package)."""
        res = self.call("apt-cache", ["show", pkg], arch, check=False)
        return res.stdout if res.returncode == 0 else ""

    def madison(self, pkg: str, arch: str) -> list[tuple[str, str]]:
        """(version, suite) of every version of ``pkg`` in the lab's lists."""
        res = self.call("apt-cache", ["madison", pkg], arch, check=False)
        out = []
        for line in res.stdout.splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 3 and parts[0].split(":")[0] == pkg.split(":")[0]:
                words = parts[2].split()
                dist = next((w for w in words if "/" in w and "://" not in w), "")
                out.append((parts[1], dist.split("/")[0]))
        return out

    def download(self, pkg: str, version: str, arch: str, dest: Path) -> Path:
        """``apt-get download PKG:ARCH=VERSION`` into ``dest``; the ``.deb`` it wrote."""
        before = set(dest.glob("*.deb"))
        self.call("apt-get", ["download", "-q", f"{pkg}:{arch}={version}"], arch, cwd=dest)
        new = sorted(set(dest.glob("*.deb")) - before)
        if len(new) != 1:
            raise LabError(
                f"apt-get download {pkg}:{arch}={version} left {len(new)} new .deb files"
            )
        return new[0]
