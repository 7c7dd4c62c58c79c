"""Keys the proofs certify: two-way leakage, detector mismatch, composed epsilon, pooled blocks."""

import math

import numpy as np
import pytest

from satqkd.keys.cascade import cascade_reconcile
from satqkd.keys.finite_key import finite_key_bounds, finite_key_length, security_overhead_bits
from satqkd.keys.postprocess import (
    KeyParameters,
    finish_block,
    process_sifted,
    reconcile_sifted,
)
from satqkd.keys.sifting import DecoyCounts, sift
from satqkd.keys.synthetic import decoy_link_expectations, synthetic_events

MU = (0.8, 0.1, 0.0)
P = (0.5, 0.25, 0.25)


def link_sifted(seed, pulses, eta=1e-3, y0=2e-6, ed=0.012):
    g, e = decoy_link_expectations(MU, eta, y0, ed)
    return sift(synthetic_events(np.random.default_rng(seed), pulses, MU, P, g, e, 0.5, 0.5))


# --------------------------------------------------------------------------- Cascade transcript
def test_cascade_transcript_counted_by_hand():
    """16 bits, one error at position 5, block size 4 (QBER estimate 0.25: alpha = 1.5).

    Pass 1: Alice discloses the 4 block parities, Bob answers 4 times (same/different);
    BINARY in the odd block of 4: Alice gives the left pair's parity, Bob says which half
    (1 + 1); then the left bit of the pair (1 + 1).  Alice 6, Bob 6.
    Pass 2 (random halves): Alice discloses the first half's parity (the second follows
    from the frame parity fixed in pass 1), Bob answers once.  Alice 7, Bob 7.
    """
    a = np.zeros(16, np.uint8)
    b = a.copy()
    b[5] = 1
    one = cascade_reconcile(a, b, 0.25, np.random.default_rng(1), frame_bits=16, passes=1)
    assert (one.leaked_bits, one.reply_bits, one.errors_corrected) == (6, 6, 1)
    two = cascade_reconcile(a, b, 0.25, np.random.default_rng(1), frame_bits=16, passes=2)
    assert (two.leaked_bits, two.reply_bits) == (7, 7)
    assert np.array_equal(two.bob_corrected, a)


# --------------------------------------------------------------------------- two-way rule
def test_one_way_reply_free_bound_is_lim_eq1():
    c = link_sifted(3, 3_000_000_000).counts
    old = finite_key_length(c, MU, P, 20_000.0)
    assert old.vacuum_credited
    b = finite_key_bounds(c.n_z, c.n_x, c.m_x, MU, P, 20_000.0)
    expect = (b["s_z0"] + b["s_z1"] * (1 - _h(b["phi_z"])) - 20_000.0
              - security_overhead_bits())
    assert old.length_raw == pytest.approx(float(expect))


def _h(p):
    p = float(p)
    return -p * math.log2(p) - (1 - p) * math.log2(1 - p)


def test_two_way_takes_the_larger_valid_bound():
    """ell = max(s0 + s1(1-h) - lamA - lamB, s1(1-h) - lamA) - overhead."""
    c = link_sifted(4, 3_000_000_000).counts
    b = finite_key_bounds(c.n_z, c.n_x, c.m_x, MU, P, 0.0, tail="chernoff")
    s0, single = float(b["s_z0"]), float(b["s_z1"] * (1 - _h(b["phi_z"])))
    assert 100 < s0 < 15_000  # Chernoff credits the vacuum term here (Hoeffding: 0)
    lam = 15_000.0
    # Cascade: Bob answers every parity: lamB = lamA > s0 -> the vacuum credit is dropped
    two = finite_key_length(c, MU, P, lam, tail="chernoff", reply_bits=lam)
    assert not two.vacuum_credited
    assert two.length_raw == pytest.approx(single - lam - security_overhead_bits())
    # a handful of feedback bits (blind LDPC flags): keep s0 and charge them
    few = finite_key_length(c, MU, P, lam, tail="chernoff", reply_bits=3.0)
    assert few.vacuum_credited
    assert few.length_raw == pytest.approx(s0 + single - lam - 3.0 - security_overhead_bits())
    # both are below the one-way figure that ignored Bob's replies
    assert two.length < finite_key_length(c, MU, P, lam, tail="chernoff").length


def test_cascade_pass_pays_for_two_way_reconciliation():
    """A whole pass: the certified key with Bob's replies counted is below the old one."""
    sk = link_sifted(5, 2_000_000_000, eta=7e-4)
    params = KeyParameters(tail_bound="chernoff")
    r = process_sifted(sk, MU, P, 0.5, params, np.random.default_rng(5))
    assert r.abort_reason == ""
    assert r.ec_reply_bits == r.ec_leaked_bits > 0
    assert r.leaked_bits == r.ec_leaked_bits + r.ec_reply_bits + r.verification_tag_bits
    old = finite_key_length(sk.counts, MU, P, r.ec_leaked_bits, tail="chernoff")
    assert r.secret_bits < old.length
    assert r.secret_bits == finite_key_length(sk.counts, MU, P, r.ec_leaked_bits,
                                              tail="chernoff",
                                              reply_bits=r.ec_reply_bits).length


# --------------------------------------------------------------------------- mismatch
def test_detector_mismatch_gives_no_certified_key():
    sk = link_sifted(6, 2_000_000_000)
    ok = process_sifted(sk, MU, P, 0.5, KeyParameters(tail_bound="chernoff"),
                        np.random.default_rng(1))
    assert ok.secret_bits > 0
    bad = process_sifted(sk, MU, P, 0.5, KeyParameters(tail_bound="chernoff",
                                                       detector_mismatch=True),
                         np.random.default_rng(1))
    assert (bad.secret_bits, bad.abort_reason) == (0, "efficiency_mismatch")
    assert bad.alice_key.size == 0
    assert bad.sifted_bits == ok.sifted_bits  # the counts are still reported
    blk = finish_block([reconcile_sifted(sk, KeyParameters(detector_mismatch=True),
                                         np.random.default_rng(1))], MU, P,
                       KeyParameters(detector_mismatch=True), np.random.default_rng(2))
    assert (blk.secret_bits, blk.abort_reason) == (0, "efficiency_mismatch")


# --------------------------------------------------------------------------- epsilon
def test_epsilon_recorded_per_run():
    sk = link_sifted(7, 2_000_000_000)
    p = KeyParameters(eps_sec=1e-10, eps_cor=1e-12)
    r = process_sifted(sk, MU, P, 0.5, p, np.random.default_rng(0))
    assert (r.eps_sec, r.eps_cor) == (1e-10, 1e-12)
    assert r.scalars()["eps_sec"] == 1e-10
    empty = process_sifted(sift(synthetic_events(np.random.default_rng(0), 0, MU, P,
                                                 *decoy_link_expectations(MU, 1e-3, 2e-6, 0.01),
                                                 0.5, 0.5)), MU, P, 0.5, p,
                           np.random.default_rng(0))
    assert (empty.eps_sec, empty.eps_cor) == (0.0, 0.0)  # no protocol ran


# --------------------------------------------------------------------------- pooled blocks
def test_pooled_block_beats_its_passes_and_both_sides_agree():
    """Five marginal passes (about 2.5e4 sifted bits each): alone each gives little or no
    key (the 257-bit overhead and the finite-size deviations dominate); pooled, the
    deviations shrink as 1/sqrt(N) and the overhead is paid once."""
    params = KeyParameters(tail_bound="chernoff")
    passes = [link_sifted(100 + i, 5_000_000_000, eta=1e-4, y0=1e-6) for i in range(5)]
    alone = [process_sifted(sk, MU, P, 0.5, params, np.random.default_rng(i)).secret_bits
             for i, sk in enumerate(passes)]
    parts = [reconcile_sifted(sk, params, np.random.default_rng(i))
             for i, sk in enumerate(passes)]
    assert all(p.verified and not p.disclosed for p in parts)
    blk = finish_block(parts, MU, P, params, np.random.default_rng(99))
    assert blk.abort_reason == ""
    assert blk.secret_bits > sum(alone)
    assert np.array_equal(blk.alice_key, blk.bob_key)
    assert blk.alice_key.size == (blk.secret_bits + 7) // 8
    assert blk.sifted_bits == sum(sk.sifted_bits for sk in passes)
    # composed epsilon: one eps_sec, one eps_cor per verification tag
    assert blk.eps_sec == params.eps_sec
    assert blk.eps_cor == pytest.approx(5 * params.eps_cor)
    # the block's bound is the summed statistics with every pass's leakage
    c = sum((sk.counts for sk in passes[1:]), passes[0].counts)
    lam_a = sum(p.leaked_bits for p in parts)
    lam_b = sum(p.reply_bits for p in parts)
    over = 6 * math.log2(21 / params.eps_sec) + 5 * math.log2(2 / params.eps_cor)
    expect = finite_key_length(c, MU, P, lam_a, tail="chernoff", reply_bits=lam_b,
                               overhead_bits=over)
    assert blk.secret_bits == expect.length


def test_pooled_pass_that_fails_is_disclosed_and_charged():
    """A pass whose own QBER is above threshold is not reconciled: its bits are disclosed
    (charged to lambda_A) and the block stays consistent on both sides."""
    params = KeyParameters(tail_bound="chernoff")
    good = [link_sifted(200 + i, 3_000_000_000) for i in range(2)]
    bad = link_sifted(300, 300_000_000, ed=0.2)
    parts = [reconcile_sifted(sk, params, np.random.default_rng(i))
             for i, sk in enumerate(good + [bad])]
    assert parts[2].disclosed and not parts[2].verified
    assert parts[2].leaked_bits == bad.sifted_bits
    assert np.array_equal(parts[2].bob, parts[2].alice)
    blk = finish_block(parts, MU, P, params, np.random.default_rng(9))
    assert np.array_equal(blk.alice_key, blk.bob_key)
    assert blk.eps_cor == pytest.approx(2 * params.eps_cor)


def test_pooled_block_reproducible():
    params = KeyParameters(tail_bound="chernoff")
    sk = [link_sifted(400 + i, 2_000_000_000) for i in range(2)]

    def run():
        parts = [reconcile_sifted(s, params, np.random.default_rng(i)) for i, s in enumerate(sk)]
        return finish_block(parts, MU, P, params, np.random.default_rng(5))

    a, b = run(), run()
    assert a.secret_bits == b.secret_bits > 0
    assert np.array_equal(a.alice_key, b.alice_key)


def test_empty_block_reports_no_run():
    params = KeyParameters()
    z = np.zeros(0, np.uint8)
    empty = reconcile_sifted(
        sift(synthetic_events(np.random.default_rng(0), 0, MU, P,
                              *decoy_link_expectations(MU, 1e-3, 2e-6, 0.01), 0.5, 0.5)),
        params, np.random.default_rng(0))
    assert empty.sifted_bits == 0 and empty.alice.size == z.size
    blk = finish_block([empty], MU, P, params, np.random.default_rng(0))
    assert blk.abort_reason == "no_test_events"
    assert (blk.eps_sec, blk.eps_cor) == (0.0, 0.0)
    assert isinstance(DecoyCounts.zeros(), DecoyCounts)


def test_declared_trojan_leak_in_a_pooled_block_uses_the_passes_trials():
    """A declared Trojan-horse leak needs Y_1 = s_Z1 / trials: the pooled block sums its
    passes' trials; without them no key is certified (Y_1 = 1 would not be conservative)."""
    from satqkd.keys.postprocess import single_photon_trials

    params = KeyParameters(tail_bound="chernoff", leak_delta=1e-7)
    pulses = 5_000_000_000
    sk = [link_sifted(500 + i, pulses) for i in range(2)]
    trials = single_photon_trials(MU, P, 0.5, params, pulses)
    with_trials = [reconcile_sifted(s, params, np.random.default_rng(i), trials)
                   for i, s in enumerate(sk)]
    blk = finish_block(with_trials, MU, P, params, np.random.default_rng(1))
    plain = finish_block(with_trials, MU, P, KeyParameters(tail_bound="chernoff"),
                         np.random.default_rng(1))
    assert 0 < blk.secret_bits < plain.secret_bits
    unknown = [reconcile_sifted(s, params, np.random.default_rng(i)) for i, s in enumerate(sk)]
    none = finish_block(unknown, MU, P, params, np.random.default_rng(1))
    assert none.secret_bits == 0
