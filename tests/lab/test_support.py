"""What each kernel offers the rows (mcstudy.lab.support), and ``labwork btf``.

The analysis runs on the recorded 6.1 arm64 console with the ``support`` artefact the
guest's init prints, as a 6.12/7.2 kernel (``get_free_pages_noprof``, layouts from BTF)
and as kernels lacking BTF or the sync callback would print it: every row stays, and the
rows the kernel cannot measure say why instead of a number."""

from __future__ import annotations

import math
import struct
import subprocess
from dataclasses import replace

import pytest

from mcstudy.lab.arch import get_arch
from mcstudy.lab.console import Console
from mcstudy.lab.dataset import build_lab_dataset
from mcstudy.lab.experiment import analyse
from mcstudy.lab.guestrun import kernel_cmdline
from mcstudy.lab.support import LEGACY, parse_support
from mcstudy.lab.table import render_lab_table

SUPPORT_7X = """btf yes
field mmu_gather.batch 8
field mmu_table_batch.nr 16
role gather tlb_gather_mmu
role finish tlb_finish_mmu
role table tlb_remove_table
role gfp get_free_pages_noprof
role wmark __zone_watermark_ok
role smp_call smp_call_function
role sync_callback tlb_remove_table_smp_sync
role call_rcu call_rcu
role rcu_callback __tlb_remove_table_one_rcu
role sync_rcu tlb_remove_table_sync_rcu
symbol tlb_remove_table_one no
symbol tlb_remove_table_sync_rcu yes
symbol __tlb_remove_table_one_rcu yes
symbol __get_free_pages no
symbol get_free_pages_noprof yes
"""


def with_support(console: Console, text: str) -> Console:
    return replace(console, files={**console.files, "support": text})


def run(arm64_run, text):
    console, req, prep = arm64_run
    spec = get_arch("arm64")
    return analyse(with_support(console, text), req, spec, prep, kernel_cmdline(req, spec), 60.0)


def test_parse_support_and_the_legacy_default():
    s = parse_support(SUPPORT_7X)
    assert s.btf and s.offset("mmu_gather.batch") == 8 and s.roles["gfp"] == "get_free_pages_noprof"
    assert s.symbols["tlb_remove_table_sync_rcu"] and not s.symbols["tlb_remove_table_one"]
    assert parse_support(None) is LEGACY and not LEGACY.recorded


def test_a_kernel_with_everything_measures_every_row(arm64_run):
    res = run(arm64_run, SUPPORT_7X)
    assert all(not r.not_measurable for r in res.rows)
    assert all(math.isfinite(r.measured) for r in res.rows if r.scope != "law")


def test_no_btf_makes_the_layout_rows_not_measurable(arm64_run, tmp_path):
    text = SUPPORT_7X.replace("btf yes", "btf no").replace(" 8\n", " -\n").replace(" 16\n", " -\n")
    res = run(arm64_run, text)
    by = {(r.phase, r.quantity): r for r in res.rows}
    t = by[("munmap", "tables_per_gather")]
    assert math.isnan(t.measured) and not t.agrees
    assert "no struct mmu_gather.batch" in t.not_measurable and "no BTF" in t.not_measurable
    assert by[("fallback", "fallbacks_observed")].not_measurable
    assert all(r.not_measurable for r in res.rows if r.scope == "law")
    # what needs no layout is still measured
    calls = by[("munmap", "tlb_remove_table_per_gather")]
    assert not calls.not_measurable and calls.measured == 66.0
    assert not by[("zone 350 MiB", "stalls_per_s")].not_measurable
    ds = build_lab_dataset(res, {})
    nm = [str(x) for x in ds.not_measurable.values]
    assert sum(1 for x in nm if x) == sum(1 for r in res.rows if r.not_measurable) > 0
    text = render_lab_table(ds)
    assert "not measurable on this kernel: munmap page tables freed per gather: no struct" in text
    assert (
        "not measurable"
        in text.splitlines()[
            text.splitlines().index(
                next(
                    ln
                    for ln in text.splitlines()
                    if ln.startswith("munmap") and "freed per gather" in ln
                )
            )
        ]
    )


def test_no_sync_callback_makes_the_round_rows_not_measurable(arm64_run):
    text = SUPPORT_7X.replace(
        "role sync_callback tlb_remove_table_smp_sync", "role sync_callback -"
    )
    res = run(arm64_run, text)
    by = {(r.phase, r.quantity): r for r in res.rows}
    assert "tlb_remove_table_smp_sync" in by[("fallback", "sync_ipis_per_fallback")].not_measurable
    # fallbacks are still counted: on the call_rcu() path the kernel also offers
    assert not by[("fallback", "fallbacks_observed")].not_measurable
    assert not by[("fallback", "fail_rule")].not_measurable


# ------------------------------------------------------------------ labwork btf


def _btf() -> bytes:
    """A tiny BTF blob: int, a pointer, struct mmu_table_batch {rcu_head-sized array; nr},
    struct mmu_gather {mm; batch; a bitfield}."""
    strings = b"\x00int\x00mmu_table_batch\x00rcu\x00nr\x00mmu_gather\x00mm\x00batch\x00flags\x00"

    def off(name: bytes) -> int:
        return strings.index(b"\x00" + name + b"\x00") + 1

    types = b""
    # 1: INT "int" size 4 (+4 bytes of encoding)
    types += struct.pack("<III", off(b"int"), 1 << 24, 4) + struct.pack("<I", 32)
    # 2: PTR -> 1
    types += struct.pack("<III", 0, 2 << 24, 1)
    # 3: ARRAY of 4 int (+12)
    types += struct.pack("<III", 0, 3 << 24, 0) + struct.pack("<III", 1, 1, 4)
    # 4: STRUCT mmu_table_batch, 2 members: rcu (bits 0), nr (bits 128)
    types += struct.pack("<III", off(b"mmu_table_batch"), (4 << 24) | 2, 24)
    types += struct.pack("<III", off(b"rcu"), 3, 0) + struct.pack("<III", off(b"nr"), 1, 128)
    # 5: STRUCT mmu_gather (kind_flag: bitfield offsets), mm @0, batch @64, flags:1 @128
    types += struct.pack("<III", off(b"mmu_gather"), (1 << 31) | (4 << 24) | 3, 24)
    types += struct.pack("<III", off(b"mm"), 2, 0) + struct.pack("<III", off(b"batch"), 2, 64)
    types += struct.pack("<III", off(b"flags"), 1, (1 << 24) | 128)
    hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


@pytest.fixture(scope="module")
def labwork(tmp_path_factory):
    from tests.lab.test_labwork import labwork as build  # the same build as its tests

    return build.__wrapped__(tmp_path_factory)  # type: ignore[attr-defined]


def test_labwork_reads_member_offsets_from_btf(labwork, tmp_path):
    blob = tmp_path / "vmlinux"
    blob.write_bytes(_btf())
    out = subprocess.run(
        [
            str(labwork),
            "btf",
            str(blob),
            "mmu_gather.batch",
            "mmu_table_batch.nr",
            "mmu_gather.flags",
            "mmu_gather.nope",
            "nosuch.x",
            "mmu_gather.mm",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.splitlines() == [
        "mmu_gather.batch 8",
        "mmu_table_batch.nr 16",
        "mmu_gather.flags -",  # a bitfield has no byte offset
        "mmu_gather.nope -",
        "nosuch.x -",
        "mmu_gather.mm 0",
    ]
    blob.write_bytes(b"\x00" * 64)
    bad = subprocess.run([str(labwork), "btf", str(blob), "a.b"], capture_output=True, text=True)
    assert bad.returncode == 2 and "is not BTF" in bad.stderr


def test_recorded_6_12_arm64_run(tmp_path):
    """A real run on Debian's 6.12.118 arm64 cloud kernel (40 gathers, no churn): the guest
    found get_free_pages_noprof() (no __get_free_pages, no tlb_remove_table_one) and read
    the layout from BTF; every row is measured and agrees."""
    import gzip

    from mcstudy.lab.console import parse_console
    from mcstudy.lab.guestrun import LabRequest
    from tests.lab.conftest import LAB, recorded

    _, _, prep = recorded("arm64", tmp_path)
    prep = replace(prep, kernel_package="linux-image-6.12.118+deb13-cloud-arm64-unsigned")
    console = parse_console(
        gzip.decompress((LAB / "console-arm64-6.12-0.txt.gz").read_bytes()).decode()
    )
    req = LabRequest(arch="arm64", gathers=40, levels=(0,), blocks=2)
    spec = get_arch("arm64")
    res = analyse(console, req, spec, prep, kernel_cmdline(req, spec), 94.0)
    assert res.facts["release"] == "6.12.118+deb13-cloud-arm64"
    s = res.support
    assert s.recorded and s.btf and s.roles["gfp"] == "get_free_pages_noprof"
    assert (s.offset("mmu_gather.batch"), s.offset("mmu_table_batch.nr")) == (8, 16)
    assert not s.symbols["tlb_remove_table_one"] and s.symbols["tlb_remove_table_sync_one"]
    assert all(not r.not_measurable and r.agrees for r in res.rows)
    by = {(r.phase, r.quantity): r.measured for r in res.rows}
    assert by[("munmap", "tables_per_gather")] == 66.0
    assert by[("fallback", "fail_rule")] == 1.0  # every attempt's outcome was seen


def test_a_role_printed_under_an_earlier_name_is_found_by_its_function():
    """The 7.2 console recorded in tests/data/lab names the call_rcu() callback's role
    differently from today's init; the function it found identifies the role."""
    s = parse_support("role rcu_freeing __tlb_remove_table_one_rcu\nrole other -\n")
    assert s.has("rcu_callback") and s.roles["rcu_callback"] == "__tlb_remove_table_one_rcu"
    assert s.roles["other"] is None
