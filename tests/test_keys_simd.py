"""The explicit-SIMD intrinsics against numpy, on the AVX-512 path (where the host has it)
and on the portable path."""

import numba
import numpy as np
import pytest

from satqkd.keys import simd
from satqkd.keys.simd import (
    EXP_UMAX,
    vabs,
    vcountneg,
    vexpneg,
    vflipsign,
    vln,
    vload,
    vload_rot,
    vmax,
    vmin,
    vrecip,
    vsplat,
    vstore,
    vstore_rot,
)

PATHS = [False] + ([True] if simd._AVX512 else [])


def compiled(avx512: bool, monkeypatch):
    """A kernel using every intrinsic, compiled afresh with the chosen code path."""
    monkeypatch.setattr(simd, "_AVX512", avx512)

    def kernel(a, b, out, shift):
        x = vload(a, 0)
        y = vload(b, 16)
        vstore(out, 0, x + y)
        vstore(out, 16, x - y)
        vstore(out, 32, x * y)
        vstore(out, 48, x / y)
        vstore(out, 64, vmin(x, y))
        vstore(out, 80, vmax(x, y))
        vstore(out, 96, vabs(x))
        vstore(out, 112, vflipsign(y, x))
        vstore(out, 128, vexpneg(vabs(x)))
        vstore(out, 144, vln(vabs(y)))
        vstore(out, 160, vload_rot(a, 16, shift))
        vstore_rot(out, 176, shift, y)
        vstore(out, 192, vrecip(y))
        vstore(out, 208, vsplat(np.float32(2.5)))
        return vcountneg(x)
    return numba.njit(kernel)


@pytest.mark.parametrize("avx512", PATHS)
def test_intrinsics_match_numpy(avx512, monkeypatch):
    k = compiled(avx512, monkeypatch)
    rng = np.random.default_rng(0)
    for trial in range(20):
        a = rng.normal(0, 4, 64).astype(np.float32)
        b = (rng.normal(0, 4, 64) * 10.0 ** rng.integers(-6, 6, 64)).astype(np.float32)
        b[b == 0] = 1.0
        out = np.zeros(256, np.float32)
        shift = int(rng.integers(0, 16))
        neg = k(a, b, out, shift)
        x, y = a[:16], b[16:32]
        assert np.array_equal(out[0:16], x + y) and np.array_equal(out[16:32], x - y)
        assert np.array_equal(out[32:48], x * y)
        assert np.allclose(out[48:64], x / y, rtol=1e-6)
        assert np.array_equal(out[64:80], np.minimum(x, y))
        assert np.array_equal(out[80:96], np.maximum(x, y))
        assert np.array_equal(out[96:112], np.abs(x))
        assert np.array_equal(out[112:128], np.where(x < 0, -y, y))
        assert np.allclose(out[128:144], np.minimum(np.exp(-np.abs(x.astype(float))), EXP_UMAX),
                           rtol=1.1e-4, atol=0)
        assert np.allclose(out[144:160], np.log(np.abs(y.astype(float))), rtol=0, atol=2e-4)
        assert np.array_equal(out[160:176], a[16 + (np.arange(16) + shift) % 16])
        assert np.array_equal(out[176 + (np.arange(16) + shift) % 16], y)
        # vrcp14ps: relative error below 2^-14 (the portable path divides exactly)
        assert np.allclose(out[192:208], 1.0 / y, rtol=2.0**-14, atol=0)
        assert np.all(out[208:224] == 2.5) and neg == np.count_nonzero(x < 0)


@pytest.mark.parametrize("avx512", PATHS)
def test_exp_and_log_accuracy_over_their_ranges(avx512, monkeypatch):
    """exp(-x) to 1.1e-4 relative (the fitted polynomial's 5.5e-5 absolute error on
    2^f in [1/2, 1]) on [0, 80], clipped at EXP_UMAX near 0; ln to 1e-4 absolute (1.2e-4 x ln 2 from
    the polynomial, plus float32 rounding) on [1e-30, 1e30]."""
    monkeypatch.setattr(simd, "_AVX512", avx512)

    @numba.njit
    def both(xs, e, lg):
        for i in range(0, xs.size, 16):
            vstore(e, i, vexpneg(vload(xs, i)))
            vstore(lg, i, vln(vload(xs, i)))

    xs = np.linspace(0.0, 80.0, 16 * 4000).astype(np.float32)
    e = np.empty_like(xs)
    lg = np.empty_like(xs)
    both(xs, e, lg)
    ref = np.minimum(np.exp(-xs.astype(float)), EXP_UMAX)
    assert np.all(np.abs(e - ref) <= 1.1e-4 * ref)
    ys = np.geomspace(1e-30, 1e30, 16 * 4000).astype(np.float32)
    both(ys, e, lg)
    assert np.max(np.abs(lg - np.log(ys.astype(float)))) < 1e-4


def test_ldpc_sweep_on_the_portable_path_matches(monkeypatch):
    """The LDPC sweep compiled without the AVX-512 intrinsics (as on other hosts) updates
    a frame as the installed one does, to the reciprocal estimate's 2^-14."""
    import math

    from satqkd.keys import ldpc

    code = ldpc.build_code(0.83, 4096)
    rng = np.random.default_rng(9)
    x = rng.integers(0, 2, code.n, dtype=np.uint8)
    y = x ^ (rng.random(code.n) < 0.03).astype(np.uint8)
    llr = np.float32(math.log(0.97 / 0.03))
    ch = np.where(y == 0, llr, -llr).astype(np.float32)
    sgn = np.empty(code.m, np.float32)
    args = (code.base_row_ptr, code.base_cols, code.shifts)
    ldpc._qc_signs(*args, (1.0 - 2.0 * x).astype(np.float32), sgn)
    dmax = int(np.diff(code.base_row_ptr).max())
    runs = []
    monkeypatch.setattr(simd, "_AVX512", False)
    portable = numba.njit(fastmath=True, boundscheck=False)(ldpc._qc_sweep.py_func)
    for sweep in (ldpc._qc_sweep, portable):
        L = ch.copy()
        R = np.zeros(code.base_cols.size * 16, np.float32)
        T = np.empty(dmax * 16, np.float32)
        P = np.empty(dmax * 16, np.float32)
        bads = [sweep(*args, sgn, L, R, T, P) for _ in range(3)]
        runs.append((L, bads))
    (L1, b1), (L2, b2) = runs
    assert np.allclose(L1, L2, rtol=1e-3, atol=1e-3)
    assert all(abs(a - b) <= 2 for a, b in zip(b1, b2))
