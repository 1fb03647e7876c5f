"""The answers of a dataset, as plain data: questions with one-sentence answers, summary
tables and notes.

A dataset's answer builder (entry-point group ``mcstudy.answers``; the report's for the
Monte Carlo models, the probe's own for its measurements) returns :class:`Answers`;
``mcstudy.report`` renders them as the report's first section, the block ``mcstudy run``
prints at its end and ``mcstudy show``, so the three never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Item:
    """One question of the review and its answer (backticks mark code)."""

    question: str
    answer: str


@dataclass
class Table:
    """A summary table: cells are (estimate, interval or None)."""

    caption: str
    header: list[str]
    rows: list[list[tuple[str, str | None]]]
    note: str = ""


@dataclass
class Answers:
    """What a dataset answers, first."""

    title: str
    items: list[Item]
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
