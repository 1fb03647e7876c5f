"""Parsers of /proc and /sys files, on canned text from x86-64 and arm64 kernels."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcstudy.kernel import procfs
from mcstudy.kernel.procfs import ProcFormatError
from mcstudy.probe import layout, procstats

X86_INTERRUPTS = """\
           CPU0       CPU1       CPU2       CPU3
  0:         35          0          0          0  IO-APIC   2-edge      timer
NMI:          0          0          0          0   Non-maskable interrupts
LOC:      44521      62782      11111      22222   Local timer interrupts
RES:       6426       4531         10         20   Rescheduling interrupts
CAL:      77339      28514        300        400   Function call interrupts
TLB:      41335      10437         30         40   TLB shootdowns
ERR:          0
MIS:          0
"""

ARM64_INTERRUPTS = """\
           CPU0       CPU1
 11:      12345      23456     GICv3  27 Level     arch_timer
IPI0:       100        200       Rescheduling interrupts
IPI1:       300        400       Function call interrupts
IPI2:         0          0       CPU stop interrupts
Err:          0
"""

# CPU1 offline: /proc/interrupts lists only online CPUs, by id
HOLE_INTERRUPTS = """\
           CPU0       CPU2
CAL:         10         20   Function call interrupts
TLB:          1          2   TLB shootdowns
"""


def test_interrupts_x86_rows_per_cpu():
    irq = procfs.parse_interrupts(X86_INTERRUPTS)
    assert irq.cpus == (0, 1, 2, 3)
    assert irq.function_call == (77339, 28514, 300, 400)
    assert irq.tlb_shootdown == (41335, 10437, 30, 40)


def test_interrupts_arm64_has_no_tlb_row():
    irq = procfs.parse_interrupts(ARM64_INTERRUPTS)
    assert irq.cpus == (0, 1)
    assert irq.function_call == (300, 400)
    assert irq.tlb_shootdown == (0, 0)


def test_interrupts_cpu_ids_from_header():
    irq = procfs.parse_interrupts(HOLE_INTERRUPTS)
    assert irq.cpus == (0, 2)
    assert irq.function_call == (10, 20)


def test_interrupts_without_function_call_row_is_an_error():
    text = X86_INTERRUPTS.replace("Function call interrupts", "Something else")
    with pytest.raises(ProcFormatError, match="Function call interrupts"):
        procfs.parse_interrupts(text)


def test_meminfo_status_vmstat():
    meminfo = (
        "MemTotal:       24683656 kB\nMemAvailable:   24453448 kB\nPageTables:         2156 kB\n"
    )
    assert procfs.parse_kb_fields(meminfo)["PageTables"] == 2156
    status = "Name:\tpython3\nThreads:\t1\nVmPTE:\t      72 kB\n"
    fields = procfs.parse_kb_fields(status)
    assert fields["VmPTE"] == 72 and fields["Threads"] == 1
    vm = procfs.parse_vmstat("nr_page_table_pages 405\nthp_fault_alloc 1024\npgfree 7\n")
    assert vm == {"nr_page_table_pages": 405, "thp_fault_alloc": 1024, "pgfree": 7}
    with pytest.raises(ProcFormatError, match=r"^/proc/vmstat:3: .*'bad line here'"):
        procfs.parse_vmstat("nr_page_table_pages 405\nthp_fault_alloc 1024\nbad line here\n")


MAPS = """\
5566aa000000-5566aa021000 r--p 00000000 08:01 1234   /usr/bin/python3
10000000000-10020000000 rw-p 00000000 00:00 0
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
"""


def test_maps_and_gap_around():
    maps = procfs.parse_maps(MAPS)
    assert maps[0] == (0x10000000000, 0x10020000000)
    floor, ceiling = layout.gap_around(maps, 0x10000000000, 0x10020000000)
    assert floor == 0 and ceiling == 0x5566AA000000
    floor, ceiling = layout.gap_around(maps, 0x7F0000000000, 0x7F0000200000)
    assert floor == 0x5566AA021000 and ceiling is None


def test_free_slot_avoids_mappings_and_margin():
    g512 = 512 << 30
    maps = [(1 << 40, (1 << 40) + 4096)]
    slot = layout.free_slot(maps, g512, 1 << 40, 1 << 47, margin=g512)
    # the slot holding the mapping and its neighbour above are skipped
    assert slot == (1 << 40) + 2 * g512
    assert layout.free_slot([(0, 1 << 47)], g512, 1 << 40, 1 << 47, margin=0) is None


SMAPS = """\
10000000000-10020000000 rw-p 00000000 00:00 0
Size:             524288 kB
AnonHugePages:    522240 kB
THPeligible:    1
VmFlags: rd wr mr mw me ac hg
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
Size:               2048 kB
AnonHugePages:         0 kB
"""


def test_smaps_fields_of_one_vma():
    assert procfs.parse_smaps_vma(SMAPS, 0x10000000000)["AnonHugePages"] == 522240
    assert procfs.parse_smaps_vma(SMAPS, 0x7F0000000000)["AnonHugePages"] == 0
    with pytest.raises(ProcFormatError, match="no VMA"):
        procfs.parse_smaps_vma(SMAPS, 0x1234000)


def test_small_parsers():
    assert procfs.parse_cpu_list("0-3,6,8-9\n") == [0, 1, 2, 3, 6, 8, 9]
    assert procfs.parse_cpu_list("0") == [0]
    assert procfs.parse_sysfs_choice("always [madvise] never") == "madvise"
    assert procfs.parse_sysfs_choice("always inherit madvise [never]") == "never"
    zoneinfo = "".join(
        f"Node 0, zone {zone}\n  pages free 3840\n        min      44\n        low      55\n"
        "        high     66\n        present  4000\n"
        for zone in ("DMA", "Normal")
    )
    assert procfs.parse_zone_high_pages(zoneinfo) == 132
    cfg = procfs.parse_kconfig('CONFIG_PT_RECLAIM=y\n# CONFIG_XEN is not set\nCONFIG_X="a"\n')
    assert cfg == {"CONFIG_PT_RECLAIM": "y", "CONFIG_XEN": "n", "CONFIG_X": "a"}


# ----------------------------------------------------------------- live reads


@pytest.mark.live
@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="needs a Linux /proc")
def test_live_reads_of_this_process_and_machine():
    irq = procstats.read_interrupts()
    assert len(irq.cpus) == len(irq.function_call) >= 1
    assert procstats.read_vmstat()["pgfree"] > 0
    assert procstats.read_meminfo()["MemTotal"] > 0
    assert procstats.read_vmpte_kb() > 0 and procstats.read_threads() >= 1
    maps = procstats.read_maps()
    assert maps == sorted(maps) and all(s < e for s, e in maps)
    assert procstats.read_anon_huge_kb(maps[0][0]) >= 0
    with pytest.raises(ProcFormatError, match=r"^/proc/self/smaps:\d+: no VMA starts at 0x1000"):
        procstats.read_anon_huge_kb(0x1000)
    assert procstats.read_khugepaged_collapsed() >= 0


def test_khugepaged_counter_missing_or_malformed(tmp_path, monkeypatch):
    monkeypatch.setattr(procstats, "THP_DIR", tmp_path)
    assert procstats.read_khugepaged_collapsed() == 0  # no THP: no file
    (tmp_path / "khugepaged").mkdir()
    (tmp_path / "khugepaged" / "pages_collapsed").write_text("12\n")
    assert procstats.read_khugepaged_collapsed() == 12
    (tmp_path / "khugepaged" / "pages_collapsed").write_text("twelve\n")
    with pytest.raises(ProcFormatError, match=r"pages_collapsed:1: expected one integer"):
        procstats.read_khugepaged_collapsed()
