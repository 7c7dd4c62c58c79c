"""Bit tricks on 64-bit words shared by the keys stage's numba kernels."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def word_parity(x):
    """Parity (0 or 1) of the set bits of a uint64, by folding halves with XOR."""
    x ^= x >> np.uint64(32)
    x ^= x >> np.uint64(16)
    x ^= x >> np.uint64(8)
    x ^= x >> np.uint64(4)
    x ^= x >> np.uint64(2)
    x ^= x >> np.uint64(1)
    return np.int32(x & np.uint64(1))
