"""The estimates of a dataset, read from their declarations, and their exact checks.

Every estimate variable of a dataset written by ``mcstudy run`` carries its declaration
(``mcstudy.models.contract.spec_attrs``): its kind, how its 95 % interval is made, and
the variables holding its standard error or interval, exact value, exact variance and
sample size. Nothing here parses variable names. Comparisons with the exact value
(z-scores and interval coverage) live here too, so every section uses the same rules.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr

from mcstudy.models.base import Model
from mcstudy.models.contract import SPEC_ATTR, cell_name, cells, spec_attrs, spec_from_attrs
from mcstudy.stats.agreement import FAMILY_ALPHA, check_exact, holm
from mcstudy.stats.interval import Z95
from mcstudy.storage.meaning import MAIN_AT_ATTR, MAIN_ESTIMATE_ATTR, OUTPUT_DIMENSION, ROLE_ATTR
from mcstudy.units import shown_units

STATUS_VAR = "point_status"
SAMPLE_SIZE_VAR = "sequences"


@dataclass(frozen=True)
class Estimate:
    """An estimate variable of a dataset and the names of its companions."""

    name: str
    long_name: str
    units: str
    kind: str
    """What it is: ``proportion``, ``mean``, ``rate``, ``ratio`` or ``quantile``."""
    interval: str
    """How its 95 % interval is made (``mcstudy.models.contract.INTERVALS``)."""
    stderr: str | None
    ci: tuple[str, str] | None
    exact: str | None
    exact_var: str | None
    n: str | None

    @property
    def label(self) -> str:
        """Axis label: name and units."""
        units = "" if self.units in ("", "1") else f" ({self.units})"
        return f"{self.name}{units}"

    @property
    def binomial(self) -> bool:
        """Its interval is Wilson's for k/n independent trials (exact-p z-scores apply)."""
        return self.interval == "wilson"

    def companions(self) -> list[str]:
        """Every variable that belongs to this estimate (itself included)."""
        out = [self.name]
        for v in (self.stderr, self.exact, self.exact_var, self.n):
            if v is not None:
                out.append(v)
        if self.ci is not None:
            out.extend(self.ci)
        return out


def output_dims(ds: xr.Dataset) -> list[str]:
    """The dataset's output dimensions: computed in one run, not swept (e.g. the host
    study's ``ipi_policy``), recognised by their coordinate's ``mcstudy_role``."""
    return [
        str(d) for d in ds.dims if d in ds.coords and ds[d].attrs.get(ROLE_ATTR) == OUTPUT_DIMENSION
    ]


def cell_of(ds: xr.Dataset, name: str, at: dict[str, Any]) -> str:
    """The name, in :func:`cell_view`, of variable ``name`` of ``ds`` at cell ``at``
    (``name`` itself when it has no output dimension)."""
    extra = output_dims(ds)
    own = [d for d in ds[name].dims if d in extra] if name in ds.variables else []
    return cell_name(name, own, at)


def cell_view(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every variable over output dimensions split into one variable per cell
    (named ``mcstudy.models.contract.cell_name``, as a point's values and the findings
    name it), each estimate's declaration naming the same cell of its companions: what
    the generic sections read (every estimate at every sweep point). The Answers and the
    model sections select by coordinate in ``ds`` itself. ``ds`` when it has none."""
    extra = output_dims(ds)
    if not extra:
        return ds
    coords = {d: [v.item() if hasattr(v, "item") else v for v in ds[d].values] for d in extra}

    def dims_of(name: str) -> list[str]:
        return [d for d in ds[name].dims if d in extra] if name in ds.variables else []

    def key(name: str | None, at: dict[str, Any]) -> str | None:
        return None if name is None else cell_name(name, dims_of(name), at)

    data: dict[str, xr.DataArray] = {}
    for name in ds.data_vars:
        da = ds[name]
        own = dims_of(str(name))
        if not own:
            data[str(name)] = da
            continue
        spec = spec_from_attrs(str(name), da.attrs)
        for idx, at in cells(own, coords):
            part = da.isel(dict(zip(own, idx, strict=True))).drop_vars(own, errors="ignore")
            where = ", ".join(f"{d} {v}" for d, v in at.items())
            part.attrs = {**da.attrs, "long_name": f"{da.attrs.get('long_name', name)} ({where})"}
            if spec is not None:
                part.attrs.pop(SPEC_ATTR, None)
                part.attrs.update(
                    spec_attrs(
                        replace(
                            spec,
                            name=str(key(spec.name, at)),
                            stderr=key(spec.stderr, at),
                            ci=(str(key(spec.ci[0], at)), str(key(spec.ci[1], at)))
                            if spec.ci
                            else None,
                            exact=key(spec.exact, at),
                            exact_var=key(spec.exact_var, at),
                            n=str(key(spec.n, at)),
                        )
                    )
                )
            data[cell_name(str(name), own, at)] = part
    out = xr.Dataset(data, attrs=dict(ds.attrs)).drop_vars(extra, errors="ignore")
    main = ds.attrs.get(MAIN_ESTIMATE_ATTR)
    if main is not None and str(main) in ds.data_vars and MAIN_AT_ATTR in ds.attrs:
        out.attrs[MAIN_ESTIMATE_ATTR] = key(str(main), json.loads(str(ds.attrs[MAIN_AT_ATTR])))
    return out


def find_estimates(
    ds: xr.Dataset, main: str | None = None, model: Model | None = None
) -> list[Estimate]:
    """The estimates of ``ds`` (``main`` first, then in dataset order).

    Read from the declarations recorded on the variables; a dataset without any (written
    before they were recorded) gets those of ``model`` when it is known.
    """
    specs = [spec_from_attrs(name, ds[name].attrs) for name in ds.data_vars]
    found_specs = [s for s in specs if s is not None]
    if not found_specs and model is not None:
        found_specs = [
            s.with_variables(ds.data_vars) for s in model.estimate_specs if s.name in ds.data_vars
        ]
    names = set(ds.data_vars)
    found = []
    for spec in found_specs:
        attrs = ds[spec.name].attrs
        found.append(
            Estimate(
                name=spec.name,
                long_name=str(attrs.get("long_name", spec.name)),
                units=shown_units(attrs),
                kind=spec.kind,
                interval=spec.interval,
                stderr=spec.stderr if spec.stderr in names else None,
                ci=spec.ci if spec.ci is not None and set(spec.ci) <= names else None,
                exact=spec.exact if spec.exact in names else None,
                exact_var=spec.exact_var if spec.exact_var in names else None,
                n=spec.n if spec.n in names else None,
            )
        )
    found.sort(key=lambda e: (e.name != main,))
    return found


def bounds(ds: xr.Dataset, est: Estimate) -> tuple[xr.DataArray, xr.DataArray]:
    """Low and high ends of the 95 % interval of ``est`` at every point (the stored
    interval when there is one, else +-1.96 standard errors)."""
    if est.ci is not None:
        return ds[est.ci[0]], ds[est.ci[1]]
    se = ds[est.stderr]
    return ds[est.name] - Z95 * se, ds[est.name] + Z95 * se


def stderr(ds: xr.Dataset, est: Estimate) -> xr.DataArray:
    """Standard error of ``est`` (from the interval half-width when no stderr is stored)."""
    if est.stderr is not None:
        return ds[est.stderr]
    lo, hi = bounds(ds, est)
    return (hi - lo) / (2.0 * Z95)


def sample_size(ds: xr.Dataset, est: Estimate) -> xr.DataArray | None:
    """Sample size of ``est`` at every point (None when the dataset does not say)."""
    return ds[est.n] if est.n is not None else None


@dataclass
class Agreement:
    """Monte Carlo versus exact for one estimate, over all points (flattened, C order).

    ``status`` per point as ``mcstudy.stats.agreement.ExactCheck.status``; one rule for
    every model and the same as the run's (``mcstudy.findings.study_findings``): a
    point disagrees when its tail probability ``p`` lies below its Holm level in the
    family of every comparison of the dataset (:func:`apply_family`), or when a
    zero-variance exact value differs.
    """

    estimate: Estimate
    z: np.ndarray
    status: np.ndarray
    inside: np.ndarray
    """Exact value inside the stored 95 % interval (False where not tested)."""
    exact_se: bool
    """z uses the exact standard error (exact p or exact variance), not the run's own."""
    p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """two-sided tail probability per point (NaN where not tested)"""
    level: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Holm level per point where it disagrees, NaN elsewhere"""
    family: int = 0
    """comparisons in the family its levels come from"""

    @property
    def tested(self) -> int:
        return int(np.sum(self.status == "tested"))

    @property
    def covered(self) -> int:
        return int(np.sum(self.inside & (self.status == "tested")))

    @property
    def flagged(self) -> np.ndarray:
        """Flat indices of points that disagree (below their family-wise level)."""
        return np.flatnonzero(np.isfinite(self.level))

    def count(self, status: str) -> int:
        return int(np.sum(self.status == status))

    @property
    def max_abs_z(self) -> float:
        zs = self.z[self.status == "tested"]
        return float(np.max(np.abs(zs))) if zs.size else math.nan


def apply_family(agreements: list[Agreement], alpha: float = FAMILY_ALPHA) -> None:
    """Set every agreement's Holm levels over one family: all their comparisons."""
    ps = np.concatenate([a.p for a in agreements]) if agreements else np.zeros(0)
    levels = np.asarray(holm(ps.tolist(), alpha), dtype=float)
    m = int(np.sum(np.isfinite(ps)))
    start = 0
    for a in agreements:
        a.level = levels[start : start + a.p.size]
        a.family = m
        start += a.p.size


def _flat(ds: xr.Dataset, name: str | None, size: int) -> np.ndarray:
    if name is None:
        return np.full(size, np.nan)
    return np.asarray(ds[name].values, dtype=float).ravel()


def agreement(ds: xr.Dataset, est: Estimate) -> Agreement | None:
    """Compare ``est`` with its exact value at every point (None without an exact value),
    by ``mcstudy.stats.agreement.check_exact``."""
    if est.exact is None:
        return None
    x = np.asarray(ds[est.name].values, dtype=float).ravel()
    ex = _flat(ds, est.exact, x.size)
    n = _flat(ds, est.n, x.size)
    var = _flat(ds, est.exact_var, x.size)
    se = _flat(ds, est.stderr, x.size)
    lo = _flat(ds, est.ci[0] if est.ci else None, x.size)
    hi = _flat(ds, est.ci[1] if est.ci else None, x.size)
    seqs = _flat(ds, "sequences" if "sequences" in ds else None, x.size)
    z = np.full(x.shape, np.nan)
    p = np.full(x.shape, np.nan)
    status = np.empty(x.shape, dtype=object)
    inside = np.zeros(x.shape, dtype=bool)
    for i in range(x.size):
        check = check_exact(
            float(x[i]),
            float(ex[i]),
            binomial=est.binomial,
            n=float(n[i]),
            exact_var=None if est.exact_var is None else float(var[i]),
            stderr=None if est.stderr is None else float(se[i]),
            ci=None if est.ci is None else (float(lo[i]), float(hi[i])),
            sequences=float(seqs[i]) if np.isfinite(seqs[i]) else math.inf,
            counts=est.interval == "score",
        )
        z[i], status[i], inside[i] = check.z, check.status, check.inside
        if check.comparable:
            p[i] = check.p
    ag = Agreement(est, z, status.astype(str), inside, est.binomial or est.exact_var is not None, p)
    apply_family([ag])  # alone; ReportContext.agreements() sets the dataset's family
    return ag
