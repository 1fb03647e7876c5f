"""What a point record may contain: its values and tallies against the model's declarations.

A checksum proves a file is the one written, not that what was written makes sense. A
record with a valid checksum but impossible contents (a value of the wrong shape, a
negative count, NaN where an integer is due, a tally the model does not have) is
refused here before it can be merged or resumed from, like a damaged file: ``status``
lists it, ``--resume`` moves it to ``quarantine/`` and recomputes the point.
"""

from __future__ import annotations

import math
from typing import Any

from mcstudy.findings import KINDS as FINDING_KINDS
from mcstudy.models.base import Model
from mcstudy.storage.points import REL_ERR, TARGET_MET

_TAGS = ("nan", "inf", "-inf")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_float(v: Any) -> bool:
    """A stored float: a JSON number, or a tagged non-finite value."""
    if isinstance(v, dict):
        return set(v) == {"float"} and v["float"] in _TAGS
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


def _shape(v: Any) -> str:
    if isinstance(v, dict) and set(v) == {"float"}:
        return f"{{'float': {v['float']!r}}}"
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _values_problem(values: dict[str, Any], model: Model, adaptive: bool) -> str | None:
    allowed = dict(model.variables)
    for name, v in values.items():
        if name in (REL_ERR, TARGET_MET):
            if not adaptive:
                return f"value {name} in a study without adaptive precision"
            if name == TARGET_MET and v not in (0, 1):
                return f"value {TARGET_MET} = {_shape(v)}: expected 0 or 1"
            if name == REL_ERR and not _is_float(v):
                return f"value {REL_ERR} = {_shape(v)}: expected a number"
            continue
        var = allowed.get(name)
        if var is None:
            return f"value {name!r} is not a variable of model {model.name!r}"
        if var.dtype == "int64":
            if not _is_int(v):
                return f"value {name} = {_shape(v)}: expected an integer ({var.units})"
            if v < 0:
                return f"value {name} = {v}: a count cannot be negative"
        elif not _is_float(v):
            return f"value {name} = {_shape(v)}: expected a number ({var.units})"
    for spec in model.estimate_specs:
        for name in (spec.name, spec.n):
            if name in allowed and name not in values:
                return f"value {name} (of estimate {spec.name}) is missing"
    if adaptive and (REL_ERR not in values or TARGET_MET not in values):
        return f"values {REL_ERR} and {TARGET_MET} of an adaptive study are missing"
    return None


def _tallies_problem(tallies: dict[str, Any], model: Model) -> str | None:
    layout = model.tallies
    expected = set(layout.ints) | set(layout.floats)
    if set(tallies) != expected:
        missing = sorted(expected - set(tallies))
        extra = sorted(set(tallies) - expected)
        what = f"missing {missing[:3]}" if missing else f"unknown {extra[:3]}"
        return f"tallies do not match model {model.name!r} ({what})"
    for name in layout.ints:
        v = tallies[name]
        if not _is_int(v):
            return f"tally {name} = {_shape(v)}: expected an integer"
        if v < 0:
            return f"tally {name} = {v}: a count cannot be negative"
    for name in layout.floats:
        if not _is_float(tallies[name]):
            return f"tally {name} = {_shape(tallies[name])}: expected a number"
    return None


def _findings_problem(findings: Any) -> str | None:
    if findings is None:
        return None
    if not isinstance(findings, list):
        return "findings: expected a list"
    for f in findings:
        if not isinstance(f, dict) or f.get("kind") not in FINDING_KINDS:
            return f"findings: malformed entry {_shape(f)}"
        point = f.get("point")
        if not (point is None or _is_int(point)) or not isinstance(f.get("message"), str):
            return f"findings: malformed entry {_shape(f)}"
    return None


def content_problem(body: dict[str, Any], model: Model, adaptive: bool) -> str | None:
    """Why the values, tallies and findings of a ``done`` record cannot be results of
    ``model`` (None if they can). ``adaptive``: the study has ``target_rel_err``."""
    blocks = body.get("blocks")
    if not _is_int(blocks) or blocks < 1:
        return f"blocks = {_shape(blocks)}: expected a positive integer"
    values, tallies = body["values"], body["tallies"]
    why = _values_problem(values, model, adaptive) or _tallies_problem(tallies, model)
    if why is None and "sequences" in values and "sequences" in tallies:
        if values["sequences"] != tallies["sequences"]:
            why = (
                f"value sequences = {values['sequences']} but the tallies count "
                f"{tallies['sequences']}"
            )
    return why or _findings_problem(body.get("findings"))
