"""Philox4x32-10 against the Random123 known-answer vectors, and stream properties."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from mcstudy.engine.rng import (
    bernoulli_u64,
    next_double,
    next_u32,
    philox4x32_10,
    probability_threshold,
    splitmix64_next,
    stream_key,
    stream_new,
)

# Random123 tests/kat_vectors, philox4x32_10: (counter, key, expected output)
RANDOM123_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF,) * 4,
        (0xFFFFFFFF,) * 2,
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("ctr", "key", "expected"), RANDOM123_KAT)
def test_philox_known_answers_jit(ctr, key, expected):
    assert tuple(int(x) for x in philox4x32_10(*ctr, *key)) == expected


@pytest.mark.parametrize(("ctr", "key", "expected"), RANDOM123_KAT)
def test_philox_known_answers_pure_python(ctr, key, expected):
    assert tuple(int(x) for x in philox4x32_10.py_func(*ctr, *key)) == expected


def test_splitmix64_reference_sequence():
    # SplitMix64 (Steele, Lea & Flood) seeded with 1234567: the widely published sequence
    state = 1234567
    out = []
    for _ in range(5):
        state, z = splitmix64_next(state)
        out.append(z)
    assert out == [
        6457827717110365317,
        3203168211198807973,
        9817491932198370423,
        4593380528125082431,
        16408922859458223821,
    ]


@njit
def _draw_words(k0, k1, block, substream, n):
    st = stream_new(k0, k1, block, substream)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        out[i] = next_u32(st)
    return out


def test_stream_words_are_philox_outputs_in_documented_order():
    k0, k1 = stream_key(7, 3)
    words = _draw_words(k0, k1, 5, 2, 128)
    # first refill: counters 0..15, stored word-major
    calls = [philox4x32_10(j, 0, 5, 2, k0, k1) for j in range(16)]
    expected = [int(calls[j][w]) for w in range(4) for j in range(16)]
    assert [int(x) for x in words[:64]] == expected
    calls2 = [philox4x32_10(16 + j, 0, 5, 2, k0, k1) for j in range(16)]
    expected2 = [int(calls2[j][w]) for w in range(4) for j in range(16)]
    assert [int(x) for x in words[64:]] == expected2


def test_stream_jit_equals_pure_python():
    k0, k1 = stream_key(11, 0)
    jit = _draw_words(k0, k1, 1, 1, 200)
    py = _draw_words.py_func(k0, k1, 1, 1, 200)
    assert np.array_equal(jit, py)


def test_streams_differ_by_block_substream_and_key():
    k0, k1 = stream_key(1, 0)
    base = _draw_words(k0, k1, 0, 1, 16)
    assert not np.array_equal(base, _draw_words(k0, k1, 1, 1, 16))
    assert not np.array_equal(base, _draw_words(k0, k1, 0, 2, 16))
    j0, j1 = stream_key(1, 1)
    assert not np.array_equal(base, _draw_words(j0, j1, 0, 1, 16))


def test_stream_key_validates():
    with pytest.raises(ValueError):
        stream_key(-1, 0)
    assert stream_key(1, 2) != stream_key(2, 1)


@njit
def _uniform_mean(n):
    st = stream_new(1, 2, 3, 4)
    s = 0.0
    for _ in range(n):
        s += next_double(st)
    return s / n


def test_uniform_mean_within_4_standard_errors():
    n = 1_000_000
    se = (1.0 / 12.0 / n) ** 0.5
    assert abs(_uniform_mean(n) - 0.5) < 4 * se


@njit
def _bernoulli_count(n, hi, lo, always):
    st = stream_new(9, 9, 0, 0)
    c = 0
    for _ in range(n):
        if bernoulli_u64(st, hi, lo, always):
            c += 1
    return c


@pytest.mark.parametrize("p", [0.0, 1e-3, 0.3, 0.5, 1.0])
def test_bernoulli_frequency_within_4_standard_errors(p):
    n = 400_000
    hi, lo, always = probability_threshold(p)
    c = _bernoulli_count(n, np.uint64(hi), np.uint64(lo), always)
    se = (p * (1 - p) / n) ** 0.5
    assert abs(c / n - p) <= 4 * se


def test_probability_threshold_is_exact():
    assert probability_threshold(0.5) == (1 << 31, 0, False)
    assert probability_threshold(0.0) == (0, 0, False)
    assert probability_threshold(1.0) == (0, 0, True)
    hi, lo, _ = probability_threshold(2.0**-40)
    assert (hi << 32) | lo == 1 << 24
    with pytest.raises(ValueError):
        probability_threshold(1.5)
