"""What a model declares to the rest of mcstudy: its stored variables and its estimates.

The sweep, the storage and the reports never parse variable names. They read:

* :class:`Variable`: one stored output (netCDF ``units``, ``long_name``, dtype);
* :class:`EstimateSpec`: one Monte Carlo estimate, naming the variables that hold it, its
  kind, how its 95 % interval is made, its standard error or interval, its exact
  companion and its sample size.

The storage writes each spec onto its variable as attributes (:func:`spec_attrs`), so a
dataset describes its own estimates; :func:`spec_from_attrs` reads them back.

A variable may have output dimensions of its own (``Variable.dims``, e.g. ``ipi_policy``
when one run computes every policy on common random numbers), with coordinates the model
declares (``Model.output_coords``). The dataset stores it with those dimensions after the
sweep's. A point's values hold one entry per cell, keyed :func:`cell_name` (built from the
declarations, never parsed); :func:`point_variables` and :func:`point_specs` give the
per-cell view that per-point code (findings, agreement checks) reads.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

#: what an estimate is
KINDS = ("proportion", "mean", "rate", "ratio", "quantile")
#: how its 95 % interval is made (``docs/model.md`` §6.1)
INTERVALS = {
    "wilson": "Wilson score interval of k/n",
    "score": "Poisson score interval at the effective number of events (estimate / "
    "standard error)^2, Student-t widened; never [0, 0]",
    "wilson-design": "Wilson score interval at the effective sample size p (1 - p) / "
    "standard error^2 (clustered trials), Student-t widened",
    "cornish-fisher": "Cornish-Fisher quantile of a mixed Poisson count from its mean and "
    "variance over time, delta-method standard error across sequences, Student-t widened",
    "normal": "estimate +- Student's t_{0.975, n-1} standard errors across n sequences",
    "wilson-inversion": "quantile of a count, inverting Wilson intervals of its CDF",
}
SPEC_ATTR = "mcstudy_estimate"
"""Variable attribute holding the JSON of an :class:`EstimateSpec`."""


@dataclass(frozen=True)
class Variable:
    """A stored output variable: netCDF ``units`` and ``long_name``, its dtype, and its
    output dimensions (after the sweep's; their coordinates: ``Model.output_coords``)."""

    units: str
    long_name: str
    dtype: str = "float64"
    dims: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimateSpec:
    """A Monte Carlo estimate and the variables that go with it.

    ``name`` holds the estimate; ``stderr`` its standard error and/or ``ci`` the low and
    high ends of its 95 % interval; ``exact`` the exact value where a solver applies and
    ``exact_var`` the exact variance of one sequence's value (so a z-score can use the
    exact noise); ``n`` the variable holding its sample size.
    """

    name: str
    kind: str
    interval: str
    stderr: str | None = None
    ci: tuple[str, str] | None = None
    exact: str | None = None
    exact_var: str | None = None
    n: str = "sequences"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"estimate {self.name}: kind {self.kind!r} not in {KINDS}")
        if self.interval not in INTERVALS:
            raise ValueError(f"estimate {self.name}: interval {self.interval!r} unknown")
        if self.stderr is None and self.ci is None:
            raise ValueError(f"estimate {self.name}: needs a standard error or an interval")

    def companions(self) -> list[str]:
        """Every variable that belongs to this estimate (itself included)."""
        out = [self.name]
        for v in (self.stderr, self.exact, self.exact_var):
            if v is not None:
                out.append(v)
        if self.ci is not None:
            out.extend(self.ci)
        out.append(self.n)
        return out

    def with_variables(self, names: Iterable[str]) -> EstimateSpec:
        """This spec without companions that ``names`` lacks (e.g. an exact column)."""
        have = set(names)
        return EstimateSpec(
            name=self.name,
            kind=self.kind,
            interval=self.interval,
            stderr=self.stderr if self.stderr in have else None,
            ci=self.ci if self.ci is not None and set(self.ci) <= have else None,
            exact=self.exact if self.exact in have else None,
            exact_var=self.exact_var if self.exact_var in have else None,
            n=self.n,
        )


def spec_attrs(spec: EstimateSpec) -> dict[str, str]:
    """The attributes that record ``spec`` on its variable in a dataset."""
    body = {
        "kind": spec.kind,
        "interval": spec.interval,
        "stderr": spec.stderr,
        "ci": list(spec.ci) if spec.ci else None,
        "exact": spec.exact,
        "exact_var": spec.exact_var,
        "n": spec.n,
    }
    ancillary = [v for v in spec.companions()[1:]]
    return {
        SPEC_ATTR: json.dumps(body, sort_keys=True),
        "ancillary_variables": " ".join(ancillary),
    }


def spec_from_attrs(name: str, attrs: Mapping[str, Any]) -> EstimateSpec | None:
    """The spec recorded on variable ``name`` by :func:`spec_attrs` (None if none)."""
    text = attrs.get(SPEC_ATTR)
    if not text:
        return None
    body = json.loads(str(text))
    return EstimateSpec(
        name=name,
        kind=body["kind"],
        interval=body["interval"],
        stderr=body.get("stderr"),
        ci=tuple(body["ci"]) if body.get("ci") else None,  # type: ignore[arg-type]
        exact=body.get("exact"),
        exact_var=body.get("exact_var"),
        n=body.get("n") or "sequences",
    )


def cell_name(name: str, dims: Sequence[str], at: Mapping[str, Any]) -> str:
    """The key of one cell of variable ``name`` in a point's values: ``name`` itself for a
    variable without output dimensions, else ``name[dim=value,...]`` in ``dims`` order."""
    if not dims:
        return name
    return f"{name}[" + ",".join(f"{d}={at[d]}" for d in dims) + "]"


def cells(
    dims: Sequence[str], coords: Mapping[str, Sequence[Any]]
) -> Iterator[tuple[tuple[int, ...], dict[str, Any]]]:
    """Every cell of ``dims``: (index tuple, {dim: coordinate value}), in C order."""
    for idx in itertools.product(*(range(len(coords[d])) for d in dims)):
        yield idx, {d: coords[d][i] for d, i in zip(dims, idx, strict=True)}


def point_variables(
    variables: Mapping[str, Variable], coords: Mapping[str, Sequence[Any]]
) -> dict[str, Variable]:
    """One scalar variable per cell of every variable (the keys of a point's values)."""
    out: dict[str, Variable] = {}
    for name, var in variables.items():
        for _, at in cells(var.dims, coords):
            out[cell_name(name, var.dims, at)] = replace(var, dims=())
    return out


def point_specs(
    specs: Iterable[EstimateSpec],
    variables: Mapping[str, Variable],
    coords: Mapping[str, Sequence[Any]],
) -> tuple[EstimateSpec, ...]:
    """One spec per cell of every estimate, naming the same cell of each companion (a
    companion without those dimensions, like the sample size, is shared)."""
    out: list[EstimateSpec] = []
    for spec in specs:
        dims = variables[spec.name].dims
        for _, at in cells(dims, coords):

            def c(v: str | None, at: dict[str, Any] = at) -> str | None:
                return None if v is None else cell_name(v, variables[v].dims, at)

            out.append(
                EstimateSpec(
                    name=cell_name(spec.name, dims, at),
                    kind=spec.kind,
                    interval=spec.interval,
                    stderr=c(spec.stderr),
                    ci=(c(spec.ci[0]), c(spec.ci[1])) if spec.ci else None,  # type: ignore[arg-type]
                    exact=c(spec.exact),
                    exact_var=c(spec.exact_var),
                    n=c(spec.n) or spec.n,
                )
            )
    return tuple(out)


def check_declarations(
    owner: str, variables: Mapping[str, Variable], specs: Iterable[EstimateSpec]
) -> None:
    """ValueError unless every variable a spec names is declared (and once)."""
    seen: set[str] = set()
    for spec in specs:
        dims = variables[spec.name].dims if spec.name in variables else ()
        for v in spec.companions():
            if v in variables and v != spec.n and variables[v].dims != dims:
                raise ValueError(
                    f"{owner}: estimate {spec.name} has dimensions {dims} but its companion "
                    f"{v} has {variables[v].dims}"
                )
        if spec.name in seen:
            raise ValueError(f"{owner}: estimate {spec.name} declared twice")
        seen.add(spec.name)
        missing = [v for v in spec.companions() if v not in variables]
        if missing:
            raise ValueError(
                f"{owner}: estimate {spec.name} names undeclared variables: {', '.join(missing)}"
            )
