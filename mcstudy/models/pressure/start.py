"""Where a pressure trajectory starts, and how long it warms up (``docs/model.md`` §4.6).

* **Stationary start** (the default where the exact solver applies: the reference chain
  and its bursty, batched and GFP_ATOMIC extensions, zones up to ``EXACT_MAX_PAGES``, and
  larger zones whose law ``truncated_chain`` can hold on fewer pages):
  every sequence draws its initial (free pages, kswapd, load phase) from the exact
  stationary law, so the counted window is stationary from its first instant and no
  warm-up is needed.
* **Fixed start** (``initial_free`` given, or boost / RCU-delayed batch pages, or larger
  zones): the chain starts at ``initial_free`` (default: all pages free), kswapd asleep,
  and warms up for ``warmup_s``; when that is not given, for a time chosen from the
  chain's own time scales (:func:`relaxation_time_s`). Either way the kernels tally how
  the time fractions change between the two halves of the counted window, and a drift
  beyond 4 standard errors is reported as an unfinished transient.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from mcstudy.exact.pressure import ZoneChain, ZoneStationary
from mcstudy.exact.stored import zone_law
from mcstudy.models.pressure.params import PressureParams

EXACT_MAX_PAGES = 2_000_000
"""Larger zones get no exact column: the level recursion needs ~300 bytes per page."""
WARMUP_CYCLES = 10.0
"""Automatic warm-up: the descent to the watermarks plus this many kswapd cycles."""
MAX_WARMUP_EVENTS = 2e7
"""An automatic warm-up longer than this many uniformised events per trajectory is cut
to it, and the point reports that its transient may not be over."""


@lru_cache(maxsize=8)
def stationary(chain: ZoneChain) -> ZoneStationary:
    """The exact stationary law of ``chain`` (cached: the start and the exact column of a
    point both need it; kept on disk between runs: ``mcstudy.exact.stored``)."""
    return zone_law(chain)


TRUNCATION_MASS = 1e-12
"""A zone larger than ``EXACT_MAX_PAGES`` is solved on a smaller one when its stationary
law puts less than this mass near the smaller zone's cap (the cap is then never felt)."""


def exact_chain(p: PressureParams) -> ZoneChain | None:
    """The chain the exact solver can solve for ``p``, or None (an extension it lacks, a
    zone too large that the truncation of ``truncated_chain`` cannot represent)."""
    chain = p.exact_chain()
    if chain is None:
        return None
    if p.managed_pages <= EXACT_MAX_PAGES:
        return chain
    return truncated_chain(p, chain)


def truncated_chain(p: PressureParams, chain: ZoneChain) -> ZoneChain | None:
    """``chain`` on a zone of N' < N pages, when that changes nothing measurable.

    Below the cap the chain does not know N: only frees and reclaim that would overshoot
    the cap see it. When allocations outpace frees (the zone sits at its watermarks), the
    stationary law decays fast above the high mark; N' = high + a margin is grown until
    the law puts less than ``TRUNCATION_MASS`` within a few reclaim batches of N', and the
    truncated law is then the large zone's to that mass (``docs/model.md`` §4.8).
    """
    if p.lam + p.atomic_alloc_rate <= p.free_rate:
        return None  # the zone climbs to its cap: the cap matters
    band = 4 * max(p.reclaim_batch, p.direct_reclaim_batch, p.alloc_batch_pages)
    margin = 16 * max(p.wmark_high - p.wmark_min, 1) + 16 * band
    while p.wmark_high + margin <= min(EXACT_MAX_PAGES, p.managed_pages):
        small = replace(chain, managed_pages=p.wmark_high + margin)
        try:
            law = stationary(small)
        except ValueError:
            return None
        pf = law.pi.sum(axis=(0, 1))
        if float(pf[-band:].sum()) < TRUNCATION_MASS:
            return small
        margin *= 4
    return None


def relaxation_time_s(p: PressureParams, f0: int) -> float:
    """A time (s) after which a chain started at ``f0`` free pages, kswapd asleep, has
    forgotten its start: the descent to the low mark at the net allocation drift, plus
    ``WARMUP_CYCLES`` kswapd cycles (asleep from high to low at the drift, awake back up
    at kswapd's reclaim rate minus the drift). Without a downward drift the zone climbs
    to the cap: the time to get there and mix; balanced, it wanders over the whole zone
    above low: (N - low)^2 / (lambda + mu)."""
    lam = max(p.lam, p.lam_burst if p.bursty else 0.0) + p.atomic_alloc_rate
    drift = lam - p.free_rate  # pages/s down while kswapd sleeps
    span = max(p.wmark_high - p.wmark_low, 1)
    spread = p.lam + p.free_rate + p.atomic_alloc_rate
    if drift > 0.0:
        descent = max(0, f0 - p.wmark_low) / drift
        up = p.kswapd_rate * p.reclaim_batch - drift
        awake = span / up if up > 0.0 else (p.wmark_low - p.wmark_min + 1) / drift
        return descent + WARMUP_CYCLES * (span / drift + awake)
    if drift < 0.0:
        rise = max(0, p.managed_pages - f0) / -drift
        return rise + WARMUP_CYCLES * spread / drift**2
    if spread <= 0.0:
        return 0.0
    # balanced: a random walk over the whole zone above the low mark
    return float(p.managed_pages - p.wmark_low) ** 2 / spread


@dataclass(frozen=True)
class StartPlan:
    """How the sequences of one point start."""

    stationary: bool
    init_cdf: np.ndarray
    """cumulative stationary pi[b, k, f] in C order (empty for a fixed start)"""
    init_levels: int
    """free-page levels f = 0 .. init_levels - 1 of ``init_cdf`` (a cut-down zone's)"""
    warmup_s: float
    """simulated seconds before the counted window (s)"""
    relaxation_s: float
    """estimated relaxation time from the fixed start (s; 0 for a stationary start)"""
    warmup_cut: bool
    """the automatic warm-up was cut to ``MAX_WARMUP_EVENTS``"""
    pilot_warmup_s: float
    """warm-up of the importance sampler's pilot, which starts at the fixed state (s)"""


def start_plan(p: PressureParams, rate: float) -> StartPlan:
    """The start of ``p``'s sequences; ``rate`` is the uniformisation rate (events/s)."""
    f0 = p.managed_pages if p.initial_free is None else p.initial_free
    relax = relaxation_time_s(p, f0)
    limit = MAX_WARMUP_EVENTS / rate if rate > 0.0 else 0.0
    auto = min(relax, limit)
    pilot = auto if p.warmup_s is None else p.warmup_s
    chain = exact_chain(p)
    law = None
    if p.initial_free is None and chain is not None:
        try:
            law = stationary(chain)
        except ValueError:  # no unique closed class: no stationary law to start from
            law = None
    if law is not None:
        cdf = np.cumsum(law.pi.ravel())
        cdf /= cdf[-1]
        warm = 0.0 if p.warmup_s is None else p.warmup_s
        return StartPlan(True, cdf, int(law.pi.shape[-1]), warm, 0.0, False, pilot)
    empty = np.zeros(0, dtype=np.float64)
    if p.warmup_s is not None:
        return StartPlan(False, empty, 0, p.warmup_s, relax, False, pilot)
    return StartPlan(False, empty, 0, auto, relax, relax > limit, pilot)
