"""``next_u64`` (written out for speed) equals two ``next_u32`` words, at every offset."""

from __future__ import annotations

import numpy as np
from numba import njit

from mcstudy.engine.rng import (
    STREAM_WORDS,
    next_double,
    next_double_open0,
    next_u32,
    next_u64,
    stream_key,
    stream_new,
)


@njit(cache=True)
def _u64_after(k0, k1, offset, n):
    st = stream_new(k0, k1, 3, 4)
    for _ in range(offset):
        next_u32(st)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = next_u64(st)
    return out, st


@njit(cache=True)
def _u32_pairs_after(k0, k1, offset, n):
    st = stream_new(k0, k1, 3, 4)
    for _ in range(offset):
        next_u32(st)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        hi = next_u32(st)
        lo = next_u32(st)
        out[i] = (hi << np.uint64(32)) | lo
    return out, st


@njit(cache=True)
def _doubles(k0, k1, n):
    st = stream_new(k0, k1, 3, 4)
    a = np.empty(n)
    b = np.empty(n)
    for i in range(n):
        a[i] = next_double(st)
        b[i] = next_double_open0(st)
    return a, b


def test_next_u64_is_two_words_high_first_across_refills():
    k0, k1 = stream_key(5, 9)
    for offset in range(0, 131):  # every position in the 64-word buffer, both refills
        got, st_a = _u64_after(k0, k1, offset, 70)
        want, st_b = _u32_pairs_after(k0, k1, offset, 70)
        assert np.array_equal(got, want), offset
        assert np.array_equal(st_a, st_b), offset  # same stream state afterwards
        assert st_a.shape == (STREAM_WORDS,)


def test_next_u64_pure_python_matches_jit():
    k0, k1 = stream_key(2, 1)
    for offset in (0, 62, 63, 64):
        got, _ = _u64_after.py_func(k0, k1, offset, 40)
        want, _ = _u64_after(k0, k1, offset, 40)
        assert np.array_equal(got, want)


def test_doubles_are_the_top_53_bits():
    k0, k1 = stream_key(3, 3)
    a, b = _doubles(k0, k1, 100)
    words, _ = _u32_pairs_after(k0, k1, 0, 200)
    top = (words >> np.uint64(11)).astype(np.float64)
    assert np.array_equal(a, top[0::2] * 2.0**-53)
    assert np.array_equal(b, (top[1::2] + 1.0) * 2.0**-53)
