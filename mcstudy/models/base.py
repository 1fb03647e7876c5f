"""The one interface every model implements.

A model turns validated parameters into per-block tallies (JIT kernels) and tallies
into estimates; the engine, the sweep, the storage and the reports only talk to this
interface and to the model's declarations (``mcstudy.models.contract``), and never
special-case a model. Models are registered in ``mcstudy.models.registry``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from mcstudy.engine.blocks import BlockPlan
from mcstudy.engine.tallies import Tallies, TallyLayout
from mcstudy.findings import Finding
from mcstudy.models.contract import EstimateSpec, Variable, check_declarations


class ModelParams(BaseModel):
    """Base of every model's parameter schema: strict types, unknown keys rejected.

    Each field's ``json_schema_extra={"units": ...}`` gives its unit, reused as the
    ``units`` attribute of the sweep coordinate in the output.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Model(ABC):
    """A Monte Carlo model: parameters -> tallies -> estimates (+ exact values).

    Declarations (class attributes): ``name``; ``Params`` (the schema); ``tallies`` (the
    column layout its kernels write); ``variables`` (every stored output, in dataset
    order); ``estimate_specs`` (which variables form each estimate); ``main_estimate``
    (the estimate whose relative error drives adaptive precision).
    """

    name: ClassVar[str]
    Params: ClassVar[type[ModelParams]]
    tallies: ClassVar[TallyLayout]
    variables: ClassVar[dict[str, Variable]]
    estimate_specs: ClassVar[tuple[EstimateSpec, ...]]
    main_estimate: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "variables" in cls.__dict__ and "estimate_specs" in cls.__dict__:
            check_declarations(f"model {cls.__dict__.get('name', cls.__name__)}",
                               cls.variables, cls.estimate_specs)  # fmt: skip
            names = {s.name for s in cls.estimate_specs}
            main = cls.__dict__.get("main_estimate")
            if main is not None and main not in names:
                raise ValueError(f"model {cls.__name__}: main estimate {main} is not declared")

    @classmethod
    def estimate_spec(cls, name: str) -> EstimateSpec:
        """The declaration of estimate ``name`` (KeyError if it has none)."""
        for spec in cls.estimate_specs:
            if spec.name == name:
                return spec
        raise KeyError(f"model {cls.name!r} declares no estimate {name!r}")

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

    def findings(self, prepared: Any, values: dict[str, Any]) -> list[Finding]:
        """The model's own findings at one point (``point`` left None): an unfinished
        transient, an estimate whose event cannot happen or was never observed.
        Disagreements with exact values are found for every model by the sweep."""
        return []

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
