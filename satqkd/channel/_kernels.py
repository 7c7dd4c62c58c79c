"""The two sequential loops of the channel stage (numba; everything around them is numpy)."""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def ar1_gaussian(innovations: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """Stationary unit-variance AR(1): z0 = e0, z_n = rho_n z_{n-1} + sqrt(1 - rho_n^2) e_n.

    With rho_n = exp(-dt / tau_n) this is the sampled Ornstein-Uhlenbeck process, whose
    marginal stays N(0, 1) even when tau changes along the sequence.
    """
    n = innovations.shape[0]
    z = np.empty(n)
    if n == 0:
        return z
    z[0] = innovations[0]
    for i in range(1, n):
        r = rho[i]
        z[i] = r * z[i - 1] + np.sqrt(1.0 - r * r) * innovations[i]
    return z


@numba.njit(cache=True)
def markov_two_state(uniforms: np.ndarray, p_stay_clear: np.ndarray, p_to_clear: np.ndarray,
                     initial_clear: bool) -> np.ndarray:
    """Two-state Markov chain: clear stays clear w.p. p_stay_clear[i], cloudy turns clear w.p. p_to_clear[i]."""
    n = uniforms.shape[0]
    out = np.empty(n, dtype=np.bool_)
    if n == 0:
        return out
    state = initial_clear
    out[0] = state
    for i in range(1, n):
        if state:
            state = uniforms[i] < p_stay_clear[i]
        else:
            state = uniforms[i] < p_to_clear[i]
        out[i] = state
    return out
