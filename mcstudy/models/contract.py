"""What a model declares to the rest of mcstudy: its stored variables and its estimates.

The sweep, the storage and the reports never parse variable names. They read:

* :class:`Variable`: one stored output (netCDF ``units``, ``long_name``, dtype);
* :class:`EstimateSpec`: one Monte Carlo estimate, naming the variables that hold it, its
  kind, how its 95 % interval is made, its standard error or interval, its exact
  companion and its sample size.

The storage writes each spec onto its variable as attributes (:func:`spec_attrs`), so a
dataset describes its own estimates; :func:`spec_from_attrs` reads them back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
    """A stored output variable: netCDF ``units`` and ``long_name``, and its dtype."""

    units: str
    long_name: str
    dtype: str = "float64"


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


def check_declarations(
    owner: str, variables: Mapping[str, Variable], specs: Iterable[EstimateSpec]
) -> None:
    """ValueError unless every variable a spec names is declared (and once)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"{owner}: estimate {spec.name} declared twice")
        seen.add(spec.name)
        missing = [v for v in spec.companions() if v not in variables]
        if missing:
            raise ValueError(
                f"{owner}: estimate {spec.name} names undeclared variables: {', '.join(missing)}"
            )
