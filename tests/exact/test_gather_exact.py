"""The gather DP against brute-force enumeration and closed forms."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from mcstudy.exact.gather import fallbacks_pmf, gather_exact, gather_exact_mixture


def _enumerate(n: int, p: float, batch: int) -> dict[tuple[int, int], float]:
    """P(fallbacks = f, attempts = a) by walking every outcome of every attempt."""

    @cache
    def walk(r: int) -> tuple[tuple[tuple[int, int], float], ...]:
        if r <= 0:
            return (((0, 0), 1.0),)
        out: dict[tuple[int, int], float] = {}
        for (f, a), pr in walk(r - 1):
            out[(f + 1, a + 1)] = out.get((f + 1, a + 1), 0.0) + p * pr
        for (f, a), pr in walk(r - batch):
            out[(f, a + 1)] = out.get((f, a + 1), 0.0) + (1 - p) * pr
        return tuple(out.items())

    return dict(walk(n))


@pytest.mark.parametrize(
    ("n", "p", "batch"), [(1, 0.3, 3), (7, 0.3, 3), (10, 0.55, 4), (9, 0.1, 1)]
)
def test_dp_equals_enumeration(n, p, batch):
    dist = _enumerate(n, p, batch)
    assert sum(dist.values()) == pytest.approx(1.0)
    mf = sum(f * q for (f, _), q in dist.items())
    vf = sum(f * f * q for (f, _), q in dist.items()) - mf**2
    ma = sum(a * q for (_, a), q in dist.items())
    va = sum(a * a * q for (_, a), q in dist.items()) - ma**2
    p0 = sum(q for (f, _), q in dist.items() if f == 0)
    e = gather_exact(n, p, batch)
    assert e.fallbacks_mean == pytest.approx(mf, rel=1e-12)
    assert e.fallbacks_var == pytest.approx(vf, rel=1e-10, abs=1e-12)
    assert e.alloc_attempts_mean == pytest.approx(ma, rel=1e-12)
    assert e.alloc_attempts_var == pytest.approx(va, rel=1e-10, abs=1e-12)
    assert e.fallback_prob == pytest.approx(1 - p0, rel=1e-12)
    pmf = fallbacks_pmf(n, p, batch)
    for k in range(n + 1):
        assert pmf[k] == pytest.approx(sum(q for (f, _), q in dist.items() if f == k), abs=1e-15)


@pytest.mark.parametrize("n", [1, 508, 509, 510, 1018, 5000])
@pytest.mark.parametrize("p", [1e-4, 0.01, 0.3])
def test_closed_forms(n, p):
    batch = 509
    e = gather_exact(n, p, batch)
    # no fallback iff every one of the ceil(n / B) attempts succeeds
    assert e.fallback_prob == pytest.approx(1 - (1 - p) ** math.ceil(n / batch), rel=1e-12)
    pmf = fallbacks_pmf(n, p, batch)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    k = np.arange(n + 1)
    assert (k * pmf).sum() == pytest.approx(e.fallbacks_mean, rel=1e-9, abs=1e-15)
    assert (k * k * pmf).sum() - e.fallbacks_mean**2 == pytest.approx(
        e.fallbacks_var, rel=1e-7, abs=1e-13
    )


def test_degenerate_probabilities():
    e0 = gather_exact(1018, 0.0, 509)
    assert (e0.fallbacks_mean, e0.fallback_prob, e0.alloc_attempts_mean) == (0.0, 0.0, 2.0)
    e1 = gather_exact(1018, 1.0, 509)
    assert (e1.fallbacks_mean, e1.fallbacks_var, e1.alloc_attempts_mean) == (1018.0, 0.0, 1018.0)
    # a single table: fallbacks ~ Bernoulli(p)
    e = gather_exact(1, 0.3, 509)
    assert e.fallbacks_mean == pytest.approx(0.3)
    assert e.fallbacks_var == pytest.approx(0.21)


def test_mixture_weights_and_reduction():
    pure = gather_exact(600, 0.01, 509)
    mixed = gather_exact_mixture(600, 509, [(1.0, 0.01), (0.0, 0.9)])
    assert mixed.fallbacks_mean == pure.fallbacks_mean
    assert mixed.fallbacks_var == pytest.approx(pure.fallbacks_var, rel=1e-12)
    half = gather_exact_mixture(600, 509, [(0.5, 0.01), (0.5, 0.5)])
    hi = gather_exact(600, 0.5, 509)
    assert half.fallbacks_mean == pytest.approx(0.5 * (pure.fallbacks_mean + hi.fallbacks_mean))
    with pytest.raises(ValueError):
        gather_exact_mixture(600, 509, [(0.3, 0.01)])
