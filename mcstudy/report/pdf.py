"""The report as a multi-page PDF through matplotlib (``PdfPages``, no pyplot).

Text (summary, paragraphs, bullets, short tables) is typeset on A4 pages in a
monospaced font. A table wider than the page keeps every column: its columns are split
into as many parts as needed, each repeating the first (label) column. Each figure gets
an A4 page of its own, in section order, scaled to the page. Long tables (the per-point
tables that the HTML collapses) are left to the HTML report and the dataset.
"""

from __future__ import annotations

import io
import re
import textwrap

from matplotlib.backends.backend_pdf import PdfPages

from mcstudy.document.blocks import Bullets, Code, FigureBlock, Paragraph, Report, TableBlock
from mcstudy.report.answers import column_parts
from mcstudy.report.figures import new_figure, png_bytes, styled

A4 = (8.27, 11.69)
LINES_PER_PAGE = 72
WIDTH = 112
MAX_TABLE_ROWS = 40


def _plain(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"\1", text)


def _wrap(text: str, indent: str = "", first: str = "") -> list[str]:
    return textwrap.wrap(
        _plain(text), WIDTH, initial_indent=first or indent, subsequent_indent=indent
    ) or [""]


def _table_lines(t: TableBlock) -> list[str]:
    cells = [
        [_plain(c.text) + (f" {c.ci}" if c.ci else "") + (f" n={c.n}" if c.n else "") for c in r]
        for r in t.rows[:MAX_TABLE_ROWS]
    ]
    header = [_plain(h) for h in t.header]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells, strict=True)]
    lines = _wrap(t.caption + (f" ({t.sample_size})" if t.sample_size else ""))
    parts = column_parts(widths, WIDTH)
    for k, part in enumerate(parts):
        cols = [0, *part]
        fmt = "  ".join(f"{{:<{widths[j]}}}" for j in cols)
        if len(parts) > 1:
            lines.append(f"(columns {part[0] + 1}-{part[-1] + 1} of {len(widths)}, part {k + 1})")
        lines.append(fmt.format(*(header[j] for j in cols)))
        lines.append("-" * (sum(widths[j] for j in cols) + 2 * (len(cols) - 1)))
        lines += [fmt.format(*(r[j] for j in cols)) for r in cells]
    if len(t.rows) > MAX_TABLE_ROWS:
        lines.append(f"... {len(t.rows) - MAX_TABLE_ROWS} more rows in the HTML report")
    return lines


class _TextPages:
    def __init__(self, pdf: PdfPages) -> None:
        self.pdf = pdf
        self.lines: list[tuple[str, str]] = []

    def add(self, line: str, style: str = "body") -> None:
        self.lines.append((line, style))
        if len(self.lines) >= LINES_PER_PAGE:
            self.flush()

    @styled
    def flush(self) -> None:
        if not self.lines:
            return
        fig = new_figure(*A4)
        y = 0.965
        step = 0.93 / LINES_PER_PAGE
        for line, style in self.lines:
            weight = "bold" if style in ("h1", "h2") else "normal"
            size = {"h1": 12, "h2": 9.5}.get(style, 6.7)
            fig.text(0.06, y, line, family="monospace", fontsize=size, weight=weight, va="top")
            y -= step * (1.6 if style == "h1" else 1.0)
        self.pdf.savefig(fig)
        self.lines = []


def render_pdf(report: Report) -> bytes:
    """The report as PDF bytes."""
    buf = io.BytesIO()
    with PdfPages(buf, metadata={"Title": report.title, "Creator": "mcstudy report"}) as pdf:
        text = _TextPages(pdf)
        text.add(report.title, "h1")
        for line in _wrap(report.subtitle):
            text.add(line)
        text.add("")
        if report.problems:
            text.add("Findings: read these before the numbers", "h2")
            for p in report.problems:
                for line in _wrap(p, "   ", " - "):
                    text.add(line)
        if report.trust:
            heading = "Evidence, despite the findings above" if report.problems else None
            text.add(heading or "Why these numbers can be trusted", "h2")
            for p in report.trust:
                for line in _wrap(p, "   ", " - "):
                    text.add(line)
        for section in report.sections:
            text.add("")
            text.add(section.title, "h2")
            for b in section.blocks:
                if isinstance(b, Paragraph):
                    for line in _wrap(b.text):
                        text.add(line)
                    text.add("")
                elif isinstance(b, Bullets):
                    for item in b.items:
                        for line in _wrap(item, "   ", " - "):
                            text.add(line)
                    text.add("")
                elif isinstance(b, Code):
                    if b.caption:
                        text.add(_plain(b.caption))
                    for line in b.text.splitlines():
                        text.add("   " + line[: WIDTH - 3])
                    text.add("")
                elif isinstance(b, TableBlock) and not b.collapsed:
                    for line in _table_lines(b):
                        text.add(line)
                    text.add("")
                elif isinstance(b, FigureBlock):
                    text.add(f"Figure (next page): {b.title}", "h2")
                    for line in _wrap(b.caption):
                        text.add(line)
                    text.flush()
                    _figure_page(pdf, b)
        text.flush()
    return buf.getvalue()


@styled
def _figure_page(pdf: PdfPages, b: FigureBlock) -> None:
    """The figure on an A4 page of its own (every page of the PDF has the same size)."""
    from matplotlib.image import imread

    png = png_bytes(b.figure, dpi=200)
    img = imread(io.BytesIO(png), format="png")
    page = new_figure(*A4)
    h, w = img.shape[:2]
    title = textwrap.wrap(_plain(b.title), TITLE_WIDTH) or [""]
    top = 0.935 - 0.017 * len(title)  # a long title is wrapped, the figure moves down
    box_w, box_h = 0.88, top - 0.12  # fractions of the page
    scale = min(box_w * A4[0] / w, box_h * A4[1] / h)
    fw, fh = w * scale / A4[0], h * scale / A4[1]
    ax = page.add_axes((0.5 - fw / 2, top - fh, fw, fh))
    ax.imshow(img, interpolation="antialiased")
    ax.set_axis_off()
    page.text(0.06, 0.965, "\n".join(title), fontsize=9.5, weight="bold", va="top")
    pdf.savefig(page)


TITLE_WIDTH = 88
"""Characters of a figure page's title line (9.5 pt bold on A4)."""
