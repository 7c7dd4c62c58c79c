"""Cascade: correctness, exact leakage counting, efficiency."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satqkd.keys.cascade import cascade_block_sizes, cascade_reconcile
from satqkd.keys.finite_key import binary_entropy


def noisy_pair(rng, n, qber):
    a = rng.integers(0, 2, n, dtype=np.uint8)
    e = (rng.random(n) < qber).astype(np.uint8)
    return a, a ^ e


def test_block_schedule_of_martinez_mateo():
    # p = 0.015: alpha = log2(66.67) - 0.5 = 5.56 -> k1 = 64, k2 = 2^ceil(8.78) = 512, k3 = 4096
    assert cascade_block_sizes(0.015, 65536, 6).tolist() == [64, 512, 4096, 0, 0, 0]
    # p = 0.01: alpha = 6.14 -> 128, 2^ceil(9.07) = 1024
    assert cascade_block_sizes(0.01, 65536, 4).tolist() == [128, 1024, 4096, 0]
    # sizes reaching half the frame become random-halves passes
    assert cascade_block_sizes(0.01, 4096, 4).tolist() == [128, 1024, 0, 0]


def test_single_error_leak_is_exact():
    """One error in 1024 bits, k1 = 64: 16 block parities + log2(64) = 6 BINARY parities;
    every later pass (random halves) costs one parity (the other follows from the frame
    parity) and finds nothing."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 1024, dtype=np.uint8)
    b = a.copy()
    b[517] ^= 1
    for passes in (1, 2, 5):
        r = cascade_reconcile(a, b, 1 / 64, np.random.default_rng(passes), frame_bits=1024,
                              passes=passes)
        assert cascade_block_sizes(1 / 64, 1024, 2).tolist() == [64, 0]
        assert np.array_equal(r.bob_corrected, a)
        assert r.errors_corrected == 1
        assert r.leaked_bits == 16 + 6 + (passes - 1)


def test_clean_channel_20_seeds_identical():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        qber = 0.01 + 0.01 * seed / 19
        a, b = noisy_pair(rng, 100_000, qber)
        r = cascade_reconcile(a, b, qber, rng)
        assert np.array_equal(r.bob_corrected, a), seed
        assert r.errors_corrected == int(np.count_nonzero(a != b))
        # a leak below the Slepian-Wolf limit n h(p) would mean parities went uncounted;
        # Cascade runs at f = 1.03-1.2 at these sizes
        f = r.efficiency()
        assert 1.0 < f < 1.25, (seed, f)


@pytest.mark.parametrize("qber", [0.01, 0.015, 0.02])
def test_efficiency_at_1e6_bits(qber):
    rng = np.random.default_rng(int(qber * 1e4))
    a, b = noisy_pair(rng, 1_000_000, qber)
    r = cascade_reconcile(a, b, qber, rng)
    assert np.array_equal(r.bob_corrected, a)
    f = r.efficiency()
    assert f == pytest.approx(r.leaked_bits / (1e6 * binary_entropy(r.errors_corrected / 1e6)))
    assert 1.0 < f <= 1.10


def test_deterministic_for_a_seed():
    rng = np.random.default_rng(7)
    a, b = noisy_pair(rng, 50_000, 0.02)
    r1 = cascade_reconcile(a, b, 0.02, np.random.default_rng(99))
    r2 = cascade_reconcile(a, b, 0.02, np.random.default_rng(99))
    assert r1.leaked_bits == r2.leaked_bits
    assert np.array_equal(r1.leaked_per_pass, r2.leaked_per_pass)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3000), qber=st.floats(0.0, 0.15), est=st.floats(0.001, 0.3),
       passes=st.integers(1, 6), frame=st.sampled_from([64, 512, 4096]),
       seed=st.integers(0, 2**32 - 1))
def test_never_introduces_errors(n, qber, est, passes, frame, seed):
    """Every flip corrects a real error, and each frame keeps even residual parity (pass 1
    blocks tile the frame and all end with matching parity)."""
    rng = np.random.default_rng(seed)
    a, b = noisy_pair(rng, n, qber)
    r = cascade_reconcile(a, b, est, rng, frame_bits=frame, passes=passes)
    flipped = r.bob_corrected != b
    assert np.all((a != b)[flipped])
    assert int(flipped.sum()) == r.errors_corrected
    residual = (r.bob_corrected != a).astype(np.int64)
    fl = r.frame_bits
    nf = max(1, n // fl)
    starts = [i * fl for i in range(nf)] + [n]
    for s0, s1 in zip(starts[:-1], starts[1:]):
        assert residual[s0:s1].sum() % 2 == 0
    # Alice discloses at least one parity per block of the first pass of the first frame
    k1 = int(r.block_sizes[0])
    first_pass_blocks = math.ceil(min(fl, n) / k1) if k1 > 0 else 1
    assert r.leaked_bits >= first_pass_blocks


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20000), qber=st.floats(0.0, 0.12), est=st.floats(0.002, 0.2),
       passes=st.integers(1, 14), frame=st.sampled_from([64, 1000, 4096, 8192]),
       seed=st.integers(0, 2**32 - 1))
def test_sparse_kernel_equals_the_dense_protocol(n, qber, est, passes, frame, seed):
    """The error-driven kernel discloses exactly the parities, and flips exactly the bits,
    of the protocol executed on whole blocks with the same permutations."""
    from cascade_reference import dense_cascade_kernel

    from satqkd.keys.cascade import _cascade_kernel

    rng = np.random.default_rng(seed)
    a, b = noisy_pair(rng, n, qber)
    frame = min(frame, n)
    sizes = cascade_block_sizes(est, frame, passes)
    key = int(rng.integers(0, 2**63 - 1))
    b_sparse, b_dense = b.copy(), b.copy()
    leak_s, fixed_s = _cascade_kernel(a, b_sparse, sizes, frame, key)
    leak_d, fixed_d = dense_cascade_kernel(a, b_dense, sizes, frame, key)
    assert np.array_equal(leak_s, leak_d)
    assert np.array_equal(fixed_s, fixed_d)
    assert np.array_equal(b_sparse, b_dense)


def test_pass_permutation_is_a_bijection_of_the_frame():
    from satqkd.keys.cascade import _domain_half_bits, _pass_keys, _permute

    for L in (1, 2, 3, 1000, 65536, 65537, 131071):
        keys = _pass_keys(12345, 3, 2)
        h = _domain_half_bits(L)
        pos = np.array([_permute(y, keys, h, L) for y in range(L)])
        assert np.array_equal(np.sort(pos), np.arange(L)), L
