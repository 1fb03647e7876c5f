"""Exact solver of the zone chain with timed direct-reclaim stalls (docs/model.md §4.13)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from mcstudy.exact.pressure import ZoneChain, solve
from mcstudy.mechanisms.zone import stall_configs, stall_moves
from tests.exact.test_pressure import _solve_fractions

SMALL = ZoneChain(
    120,
    10,
    20,
    30,
    alloc_rate=1.0,
    free_rate=0.6,
    kswapd_rate=0.06,
    gather_rate=0.5,
    reclaim_batch=8,
    direct_reclaim_batch=8,
)


def _by_hand(c: ZoneChain) -> tuple[dict, list]:
    """pi and the stall rate of a tiny timed chain written out from the rules of §4.13,
    independently of ``level_events`` (exact rationals)."""
    kt, ph = c.alloc_tasks, c.stall_phases
    step = Fraction(ph) / Fraction(c.stall_mean_s)
    lam = Fraction(c.alloc_rate)
    states = [
        (f, k, cfg)
        for f in range(c.managed_pages + 1)
        for k in (0, 1)
        for cfg in stall_configs(kt, ph)
    ]
    trans = []
    stalls = []
    for f, k, cfg in states:
        woke = 1 if f <= c.wmark_low else k
        run = kt - sum(cfg)
        if run:
            if f > c.wmark_min:
                trans.append(((f, k, cfg), (f - 1, woke, cfg), lam * run / kt))
            else:
                stall = ((f, k, cfg), (f, woke, (cfg[0] + 1, *cfg[1:])), lam * run / kt)
                trans.append(stall)
                stalls.append(stall)
        trans.append(((f, k, cfg), (min(c.managed_pages, f + 1), k, cfg), c.free_rate))
        if k:
            g = min(c.managed_pages, f + c.reclaim_batch)
            trans.append(((f, k, cfg), (g, 0 if g > c.wmark_high else 1, cfg), c.kswapd_rate))
        for j in range(ph):
            if cfg[j] == 0:
                continue
            d = list(cfg)
            d[j] -= 1
            if j < ph - 1:
                d[j + 1] += 1
                trans.append(((f, k, cfg), (f, k, tuple(d)), cfg[j] * step))
                continue
            g = min(c.managed_pages, f + c.direct_reclaim_batch)
            wk = 1 if g <= c.wmark_low else k
            if g > c.wmark_min:
                trans.append(((f, k, cfg), (g - 1, wk, tuple(d)), cfg[j] * step))
            else:
                d[0] += 1
                stall = ((f, k, cfg), (g, wk, tuple(d)), cfg[j] * step)
                trans.append(stall)
                stalls.append(stall)
    trans = [(a, b, Fraction(r)) for a, b, r in trans if r and a != b]
    reach = {(c.managed_pages, 0, stall_configs(kt, ph)[0])}
    todo = list(reach)
    while todo:
        s = todo.pop()
        for a, b, _ in trans:
            if a == s and b not in reach:
                reach.add(b)
                todo.append(b)
    trans = [t for t in trans if t[0] in reach]
    pi = _solve_fractions(sorted(reach), trans)
    return pi, sum(pi.get(a, 0) * Fraction(r) for a, _b, r in stalls)


@pytest.mark.parametrize("tasks,phases", [(1, 1), (2, 1), (2, 2)])
def test_tiny_timed_chain_by_hand(tasks, phases):
    c = ZoneChain(
        5,
        1,
        2,
        3,
        alloc_rate=3.0,
        free_rate=0.5,
        kswapd_rate=1.0,
        gather_rate=0.0,
        reclaim_batch=2,
        direct_reclaim_batch=2,
        stall_mean_s=0.5,
        alloc_tasks=tasks,
        stall_phases=phases,
    )
    pi, stalls = _by_hand(c)
    below = sum(p for (f, _k, _c), p in pi.items() if f <= c.wmark_min)
    stalled = sum(p * sum(cfg) for (_f, _k, cfg), p in pi.items())
    for method in ("gth", "lu", "mg1"):
        st = solve(c, method)
        assert st.below_min_prob == pytest.approx(float(below), rel=1e-12), method
        assert st.stalled_tasks_mean == pytest.approx(float(stalled), rel=1e-12), method
        assert st.stalls_per_s == pytest.approx(float(stalls), rel=1e-12), method
        # Little's law: stalled tasks = stalls per second x mean stall
        assert st.stalled_tasks_mean == pytest.approx(st.stalls_per_s * c.stall_mean_s, rel=1e-10)
    configs = stall_configs(tasks, phases)
    st = solve(c, "gth")
    for (f, k, cfg), p in pi.items():
        assert st.pi[configs.index(cfg), k, f] == pytest.approx(float(p), rel=1e-11, abs=1e-300)


def test_methods_agree_on_timed_chains():
    for z in (
        replace(SMALL, stall_mean_s=0.5, alloc_tasks=4),
        replace(SMALL, stall_mean_s=0.5, alloc_tasks=3, stall_phases=2),
        replace(
            SMALL,
            stall_mean_s=0.2,
            alloc_tasks=2,
            burst_alloc_rate=3.0,
            burst_start_rate=0.01,
            burst_end_rate=0.1,
            atomic_alloc_rate=0.1,
        ),
    ):
        a, b = solve(z, "mg1"), solve(z, "lu")
        for name in (
            "below_min_prob",
            "stalls_per_s",
            "kswapd_wakeups_per_s",
            "below_min_entries_per_s",
            "stalled_tasks_mean",
            "atomic_fails_per_s",
        ):
            assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9), name
        assert a.pi.sum() == pytest.approx(1.0, abs=1e-12)


def test_short_stalls_tend_to_the_instantaneous_chain():
    inst = solve(SMALL)
    prev = None
    for mean in (1e-2, 1e-4, 1e-6):
        st = solve(replace(SMALL, stall_mean_s=mean, alloc_tasks=4))
        err = abs(st.below_min_prob / inst.below_min_prob - 1)
        assert err < 2 * mean  # O(stall time x rates)
        if prev is not None:
            assert err < prev
        prev = err
        assert st.stalls_per_s == pytest.approx(inst.stalls_per_s, rel=10 * mean)


def test_zero_stall_time_is_todays_chain_bit_for_bit():
    """With stall_mean_s = 0 the task count and the stall shape do not enter: the chain
    and its law are today's, bit for bit."""
    a = solve(SMALL)
    b = solve(replace(SMALL, alloc_tasks=7, stall_phases=3).exact_chain())
    assert a.pi.tobytes() == b.pi.tobytes()
    assert a.stalls_per_s == b.stalls_per_s and a.below_min_prob == b.below_min_prob
    assert replace(SMALL, alloc_tasks=7).exact_chain() == SMALL


def test_stall_moves_keep_the_tasks():
    configs = stall_configs(3, 2)
    start, advance, end, restart = stall_moves(configs)
    for i, c in enumerate(configs):
        if start[i] >= 0:
            assert sum(configs[start[i]]) == sum(c) + 1
        if end[i] >= 0:
            assert sum(configs[end[i]]) == sum(c) - 1 and sum(configs[restart[i]]) == sum(c)
        for j in advance[i]:
            if j >= 0:
                assert sum(configs[j]) == sum(c)
    assert configs[0] == (0, 0) and len(configs) == 10
