"""What a point record may contain: its values and tallies against the model's declarations,
and its identity against the study.

A checksum proves a file is the one written, not that what was written makes sense: a
checksum can be recomputed after an edit. A record with a valid checksum but impossible
contents is refused here before it can be merged or resumed from, like a damaged file:
``status`` lists it, ``--resume`` moves it to ``quarantine/`` and recomputes the point.
Impossible are a value of the wrong shape, a negative count, NaN where an integer is
due, a tally the model does not have; a value outside the range its estimate's
declaration implies (``mcstudy.models.contract``: a Wilson interval is of a proportion
in [0, 1], a Poisson score interval of a non-negative mean or rate, a Cornish-Fisher or
Wilson-inversion one of a quantile of a count; a standard error is non-negative; an
interval's low end is at most its high end); and, against the study, another seed, a
Philox key that is not this point's, another study name, model or block size, or a
sample size the study did not ask for (``sequences``, and the blocks that hold them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mcstudy.findings import KINDS as FINDING_KINDS
from mcstudy.models.base import Model
from mcstudy.models.contract import EstimateSpec
from mcstudy.storage.points import REL_ERR, TARGET_MET, decode_value

if TYPE_CHECKING:
    from mcstudy.study import Study

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
    allowed = model.point_variables()
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
    for spec in model.point_specs():
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


RANGES: dict[str, tuple[float, float]] = {
    "wilson": (0.0, 1.0),
    "wilson-design": (0.0, 1.0),
    "score": (0.0, math.inf),
    "cornish-fisher": (0.0, math.inf),
    "wilson-inversion": (0.0, math.inf),
}
"""The values an estimate, its interval's ends and its exact value can take, by the
interval its declaration names (``contract.INTERVALS``): Wilson intervals are of
proportions, the score interval of non-negative means and rates of counts, the quantile
intervals of quantiles of counts. A ``normal`` interval says nothing of the range."""
SLACK = 1e-9
"""Relative rounding allowed at the ends of a range (a time fraction summed from many
intervals may exceed 1 in its last bit)."""


def _number(values: dict[str, Any], name: str | None) -> float | None:
    """A stored float value (NaN: None, as a value not computed)."""
    if name is None or name not in values:
        return None
    v = decode_value(values[name])
    if isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v):
        return None
    return float(v)


def _range_problem(values: dict[str, Any], spec: EstimateSpec) -> str | None:
    """Why the values of one estimate break its declaration (None if they do not)."""
    low, high = RANGES.get(spec.interval, (-math.inf, math.inf))
    what = "a proportion" if high == 1.0 else "non-negative"
    for name in (spec.name, spec.exact, *(spec.ci or ())):
        v = _number(values, name)
        if v is not None and not low - SLACK <= v <= high * (1 + SLACK):
            return (
                f"value {name} = {v!r} outside [{low:g}, {high:g}]: estimate {spec.name} "
                f"({spec.kind}, {spec.interval} interval) is {what}"
            )
    for name in (spec.stderr, spec.exact_var):
        v = _number(values, name)
        if v is not None and v < 0:
            return f"value {name} = {v!r}: a standard error or variance cannot be negative"
    if spec.ci is not None:
        a, b = _number(values, spec.ci[0]), _number(values, spec.ci[1])
        if a is not None and b is not None and a > b:
            return f"interval of {spec.name}: low end {a!r} above high end {b!r}"
    return None


def _identity_problem(body: dict[str, Any], study: Study) -> str | None:
    """Why a record (done or failed) is not of ``study``'s point ``body["point"]``,
    whatever its config hash says: seed, Philox key, study name, model, block size."""
    from mcstudy.engine.rng import stream_key

    sec = study.section
    if body.get("seed") != sec.seed:
        return f"seed {_shape(body.get('seed'))}, not the study's {sec.seed}: another study's point"
    point = body.get("point")
    if _is_int(point) and point >= 0:
        key = list(stream_key(sec.seed, point))
        if body.get("stream_key") != key:
            return (
                f"stream_key {_shape(body.get('stream_key'))} is not point {point}'s "
                f"{key}: another point's or another study's random numbers"
            )
    for field, want in (
        ("study", study.name),
        ("model", sec.model),
        ("block_size", sec.block_size),
    ):
        if body.get(field) != want:
            return f"{field} {_shape(body.get(field))}, not the study's {want!r}"
    return None


def _sample_problem(body: dict[str, Any], study: Study) -> str | None:
    """Why a done record's sample size is not one the study asked for."""
    sec = study.section
    seqs = body["tallies"].get("sequences", body["values"].get("sequences"))
    if not _is_int(seqs):
        return None  # (reported as a malformed value or tally)
    if sec.target_rel_err is None:
        if seqs != sec.sequences:
            return f"sequences = {seqs}, but the study runs {sec.sequences} per point"
    elif not sec.sequences <= seqs <= (sec.max_sequences or seqs):
        return (
            f"sequences = {seqs}, outside the study's {sec.sequences} .. {sec.max_sequences} "
            "(adaptive precision)"
        )
    blocks = body["blocks"]
    if blocks != -(-seqs // sec.block_size):
        return f"blocks = {blocks} cannot hold {seqs} sequences of blocks of {sec.block_size}"
    return None


def content_problem(
    body: dict[str, Any], model: Model, adaptive: bool, study: Study | None = None
) -> str | None:
    """Why the values, tallies and findings of a ``done`` record cannot be results of
    ``model`` (None if they can). ``adaptive``: the study has ``target_rel_err``. With
    ``study``, also why it is not a point of that study (see :func:`record_problem`)."""
    if study is not None and (why := _identity_problem(body, study)):
        return why
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
    if why is None:
        for spec in model.point_specs():
            if why := _range_problem(values, spec):
                break
    if why is None and study is not None:
        why = _sample_problem(body, study)
    return why or _findings_problem(body.get("findings"))


def record_problem(body: dict[str, Any], study: Study) -> str | None:
    """Why a verified record (its point, config hash and code already checked) cannot
    be a result of ``study``: its identity (seed, key, name, model, block size), and for
    a done record its contents and sample size. None if it can."""
    if body.get("status") != "done":
        return _identity_problem(body, study)
    return content_problem(body, study.model, study.section.target_rel_err is not None, study)
