"""The keys stage at the counts level: parameter estimation and the finite key from counts.

Same steps, same order and same abort reasons as
:func:`satqkd.keys.postprocess.process_sifted`, on the pass's detection tallies instead of
its bits (``[mission] fidelity = "counts"``):

1. sifted statistics per intensity from the counts: n_Z,k = counts[k, Z, Z, :],
   n_X,k = counts[k, X, X, :], m_X,k = counts[k, X, X, error] (exactly what sifting the
   events gives, since the engine's counts are the events' tally);
2. parameter estimation and Lim et al. (PRA 89, 022307 (2014)) eq. 1 with lambda_EC = 0
   before error correction (same code, :func:`satqkd.keys.finite_key.finite_key_length`);
3. error correction is not run: the key-basis error rate is the exact count
   Q_Z = m_Z / n_Z (what a successful reconciliation corrects), and the leakage is the
   code's measured curve lambda_A = f(Q_Z, n) n h(Q_Z), lambda_B = r lambda_A
   (:mod:`satqkd.keys.leakage_curve`; the schedule piece from the X-basis estimate, as
   the bits level sets Cascade's blocks);
4. verification is taken to succeed (the 50-bit tag's bits are reported, and charged
   through log2(2/eps_cor) as in the bits level); a residual error after Cascade, which
   the bits level catches as ``verification_failed``, happens about once in 15,000
   frames at 2 % QBER (docs/keys.md) and is not modelled;
5. Lim et al. eq. 1 with the modelled lambda_A and the two-way rule (``reply_bits`` =
   lambda_B) gives the key length; no privacy amplification runs and no key exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from satqkd.keys.finite_key import (
    ABORT_EC_FAILED,
    ABORT_QBER,
    binary_entropy,
    finite_key_length,
)
from satqkd.keys.leakage_curve import efficiency_curve
from satqkd.keys.postprocess import (
    KeyParameters,
    PassKeys,
    asymptotic_bits_and_eps,
    block_bound,
    block_keys,
    check_before_reconciliation,
    finite_key_inputs,
    single_photon_trials,
)
from satqkd.keys.sifting import DecoyCounts

__all__ = ["decoy_counts", "keys_from_counts", "ReconciledCounts", "reconcile_counts",
           "finish_counts_block"]

_EMPTY = np.zeros(0, dtype=np.uint8)


def decoy_counts(counts: np.ndarray) -> DecoyCounts:
    """Sifted statistics from tallies [..., intensity, alice_basis, bob_basis, error]
    (leading axes, e.g. slots, are summed)."""
    c = np.asarray(counts, dtype=np.int64)
    c = c.reshape((-1,) + c.shape[-4:]).sum(axis=0)
    return DecoyCounts(c[:, 0, 0, :].sum(-1), c[:, 1, 1, :].sum(-1), c[:, 1, 1, 1].copy(),
                       c[:, 0, 0, 1].copy())


def keys_from_counts(counts: np.ndarray, intensities, probabilities, p_z: float,
                     params: KeyParameters = KeyParameters(), *,
                     pulses_sent: int | None = None) -> PassKeys:
    """One pass's keys-stage result from its tallies (no bits, no key material).

    ``counts``: int (..., K, 2, 2, 2) as the engine's ``counts``; the rest as
    :func:`satqkd.keys.postprocess.process_sifted`. The result's ``alice_key``/``bob_key``
    are empty: the counts level never holds a key.
    """
    if not 0.0 < p_z < 1.0:
        raise ValueError(f"p_z must be in (0, 1), got {p_z}")
    c = decoy_counts(counts)
    n = int(c.n_z.sum())
    qber_x = c.qber_x
    qber_z_count = float(c.m_z_true.sum() / n) if n else float("nan")
    detections = np.asarray(counts).reshape((-1,) + np.shape(counts)[-4:]).sum(axis=(0, 2, 3, 4))

    asym, eps = asymptotic_bits_and_eps(detections, c, intensities, probabilities,
                                        pulses_sent, params)

    def done(reason, bounds=None, lam=(0, 0), tag_bits=0, qz=float("nan"), eff=float("nan"),
             secret=0):
        return PassKeys(n, qz, qber_x, qber_z_count, c, bounds, lam[0], tag_bits,
                        lam[0] + lam[1] + tag_bits, eff, secret, reason, _EMPTY, _EMPTY, asym,
                        lam[1], *eps)

    fk_args, fk_kw = finite_key_inputs(c, intensities, probabilities, p_z, params, pulses_sent)
    reason, pre = check_before_reconciliation(c, qber_x, params, fk_args, fk_kw)
    if reason:
        return done(reason, pre)

    curve = efficiency_curve(params.error_correction, params.cascade_frame_bits,
                             params.cascade_passes)
    estimate = max(qber_x, params.min_qber_estimate)
    lam = curve.leaked_bits(qber_z_count, n, estimate)
    h = binary_entropy(qber_z_count)
    eff = lam[0] / (n * h) if h > 0 else float("nan")
    if lam[0] >= n:
        return done(ABORT_EC_FAILED, pre, lam, qz=qber_z_count, eff=eff)
    if qber_z_count > params.qber_threshold:
        return done(ABORT_QBER, pre, lam, qz=qber_z_count, eff=eff)
    tag_bits = math.ceil(math.log2(1.0 / params.eps_cor))
    fk = finite_key_length(*fk_args, float(lam[0]), **fk_kw, reply_bits=float(lam[1]))
    if fk.abort_reason:
        return done(fk.abort_reason, fk, lam, tag_bits, qber_z_count, eff)
    return done("", fk, lam, tag_bits, qber_z_count, eff, fk.length)


# --------------------------------------------------------------------------- pooled blocks
@dataclass(frozen=True)
class ReconciledCounts:
    """One pass of a pooled finite-key block at the counts level: what
    :class:`satqkd.keys.postprocess.ReconciledPass` holds, without the key bits."""

    counts: DecoyCounts
    sifted_bits: int
    leaked_bits: int  # lambda_A of the pass (the curve's), disclosed bits included
    reply_bits: int  # lambda_B
    verified: bool
    disclosed: bool
    qber_z: float
    ec_efficiency: float
    single_photon_trials: float | None = None
    eve: None = None  # no eavesdropper at the counts level


def reconcile_counts(counts: np.ndarray, intensities, probabilities, p_z: float,
                     params: KeyParameters = KeyParameters(), *,
                     pulses_sent: int | None = None) -> ReconciledCounts:
    """Error correction of one pass of a pooled block, from its tallies.

    The same decisions as :func:`satqkd.keys.postprocess.reconcile_sifted`: a pass whose
    own X-basis QBER is above threshold (or a detector mismatch) is disclosed, all its n
    bits charged to lambda_A; otherwise the leakage is the code's measured curve at the
    pass's key error rate and size (the piece of the schedule from its X estimate); a
    leak of n bits or more is a failed reconciliation, disclosed the same way. Verification
    is taken to succeed (module docstring, step 4).
    """
    c = decoy_counts(counts)
    n = int(c.n_z.sum())
    trials = single_photon_trials(intensities, probabilities, p_z, params, pulses_sent)
    nan = float("nan")
    if n == 0:
        return ReconciledCounts(c, 0, 0, 0, False, False, nan, nan, trials)
    qber_x = c.qber_x
    if not np.isfinite(qber_x) or qber_x > params.qber_threshold or params.detector_mismatch:
        return ReconciledCounts(c, n, n, 0, False, True, nan, nan, trials)
    curve = efficiency_curve(params.error_correction, params.cascade_frame_bits,
                             params.cascade_passes)
    qz = float(c.m_z_true.sum() / n)
    lam_a, lam_b = curve.leaked_bits(qz, n, max(qber_x, params.min_qber_estimate))
    h = binary_entropy(qz)
    eff = lam_a / (n * h) if h > 0 else nan
    if lam_a >= n:
        return ReconciledCounts(c, n, lam_a + n, lam_b, False, True, qz, eff, trials)
    return ReconciledCounts(c, n, lam_a, lam_b, True, False, qz, eff, trials)


def finish_counts_block(parts: list[ReconciledCounts], intensities, probabilities,
                        params: KeyParameters) -> PassKeys:
    """The key length of a pooled block at the counts level: the bits level's bound
    (:func:`satqkd.keys.postprocess.block_bound`: summed statistics, per-pass leaks, k
    tags), no privacy amplification and no key."""
    b = block_bound(parts, intensities, probabilities, params)
    return block_keys(b, 0 if b.reason else b.fk.length)
