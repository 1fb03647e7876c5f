"""The within-gather laws: closed forms, their special cases, and the bootstrap noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcstudy.exact.gather import gather_exact
from mcstudy.lab.law import (
    BlockTally,
    _simulate_level,
    aon_lag1,
    law_noise,
    law_statistics,
    persistence_of,
    persistent_law,
    tally_block,
)

N, B = 66, 509


def blocks_from(law: str, q: float, r: float, p: float, sizes, seed=3, level=350):
    sims = _simulate_level(law, q, r, p, sizes, N, 1, np.random.default_rng(seed))
    return [BlockTally(level, *(int(x) for x in s[0])) for s in sims]


def test_tally_of_a_block():
    t = tally_block(1, [[False], [True, True, False], [True] * 3], fallbacks=5)
    assert (t.gathers, t.attempts, t.failures, t.first_fails, t.all_fail) == (3, 7, 5, 2, 1)
    # stream S F F S F F F: pairs 6, FF pairs 3; inside gathers: 2 + 2 pairs, FF 1 + 2
    assert (t.pairs, t.pairs_ff, t.pairs_in_gather, t.pairs_in_gather_ff) == (6, 3, 4, 3)
    assert persistence_of([t]) == 3 / 4


def test_persistent_law_contains_the_two_model_laws():
    q = 0.02
    # r = 1: all-or-nothing
    m, a, c, v = persistent_law(q, 1.0, N, B)
    ca, va = aon_lag1(q, N, B)
    assert m == pytest.approx(q * N) and a == 1.0
    assert c / v == pytest.approx(ca / va)
    # r = q = p: every attempt independent with probability p
    p = 0.3
    m, a, c, v = persistent_law(p, p, N, B)
    assert m == pytest.approx(gather_exact(N, p, B).fallbacks_mean, rel=1e-12)
    assert a == pytest.approx(p ** (N - 1))
    assert abs(c / v) < 1e-3  # only the all-fail boundary correlates (p^65)
    assert math.isnan(persistent_law(q, 0.5, 600, B)[0])


@pytest.mark.parametrize("law", ["independent", "all_or_nothing", "persistent"])
def test_simulated_laws_match_their_own_predictions(law):
    q, r, p = 0.05, 0.8, 0.2
    blocks = blocks_from(law, q, r, p, [4000] * 4)
    st = law_statistics(blocks, N, B)
    for key in ("fallbacks_per_gather", "attempt_lag1_corr"):
        assert st[key].measured == pytest.approx(st[key].predicted(law), abs=0.03), key
    if law == "all_or_nothing":
        assert st["all_fail_given_first"].measured == 1.0
    if law == "independent":
        assert abs(st["attempt_lag1_corr"].measured) < 0.03
        assert st["all_fail_given_first"].measured == 0.0


def test_statistics_tell_the_laws_apart():
    blocks = blocks_from("persistent", 0.05, 0.9, 0.0, [3000] * 4)
    st = law_statistics(blocks, N, B)
    noise = law_noise(blocks, N, B, level=0.99, reps=300, seed=5)
    corr = st["attempt_lag1_corr"]
    assert abs(corr.measured - corr.independent) > noise[("independent", "attempt_lag1_corr")]
    assert abs(corr.measured - corr.persistent) <= noise[("persistent", "attempt_lag1_corr")]
    af = st["all_fail_given_first"]
    assert abs(af.measured - af.all_or_nothing) > noise[("all_or_nothing", "all_fail_given_first")]
    assert all(v >= 0 for v in noise.values() if not math.isnan(v))


def test_no_failure_leaves_the_conditional_statistics_undefined():
    blocks = [tally_block(0, [[False]] * 10, 0)]
    st = law_statistics(blocks, N, B)
    assert st["fallbacks_per_gather"].measured == 0.0
    assert math.isnan(st["all_fail_given_first"].measured)
    assert math.isnan(st["attempt_lag1_corr"].measured)
    assert math.isnan(persistence_of(blocks))
