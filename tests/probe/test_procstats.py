"""Parsers of /proc and /sys files, on canned text from x86-64 and arm64 kernels."""

from __future__ import annotations

import pytest

from mcstudy.probe import procstats
from mcstudy.probe.errors import ProbeError

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
    irq = procstats.parse_interrupts(X86_INTERRUPTS)
    assert irq.cpus == (0, 1, 2, 3)
    assert irq.function_call == (77339, 28514, 300, 400)
    assert irq.tlb_shootdown == (41335, 10437, 30, 40)


def test_interrupts_arm64_has_no_tlb_row():
    irq = procstats.parse_interrupts(ARM64_INTERRUPTS)
    assert irq.cpus == (0, 1)
    assert irq.function_call == (300, 400)
    assert irq.tlb_shootdown == (0, 0)


def test_interrupts_cpu_ids_from_header():
    irq = procstats.parse_interrupts(HOLE_INTERRUPTS)
    assert irq.cpus == (0, 2)
    assert irq.function_call == (10, 20)


def test_interrupts_without_function_call_row_is_an_error():
    text = X86_INTERRUPTS.replace("Function call interrupts", "Something else")
    with pytest.raises(ProbeError, match="Function call interrupts"):
        procstats.parse_interrupts(text)


def test_meminfo_status_vmstat():
    meminfo = (
        "MemTotal:       24683656 kB\nMemAvailable:   24453448 kB\nPageTables:         2156 kB\n"
    )
    assert procstats.parse_kb_fields(meminfo)["PageTables"] == 2156
    status = "Name:\tpython3\nThreads:\t1\nVmPTE:\t      72 kB\n"
    fields = procstats.parse_kb_fields(status)
    assert fields["VmPTE"] == 72 and fields["Threads"] == 1
    vm = procstats.parse_vmstat("nr_page_table_pages 405\nthp_fault_alloc 1024\nbad line here\n")
    assert vm == {"nr_page_table_pages": 405, "thp_fault_alloc": 1024}


MAPS = """\
5566aa000000-5566aa021000 r--p 00000000 08:01 1234   /usr/bin/python3
10000000000-10020000000 rw-p 00000000 00:00 0
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
"""


def test_maps_and_gap_around():
    maps = procstats.parse_maps(MAPS)
    assert maps[0] == (0x10000000000, 0x10020000000)
    floor, ceiling = procstats.gap_around(maps, 0x10000000000, 0x10020000000)
    assert floor == 0 and ceiling == 0x5566AA000000
    floor, ceiling = procstats.gap_around(maps, 0x7F0000000000, 0x7F0000200000)
    assert floor == 0x5566AA021000 and ceiling is None


def test_free_slot_avoids_mappings_and_margin():
    g512 = 512 << 30
    maps = [(1 << 40, (1 << 40) + 4096)]
    slot = procstats.free_slot(maps, g512, 1 << 40, 1 << 47, margin=g512)
    # the slot holding the mapping and its neighbour above are skipped
    assert slot == (1 << 40) + 2 * g512
    assert procstats.free_slot([(0, 1 << 47)], g512, 1 << 40, 1 << 47, margin=0) is None


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
    assert procstats.parse_smaps_vma(SMAPS, 0x10000000000)["AnonHugePages"] == 522240
    assert procstats.parse_smaps_vma(SMAPS, 0x7F0000000000)["AnonHugePages"] == 0
    with pytest.raises(ProbeError, match="no VMA"):
        procstats.parse_smaps_vma(SMAPS, 0x1234000)


def test_small_parsers():
    assert procstats.parse_cpu_list("0-3,6,8-9\n") == [0, 1, 2, 3, 6, 8, 9]
    assert procstats.parse_cpu_list("0") == [0]
    assert procstats.parse_sysfs_choice("always [madvise] never") == "madvise"
    assert procstats.parse_sysfs_choice("always inherit madvise [never]") == "never"
    zoneinfo = (
        "Node 0, zone    DMA\n  pages free 3840\n        min      44\n        high     66\n" * 2
    )
    assert procstats.parse_zone_high_pages(zoneinfo) == 132
    cfg = procstats.parse_kconfig('CONFIG_PT_RECLAIM=y\n# CONFIG_XEN is not set\nCONFIG_X="a"\n')
    assert cfg == {"CONFIG_PT_RECLAIM": "y", "CONFIG_XEN": "n", "CONFIG_X": "a"}
