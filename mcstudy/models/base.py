"""The one interface every model implements, and the model registry.

A model turns validated parameters into per-block tallies (JIT kernels) and tallies
into estimates; the engine, the study runner, the store and the reports only talk to
this interface and never special-case a model.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from mcstudy.engine.blocks import BlockPlan, Tallies


class ModelParams(BaseModel):
    """Base of every model's parameter schema: strict types, unknown keys rejected.

    Each field's ``json_schema_extra={"units": ...}`` gives its unit, reused as the
    ``units`` attribute of the sweep coordinate in the output.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class Variable:
    """An output variable: netCDF ``units`` and ``long_name``, and its dtype."""

    units: str
    long_name: str
    dtype: str = "float64"


class Model(ABC):
    """A Monte Carlo model: parameters -> tallies -> estimates (+ exact values)."""

    name: ClassVar[str]
    Params: ClassVar[type[ModelParams]]
    int_tallies: ClassVar[tuple[str, ...]]
    float_tallies: ClassVar[tuple[str, ...]]
    variables: ClassVar[dict[str, Variable]]
    main_estimate: ClassVar[str]
    """The estimate whose relative error drives adaptive precision."""

    @abstractmethod
    def prepare(self, params: ModelParams) -> Any:
        """Pack validated parameters into the arrays the kernel takes."""

    @abstractmethod
    def simulate(
        self, prepared: Any, key: tuple[int, int], plan: BlockPlan, first_block: int, n_blocks: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run blocks [first_block, first_block + n_blocks): per-block int and float tallies."""

    @abstractmethod
    def estimates(self, prepared: Any, tallies: Tallies) -> dict[str, float]:
        """Estimates (with intervals) from reduced tallies."""

    def exact(self, params: ModelParams) -> dict[str, float]:
        """Exact values where an exact solver applies (empty dict otherwise)."""
        return {}

    def derived(self, params: ModelParams) -> dict[str, float]:
        """Deterministic per-point quantities derived from the parameters."""
        return {}

    def warmup(self) -> float:
        """Compile (or load from cache) the kernels on a tiny input; returns seconds."""
        t0 = time.perf_counter()
        params = self.Params.model_validate(self.warmup_params())
        prepared = self.prepare(params)
        plan = BlockPlan(sequences=2, block_size=1)
        self.simulate(prepared, (1, 2), plan, 0, 2)
        self.exact(params)
        return time.perf_counter() - t0

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        """Parameters of the tiny warm-up run."""
        return {}


_REGISTRY: dict[str, type[Model]] = {}


def register(cls: type[Model]) -> type[Model]:
    """Class decorator adding a model to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def model_names() -> tuple[str, ...]:
    _load_builtin_models()
    return tuple(_REGISTRY)


def builtin_model_names() -> tuple[str, ...]:
    """Models shipped with mcstudy (not ones registered at run time, e.g. by tests)."""
    _load_builtin_models()
    return tuple(n for n, cls in _REGISTRY.items() if cls.__module__.startswith("mcstudy.models."))


def get_model(name: str) -> Model:
    """An instance of the model called ``name``."""
    _load_builtin_models()
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(_REGISTRY)}") from None


def _load_builtin_models() -> None:
    import mcstudy.models.gather
    import mcstudy.models.pressure
    import mcstudy.models.thp  # noqa: F401
