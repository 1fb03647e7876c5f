"""Boot the guest in QEMU (software emulation), wait for it to power off, return its console.

The emulator runs with no network, no display and no disk: the kernel and the initramfs
are its only inputs and the serial console (written to a file) its only output.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mcstudy.lab.arch import ArchSpec
from mcstudy.lab.errors import LabError


def qemu_command(
    spec: ArchSpec,
    kernel: str | Path,
    initrd: str | Path,
    cmdline: str,
    console_log: str | Path,
    memory_mib: int,
    cpus: int,
) -> list[str]:
    """The emulator's command line (no network, no display, console into a file)."""
    return [
        spec.qemu,
        *spec.qemu_args,
        "-smp",
        str(cpus),
        "-m",
        str(memory_mib),
        "-display",
        "none",
        "-monitor",
        "none",
        "-nic",
        "none",
        "-no-reboot",
        "-serial",
        f"file:{console_log}",
        "-kernel",
        str(kernel),
        "-initrd",
        str(initrd),
        "-append",
        cmdline,
    ]


def boot(
    cmd: list[str],
    console_log: Path,
    timeout_s: float,
    on_line: Callable[[str], None] | None = None,
) -> tuple[str, float]:
    """Run the guest to its power-off; (console text, wall seconds).

    ``on_line`` sees every console line starting with ``@@`` as it appears (progress).
    LabError if the emulator fails or the guest is still running after ``timeout_s``.
    """
    t0 = time.monotonic()
    console_log.write_text("")
    try:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
    except FileNotFoundError:
        raise LabError(f"{cmd[0]} is not installed") from None
    seen = 0
    try:
        while proc.poll() is None:
            if time.monotonic() - t0 > timeout_s:
                proc.kill()
                proc.wait()
                raise LabError(
                    f"the guest did not finish within {timeout_s:.0f} s (console: {console_log})"
                )
            time.sleep(0.5)
            seen = _report(console_log, seen, on_line)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    _report(console_log, seen, on_line)
    text = console_log.read_text(errors="replace")
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    if proc.returncode != 0:
        last = out.strip().splitlines()[-1] if out.strip() else "no message"
        raise LabError(f"{cmd[0]} failed (exit status {proc.returncode}): {last}")
    return text, time.monotonic() - t0


def _report(log: Path, seen: int, on_line: Callable[[str], None] | None) -> int:
    if on_line is None:
        return seen
    try:
        with open(log, "rb") as fh:
            fh.seek(seen)
            chunk = fh.read()
    except OSError:
        return seen
    end = chunk.rfind(b"\n") + 1
    for line in chunk[:end].decode(errors="replace").splitlines():
        if line.startswith("@@") and not line.startswith(("@@begin", "@@end")):
            on_line(line.strip())
    return seen + end
