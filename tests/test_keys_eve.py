"""Eve's true knowledge of the final key (satqkd.keys.eve) against brute force, and the
Cascade transcript that feeds it."""

import itertools

import numpy as np
import pytest

from satqkd.keys.cascade import cascade_reconcile, parity_rows
from satqkd.keys.finite_key import binary_entropy
from satqkd.keys.eve import gf2_rank, knowledge, toeplitz_rows, verdict
from satqkd.keys.privacy_amplification import toeplitz_dense, toeplitz_seed


def _pack(dense: np.ndarray) -> np.ndarray:
    """Dense 0/1 rows -> packed uint64 rows (bit t of word t // 64)."""
    m, n = dense.shape
    out = np.zeros((m, (n + 63) // 64), np.uint64)
    for i, j in zip(*np.nonzero(dense)):
        out[i, j >> 6] |= np.uint64(1) << np.uint64(j & 63)
    return out


def _brute_known(x, sure, p_dense, seed, ell):
    """Enumerate every key consistent with Eve's bits and the public parities: the final
    keys form an affine space of 2^(ell - known) points; also which bits are constant."""
    u = np.flatnonzero(~sure)
    target = p_dense @ x % 2
    keys = set()
    const = None
    for bits in itertools.product((0, 1), repeat=u.size):
        y = x.copy()
        y[u] = bits
        if np.array_equal(p_dense @ y % 2, target):
            k = toeplitz_dense(y, seed, ell)
            keys.add(k.tobytes())
            const = k.copy() if const is None else np.where(const == k, const, 2)
    return ell - int(np.log2(len(keys))), int(np.sum(const < 2))


@pytest.mark.parametrize("case", range(12))
def test_known_bits_match_brute_force(case):
    """Exact GF(2) count (eq. E1) = ell - log2(number of final keys Eve cannot exclude)."""
    rng = np.random.default_rng(case)
    n, ell, lam = 14, int(rng.integers(1, 7)), int(rng.integers(0, 9))
    x = rng.integers(0, 2, n).astype(np.uint8)
    sure = rng.random(n) < rng.choice([0.2, 0.5, 0.8])
    p_dense = (rng.random((lam, n)) < 0.4).astype(np.int64)
    seed = toeplitz_seed(n, ell, rng)
    key = toeplitz_dense(x, seed, ell)
    codes = np.where(sure, x, -1).astype(np.int8)

    def rows(col_of):
        return _pack(p_dense[:, col_of >= 0])

    k = knowledge(x, codes, rows, key, seed, 1e-9, np.random.default_rng(0), n_public=lam)
    known, single = _brute_known(x, sure, p_dense, seed, ell)
    assert k.method == "exact"
    assert k.known_bits == known
    # bits she computes one by one are always right, the others are her coin flips
    assert k.agreement * ell >= single
    # count bound (proved): known >= ell - |U|
    assert k.known_bits >= ell - int((~sure).sum())
    assert k.information_bits >= k.known_bits


def test_seed_bound_when_elimination_is_too_big():
    """Far from the threshold the seed bound says 0, and the exact count agrees."""
    rng = np.random.default_rng(5)
    n, ell, lam = 3000, 200, 300
    x = rng.integers(0, 2, n).astype(np.uint8)
    sure = rng.random(n) < 0.1
    p_dense = (rng.random((lam, n)) < 0.05).astype(np.int64)
    seed = toeplitz_seed(n, ell, rng)
    key = toeplitz_dense(x, seed, ell)
    codes = np.where(sure, x, -1).astype(np.int8)

    def rows(col_of):
        return _pack(p_dense[:, col_of >= 0])

    exact = knowledge(x, codes, rows, key, seed, 1e-9, np.random.default_rng(0), n_public=lam)
    bound = knowledge(x, codes, rows, key, seed, 1e-9, np.random.default_rng(0), n_public=lam,
                      exact_word_ops=0.0)
    assert exact.method == "exact" and bound.method == "seed-bound"
    assert exact.known_bits == bound.known_bits == 0
    assert bound.failure_probability <= 2.0 ** -64


def test_everything_known_and_noisy_guesses():
    rng = np.random.default_rng(1)
    n, ell = 4000, 500
    x = rng.integers(0, 2, n).astype(np.uint8)
    seed = toeplitz_seed(n, ell, rng)
    key = toeplitz_dense(x, seed, ell)
    allk = knowledge(x, x.astype(np.int8), None, key, seed, 1e-9, rng)
    assert allk.known_bits == ell and allk.agreement == 1.0 and allk.security == "compromised"
    # guesses right 90 % of the time: nothing certain, but I(K;E) >= ell - n h(p_up) (E2)
    # with p_up = 0.1 + sqrt(ln(1e9) / 8000) + binomial noise < 0.16: > 3000 - 4000 h(0.16)
    g = np.where(rng.random(n) < 0.9, x, 1 - x).astype(np.int8) + 2
    s2 = toeplitz_seed(n, 3000, np.random.default_rng(3))
    big = toeplitz_dense(x, s2, 3000)
    noisy = knowledge(x, g, None, big, s2, 1e-9, rng)
    assert noisy.known_bits == 0
    assert noisy.information_bits > 3000 - 4000 * binary_entropy(0.16) > 100
    assert noisy.security == "compromised"


def test_verdict_rules():
    assert verdict(0, 0, 0.0, float("nan"), 1e-9) == "aborted"
    assert verdict(1000, 1, 1.0, 0.5, 1e-9) == "compromised"
    assert verdict(1000, 0, 0.0, 0.5, 1e-9) == "secure"
    assert verdict(10_000, 0, 0.0, 0.56, 1e-9) == "compromised"  # > 0.5 + 0.032


def test_cascade_transcript_covers_the_corrected_bits():
    """Each bit Cascade corrected is pinned by BINARY to one position: the unit vector of
    that position lies in the span of the recorded disclosures (a wrong permutation or
    range in the transcript breaks this)."""
    rng = np.random.default_rng(7)
    n = 3000
    a = rng.integers(0, 2, n).astype(np.uint8)
    b = a ^ (rng.random(n) < 0.03).astype(np.uint8)
    r = cascade_reconcile(a, b, 0.03, rng, frame_bits=1024, transcript=True)
    assert np.array_equal(r.bob_corrected, a)
    assert r.transcript.shape == (r.leaked_bits, 5)
    rows = parity_rows(r, n, np.arange(n))
    # column 4 is Bob's reply: the error parity over the row's bits when it was disclosed;
    # pass 0's block parities come first, before any correction
    nb0 = -(-1024 // int(r.block_sizes[0]))
    first = rows[:3 * nb0][r.transcript[:3 * nb0, 1] == 0]
    dense = np.unpackbits(first.view(np.uint8), axis=1, bitorder="little")[:, :n]
    assert np.array_equal(dense @ (a ^ b) % 2, r.transcript[:len(first), 4])
    rank = gf2_rank(rows)
    assert rank <= r.leaked_bits
    fixed = np.flatnonzero(a != b)
    for y in fixed[:40]:
        unit = np.zeros((1, rows.shape[1]), np.uint64)
        unit[0, y >> 6] = np.uint64(1) << np.uint64(y & 63)
        assert gf2_rank(np.concatenate([rows, unit])) == rank
    # and a position Cascade never isolated is generally not pinned
    free = [y for y in range(n) if y not in set(fixed)][:40]
    pinned = 0
    for y in free:
        unit = np.zeros((1, rows.shape[1]), np.uint64)
        unit[0, y >> 6] = np.uint64(1) << np.uint64(y & 63)
        pinned += gf2_rank(np.concatenate([rows, unit])) == rank
    assert pinned < len(free)


def test_toeplitz_rows_match_dense():
    rng = np.random.default_rng(2)
    n, m = 150, 20
    seed = toeplitz_seed(n, m, rng)
    cols = np.sort(rng.choice(n, 70, replace=False))
    packed = toeplitz_rows(seed, n, m, cols)
    i = np.arange(m)[:, None]
    dense = seed[i - cols[None, :] + n - 1]
    assert np.array_equal(packed, _pack(dense))


# --------------------------------------------------------------------------- two-way
def _dense(rows: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(rows.view(np.uint8), axis=1, bitorder="little")[:, :n].astype(np.int64)


def _brute_two_way(x, res, tag_seed, tag_bits, codes, pa_seed, ell):
    """Every (x', y') for which Cascade (same seed) says exactly what it said - Alice's
    parities and Bob's replies, row for row - and ends with Bob holding x', whose tag
    matches, and which agrees with Eve's sure bits of Alice's (codes 0/1) and Bob's (4/5)
    raw keys: ell - log2(number of final keys left), and the bits constant over them."""
    from satqkd.keys.cascade import _cascade_kernel, transcript_rows
    from satqkd.keys.privacy_amplification import toeplitz_hash

    n = x.size
    rec = res.transcript
    p = _dense(transcript_rows(rec, res.frame_bits, res.seed, n, np.arange(n), n), n)
    said = p @ x % 2
    tag = toeplitz_hash(x, tag_seed, tag_bits)
    sure_x = (codes == 0) | (codes == 1)
    sure_y = (codes == 4) | (codes == 5)
    free_x = np.flatnonzero(~sure_x)
    free_e = np.flatnonzero(~sure_y)
    keys, const = set(), None
    for xb in itertools.product((0, 1), repeat=free_x.size):
        c = x.copy()
        c[free_x] = xb
        if not np.array_equal(p @ c % 2, said) or not np.array_equal(
                toeplitz_hash(c, tag_seed, tag_bits), tag):
            continue
        for eb in itertools.product((0, 1), repeat=free_e.size):
            y = np.where(sure_y, codes - 4, 0).astype(np.uint8)
            y[free_e] = c[free_e] ^ np.array(eb, np.uint8)
            b = y.copy()
            rec2 = np.zeros_like(rec)
            leak, _ = _cascade_kernel(c, b, res.block_sizes, res.frame_bits, res.seed, rec2)
            if leak.sum() == rec.shape[0] and np.array_equal(rec2, rec) and np.array_equal(b, c):
                k = toeplitz_dense(c, pa_seed, ell)
                keys.add(k.tobytes())
                const = k.copy() if const is None else np.where(const == k, const, 2)
                break
    return ell - int(np.log2(len(keys))), int(np.sum(const < 2))


@pytest.mark.parametrize("case", range(10))
def test_two_way_transcript_matches_brute_force(case):
    """With Bob's replies public, Eve's sure bits of Bob's key count as Alice's (the
    corrected error pattern is public): the exact count equals brute force over
    every pair of keys that makes Cascade say the same, both ways."""
    from satqkd.keys.eve import block_knowledge, pass_record
    from satqkd.keys.verification import verify_keys

    rng = np.random.default_rng(200 + case)
    n = 11
    while True:
        x = rng.integers(0, 2, n).astype(np.uint8)
        y = x ^ (rng.random(n) < 0.12).astype(np.uint8)
        res = cascade_reconcile(x, y, 0.2, rng, frame_bits=n, passes=2, transcript=True)
        if np.array_equal(res.bob_corrected, x) and (x != y).any():
            break
    ver = verify_keys(x, res.bob_corrected, rng, 0.3)  # a 2-bit tag (50 bits would pin x)
    kind = rng.choice(6, n, p=[0.35, 0.15, 0.3, 0.1, 0.05, 0.05])
    # -1 nothing; sure of x; sure of y; guesses of x / y (count as unknown for certainty)
    codes = np.select([kind == 1, kind == 2, kind == 3, kind == 4],
                      [x, 4 + y, 2 + x, 6 + y], -1).astype(np.int8)
    ell = int(rng.integers(3, 8))
    pa_seed = toeplitz_seed(n, ell, rng)
    key = toeplitz_dense(x, pa_seed, ell)
    k = block_knowledge(x, [pass_record(codes, res, ver, x, y)], key, pa_seed, 1e-9,
                        np.random.default_rng(0))
    known, single = _brute_two_way(x, res, ver.seed, ver.tag_bits, codes, pa_seed, ell)
    assert k.method == "exact"
    assert k.known_bits == known
    assert k.agreement * ell >= single


def test_records_of_bobs_bits_without_public_errors_are_guesses():
    from satqkd.keys.eve import alice_codes

    x = np.array([0, 1, 1, 0, 1], np.uint8)
    y = np.array([0, 1, 0, 0, 0], np.uint8)
    codes = np.array([4, 5, 4, 6, -1], np.int8)  # sure y = 0, 1, 0; guess y = 0; nothing
    assert np.array_equal(alice_codes(codes, x, y, True), [0, 1, 1, 2, -1])
    assert np.array_equal(alice_codes(codes, x, y, False), [2, 3, 2, 2, -1])
