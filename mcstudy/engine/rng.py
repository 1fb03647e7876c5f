"""Keyed, counter-based random streams: Philox4x32-10 in plain ``@njit`` code.

Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
1, 2, 3", SC 2011) maps a 128-bit counter and a 64-bit key to 128 random bits.
It is tested against the Random123 known-answer vectors.

Stream layout used everywhere in mcstudy (so a number depends only on *what* it is,
never on which thread or worker drew it):

* key (2 x 32 bit)  = ``stream_key(study_seed, point_index)`` (SplitMix64 mixing)
* counter word 0, 1 = Philox call index within the stream (64 bit)
* counter word 2    = block index (block of sequences, fixed size, see ``engine.blocks``)
* counter word 3    = named sub-stream (``SUBSTREAM_*`` constants of each model)

A stream is a ``uint64[STREAM_WORDS]`` array: a header (call counter, block,
sub-stream, key, buffer position) and a buffer of ``4 * PHILOX_CALLS_PER_REFILL``
32-bit words filled by consecutive Philox calls. It is created per block inside the
kernels, so no state is shared between threads. The word order of the stream is
fixed (see ``_refill``), so results never depend on the machine or thread count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

PHILOX_CALLS_PER_REFILL = 16
_BUF_WORDS = 4 * PHILOX_CALLS_PER_REFILL
_HEADER = 8
_POS = 6
STREAM_WORDS = _HEADER + _BUF_WORDS
_TWO_POW_M53 = 1.0 / 9007199254740992.0  # 2**-53

MASK64 = (1 << 64) - 1


@njit(cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32 with 10 rounds: counter (c0..c3) and key (k0, k1) -> 4 uint32.

    All arithmetic is done in uint64 and masked to 32 bits, so the same code runs
    compiled and under ``NUMBA_DISABLE_JIT=1`` without overflow.
    """
    x0 = np.uint64(c0) & _MASK32
    x1 = np.uint64(c1) & _MASK32
    x2 = np.uint64(c2) & _MASK32
    x3 = np.uint64(c3) & _MASK32
    y0 = np.uint64(k0) & _MASK32
    y1 = np.uint64(k1) & _MASK32
    for r in range(10):
        if r > 0:
            y0 = (y0 + _W0) & _MASK32
            y1 = (y1 + _W1) & _MASK32
        p0 = PHILOX_M0 * x0
        p1 = PHILOX_M1 * x2
        x0, x1, x2, x3 = (
            (p1 >> _SHIFT32) ^ x1 ^ y0,
            p1 & _MASK32,
            (p0 >> _SHIFT32) ^ x3 ^ y1,
            p0 & _MASK32,
        )
    return np.uint32(x0), np.uint32(x1), np.uint32(x2), np.uint32(x3)


def splitmix64_next(state: int) -> tuple[int, int]:
    """One step of SplitMix64 (Steele, Lea & Flood 2014): returns (new_state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def stream_key(study_seed: int, point_index: int) -> tuple[int, int]:
    """The 64-bit Philox key of one sweep point, as two uint32 words (k0, k1).

    SplitMix64 of the seed, xor the point index, SplitMix64 again: distinct
    (seed, point) pairs give unrelated keys.
    """
    if study_seed < 0 or point_index < 0:
        raise ValueError("seed and point index must be non-negative")
    _, h = splitmix64_next(study_seed & MASK64)
    _, h = splitmix64_next(h ^ (point_index & MASK64))
    return h & 0xFFFFFFFF, h >> 32


@njit(cache=True)
def stream_new(k0, k1, block, substream):
    """A fresh stream for (key, block, named sub-stream), positioned at draw 0."""
    st = np.zeros(STREAM_WORDS, dtype=np.uint64)
    st[2] = np.uint64(block) & _MASK32
    st[3] = np.uint64(substream) & _MASK32
    st[4] = np.uint64(k0) & _MASK32
    st[5] = np.uint64(k1) & _MASK32
    st[_POS] = np.uint64(_BUF_WORDS)  # buffer empty
    return st


@njit(cache=True)
def _refill(st):
    """Fill the buffer with PHILOX_CALLS_PER_REFILL consecutive counters.

    The loop has no loads, so LLVM vectorises it; outputs are stored word-major
    (all first words, then all second words, ...), which fixes the stream order.
    """
    ctr = st[0]
    c2 = st[2]
    c3 = st[3]
    k0 = st[4]
    k1 = st[5]
    for j in range(PHILOX_CALLS_PER_REFILL):
        c = ctr + np.uint64(j)
        o0, o1, o2, o3 = philox4x32_10(c & _MASK32, c >> _SHIFT32, c2, c3, k0, k1)
        st[_HEADER + j] = o0
        st[_HEADER + PHILOX_CALLS_PER_REFILL + j] = o1
        st[_HEADER + 2 * PHILOX_CALLS_PER_REFILL + j] = o2
        st[_HEADER + 3 * PHILOX_CALLS_PER_REFILL + j] = o3
    st[0] = ctr + np.uint64(PHILOX_CALLS_PER_REFILL)
    st[_POS] = np.uint64(0)


@njit(cache=True, inline="always")
def next_u32(st) -> np.uint64:
    """Next uniform 32-bit word of the stream (returned as uint64 < 2**32).

    Inlined at the Numba IR level: a called function taking an array pays atomic
    reference counting on every call, which costs more than the draw itself.
    """
    p = np.int64(st[_POS])
    if p >= _BUF_WORDS:
        _refill(st)
        p = 0
    st[_POS] = np.uint64(p + 1)
    return st[_HEADER + p]


@njit(cache=True, inline="always")
def next_u64(st) -> np.uint64:
    """Next uniform 64-bit word: the next two 32-bit words, high word first.

    Written out rather than as two nested ``next_u32`` calls: that nesting of inlined
    array-taking functions left atomic NRT incref/decref calls in the callers' loops
    (Numba's refcount pruning did not remove them) and made a 64-bit draw cost about
    6 times two 32-bit draws (``mcstudy bench``: philox_double). Same words, same order.
    """
    p = np.int64(st[_POS])
    if p >= _BUF_WORDS - 1:
        if p >= _BUF_WORDS:
            _refill(st)
            p = 0
        else:
            # the high word is the buffer's last: the low word starts the next refill
            hi = st[_HEADER + p]
            _refill(st)
            st[_POS] = np.uint64(1)
            return (hi << _SHIFT32) | st[_HEADER]
    st[_POS] = np.uint64(p + 2)
    return (st[_HEADER + p] << _SHIFT32) | st[_HEADER + p + 1]


@njit(cache=True, inline="always")
def next_double(st) -> float:
    """Uniform double in [0, 1) with 53 random bits."""
    return float(next_u64(st) >> np.uint64(11)) * _TWO_POW_M53


@njit(cache=True, inline="always")
def next_double_open0(st) -> float:
    """Uniform double in (0, 1]: safe argument for log()."""
    return (float(next_u64(st) >> np.uint64(11)) + 1.0) * _TWO_POW_M53


@njit(cache=True, inline="always")
def bernoulli_u64(st, thr_hi, thr_lo, always) -> bool:
    """True with probability thr / 2**64 where thr = thr_hi * 2**32 + thr_lo.

    Exact 64-bit comparison that usually consumes one 32-bit word: the low word is
    drawn only when the high words tie. ``always`` encodes probability 1.
    """
    if always:
        return True
    hi = next_u32(st)
    if hi != thr_hi:
        return hi < thr_hi
    return next_u32(st) < thr_lo


def probability_threshold(p: float) -> tuple[int, int, bool]:
    """Encode a probability as (thr_hi, thr_lo, always) for ``bernoulli_u64``.

    thr = floor(p * 2**64) computed exactly from the binary value of ``p``; the
    largest representable error is 2**-64 in probability.
    """
    from fractions import Fraction

    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p!r} outside [0, 1]")
    if p == 1.0:
        return 0, 0, True
    thr = int(Fraction(p) * (1 << 64))
    return thr >> 32, thr & 0xFFFFFFFF, False
