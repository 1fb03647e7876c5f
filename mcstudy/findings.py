"""Findings: what a run found that a reader must see before its numbers.

A finding belongs to one sweep point (``point``, the flat point index) or to the whole
study (``point`` None), and usually to one estimate. Kinds:

* ``disagreement``: an estimate whose tail probability against its exact value lies below
  its family-wise level (Holm over every comparison of the study,
  ``mcstudy.stats.agreement``), or a zero-variance estimate that differs from it;
* ``transient``: the warm-up was not enough, the estimate still drifts;
* ``vacuous``: the event of interest can happen but was never observed (at one point, or
  at every point of the study: the run was too short);
* ``warning``: anything else that makes a number doubtful;
* ``note``: information, not a finding: an event that the point's settings rule out on
  purpose (a kernel without ``tlb_remove_table()``, a failure probability of 0). Notes
  are listed apart and never make ``--strict`` fail.

Datasets carry their findings and notes as the JSON attribute ``findings`` (a list of
objects with ``point``, ``estimate``, ``kind``, ``message``); ``mcstudy run``, ``status``,
``show`` and the report print them first. Disagreements are decided over the whole
study (:func:`study_findings`), the others point by point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mcstudy.fmt import num
from mcstudy.stats.agreement import FAMILY_ALPHA, TESTS, check_spec, holm

KINDS = ("disagreement", "transient", "vacuous", "warning", "note")
NOTE = "note"
FINDINGS_ATTR = "findings"
EVENT_INTERVALS = ("score", "wilson", "wilson-design")
"""Intervals of estimates that count events (means and rates of counts, proportions):
the estimates that are 0 when a run saw no event."""


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
    """The findings recorded in a dataset's attributes (``ds.attrs``), notes left out."""
    return real_findings(decode_findings(attrs.get(FINDINGS_ATTR)))


def read_notes(attrs: Mapping[str, Any]) -> list[Finding]:
    """The notes recorded in a dataset's attributes (``ds.attrs``)."""
    return notes_of(decode_findings(attrs.get(FINDINGS_ATTR)))


def real_findings(found: Iterable[Finding]) -> list[Finding]:
    """The findings of ``found`` that are not notes (what ``--strict`` counts)."""
    return [f for f in found if f.kind != NOTE]


def notes_of(found: Iterable[Finding]) -> list[Finding]:
    """The notes of ``found``."""
    return [f for f in found if f.kind == NOTE]


def study_findings(
    model: Any,
    values: Mapping[int, Mapping[str, Any]],
    stored: Iterable[Finding] = (),
    alpha: float = FAMILY_ALPHA,
) -> list[Finding]:
    """Every finding and note of a study from its done points.

    ``model``: the study's model (its ``estimate_specs`` and ``variables``); ``values``:
    the values of each done point, by point index; ``stored``: the findings recorded
    point by point (transients, warnings, vacuous points, notes). Adds the
    disagreements with exact values, decided over the whole study as one family
    (Holm at ``alpha``, ``mcstudy.stats.agreement``; a disagreement recorded by an older
    point is dropped and decided again), and the study's vacuous finding when every
    event estimate of every point is 0 although its event can happen.
    """
    out = [f for f in stored if f.kind != "disagreement"]
    out += family_disagreements(model.point_specs(), values, alpha)
    out += all_zero_finding(model, values)
    return out


def family_disagreements(
    specs: Iterable[Any], values: Mapping[int, Mapping[str, Any]], alpha: float = FAMILY_ALPHA
) -> list[Finding]:
    """The (point, estimate) pairs whose tail probability against the exact value lies
    below its Holm level in the family of every comparison of ``values``, and the
    zero-variance estimates that differ (p = 0)."""
    specs = [s for s in specs if s.exact is not None]
    pairs = []
    for i in sorted(values):
        for spec in specs:
            check = check_spec(spec, values[i])
            if check is not None and check.comparable:
                pairs.append((i, spec, check))
    levels = holm([c.p for _, _, c in pairs], alpha)
    m = len(pairs)
    out = []
    for (i, spec, check), level in zip(pairs, levels, strict=True):
        if math.isnan(level):
            continue
        est, exact = float(values[i][spec.name]), float(values[i][spec.exact])
        if check.status == "differs":
            why = "its exact variance is 0 but it differs: a certain disagreement"
        else:
            why = (
                f"{TESTS[check.test]} give p = {check.p:.2g}, below its family-wise level "
                f"{level:.2g} (Holm over the study's {m} comparisons at {alpha:g})"
            )
        out.append(
            Finding(
                i,
                spec.name,
                "disagreement",
                f"{spec.name} = {_distinct(est, exact)}: {why}",
            )
        )
    return out


def _distinct(est: float, exact: float) -> str:
    """``est against the exact exact`` in the report's number format, with the fewest
    significant digits (4 to 8) that tell the two apart."""
    for digits in range(4, 9):
        a, b = num(est, digits), num(exact, digits)
        if a != b:
            break
    return f"{a} against the exact {b}"


def all_zero_finding(model: Any, values: Mapping[int, Mapping[str, Any]]) -> list[Finding]:
    """The study's vacuous finding when every event estimate (interval in
    ``EVENT_INTERVALS``) is 0 at every done point, naming the positive exact values
    (none when every exact value is 0 too: the event cannot happen, the notes say so)."""
    specs = [s for s in model.point_specs() if s.interval in EVENT_INTERVALS]
    if not values or not specs:
        return []
    seen = [_num(v, s.name) for v in values.values() for s in specs]
    if any(x != 0.0 for x in seen if not math.isnan(x)) or all(math.isnan(x) for x in seen):
        return []
    exact: dict[str, float] = {}
    for s in specs:
        if s.exact is None:
            continue
        xs = [_num(v, s.exact) for v in values.values()]
        top = max((x for x in xs if not math.isnan(x)), default=math.nan)
        if top > 0.0:
            exact[s.name] = top
    known = [s for s in specs if s.exact is not None]
    if known and not exact and all(_num(v, s.exact) == 0.0 for v in values.values() for s in known):
        return []  # the event cannot happen anywhere: notes say why
    seqs = sorted({int(x) for v in values.values() if not math.isnan(x := _num(v, "sequences"))})
    size = f" in {seqs[0]:,} sequences per point" if len(seqs) == 1 else ""
    where = "the point" if len(values) == 1 else f"all {len(values)} points"
    msg = (
        f"every event estimate is 0 at {where} (no event was seen{size}): the run was too "
        "short to see what it asks about; the numbers are upper bounds only. Run more or "
        "longer sequences"
    )
    if exact:
        cells = getattr(model, "point_variables", None)  # keyed as the values: per cell
        units = cells() if cells is not None else getattr(model, "variables", {})
        named = sorted(exact.items(), key=lambda kv: -kv[1])
        shown = [f"{k} {_g(x)}{_unit(units, k)}" for k, x in named[:6]]
        more = f" and {len(named) - 6} more" if len(named) > 6 else ""
        msg += f". Exact values (largest over the points): {', '.join(shown)}{more}"
    return [Finding(None, None, "vacuous", msg)]


def _num(values: Mapping[str, Any], name: str) -> float:
    x = values.get(name)
    try:
        return math.nan if x is None else float(x)
    except (TypeError, ValueError):
        return math.nan


def _g(x: float) -> str:
    return f"{x:,.0f}" if x >= 1000 else f"{x:.3g}"


def _unit(variables: Mapping[str, Any], name: str) -> str:
    var = variables.get(name)
    units = getattr(var, "units", "") if var is not None else ""
    return "" if units in ("", "1") else f" {units}"


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
