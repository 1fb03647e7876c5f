"""Parse a report's HTML (standard library only) and check what every report must have."""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

INLINE = frozenset({"code", "strong", "em", "a"})
CI_PATTERN = re.compile(r"^\[\S+, \S+\]$")


@dataclass
class Cell:
    text: str = ""
    ci: str | None = None
    n: str | None = None


@dataclass
class Table:
    cls: str
    sample_size: str | None
    section: str | None
    header: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)


@dataclass
class Img:
    src: str
    width: int
    height: int
    alt: str
    figure: str | None
    section: str | None


class ReportParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.images: list[Img] = []
        self.sections: list[str] = []
        self.urls: list[str] = []
        self.section_text: dict[str, list[str]] = {}
        self.captions: dict[str, str] = {}
        self._caption: list[str] | None = None
        self.scripts = 0
        self.csp: str | None = None
        self._section: str | None = None
        self._figure: str | None = None
        self._table: Table | None = None
        self._row: list[Cell] | None = None
        self._cell: Cell | None = None
        self._in_th = False
        self._span: str | None = None
        self._th_text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._section is not None and tag not in INLINE:
            self.section_text[self._section].append(" ")
        for key in ("src", "href"):
            if key in a:
                self.urls.append(a[key])
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = a.get("content")
        if tag == "script":
            self.scripts += 1
        if tag == "section" and "id" in a:
            self._section = a["id"]
            self.sections.append(a["id"])
            self.section_text.setdefault(a["id"], [])
        elif tag == "figure" and "data-figure" in a:
            self._figure = a["data-figure"]
        elif tag == "figcaption" and self._figure is not None:
            self._caption = []
        elif tag == "img":
            self.images.append(
                Img(
                    a.get("src", ""),
                    int(a.get("width", "0") or 0),
                    int(a.get("height", "0") or 0),
                    a.get("alt", ""),
                    self._figure,
                    self._section,
                )
            )
        elif tag == "table":
            self._table = Table(a.get("class", ""), a.get("data-sample-size"), self._section)
            self.tables.append(self._table)
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag == "th":
            self._in_th = True
            self._th_text = ""
        elif tag == "td" and self._row is not None:
            self._cell = Cell()
            self._row.append(self._cell)
        elif tag == "span" and self._cell is not None:
            self._span = a.get("class")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._caption is not None and self._figure is not None:
            self.captions[self._figure] = " ".join("".join(self._caption).split())
            self._caption = None
        if tag == "figure":
            self._figure = None
        elif tag == "table":
            self._table = None
        elif tag == "tr" and self._table is not None and self._row is not None:
            if self._row:
                self._table.rows.append(self._row)
            self._row = None
        elif tag == "th":
            self._in_th = False
            if self._table is not None:
                self._table.header.append(self._th_text.strip())
        elif tag == "td":
            self._cell = None
        elif tag == "span":
            self._span = None

    def handle_data(self, data: str) -> None:
        if self._caption is not None:
            self._caption.append(data)
        if self._section is not None:
            self.section_text[self._section].append(data)
        if self._in_th:
            self._th_text += data
        if self._cell is not None:
            if self._span == "ci":
                self._cell.ci = (self._cell.ci or "") + data
            elif self._span == "n":
                self._cell.n = (self._cell.n or "") + data
            elif self._span is None:
                self._cell.text += data

    def text(self, section: str) -> str:
        return " ".join("".join(self.section_text.get(section, [])).split())


def parse(path: Path) -> ReportParser:
    p = ReportParser()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def decode_png(src: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), src[:40]
    im = Image.open(io.BytesIO(base64.b64decode(src[len(prefix) :], validate=True)))
    im.load()
    return im


GENERIC_SECTIONS = ("design", "estimates", "health", "provenance")


def check_report(path: Path, figures_dir: Path | None = None) -> ReportParser:
    """Assert the structure every report must have; returns the parsed report."""
    p = parse(path)
    for sid in GENERIC_SECTIONS:
        assert sid in p.sections, f"section {sid!r} missing"
    # self-contained: every URL is an in-page anchor or inline data, no scripts
    for url in p.urls:
        assert url.startswith(("#", "data:")), f"external reference {url!r}"
    assert p.scripts == 0
    assert p.csp is not None and "default-src 'none'" in p.csp
    # every figure present and decodable, with the size its tag declares
    keys = []
    for img in p.images:
        im = decode_png(img.src)
        assert im.format == "PNG"
        assert im.size == (img.width, img.height) and img.width > 100 and img.height > 100
        assert img.figure, "an image outside a report figure"
        assert any(lo != hi for lo, hi in im.convert("RGB").getextrema()), f"{img.figure} is blank"
        keys.append(img.figure)
    assert len(keys) == len(set(keys)), "figure keys repeat"
    # every estimates table has an interval in every estimate cell, and sample sizes
    for t in p.tables:
        assert t.header, "table without header"
        for row in t.rows:
            assert len(row) == len(t.header), f"ragged row in {t.header}"
        if "estimates" not in t.cls.split():
            continue
        assert t.rows, f"empty estimates table {t.header}"
        has_n = any(h == "n" or h.startswith("n ") for h in t.header)
        assert t.sample_size or has_n, f"no sample size in {t.header}"
        est_cols = {i for i, h in enumerate(t.header) if "95 %" in h or "[" in h}
        if t.header[0].startswith("p \\"):
            est_cols = set(range(1, len(t.header)))
        assert est_cols, f"estimates table without interval column: {t.header}"
        for row in t.rows:
            for i in est_cols:
                cell = row[i]
                if cell.text.strip() == "missing" or (cell.ci or "").startswith("no interval"):
                    continue
                assert cell.ci is not None and CI_PATTERN.match(cell.ci.strip()), (
                    f"no interval in {t.header[i]!r}: {cell}"
                )
    prov = p.text("provenance")
    assert "SHA-256" in prov and "seed" in prov and "config_text" not in prov
    if figures_dir is not None:
        for key in keys:
            png = figures_dir / f"{key}.png"
            svg = figures_dir / f"{key}.svg"
            Image.open(png).verify()
            head = svg.read_text(encoding="utf-8")[:400]
            assert "<svg" in head, f"{svg} is not SVG"
            import xml.etree.ElementTree as ET

            ET.parse(svg)
    return p
