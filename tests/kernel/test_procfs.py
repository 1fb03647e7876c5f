"""The /proc and /sys parsers: old and new formats, real files, and errors naming file and line."""

from __future__ import annotations

import ast
import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mcstudy.kernel import procfs
from mcstudy.kernel.procfs import ProcFormatError, parse_vmstat, parse_zoneinfo, vmstat_sum
from tests.paths import PROC, REPO

DATA = PROC

# /proc/zoneinfo of a v4.4 kernel (no per-node stats, boost, promo or cma lines;
# protection after the counters; "scanned"; old pageset layout)
OLD_ZONEINFO = """\
Node 0, zone      DMA
  pages free     3977
        min      33
        low      41
        high     49
        scanned  0
        spanned  4095
        present  3998
        managed  3977
    nr_free_pages 3977
    nr_alloc_batch 8
    nr_inactive_anon 0
        protection: (0, 2939, 7906, 7906)
  pagesets
    cpu: 0
              count: 0
              high:  0
              batch: 1
  vm stats threshold: 6
  all_unreclaimable: 1
  start_pfn:         1
  inactive_ratio:    1
Node 0, zone   Normal
  pages free     120334
        min      5649
        low      7061
        high     8473
        scanned  0
        spanned  1294336
        present  1294336
        managed  1271542
    nr_free_pages 120334
        protection: (0, 0, 0, 0)
  pagesets
    cpu: 0
              count: 150
              high:  186
              batch: 31
  vm stats threshold: 36
  all_unreclaimable: 0
  start_pfn:         1048576
  inactive_ratio:    7
"""

# /proc/zoneinfo of a v2.6.32 kernel: no managed line
ANCIENT_ZONEINFO = """\
Node 0, zone   Normal
  pages free     1000
        min      100
        low      125
        high     150
        scanned  0
        spanned  20000
        present  19000
    nr_free_pages 1000
        protection: (0, 0, 0)
  pagesets
    cpu: 0
              count: 10
              high:  186
              batch: 31
  all_unreclaimable: 0
  prev_priority:     12
  start_pfn:         1048576
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_zoneinfo():
    zones = parse_zoneinfo(DATA / "zoneinfo")
    assert [z.name for z in zones] == ["DMA", "DMA32", "Normal", "Movable", "Device"]
    n = zones[2]
    assert (n.node, n.managed, n.min, n.low, n.high, n.boost, n.promo) == (
        0, 5394266, 14769, 20163, 25557, 0, 30951,
    )  # fmt: skip
    assert n.protection == [0, 0, 0, 0, 0]
    assert zones[0].protection == [0, 3018, 24090, 24090, 24090]
    assert zones[0].counters["nr_inactive_anon"] > 0  # per-node stats kept as counters


def test_old_format(tmp_path):
    zones = parse_zoneinfo(_write(tmp_path, "zoneinfo", OLD_ZONEINFO))
    assert [(z.name, z.managed_pages, z.min, z.low, z.high, z.boost, z.promo) for z in zones] == [
        ("DMA", 3977, 33, 41, 49, 0, None),
        ("Normal", 1271542, 5649, 7061, 8473, 0, None),
    ]
    assert zones[0].protection == [0, 2939, 7906, 7906]
    ancient = parse_zoneinfo(_write(tmp_path, "z2", ANCIENT_ZONEINFO))
    assert ancient[0].managed is None and ancient[0].managed_pages == 19000


def test_boost_is_removed_from_marks(tmp_path):
    text = (DATA / "zoneinfo").read_text()
    text = text.replace("boost    0\n        min      14769\n        low      20163\n"
                        "        high     25557",
                        "boost    512\n        min      15281\n        low      20675\n"
                        "        high     26069")  # fmt: skip
    z = parse_zoneinfo(_write(tmp_path, "zoneinfo", text))[2]
    assert (z.boost, z.wmark_min, z.wmark_low, z.wmark_high) == (512, 14769, 20163, 25557)


@pytest.mark.parametrize(
    ("mutate", "line", "words"),
    [
        (lambda t: t.replace("        low      20163", "        low      20x63"), 5, "unrecognised"),
        (lambda t: t.replace("protection: (0, 0, 0, 0, 0)", "protection: (0, a, 0)", 1), None,
         "protection"),
        (lambda t: "garbage first line\n" + t, 1, "header"),
        (lambda t: "", 1, "empty"),
    ],
)  # fmt: skip
def test_malformed_zoneinfo_names_file_and_line(tmp_path, mutate, line, words):
    text = mutate((DATA / "zoneinfo").read_text())
    p = _write(tmp_path, "zoneinfo", text)
    with pytest.raises(ProcFormatError) as exc:
        parse_zoneinfo(p)
    msg = str(exc.value)
    assert str(p) in msg and words in msg
    if line is not None:
        want = line
        if words == "unrecognised":
            want = text.splitlines().index("        low      20x63") + 1
        assert f"{p}:{want}:" in msg


def test_truncated_zoneinfo(tmp_path):
    lines = (DATA / "zoneinfo").read_text().splitlines()
    cut = next(i for i, s in enumerate(lines) if "zone   Normal" in s) + 4  # after "min"
    p = _write(tmp_path, "zoneinfo", "\n".join(lines[:cut]) + "\n")
    with pytest.raises(ProcFormatError, match=r"zone Normal of node 0 has no 'low' line"):
        parse_zoneinfo(p)
    with pytest.raises(ProcFormatError, match="not found"):
        parse_zoneinfo(tmp_path / "missing")


def test_vmstat(tmp_path):
    s = parse_vmstat(DATA / "vmstat.after")
    assert s["pgfree"] > 0 and "pgalloc_normal" in s
    assert vmstat_sum(s, "pgalloc") == sum(v for k, v in s.items() if k.startswith("pgalloc_"))
    old = _write(tmp_path, "vmstat", "pgalloc_normal 10\npgsteal_kswapd_normal 4\n"
                 "pgsteal_kswapd_dma32 1\npgfree 9\nthp_split 3\n")  # fmt: skip
    o = parse_vmstat(old)
    assert vmstat_sum(o, "pgsteal_kswapd") == 5


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("pgfree 1\npgalloc_normal 1.5\n", 2, "expected 'name value'"),
        ("pgfree 1\npgfree 2\n", 2, "appears twice"),
        ("nr_free_pages 5\npgalloc_normal 3\n", 2, "no 'pgfree'"),
        ("Node 0, zone DMA\n", 1, "expected 'name value'"),
    ],
)
def test_malformed_vmstat(tmp_path, text, line, words):
    p = _write(tmp_path, "vmstat", text)
    with pytest.raises(ProcFormatError) as exc:
        parse_vmstat(p)
    assert f"{p}:{line}:" in str(exc.value) and words in str(exc.value)


# ----------------------------------------------------------------- every other parser
# Canned text in the forms real kernels print (x86-64 6.18 unless said otherwise; \x20 is
# the trailing space the kernel leaves on some lines).

MEMINFO = """\
MemTotal:       24684092 kB
MemAvailable:   24383616 kB
Active(anon):       1516 kB
PageTables:         1428 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
DirectMap1G:    25165824 kB
"""

STATUS = """\
Name:\tpython3
Umask:\t0022
State:\tR (running)
Uid:\t0\t0\t0\t0
Groups:\t
VmPTE:\t      48 kB
untag_mask:\t0xffffffffffffffff
Threads:\t1
SigQ:\t0/96365
SigPnd:\t0000000000000000
CapPrm:\t000001fffeffffff
Speculation_Store_Bypass:\tvulnerable
Cpus_allowed_list:\t0-1
Mems_allowed:\t00000000,00000001
voluntary_ctxt_switches:\t12
"""

INTERRUPTS = """\
           CPU0       CPU1      \x20
 24:          1          0  IO-APIC   5-edge      ACPI:Ged
 28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config
NMI:          0          0   Non-maskable interrupts
CAL:      63253      37738   Function call interrupts
TLB:       5300       1704   TLB shootdowns
ERR:          0
MIS:          0
"""

ARM64_INTERRUPTS = """\
           CPU0       CPU1
 11:      12345      23456     GICv3  27 Level     arch_timer
IPI0:       100        200       Rescheduling interrupts
IPI1:       300        400       Function call interrupts
Err:          0
"""

MAPS = """\
556ed5dce000-556ed5dcf000 r--p 00000000 fe:00 26723                      /usr/bin/python3.11
556eeb7ed000-556eeb9a0000 rw-p 00000000 00:00 0                          [heap]
7fee89ae0000-7fee89be0000 rw-p 00000000 00:00 0\x20
7fee89bed000-7fee89bf0000 r--p 00000000 103:02 29755                     /tmp/a name (deleted)
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
"""

SMAPS = """\
10000000000-10020000000 rw-p 00000000 00:00 0\x20
Size:             524288 kB
KernelPageSize:        4 kB
AnonHugePages:    522240 kB
THPeligible:           1
ProtectionKey:         0
VmFlags: rd wr mr mw me ac hg\x20
7f0000000000-7f0000200000 rw-p 00000000 00:00 0                          [anon:probe]
Size:               2048 kB
AnonHugePages:         0 kB
VmFlags: rd wr mr mw me ac nh
"""

KCONFIG = """\
#
# Automatically generated file; DO NOT EDIT.
# Linux/x86 6.18.44 Kernel Configuration
#
CONFIG_CC_VERSION_TEXT="gcc (GCC) 15.3.0"
CONFIG_LOCALVERSION=""
CONFIG_CMDLINE="console=\\"ttyS0\\""
CONFIG_PGTABLE_LEVELS=5
CONFIG_PT_RECLAIM=y

# CONFIG_XEN is not set
CONFIG_ILLEGAL_POINTER_VALUE=0xdead000000000000
"""

CGROUP = """\
4:memory:/process_api/f8318762
1:cpu,cpuacct:/
0::/user.slice/user-1000.slice/session-2.scope
"""

CPUINFO = """\
processor\t: 0
model name\t: AMD EPYC
flags\t\t: fpu vme de pse hypervisor
power management:

processor\t: 1
model name\t: AMD EPYC
"""


def test_meminfo_and_status():
    m = procfs.parse_meminfo(MEMINFO)
    assert (m["PageTables"], m["Active(anon)"], m["HugePages_Total"], m["Hugepagesize"]) == (
        1428, 1516, 0, 2048,
    )  # fmt: skip
    s = procfs.parse_kb_fields(STATUS)
    # numbers only: text, id lists, masks (hex or zero-padded) and ranges are left out
    assert s == {"VmPTE": 48, "Threads": 1, "voluntary_ctxt_switches": 12}


def test_interrupts_real_rows():
    irq = procfs.parse_interrupts(INTERRUPTS)
    assert (irq.cpus, irq.function_call, irq.tlb_shootdown) == (
        (0, 1), (63253, 37738), (5300, 1704),
    )  # fmt: skip
    irq = procfs.parse_interrupts(ARM64_INTERRUPTS)
    assert irq.function_call == (300, 400) and irq.tlb_shootdown == (0, 0)


def test_maps_and_smaps():
    maps = procfs.parse_maps(MAPS)
    assert maps[0] == (0x556ED5DCE000, 0x556ED5DCF000) and len(maps) == 5
    assert maps[-1] == (0xFFFFFFFFFF600000, 0xFFFFFFFFFF601000)
    smaps = procfs.parse_smaps(SMAPS)
    assert sorted(smaps) == [0x10000000000, 0x7F0000000000]
    vma = procfs.parse_smaps_vma(SMAPS, 0x10000000000)
    assert vma["AnonHugePages"] == 522240 and vma["THPeligible"] == 1
    assert "VmFlags" not in vma


def test_small_files():
    assert procfs.parse_cpu_list("0-1\n") == [0, 1]
    assert procfs.parse_cpu_list("\n") == []  # e.g. /sys/devices/system/cpu/offline
    assert procfs.parse_sysfs_choice("always defer defer+madvise [madvise] never\n") == "madvise"
    assert procfs.parse_int("65530\n") == 65530 and procfs.parse_int("-1") == -1
    cfg = procfs.parse_kconfig(KCONFIG)
    assert cfg["CONFIG_CC_VERSION_TEXT"] == "gcc (GCC) 15.3.0" and cfg["CONFIG_LOCALVERSION"] == ""
    assert cfg["CONFIG_CMDLINE"] == 'console="ttyS0"' and cfg["CONFIG_XEN"] == "n"
    assert cfg["CONFIG_PGTABLE_LEVELS"] == "5" and len(cfg) == 7
    cg = procfs.parse_cgroup(CGROUP)
    assert cg[1] == (1, ("cpu", "cpuacct"), "/")
    assert cg[2] == (0, (), "/user.slice/user-1000.slice/session-2.scope")
    info = procfs.parse_cpuinfo(CPUINFO)
    assert info[2] == ("flags", "fpu vme de pse hypervisor")
    assert info[3] == ("power management", "") and len(info) == 6


def test_text_or_path(tmp_path):
    p = _write(tmp_path, "meminfo", MEMINFO)
    assert procfs.parse_meminfo(p) == procfs.parse_meminfo(MEMINFO)
    bad = MEMINFO.replace("1428 kB", "14x8 kB")
    with pytest.raises(ProcFormatError, match=r"^/proc/meminfo:4: PageTables"):
        procfs.parse_meminfo(bad)  # text: the default label
    with pytest.raises(ProcFormatError, match=r"^copy of meminfo:4: PageTables"):
        procfs.parse_meminfo(bad, "copy of meminfo")
    p.write_text(bad)
    with pytest.raises(ProcFormatError, match=rf"^{re.escape(str(p))}:4: PageTables"):
        procfs.parse_meminfo(p)  # path: the path
    with pytest.raises(ProcFormatError, match="not found"):
        procfs.parse_interrupts(tmp_path / "missing")


def _replace_line(text: str, line: int, new: str) -> str:
    lines = text.split("\n")
    lines[line - 1] = new
    return "\n".join(lines)


# (parser, good text, line to break, malformed line, words of the message)
MALFORMED = [
    ("parse_meminfo", MEMINFO, 3, "Active(anon):   lots", "expected 'N kB' or 'N'"),
    ("parse_meminfo", MEMINFO, 2, "MemAvailable    24383616 kB", "expected 'Name: value'"),
    ("parse_meminfo", MEMINFO, 5, "MemTotal:       1 kB", "'MemTotal' appears twice"),
    ("parse_kb_fields", STATUS, 6, "VmPTE:\t   4.5 kB", "VmPTE: expected 'N kB'"),
    ("parse_kb_fields", STATUS, 8, "Threads 1", "expected 'Name: value'"),
    ("parse_interrupts", INTERRUPTS, 1, "           CPU0       CPUx", "'CPU<n>' columns"),
    ("parse_interrupts", INTERRUPTS, 4, "NMI:          0   Non-maskable interrupts",
     "expected 2 per-CPU counts"),
    ("parse_interrupts", INTERRUPTS, 5, "CAL:      63253      3773x   Function call interrupts",
     "expected 2 per-CPU counts"),
    ("parse_interrupts", INTERRUPTS, 8, "garbage", "expected 'LABEL: counts'"),
    ("parse_interrupts", INTERRUPTS, 7, "TLB:          0", "row 'TLB' appears twice"),
    ("parse_maps", MAPS, 2, "556eeb7ed000-556eeb9a0000 rw-p [heap]", "expected 'start-end"),
    ("parse_maps", MAPS, 3, "7fee89be0000-7fee89ae0000 rw-p 00000000 00:00 0",
     "ends before it starts"),
    ("parse_smaps", SMAPS, 3, "KernelPageSize:  four kB", "expected 'N kB' or 'N'"),
    ("parse_smaps", SMAPS, 5, "THPeligible:    yes", "expected 'N kB' or 'N'"),
    ("parse_smaps", SMAPS, 7, "VmFlags: rd wr Bad", "VmFlags"),
    ("parse_smaps", SMAPS, 10, "Size:    2048 kB", "'Size' appears twice in one VMA"),
    ("parse_smaps", SMAPS, 1, "Size:    2048 kB", "expected a VMA header"),
    ("parse_smaps", SMAPS, 9, "just text", "expected 'Name: value' or a VMA header"),
    ("parse_cpu_list", "0-3,6\n", 1, "0-3,a", "'N' or 'N-M'"),
    ("parse_cpu_list", "0-3,6\n", 1, "3-1", "'N' or 'N-M'"),
    ("parse_cpu_list", "0-3,6\n", 1, "0-3,2", "ascending"),
    ("parse_cpu_list", "0-3,6\n", 2, "7", "on one line"),
    ("parse_sysfs_choice", "always [madvise] never\n", 1, "always madvise never",
     "exactly one [bracketed] choice, got 0"),
    ("parse_sysfs_choice", "always [madvise] never\n", 1, "[always] [madvise]", "got 2"),
    ("parse_sysfs_choice", "always [madvise] never\n", 1, "always [madvise never",
     "malformed choice '[madvise'"),
    ("parse_int", "65530\n", 1, "65530 kB", "expected one integer"),
    ("parse_int", "65530\n", 1, "", "empty file"),
    ("parse_kconfig", KCONFIG, 6, "CONFIG_LOCALVERSION=\"unterminated", "expected 'CONFIG_X=value'"),
    ("parse_kconfig", KCONFIG, 9, "PT_RECLAIM=y", "expected 'CONFIG_X=value'"),
    ("parse_kconfig", KCONFIG, 11, "# CONFIG_PT_RECLAIM is not set", "CONFIG_PT_RECLAIM appears twice"),
    ("parse_cgroup", CGROUP, 2, "1:cpu,cpuacct", "expected 'ID:controllers:/path'"),
    ("parse_cgroup", CGROUP, 3, "x::/", "expected 'ID:controllers:/path'"),
    ("parse_cpuinfo", CPUINFO, 5, "power management", "expected 'key : value'"),
    ("parse_vmstat", "pgfree 1\npgalloc_normal 2\n", 2, "pgalloc_normal", "expected 'name value'"),
    ("parse_zoneinfo", OLD_ZONEINFO, 23, "Node 0, zone      DMA", "zone DMA of node 0 appears twice"),
    ("parse_zoneinfo", OLD_ZONEINFO, 6, "        min      33", "'min' appears twice"),
    ("parse_zoneinfo", OLD_ZONEINFO, 11, "    nr_free_pages 3977", "'nr_free_pages' appears twice"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parser", "text", "line", "bad", "words"),
    MALFORMED,
    ids=[f"{case[0]}-{i}" for i, case in enumerate(MALFORMED)],
)
def test_malformed_line_names_file_and_line(parser, text, line, bad, words):
    broken = _replace_line(text, line, bad)
    with pytest.raises(ProcFormatError) as exc:
        getattr(procfs, parser)(broken, "SRC")
    msg = str(exc.value)
    assert msg.startswith(f"SRC:{line}: ") and words in msg, msg


@pytest.mark.parametrize(
    ("parser", "text", "words"),
    [
        ("parse_interrupts", INTERRUPTS.replace("Function call", "Other"), "no 'Function call"),
        ("parse_interrupts", INTERRUPTS + "IPI9:  1  2   Function call interrupts\n",
         "a second 'Function call interrupts' row"),
        ("parse_smaps_vma", SMAPS, "no VMA starts at 0x1000"),
        ("parse_meminfo", "", "empty file"),
        ("parse_kconfig", "\n\n", "empty file"),
    ],
)  # fmt: skip
def test_missing_entries_name_file_and_line(parser, text, words):
    args = (text, 0x1000) if parser == "parse_smaps_vma" else (text,)
    with pytest.raises(ProcFormatError, match=r"^SRC:\d+: ") as exc:
        getattr(procfs, parser)(*args, source="SRC")
    assert words in str(exc.value)


LIVE = {
    "parse_zoneinfo": "/proc/zoneinfo",
    "parse_vmstat": "/proc/vmstat",
    "parse_meminfo": "/proc/meminfo",
    "parse_kb_fields": "/proc/self/status",
    "parse_interrupts": "/proc/interrupts",
    "parse_maps": "/proc/self/maps",
    "parse_smaps": "/proc/self/smaps",
    "parse_cpu_list": "/sys/devices/system/cpu/online",
    "parse_sysfs_choice": "/sys/kernel/mm/transparent_hugepage/enabled",
    "parse_int": "/proc/sys/vm/max_map_count",
    "parse_cgroup": "/proc/self/cgroup",
    "parse_cpuinfo": "/proc/cpuinfo",
}


@pytest.mark.live
@pytest.mark.parametrize(("parser", "path"), LIVE.items())
def test_live_files_parse(parser, path):
    """The running kernel's own files are accepted (only read, never written)."""
    if not Path(path).exists():
        pytest.skip(f"no {path} here")
    try:
        Path(path).read_text()
    except OSError as exc:
        pytest.skip(f"cannot read {path}: {exc}")
    assert getattr(procfs, parser)(Path(path)) is not None


@pytest.mark.live
@pytest.mark.skipif(not Path("/proc/config.gz").exists(), reason="no /proc/config.gz")
def test_live_kernel_config_parses():
    text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    assert procfs.parse_kconfig(text, "/proc/config.gz")


def test_module_imports_only_the_standard_library_and_errors():
    code = (
        "import sys; import mcstudy.kernel.procfs; "
        "print(sorted(m for m in sys.modules if m.startswith(('mcstudy', 'numpy', 'numba'))))"
    )
    root = REPO
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    ).stdout
    assert out.strip() == "['mcstudy', 'mcstudy.errors', 'mcstudy.kernel', 'mcstudy.kernel.procfs']"


def test_kernel_package_imports_neither_probe_nor_calibrate():
    kernel = Path(procfs.__file__).resolve().parent
    for path in kernel.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("mcstudy.probe", "mcstudy.calibrate")), (path, name)
                if path.name == "procfs.py" and name.startswith("mcstudy"):
                    assert name == "mcstudy.errors", name
