"""The report as plain data: sections made of paragraphs, bullet lists, figures and tables.

Section builders (listed in ``mcstudy.report.catalog``) return these objects; the HTML
template and the PDF writer render them. Nothing here knows about a model or a file
format. Text may mark code with backticks (``like_this``): the renderers show it as code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Paragraph:
    """A paragraph of plain text (backticks mark code)."""

    text: str


@dataclass
class Bullets:
    """A bullet list of plain-text items."""

    items: list[str]


@dataclass
class Code:
    """Preformatted text (config files, commands)."""

    text: str
    caption: str = ""


@dataclass
class FigureBlock:
    """A matplotlib figure with a stable key (file name stem) and a caption."""

    key: str
    title: str
    caption: str
    figure: Figure


@dataclass
class Cell:
    """A table cell: a value, optionally with its 95 % interval and sample size."""

    text: str
    ci: str | None = None
    n: str | None = None
    flag: str | None = None
    """A short warning shown with the cell (e.g. ``|z| > 4``)."""


MAX_TABLE_ROWS = 2_000
"""Most rows of a per-point table in a report (a 1e5-point sweep made 60 MB pages that
no browser shows; the dataset and ``mcstudy show`` keep every point)."""


@dataclass
class TableBlock:
    """A table. ``kind="estimates"`` tables carry an interval in every estimate cell."""

    caption: str
    header: list[str]
    rows: list[list[Cell]]
    kind: str = "info"
    sample_size: str | None = None
    """Sample size common to every cell of an estimates table (else each cell has one)."""
    collapsed: bool = False
    key: str = ""


Block = Paragraph | Bullets | Code | FigureBlock | TableBlock


@dataclass
class Section:
    """A titled part of the report; ``order`` places it (smaller first)."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    order: int = 50
    lead: str = ""
    """One-sentence summary shown under the title and in the table of contents."""

    def figures(self) -> list[FigureBlock]:
        return [b for b in self.blocks if isinstance(b, FigureBlock)]

    def tables(self) -> list[TableBlock]:
        return [b for b in self.blocks if isinstance(b, TableBlock)]


def cell(text: str, ci: str | None = None, n: str | None = None, flag: str | None = None) -> Cell:
    """Shorthand for :class:`Cell`."""
    return Cell(text, ci, n, flag)


@dataclass
class Report:
    """A whole report: title, summary lists and the sections in order."""

    title: str
    subtitle: str
    trust: list[str]
    """Evidence that the numbers can be trusted (shown first)."""
    problems: list[str]
    """Problems found (shown first, highlighted)."""
    sections: list[Section]

    def figures(self) -> list[FigureBlock]:
        return [f for s in self.sections for f in s.figures()]
