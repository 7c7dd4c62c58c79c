"""Toeplitz hashing (privacy amplification, verification) computed exactly over GF(2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satqkd.keys.privacy_amplification import (
    toeplitz_dense,
    toeplitz_hash,
    toeplitz_hash_fft,
    toeplitz_hash_packed,
    toeplitz_seed,
)
from satqkd.keys.verification import verification_tag_bits, verify_keys


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 400), m=st.integers(1, 300), block=st.integers(32, 512),
       seed=st.integers(0, 2**32 - 1))
def test_fft_and_packed_match_dense(n, m, block, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, n, dtype=np.uint8)
    s = toeplitz_seed(n, m, rng)
    dense = toeplitz_dense(x, s, m)
    assert np.array_equal(toeplitz_hash_fft(x, s, m, block_bits=block), dense)
    assert np.array_equal(toeplitz_hash_packed(x, s, m), dense)


def test_dense_is_a_toeplitz_product():
    # T[i, j] = s[i - j + n - 1]; n = 3, m = 2, s = (s0..s3):
    # y0 = s2 x0 + s1 x1 + s0 x2, y1 = s3 x0 + s2 x1 + s1 x2
    s = np.array([1, 0, 1, 1], dtype=np.uint8)
    x = np.array([1, 1, 1], dtype=np.uint8)
    assert toeplitz_dense(x, s, 2).tolist() == [(1 + 0 + 1) % 2, (1 + 1 + 0) % 2]


def test_large_fft_against_packed_and_batched():
    rng = np.random.default_rng(1)
    n, m = 200_000, 1_000
    x = rng.integers(0, 2, (2, n), dtype=np.uint8)
    s = toeplitz_seed(n, m, rng)
    y = toeplitz_hash_fft(x, s, m)
    assert np.array_equal(y[0], toeplitz_hash_packed(x[0], s, m))
    assert np.array_equal(y[1], toeplitz_hash_packed(x[1], s, m))
    assert np.array_equal(toeplitz_hash_fft(x, s, m, block_bits=1 << 16), y)


def test_linearity_over_gf2():
    rng = np.random.default_rng(2)
    n, m = 5000, 3000
    s = toeplitz_seed(n, m, rng)
    x1 = rng.integers(0, 2, n, dtype=np.uint8)
    x2 = rng.integers(0, 2, n, dtype=np.uint8)
    assert np.array_equal(toeplitz_hash(x1 ^ x2, s, m),
                          toeplitz_hash(x1, s, m) ^ toeplitz_hash(x2, s, m))


def test_output_is_balanced():
    # PA output of a random key: each bit Bernoulli(1/2); 5 sigma of Binomial(1e5, 1/2)
    rng = np.random.default_rng(3)
    n, m = 200_000, 100_000
    y = toeplitz_hash(rng.integers(0, 2, n, dtype=np.uint8), toeplitz_seed(n, m, rng), m)
    assert abs(int(y.sum()) - m / 2) < 5 * np.sqrt(m / 4)


def test_seed_length_checked():
    with pytest.raises(ValueError):
        toeplitz_hash_fft(np.ones(10, np.uint8), np.ones(5, np.uint8), 4)


def test_tag_length_for_eps_cor():
    assert verification_tag_bits(1e-15) == 50  # 2^-50 = 8.9e-16 <= 1e-15 < 2^-49
    assert 2.0**-50 <= 1e-15 < 2.0**-49


def test_verification_detects_single_flipped_bit():
    rng = np.random.default_rng(4)
    key = rng.integers(0, 2, 100_000, dtype=np.uint8)
    assert verify_keys(key, key.copy(), np.random.default_rng(0)).ok
    for pos in (0, 1, 63, 64, 50_000, 99_999):
        bad = key.copy()
        bad[pos] ^= 1
        res = verify_keys(key, bad, np.random.default_rng(pos))
        assert not res.ok and res.tag_bits == 50
