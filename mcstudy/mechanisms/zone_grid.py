"""The levels of a zone chain with a fine band (``docs/model.md`` §4.14).

A zone whose ``coarse_pages`` s is 1 has one level per free-page count, 0..N (§4.1). With
s > 1 the chain's levels are real free-page counts (positions, in pages): every page
inside the fine band, from ``D + k_b`` pages below min (below the GFP_ATOMIC mark when
there are GFP_ATOMIC allocations) up to ``min + fine_band_pages``, and every s pages outside it (down to 0 and up to N,
which are levels too). Every event's rule is the real zone's, with real rates, applied to
the level's position; a target that falls between two levels goes to one of them with
the probabilities that keep its mean (:func:`bracket`). Near the marks that decide
failures the chain is therefore the real zone page by page; far from them it is a zone
in units of s pages whose drift (pages per second) is the real one.

Plain numpy: no Numba, no I/O.
"""

from __future__ import annotations

import numpy as np

from mcstudy.mechanisms.zone import Zone, atomic_min_mark

DEFAULT_FINE_BAND_PAGES = 4096
"""Documented default of ``fine_band_pages``: 16 MiB of 4 KiB pages above min, 128
direct-reclaim or kswapd batches of SWAP_CLUSTER_MAX (the reference host's zone, in a
burst, stays within about a hundred pages of min; §4.14)."""


def band(zone: Zone) -> tuple[int, int]:
    """(lowest, highest) free-page count of the fine band (pages, both levels); the whole
    zone 0..N when ``coarse_pages`` is 1."""
    n = zone.managed_pages
    if zone.coarse_pages == 1:
        return 0, n
    floor = zone.wmark_min
    if zone.atomic_alloc_rate > 0.0:
        floor = min(floor, atomic_min_mark(zone.wmark_min))
    lo = max(0, floor - zone.direct_reclaim_batch - zone.alloc_batch_pages)
    return lo, min(n, zone.wmark_min + zone.fine_band_pages)


def levels(zone: Zone) -> np.ndarray:
    """Positions (free pages, int64, increasing, from 0 to N) of the chain's levels."""
    n = zone.managed_pages
    s = zone.coarse_pages
    if s == 1:
        return np.arange(n + 1, dtype=np.int64)
    lo, hi = band(zone)
    below = np.arange(lo - s, 0, -s, dtype=np.int64)[::-1]
    fine = np.arange(lo, hi + 1, dtype=np.int64)
    above = np.arange(hi + s, n, s, dtype=np.int64)
    parts = [np.zeros(1, dtype=np.int64)] if lo > 0 else []
    parts += [below, fine, above]
    if hi < n:
        parts.append(np.array([n], dtype=np.int64))
    return np.concatenate(parts)


def level_count(zone: Zone) -> int:
    """Number of levels of the chain (N + 1 without a fine band)."""
    if zone.coarse_pages == 1:
        return zone.managed_pages + 1
    return int(levels(zone).size)


def bracket(pos: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(j, w) for real targets ``x`` (pages, within 0..N): ``pos[j] <= x < pos[j + 1]``
    (j the top level for x = N) and w = (x - pos[j]) / (pos[j + 1] - pos[j]), the
    probability of going to level j + 1 rather than j, so that the mean position is x."""
    x = np.asarray(x)
    top = pos.size - 1
    j = np.clip(np.searchsorted(pos, x, side="right") - 1, 0, top)
    nxt = np.minimum(j + 1, top)
    gap = pos[nxt] - pos[j]
    w = np.where(gap > 0, (x - pos[j]) / np.where(gap > 0, gap, 1), 0.0)
    return j, w
