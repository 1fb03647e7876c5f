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

import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mcstudy.engine.blocks import DEFAULT_BLOCK_SIZE
from mcstudy.errors import ConfigError
from mcstudy.models.base import Model, ModelParams
from mcstudy.models.registry import get_model, model_names

DEFAULT_CONFIG = Path("configs") / "default.toml"
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

    @property
    def name(self) -> str:
        return self.section.name

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

    def points(self) -> Iterator[Point]:
        """All sweep points in C order, each validated."""
        model = self.model
        keys = list(self.sweep)
        for index, values in enumerate(itertools.product(*self.sweep.values())):
            coords = dict(zip(keys, values, strict=True))
            yield Point(
                index, coords, _validate_params(model, self, {**self.params, **coords}, coords)
            )


def _where(study_source: str, coords: Mapping[str, Any], key: str) -> str:
    if key in coords:
        return f"{study_source}: [sweep] {key}"
    return f"{study_source}: [params] {key}"


def _validate_params(
    model: Model, study: Study, values: dict[str, Any], coords: Mapping[str, Any]
) -> ModelParams:
    try:
        return model.Params.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, study.source, coords, values)) from None


def _format_validation(
    exc: ValidationError, source: str, coords: Mapping[str, Any], values: Mapping[str, Any]
) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(x) for x in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if not loc:  # a cross-field check
            point = f" (at sweep point {dict(coords)})" if coords else ""
            lines.append(f"{source}: [params]{point}: {msg}")
            continue
        key = loc[0]
        if err["type"] == "extra_forbidden":
            lines.append(f"{_where(source, coords, key)}: unknown parameter")
            continue
        if err["type"] == "missing":
            lines.append(f"{source}: [params] {key}: required parameter is missing")
            continue
        got = values.get(key, err.get("input"))
        lines.append(f"{_where(source, coords, key)} = {got!r}: expected {_expected(msg)}")
    return "\n".join(lines)


def _expected(msg: str) -> str:
    msg = msg.removeprefix("Input should be ").removeprefix("input should be ")
    return msg[0].lower() + msg[1:] if msg else msg


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if not path.is_file():
        raise ConfigError(f"{path}: not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def parse_override(item: str) -> tuple[str, str, Any]:
    """``section.key=value`` or ``key=value`` (a parameter) -> (section, key, value).

    The value is read as a TOML value (``0.01``, ``[1, 2]``, ``"v6.15"``); a bare word
    that is not valid TOML is taken as a string.
    """
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    lhs, rhs = item.split("=", 1)
    lhs = lhs.strip()
    section, _, key = lhs.rpartition(".")
    if not section:
        section = "study" if key in StudySection.model_fields else "params"
    if section not in _TABLES or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise ConfigError(f"--set {item!r}: expected [study.|params.|sweep.]key=value")
    try:
        value = tomllib.loads(f"v = {rhs.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()
    return section, key, value


def load_study(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    params_files: list[str | Path] | tuple[str | Path, ...] = (),
) -> Study:
    """Read, merge and validate a study config (raises ConfigError with one message)."""
    path = Path(path)
    raw = _load_toml(path)
    source = str(path)
    for extra in raw:
        if extra not in _TABLES:
            raise ConfigError(
                f"{source}: unknown table [{extra}]; expected [study], [params], [sweep]"
            )
    for table in _TABLES:
        if table in raw and not isinstance(raw[table], dict):
            raise ConfigError(f"{source}: {table} must be a table ([{table}])")
    study_raw = dict(raw.get("study", {}))
    params = dict(raw.get("params", {}))
    sweep = dict(raw.get("sweep", {}))

    for pf in params_files:
        frag = _load_toml(Path(pf))
        frag_params = frag.get("params", frag)
        if not isinstance(frag_params, dict):
            raise ConfigError(f"{pf}: expected a [params] table")
        params.update(frag_params)

    for item in overrides:
        section, key, value = parse_override(item)
        target = {"study": study_raw, "params": params, "sweep": sweep}[section]
        target[key] = value
        if section == "params":
            sweep.pop(key, None)
        elif section == "sweep":
            params.pop(key, None)

    if "study" not in raw and not study_raw:
        raise ConfigError(f"{source}: missing [study] table")
    try:
        section = StudySection.model_validate(study_raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            if not err["loc"]:  # a cross-key check of [study]
                lines.append(f"{source}: [study]: {err['msg'].removeprefix('Value error, ')}")
                continue
            key = str(err["loc"][0])
            if err["type"] == "extra_forbidden":
                lines.append(
                    f"{source}: [study] {key}: unknown key; expected one of {', '.join(StudySection.model_fields)}"
                )
            elif err["type"] == "missing":
                lines.append(f"{source}: [study] {key}: required key is missing")
            else:
                lines.append(
                    f"{source}: [study] {key} = {study_raw.get(key)!r}: expected {_expected(err['msg'])}"
                )
        raise ConfigError("\n".join(lines)) from None
    if section.model not in model_names():
        raise ConfigError(
            f"{source}: [study] model = {section.model!r}: expected one of {', '.join(model_names())}"
        )
    model = get_model(section.model)
    known = model.Params.model_fields
    for key, values in sweep.items():
        if key not in known:
            raise ConfigError(
                f"{source}: [sweep] {key}: unknown parameter of model {section.model!r}"
            )
        if key in params:
            raise ConfigError(f"{source}: {key} is in both [params] and [sweep]; keep one")
        if not isinstance(values, list):
            raise ConfigError(f"{source}: [sweep] {key} = {values!r}: expected a list of values")
        if not values:
            raise ConfigError(f"{source}: [sweep] {key}: empty list; expected at least one value")
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"{source}: [sweep] {key}: repeated values {values!r}")
    for key in params:
        if key not in known:
            raise ConfigError(
                f"{source}: [params] {key}: unknown parameter of model {section.model!r}"
            )

    study = Study(
        section, params, sweep, source, path.read_text(encoding="utf-8"), tuple(overrides)
    )
    for _ in study.points():  # validate every point now, before anything runs
        pass
    return study
