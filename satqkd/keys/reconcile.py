"""The error-correction step shared by decoy BB84 and BBM92: Cascade or LDPC.

Both return a result with ``bob_corrected``, ``leaked_bits`` (lambda_A, bits Alice
disclosed), ``reply_bits`` (lambda_B, bits Bob disclosed), ``errors_corrected`` and
``efficiency()``:

* ``"cascade"``: two-way (Brassard & Salvail 1993; Martinez-Mateo et al. 2015); Bob answers
  every parity, lambda_B = lambda_A (:mod:`satqkd.keys.cascade`).
* ``"ldpc"``: one-way syndrome decoding (Elkouss et al. 2009/2011); Bob's only messages are
  a success flag per frame attempt (:mod:`satqkd.keys.ldpc`).
"""

from __future__ import annotations

import numpy as np

from satqkd.keys.cascade import DEFAULT_FRAME_BITS, DEFAULT_PASSES, cascade_reconcile

ERROR_CORRECTIONS = ("cascade", "ldpc")


def reconcile(alice_bits: np.ndarray, bob_bits: np.ndarray, qber_estimate: float,
              rng: np.random.Generator, method: str = "cascade", *,
              cascade_frame_bits: int = DEFAULT_FRAME_BITS,
              cascade_passes: int = DEFAULT_PASSES, transcript: bool = False):
    """Reconcile Bob's bits to Alice's with the chosen code; ``rng`` gives the public
    randomness, ``qber_estimate`` (from the test basis) sets the code's parameters.
    ``transcript``: Cascade also records which bits each disclosed parity covers."""
    if method == "ldpc":
        from satqkd.keys.ldpc import ldpc_reconcile

        return ldpc_reconcile(alice_bits, bob_bits, qber_estimate, rng)
    if method != "cascade":
        raise ValueError(f"error correction must be one of {ERROR_CORRECTIONS}, got {method!r}")
    return cascade_reconcile(alice_bits, bob_bits, qber_estimate, rng,
                             frame_bits=cascade_frame_bits, passes=cascade_passes,
                             transcript=transcript)
