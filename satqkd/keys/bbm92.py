"""BBM92 entanglement-based key: finite-key length of Tomamichel et al. and real post-processing.

Protocol (Bennett, Brassard, Mermin, PRL 68, 557 (1992)): both stations measure each photon
of a pair in Z (H/V) or X (D/A), chosen passively; coincidences with matching settings are
kept; Z bits form the raw key (n bits), X bits (k bits) are all disclosed to estimate the
error rate. The source (the satellite) is untrusted: the security argument is that of
entanglement-based BB84 with the detectors squashed to qubits.

Finite key (Tomamichel, Lim, Gisin, Renner, "Tight finite-key analysis for quantum
cryptography", Nat. Commun. 3, 634 (2012), arXiv:1103.4130, main result, eqs. 2-3; *TLGR*
below). With the key from Z and the test in X (the paper's labels are swapped, as in
:mod:`satqkd.keys.finite_key`), the protocol is eps_cor-correct and eps_sec-secret if

    ell = floor( n (q - h(Q_tol + mu)) - leak_EC - log2( 2 / (eps_sec^2 eps_cor) ) ),
    mu  = sqrt( (n + k) / (n k) * (k + 1) / k * ln(2 / eps_sec) ),

where h is the binary entropy, q = log2(1/c) the preparation quality (c the maximal overlap
of the two measurements: q = 1 for mutually unbiased Z and X), Q_tol the tolerated X error
rate (the protocol aborts above it) and mu the statistical deviation between the X error
rate on the k test bits and the (unobserved) phase error rate on the n key bits, from
Serfling's bound for sampling without replacement. leak_EC is what error correction
disclosed; the log2(1/eps_cor) part of the last term pays for the verification hash, so its
tag is counted in ``leaked_bits`` but not a second time in ell (as in the keys stage).

Choices of satqkd (docs/entanglement.md): Q_tol = the observed X-basis error rate unless a
fixed ``qber_tolerance`` is given (the usual practice of reporting experiments, e.g. Yin et
al., Nature 582, 501 (2020)); leak_EC = the parities Cascade actually disclosed
(:func:`satqkd.keys.cascade.cascade_reconcile`); verification by a Toeplitz tag
(:func:`satqkd.keys.verification.verify_keys`); privacy amplification by a Toeplitz hash
(:func:`satqkd.keys.privacy_amplification.privacy_amplification`). Defaults eps_sec = 1e-9,
eps_cor = 1e-15 (the project's defaults): log2(2/(eps_sec^2 eps_cor)) = 110.63 bits.

Two-way error correction (Tupkary & Lutkenhaus, Phys. Rev. Applied 20, 064040 (2023)):
Cascade's replies from Bob, joined to Alice's public parities, reveal parities of the
bit-error pattern only.  For qubit (squashed) BB84 and BBM92 that information is the
bit-error syndrome of the Shor-Preskill / phase-error picture, which costs nothing beyond
Alice's messages, so leak_EC = Alice's parities stays the valid charge here (there is no
vacuum term to lose, unlike decoy BB84, :mod:`satqkd.keys.finite_key`).  Bob's replies
are reported as ``ec_reply_bits``.  Unequal detector efficiencies break the squashing
argument: no key is certified then (``efficiency_mismatch``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from satqkd.keys.cascade import DEFAULT_FRAME_BITS, DEFAULT_PASSES
from satqkd.keys.finite_key import (
    ABORT_EC_FAILED,
    ABORT_MISMATCH,
    ABORT_NO_TEST,
    ABORT_NON_POSITIVE,
    ABORT_QBER,
    ABORT_VERIFICATION,
    binary_entropy,
)
from satqkd.keys.eve import (EveKnowledge, alice_codes, block_knowledge, eve_codes,
                             honest_knowledge, knowledge, pass_record)
from satqkd.keys.privacy_amplification import privacy_amplification, toeplitz_seed
from satqkd.keys.reconcile import reconcile
from satqkd.keys.verification import verify_keys

__all__ = [
    "ABORT_BELL",
    "BBM92Keys",
    "BBM92Parameters",
    "process_bbm92",
    "tomamichel_key_length",
    "tomamichel_mu",
    "tomamichel_overhead_bits",
]

#: Abort reason when a Bell (CHSH) test was required and did not establish a violation.
ABORT_BELL = "bell_test_failed"


def tomamichel_mu(n: int, k: int, eps_sec: float = 1e-9) -> float:
    """TLGR statistical deviation mu = sqrt((n+k)/(n k) (k+1)/k ln(2/eps_sec)) (inf if n or k is 0)."""
    if n <= 0 or k <= 0:
        return math.inf
    return math.sqrt((n + k) / (n * k) * (k + 1) / k * math.log(2.0 / eps_sec))


def tomamichel_overhead_bits(eps_sec: float = 1e-9, eps_cor: float = 1e-15) -> float:
    """log2(2 / (eps_sec^2 eps_cor)): 110.63 bits at the defaults."""
    return 1.0 - 2.0 * math.log2(eps_sec) - math.log2(eps_cor)


def tomamichel_key_length(n: int, k: int, qber_tolerance: float, leak_ec_bits: float,
                          eps_sec: float = 1e-9, eps_cor: float = 1e-15,
                          preparation_quality: float = 1.0) -> float:
    """TLGR key length (not floored; <= 0 means no key):

    n (q - h(Q_tol + mu)) - leak_EC - log2(2 / (eps_sec^2 eps_cor)), with h(x) = 1 for x >= 1/2.
    """
    if not (0 < eps_sec < 1 and 0 < eps_cor < 1):
        raise ValueError("eps_sec and eps_cor must be in (0, 1)")
    mu = tomamichel_mu(n, k, eps_sec)
    if not math.isfinite(mu):
        return -math.inf
    x = qber_tolerance + mu
    h = 1.0 if x >= 0.5 else float(binary_entropy(x))
    return n * (preparation_quality - h) - leak_ec_bits - tomamichel_overhead_bits(eps_sec, eps_cor)


@dataclass(frozen=True)
class BBM92Parameters:
    """Security and post-processing parameters of a BBM92 pass.

    eps_sec, eps_cor : secrecy and correctness (TLGR; 1e-9 and 1e-15 as in the keys stage).
    qber_threshold : abort when the X (test) or corrected Z error rate exceeds it (0.11).
    qber_tolerance : Q_tol of TLGR; None -> the observed X error rate of the pass.
    preparation_quality : q = log2(1/c) (1 for Z/X).
    cascade_frame_bits, cascade_passes, min_qber_estimate : Cascade settings (keys stage).
    require_bell_test : abort with ``bell_test_failed`` unless the CHSH value handed in
        exceeds 2 by ``bell_k_sigma`` standard deviations (E91-style entanglement check).
    keep_keys : keep both final keys (packed) in the result.
    """

    eps_sec: float = 1e-9
    eps_cor: float = 1e-15
    qber_threshold: float = 0.11
    qber_tolerance: float | None = None
    preparation_quality: float = 1.0
    cascade_frame_bits: int = DEFAULT_FRAME_BITS
    cascade_passes: int = DEFAULT_PASSES
    min_qber_estimate: float = 1e-3
    require_bell_test: bool = False
    bell_k_sigma: float = 3.0
    keep_keys: bool = True
    error_correction: str = "cascade"
    detector_mismatch: bool = False

    def __post_init__(self) -> None:
        if not (0 < self.eps_sec < 1 and 0 < self.eps_cor < 1):
            raise ValueError("eps_sec and eps_cor must be in (0, 1)")
        if not 0 < self.qber_threshold <= 0.5:
            raise ValueError("qber_threshold must be in (0, 0.5]")
        if self.qber_tolerance is not None and not 0 <= self.qber_tolerance <= 0.5:
            raise ValueError("qber_tolerance must be in [0, 0.5]")
        if not 0 < self.preparation_quality <= 1:
            raise ValueError("preparation_quality must be in (0, 1]")
        if self.bell_k_sigma < 0:
            raise ValueError("bell_k_sigma must be >= 0")


@dataclass(frozen=True)
class BBM92Keys:
    """Per-pass BBM92 result (mirrors :class:`satqkd.keys.postprocess.PassKeys`)."""

    sifted_bits: int  # Z-basis (key) sifted length n
    test_bits: int  # X-basis (test) sifted length k
    qber_z: float  # errors Cascade corrected / n (NaN when EC did not run)
    qber_x: float  # observed test-basis error rate
    qber_z_true: float  # simulator diagnostic from both raw keys
    mu: float  # TLGR statistical deviation
    ec_leaked_bits: int
    verification_tag_bits: int
    leaked_bits: int  # ec_leaked_bits + verification_tag_bits
    ec_efficiency: float  # leak_EC / (n h(qber_z))
    secret_bits: int
    abort_reason: str
    chsh_s: float
    chsh_sigma: float
    alice_key: np.ndarray = field(repr=False)
    bob_key: np.ndarray = field(repr=False)
    ec_reply_bits: int = 0  # Bob's replies (reported; TLGR charges Alice's messages, below)
    eps_sec: float = 0.0  # this run's failure probabilities (0: no protocol ran)
    eps_cor: float = 0.0
    eve: EveKnowledge | None = None  # simulator only: what Eve knows (None: no eavesdropper)

    def scalars(self) -> dict:
        """Flat per-pass scalars for the mission stage (no arrays)."""
        return {
            "sifted_bits": self.sifted_bits,
            "test_bits": self.test_bits,
            "qber_z": self.qber_z,
            "qber_x": self.qber_x,
            "qber_z_true": self.qber_z_true,
            "mu": self.mu,
            "secret_bits": self.secret_bits,
            "leaked_bits": self.leaked_bits,
            "ec_leaked_bits": self.ec_leaked_bits,
            "ec_reply_bits": self.ec_reply_bits,
            "verification_tag_bits": self.verification_tag_bits,
            "ec_efficiency": self.ec_efficiency,
            "abort_reason": self.abort_reason,
            "eps_sec": self.eps_sec,
            "eps_cor": self.eps_cor,
            "chsh_s": self.chsh_s,
            "chsh_sigma": self.chsh_sigma,
            **(self.eve if self.eve is not None else honest_knowledge(self.secret_bits)).scalars(),
        }

    asdict = scalars


def process_bbm92(key_a: np.ndarray, key_b: np.ndarray, test_a: np.ndarray, test_b: np.ndarray,
                  params: BBM92Parameters = BBM92Parameters(),
                  rng: np.random.Generator | None = None, *,
                  chsh_s: float = float("nan"), chsh_sigma: float = float("nan"),
                  eve: tuple[np.ndarray, np.ndarray] | None = None) -> BBM92Keys:
    """Post-process one pass of BBM92 sifted bits into a final key on both sides.

    ``key_a``/``key_b``: Z-basis sifted bits of the two stations (B already flipped for an
    anti-correlated state); ``test_a``/``test_b``: X-basis bits (all disclosed). ``rng``
    supplies every public random choice (Cascade permutations, hash seeds), in a fixed
    order. ``chsh_s``/``chsh_sigma`` are reported, and checked when
    ``params.require_bell_test``. ``eve`` (simulator only): Eve's bit and what it is worth
    for each of B's key bits (:attr:`satqkd.engine.pairs.SiftedPairs.eve_key`); her
    knowledge of the final key is then computed as for decoy BB84
    (:mod:`satqkd.keys.eve`; her bits of B's key become Alice's once Cascade's replies
    make the error pattern public).

    Order: Bell check -> X error rate and threshold -> leak-free length > 0? -> Cascade
    (block sizes from the X error rate) -> verification tag -> TLGR length with the
    measured leak_EC -> Toeplitz privacy amplification of both keys.
    """
    if rng is None:
        raise ValueError("process_bbm92 needs an explicit numpy Generator (rng)")
    a = np.ascontiguousarray(key_a, dtype=np.uint8)
    b = np.ascontiguousarray(key_b, dtype=np.uint8)
    ta = np.asarray(test_a, dtype=np.uint8)
    tb = np.asarray(test_b, dtype=np.uint8)
    if a.shape != b.shape or ta.shape != tb.shape or a.ndim != 1 or ta.ndim != 1:
        raise ValueError("key and test bits must be 1-D arrays of equal length per pair")
    n, k = int(a.size), int(ta.size)
    qber_x = float(np.mean(ta != tb)) if k else float("nan")
    qber_z_true = float(np.mean(a != b)) if n else float("nan")
    mu = tomamichel_mu(n, k, params.eps_sec)
    empty = np.zeros(0, dtype=np.uint8)

    eps = (params.eps_sec, params.eps_cor) if n + k > 0 else (0.0, 0.0)

    codes = None
    if eve is not None:
        codes = eve_codes(*eve)
        if codes.shape != a.shape:
            raise ValueError("Eve's record needs one entry per key bit")

    def done(reason, ec=None, tag_bits=0, qz=float("nan"), eff=float("nan"), secret=0, ka=empty,
             kb=empty, eve_k=None):
        leak = int(ec.leaked_bits) if ec is not None else 0
        reply = int(ec.reply_bits) if ec is not None else 0
        if eve_k is None and codes is not None:  # no key claimed: her sifted bits only
            eve_k = knowledge(a, alice_codes(codes, a, b, False), None, None, None,
                              params.eps_sec, rng)
        return BBM92Keys(n, k, qz, qber_x, qber_z_true, mu, leak, tag_bits,
                         leak + reply + tag_bits, eff, secret, reason, float(chsh_s),
                         float(chsh_sigma), ka, kb, reply, *eps, eve_k)

    if params.require_bell_test:
        ok = (math.isfinite(chsh_s) and math.isfinite(chsh_sigma)
              and chsh_s - params.bell_k_sigma * chsh_sigma > 2.0)
        if not ok:
            return done(ABORT_BELL)
    if k == 0:
        return done(ABORT_NO_TEST)
    if qber_x > params.qber_threshold:
        return done(ABORT_QBER)
    q_tol = qber_x if params.qber_tolerance is None else params.qber_tolerance
    if params.qber_tolerance is not None and qber_x > params.qber_tolerance:
        return done(ABORT_QBER)
    fk = {"eps_sec": params.eps_sec, "eps_cor": params.eps_cor,
              "preparation_quality": params.preparation_quality}
    if n == 0 or tomamichel_key_length(n, k, q_tol, 0.0, **fk) < 1.0:
        return done(ABORT_NON_POSITIVE)

    if params.detector_mismatch:
        return done(ABORT_MISMATCH)
    ec = reconcile(a, b, max(qber_x, params.min_qber_estimate), rng, params.error_correction,
                   cascade_frame_bits=params.cascade_frame_bits,
                   cascade_passes=params.cascade_passes, transcript=codes is not None)
    qber_z = ec.errors_corrected / n
    eff = ec.efficiency()
    if ec.leaked_bits >= n:
        return done(ABORT_EC_FAILED, ec, qz=qber_z, eff=eff)
    if qber_z > params.qber_threshold:
        return done(ABORT_QBER, ec, qz=qber_z, eff=eff)
    ver = verify_keys(a, ec.bob_corrected, rng, params.eps_cor)
    if not ver.ok:
        return done(ABORT_VERIFICATION, ec, ver.tag_bits, qber_z, eff)
    ell = math.floor(tomamichel_key_length(n, k, q_tol, float(ec.leaked_bits), **fk))
    if ell < 1:
        return done(ABORT_NON_POSITIVE, ec, ver.tag_bits, qber_z, eff)
    seed = toeplitz_seed(n, ell, rng)
    final = privacy_amplification(np.stack([a, ec.bob_corrected]), ell, seed)
    ka = np.packbits(final[0]) if params.keep_keys else empty
    kb = np.packbits(final[1]) if params.keep_keys else empty
    eve_k = None
    if codes is not None:  # Eve's coins: a child drawn after the protocol's randomness
        eve_k = block_knowledge(a, [pass_record(codes, ec, ver, a, b)], final[0], seed,
                                params.eps_sec, np.random.default_rng(rng.integers(2**63)))
    return done("", ec, ver.tag_bits, qber_z, eff, ell, ka, kb, eve_k)
