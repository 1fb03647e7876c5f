"""/proc/zoneinfo and /proc/vmstat parsers: new and old formats, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcstudy.kernel.procfs import ProcFormatError, parse_vmstat, parse_zoneinfo, vmstat_sum

DATA = Path(__file__).resolve().parent.parent / "data" / "proc"

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
