"""BBM92 finite key (Tomamichel et al., Nat. Commun. 3, 634 (2012)) and post-processing of
simulated dual-downlink passes: hand-worked key length, identical final keys on both
sides after Cascade + verification + Toeplitz PA, and the aborts."""

import math

import numpy as np
import pytest

from satqkd.engine.pairs import (
    PairEavesdropper,
    PairSource,
    bbm92_flips,
    bbm92_receiver,
    dual_downlink_pass,
    sift_bbm92,
)
from satqkd.keys.bbm92 import (
    ABORT_BELL,
    BBM92Parameters,
    process_bbm92,
    tomamichel_key_length,
    tomamichel_mu,
    tomamichel_overhead_bits,
)
from satqkd.keys.finite_key import ABORT_NO_TEST, ABORT_NON_POSITIVE, ABORT_QBER


def test_tomamichel_hand_worked():
    """n = k = 1e5, Q = 2 %, leak_EC = 15000, eps_sec = 1e-9, eps_cor = 1e-15.

    ln(2/eps_sec) = ln 2 + 9 ln 10 = 21.416413
    mu = sqrt(2e5/1e10 * 1.00001 * 21.416413) = sqrt(4.28333e-4) = 0.0206962
    h(0.0406962) = 0.0406962 * 4.61896 + 0.9593038 * 0.059940 = 0.245475
    log2(2/(1e-18 * 1e-15)) = 1 + 33 log2 10 = 110.6236
    ell = 1e5 (1 - 0.245475) - 15000 - 110.6236 = 60341.9 -> 60341 bits."""
    assert tomamichel_mu(100_000, 100_000, 1e-9) == pytest.approx(0.0206962, abs=2e-7)
    assert tomamichel_overhead_bits(1e-9, 1e-15) == pytest.approx(110.6236, abs=1e-4)
    ell = tomamichel_key_length(100_000, 100_000, 0.02, 15_000, 1e-9, 1e-15)
    assert math.floor(ell) == 60341
    assert ell == pytest.approx(60341.86, abs=0.05)


def test_tomamichel_limits():
    # mu shrinks as 1/sqrt(k): the rate tends to 1 - h(Q) - leak/n
    big = tomamichel_key_length(10**9, 10**9, 0.02, 0.0) / 10**9
    from satqkd.keys.finite_key import binary_entropy
    assert big == pytest.approx(1 - binary_entropy(0.02), abs=2e-3)
    assert tomamichel_key_length(300, 300, 0.02, 0.0) < 0  # too short for any key
    assert tomamichel_key_length(100, 0, 0.0, 0.0) == -math.inf
    assert tomamichel_key_length(10**6, 10**6, 0.495, 0.0) < 0  # Q + mu >= 1/2: h = 1, no key


def _pass(seed, eve=None, n_slots=60, eta=3e-2):
    src = PairSource(visibility=0.97, visibility_diagonal=None, bell_state="phi+")
    a = bbm92_receiver()
    eta = np.full(n_slots, eta)
    r = dual_downlink_pass(eta, eta, 300.0, 300.0, 1.0, src, a, a, np.random.default_rng(seed),
                           eavesdropper=eve)
    fk, ft = bbm92_flips(src, a, a)
    return sift_bbm92(r.coincidences, flip_key=fk, flip_test=ft)


def test_identical_final_keys_after_ec_and_pa():
    sp = _pass(31)
    assert sp.key_a.size > 15_000
    rng = np.random.default_rng(1)
    res = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(), rng,
                        chsh_s=2.6, chsh_sigma=0.02)
    assert res.abort_reason == ""
    assert res.secret_bits > 0
    assert np.array_equal(res.alice_key, res.bob_key)
    assert res.alice_key.size == (res.secret_bits + 7) // 8
    assert res.qber_z == pytest.approx(res.qber_z_true)  # Cascade found every error
    assert res.leaked_bits == res.ec_leaked_bits + res.ec_reply_bits + res.verification_tag_bits
    assert res.verification_tag_bits == 50 and res.ec_reply_bits == res.ec_leaked_bits
    # the length is TLGR with the measured leakage
    ell = tomamichel_key_length(res.sifted_bits, res.test_bits, res.qber_x, res.ec_leaked_bits)
    assert res.secret_bits == math.floor(ell)
    assert 1.0 < res.ec_efficiency < 1.5
    s = res.scalars()
    for key in ("sifted_bits", "qber_z", "qber_x", "secret_bits", "leaked_bits", "ec_efficiency",
                "abort_reason", "chsh_s", "chsh_sigma"):
        assert key in s
    assert s["chsh_s"] == 2.6
    # the final keys differ from the raw ones and are balanced (5 sigma of Binomial(n, 1/2))
    bits = np.unpackbits(res.alice_key)[:res.secret_bits]
    assert abs(bits.sum() - bits.size / 2) < 5 * math.sqrt(bits.size / 4)


def test_same_rng_same_keys():
    sp = _pass(32, n_slots=30)
    r1 = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(), np.random.default_rng(5))
    r2 = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(), np.random.default_rng(5))
    assert r1.secret_bits == r2.secret_bits and np.array_equal(r1.alice_key, r2.alice_key)


def test_aborts():
    rng = np.random.default_rng(0)
    sp = _pass(33, eve=PairEavesdropper())
    res = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(), rng)
    assert res.abort_reason == ABORT_QBER and res.secret_bits == 0 and res.qber_x > 0.2
    sp = _pass(34, n_slots=3, eta=3e-3)  # a few hundred bits: no key
    res = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(), rng)
    assert res.abort_reason == ABORT_NON_POSITIVE
    z = np.zeros(10, np.uint8)
    res = process_bbm92(z, z, z[:0], z[:0], BBM92Parameters(), rng)
    assert res.abort_reason == ABORT_NO_TEST
    # Bell check required: fails closed on a missing or insufficient CHSH value
    p = BBM92Parameters(require_bell_test=True)
    sp = _pass(35, n_slots=30)
    assert process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, p, rng).abort_reason == ABORT_BELL
    res = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, p, rng, chsh_s=2.2, chsh_sigma=0.1)
    assert res.abort_reason == ABORT_BELL
    res = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, p, rng, chsh_s=2.6, chsh_sigma=0.05)
    assert res.abort_reason == ""
    with pytest.raises(ValueError):
        process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(), None)
