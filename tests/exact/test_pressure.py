"""Exact stationary solver of the zone pressure chain: hand checks and method agreement."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from mcstudy.exact.pressure import ZoneChain, atomic_min_mark, generator, solve


def _solve_fractions(states: list, trans: list) -> dict:
    """pi of a tiny chain from hand-listed transitions (exact rational Gauss-Jordan)."""
    idx = {s: i for i, s in enumerate(states)}
    n = len(states)
    a = [[Fraction(0)] * n for _ in range(n)]  # a = Q^T
    for src, dst, rate in trans:
        a[idx[dst]][idx[src]] += Fraction(rate)
        a[idx[src]][idx[src]] -= Fraction(rate)
    a[n - 1] = [Fraction(1)] * n
    b = [Fraction(0)] * (n - 1) + [Fraction(1)]
    for c in range(n):
        p = next(r for r in range(c, n) if a[r][c] != 0)
        a[c], a[p], b[c], b[p] = a[p], a[c], b[p], b[c]
        for r in range(n):
            if r != c and a[r][c] != 0:
                fac = a[r][c] / a[c][c]
                a[r] = [x - fac * y for x, y in zip(a[r], a[c], strict=True)]
                b[r] -= fac * b[c]
    return {s: b[i] / a[i][i] for s, i in idx.items()}


def test_birth_death_by_hand():
    # kswapd never reclaims (rate 0): once woken it stays awake; f is a birth-death chain
    # 2 -> 1 -> 0 at rate lam, 0 -> 1 -> 2 at rate mu, an allocation at f = 0 = min
    # stalls and leaves f at min(2, 0 + 1) - 1 = 0. pi ~ (1, r, r^2), r = mu / lam.
    lam, mu = 3.0, 2.0
    c = ZoneChain(
        2,
        0,
        0,
        1,
        alloc_rate=lam,
        free_rate=mu,
        kswapd_rate=0.0,
        gather_rate=0.0,
        reclaim_batch=1,
        direct_reclaim_batch=1,
    )
    st = solve(c, "gth")
    r = mu / lam
    z = 1 + r + r * r
    assert st.below_min_prob == pytest.approx(1 / z, rel=1e-12)
    assert st.kswapd_awake_prob == pytest.approx(1.0, rel=1e-12)
    assert st.stalls_per_s == pytest.approx(lam / z, rel=1e-12)
    assert st.pi[0, 1] == pytest.approx([1 / z, r / z, r * r / z], rel=1e-12)


def test_six_state_chain_by_hand():
    # N = 2, min = 0, low = 1, high = 1, R = D = 1, with kswapd and gathers; transitions
    # written out from docs/model.md §4.1, independently of the solver's construction.
    lam, mu, rho, gam = 2, 1, 3, 5
    s = [(f, k) for f in range(3) for k in range(2)]
    t = [
        # allocation: wake if f <= 1; f > 0: f - 1; f = 0: stall, f = min(2, 1) - 1 = 0
        ((2, 0), (1, 0), lam),
        ((2, 1), (1, 1), lam),
        ((1, 0), (0, 1), lam),
        ((1, 1), (0, 1), lam),
        ((0, 0), (0, 1), lam),
        # free
        ((0, 0), (1, 0), mu),
        ((0, 1), (1, 1), mu),
        ((1, 0), (2, 0), mu),
        ((1, 1), (2, 1), mu),
        # kswapd: f + 1 capped at 2, sleeps if f > 1
        ((0, 1), (1, 1), rho),
        ((1, 1), (2, 0), rho),
        ((2, 1), (2, 0), rho),
        # gather: wakes kswapd if f <= 1
        ((0, 0), (0, 1), gam),
        ((1, 0), (1, 1), gam),
    ]
    want = _solve_fractions(s, t)
    c = ZoneChain(
        2,
        0,
        1,
        1,
        alloc_rate=lam,
        free_rate=mu,
        kswapd_rate=rho,
        gather_rate=gam,
        reclaim_batch=1,
        direct_reclaim_batch=1,
    )
    for method in ("gth", "lu", "mg1"):
        pi = solve(c, method).pi[0]
        for (f, k), v in want.items():
            assert pi[k, f] == pytest.approx(float(v), abs=1e-14), (method, f, k)
    st = solve(c)
    assert st.below_min_prob == pytest.approx(float(want[(0, 0)] + want[(0, 1)]), rel=1e-12)
    # wake-ups: allocations and gathers at f <= low while asleep
    wake = (lam + gam) * (want[(0, 0)] + want[(1, 0)])
    assert st.kswapd_wakeups_per_s == pytest.approx(float(wake), rel=1e-12)


def test_generator_rows_sum_to_zero():
    c = ZoneChain(
        50,
        5,
        10,
        15,
        1.0,
        0.8,
        0.3,
        0.5,
        4,
        6,
        atomic_alloc_rate=0.2,
        burst_alloc_rate=2.0,
        burst_start_rate=0.1,
        burst_end_rate=0.5,
    )
    q = generator(c)
    assert np.abs(np.asarray(q.sum(axis=1))).max() < 1e-12
    assert (q - q.multiply(q < 0)).min() >= 0  # off-diagonal rates non-negative


CASES = [
    ZoneChain(120, 10, 20, 30, 1.0, 0.6, 0.05, 0.2, 8, 8),
    ZoneChain(300, 20, 80, 140, 1.0, 0.6, 0.2, 0.2),  # P(f <= min) ~ 5e-11
    ZoneChain(100, 10, 20, 30, 1.0, 1.5, 0.05, 0.2, 8, 8),  # mass near N
    ZoneChain(150, 12, 20, 30, 1.0, 0.7, 0.1, 0.2, 8, 8, atomic_alloc_rate=0.3),
    ZoneChain(
        150,
        12,
        20,
        30,
        1.0,
        0.7,
        0.1,
        0.2,
        8,
        8,
        burst_alloc_rate=3.0,
        burst_start_rate=0.01,
        burst_end_rate=0.1,
    ),
]


@pytest.mark.parametrize("chain", CASES)
def test_methods_agree_and_sum_to_one(chain):
    res = {m: solve(chain, m) for m in ("gth", "lu", "mg1")}
    for m, st in res.items():
        assert st.pi.sum() == pytest.approx(1.0, abs=1e-12), m
        assert st.pi.min() >= 0.0
    g = res["gth"]
    for m in ("lu", "mg1"):
        assert res[m].kswapd_awake_prob == pytest.approx(g.kswapd_awake_prob, rel=1e-8)
    # the level recursion keeps relative accuracy of tiny probabilities, like GTH
    assert res["mg1"].below_min_prob == pytest.approx(g.below_min_prob, rel=1e-8)
    assert res["mg1"].stalls_per_s == pytest.approx(g.stalls_per_s, rel=1e-8)


def test_batched_allocations_use_sparse_lu():
    c = ZoneChain(120, 10, 20, 30, 1.0, 2.0, 0.1, 0.2, 8, 8, alloc_batch_pages=3)
    a, b = solve(c, "gth"), solve(c)
    assert b.below_min_prob == pytest.approx(a.below_min_prob, rel=1e-8)
    with pytest.raises(ValueError):
        solve(c, "mg1")


def test_atomic_mark_follows_zone_watermark_ok():
    # __zone_watermark_ok(): min -= min / 2; min -= min / 4 (ALLOC_MIN_RESERVE|NON_BLOCK)
    assert atomic_min_mark(5355) == 2009
    assert atomic_min_mark(57) == 22
    assert atomic_min_mark(0) == 0


def test_large_zone_is_cheap():
    # a zone of ~1.4 GiB (the Normal zone of the shipped snapshot): one level recursion
    c = ZoneChain(360448, 5355, 6693, 8031, 1000.0, 990.0, 0.4, 10.0)
    st = solve(c)
    assert st.pi.sum() == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < st.below_min_prob < 1.0


def test_invalid_chain_rejected():
    with pytest.raises(ValueError):
        ZoneChain(10, 5, 4, 6, 1.0, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError):
        ZoneChain(10, 1, 2, 3, -1.0, 1.0, 1.0, 1.0)


def test_the_solver_refuses_extensions_it_lacks():
    """A watermark boost or RCU-held batch pages are not in the exact chain: the solver
    says so instead of solving a chain without them; ``Zone.exact_chain()`` strips the
    inert extension fields, so one chain has one record (and one stored law)."""
    base = ZoneChain(100, 10, 20, 30, 1.0, 0.9, 0.05, 0.2)
    boosted = replace(base, boost_rate=0.1, max_boost=20)
    for zone in (boosted, replace(base, rcu_grace_period_s=0.02)):
        assert zone.exact_chain() is None
        with pytest.raises(ValueError, match="no watermark boost"):
            solve(zone)
    inert = replace(base, boost_rate=0.1, boost_pages=8, burst_end_rate=0.5)  # max_boost 0
    assert inert.exact_chain() == base


def test_idle_zone_stays_idle():
    # nothing allocates: the idle state (N, asleep) is the whole closed class
    st = solve(ZoneChain(10, 1, 2, 3, 0.0, 0.0, 1.0, 2.0))
    assert st.pi[0, 0, 10] == 1.0
    assert st.below_min_prob == 0.0
