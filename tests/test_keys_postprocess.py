"""process_pass end to end on synthetic decoy-BB84 events, and the key writer."""

import hashlib

import numpy as np
import pytest

from satqkd.engine.events import BASIS_Z
from satqkd.keys.finite_key import ABORT_REASONS, binary_entropy
from satqkd.keys.postprocess import (
    KeyParameters,
    process_pass,
    read_key_index,
    read_keys,
    write_keys,
)
from satqkd.keys.sifting import sift
from satqkd.keys.synthetic import decoy_link_expectations, synthetic_events

MU = (0.8, 0.1, 0.0)
P = (0.5, 0.25, 0.25)


def link_events(rng, pulses, eta=1e-3, y0=2e-6, ed=0.012, p_z=0.5):
    g, e = decoy_link_expectations(MU, eta, y0, ed)
    return synthetic_events(rng, pulses, MU, P, g, e, p_z, p_z)


def test_sift_counts_match_events():
    rng = np.random.default_rng(0)
    ev = link_events(rng, 50_000_000)
    sk = sift(ev)
    z = (ev["alice_basis"] == BASIS_Z) & (ev["bob_basis"] == BASIS_Z)
    assert sk.sifted_bits == int(z.sum()) == int(sk.counts.n_z.sum())
    assert np.array_equal(sk.alice_z, ev["alice_bit"][z])
    # matching bases are half of the detections: 5 sigma of Binomial(N, 1/2)
    n = len(ev)
    matched = int(sk.counts.n_z.sum() + sk.counts.n_x.sum())
    assert abs(matched - n / 2) < 5 * np.sqrt(n / 4)


def test_clean_channel_identical_final_keys_20_seeds():
    """About 1e5 Z-sifted bits at QBER ~1.5 %: both sides end with the same secret key.

    1e9 pulses at transmittance 1e-3 (about 1.1e5 sifted bits per basis); at this size the
    Hoeffding bound of Lim et al. leaves almost no key, the Chernoff bound does."""
    params = KeyParameters(tail_bound="chernoff")
    lengths = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        ev = link_events(rng, 1_000_000_000, eta=1e-3, ed=0.013)
        r = process_pass(ev, MU, P, 0.5, params, rng)
        assert r.abort_reason == "", (seed, r.abort_reason)
        assert 0.005 < r.qber_z < 0.025
        assert r.qber_z == pytest.approx(r.qber_z_true)  # Cascade found every error
        assert r.secret_bits > 0
        assert np.array_equal(r.alice_key, r.bob_key)
        assert r.alice_key.size == (r.secret_bits + 7) // 8
        assert r.leaked_bits == r.ec_leaked_bits + r.ec_reply_bits + 50
        assert r.ec_reply_bits == r.ec_leaked_bits  # one reply per disclosed parity
        # lambda_EC is the measured leakage
        assert r.bounds.leaked_ec_bits == r.ec_leaked_bits
        assert r.ec_efficiency == pytest.approx(
            r.ec_leaked_bits / (r.sifted_bits * binary_entropy(r.qber_z)))
        lengths.append(r.sifted_bits)
    assert 80_000 < np.mean(lengths) < 200_000


def test_reproducible_from_generator():
    ev = link_events(np.random.default_rng(5), 3_000_000_000)
    r1 = process_pass(ev, MU, P, 0.5, KeyParameters(), np.random.default_rng(42))
    r2 = process_pass(ev, MU, P, 0.5, KeyParameters(), np.random.default_rng(42))
    assert r1.secret_bits == r2.secret_bits > 0
    assert np.array_equal(r1.alice_key, r2.alice_key)


def test_intercept_resend_aborts():
    # full intercept-resend: 25 % QBER in both bases (Bennett et al., J. Cryptol. 5, 3 (1992))
    rng = np.random.default_rng(1)
    g, _ = decoy_link_expectations(MU, 1e-3, 2e-6, 0.0)
    ev = synthetic_events(rng, 200_000_000, MU, P, g, [0.25, 0.25, 0.5])
    r = process_pass(ev, MU, P, 0.5, KeyParameters(), rng)
    assert r.abort_reason == "qber_above_threshold"
    assert r.secret_bits == 0 and r.alice_key.size == 0
    assert r.qber_x == pytest.approx(0.25, abs=0.01)


def test_pns_aborts_before_error_correction():
    rng = np.random.default_rng(2)
    mu = np.array(MU)
    gains = 0.05 * (1 - np.exp(-mu) * (1 + mu)) + 1e-6
    ev = synthetic_events(rng, 100_000_000, MU, P, gains, [0.01, 0.01, 0.5])
    r = process_pass(ev, MU, P, 0.5, KeyParameters(), rng)
    assert r.abort_reason == "no_single_photon_bound"
    assert r.secret_bits == 0 and r.ec_leaked_bits == 0


def test_no_test_events():
    ev = link_events(np.random.default_rng(3), 50_000_000)
    ev["alice_basis"] = BASIS_Z
    ev["bob_basis"] = BASIS_Z
    r = process_pass(ev, MU, P, 0.5, KeyParameters(), np.random.default_rng(0))
    assert r.abort_reason == "no_test_events" and r.secret_bits == 0


def test_too_few_events_non_positive_length():
    ev = link_events(np.random.default_rng(4), 2_000_000)
    r = process_pass(ev, MU, P, 0.5, KeyParameters(), np.random.default_rng(0))
    assert r.abort_reason in ("non_positive_length", "no_single_photon_bound")
    assert r.secret_bits == 0


def test_residual_errors_caught_by_verification():
    # a single Cascade pass at 4 % QBER leaves blocks with two errors: the hash must catch it
    rng = np.random.default_rng(6)
    ev = link_events(rng, 10_000_000_000, eta=1e-3, ed=0.04)
    r = process_pass(ev, MU, P, 0.5, KeyParameters(cascade_passes=1), rng)
    assert r.abort_reason == "verification_failed"
    assert r.secret_bits == 0
    assert r.qber_z < r.qber_z_true  # not every error was found


def test_asymptotic_comparison_reported():
    rng = np.random.default_rng(8)
    pulses = 3_000_000_000
    ev = link_events(rng, pulses)
    r = process_pass(ev, MU, P, 0.5, KeyParameters(), rng, pulses_sent=pulses)
    assert r.abort_reason == ""
    # finite-size effects cost key: finite < asymptotic
    assert 0 < r.secret_bits < r.asymptotic_secret_bits


def test_scalars_and_abort_vocabulary():
    r = process_pass(link_events(np.random.default_rng(9), 100_000_000), MU, P, 0.5,
                     KeyParameters(), np.random.default_rng(9))
    s = r.scalars()
    for key in ("sifted_bits", "qber_z", "qber_x", "secret_bits", "leaked_bits",
                "ec_efficiency", "abort_reason", "s_z1", "phi_z"):
        assert key in s
    assert all(not isinstance(v, np.ndarray) for v in s.values())
    assert set(ABORT_REASONS) == {"qber_above_threshold", "no_single_photon_bound",
                                  "non_positive_length", "no_test_events", "ec_failed",
                                  "verification_failed", "bell_test_failed", "daylight",
                                  "overcast", "sunlit", "too_short", "efficiency_mismatch",
                                  "pooled"}


def test_process_pass_needs_generator():
    with pytest.raises(ValueError):
        process_pass(link_events(np.random.default_rng(0), 1_000_000), MU, P, 0.5)


def test_write_and_read_keys(tmp_path):
    rng = np.random.default_rng(10)
    bits = 1001
    key = rng.integers(0, 2, bits, dtype=np.uint8)
    packed = np.packbits(key)
    row = write_keys(tmp_path / "keys", "MICIUS_Xinglong_2016-12-19T16-50", packed, packed, bits)
    assert row["alice_sha256"] == hashlib.sha256(packed.tobytes()).hexdigest()
    write_keys(tmp_path / "keys", "pass-2", packed[:10], packed[:10], 80)
    write_keys(tmp_path / "keys", "pass-2", packed[:10], packed[:10], 80)  # rewrite, no dup
    idx = read_key_index(tmp_path / "keys")
    assert [r["pass_id"] for r in idx] == ["MICIUS_Xinglong_2016-12-19T16-50", "pass-2"]
    a, b = read_keys(tmp_path / "keys", "MICIUS_Xinglong_2016-12-19T16-50")
    assert np.array_equal(a, key) and np.array_equal(b, key)
    assert not list((tmp_path / "keys").glob("*.tmp"))
    assert not (tmp_path / "keys" / ".index.lock").exists()  # the lock is on the directory
    # tampering is detected
    (tmp_path / "keys" / "pass-2.bob.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(OSError):
        read_keys(tmp_path / "keys", "pass-2")
    # an id is data: its files are named by a safe slug inside the folder (issue 15)
    row = write_keys(tmp_path / "keys", "../evil", packed, packed, bits)
    assert "/" not in row["alice_file"] and (tmp_path / "keys" / row["alice_file"]).is_file()
    assert not (tmp_path / "evil.alice.bin").exists()
    a, _ = read_keys(tmp_path / "keys", "../evil")
    assert np.array_equal(a, key)


@pytest.mark.parametrize("z_flip, reason", [(0.2, "qber_above_threshold"), (0.45, "ec_failed")])
def test_key_basis_errors_found_only_by_reconciliation(z_flip, reason):
    """Errors only in the key basis (e.g. a misaligned Z analyser) pass parameter estimation
    (X is clean) and are found by Cascade: above the threshold the pass aborts, and at 45 %
    Cascade discloses more parities than the key has bits."""
    rng = np.random.default_rng(12)
    ev = link_events(rng, 3_000_000_000, ed=0.01)
    z = (ev["alice_basis"] == BASIS_Z) & (ev["bob_basis"] == BASIS_Z)
    ev["bob_bit"] ^= (z & (rng.random(len(ev)) < z_flip)).astype(np.int8)
    r = process_pass(ev, MU, P, 0.5, KeyParameters(), rng)
    assert r.qber_x < 0.02
    assert r.abort_reason == reason and r.secret_bits == 0
    assert r.qber_z == pytest.approx(z_flip, abs=0.01)
