"""The console protocol: framed, compressed artefacts among kernel messages."""

from __future__ import annotations

import base64
import gzip

import pytest

from mcstudy.lab.console import parse_console
from mcstudy.lab.errors import LabError


def block(name: str, text: str, width: int = 76) -> list[str]:
    b64 = base64.b64encode(gzip.compress(text.encode())).decode()
    return [
        f"@@begin {name}",
        *[b64[i : i + width] for i in range(0, len(b64), width)],
        f"@@end {name}",
    ]


def test_levels_global_artefacts_and_interleaved_kernel_messages():
    lines = [
        "[    0.000000] Booting Linux",
        *block("facts", "release 6.1.0\n"),
        "@@level 0",
        *block("ptwork", "a" * 500 + "\n"),
        "@@level 350",
    ]
    inner = block("trace", "line 1\nline 2\n" * 200, width=20)
    inner.insert(3, "[   12.5] zram: some kernel message")  # lands inside the block
    lines += inner
    lines += ["@@global", *block("vmstat", "oom_kill 0\n"), "@@done"]
    con = parse_console("\r\n".join(lines) + "\r\n")
    assert con.done and con.error is None
    assert con.files == {"facts": "release 6.1.0\n", "vmstat": "oom_kill 0\n"}
    assert [lv.mib for lv in con.levels] == [0, 350]
    assert con.levels[0].files["ptwork"] == "a" * 500 + "\n"
    assert con.levels[1].files["trace"] == "line 1\nline 2\n" * 200


def test_error_marker_is_reported():
    con = parse_console("@@error insmod zram: bad\n")
    assert con.error == "insmod zram: bad" and not con.done


def test_a_cut_off_or_damaged_artefact_is_an_error():
    lines = block("trace", "x" * 1000)
    with pytest.raises(LabError, match="cut off"):
        parse_console("\n".join(lines[:-1]))
    damaged = lines[:]
    mid = len(damaged[1]) // 2
    flip = "B" if damaged[1][mid] != "B" else "C"
    damaged[1] = damaged[1][:mid] + flip + damaged[1][mid + 1 :]
    with pytest.raises(LabError, match="damaged"):
        parse_console("\n".join(damaged))
    with pytest.raises(LabError, match="level marker"):
        parse_console("@@level many\n")
