"""The estimates of a dataset, read from their declarations, and their exact checks.

Every estimate variable of a dataset written by ``mcstudy run`` carries its declaration
(``mcstudy.models.contract.spec_attrs``): its kind, how its 95 % interval is made, and
the variables holding its standard error or interval, exact value, exact variance and
sample size. Nothing here parses variable names. Comparisons with the exact value
(z-scores and interval coverage) live here too, so every section uses the same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import xarray as xr

from mcstudy.models.base import Model
from mcstudy.models.contract import spec_from_attrs
from mcstudy.stats.interval import Z95

STATUS_VAR = "point_status"
SAMPLE_SIZE_VAR = "sequences"
Z_FLAG = 4.0
"""|z| above which an estimate is flagged as disagreeing with its exact value."""


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
                units=str(attrs.get("units", "")),
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

    ``status`` per point: ``tested`` (z computed), ``equal`` (zero variance and equal
    values), ``differs`` (zero exact variance but different values: a real disagreement),
    ``untestable`` (no usable standard error) or ``missing`` (NaN estimate or exact value).
    """

    estimate: Estimate
    z: np.ndarray
    status: np.ndarray
    inside: np.ndarray
    """Exact value inside the stored 95 % interval (False where not tested)."""
    exact_se: bool
    """z uses the exact standard error (exact p or exact variance), not the run's own.

    The run's own standard error understates the noise when the events behind an
    estimate are rare, so |z| > Z_FLAG is then only a hint (see :attr:`suspect`).
    """

    @property
    def tested(self) -> int:
        return int(np.sum(self.status == "tested"))

    @property
    def covered(self) -> int:
        return int(np.sum(self.inside & (self.status == "tested")))

    def _big(self) -> np.ndarray:
        return (self.status == "tested") & (np.abs(np.nan_to_num(self.z)) > Z_FLAG)

    @property
    def flagged(self) -> np.ndarray:
        """Flat indices of points that disagree: exact-SE |z| > Z_FLAG, or ``differs``."""
        big = self._big() if self.exact_se else np.zeros(self.z.shape, dtype=bool)
        return np.flatnonzero(big | (self.status == "differs"))

    @property
    def suspect(self) -> np.ndarray:
        """Flat indices with |z| > Z_FLAG computed with the run's own standard error."""
        if self.exact_se:
            return np.flatnonzero(np.zeros(self.z.shape, dtype=bool))
        return np.flatnonzero(self._big())

    def count(self, status: str) -> int:
        return int(np.sum(self.status == status))

    @property
    def max_abs_z(self) -> float:
        zs = self.z[self.status == "tested"]
        return float(np.max(np.abs(zs))) if zs.size else math.nan


def agreement(ds: xr.Dataset, est: Estimate) -> Agreement | None:
    """Compare ``est`` with its exact value at every point (None without an exact value).

    Wilson proportions: z = (k/n - p) / sqrt(p (1 - p) / n) with the exact p. Means: z uses the
    exact variance when the dataset stores it (``B_var_exact``), else the stored stderr.
    """
    if est.exact is None:
        return None
    x = np.asarray(ds[est.name].values, dtype=float).ravel()
    ex = np.asarray(ds[est.exact].values, dtype=float).ravel()
    nn = sample_size(ds, est)
    n = np.asarray(nn.values, dtype=float).ravel() if nn is not None else np.full(x.shape, np.nan)
    if est.binomial:
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(ex * (1.0 - ex) / n)
    elif est.exact_var is not None:
        var = np.asarray(ds[est.exact_var].values, dtype=float).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            se = np.sqrt(np.maximum(var, 0.0) / n)
    else:
        se = np.asarray(stderr(ds, est).values, dtype=float).ravel()
    lo, hi = (np.asarray(b.values, dtype=float).ravel() for b in bounds(ds, est))
    z = np.full(x.shape, np.nan)
    status = np.empty(x.shape, dtype=object)
    exact_zero_var = (se == 0.0) & (est.binomial | (est.exact_var is not None))
    for i in range(x.size):
        if not (math.isfinite(x[i]) and math.isfinite(ex[i])):
            status[i] = "missing"
        elif math.isfinite(se[i]) and se[i] > 0.0:
            z[i] = (x[i] - ex[i]) / se[i]
            status[i] = "tested"
        elif x[i] == ex[i] or math.isclose(x[i], ex[i], rel_tol=1e-12, abs_tol=0.0):
            status[i] = "equal"
        elif exact_zero_var[i]:
            status[i] = "differs"
        else:
            status[i] = "untestable"
    inside = (lo <= ex) & (ex <= hi)
    exact_se = est.binomial or est.exact_var is not None
    return Agreement(est, z, status.astype(str), inside, exact_se)
