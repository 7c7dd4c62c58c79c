"""Toeplitz hashing (privacy amplification, verification) computed exactly over GF(2)."""

import importlib
import tracemalloc

import numpy as np
import pytest
import scipy.fft
from hypothesis import given, settings
from hypothesis import strategies as st

from satqkd.keys.privacy_amplification import (
    FFT_MEMORY_BYTES,
    _BlockPlan,
    _choose_plan,
    _hash_blocks,
    _plan_memory,
    _round_to_parity,
    toeplitz_dense,
    toeplitz_hash,
    toeplitz_hash_fft,
    toeplitz_hash_packed,
    toeplitz_seed,
)
from satqkd.keys.verification import verification_tag_bits, verify_keys

# the module itself (``satqkd.keys.privacy_amplification`` is also the package's function)
pa_module = importlib.import_module("satqkd.keys.privacy_amplification")


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


def old_block_hash(x, s, m, block_bits):
    """The previous FFT route, kept as a reference: every (row block, column block) pair is
    its own rfft/rfft/irfft convolution, rounded and added mod 2."""
    n = x.shape[-1]
    y = np.zeros(x.shape[:-1] + (m,), dtype=np.uint8)
    for r0 in range(0, m, block_bits):
        r1 = min(r0 + block_bits, m)
        for c0 in range(0, n, block_bits):
            c1 = min(c0 + block_bits, n)
            seg = s[r0 - c1 + n:r1 - c0 + n - 1].astype(np.float64)
            size = scipy.fft.next_fast_len(seg.size, real=True)
            fx = scipy.fft.rfft(x[..., c0:c1].astype(np.float64), size, axis=-1)
            conv = scipy.fft.irfft(fx * scipy.fft.rfft(seg, size), size, axis=-1)
            conv = conv[..., c1 - c0 - 1:c1 - c0 - 1 + r1 - r0]
            rounded = np.rint(conv)
            assert np.max(np.abs(rounded - conv)) < 0.25
            y[..., r0:r1] ^= (rounded.astype(np.int64) & 1).astype(np.uint8)
    return y


@settings(max_examples=120, deadline=None)
@given(n=st.integers(1, 300), m=st.integers(1, 300), rows=st.integers(1, 320),
       cols=st.integers(1, 320), square=st.booleans(), extra=st.integers(0, 6),
       group=st.integers(1, 5), batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_any_block_plan_matches_dense(n, m, rows, cols, square, extra, group, batch, seed):
    # any R x L blocking (square ones reuse diagonals), any N >= R + L - 1, any G: same bits
    cols = rows if square else cols
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, (batch, n), dtype=np.uint8)
    s = toeplitz_seed(n, m, rng)
    plan = _BlockPlan(rows, cols, rows + cols - 1 + extra, group)
    y = _hash_blocks(x, s, m, plan)
    for b in range(batch):
        assert np.array_equal(y[b], toeplitz_dense(x[b], s, m))


@pytest.mark.parametrize(("n", "m", "block_bits", "batch"), [
    (100_003, 30_011, 4096, 0),     # many square blocks, sizes not multiples of the block
    (50_000, 120_001, 8192, 0),     # m > n
    (200_000, 777, 1 << 14, 0),     # m << n: wide blocks
    (60_001, 20_000, 5000, 2),      # 2-D input, both rows hashed with one seed transform
    (300_000, 90_000, 1 << 23, 0),  # default block size: one row block
    (1, 5000, 64, 0),               # a single input bit
])
def test_fft_matches_old_block_route(n, m, block_bits, batch):
    rng = np.random.default_rng(n + m)
    x = rng.integers(0, 2, (batch, n) if batch else n, dtype=np.uint8)
    s = toeplitz_seed(n, m, rng)
    assert np.array_equal(toeplitz_hash_fft(x, s, m, block_bits=block_bits),
                          old_block_hash(x, s, m, block_bits))


@pytest.mark.parametrize("plan", [
    _BlockPlan(4000, 4000, 8000, 1),    # square, one row block per sweep: x re-transformed
    _BlockPlan(4000, 4000, 8100, 3),    # square, sweeps of 3 row blocks, N above R + L - 1
    _BlockPlan(30_000, 7000, 37_000, 1),   # one row block, wide column blocks
    _BlockPlan(3000, 5000, 8000, 4),    # R != L: no diagonal repeats, every segment its own
])
def test_explicit_plans_match_old_block_route(plan):
    rng = np.random.default_rng(11)
    n, m = 77_777, 25_555
    x = rng.integers(0, 2, (2, n), dtype=np.uint8)
    s = toeplitz_seed(n, m, rng)
    assert np.array_equal(_hash_blocks(x, s, m, plan), old_block_hash(x, s, m, 1 << 14))


def test_empty_and_batched_shapes():
    rng = np.random.default_rng(12)
    s = toeplitz_seed(50, 20, rng)
    assert toeplitz_hash_fft(np.zeros((0, 50), np.uint8), s, 20).shape == (0, 20)
    assert toeplitz_hash_fft(np.ones(50, np.uint8), s, 0).shape == (0,)
    x = rng.integers(0, 2, (3, 50), dtype=np.uint8)
    y = toeplitz_hash_fft(x, s, 20, block_bits=8)
    assert y.shape == (3, 20)
    assert all(np.array_equal(y[i], toeplitz_dense(x[i], s, 20)) for i in range(3))


def test_rounding_margin_is_asserted(monkeypatch):
    conv = np.array([[0.0, 1.1, 2.3, 3.0]])
    out = np.zeros((1, 3), np.uint8)
    assert _round_to_parity(conv, 0, 10.0, out) == pytest.approx(0.3)
    assert out.tolist() == [[0, 1, 0]]
    # rounded values outside [0, n] and non-finite ones count as an infinite error
    assert _round_to_parity(np.array([[-1.0, 0, 0]]), 0, 10.0, out) == np.inf
    assert _round_to_parity(np.array([[11.0, 0, 0]]), 0, 10.0, out) == np.inf
    assert _round_to_parity(np.array([[np.nan, 0, 0]]), 0, 10.0, out) == np.inf
    # an inverse transform off by 0.3 must raise, not round silently to a wrong parity
    irfft_into = pa_module._irfft_into

    def off_by(a, size, out):
        res = irfft_into(a, size, out)
        res += 0.3
        return res

    monkeypatch.setattr(pa_module, "_irfft_into", off_by)
    rng = np.random.default_rng(13)
    n, m = 3000, 2000
    with pytest.raises(ArithmeticError):
        toeplitz_hash_fft(rng.integers(0, 2, n, dtype=np.uint8), toeplitz_seed(n, m, rng), m)


def test_plans_respect_block_bits_and_memory_budget():
    for n, m in [(40_000_000, 12_000_000), (40_000_000, 14_000_000), (10_000_000, 3_000_000),
                 (2_000_000, 500_000), (10_000_000, 20_000_000)]:
        plan = _choose_plan(n, m)
        assert plan.size >= plan.rows + plan.cols - 1
        assert max(plan.rows, plan.cols) <= 1 << 23
        assert _plan_memory(plan, 1) <= FFT_MEMORY_BYTES
    plan = _choose_plan(10_000, 5000, 1, 300)
    assert max(plan.rows, plan.cols) <= 300


def test_working_set_within_modelled_memory():
    # numpy arrays of the blocked route stay within the plan's memory model (pocketfft's
    # scratch, counted in the model, is not traced): the budget bounds peak memory
    rng = np.random.default_rng(14)
    n, m, budget = 1_000_000, 300_000, 12 << 20
    x = rng.integers(0, 2, (1, n), dtype=np.uint8)
    s = toeplitz_seed(n, m, rng)
    plan = _choose_plan(n, m, 1, 1 << 23, budget)
    _hash_blocks(x[:, :100], s[:149], 50, plan)  # load the numba kernels before tracing
    tracemalloc.start()
    try:
        y = _hash_blocks(x, s, m, plan)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= _plan_memory(plan, 1) <= budget
    assert np.array_equal(y[0], old_block_hash(x[0], s, m, 1 << 23))
