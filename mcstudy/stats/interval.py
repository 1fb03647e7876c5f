"""Two-sided 95 % intervals: the normal quantile, score intervals of non-negative means and
Wilson intervals of clustered proportions (``docs/model.md`` §6.1)."""

from __future__ import annotations

import functools
import math

Z95 = 1.959963984540054
"""The 0.975 quantile of the standard normal: half-width of a 95 % interval in SEs."""


@functools.lru_cache(maxsize=4096)
def t_inflation(n: int) -> float:
    """Student's t_{0.975, n-1} / z_{0.975}: how much wider a 95 % interval must be when
    its standard error comes from ``n`` sequences (1 for large n, inf for n < 2)."""
    if n < 2:
        return math.inf
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) / Z95


def score_interval(
    estimate: float, stderr: float, n: int, zero_upper: float, ceiling: float = math.inf
) -> tuple[float, float]:
    """95 % interval of a non-negative mean from ``n`` sequences, for counts that may be
    rare and clustered (``docs/model.md`` §6.1).

    The estimate is read as k = (estimate / stderr_t)^2 Poisson-distributed "effective
    events" of size stderr_t^2 / estimate (stderr_t: the standard error widened by
    Student's t for n sequences), and the interval is Poisson's score interval for k,
    k + z^2/2 -+ z sqrt(k + z^2/4), scaled back: skewed to the right for a few events,
    the t interval for many. No event (estimate 0) gives ``(0, zero_upper)``, never
    (0, 0): ``zero_upper`` is the caller's bound on the mean when no event was seen. A
    zero standard error with a positive estimate (every sequence alike) says as little
    about the sequences that would differ: the estimate +- ``zero_upper``. NaN where it
    cannot estimate.
    """
    if math.isnan(estimate):
        return math.nan, math.nan
    if estimate == 0.0:
        return 0.0, zero_upper
    if math.isnan(stderr):
        return math.nan, math.nan
    if stderr == 0.0:
        return max(0.0, estimate - zero_upper), min(ceiling, estimate + zero_upper)
    se = stderr * t_inflation(n)
    if not math.isfinite(se):
        return math.nan, math.nan
    k = (estimate / se) ** 2
    scale = estimate / k
    half = Z95 * math.sqrt(k + Z95 * Z95 / 4.0)
    centre = k + Z95 * Z95 / 2.0
    return max(0.0, (centre - half) * scale), min(ceiling, (centre + half) * scale)
