"""satqkd.keys: sifting, finite-key bounds, Cascade / LDPC, verification, privacy amplification.

Key basis Z, test basis X; finite key of Lim et al., PRA 89, 022307 (2014); Cascade of
Martinez-Mateo et al., QIC 15, 453 (2015); Toeplitz hashing computed exactly over GF(2).
See docs/keys.md.
"""

from satqkd.keys.bbm92 import (
    ABORT_BELL,
    BBM92Keys,
    BBM92Parameters,
    process_bbm92,
    tomamichel_key_length,
)
from satqkd.keys.cascade import CascadeResult, cascade_block_sizes, cascade_reconcile
from satqkd.keys.ldpc import LdpcResult, ldpc_reconcile
from satqkd.keys.finite_key import (
    ABORT_REASONS,
    AsymptoticResult,
    FiniteKeyResult,
    asymptotic_key_rate,
    binary_entropy,
    finite_key_bounds,
    finite_key_length,
    lim_gamma,
    security_overhead_bits,
)
from satqkd.keys.optimise import (
    MICIUS_PARAMETERS,
    DecoyParameters,
    OptimisationResult,
    OptimiserSettings,
    PassChannel,
    evaluate_parameters,
    expected_counts,
    expected_key,
    optimise_decoy_parameters,
)
from satqkd.keys.postprocess import (
    KeyParameters,
    PassKeys,
    process_pass,
    process_sifted,
    read_key_index,
    read_keys,
    write_keys,
)
from satqkd.keys.privacy_amplification import (
    privacy_amplification,
    toeplitz_hash,
    toeplitz_seed,
)
from satqkd.keys.sifting import (
    DecoyCounts,
    SiftedKey,
    accumulate_counts,
    concatenate_sifted,
    sift,
)
from satqkd.keys.verification import verification_tag_bits, verify_keys

__all__ = [
    "ABORT_BELL", "BBM92Keys", "BBM92Parameters", "MICIUS_PARAMETERS", "DecoyParameters",
    "OptimisationResult", "OptimiserSettings", "PassChannel", "concatenate_sifted",
    "evaluate_parameters", "expected_counts", "expected_key", "optimise_decoy_parameters",
    "process_bbm92", "process_sifted", "tomamichel_key_length",
    "ABORT_REASONS", "AsymptoticResult", "CascadeResult", "DecoyCounts", "FiniteKeyResult",
    "KeyParameters", "PassKeys", "SiftedKey", "accumulate_counts", "asymptotic_key_rate",
    "binary_entropy", "cascade_block_sizes", "cascade_reconcile", "finite_key_bounds",
    "finite_key_length", "lim_gamma", "privacy_amplification", "process_pass",
    "read_key_index", "read_keys", "security_overhead_bits", "sift", "toeplitz_hash",
    "toeplitz_seed", "verification_tag_bits", "verify_keys", "write_keys",
    "LdpcResult", "ldpc_reconcile",
]
