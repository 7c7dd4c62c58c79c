"""Error verification after reconciliation (the eps_cor step of Lim et al., PRA 89, 022307).

Alice and Bob hash their reconciled keys with a Toeplitz matrix drawn from shared public
randomness (a universal family: for keys that differ, the tags collide with probability
exactly 2^-t, Krawczyk, CRYPTO '94) and compare t-bit tags, t = ceil(log2(1/eps_cor))
(50 bits at eps_cor = 1e-15: 2^-50 = 8.9e-16 <= eps_cor).  If the tags differ the pass
aborts; if they agree the keys are identical except with probability <= eps_cor, so the
protocol is eps_cor-correct.  The tag bits are public: Lim et al.'s key length already
charges log2(2/eps_cor) bits for them, so they are *not* added to lambda_EC again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from satqkd.keys.privacy_amplification import toeplitz_hash, toeplitz_seed


def verification_tag_bits(eps_cor: float = 1e-15) -> int:
    """t = ceil(log2(1/eps_cor)): the shortest tag whose collision probability 2^-t <= eps_cor."""
    if not 0.0 < eps_cor < 1.0:
        raise ValueError(f"eps_cor must be in (0, 1), got {eps_cor}")
    return int(math.ceil(math.log2(1.0 / eps_cor)))


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    tag_bits: int
    alice_tag: np.ndarray
    bob_tag: np.ndarray
    seed: np.ndarray | None = None  # the public Toeplitz seed of the tag


def verify_keys(alice_bits: np.ndarray, bob_bits: np.ndarray, rng: np.random.Generator,
                eps_cor: float = 1e-15) -> VerificationResult:
    """Compare Toeplitz-hash tags of both reconciled keys (seed drawn from the shared ``rng``)."""
    a = np.ascontiguousarray(alice_bits, dtype=np.uint8)
    b = np.ascontiguousarray(bob_bits, dtype=np.uint8)
    if a.shape != b.shape:
        return VerificationResult(False, 0, np.zeros(0, np.uint8), np.zeros(0, np.uint8))
    t = verification_tag_bits(eps_cor)
    seed = toeplitz_seed(a.size, t, rng)
    ta = toeplitz_hash(a, seed, t)
    tb = toeplitz_hash(b, seed, t)
    return VerificationResult(bool(np.array_equal(ta, tb)), t, ta, tb, seed)
