"""Toeplitz hashing over GF(2), computed exactly: privacy amplification and verification tags.

Family: y = T x mod 2, T an m x n Toeplitz matrix, T[i, j] = s[i - j + n - 1], from n + m - 1
uniformly random public seed bits s.  Random Toeplitz matrices are a universal family: for
any x != x', Pr_s[T x = T x'] = 2^-m (Mansour, Nisan, Tiwari, STOC 1990; Krawczyk, CRYPTO
'94, LNCS 839, 129), so the leftover hash lemma applies (privacy amplification, Lim et al.
2014 eq. 1) and an m-bit tag detects a wrong key with probability >= 1 - 2^-m
(verification).

Exactness of the FFT route: with x_r the reversed input, y_i = sum_t s[i + t] x_r[t] mod 2 is
the slice n-1 .. n+m-2 of the linear convolution s * x, whose terms are integers in [0, n].
A circular FFT convolution of length N >= n + m - 1 has no wrap-around on that slice.  In
float64 the convolution's error is of order eps_machine * log2(N) * n (about 1e-8 for
n = 2^22), far below 1/2; every value is rounded and ``max |round(v) - v| < 0.25`` is
asserted, so a rounding to the wrong integer would raise instead of passing silently.
Inputs longer than ``block_bits`` are cut into row and column blocks (each block of a
Toeplitz matrix is Toeplitz) and the partial products are added mod 2.

The packed route (numba) ANDs 64-bit words of the shifted seed with the packed input and
folds the parity: O(m n / 64), faster than the FFT for short outputs such as 50-bit tags.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft

#: largest row or column block handled by one FFT (FFT length <= 2 * block_bits). The
#: float64 error grows like eps * log2(N) * n (~1e-7 at n = 2^24, far inside the
#: margin); 2^23 keeps the hash of a key of tens of Mbit near 0.6 GB.
DEFAULT_BLOCK_BITS = 1 << 23
ROUNDING_MARGIN = 0.25


def toeplitz_seed(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """n + m - 1 uniformly random seed bits (uint8 0/1) from the shared public ``rng``."""
    k = max(n + m - 1, 0)
    raw = rng.bytes((k + 7) // 8)
    return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), bitorder="little")[:k]


def _check(x: np.ndarray, seed: np.ndarray, m: int, batch: bool = False):
    x = np.ascontiguousarray(x, dtype=np.uint8)
    seed = np.ascontiguousarray(seed, dtype=np.uint8)
    if seed.ndim != 1 or not (x.ndim == 1 or (batch and x.ndim == 2)):
        raise ValueError("input and seed must be 1-D bit arrays (or 2-D rows of inputs)")
    if m < 0:
        raise ValueError(f"output length must be >= 0, got {m}")
    n = x.shape[-1]
    if m > 0 and n > 0 and seed.size != n + m - 1:
        raise ValueError(f"seed must have n + m - 1 = {n + m - 1} bits, got {seed.size}")
    return x, seed


def toeplitz_dense(x: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """Reference: build T explicitly and multiply mod 2 (small sizes only)."""
    x, seed = _check(x, seed, m)
    n = x.size
    if m == 0 or n == 0:
        return np.zeros(m, dtype=np.uint8)
    i = np.arange(m)[:, None]
    j = np.arange(n)[None, :]
    t = seed[i - j + n - 1].astype(np.int64)
    return ((t @ x.astype(np.int64)) % 2).astype(np.uint8)


def _conv_slice_mod2(seed_seg: np.ndarray, x_seg: np.ndarray, m: int) -> np.ndarray:
    """(T' x') mod 2 for the Toeplitz block of ``seed_seg`` (len m + n' - 1); x_seg (..., n')."""
    n = x_seg.shape[-1]
    size = scipy.fft.next_fast_len(n + m - 1, real=True)
    fs = scipy.fft.rfft(seed_seg.astype(np.float64), size)
    fx = scipy.fft.rfft(x_seg.astype(np.float64), size, axis=-1)
    fx *= fs
    conv = scipy.fft.irfft(fx, size, axis=-1)[..., n - 1:n - 1 + m]
    rounded = np.rint(conv)
    err = float(np.max(np.abs(rounded - conv))) if conv.size else 0.0
    if not err < ROUNDING_MARGIN:
        raise ArithmeticError(f"FFT convolution rounding error {err} >= {ROUNDING_MARGIN}")
    return (rounded.astype(np.int64) & 1).astype(np.uint8)


def toeplitz_hash_fft(x: np.ndarray, seed: np.ndarray, m: int,
                      block_bits: int = DEFAULT_BLOCK_BITS) -> np.ndarray:
    """y = T x mod 2 by float64 FFT convolution with the asserted rounding margin.

    ``x`` may be 2-D (one input per row, e.g. Alice's and Bob's keys): the seed's transform
    is then computed once for all rows."""
    x, seed = _check(x, seed, m, batch=True)
    n = x.shape[-1]
    y = np.zeros(x.shape[:-1] + (m,), dtype=np.uint8)
    if m == 0 or n == 0:
        return y
    for r0 in range(0, m, block_bits):
        r1 = min(r0 + block_bits, m)
        for c0 in range(0, n, block_bits):
            c1 = min(c0 + block_bits, n)
            # T[i, j] for i in [r0, r1), j in [c0, c1) uses s[r0 - c1 + n : r1 - c0 + n - 1]
            seg = seed[r0 - c1 + n:r1 - c0 + n - 1]
            y[..., r0:r1] ^= _conv_slice_mod2(seg, x[..., c0:c1], r1 - r0)
    return y


def _pack64(bits: np.ndarray, extra_words: int = 0) -> np.ndarray:
    """Pack bits LSB-first into uint64 words (bit t -> word t // 64, bit t % 64)."""
    nw = (bits.size + 63) // 64 + extra_words
    buf = np.zeros(nw * 8, dtype=np.uint8)
    packed = np.packbits(bits, bitorder="little")
    buf[:packed.size] = packed
    return buf.view("<u8").astype(np.uint64)


@numba.njit(cache=True)
def _toeplitz_packed_kernel(seed_words, xr_words, m, out):
    nw = xr_words.size
    for i in range(m):
        w0 = i >> 6
        sh = i & 63
        acc = np.uint64(0)
        if sh == 0:
            for w in range(nw):
                acc ^= seed_words[w0 + w] & xr_words[w]
        else:
            s1 = np.uint64(sh)
            s2 = np.uint64(64 - sh)
            for w in range(nw):
                word = (seed_words[w0 + w] >> s1) | (seed_words[w0 + w + 1] << s2)
                acc ^= word & xr_words[w]
        # parity of the accumulated word
        acc ^= acc >> np.uint64(32)
        acc ^= acc >> np.uint64(16)
        acc ^= acc >> np.uint64(8)
        acc ^= acc >> np.uint64(4)
        acc ^= acc >> np.uint64(2)
        acc ^= acc >> np.uint64(1)
        out[i] = np.uint8(acc & np.uint64(1))


def toeplitz_hash_packed(x: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """y = T x mod 2 with 64-bit words: y_i = parity(sum_t s[i + t] x[n - 1 - t])."""
    x, seed = _check(x, seed, m)
    out = np.zeros(m, dtype=np.uint8)
    if m == 0 or x.size == 0:
        return out
    xr = _pack64(x[::-1].copy())
    sw = _pack64(seed, extra_words=2)
    _toeplitz_packed_kernel(sw, xr, m, out)
    return out


def toeplitz_hash(x: np.ndarray, seed: np.ndarray, m: int) -> np.ndarray:
    """y = T x mod 2, exact; packed words for short outputs, FFT otherwise (x 1-D or 2-D)."""
    x = np.asarray(x)
    if m <= 512:
        if x.ndim == 2:
            return np.stack([toeplitz_hash_packed(row, seed, m) for row in x]) if len(x) \
                else np.zeros((0, m), dtype=np.uint8)
        return toeplitz_hash_packed(x, seed, m)
    return toeplitz_hash_fft(x, seed, m)


def privacy_amplification(key_bits: np.ndarray, out_bits: int, seed: np.ndarray) -> np.ndarray:
    """Compress reconciled key(s) to ``out_bits`` secret bits with the Toeplitz hash of ``seed``.

    ``key_bits`` is one key (n,) or several keys of equal length as rows (k, n). Rows
    that are equal (Alice's and Bob's keys after a verified reconciliation) are hashed
    once: the hash is a deterministic function of key and seed."""
    key_bits = np.asarray(key_bits)
    if key_bits.ndim == 2 and len(key_bits) > 1 and all(
            np.array_equal(row, key_bits[0]) for row in key_bits[1:]):
        once = toeplitz_hash(key_bits[0], seed, out_bits)
        return np.broadcast_to(once, (len(key_bits), out_bits)).copy()
    return toeplitz_hash(key_bits, seed, out_bits)
