"""Growable buffers for ``@njit`` code: one ``push`` that every kernel shares.

A kernel that collects an unknown number of values (switch epochs, arrival times, the
cycles an IPI hit) keeps a 1-D array and its fill count; ``push`` doubles the array when
it is full. One function, so Numba compiles it once per element type, not once per
kernel module.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def push(buf, n, value):
    """``buf`` with ``value`` at index ``n`` (a new array of twice the length, of the same
    dtype, when ``buf`` is full), and ``n + 1``.

    ``n`` must be typed int64 at the call site (``np.int64(0)`` to start): a literal 0
    would compile a second specialisation for nothing.
    """
    if n == buf.shape[0]:
        new = np.empty(2 * n, dtype=buf.dtype)
        for i in range(n):  # a loop: a slice assignment compiles Numba's error text
            new[i] = buf[i]
        buf = new
    buf[n] = value
    return buf, n + 1
