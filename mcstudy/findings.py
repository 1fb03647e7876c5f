"""Findings: what a run found that a reader must see before its numbers.

A finding belongs to one sweep point (``point``, the flat point index) or to the whole
study (``point`` None), and usually to one estimate. Kinds:

* ``disagreement``: an estimate beyond 4 standard errors of its exact value, or a
  zero-variance estimate that differs from it;
* ``transient``: the warm-up was not enough, the estimate still drifts;
* ``vacuous``: the event of interest cannot happen or was never observed;
* ``warning``: anything else that makes a number doubtful.

Datasets carry their findings as the JSON attribute ``findings`` (a list of objects with
``point``, ``estimate``, ``kind``, ``message``); ``mcstudy run``, ``status``, ``show`` and
the report print them first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

KINDS = ("disagreement", "transient", "vacuous", "warning")
FINDINGS_ATTR = "findings"


@dataclass(frozen=True, order=True)
class Finding:
    """One thing a reader must know about a point (or the whole study)."""

    point: int | None
    estimate: str | None
    kind: str
    message: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"finding kind {self.kind!r} not in {KINDS}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        point = d.get("point")
        return cls(
            None if point is None else int(point),
            d.get("estimate"),
            str(d["kind"]),
            str(d["message"]),
        )


def _key(f: Finding) -> tuple[int, int, str, str]:
    return (-1 if f.point is None else f.point, KINDS.index(f.kind), f.estimate or "", f.message)


def encode_findings(findings: Iterable[Finding]) -> str:
    """The JSON text of the ``findings`` attribute (sorted: study first, then by point)."""
    return json.dumps([f.as_dict() for f in sorted(set(findings), key=_key)])


def decode_findings(text: str | None) -> list[Finding]:
    """Findings from the ``findings`` attribute's JSON text (empty for None or "")."""
    if not text:
        return []
    return [Finding.from_dict(d) for d in json.loads(text)]


def read_findings(attrs: Mapping[str, Any]) -> list[Finding]:
    """The findings recorded in a dataset's attributes (``ds.attrs``)."""
    return decode_findings(attrs.get(FINDINGS_ATTR))


def format_findings(
    findings: Iterable[Finding],
    describe_point: Callable[[int], str] | None = None,
    max_points: int = 3,
) -> list[str]:
    """One line per distinct (kind, estimate, message), naming the points it holds at.

    ``describe_point(i)`` gives a point's coordinates (default: ``point i``); at most
    ``max_points`` are named, then the count of the others.
    """
    groups: dict[tuple[str, str, str], list[int | None]] = {}
    for f in sorted(set(findings), key=_key):
        groups.setdefault((f.kind, f.estimate or "", f.message), []).append(f.point)
    lines = []
    for (kind, _estimate, message), points in sorted(
        groups.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1], kv[0][2])
    ):
        named = [p for p in points if p is not None]
        if not named:
            where = "the whole study"
        else:
            show = describe_point or (lambda i: f"point {i}")
            where = "; ".join(show(p) for p in named[:max_points])
            if len(named) > max_points:
                where += f"; and {len(named) - max_points} more point(s)"
        lines.append(f"{kind}: {message} [{where}]")
    return lines
