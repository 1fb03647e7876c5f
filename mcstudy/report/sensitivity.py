"""Which swept parameter moves an estimate most: variance decomposition over the grid.

For an estimate y over a full factorial sweep (every level weighted equally), the
first-order index of parameter i is the share of the variance of y explained by i
alone, S_i = Var(E[y | x_i]) / Var(y), and the total index ST_i = E[Var(y | x_~i)] /
Var(y) adds every interaction that involves i. On a full grid these are exactly the
Sobol indices of y for parameters drawn uniformly from their swept levels (so they
depend on the levels chosen, and values spanning decades weigh their largest values
most).

Monte Carlo noise. Each cell is y_c = mu_c + e_c with independent noise of variance
s_c^2 (the squared standard error). Noise inflates every variance above by a known
amount: with N cells and L_i levels of parameter i, mean(s^2) (L_i - 1) / N for the
main-effect variance, mean(s^2) (L_i - 1) / L_i for the within-group variance and
mean(s^2) (N - 1) / N for the total. These are subtracted. The 95 % intervals come
from a parametric bootstrap that adds fresh noise N(0, s_c^2) to every cell and
subtracts twice the inflation.

SALib's Sobol estimators need a sweep sampled for them (a Saltelli design); study
configs describe grids, so the grid decomposition above is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP = 400
BOOTSTRAP_SEED = 20230419


@dataclass(frozen=True)
class Index:
    """First-order and total indices of one parameter, with bootstrap 95 % intervals."""

    dim: str
    levels: int
    first: float
    first_lo: float
    first_hi: float
    total: float
    total_lo: float
    total_hi: float
    effect_range: float
    """max - min of the level means of y (the main effect's span, units of y)."""

    @property
    def resolved(self) -> bool:
        """The total index is above Monte Carlo noise (its interval excludes 0)."""
        return self.total_lo > 0.0


@dataclass(frozen=True)
class Sensitivity:
    """Indices of every varying parameter for one estimate."""

    estimate: str
    indices: list[Index]
    variance: float
    """Variance of y over the grid, noise removed."""
    noise_share: float
    """Share of the observed variance of y that is Monte Carlo noise."""

    def ranked(self) -> list[Index]:
        return sorted(self.indices, key=lambda ix: -ix.total)


def _components(
    y: np.ndarray, s2: float, axes: list[int]
) -> tuple[float, list[float], list[float]]:
    """Noise-corrected total variance and per-axis main / within variances."""
    n = y.size
    total = float(y.var()) - s2 * (n - 1) / n
    mains, withins = [], []
    for ax in axes:
        levels = y.shape[ax]
        others = tuple(a for a in range(y.ndim) if a != ax)
        main = float(y.mean(axis=others).var()) - s2 * (levels - 1) / n
        within = float(y.var(axis=ax).mean()) - s2 * (levels - 1) / levels
        mains.append(main)
        withins.append(within)
    return total, mains, withins


def grid_sensitivity(
    name: str,
    y: np.ndarray,
    se: np.ndarray,
    dims: list[str],
    n_boot: int = BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
) -> Sensitivity | None:
    """Indices of ``y`` (shape = levels of ``dims``) with noise ``se`` per cell.

    Returns None when y has no variance beyond Monte Carlo noise, or a NaN cell.
    """
    y = np.asarray(y, dtype=float)
    se = np.asarray(se, dtype=float)
    if y.shape != se.shape or len(dims) != y.ndim:
        raise ValueError("y, se and dims must describe the same grid")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(se))):
        return None
    axes = [i for i, d in enumerate(dims) if y.shape[i] > 1]
    s2 = float(np.mean(se**2))
    total, mains, withins = _components(y, s2, axes)
    observed = float(y.var())
    if total <= 0.0 or observed <= 0.0:
        return None
    rng = np.random.default_rng(seed)
    boot_first = np.empty((n_boot, len(axes)))
    boot_total = np.empty((n_boot, len(axes)))
    for b in range(n_boot):
        yb = y + se * rng.standard_normal(y.shape)
        tb, mb, wb = _components(yb, 2.0 * s2, axes)
        if tb <= 0.0:
            boot_first[b] = np.nan
            boot_total[b] = np.nan
            continue
        boot_first[b] = np.asarray(mb) / tb
        boot_total[b] = np.asarray(wb) / tb
    indices = []
    for k, ax in enumerate(axes):
        others = tuple(a for a in range(y.ndim) if a != ax)
        level_means = y.mean(axis=others)
        f_lo, f_hi = np.nanpercentile(boot_first[:, k], [2.5, 97.5])
        t_lo, t_hi = np.nanpercentile(boot_total[:, k], [2.5, 97.5])
        indices.append(
            Index(
                dim=dims[ax],
                levels=int(y.shape[ax]),
                first=mains[k] / total,
                first_lo=float(f_lo),
                first_hi=float(f_hi),
                total=withins[k] / total,
                total_lo=float(t_lo),
                total_hi=float(t_hi),
                effect_range=float(level_means.max() - level_means.min()),
            )
        )
    return Sensitivity(name, indices, total, 1.0 - total / observed)
