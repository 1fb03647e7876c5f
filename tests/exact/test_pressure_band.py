"""The zone chain with a fine band (``coarse_pages`` > 1, docs/model.md §4.14): its levels,
the exact solver on them, the reference simulator, and that the band makes the
near-min quantities independent of the coarse scale."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from mcstudy.exact.pressure import ZoneChain, generator, solve, solve_truncated
from mcstudy.mechanisms.zone_grid import band, bracket, level_count, levels
from tests.exact.test_pressure import _solve_fractions

TOL = 4.0  # standard errors

BANDED = ZoneChain(
    800,
    40,
    300,
    500,
    alloc_rate=30.0,
    free_rate=25.0,
    kswapd_rate=1.5,
    gather_rate=2.0,
    reclaim_batch=8,
    direct_reclaim_batch=8,
    atomic_alloc_rate=2.0,
    burst_alloc_rate=120.0,
    burst_start_rate=0.05,
    burst_end_rate=0.5,
    coarse_pages=8,
    fine_band_pages=64,
)
"""A bursty zone whose marks and coarse steps are a few levels apart: 187 levels."""


def test_levels_of_a_band():
    z = BANDED
    pos = levels(z)
    lo, hi = band(z)
    # GFP_ATOMIC load: the band starts D + k_b below the atomic mark (0.375 x 40 = 15)
    assert (lo, hi) == (15 - 9, 40 + 64)
    assert pos[0] == 0 and pos[-1] == z.managed_pages
    assert np.all(np.diff(pos) > 0)
    inside = (pos >= lo) & (pos <= hi)
    assert np.array_equal(pos[inside], np.arange(lo, hi + 1))
    assert np.all(np.diff(pos[pos >= hi]) <= 8) and np.all(np.diff(pos[pos <= lo]) <= 8)
    assert level_count(z) == pos.size
    # without GFP_ATOMIC allocations the band starts D + k_b below min
    assert band(replace(z, atomic_alloc_rate=0.0))[0] == 40 - 9
    j, w = bracket(pos, np.array([hi + 3, hi, z.managed_pages]))
    assert pos[j].tolist() == [hi, hi, z.managed_pages]
    assert w.tolist() == [3 / 8, 0.0, 0.0]


def test_band_must_hold_a_stall():
    with pytest.raises(ValueError, match="fine_band_pages"):
        replace(BANDED, fine_band_pages=8)
    with pytest.raises(ValueError, match="boost"):
        replace(BANDED, boost_rate=1.0, max_boost=64)


def test_tiny_banded_chain_by_hand():
    """A chain of 7 levels (0, 1, 2, 3 page by page, then 7, 11 and the cap 12) written
    out from the rules with exact rationals, independently of ``level_events``."""
    lam, mu, rho = Fraction(5), Fraction(2), Fraction(1)
    c = ZoneChain(
        12,
        1,
        2,
        6,
        alloc_rate=5.0,
        free_rate=2.0,
        kswapd_rate=1.0,
        gather_rate=0.0,
        reclaim_batch=3,
        direct_reclaim_batch=1,
        coarse_pages=4,
        fine_band_pages=2,
    )
    pos = [0, 1, 2, 3, 7, 11, 12]
    assert levels(c).tolist() == pos

    def to_levels(x):
        """[(position, probability)] keeping the mean of the real target x."""
        if x in pos:
            return [(x, Fraction(1))]
        lo = max(p for p in pos if p < x)
        hi = min(p for p in pos if p > x)
        return [(lo, Fraction(hi - x, hi - lo)), (hi, Fraction(x - lo, hi - lo))]

    states = [(f, k) for f in pos for k in (0, 1)]
    trans = []
    for f, k in states:
        woke = 1 if f <= c.wmark_low else k
        x = f - 1 if f > c.wmark_min else min(12, f + 1) - 1  # allocation or stall
        trans += [((f, k), (g, woke), lam * p) for g, p in to_levels(x)]
        trans += [((f, k), (g, k), mu * p) for g, p in to_levels(min(12, f + 1))]
        if k:
            x = min(12, f + 3)
            trans += [((f, k), (g, 0 if x > 6 else 1), rho * p) for g, p in to_levels(x)]
    trans = [t for t in trans if t[0] != t[1]]
    pi = _solve_fractions(states, trans)
    for method in ("gth", "mg1", "lu"):
        st = solve(c, method)
        for (f, k), p in pi.items():
            assert st.pi[0, k, pos.index(f)] == pytest.approx(float(p), rel=1e-11, abs=1e-300)
    st = solve(c)
    below = sum(p for (f, _k), p in pi.items() if f <= 1)
    assert st.below_min_prob == pytest.approx(float(below), rel=1e-11)
    assert st.stalls_per_s == pytest.approx(float(lam * below), rel=1e-11)
    assert st.free_pages_mean == pytest.approx(float(sum(f * p for (f, _k), p in pi.items())))


@pytest.mark.parametrize("stall", [0.0, 0.1])
def test_law_sums_to_one_and_balances(stall):
    z = replace(BANDED, stall_mean_s=stall, alloc_tasks=3, stall_phases=2)
    st = solve(z)
    pi = st.pi.ravel()
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    assert pi.min() >= 0.0
    q = generator(z)
    flow = np.abs(pi @ q)
    out = pi * np.abs(q.diagonal())
    assert flow.max() <= 1e-12 * out.max()
    lu = solve(z, "lu")
    for name in ("below_min_prob", "stalls_per_s", "below_min_entries_per_s", "kswapd_awake_prob"):
        assert getattr(st, name) == pytest.approx(getattr(lu, name), rel=1e-9), name


def test_a_band_over_the_whole_zone_is_the_page_by_page_chain():
    """With the band covering every free-page count there is no coarse level: the law,
    and the reference simulator's trajectories draw for draw, are those of the chain
    without a band (coarse_pages = 1, the default: today's rule)."""
    from mcstudy.reference.pressure import ZoneRef, simulate_reference

    plain = replace(
        BANDED,
        managed_pages=300,
        wmark_min=6,
        wmark_low=60,
        wmark_high=100,
        atomic_alloc_rate=0.0,
        coarse_pages=1,
    )
    whole = replace(plain, coarse_pages=64, fine_band_pages=300)
    assert levels(whole).tolist() == list(range(301))
    for stall in (0.0, 0.1):
        a = solve(replace(plain, stall_mean_s=stall, alloc_tasks=2))
        b = solve(replace(whole, stall_mean_s=stall, alloc_tasks=2))
        assert np.allclose(a.pi, b.pi, rtol=1e-12, atol=1e-300)
        ra = simulate_reference(3, 2, ZoneRef(replace(plain, stall_mean_s=stall)), 5.0, 50.0)
        rb = simulate_reference(3, 2, ZoneRef(replace(whole, stall_mean_s=stall)), 5.0, 50.0)
        assert ra == rb
    assert plain.exact_chain().fine_band_pages == 0


def _check_reference(z: ZoneChain, sequences: int, horizon_s: float) -> None:
    from mcstudy.reference.pressure import ZoneRef, simulate_reference

    ex = solve(z)
    runs = simulate_reference(7, sequences, ZoneRef(z), 80.0, horizon_s)
    h = runs[0].horizon_s
    cols = {
        "below": ([r.time_below_min_s / h for r in runs], ex.below_min_prob),
        "stalls": ([r.stalls / h for r in runs], ex.stalls_per_s),
        "entries": ([r.below_min_entries / h for r in runs], ex.below_min_entries_per_s),
        "awake": ([r.time_awake_s / h for r in runs], ex.kswapd_awake_prob),
        "wakeups": ([r.wakeups / h for r in runs], ex.kswapd_wakeups_per_s),
    }
    if z.timed_stalls:
        cols["stalled"] = ([r.stalled_task_s / h for r in runs], ex.stalled_tasks_mean)
    for name, (xs, exact) in cols.items():
        n = len(xs)
        mean = sum(xs) / n
        se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1) / n)
        assert se > 0, name
        assert abs(mean - exact) <= TOL * se, (name, mean, exact, se)


def test_reference_simulator_matches_exact_with_a_band():
    """Gillespie on the band's levels against the exact law, timed stalls (3 tasks,
    Erlang-2): time below min, stalls, below-min entries, kswapd, stalled tasks, within
    4 standard errors across 20 trajectories of 120 s (seed 7)."""
    _check_reference(replace(BANDED, stall_mean_s=0.1, alloc_tasks=3, stall_phases=2), 20, 120.0)


@pytest.mark.slow
def test_reference_simulator_matches_exact_with_a_band_instantaneous():
    _check_reference(BANDED, 40, 300.0)


MID = ZoneChain(
    60_000,
    2_000,
    18_000,
    34_000,
    alloc_rate=13_400.0,
    free_rate=12_000.0,
    kswapd_rate=2048.0,
    gather_rate=0.0,
    burst_alloc_rate=275_544.0,
    burst_start_rate=1 / 60,
    burst_end_rate=1.0,
    alloc_tasks=2,
    fine_band_pages=512,
)
"""The reference host's bursts load (§11.3) on a zone of 60,000 pages with marks 16 times
closer than the host's: bursts of 1 s every minute drain it to min."""


def _old_rule(z: ZoneChain, s: int) -> ZoneChain:
    """The scaled zone of §11.5: pages, marks and page rates divided by s."""
    return replace(
        z,
        managed_pages=z.managed_pages // s,
        wmark_min=z.wmark_min // s,
        wmark_low=z.wmark_low // s,
        wmark_high=z.wmark_high // s,
        alloc_rate=z.alloc_rate / s,
        free_rate=z.free_rate / s,
        kswapd_rate=z.kswapd_rate / s,
        burst_alloc_rate=z.burst_alloc_rate / s,
        fine_band_pages=0,
    )


@pytest.mark.parametrize("stall", [0.0, 0.01])
def test_near_min_quantities_do_not_depend_on_the_coarse_scale(stall):
    """With the band, P(f <= min), stalls per second and the mean below-min episode agree
    within 1 % at coarse_pages 16 and 64 (measured: 0.2 %); the law puts < 1e-12 near
    the cap. The scaled zone of §11.5 (the old rule) at the same two scales gives
    episodes at least twice apart."""
    new = [solve(replace(MID, stall_mean_s=stall, coarse_pages=s)) for s in (16, 64)]
    for name in ("below_min_prob", "stalls_per_s", "below_min_episode_s"):
        assert getattr(new[0], name) == pytest.approx(getattr(new[1], name), rel=0.01), name
        assert getattr(new[0], name) > 0.0
    for st in new:
        assert st.pi.sum(axis=(0, 1))[-8:].sum() < 1e-12
    old = [solve(_old_rule(replace(MID, stall_mean_s=stall), s)) for s in (16, 64)]
    assert old[1].below_min_episode_s > 2.0 * old[0].below_min_episode_s


def test_solve_truncated_is_the_whole_zone_to_its_mass():
    z = replace(MID, managed_pages=400_000, coarse_pages=8)
    small, law = solve_truncated(z)
    assert small.managed_pages < z.managed_pages
    whole = solve(z)
    for name in ("below_min_prob", "stalls_per_s", "below_min_episode_s", "kswapd_awake_prob"):
        assert getattr(law, name) == pytest.approx(getattr(whole, name), rel=1e-9), name


@pytest.mark.slow
def test_band_matches_the_unscaled_chain_with_timed_stalls():
    """On the 60,000-page zone the unscaled chain with 10 ms stalls can be solved: the
    band at coarse_pages 16 gives its P(f <= min), stalls/s and episode within 0.1 %
    (measured: 0.05 %); the old rule at 16 is 8.8 times off in P(f <= min)."""
    z = replace(MID, stall_mean_s=0.01)
    exact = solve(replace(z, fine_band_pages=0))
    band = solve(replace(z, coarse_pages=16))
    for name in ("below_min_prob", "stalls_per_s", "below_min_episode_s"):
        assert getattr(band, name) == pytest.approx(getattr(exact, name), rel=1e-3), name
    old = solve(_old_rule(z, 16))
    assert old.below_min_prob > 5.0 * exact.below_min_prob
