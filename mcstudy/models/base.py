"""The one interface every model implements.

A model turns validated parameters into per-block tallies (JIT kernels) and tallies
into estimates; the engine, the sweep, the storage and the reports only talk to this
interface and to the model's declarations (``mcstudy.models.contract``), and never
special-case a model. Models are registered in ``mcstudy.models.registry``.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from mcstudy.engine.blocks import BlockPlan, run_driver
from mcstudy.engine.tallies import Tallies, TallyLayout
from mcstudy.findings import Finding
from mcstudy.models.contract import (
    EstimateSpec,
    Variable,
    cell_name,
    check_declarations,
    point_specs,
    point_variables,
)


@dataclass(frozen=True)
class Warmup:
    """One kernel variant of a model to compile: the parameters of a tiny run that
    takes its code path, and whether its points also need the exact solver."""

    params: dict[str, Any]
    exact: bool = True
    stream: tuple[int, int] = (1, 2)
    """Philox key of the tiny run (a model picks one on which its tiny run is quick)"""

    @property
    def key(self) -> str:
        """Identity of the variant (a process compiles each key once)."""
        return json.dumps([self.params, self.exact], sort_keys=True, default=str)


def human_seconds(seconds: float) -> str:
    """A duration in the unit that reads best: ``"40 s"``, ``"3.2 min"``, ``"5.1 hours"``,
    ``"2.3 days"``, ``"4.1e+03 years"`` (three significant digits)."""
    if not math.isfinite(seconds):
        return "forever"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("hours", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


@dataclass(frozen=True)
class Cost:
    """What one point costs before it runs: the model's own estimate of the events of one
    sequence, and its measured events per second on one core (``docs/model.md`` §7.5)."""

    events_per_sequence: float
    events_per_second: float
    what: str
    """what the model counts as an event"""

    def seconds(self, sequences: float = 1.0) -> float:
        """Estimated seconds of one core for ``sequences`` sequences."""
        return self.events_per_sequence * sequences / self.events_per_second


@dataclass(frozen=True)
class Fact:
    """A fact a point's simulation used that its parameters do not state: a kernel
    profile's behaviour flag, its description. Stored in the dataset with the point
    (``mcstudy.storage.meaning``), so reports never look it up again."""

    value: bool | int | float | str
    units: str
    long_name: str


class ModelParams(BaseModel):
    """Base of every model's parameter schema: strict types, unknown keys rejected.

    Each field's ``json_schema_extra={"units": ...}`` gives its unit, reused as the
    ``units`` attribute of the sweep coordinate in the output.

    The event budget (``docs/model.md`` §7.5), which every model implements:
    ``expected_events_per_sequence()`` estimates the events of one sequence, in the unit
    ``EVENTS``; ``EVENTS_PER_SECOND`` is how many of them one core simulates per second
    (measured, see each model's value); ``MAX_EVENTS_PER_SEQUENCE`` is the most one
    sequence may have. The model's validator ends with ``check_sequence_events()``, and
    the start of a study (``mcstudy.budget.check_budget``) adds up every point's cost
    against the study's budget before anything is written.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    EVENTS: ClassVar[str] = "events"
    """what counts as one event (``"uniformised chain events"``)"""
    EVENTS_PER_SECOND: ClassVar[float] = 0.0
    MAX_EVENTS_PER_SEQUENCE: ClassVar[float] = 0.0
    TOO_MANY_EVENTS_HINT: ClassVar[str] = "shorten horizon_s or lower the rates"

    def expected_events_per_sequence(self) -> float:
        """A rough (upper) estimate of the events one sequence simulates."""
        raise NotImplementedError(f"{type(self).__name__} has no event estimate")

    def cost(self) -> Cost:
        """This point's estimated events per sequence and the model's measured rate."""
        return Cost(self.expected_events_per_sequence(), self.EVENTS_PER_SECOND, self.EVENTS)

    def check_sequence_events(self) -> None:
        """ValueError (with the estimate and its time on one core) when one sequence would
        simulate more than ``MAX_EVENTS_PER_SEQUENCE`` events."""
        c = self.cost()
        limit = self.MAX_EVENTS_PER_SEQUENCE
        if not c.events_per_sequence <= limit:
            raise ValueError(
                f"about {c.events_per_sequence:.3g} events per sequence (counting {c.what}), "
                f"at most {limit:.3g}: one sequence alone would take about "
                f"{human_seconds(c.seconds())} of one core (estimated at "
                f"{c.events_per_second:.3g} per second); {self.TOO_MANY_EVENTS_HINT}"
            )

    def resolved(self) -> dict[str, tuple[Any, str]]:
        """What the model uses for the parameters left unset (None) that it derives from
        others: name -> (value, what it was derived from). A model lists the values its
        own resolution computes (never a second derivation); reports show them."""
        return {}

    def facts(self) -> dict[str, Fact]:
        """The facts this point uses beyond its parameters (kernel profile flags, the
        load's description): name -> :class:`Fact`. Stored in the dataset."""
        return {}


class Model(ABC):
    """A Monte Carlo model: parameters -> tallies -> estimates (+ exact values).

    Declarations (class attributes): ``name``; ``Params`` (the schema); ``tallies`` (the
    column layout its kernels write); ``variables`` (every stored output, in dataset
    order); ``estimate_specs`` (which variables form each estimate); ``main_estimate``
    (the estimate whose relative error drives adaptive precision) and ``main_at`` (its
    cell when it has output dimensions); ``output_coords`` (the coordinates of the
    variables' own output dimensions, ``Variable.dims``).
    """

    name: ClassVar[str]
    Params: ClassVar[type[ModelParams]]
    tallies: ClassVar[TallyLayout]
    variables: ClassVar[dict[str, Variable]]
    estimate_specs: ClassVar[tuple[EstimateSpec, ...]]
    main_estimate: ClassVar[str]
    main_at: ClassVar[dict[str, Any]] = {}
    output_coords: ClassVar[dict[str, tuple[Any, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params = cls.__dict__.get("Params")
        if params is not None:
            own = params.expected_events_per_sequence
            if own is ModelParams.expected_events_per_sequence or not (
                params.EVENTS_PER_SECOND > 0.0 and params.MAX_EVENTS_PER_SEQUENCE > 0.0
            ):
                raise TypeError(
                    f"model {cls.__dict__.get('name', cls.__name__)}: {params.__name__} must "
                    "implement expected_events_per_sequence() and set EVENTS_PER_SECOND and "
                    "MAX_EVENTS_PER_SEQUENCE (the event budget, docs/model.md §7.5)"
                )
        if "variables" in cls.__dict__ and "estimate_specs" in cls.__dict__:
            check_declarations(f"model {cls.__dict__.get('name', cls.__name__)}",
                               cls.variables, cls.estimate_specs)  # fmt: skip
            coords = cls.__dict__.get("output_coords", cls.output_coords)
            for vname, var in cls.variables.items():
                missing = [d for d in var.dims if d not in coords]
                if missing:
                    raise ValueError(
                        f"model {cls.__name__}: variable {vname} has dimensions without "
                        f"coordinates in output_coords: {', '.join(missing)}"
                    )
            names = {s.name for s in cls.estimate_specs}
            main = cls.__dict__.get("main_estimate")
            if main is not None and main not in names:
                raise ValueError(f"model {cls.__name__}: main estimate {main} is not declared")
            if main is not None:
                at = cls.__dict__.get("main_at", cls.main_at)
                dims = cls.variables[main].dims
                if set(at) != set(dims) or any(at[d] not in coords[d] for d in dims):
                    raise ValueError(
                        f"model {cls.__name__}: main_at {at} must give one coordinate of "
                        f"each dimension of {main} {dims}"
                    )

    @classmethod
    def point_variables(cls) -> dict[str, Variable]:
        """The scalar variables of one point's values: one per cell of each variable."""
        return point_variables(cls.variables, cls.output_coords)

    @classmethod
    def point_specs(cls) -> tuple[EstimateSpec, ...]:
        """The estimates of one point's values: one spec per cell of each estimate."""
        return point_specs(cls.estimate_specs, cls.variables, cls.output_coords)

    @classmethod
    def main_key(cls) -> str:
        """The key of the main estimate in a point's values (its cell ``main_at``)."""
        return cell_name(cls.main_estimate, cls.variables[cls.main_estimate].dims, cls.main_at)

    @classmethod
    def main_spec(cls) -> EstimateSpec:
        """The main estimate's spec over a point's values (its cell's companions)."""
        key = cls.main_key()
        return next(s for s in cls.point_specs() if s.name == key)

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

    def simulate(
        self, prepared: Any, key: tuple[int, int], plan: BlockPlan, first_block: int, n_blocks: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run blocks [first_block, first_block + n_blocks): per-block int and float tallies.

        By default the block driver and arguments ``kernel_call`` names, through
        ``engine.blocks.run_driver``; a model with another way to run blocks overrides this.
        """
        driver, args = self.kernel_call(prepared)
        return run_driver(driver, key, plan, first_block, n_blocks, *args)

    def kernel_call(self, prepared: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The block driver (``driver(k0, k1, first_block, n_blocks, block_size,
        sequences, *args)``) and its ``args`` for a prepared point."""
        raise NotImplementedError(f"model {self.name!r} defines neither simulate nor kernel_call")

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

    def warmup(self, params: Iterable[ModelParams] | None = None) -> float:
        """Compile (or load from Numba's cache) the kernels that the parameter sets
        ``params`` need (None: every variant this model has); returns seconds.

        Only the variants ``warmup_variants`` names are compiled: a study whose points
        all take one code path does not pay for the others.
        """
        t0 = time.perf_counter()
        if params is None:
            self.run_warmups(self.all_warmup_variants(), [])
        else:
            params = list(params)
            self.run_warmups(self.warmup_variants(params), params)
        return time.perf_counter() - t0

    def run_warmups(self, variants: list[Warmup], params: list[ModelParams]) -> None:
        """Run the warm-ups of ``variants`` for points with parameters ``params``. A model
        that compiles more for some points (the host study: the zone's level recursion,
        when a point's law is not stored) overrides this."""
        for variant in variants:
            self.warmup_variant(variant)

    def warmup_variants(self, params: Iterable[ModelParams]) -> list[Warmup]:
        """The kernel variants that points with these parameters run, each as a tiny
        warm-up (distinct ``key``s; compiling one need not compile another). A model
        with several top-level kernels, or an exact solver only some points use,
        overrides this; the default is one variant, ``warmup_params()``."""
        return [Warmup(self.warmup_params())]

    def all_warmup_variants(self) -> list[Warmup]:
        """Every variant of this model (what ``warmup()`` compiles without arguments)."""
        return self.warmup_variants([])

    def warmup_variant(self, variant: Warmup) -> None:
        """Run one variant's tiny warm-up: prepare, two one-sequence blocks, and the
        exact solver if the variant needs it."""
        params = self.Params.model_validate(variant.params)
        prepared = self.prepare(params)
        plan = BlockPlan(sequences=2, block_size=1)
        self.simulate(prepared, variant.stream, plan, 0, 2)
        if variant.exact:
            self.exact(params)

    @classmethod
    def warmup_params(cls) -> dict[str, Any]:
        """Parameters of the tiny warm-up run."""
        return {}
