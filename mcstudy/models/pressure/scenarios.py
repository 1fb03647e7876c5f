"""Small zones for the checks (``mcstudy validate``, goldens, tests): chains small enough
for the exact solvers (``docs/model.md`` §4, §8) and far from any real host.

Plain data: no pydantic, no Numba. Rates are per second, sizes in 4 KiB pages.
"""

from __future__ import annotations

SMALL_ZONE: dict[str, object] = dict(
    managed_pages=120,
    wmark_min=10,
    wmark_low=20,
    wmark_high=30,
    reclaim_batch=8,
    direct_reclaim_batch=8,
    gather_rate=0.5,
    tables_per_gather=3,
)
"""A 120-page zone with 3-table gathers, before its allocation, free and kswapd rates."""

RARE_ZONE: dict[str, object] = dict(
    managed_pages=300,
    wmark_min=20,
    wmark_low=80,
    wmark_high=140,
    alloc_rate=1.0,
    free_rate=0.6,
    kswapd_rate=0.2,
    gather_rate=0.2,
    estimator="importance",
)
"""A 300-page zone where P(free <= min) is about 5e-11: the regenerative importance
sampler's check (``docs/model.md`` §8)."""
