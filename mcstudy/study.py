"""Study configs: TOML -> validated ``Study`` -> ordered table of sweep points.

A config has three tables::

    [study]   name, model, seed, sequences (per point), block_size (optional)
    [params]  scalar parameters of the model
    [sweep]   each key a non-empty list of values; the output has one dimension per key,
              in file order, and points are numbered in C order (last key fastest)

Every key is validated with the model's parameter schema; an error names the file,
the table and key, the value and what was expected. Unknown keys are errors.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
import stat
import tomllib
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mcstudy.budget import StudyCost, check_budget
from mcstudy.engine.blocks import DEFAULT_BLOCK_SIZE
from mcstudy.errors import ConfigError, McStudyError
from mcstudy.models.base import Model, ModelParams
from mcstudy.models.registry import get_model, is_model, model_names

DEFAULT_CONFIG = Path("configs") / "default.toml"
PACKAGED_DEFAULT = Path(__file__).resolve().parent / "configs" / "default.toml"
"""The default config shipped in the package (``mcstudy run`` outside a checkout)."""
MAX_POINTS = 100_000
"""Points a sweep may have unless ``--max-points`` says otherwise."""
POINT_BASE_BYTES = 8 << 10
POINT_BYTES_PER_VALUE = 32
"""Memory of a sweep per point, while it runs and while its dataset is assembled: the
point's task (validated parameters, about 1.1 KB), the slim record kept of it (about
1 KB, whatever the model: values and tallies are not kept), transient records and
Python's allocator, ``POINT_BASE_BYTES``; plus ``POINT_BYTES_PER_VALUE`` per variable of
the model (its column, the dataset and the netCDF bytes). Measured peak RSS above the
process's own (about 220 MiB), ``mcstudy.bench.largesweep``: a fresh run of 1e5 gather
points (22 variables) 8.0 KiB a point (1001 MiB; 2218 MiB before records were slimmed),
``run --resume`` of them 4.1 KiB, ``merge`` 3.5 KiB, ``status`` 2.3 KiB; ``merge`` of
5,000 THP points (135 variables, 1329 tallies) 5 KiB (145 KiB before)."""
MAX_CONFIG_BYTES = 16 << 20
SMALL_BYTES = 256 << 20
"""Bookkeeping below this is not checked against the machine's memory."""
_TABLES = ("study", "params", "sweep")


class StudySection(BaseModel):
    """The ``[study]`` table."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    model: str
    seed: int = Field(ge=0, lt=2**63)
    sequences: int = Field(ge=1, le=10**13)
    block_size: int = Field(DEFAULT_BLOCK_SIZE, ge=1, le=1 << 24)
    description: str = ""
    target_rel_err: float | None = Field(None, gt=0.0, lt=1.0, allow_inf_nan=False)
    """Adaptive precision: run more blocks per point until the relative standard error
    of the model's main estimate is at most this (``sequences`` is then the minimum)."""
    max_sequences: int | None = Field(None, ge=1, le=10**13)
    """Adaptive precision: the cap on sequences per point (required with the target)."""

    @model_validator(mode="after")
    def _adaptive(self) -> StudySection:
        if self.target_rel_err is None and self.max_sequences is not None:
            raise ValueError("max_sequences applies only with target_rel_err; set both or neither")
        if self.target_rel_err is not None:
            if self.max_sequences is None:
                raise ValueError(
                    "target_rel_err needs max_sequences (the cap on sequences per point)"
                )
            if self.max_sequences < self.sequences:
                raise ValueError(
                    f"max_sequences ({self.max_sequences}) must be at least sequences "
                    f"({self.sequences}), the minimum per point"
                )
        return self


@dataclass(frozen=True)
class Point:
    """One sweep point: its flat index, its coordinates and validated parameters."""

    index: int
    coords: dict[str, Any]
    params: ModelParams


@dataclass(frozen=True)
class Study:
    """A validated study: what to run, not how."""

    section: StudySection
    params: dict[str, Any]
    sweep: dict[str, list[Any]]
    source: str
    text: str
    overrides: tuple[str, ...] = field(default=())
    cost: StudyCost | None = field(default=None, compare=False)
    """the points' estimated cost, added up by ``load_study`` (docs/model.md §7.5)"""
    notes: tuple[str, ...] = field(default=(), compare=False)
    """What the overrides did that the user may not expect (a swept key fixed by a
    ``--set``: the axis is gone); ``mcstudy run`` prints them on stderr."""

    @property
    def name(self) -> str:
        return self.section.name

    def estimated_seconds(self) -> float | None:
        """Estimated seconds of one core for the whole study (None: not estimated)."""
        return None if self.cost is None else self.cost.seconds(self.section)

    @property
    def model(self) -> Model:
        return get_model(self.section.model)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.sweep.values())

    @property
    def n_points(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def canonical(self) -> dict[str, Any]:
        """The resolved study as plain data (what the results depend on)."""
        return {
            "study": self.section.model_dump(),
            "params": self.params,
            "sweep": self.sweep,
            # key order sets the dimensions and the point numbering
            "sweep_order": list(self.sweep),
        }

    def config_hash(self) -> str:
        """SHA-256 of the canonical resolved study (overrides included)."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def coords_of(self, index: int) -> dict[str, Any]:
        """The coordinates of point ``index`` (C order: the last key fastest), without
        validating its parameters (cheap: for reading results of a large sweep)."""
        if not 0 <= index < self.n_points:
            raise IndexError(f"point {index} of a sweep of {self.n_points}")
        picked = []
        for key, values in reversed(self.sweep.items()):
            index, k = divmod(index, len(values))
            picked.append((key, values[k]))
        return dict(reversed(picked))

    def point(self, index: int) -> Point:
        """Point ``index``, validated (as ``points()`` would give it)."""
        coords = self.coords_of(index)
        values = {**self.params, **coords}
        return Point(index, coords, _validate_params(self.model, self, values, coords))

    def points(self) -> Iterator[Point]:
        """All sweep points in C order, each validated."""
        model = self.model
        keys = list(self.sweep)
        for index, values in enumerate(itertools.product(*self.sweep.values())):
            coords = dict(zip(keys, values, strict=True))
            yield Point(
                index, coords, _validate_params(model, self, {**self.params, **coords}, coords)
            )


def _validate_params(
    model: Model, study: Study, values: dict[str, Any], coords: Mapping[str, Any]
) -> ModelParams:
    try:
        return model.Params.model_validate(values)
    except ValidationError as exc:
        lines = _format_validation(exc, {}, study.source, coords, values)
        raise ConfigError("\n".join(lines)) from None


def _format_validation(
    exc: ValidationError,
    origin: Mapping[tuple[str, str], str],
    source: str,
    coords: Mapping[str, Any],
    values: Mapping[str, Any],
    cross_field: bool = True,
) -> list[str]:
    """One line per problem, each naming where the value came from (``cross_field``:
    include the checks of several fields, which name the point instead)."""

    def where(key: str) -> str:
        table = "sweep" if key in coords else "params"
        return f"{origin.get((table, key), source)}: [{table}] {key}"

    lines = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a cross-field check
            point = f" (at sweep point {dict(coords)})" if coords else ""
            if cross_field:
                lines.append(f"{source}: [params]{point}: {msg}")
            continue
        key = loc[0]
        if err["type"] == "extra_forbidden":
            lines.append(f"{where(key)}: unknown parameter")
            continue
        if err["type"] == "missing":
            lines.append(f"{source}: [params] {key}: required parameter is missing")
            continue
        got = values.get(key, err.get("input"))
        lines.append(f"{where(key)} = {got!r}: expected {_expected(msg)}")
    return lines


def _expected(msg: str) -> str:
    msg = msg.removeprefix("Input should be ").removeprefix("input should be ")
    return msg[0].lower() + msg[1:] if msg else msg


def _load_toml(path: Path, what: str = "config file") -> dict[str, Any]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: not a regular file; expected a TOML {what}")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {st.st_size} bytes; a TOML {what} is at most 16 MiB")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _parse_value(text: str) -> Any:
    """A ``--set`` value: TOML (``0.01``, ``[1, 2]``, ``"v6.15"``), a bare word as a
    string, and a bracketed list of bare words as a list (``[v6.15, v6.3-kvm-pv]``)."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if text.startswith("[") and text.endswith("]"):
        items = [x.strip() for x in text[1:-1].split(",")]
        return [_parse_value(x) for x in items if x]
    return text


def parse_override(item: str) -> tuple[str, str, Any]:
    """``section.key=value`` or ``key=value`` (a study key or a parameter) -> (section,
    key, value).

    The value is read as a TOML value (``0.01``, ``[1, 2]``, ``"v6.15"``); a bare word
    that is not valid TOML is taken as a string, a bracketed list of bare words as a
    list. ``sweep.key`` with one value is a one-value sweep.
    """
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    lhs, rhs = item.split("=", 1)
    lhs = lhs.strip()
    section, _, key = lhs.rpartition(".")
    if not section:
        section = "study" if key in StudySection.model_fields else "params"
    if section not in _TABLES or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        hint = _did_you_mean(section, _TABLES) if section not in _TABLES else ""
        raise ConfigError(f"--set {item!r}: expected [study.|params.|sweep.]key=value{hint}")
    value = _parse_value(rhs)
    if section == "sweep" and not isinstance(value, list):
        value = [value]
    return section, key, value


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _wants_int(field: Any) -> bool:
    """True if a schema field takes integers but not floats."""
    ann = field.annotation
    args = set(typing.get_args(ann)) if typing.get_args(ann) else {ann}
    return int in args and float not in args and bool not in args


def _as_int(value: Any) -> Any:
    """``1e6`` -> ``1000000`` (an integral float given on the command line)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_as_int(v) for v in value]
    return value


class _Errors:
    """Every problem of a config, collected and reported at once (at most ``LIMIT``)."""

    LIMIT = 20

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        if line not in self.lines:
            self.lines.append(line)

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        shown = self.lines[: self.LIMIT]
        more = len(self.lines) - len(shown)
        if more:
            shown.append(f"... and {more} more problem(s)")
        raise ConfigError("\n".join(shown))


def _as_field_type(field: Any, value: Any) -> Any:
    """``value`` converted to the type of schema field ``field`` where it converts (1 ->
    1.0 for a float), else unchanged (the point validation reports it)."""
    if field is None:
        return value
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(field.annotation).validate_python(value, strict=False)
    except (ValidationError, TypeError, ValueError):
        return value


def _repeated(values: list[Any], field: Any) -> tuple[Any, Any] | None:
    """The first two values of a sweep list that are the same value of the field's type
    (``1`` and ``1.0``, ``0.0`` and ``-0.0`` are; so are two equal strings), or None."""
    seen: dict[Any, Any] = {}
    for v in values:
        typed = _as_field_type(field, v)
        try:
            key = (0, typed)
            hash(key)
        except TypeError:  # an unhashable value (a list): compared as text
            key = (1, repr(typed))
        if key in seen:
            return seen[key], v
        seen[key] = v
    return None


def sweep_size(sweep: Mapping[str, list[Any]]) -> int:
    """Number of points of a sweep: the product of its lists' lengths."""
    n = 1
    for values in sweep.values():
        n *= len(values)
    return n


def bytes_per_point(model: Model) -> int:
    """Estimated memory of one point in the coordinator (bytes; see POINT_BASE_BYTES)."""
    return POINT_BASE_BYTES + POINT_BYTES_PER_VALUE * len(model.point_variables())


def check_size(
    n_points: int, shape: list[int], source: str, max_points: int | None, per_point: int
) -> None:
    """ConfigError unless the sweep fits the point limit and the memory of this machine
    (``per_point`` bytes each): checked before anything is validated or written."""
    limit = MAX_POINTS if max_points is None else max_points
    dims = " x ".join(str(n) for n in shape) or "1"
    if n_points > limit:
        raise ConfigError(
            f"{source}: [sweep] has {n_points:,} points ({dims}); the limit is {limit:,} "
            "(one file per point in the run directory, and about "
            f"{per_point // 1024} KiB of memory per point while it runs): shrink the "
            "sweep, or raise the limit with --max-points N"
        )
    need = n_points * per_point
    if need < SMALL_BYTES:
        return  # fits any machine mcstudy runs on: no need to read /proc/meminfo
    available = _available_memory()
    if available is not None and need > available // 2:
        raise ConfigError(
            f"{source}: [sweep] has {n_points:,} points ({dims}): about {need / 2**30:.1f} GiB "
            f"of bookkeeping memory, more than half of the {available / 2**30:.1f} GiB "
            "available on this machine; split it into several studies"
        )


def _available_memory() -> int | None:
    """MemAvailable of this machine in bytes (None if it cannot be read)."""
    try:
        from mcstudy.kernel.procfs import parse_meminfo

        kb = parse_meminfo(Path("/proc/meminfo")).get("MemAvailable")
    except (McStudyError, OSError):
        return None
    return None if kb is None else kb * 1024


VARIANT_NAME_MAX = 80
"""Longest readable variant suffix of a default output name (else a hash of it)."""


def default_output(study: Study, params_files: Iterable[str | Path] = ()) -> Path:
    """Where ``mcstudy run`` writes ``study`` without ``--out``: ``outputs/<name>.nc``,
    and for a variant (``--set`` or ``--params`` given, ``study.name`` not set) a name of
    its own made of the overrides, so a variant never meets the run directory of the
    study it varies: ``--set load=bursts --set kernel=v6.3-kvm-pv`` on ``default`` ->
    ``outputs/default-load-bursts-kernel-v6.3-kvm-pv.nc``. The same command gives the
    same name (``--resume`` finds it)."""
    name = study.name
    items = list(study.overrides)
    files = [Path(f) for f in params_files]
    if any(parse_key(item) == ("study", "name") for item in items):
        return Path("outputs") / f"{name}.nc"
    parts = []
    for item in items:
        lhs, _, rhs = item.partition("=")
        key = lhs.strip().removeprefix("params.").removeprefix("study.")
        value = re.sub(r"\s*,\s*", "+", re.sub(r"[][\"']", "", rhs.strip()))
        parts.append(f"{key}-{value}")
    parts += [f"params-{f.stem}" for f in files]
    if not parts:
        return Path("outputs") / f"{name}.nc"
    suffix = "-".join(parts)
    if len(suffix) > VARIANT_NAME_MAX or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", suffix):
        blob = "\0".join(items + [str(f) for f in files])
        suffix = "variant-" + hashlib.sha256(blob.encode()).hexdigest()[:10]
    return Path("outputs") / f"{name}-{suffix}.nc"


def parse_key(item: str) -> tuple[str, str] | None:
    """(section, key) of a ``--set`` item, or None if it is malformed."""
    try:
        section, key, _ = parse_override(item)
    except ConfigError:
        return None
    return section, key


def default_config() -> Path:
    """The config ``mcstudy run`` runs without one: ``configs/default.toml`` of the
    checkout it is started in, else the copy shipped inside the package (the same
    file: a link to it in the repository)."""
    if DEFAULT_CONFIG.is_file():
        return DEFAULT_CONFIG
    return PACKAGED_DEFAULT


def load_study(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    params_files: list[str | Path] | tuple[str | Path, ...] = (),
    max_points: int | None = None,
    max_cpu_hours: float | None = None,
) -> Study:
    """Read, merge and validate a study config (raises ConfigError with every problem).

    Each message names where the value came from: the config file, a ``--params`` file
    or the ``--set`` option. ``max_points`` overrides the ``MAX_POINTS`` limit,
    ``max_cpu_hours`` the ``mcstudy.budget.MAX_CPU_HOURS`` budget.
    """
    path = Path(path)
    raw = _load_toml(path)
    source = str(path)
    errors = _Errors()
    for extra in raw:
        if extra not in _TABLES:
            errors.add(
                f"{source}: unknown table [{extra}]; expected [study], [params], [sweep]"
                + _did_you_mean(extra, _TABLES)
            )
    for table in _TABLES:
        if table in raw and not isinstance(raw[table], dict):
            errors.add(f"{source}: {table} must be a table ([{table}])")
    errors.raise_if_any()
    study_raw = dict(raw.get("study", {}))
    params = dict(raw.get("params", {}))
    sweep = dict(raw.get("sweep", {}))
    origin: dict[tuple[str, str], str] = {}
    for table, values in (("study", study_raw), ("params", params), ("sweep", sweep)):
        for key in values:
            origin[(table, key)] = source

    for pf in params_files:
        frag = _load_toml(Path(pf), "--params file")
        frag_params = frag.get("params", frag)
        if not isinstance(frag_params, dict):
            raise ConfigError(f"{pf}: expected a [params] table")
        for key, value in frag_params.items():
            params[key] = value
            origin[("params", key)] = str(pf)

    from_option: set[tuple[str, str]] = set()
    fixed: list[tuple[str, str, list[Any]]] = []  # (--set item, key, the axis it removed)
    points_before = sweep_size(sweep) if all(isinstance(v, list) for v in sweep.values()) else 0
    for item in overrides:
        try:
            section, key, value = parse_override(item)
        except ConfigError as exc:
            errors.add(str(exc))
            continue
        target = {"study": study_raw, "params": params, "sweep": sweep}[section]
        target[key] = value
        origin[(section, key)] = f"--set {item}"
        from_option.add((section, key))
        if section == "params":
            axis = sweep.pop(key, None)
            if isinstance(axis, list) and len(axis) > 1:
                fixed.append((item, key, axis))
        elif section == "sweep":
            params.pop(key, None)
    errors.raise_if_any()

    def where(table: str, key: str) -> str:
        return f"{origin.get((table, key), source)}: [{table}] {key}"

    for key in from_option:
        if key[0] == "study" and key[1] in StudySection.model_fields:
            if _wants_int(StudySection.model_fields[key[1]]):
                study_raw[key[1]] = _as_int(study_raw[key[1]])
    if "study" not in raw and not study_raw:
        raise ConfigError(f"{source}: missing [study] table")
    section: StudySection | None = None
    try:
        section = StudySection.model_validate(study_raw)
    except ValidationError as exc:
        for err in exc.errors():
            if not err["loc"]:  # a cross-key check of [study]
                errors.add(f"{source}: [study]: {err['msg'].removeprefix('Value error, ')}")
                continue
            key = str(err["loc"][0])
            if err["type"] == "extra_forbidden":
                errors.add(
                    f"{where('study', key)}: unknown key"
                    + (
                        _did_you_mean(key, StudySection.model_fields)
                        or f"; expected one of {', '.join(StudySection.model_fields)}"
                    )
                )
            elif err["type"] == "missing":
                errors.add(f"{source}: [study] {key}: required key is missing")
            else:
                errors.add(
                    f"{where('study', key)} = {study_raw.get(key)!r}: expected "
                    f"{_expected(err['msg'])}"
                )
    model_name = section.model if section is not None else study_raw.get("model")
    if not isinstance(model_name, str) or not is_model(model_name):
        if isinstance(model_name, str):  # (a missing or mistyped model is reported above)
            errors.add(
                f"{where('study', 'model')} = {model_name!r}: expected one of "
                f"{', '.join(model_names())}{_did_you_mean(model_name, model_names())}"
            )
        errors.raise_if_any()
    model = get_model(model_name)
    known = model.Params.model_fields
    before = len(errors.lines)
    for table, values in (("params", params), ("sweep", sweep)):
        for key in values:
            if key not in known:
                errors.add(
                    f"{where(table, key)}: unknown parameter of model {model_name!r}"
                    + _did_you_mean(key, known)
                )
            elif (table, key) in from_option and _wants_int(known[key]):
                values[key] = _as_int(values[key])
    for key, values in sweep.items():
        if key in params:
            errors.add(f"{source}: {key} is in both [params] and [sweep]; keep one")
        elif not isinstance(values, list):
            errors.add(f"{where('sweep', key)} = {values!r}: expected a list of values")
        elif not values:
            errors.add(f"{where('sweep', key)}: empty list; expected at least one value")
        elif (same := _repeated(values, known.get(key))) is not None:
            a, b = same
            what = f"{a!r} and {b!r} are the same value" if repr(a) != repr(b) else f"{a!r} twice"
            errors.add(f"{where('sweep', key)}: repeated values {values!r} ({what})")
    cost = StudyCost()
    if len(errors.lines) == before:  # the sweep is well formed: size it, validate its points
        shape = [len(v) for v in sweep.values()]
        check_size(sweep_size(sweep), shape, source, max_points, bytes_per_point(model))
        cross: dict[str, list[dict[str, Any]]] = {}  # a cross-field check: which points
        for values, coords in _point_values(params, sweep):
            try:
                cost.add(model.Params.model_validate(values))
            except ValidationError as exc:
                for err in exc.errors():
                    if not err["loc"]:
                        msg = err["msg"].removeprefix("Value error, ")
                        cross.setdefault(msg, []).append(coords)
                for line in _format_validation(exc, origin, source, coords, values, False):
                    errors.add(line)
                if len(errors.lines) + len(cross) > _Errors.LIMIT:
                    break
        for msg, where in cross.items():
            at = f" (at sweep point {where[0]}" if where[0] else ""
            if len(where) > 1:
                at += f" and {len(where) - 1} more"
            errors.add(f"{source}: [params]{at + ')' if at else ''}: {msg}")
    errors.raise_if_any()
    assert section is not None
    check_budget(cost, section, source, max_cpu_hours)
    notes = [_axis_note(*f, source) for f in fixed]
    if notes:
        n = sweep_size(sweep)
        notes[-1] += f"; the sweep has {n:,} point{'s' * (n != 1)} instead of {points_before:,}"
    text = path.read_text(encoding="utf-8")
    return Study(section, params, sweep, source, text, tuple(overrides), cost, tuple(notes))


def _axis_note(item: str, key: str, axis: list[Any], source: str) -> str:
    """The note on a ``--set key=value`` that fixes a key the config sweeps."""
    shown = ", ".join(map(str, axis[:6])) + (", ..." if len(axis) > 6 else "")
    value = item.split("=", 1)[1].strip()
    return (
        f"--set {item} fixes {key}, which {Path(source).name} sweeps over {len(axis)} values "
        f"({shown}): that axis is removed (to keep it with one value: --set sweep.{key}={value})"
    )


def _point_values(
    params: dict[str, Any], sweep: dict[str, list[Any]]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    keys = list(sweep)
    for values in itertools.product(*sweep.values()):
        coords = dict(zip(keys, values, strict=True))
        yield {**params, **coords}, coords
