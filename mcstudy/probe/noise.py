"""Background noise: what a counter does in windows of the same length without probe work.

For each phase the worker measures K no-work windows as long as the phase. For a
statistic x (a counter delta, in its raw unit) with baseline values x_1..x_K:

* background mean m = mean(x_i), subtracted from the phase's value;
* noise variance v = max(s^2, u / K): the sample variance s^2 (catches bursty,
  over-dispersed background), floored by a Poisson variance at u / K, where u is the
  95 % upper Garwood bound of a Poisson mean given the total sum(|x_i|) counted in the
  K windows. The floor keeps a background that happened to be silent in K short windows
  from claiming zero noise (K = 8 silent windows still allow u / K = 0.46 events). It
  is not applied to the worker's own ``VmPTE``: no other process can move that counter
  and the no-work windows run the same reading protocol, so they see all of its
  background, and agreement there must be exact;
* predictive half-width h = t_{K-1}(1/2 + level/2) * sqrt(v * (1 + 1/K)): the interval
  that holds one more window's background (the phase's) with probability ``level``
  under a normal approximation, including the error of m;
* burst floor (machine-wide gauges only, i.e. ``PageTables``): other processes move it
  in heavy-tailed jumps (a process that starts or exits changes it by hundreds of tables
  within a few ms, whatever the window's length), and K windows often miss such a jump
  although one can hit the phase. So h is raised to at least the largest jump the run's
  own background showed: max |x - median of its phase's windows| over *every* no-work
  window of the run (each phase's windows compared with their own median, so that
  longer windows' steady drift is not mistaken for a jump). Event counts (IPIs, THP
  events) accumulate with time rather than jump, and keep the per-phase interval.

A measurement disagrees with the model only if |measured - predicted| > h (scaled to the
row's unit). ``level`` is set by Bonferroni over the rows checked in one probe
(:func:`row_level`), so that a run on a kernel that matches the model flags a false
disagreement with probability about ``FAMILY_ALPHA`` at most.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import special

FAMILY_ALPHA = 0.05


def row_level(n_rows: int, family_alpha: float = FAMILY_ALPHA) -> float:
    """Per-row two-sided coverage for a family-wise false-flag rate ``family_alpha``."""
    if n_rows < 1 or not 0.0 < family_alpha < 1.0:
        raise ValueError("need n_rows >= 1 and 0 < family_alpha < 1")
    return 1.0 - family_alpha / n_rows


def poisson_upper(total: float, conf: float = 0.95) -> float:
    """Two-sided ``conf`` upper (Garwood) bound of a Poisson mean given ``total`` events."""
    tail = 0.5 - conf / 2.0  # upper-tail probability of the chi-square quantile
    return float(special.chdtri(2.0 * (math.floor(total) + 1), tail) / 2.0)


@dataclass(frozen=True)
class Background:
    """Background of one statistic over K no-work windows (raw units)."""

    mean: float
    sd: float
    """Noise standard deviation used: sqrt(max(sample variance, Poisson floor))."""
    n: int
    halfwidth: float
    """Half-width of the predictive interval for one window at ``level``."""
    level: float
    poisson_floor: bool
    """The Poisson floor, not the sample variance, set ``sd``."""
    burst: float = 0.0
    """Largest jump of the statistic in any no-work window of the run (raw units; 0 if
    the burst floor does not apply)."""

    @property
    def burst_floor(self) -> bool:
        """The burst floor, not the parametric interval, set ``halfwidth``."""
        return self.burst > 0.0 and self.halfwidth == self.burst


def _median(xs: Sequence[float]) -> float:
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else 0.5 * (ys[n // 2 - 1] + ys[n // 2])


def burst_size(groups: Sequence[Sequence[float]]) -> float:
    """Largest |x - median(group)| over the values of every group (0 if there are none).

    A group is one phase's no-work windows (all of the same length).
    """
    return max((abs(x - _median(g)) for g in groups if g for x in g), default=0.0)


def background(
    samples: Sequence[float], level: float, burst: float = 0.0, poisson: bool = True
) -> Background:
    """Mean and predictive noise interval of ``samples`` (one value per baseline window).

    ``burst``: the burst floor of the half-width (raw units; see :func:`burst_size`).
    ``poisson=False`` drops the Poisson floor, for counters nothing but the worker can
    move (its own ``VmPTE``): their no-work windows, read with the same protocol,
    measure all the background there is, so agreement must be exact when they are 0.
    """
    n = len(samples)
    if n < 2:
        raise ValueError("need at least 2 baseline windows")
    if not 0.0 < level < 1.0:
        raise ValueError("level must be in (0, 1)")
    mean = math.fsum(samples) / n
    var = math.fsum((x - mean) ** 2 for x in samples) / (n - 1)
    floor = poisson_upper(math.fsum(abs(x) for x in samples)) / n if poisson else 0.0
    v = max(var, floor)
    q = float(special.stdtrit(n - 1, 0.5 + level / 2.0))  # Student-t quantile
    return Background(
        mean=mean,
        sd=math.sqrt(v),
        n=n,
        halfwidth=max(q * math.sqrt(v * (1.0 + 1.0 / n)), burst),
        level=level,
        poisson_floor=floor > var,
        burst=burst,
    )
