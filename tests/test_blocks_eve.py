"""Eve's knowledge of a pooled finite-key block's key (satqkd.keys.eve.block_knowledge,
satqkd.keys.postprocess.finish_block, satqkd.mission.blocks)."""

import itertools

import numpy as np
import pandas as pd
import pytest

from satqkd.engine import DecoySource, Eavesdropper, Receiver, simulate_decoy_bb84
from satqkd.keys.cascade import cascade_reconcile
from satqkd.keys.eve import block_knowledge, disclosed_record, eve_codes, pass_record
from satqkd.keys.postprocess import KeyParameters, finish_block, reconcile_sifted
from satqkd.keys.privacy_amplification import toeplitz_dense, toeplitz_seed
from satqkd.keys.sifting import sift
from satqkd.keys.verification import verify_keys


def _dense(rows: np.ndarray, n: int) -> np.ndarray:
    """Packed uint64 rows -> dense 0/1 (rows, n)."""
    bits = np.unpackbits(rows.view(np.uint8), axis=1, bitorder="little")
    return bits[:, :n].astype(np.int64)


def _small_pass(rng, n, qber, sure_share, eps_cor=0.3):
    """A tiny reconciled pass: Alice's bits, Eve's codes (sure on a random share), record.
    Two Cascade passes and a 2-bit tag, so that the public functions leave bits unknown."""
    x = rng.integers(0, 2, n).astype(np.uint8)
    y = x ^ (rng.random(n) < qber).astype(np.uint8)
    ec = cascade_reconcile(x, y, 0.2, rng, frame_bits=n, passes=2, transcript=True)
    ver = verify_keys(x, ec.bob_corrected, rng, eps_cor)  # 50 tag bits would pin x
    sure = rng.random(n) < sure_share
    codes = np.where(sure, x, -1).astype(np.int8)
    return x, pass_record(codes, ec, ver)


def _brute_block(xs, records, seed, ell):
    """Every block key consistent with each pass's public functions and Eve's sure bits:
    2^(ell - known) of them; and the key bits constant over all of them."""
    per_pass = []
    for x, r in zip(xs, records):
        n = x.size
        p = _dense(r.rows(np.arange(n), n), n)
        target = p @ x % 2
        free = np.flatnonzero(r.codes < 0)
        cands = []
        for bits in itertools.product((0, 1), repeat=free.size):
            c = x.copy()
            c[free] = bits
            if np.array_equal(p @ c % 2, target):
                cands.append(c)
        per_pass.append(cands)
    keys = set()
    const = None
    for combo in itertools.product(*per_pass):
        k = toeplitz_dense(np.concatenate(combo), seed, ell)
        keys.add(k.tobytes())
        const = k.copy() if const is None else np.where(const == k, const, 2)
    return ell - int(np.log2(len(keys))), int(np.sum(const < 2))


@pytest.mark.parametrize("case", range(8))
def test_block_knowledge_matches_brute_force(case):
    """Three tiny passes (one disclosed in full) hashed together: the exact count over the
    block equals ell - log2(number of block keys Eve cannot exclude)."""
    rng = np.random.default_rng(100 + case)
    xs, recs = [], []
    for n, share in ((12, 0.4), (11, 0.3)):
        x, r = _small_pass(rng, n, 0.1, share)
        xs.append(x)
        recs.append(r)
    disclosed = rng.integers(0, 2, 5).astype(np.uint8)
    xs.insert(1, disclosed)
    recs.insert(1, disclosed_record(disclosed))
    alice = np.concatenate(xs)
    ell = int(rng.integers(3, 9))
    seed = toeplitz_seed(alice.size, ell, rng)
    key = toeplitz_dense(alice, seed, ell)
    k = block_knowledge(alice, recs, key, seed, 1e-9, np.random.default_rng(0))
    known, single = _brute_block(xs, recs, seed, ell)
    assert k.method == "exact"
    assert k.known_bits == known
    assert k.agreement * ell >= single
    assert k.known_bits >= ell - int(sum((r.codes < 0).sum() for r in recs))


def test_record_survives_the_rkey_file():
    from satqkd.mission.blocks import decode_reconciled, encode_reconciled

    rng = np.random.default_rng(3)
    src = DecoySource(rate_hz=1e8)
    r = simulate_decoy_bb84(np.full(3, 2e-3), 1e-6, 1.0, src, Receiver(), rng,
                            eavesdropper=Eavesdropper(kind="intercept-resend", fraction=0.05))
    sk = sift(r.events, 3, eve_codes(r.eve_bit, r.eve_knows))
    part = reconcile_sifted(sk, KeyParameters(), np.random.default_rng(4))
    back = decode_reconciled(encode_reconciled(part))
    a, b = part.eve, back.eve
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.transcript, b.transcript)
    assert (a.ec_bits, a.frame_bits, a.cascade_seed, a.tag_bits) == \
        (b.ec_bits, b.frame_bits, b.cascade_seed, b.tag_bits)
    assert np.array_equal(a.tag_seed, b.tag_seed)
    cols = np.where(a.codes < 0, np.cumsum(a.codes < 0) - 1, -1)
    assert np.array_equal(a.rows(cols, int(cols.max()) + 1), b.rows(cols, int(cols.max()) + 1))
    honest = reconcile_sifted(sift(r.events, 3), KeyParameters(), np.random.default_rng(4))
    assert honest.eve is None and decode_reconciled(encode_reconciled(honest)).eve is None


def _block(eve, seeds=(0, 1, 2), seconds=8):
    """Three short synthetic passes (the attack table's link) pooled into one block."""
    src = DecoySource(rate_hz=1e8)
    kp = KeyParameters()
    parts = []
    for s in seeds:
        r = simulate_decoy_bb84(np.full(seconds, 2e-3), 1e-6, 1.0, src, Receiver(),
                                np.random.default_rng(s), eavesdropper=eve)
        codes = eve_codes(r.eve_bit, r.eve_knows) if r.eve_bit is not None else None
        parts.append(reconcile_sifted(sift(r.events, 3, codes), kp,
                                      np.random.default_rng(s + 50)))
    return finish_block(parts, src.intensities, src.probabilities, kp,
                        np.random.default_rng(99))


def test_pooled_block_under_blinding_is_compromised_and_honest_secure():
    blind = _block(Eavesdropper(kind="blinding"))
    assert blind.secret_bits > 0 and blind.abort_reason == ""
    s = blind.scalars()
    assert s["security"] == "compromised"
    assert s["eve_known_bits"] == blind.secret_bits and s["eve_key_agreement"] == 1.0
    assert s["eve_knowledge_method"] == "exact"
    honest = _block(None)
    assert honest.secret_bits > 0 and honest.eve is None
    h = honest.scalars()
    assert h["security"] == "secure" and h["eve_known_bits"] == 0
    assert h["eve_knowledge_method"] == "none"
    # f = 1 intercept-resend: no key for the block, and she is told so
    ir = _block(Eavesdropper(kind="intercept-resend", fraction=1.0), seconds=4)
    assert ir.secret_bits == 0 and ir.scalars()["security"] == "aborted"


def test_pooled_mission_under_blinding(write_mission, tmp_path):
    """The mission's pooled block: Eve's record rides in the .rkey files to the closing
    pass, which reports the block's key as compromised; the others claim nothing."""
    from satqkd.mission.run import run_mission

    path = write_mission(("rate_hz = 1.0e8 ", "rate_hz = 2.0e6 "),
                         ("end = 2016-12-19T18:00:00Z", "end = 2016-12-21T20:00:00Z"),
                         ("[[stations]]", '[keys]\ntail_bound = "chernoff"\nblock = "mission"\n'
                                          '[report]\nmission_report = false\npass_plots = 0\n\n'
                                          '[eavesdropper]\nkind = "blinding"\n\n[[stations]]'))
    t = pd.read_csv(run_mission(path, tmp_path / "out") / "passes.csv", keep_default_na=False)
    block = t[t["block_id"] >= 0]
    assert len(block) >= 2
    closing = block.iloc[-1]
    assert closing["secret_bits"] > 0
    assert closing["security"] == "compromised"
    assert closing["eve_known_bits"] == closing["secret_bits"]
    assert (block.iloc[:-1]["security"] == "aborted").all()
    assert (block.iloc[:-1]["eve_knowledge_method"] == "pooled").all()
