"""Toeplitz hashing over GF(2), computed exactly: privacy amplification and verification tags.

Family: y = T x mod 2, T an m x n Toeplitz matrix, T[i, j] = s[i - j + n - 1], from n + m - 1
uniformly random public seed bits s.  Random Toeplitz matrices are a universal family: for
any x != x', Pr_s[T x = T x'] = 2^-m (Mansour, Nisan, Tiwari, STOC 1990; Krawczyk, CRYPTO
'94, LNCS 839, 129), so the leftover hash lemma applies (privacy amplification, Lim et al.
2014 eq. 1) and an m-bit tag detects a wrong key with probability >= 1 - 2^-m
(verification).

Exactness of the FFT route: y_i = sum_j s[i - j + n - 1] x_j is entry n - 1 + i of the linear
convolution s * x, an integer in [0, n].  T is cut into R x L blocks; block (r, c) is the
Toeplitz matrix of the seed segment s_rc = s[rR - cL + n - L : rR - cL + n + R - 1] (seed and
x zero-extended past their ends), and its product with the column block x_c is the slice
L - 1 .. L + R - 2 of s_rc * x_c.  A circular convolution of length N >= R + L - 1 has no
wrap-around on that slice, and the DFT is linear, so one inverse transform of the row block's
spectrum sum_c DFT(s_rc) DFT(x_c) gives the exact integers sum_c (T_rc x_c) (sectioned
convolution, Stockham, AFIPS 1966, with the sections summed in the frequency domain).  The
float64 error is of order eps log2(N) n (measured 2e-9 at n = 4e7, m = 1.2e7); every value
is rounded and ``max |round(v) - v| < 0.25`` and round(v) in [0, n] are asserted, so a
rounding to the wrong integer raises an ArithmeticError instead of passing silently.

Cost: with square blocks (R = L) s_rc depends only on the diagonal r - c, so a sweep over the
column blocks that accumulates G row blocks transforms each x_c once and each diagonal once
(G + n_c - 1 seed transforms, kept only while a later column needs them) and needs G inverse
transforms: about 4 (n + m) transformed points in all, with G spectra accumulated and G
cached, where a separate convolution per block pair takes 3 transforms per pair.  A short
output may instead take one row block (R = m), which needs no cache.  `_choose_plan` picks
the shape of least modelled time within ``FFT_MEMORY_BYTES``.  Rounding, the margin check
and the parity are one numba pass.

The packed route (numba) ANDs 64-bit words of the shifted seed with the packed input and
folds the parity: O(m n / 64), faster than the FFT for short outputs such as 50-bit tags.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numba
import numpy as np
import scipy.fft

from satqkd.keys.bits import word_parity

#: largest row or column block handled by one FFT (FFT length about R + L <= 2 * block_bits).
#: The float64 error grows like eps * log2(N) * n (2e-9 at n = 4e7, far inside the margin).
DEFAULT_BLOCK_BITS = 1 << 23
ROUNDING_MARGIN = 0.25
#: bound on the FFT working set (accumulated and cached spectra, one real buffer, pocketfft's
#: scratch); 512 MiB keeps a 4e7-bit key with m = 1.2e7 under 0.8 GB of extra RSS.
FFT_MEMORY_BYTES = 512 << 20

# Cost model of `_choose_plan`, fitted on pocketfft (numpy 2, 2 MiB L2 / 32 MiB L3): a real
# transform of length N costs ~10 ns per point at N = 1e6, growing as N^0.3 once its arrays
# leave the cache; a complex multiply-add ~2 ns per bin (memory-bound); a call ~20 us.
_FFT_NS_PER_POINT = 10.0
_FFT_CACHE_EXPONENT = 0.3
_MAC_NS_PER_BIN = 2.0
_CALL_NS = 2.0e4
#: FFT lengths tried for square blocks: round 5-smooth numbers c 10^e, which measured at
#: least as fast as neighbouring 5-smooth lengths (3e6: 13 ns/point, 3538944 = 2^17 3^3: 19).
_ROUND_SIZES = tuple(sorted({int(c * 10**e) for e in range(9)
                             for c in (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8)}))


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


class _BlockPlan(NamedTuple):
    """Blocking of T: ``rows`` x ``cols`` blocks (R x L), transforms of length ``size``
    N >= R + L - 1, ``group`` row blocks G accumulated in one sweep over the column blocks."""

    rows: int
    cols: int
    size: int
    group: int


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _plan_memory(plan: _BlockPlan, k: int) -> int:
    """Bytes of the working set: G k accumulators, G cached seed spectra, k x spectra (each
    N/2 + 1 complex128), the (k, N) real buffer and pocketfft's N-float scratch."""
    spectrum = (plan.size // 2 + 1) * 16
    return (plan.group * k + plan.group + k) * spectrum + (k + 1) * plan.size * 8


def _plan_cost(plan: _BlockPlan, n: int, m: int, k: int) -> float:
    """Modelled time (ns): transforms x N points, multiply-adds x N/2 bins, per-call overhead.

    Per sweep of G row blocks: n_c x transforms (k rows each), G inverse transforms and, for
    square blocks, G + n_c - 1 distinct diagonals (else one seed segment per block pair)."""
    n_r, n_c = _ceil_div(m, plan.rows), _ceil_div(n, plan.cols)
    sweeps = _ceil_div(n_r, plan.group)
    if plan.rows == plan.cols:
        seeds = n_r + sweeps * (n_c - 1)
    else:
        seeds = n_r * n_c
    transforms = k * (sweeps * n_c + n_r) + seeds
    per_point = _FFT_NS_PER_POINT * (plan.size / 1e6) ** _FFT_CACHE_EXPONENT
    fft = transforms * (plan.size * per_point + _CALL_NS)
    mac = n_r * n_c * (k * (plan.size // 2 + 1) * _MAC_NS_PER_BIN + _CALL_NS)
    return fft + mac


def _square_plan(m: int, k: int, side: int, block_bits: int, budget: int) -> _BlockPlan:
    """Square blocks of about ``side`` (filled up to the fast FFT length) with the largest group
    G <= n_r that fits ``budget`` (at least 1)."""
    size = scipy.fft.next_fast_len(2 * side - 1, real=True)
    side = min((size + 1) // 2, block_bits)
    n_r = _ceil_div(m, side)
    one = _plan_memory(_BlockPlan(side, side, size, 1), k)
    per_group = (size // 2 + 1) * 16 * (k + 1)
    group = 1 + max(0, (budget - one) // per_group)
    return _BlockPlan(side, side, size, int(min(group, n_r)))


@functools.lru_cache(maxsize=256)
def _choose_plan(n: int, m: int, k: int = 1, block_bits: int = DEFAULT_BLOCK_BITS,
                 budget: int = FFT_MEMORY_BYTES) -> _BlockPlan:
    """Block shape of least `_plan_cost` among those within ``budget`` (else the smallest).

    Candidates: one row block (R = m) over n_c column blocks (n_c = 1 .. 16, then growing by
    1/4: for m << n wide blocks transform ~2n points where square ones transform ~4n), and
    square blocks of half a `_ROUND_SIZES` length or of the largest side; no side exceeds
    ``block_bits``."""
    cands = []
    if m <= block_bits:
        n_c = 1
        while True:
            cols = _ceil_div(n, n_c)
            if cols <= block_bits:
                cands.append(_BlockPlan(m, cols, scipy.fft.next_fast_len(m + cols - 1, True), 1))
            if cols == 1 or 4 * cols < m:
                break
            n_c = n_c + 1 if n_c < 16 else n_c * 5 // 4
    cap = min(block_bits, max(n, m))
    for side in {cap} | {size // 2 for size in _ROUND_SIZES if 1 <= size // 2 < cap}:
        cands.append(_square_plan(m, k, side, block_bits, budget))
    fits = [p for p in cands if _plan_memory(p, k) <= budget]
    if not fits:
        return min(cands, key=lambda p: _plan_memory(p, k))
    return min(fits, key=lambda p: _plan_cost(p, n, m, k))


@numba.njit(cache=True)
def _multiply_add(acc: np.ndarray, a: np.ndarray, b: np.ndarray, first: bool) -> None:
    """acc[i] = a[i] * b (first column block) or acc[i] += a[i] * b: one pass, no temporaries."""
    for i in range(acc.shape[0]):
        if first:
            for j in range(acc.shape[1]):
                acc[i, j] = a[i, j] * b[j]
        else:
            for j in range(acc.shape[1]):
                acc[i, j] += a[i, j] * b[j]


@numba.njit(cache=True)
def _round_to_parity(conv: np.ndarray, lo: int, top: float, out: np.ndarray) -> float:
    """out[i, t] = round(conv[i, lo + t]) mod 2; returns max |round(v) - v| over the slice.

    A rounded value outside [0, top] or a non-finite one counts as error inf: the exact
    values are integers in [0, n]."""
    worst = 0.0
    for i in range(out.shape[0]):
        for t in range(out.shape[1]):
            v = conv[i, lo + t]
            r = np.rint(v)
            if not 0.0 <= r <= top:  # also catches NaN and inf
                return np.inf
            worst = max(worst, abs(r - v))
            out[i, t] = np.uint8(np.int64(r) & 1)
    return worst


def _stage_bits(bits: np.ndarray, start: int, length: int, dst: np.ndarray) -> np.ndarray:
    """dst[..., :length] = bits[..., start:start + length] as float64, zero outside bits."""
    size = bits.shape[-1]
    lo, hi = min(max(-start, 0), length), max(min(size - start, length), 0)
    hi = max(hi, lo)
    dst[..., :lo] = 0.0
    dst[..., lo:hi] = bits[..., start + lo:start + hi]
    dst[..., hi:length] = 0.0
    return dst[..., :length]


# numpy >= 2 transforms into a given ``out`` (pocketfft works in place there, no temporaries);
# the project still allows numpy 1.26, where scipy's result is copied in.
_FFT_HAS_OUT = np.lib.NumpyVersion(np.__version__) >= "2.0.0"


def _rfft_into(a: np.ndarray, size: int, out: np.ndarray) -> np.ndarray:
    """out = rfft(a zero-padded to ``size``) along the last axis."""
    if _FFT_HAS_OUT:
        return np.fft.rfft(a, size, axis=-1, out=out)
    out[...] = scipy.fft.rfft(a, size, axis=-1)
    return out


def _irfft_into(a: np.ndarray, size: int, out: np.ndarray) -> np.ndarray:
    """out = irfft(a, ``size``) along the last axis."""
    if _FFT_HAS_OUT:
        return np.fft.irfft(a, size, axis=-1, out=out)
    out[...] = scipy.fft.irfft(a, size, axis=-1)
    return out


def _last_use(rows: range, n_c: int, plan: _BlockPlan) -> dict[int, int]:
    """Last column block of the sweep over ``rows`` that needs each seed-segment offset rR - cL."""
    last = {}
    for c in range(n_c):
        for r in rows:
            last[r * plan.rows - c * plan.cols] = c
    return last


def _hash_blocks(x: np.ndarray, seed: np.ndarray, m: int, plan: _BlockPlan) -> np.ndarray:
    """(T x) mod 2 for x (k, n) uint8, blocked by ``plan`` (see the module docstring).

    For each group of G row blocks: sweep the column blocks c, transform x_c once, multiply it
    into every row block's accumulator with the seed segment's spectrum (cached from an earlier
    column when the offset rR - cL repeats, dropped after its last use), then one inverse
    transform per row block, rounded to parities with the margin asserted."""
    k, n = x.shape
    rows_per, cols_per, size = plan.rows, plan.cols, plan.size
    n_r, n_c = _ceil_div(m, rows_per), _ceil_div(n, cols_per)
    bins = size // 2 + 1
    y = np.zeros((k, m), dtype=np.uint8)
    real = np.empty((k, size))  # staging for forward transforms, output of inverse ones
    x_spec = np.empty((k, bins), dtype=np.complex128)
    acc = np.empty((plan.group, k, bins), dtype=np.complex128)
    spare: list[np.ndarray] = []
    for g0 in range(0, n_r, plan.group):
        rows = range(g0, min(g0 + plan.group, n_r))
        last = _last_use(rows, n_c, plan)
        cache: dict[int, np.ndarray] = {}
        for c in range(n_c):
            xc = _stage_bits(x, c * cols_per, min(cols_per, n - c * cols_per), real)
            _rfft_into(xc, size, x_spec)
            for r in rows:
                offset = r * rows_per - c * cols_per
                spec = cache.get(offset)
                if spec is None:
                    spec = spare.pop() if spare else np.empty(bins, dtype=np.complex128)
                    seg = _stage_bits(seed, offset + n - cols_per, rows_per + cols_per - 1,
                                      real[0])
                    cache[offset] = _rfft_into(seg, size, spec)
                _multiply_add(acc[r - g0], x_spec, spec, c == 0)
                if last[offset] == c:  # no later column needs it: recycle the array
                    spare.append(cache.pop(offset))
        for r in rows:
            _irfft_into(acc[r - g0], size, real)
            r0, r1 = r * rows_per, min((r + 1) * rows_per, m)
            err = _round_to_parity(real, cols_per - 1, float(n), y[:, r0:r1])
            if not err < ROUNDING_MARGIN:
                raise ArithmeticError(f"FFT convolution rounding error {err} >= {ROUNDING_MARGIN}")
    return y


def toeplitz_hash_fft(x: np.ndarray, seed: np.ndarray, m: int,
                      block_bits: int = DEFAULT_BLOCK_BITS) -> np.ndarray:
    """y = T x mod 2 by float64 FFT convolution with the asserted rounding margin.

    ``x`` may be 2-D (one input per row, e.g. Alice's and Bob's keys): every seed transform
    then serves all rows.  Blocks are at most ``block_bits`` on a side (`_choose_plan`)."""
    x, seed = _check(x, seed, m, batch=True)
    n = x.shape[-1]
    if m == 0 or n == 0 or x.size == 0:
        return np.zeros(x.shape[:-1] + (m,), dtype=np.uint8)
    rows = x.reshape(-1, n)
    plan = _choose_plan(n, m, rows.shape[0], max(int(block_bits), 1))
    return _hash_blocks(rows, seed, m, plan).reshape(x.shape[:-1] + (m,))


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
        out[i] = np.uint8(word_parity(acc))


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
