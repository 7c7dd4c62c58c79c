"""One pass of decoy-state BB84 post-processing on the simulated bits, and the key writer.

Order of the protocol (Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), with the
key basis Z and the test basis X):

1. sifting (``alice_basis == bob_basis``), per-intensity counts; all X bits disclosed;
2. parameter estimation: abort ``no_test_events`` without X events, ``qber_above_threshold``
   when the X-basis QBER exceeds ``qber_threshold``, ``no_single_photon_bound`` /
   ``non_positive_length`` when even a leak-free reconciliation could not give key;
3. error correction by Cascade (block sizes from the X-basis QBER), leakage lambda_EC
   counted exactly from the parities disclosed (Alice's, lambda_A, and Bob's replies,
   lambda_B); ``ec_failed`` if it disclosed as many bits as the key holds,
   ``qber_above_threshold`` if the corrected error rate is above threshold;
4. error verification with a 50-bit Toeplitz tag (eps_cor = 1e-15); ``verification_failed``
   if the tags differ;
5. key length of Lim et al. eq. 1 with the measured leakage and the two-way rule of
   Tupkary & Lutkenhaus (2023) (:mod:`satqkd.keys.finite_key`); privacy amplification of
   both reconciled keys by the same Toeplitz hash.

A detector with basis-dependent efficiency breaks the assumption of Lim et al. (2014)
that detection does not depend on the basis; no certified key is claimed then
(``efficiency_mismatch``).

Pooled blocks (Sidhu et al., npj Quantum Inf. 8, 18 (2022)): :func:`reconcile_sifted` runs
steps 3-4 on one pass and keeps the reconciled keys; :func:`finish_block` runs the
parameter estimation of step 2 and step 5 once on the statistics and keys of several.

Randomness: every public random choice (Cascade permutations, hash seeds) is drawn in a fixed
order from the ``rng`` passed in, so a pass is reproducible from its generator alone.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from satqkd.keys.cascade import DEFAULT_FRAME_BITS, DEFAULT_PASSES
from satqkd.keys.finite_key import (
    ABORT_EC_FAILED,
    ABORT_MISMATCH,
    ABORT_NO_TEST,
    ABORT_QBER,
    ABORT_VERIFICATION,
    TAIL_BOUNDS,
    FiniteKeyResult,
    asymptotic_key_rate,
    binary_entropy,
    finite_key_length,
    security_overhead_bits,
)
from satqkd.keys.reconcile import ERROR_CORRECTIONS, reconcile
from satqkd.keys.privacy_amplification import privacy_amplification, toeplitz_seed
from satqkd.keys.sifting import DecoyCounts, SiftedKey, accumulate_counts, sift
from satqkd.keys.verification import verify_keys
from satqkd.keys.eve import (EveKnowledge, EveRecord, alice_codes, block_knowledge,
                             disclosed_record, honest_knowledge, knowledge, pass_record)


@dataclass(frozen=True)
class KeyParameters:
    """Post-processing and security parameters of the keys stage.

    Attributes
    ----------
    eps_sec : secrecy parameter (Lim et al. 2014 default of satqkd: 1e-9).
    eps_cor : correctness parameter; sets the 50-bit verification tag (1e-15).
    tail_bound : "hoeffding" (Lim et al. 2014) or "chernoff" (multiplicative, per count).
    qber_threshold : abort above this X-basis (and corrected Z-basis) QBER (0.11, the
        single-photon BB84 limit of Shor & Preskill, PRL 85, 441 (2000)).
    cascade_frame_bits : Cascade frame length (65536; Martinez-Mateo et al. tuned their
        schedule at 16384, larger frames amortise the n/2 passes, see docs/keys.md).
    cascade_passes : number of Cascade passes (14 as in Martinez-Mateo et al. 2015).
    min_qber_estimate : floor of the QBER estimate that sets Cascade's first block (1e-3),
        so a pass with no observed X error still gets finite blocks.
    f_ec_asymptotic : reconciliation inefficiency assumed by the asymptotic comparison only.
    keep_keys : keep both final keys (packed) in the result.
    error_correction : "cascade" (two-way) or "ldpc" (one-way syndrome decoding).
    detector_mismatch : the four detector efficiencies differ: no certified key
        (``efficiency_mismatch``), the counts and QBER are still reported.
    leak_delta : quantum-coin imbalance Delta of the declared Trojan-horse isolation
        (:func:`satqkd.keys.finite_key.trojan_coin_imbalance`; 0: no leak declared). The
        phase error follows Lucamarini et al., PRX 5, 031030 (2015).
    receiver_q_z : Bob's Z-basis probability, for the single-photon yield in Delta / Y_1.
    """

    eps_sec: float = 1e-9
    eps_cor: float = 1e-15
    tail_bound: str = "hoeffding"
    qber_threshold: float = 0.11
    cascade_frame_bits: int = DEFAULT_FRAME_BITS
    cascade_passes: int = DEFAULT_PASSES
    min_qber_estimate: float = 1e-3
    f_ec_asymptotic: float = 1.16
    keep_keys: bool = True
    error_correction: str = "cascade"
    detector_mismatch: bool = False
    leak_delta: float = 0.0
    receiver_q_z: float = 0.5

    def __post_init__(self) -> None:
        if self.error_correction not in ERROR_CORRECTIONS:
            raise ValueError(f"error_correction must be one of {ERROR_CORRECTIONS}")
        if not (0 < self.eps_sec < 1 and 0 < self.eps_cor < 1):
            raise ValueError("eps_sec and eps_cor must be in (0, 1)")
        if self.tail_bound not in TAIL_BOUNDS:
            raise ValueError(f"tail_bound must be one of {TAIL_BOUNDS}")
        if not 0 < self.qber_threshold <= 0.5:
            raise ValueError("qber_threshold must be in (0, 0.5]")
        if self.cascade_frame_bits < 2 or self.cascade_passes < 1:
            raise ValueError("Cascade needs frame_bits >= 2 and passes >= 1")

    @property
    def overhead_bits(self) -> float:
        return security_overhead_bits(self.eps_sec, self.eps_cor)


@dataclass(frozen=True)
class PassKeys:
    """Everything the keys stage reports for one pass."""

    sifted_bits: int  # Z-basis sifted length (raw key)
    qber_z: float  # errors corrected by Cascade / sifted_bits (NaN when EC did not run)
    qber_x: float  # observed test-basis QBER
    qber_z_true: float  # simulator diagnostic from both sides' raw keys
    counts: DecoyCounts
    bounds: FiniteKeyResult | None  # Lim et al. bounds with the final lambda_EC
    ec_leaked_bits: int  # bits Alice disclosed in error correction (lambda_A)
    verification_tag_bits: int
    leaked_bits: int  # ec_leaked_bits + ec_reply_bits + verification_tag_bits (all public)
    ec_efficiency: float  # measured f = lambda_A / (n h(qber_z))
    secret_bits: int
    abort_reason: str
    alice_key: np.ndarray = field(repr=False)  # np.packbits of the final key (uint8)
    bob_key: np.ndarray = field(repr=False)
    asymptotic_secret_bits: float = float("nan")  # GLLP/Ma et al. comparison
    ec_reply_bits: int = 0  # bits Bob disclosed in error correction (lambda_B)
    eps_sec: float = 0.0  # secrecy failure probability of this run (0: no protocol ran)
    eps_cor: float = 0.0  # correctness failure probability of this run
    eve: EveKnowledge | None = None  # simulator only: what Eve knows (None: no eavesdropper)

    def scalars(self) -> dict:
        """Flat per-pass scalars for the mission stage (no arrays)."""
        out = {
            "sifted_bits": self.sifted_bits,
            "qber_z": self.qber_z,
            "qber_x": self.qber_x,
            "qber_z_true": self.qber_z_true,
            "secret_bits": self.secret_bits,
            "leaked_bits": self.leaked_bits,
            "ec_leaked_bits": self.ec_leaked_bits,
            "ec_reply_bits": self.ec_reply_bits,
            "verification_tag_bits": self.verification_tag_bits,
            "eps_sec": self.eps_sec,
            "eps_cor": self.eps_cor,
            "vacuum_credited": bool(self.bounds.vacuum_credited) if self.bounds else False,
            "ec_efficiency": self.ec_efficiency,
            "abort_reason": self.abort_reason,
            "asymptotic_secret_bits": self.asymptotic_secret_bits,
        }
        eve = self.eve if self.eve is not None else honest_knowledge(self.secret_bits)
        out.update(eve.scalars())
        for name in ("n_z", "n_x", "m_x"):
            for k, v in enumerate(getattr(self.counts, name)):
                out[f"{name}_{k}"] = int(v)
        b = self.bounds
        for name in ("s_z0", "s_z1", "s_x1", "v_x1", "phi_z"):
            out[name] = float(getattr(b, name)) if b is not None else float("nan")
        return out

    asdict = scalars


def _pulse_gains(detections: np.ndarray, counts: DecoyCounts, probabilities, pulses_sent: int):
    gains = detections / (pulses_sent * np.asarray(probabilities, dtype=float))
    sifted = counts.n_z + counts.n_x
    errors = counts.m_z_true + counts.m_x
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(sifted > 0, errors / np.maximum(sifted, 1), 0.5)
    q = counts.n_z.sum() / max(int(detections.sum()), 1)
    return gains, e, q


def process_pass(events: np.ndarray, intensities, probabilities, p_z: float,
                 params: KeyParameters = KeyParameters(),
                 rng: np.random.Generator | None = None, *,
                 pulses_sent: int | None = None) -> PassKeys:
    """Post-process one pass of detection events into a final secret key on both sides.

    ``events``: ``EVENT_DTYPE`` array; ``intensities``/``probabilities``: the source's
    three mean photon numbers and their probabilities (event ``intensity`` indexes them);
    ``p_z``: Alice's key-basis probability (the Lim et al. bound needs only the observed
    counts, so it is only checked here); ``rng``: the pass's generator for all public
    randomness (required); ``pulses_sent``: if given, the asymptotic GLLP/Ma et al. key for
    the same data is reported alongside (``asymptotic_secret_bits``).
    """
    if rng is None:
        raise ValueError("process_pass needs an explicit numpy Generator (rng)")
    if not 0.0 < p_z < 1.0:
        raise ValueError(f"p_z must be in (0, 1), got {p_z}")
    return process_sifted(sift(events, len(intensities)), intensities, probabilities, p_z,
                          params, rng, pulses_sent=pulses_sent)


def _reconcile(alice: np.ndarray, bob: np.ndarray, qber_estimate: float,
               params: KeyParameters, rng: np.random.Generator, transcript: bool = False):
    return reconcile(alice, bob, qber_estimate, rng, params.error_correction,
                     cascade_frame_bits=params.cascade_frame_bits,
                     cascade_passes=params.cascade_passes, transcript=transcript)


def asymptotic_bits_and_eps(detections, c: DecoyCounts, intensities, probabilities,
                            pulses_sent: int | None, params: KeyParameters
                            ) -> tuple[float, tuple[float, float]]:
    """The asymptotic key of a block (bits; NaN without the pulse count or detections)
    and the (eps_sec, eps_cor) it spends: a run that processed detections is one
    execution of the protocol, and its epsilons count towards the mission's total
    whatever its outcome."""
    asym = float("nan")
    if pulses_sent and detections is not None:
        gains, e_k, q = _pulse_gains(detections, c, probabilities, pulses_sent)
        try:
            r = asymptotic_key_rate(intensities, gains, e_k, params.f_ec_asymptotic, q)
            signal = int(np.argmax(intensities))
            asym = float(r.rate_per_signal_pulse * pulses_sent * float(probabilities[signal]))
        except (ValueError, ZeroDivisionError):
            asym = float("nan")
    ran = int(np.sum(c.n_z) + np.sum(c.n_x)) > 0 or bool(pulses_sent)
    return asym, ((params.eps_sec, params.eps_cor) if ran else (0.0, 0.0))


def finite_key_inputs(c: DecoyCounts, intensities, probabilities, p_z: float,
                      params: KeyParameters, pulses_sent: int | None
                      ) -> tuple[tuple, dict]:
    """The arguments of :func:`finite_key_length` but the leak, for one block's counts."""
    return (c, intensities, probabilities), dict(
        eps_sec=params.eps_sec, eps_cor=params.eps_cor, tail=params.tail_bound,
        leak_delta=params.leak_delta,  # a declared Trojan-horse leak (Lucamarini 2015)
        single_photon_trials=single_photon_trials(intensities, probabilities, p_z, params,
                                                  pulses_sent))


def check_before_reconciliation(c: DecoyCounts, qber_x: float, params: KeyParameters,
                                fk_args: tuple, fk_kw: dict):
    """Why a block gets no key before error correction is even run, with its bounds.

    In order: no test-basis detection; test-basis QBER above the threshold; no key even
    with a leak-free reconciliation (parameter estimation alone); detectors too unequal
    to certify (``detector_mismatch``).  Returns ``("", bounds)`` when reconciliation
    should run.  Shared by the bits and the counts level, so both abort alike.
    """
    if c.n_x.sum() == 0:
        return ABORT_NO_TEST, None
    pre = finite_key_length(*fk_args, 0.0, **fk_kw)
    if qber_x > params.qber_threshold:
        return ABORT_QBER, pre
    if pre.abort_reason:
        return pre.abort_reason, pre
    if params.detector_mismatch:
        return ABORT_MISMATCH, pre
    return "", pre


def single_photon_trials(intensities, probabilities, p_z: float, params: KeyParameters,
                          pulses_sent: int | None) -> float | None:
    """Expected single-photon pulses Alice prepared in Z and Bob measured in Z (Y_1's
    denominator for the Trojan-horse correction)."""
    if not pulses_sent:
        return None
    mu = np.asarray(intensities, dtype=float)
    tau1 = float(np.sum(np.asarray(probabilities, dtype=float) * mu * np.exp(-mu)))
    return pulses_sent * tau1 * p_z * params.receiver_q_z


def _eve_knowledge(sk: SiftedKey, ec, ver, final_key, seed, params: KeyParameters,
                   rng: np.random.Generator) -> EveKnowledge | None:
    """Eve's knowledge of the final key (simulator only; None without an eavesdropper).

    Its coin flips come from a child of the keys generator drawn *after* the protocol's
    public randomness, so the protocol's draws are unchanged by it."""
    if sk.eve_z is None:
        return None
    record = pass_record(sk.eve_z, ec, ver, sk.alice_z, sk.bob_z)
    return block_knowledge(sk.alice_z, [record], final_key, seed,
                           params.eps_sec, np.random.default_rng(rng.integers(2**63)))


def process_sifted(sk: SiftedKey, intensities, probabilities, p_z: float,
                   params: KeyParameters = KeyParameters(),
                   rng: np.random.Generator | None = None, *,
                   pulses_sent: int | None = None) -> PassKeys:
    """:func:`process_pass` from an already sifted pass (e.g. sifted stretch by stretch)."""
    if rng is None:
        raise ValueError("process_sifted needs an explicit numpy Generator (rng)")
    if not 0.0 < p_z < 1.0:
        raise ValueError(f"p_z must be in (0, 1), got {p_z}")
    c = sk.counts
    n = sk.sifted_bits
    qber_x = c.qber_x
    qber_z_true = float(c.m_z_true.sum() / n) if n else float("nan")
    empty = np.zeros(0, dtype=np.uint8)

    asym, eps = asymptotic_bits_and_eps(sk.detections, c, intensities, probabilities,
                                        pulses_sent, params)

    def done(reason, bounds=None, ec=None, tag_bits=0, qz=float("nan"), eff=float("nan"),
             secret=0, ka=empty, kb=empty, eve=None):
        ec_leak = int(ec.leaked_bits) if ec is not None else 0
        reply = int(ec.reply_bits) if ec is not None else 0
        if eve is None and sk.eve_z is not None:  # an attacked pass that claimed no key
            eve = knowledge(sk.alice_z, alice_codes(sk.eve_z, sk.alice_z, sk.bob_z, False),
                            None, None, None, params.eps_sec, rng)
        return PassKeys(n, qz, qber_x, qber_z_true, c, bounds, ec_leak, tag_bits,
                        ec_leak + reply + tag_bits, eff, secret, reason, ka, kb, asym,
                        reply, *eps, eve)

    fk_args, fk_kw = finite_key_inputs(c, intensities, probabilities, p_z, params, pulses_sent)
    reason, pre = check_before_reconciliation(c, qber_x, params, fk_args, fk_kw)
    if reason:
        return done(reason, pre)

    ec = _reconcile(sk.alice_z, sk.bob_z, max(qber_x, params.min_qber_estimate), params, rng,
                    transcript=sk.eve_z is not None)
    qber_z = ec.errors_corrected / n
    eff = ec.efficiency()
    if ec.leaked_bits >= n:
        return done(ABORT_EC_FAILED, pre, ec, qz=qber_z, eff=eff)
    if qber_z > params.qber_threshold:
        return done(ABORT_QBER, pre, ec, qz=qber_z, eff=eff)

    ver = verify_keys(sk.alice_z, ec.bob_corrected, rng, params.eps_cor)
    if not ver.ok:
        return done(ABORT_VERIFICATION, pre, ec, ver.tag_bits, qber_z, eff)

    fk = finite_key_length(*fk_args, float(ec.leaked_bits), **fk_kw,
                           reply_bits=float(ec.reply_bits))
    if fk.abort_reason:
        return done(fk.abort_reason, fk, ec, ver.tag_bits, qber_z, eff)
    seed = toeplitz_seed(n, fk.length, rng)
    final = privacy_amplification(np.stack([sk.alice_z, ec.bob_corrected]), fk.length, seed)
    ka = np.packbits(final[0]) if params.keep_keys else empty
    kb = np.packbits(final[1]) if params.keep_keys else empty
    eve = _eve_knowledge(sk, ec, ver, final[0], seed, params, rng)
    return done("", fk, ec, ver.tag_bits, qber_z, eff, fk.length, ka, kb, eve)


@dataclass(frozen=True)
class ReconciledPass:
    """One pass of a pooled block: statistics and reconciled keys, before privacy
    amplification (:func:`reconcile_sifted`)."""

    counts: DecoyCounts
    alice: np.ndarray = field(repr=False)  # uint8 bits, Alice's raw key
    bob: np.ndarray = field(repr=False)  # uint8 bits, Bob's reconciled key (== alice once verified)
    leaked_bits: int  # lambda_A of this pass, disclosed bits included
    reply_bits: int  # lambda_B
    verified: bool  # a verification tag was exchanged and matched
    disclosed: bool  # reconciliation failed: Alice disclosed the pass's bits (charged)
    qber_z: float
    ec_efficiency: float
    # expected single-photon Z pulses (Y_1's denominator, declared Trojan-horse leak only)
    single_photon_trials: float | None = None
    #: simulator only: Eve's record of the pass until the block closes (None: no eavesdropper)
    eve: EveRecord | None = None

    @property
    def sifted_bits(self) -> int:
        return int(self.alice.size)


def reconcile_sifted(sk: SiftedKey, params: KeyParameters, rng: np.random.Generator,
                     single_photon_trials: float | None = None) -> ReconciledPass:
    """Error correction and verification of one pass of a pooled finite-key block.

    Parameter estimation waits for the block (:func:`finish_block`).  A pass that cannot
    be reconciled here (its own X-basis QBER above threshold, Cascade disclosing the
    whole key, or a verification tag that differs) is not kept unverified: Alice discloses
    its raw key, Bob adopts it and every bit is charged to lambda_A.  Publicly known bits
    add no key, and by the chain rule the block's bound stays valid (Renner 2005,
    Lemma 3.1.10): the block needs no abort for one bad pass.
    """
    c = sk.counts
    n = sk.sifted_bits
    a = np.ascontiguousarray(sk.alice_z, dtype=np.uint8)
    trials = single_photon_trials
    attacked = sk.eve_z is not None

    def disclosed(lam_a, lam_b, qz=float("nan"), eff=float("nan")):
        return ReconciledPass(c, a, a, int(lam_a) + n, int(lam_b), False, True, qz, eff, trials,
                              disclosed_record(a) if attacked else None)

    if n == 0:
        return ReconciledPass(c, a, a, 0, 0, False, False, float("nan"), float("nan"), trials,
                              pass_record(sk.eve_z) if attacked else None)
    qber_x = c.qber_x
    if not np.isfinite(qber_x) or qber_x > params.qber_threshold or params.detector_mismatch:
        return disclosed(0, 0)
    ec = _reconcile(a, sk.bob_z, max(qber_x, params.min_qber_estimate), params, rng,
                    transcript=attacked)
    qz, eff = ec.errors_corrected / n, ec.efficiency()
    if ec.leaked_bits >= n:
        return disclosed(ec.leaked_bits, ec.reply_bits, qz, eff)
    ver = verify_keys(a, ec.bob_corrected, rng, params.eps_cor)
    if not ver.ok:
        return disclosed(ec.leaked_bits + ver.tag_bits, ec.reply_bits, qz, eff)
    return ReconciledPass(c, a, ec.bob_corrected, int(ec.leaked_bits), int(ec.reply_bits),
                          True, False, qz, eff, trials,
                          pass_record(sk.eve_z, ec, ver, a, sk.bob_z) if attacked else None)


@dataclass(frozen=True)
class BlockBound:
    """The finite-key bound of a pooled block (:func:`block_bound`): everything but the
    key itself. ``reason``: the abort reason ("" when the block gives ``fk.length`` bits)."""

    counts: DecoyCounts
    sifted_bits: int
    tags: int  # verification tags exchanged (one per verified pass, at least one)
    leaked_bits: int  # lambda_A summed over the passes
    reply_bits: int  # lambda_B summed
    qber_x: float
    qber_z: float  # corrected error rate, over the passes that were reconciled
    qber_z_true: float
    ec_efficiency: float
    eps: tuple[float, float]
    tag_bits: int
    fk: FiniteKeyResult | None
    reason: str


def block_bound(parts: Sequence, intensities, probabilities, params: KeyParameters) -> BlockBound:
    """Parameter estimation of a pooled block of reconciled passes.

    The statistics of the passes are summed (one Lim et al. 2014 block, as in Sidhu et
    al., npj Quantum Inf. 8, 18 (2022)).  Each pass was verified with its own tag of
    eps_cor, so the block's correctness failure is k eps_cor and it pays k log2(2/eps_cor)
    bits for the k tags, where Lim et al. eq. 1 pays one; its secrecy failure is eps_sec,
    once.  ``parts``: :class:`ReconciledPass` (bits level) or
    :class:`satqkd.keys.counts_keys.ReconciledCounts` (counts level), in time order.
    """
    c = accumulate_counts([p.counts for p in parts])
    n = sum(p.sifted_bits for p in parts)
    k = max(1, sum(p.verified for p in parts))
    lam_a = sum(p.leaked_bits for p in parts)
    lam_b = sum(p.reply_bits for p in parts)
    qber_x = c.qber_x
    qber_z_true = float(c.m_z_true.sum() / n) if n else float("nan")
    eps_cor = k * params.eps_cor
    overhead = (6.0 * math.log2(21.0 / params.eps_sec)
                + k * math.log2(2.0 / params.eps_cor))
    ran = n > 0 or int(np.sum(c.n_x)) > 0
    eps = (params.eps_sec, eps_cor) if ran else (0.0, 0.0)
    corrected = [p for p in parts if p.sifted_bits and np.isfinite(p.qber_z)]
    qber_z = (sum(p.qber_z * p.sifted_bits for p in corrected)
              / max(sum(p.sifted_bits for p in corrected), 1)) if corrected else float("nan")
    reconciled = sum(p.sifted_bits for p in corrected)
    eff = (lam_a / (reconciled * binary_entropy(qber_z))
           if corrected and 0 < qber_z < 1 and not any(p.disclosed for p in parts)
           else float("nan"))
    tags = k * math.ceil(math.log2(1.0 / params.eps_cor))

    def bound(reason, fk=None):
        return BlockBound(c, n, k, lam_a, lam_b, qber_x, qber_z, qber_z_true, eff, eps, tags,
                          fk, reason)

    if c.n_x.sum() == 0:
        return bound(ABORT_NO_TEST)
    fk = finite_key_length(c, intensities, probabilities, float(lam_a),
                           eps_sec=params.eps_sec, eps_cor=params.eps_cor,
                           tail=params.tail_bound, reply_bits=float(lam_b),
                           overhead_bits=overhead, leak_delta=params.leak_delta,
                           single_photon_trials=(
                               None if any(p.single_photon_trials is None for p in parts)
                               else sum(p.single_photon_trials for p in parts)))
    if qber_x > params.qber_threshold:
        return bound(ABORT_QBER, fk)
    if params.detector_mismatch:
        return bound(ABORT_MISMATCH, fk)
    return bound(fk.abort_reason or "", fk)


def block_keys(b: BlockBound, secret: int = 0, reason: str | None = None, alice_key=None,
               bob_key=None, eve=None) -> PassKeys:
    """The :class:`PassKeys` a block reports on its closing pass."""
    empty = np.zeros(0, dtype=np.uint8)
    return PassKeys(b.sifted_bits, b.qber_z, b.qber_x, b.qber_z_true, b.counts, b.fk,
                    b.leaked_bits, b.tag_bits, b.leaked_bits + b.reply_bits + b.tag_bits,
                    b.ec_efficiency, secret, b.reason if reason is None else reason,
                    empty if alice_key is None else alice_key,
                    empty if bob_key is None else bob_key, float("nan"), b.reply_bits, *b.eps,
                    eve)


def finish_block(parts: list[ReconciledPass], intensities, probabilities,
                 params: KeyParameters, rng: np.random.Generator) -> PassKeys:
    """Parameter estimation and privacy amplification of a pooled block of passes.

    The bound is :func:`block_bound`; the reconciled keys are concatenated in order and
    hashed once.
    """
    b = block_bound(parts, intensities, probabilities, params)
    empty = np.zeros(0, dtype=np.uint8)
    records = [p.eve for p in parts]
    attacked = any(r is not None for r in records)
    if attacked and any(r is None for r in records):
        raise ValueError("a pooled block mixes passes with and without Eve's record")

    def done(reason, secret=0, ka=empty, kb=empty, eve=None):
        if eve is None and attacked:  # no key claimed: her sifted bits only
            eve = block_knowledge(np.concatenate([p.alice for p in parts]), records, None,
                                  None, params.eps_sec, rng)
        return block_keys(b, secret, reason, ka, kb, eve)

    if b.reason:
        return done(b.reason)
    fk = b.fk
    alice = np.concatenate([p.alice for p in parts])
    bob = np.concatenate([p.bob for p in parts])
    seed = toeplitz_seed(b.sifted_bits, fk.length, rng)
    final = privacy_amplification(np.stack([alice, bob]), fk.length, seed)
    ka = np.packbits(final[0]) if params.keep_keys else empty
    kb = np.packbits(final[1]) if params.keep_keys else empty
    eve = None
    if attacked:  # Eve's coins: a child drawn after the block's public randomness
        eve = block_knowledge(alice, records, final[0], seed, params.eps_sec,
                              np.random.default_rng(rng.integers(2**63)))
    return done("", fk.length, ka, kb, eve)


# --------------------------------------------------------------------------- key files
_PASS_ID = re.compile(r"^[A-Za-z0-9._-]+$")
INDEX_FIELDS = ("pass_id", "bits", "alice_file", "bob_file", "alice_sha256", "bob_sha256")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_keys(directory: str | os.PathLike, pass_id: str, alice_key: np.ndarray,
               bob_key: np.ndarray, bits: int) -> dict:
    """Write both final keys of a pass to ``directory`` (e.g. ``outputs/<name>/keys/``).

    Files ``<pass_id>.alice.bin`` / ``<pass_id>.bob.bin`` hold the packed keys
    (``np.packbits``, MSB first, last byte zero-padded); each is written to a temporary
    file and renamed, so a reader never sees half a key.  ``index.csv`` (one row per pass:
    ``pass_id, bits, alice_file, bob_file, alice_sha256, bob_sha256``) is updated under an
    exclusive file lock, so parallel workers may write into the same directory.
    Returns the index row.
    """
    from satqkd.paths import slug

    stem = pass_id if _PASS_ID.match(pass_id) and len(pass_id) <= 120 else slug(pass_id)
    if stem.startswith("."):
        stem = slug(pass_id)  # never a hidden file (nor "." or "..")
    a = np.ascontiguousarray(alice_key, dtype=np.uint8).tobytes()
    b = np.ascontiguousarray(bob_key, dtype=np.uint8).tobytes()
    if len(a) != math.ceil(bits / 8) or len(b) != len(a):
        raise ValueError(f"{bits} bits need {math.ceil(bits / 8)} packed bytes per key")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    row = {"pass_id": pass_id, "bits": int(bits),
           "alice_file": f"{stem}.alice.bin", "bob_file": f"{stem}.bob.bin",
           "alice_sha256": hashlib.sha256(a).hexdigest(),
           "bob_sha256": hashlib.sha256(b).hexdigest()}
    _atomic_write(d / row["alice_file"], a)
    _atomic_write(d / row["bob_file"], b)
    # the lock is taken on the directory itself, so no lock file is left behind (and none
    # needs deleting, which would race with a worker waiting on it)
    fd = os.open(d, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        rows = read_key_index(d)
        rows = [r for r in rows if r["pass_id"] != pass_id] + [row]
        rows.sort(key=lambda r: r["pass_id"])
        _atomic_write(d / "index.csv", _index_text(rows).encode())
    finally:
        os.close(fd)  # releases the lock
    return row


def _index_text(rows: list[dict]) -> str:
    """``index.csv`` as text (CSV quoting: an id is data, whatever it holds)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=INDEX_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def remove_keys(directory: str | os.PathLike, keep: set[str] | None = None) -> None:
    """Delete the key files and index rows of every pass not in ``keep`` (all if None),
    and any temporary file a killed writer left; a rerun never serves a stale key."""
    d = Path(directory)
    if not d.is_dir():
        return
    for tmp in d.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    rows = read_key_index(d) if (d / "index.csv").exists() else []
    kept = [r for r in rows if keep is not None and r["pass_id"] in keep]
    names = {r[f] for r in kept for f in ("alice_file", "bob_file")}
    for f in list(d.glob("*.alice.bin")) + list(d.glob("*.bob.bin")):
        if f.name not in names:
            f.unlink(missing_ok=True)
    if kept:
        _atomic_write(d / "index.csv", _index_text(kept).encode())
    else:
        (d / "index.csv").unlink(missing_ok=True)


def read_key_index(directory: str | os.PathLike) -> list[dict]:
    """Rows of ``index.csv`` (empty list if absent); ``bits`` as int."""
    path = Path(directory) / "index.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        r["bits"] = int(r["bits"])
    return rows


def read_keys(directory: str | os.PathLike, pass_id: str) -> tuple[np.ndarray, np.ndarray]:
    """Load both keys of a pass as unpacked bit arrays, checking their SHA-256 in the index."""
    d = Path(directory)
    rows = {r["pass_id"]: r for r in read_key_index(d)}
    if pass_id not in rows:
        raise KeyError(pass_id)
    r = rows[pass_id]
    out = []
    for side in ("alice", "bob"):
        raw = (d / r[f"{side}_file"]).read_bytes()
        if hashlib.sha256(raw).hexdigest() != r[f"{side}_sha256"]:
            raise OSError(f"{r[side + '_file']}: SHA-256 does not match index.csv")
        out.append(np.unpackbits(np.frombuffer(raw, dtype=np.uint8))[:r["bits"]])
    return out[0], out[1]


def pass_keys_json(result: PassKeys) -> str:
    """The scalars of a pass as JSON (NaN written as null)."""
    s = {k: (None if isinstance(v, float) and math.isnan(v) else v)
         for k, v in result.scalars().items()}
    return json.dumps(s)
