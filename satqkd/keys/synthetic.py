"""Synthetic decoy-BB84 detection events with known gains and error rates (tests, benchmarks).

Not the photon-level engine: a direct draw from the standard analytic model of a
weak-coherent-pulse BB84 link (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), eqs. 2-3 and 8):

    Q_k = Y0 + 1 - exp(-eta mu_k),    E_k Q_k = e0 Y0 + e_d (1 - exp(-eta mu_k)),  e0 = 1/2

The number of pulses per intensity is multinomial, the detections of intensity k are
Binomial(N_k, Q_k) (event-driven: only detected pulses are drawn), and each detection gets
Alice's basis (Z with p_z_alice), Bob's passive basis (Z with p_z_bob), Alice's random bit and,
in matching bases, an error with probability E_k; in mismatched bases Bob's bit is random.
Gains and error rates may also be given directly, e.g. to imitate an eavesdropper.
"""

from __future__ import annotations

import numpy as np

from satqkd.engine.events import BASIS_X, BASIS_Z, PHOTON_NUMBER_UNKNOWN, empty_events


def decoy_link_expectations(intensities, transmittance: float, y0: float,
                            misalignment: float) -> tuple[np.ndarray, np.ndarray]:
    """Gains Q_k and QBERs E_k of Ma et al. (2005) for total transmittance ``transmittance``,
    background yield ``y0`` (per pulse) and optical misalignment ``misalignment`` (e_d)."""
    mu = np.asarray(intensities, dtype=float)
    signal = 1.0 - np.exp(-transmittance * mu)
    gains = y0 + signal
    errors = (0.5 * y0 + misalignment * signal) / gains
    return gains, errors


def synthetic_events(rng: np.random.Generator, pulses: int, intensities, probabilities,
                     gains, error_rates, p_z_alice: float = 0.5,
                     p_z_bob: float = 0.5) -> np.ndarray:
    """Draw detection events (``EVENT_DTYPE``, sorted by pulse index) from the model above."""
    p = np.asarray(probabilities, dtype=float)
    sent = rng.multinomial(pulses, p)
    det = rng.binomial(sent, np.asarray(gains, dtype=float))
    total = int(det.sum())
    ev = empty_events(total)
    k = np.repeat(np.arange(len(p), dtype=np.int8), det)
    ev["intensity"] = k
    ev["alice_basis"] = np.where(rng.random(total) < p_z_alice, BASIS_Z, BASIS_X)
    ev["bob_basis"] = np.where(rng.random(total) < p_z_bob, BASIS_Z, BASIS_X)
    ev["alice_bit"] = rng.integers(0, 2, total)
    err = rng.random(total) < np.asarray(error_rates, dtype=float)[k]
    match = ev["alice_basis"] == ev["bob_basis"]
    ev["bob_bit"] = np.where(match, ev["alice_bit"] ^ err, rng.integers(0, 2, total))
    ev["photon_number"] = PHOTON_NUMBER_UNKNOWN
    ev["pulse_index"] = rng.integers(0, max(pulses, 1), total)
    ev = ev[np.argsort(ev["pulse_index"], kind="stable")]
    ev["slot"] = 0
    return ev
