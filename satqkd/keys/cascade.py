"""Cascade information reconciliation executed on the bits, with exact leakage counting.

Protocol: Brassard & Salvail, "Secret-key reconciliation by public discussion",
EUROCRYPT '93, LNCS 765, 410 (1994), with the optimised block sizes and sub-block reuse of
Martinez-Mateo, Pacher, Peev, Ciurana, Martin, "Demystifying the information
reconciliation protocol Cascade", Quantum Inf. Comput. 15, 453 (2015) (arXiv:1407.3257),
their "Cascade opt. (8)":

    alpha = log2(1/p) - 1/2
    k1 = 2^ceil(alpha),  k2 = 2^ceil((alpha + 12)/2),  k3 = 4096,  k_i = n/2 (i >= 4),

with 14 passes as in the paper.  The key is cut into frames of ``frame_bits`` (default 2^16;
the paper used 2^14) reconciled independently; the remainder joins the last frame.

Each pass: a shared random permutation (Fisher-Yates from the shared seed) cuts the frame
into blocks of k_i; Alice discloses every block parity (1 bit each, except the last block of
passes 2.. whose parity follows from the frame parity fixed by pass 1); in every block whose
parities differ, BINARY halves the block, Alice disclosing the parity of the left half
(1 bit) while the right half's follows from the parent (0 bits), until the error is found.
Every correction flips the parity of the blocks containing that bit in all earlier passes
(the cascade effect).  With sub-block reuse every parity Alice ever disclosed or implied is
kept in a binary tree per block, so the back-tracking search starts from the *smallest*
known odd sub-block and never asks for a parity twice.  Passes with k_i = n/2 are drawn as
a uniformly random subset of the frame and its complement (the BICONF primitive of
Brassard & Salvail; equivalent to a random permutation cut in halves up to the binomial
spread of the half size), which saves a full shuffle per pass.

Leakage = number of parity bits Alice disclosed, counted exactly in the kernel.  The
simulation evaluates "Alice's parity XOR Bob's parity" of a block as the parity of the
error pattern a XOR b over it, which is the same bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from satqkd.keys.finite_key import binary_entropy

#: Martinez-Mateo et al. (2015) tuned k3 = 4096 on 2^14-bit frames; 2^16-bit frames keep the
#: same first three passes and amortise the n/2 passes over 4x more bits (f 1.04-1.09 instead
#: of 1.06-1.11 at QBER 1-2 %, measured, docs/keys.md).
PAPER_FRAME_BITS = 16384
DEFAULT_FRAME_BITS = 65536
DEFAULT_PASSES = 14


def cascade_block_sizes(qber: float, frame_bits: int = DEFAULT_FRAME_BITS,
                        passes: int = DEFAULT_PASSES) -> np.ndarray:
    """Block sizes of Martinez-Mateo et al. (2015) "Cascade opt. (8)"; 0 means n/2 (random halves).

    ``qber`` is the a-priori error-rate estimate (clipped to [1e-6, 0.5]); ``frame_bits`` the
    frame length.  Any size reaching half the frame becomes a random-halves pass.
    """
    if passes < 1:
        raise ValueError("Cascade needs at least one pass")
    p = min(max(float(qber), 1e-6), 0.5)
    alpha = math.log2(1.0 / p) - 0.5
    sizes = [2 ** max(math.ceil(alpha), 0), 2 ** math.ceil((alpha + 12.0) / 2.0), 4096]
    sizes = (sizes + [0] * passes)[:passes]
    return np.array([k if 0 < 2 * k < frame_bits else 0 for k in sizes], dtype=np.int64)


@numba.njit(cache=True)
def _next_pow2(x):
    v = 1
    while v < x:
        v *= 2
    return v


@numba.njit(cache=True, inline="always")
def _block_of(k, split, pos, n):
    """Block index and [lo, hi) of position ``pos`` in a pass: fixed blocks of ``k`` bits,
    or (k = 0) the two halves of a subset/complement pass split at ``split``."""
    if k > 0:
        b = pos // k
        lo = b * k
        return b, lo, min(lo + k, n)
    if pos < split:
        return 0, 0, split
    return 1, split, n


@numba.njit(cache=True)
def _cascade_kernel(alice, bob, block_sizes, frame_bits, seed):
    """Reconcile ``bob`` towards ``alice`` in place. Returns (leak/pass, corrections/pass)."""
    np.random.seed(seed)
    n = alice.size
    n_pass = block_sizes.size
    leak = np.zeros(n_pass, np.int64)
    fixed = np.zeros(n_pass, np.int64)
    if n == 0:
        return leak, fixed
    nf = max(1, n // frame_bits)
    lmax = n - (nf - 1) * frame_bits

    # tree layout per pass: node h of block b lives at soff[p] + b * cap[p] + h (heap order)
    cap = np.empty(n_pass, np.int64)
    soff = np.empty(n_pass, np.int64)
    total = 0
    nb_max = 0
    for p in range(n_pass):
        k = block_sizes[p]
        if k > 0:
            c = 2 * _next_pow2(k)
            nb = (lmax + k - 1) // k
        else:
            c = 2 * _next_pow2(lmax)
            nb = 2
        cap[p] = c
        soff[p] = total
        total += nb * c
        nb_max += nb
    # state = 2 * frame + parity; a node is known in frame f iff state >> 1 == f (no resets)
    st = np.full(total + 2, -1, np.int32)
    perm = np.empty((n_pass, lmax), np.int32)
    inv = np.empty((n_pass, lmax), np.int32)
    dp = np.empty((n_pass, lmax), np.uint8)  # error pattern in each pass's order
    d = np.empty(lmax, np.uint8)
    split = np.zeros(n_pass, np.int64)
    stack_cap = n_pass * (lmax + 1) + nb_max + 16
    stk_p = np.empty(stack_cap, np.int32)
    stk_x = np.empty(stack_cap, np.int32)

    for f in range(nf):
        off = f * frame_bits
        L = frame_bits if f < nf - 1 else n - off
        tag = 2 * f
        for i in range(L):
            d[i] = alice[off + i] ^ bob[off + i]
        for p in range(n_pass):
            k = block_sizes[p]
            if k > 0:
                for i in range(L):
                    perm[p, i] = i
                for i in range(L - 1, 0, -1):
                    j = np.random.randint(0, i + 1)
                    t = perm[p, i]
                    perm[p, i] = perm[p, j]
                    perm[p, j] = t
                nb = (L + k - 1) // k
            else:
                a = 0
                z = L - 1
                i = 0
                while i < L:
                    r = np.random.randint(0, 1 << 30)
                    for _ in range(30):
                        if i >= L:
                            break
                        if r & 1:
                            perm[p, a] = i
                            a += 1
                        else:
                            perm[p, z] = i
                            z -= 1
                        r >>= 1
                        i += 1
                split[p] = a
                nb = 2
            for i in range(L):
                inv[p, perm[p, i]] = i
                dp[p, i] = d[perm[p, i]]

            top = 0
            for b in range(nb):
                if k > 0:
                    lo = b * k
                    hi = min(lo + k, L)
                else:
                    lo = 0 if b == 0 else split[p]
                    hi = split[p] if b == 0 else L
                if hi <= lo:
                    continue
                par = 0
                for i in range(lo, hi):
                    par ^= dp[p, i]
                st[soff[p] + b * cap[p] + 1] = tag + par
                # the last block of a later pass follows from the frame parity (pass 0)
                if p == 0 or b < nb - 1:
                    leak[p] += 1
                if par:
                    stk_p[top] = p
                    stk_x[top] = perm[p, lo]
                    top += 1

            while top > 0:
                top -= 1
                q = stk_p[top]
                x = stk_x[top]
                pos = inv[q, x]
                b, lo, hi = _block_of(block_sizes[q], split[q], pos, L)
                base = soff[q] + b * cap[q]
                # deepest known odd node on the path to x
                h = 1
                best = -1
                blo = lo
                bhi = hi
                while True:
                    s = st[base + h]
                    if (s >> 1) != f:
                        break
                    if s & 1:
                        best = h
                        blo = lo
                        bhi = hi
                    if hi - lo == 1:
                        break
                    mid = lo + (hi - lo) // 2
                    if pos < mid:
                        h = 2 * h
                        hi = mid
                    else:
                        h = 2 * h + 1
                        lo = mid
                if best < 0:
                    continue
                # BINARY from the smallest odd node
                h = best
                lo = blo
                hi = bhi
                while hi - lo > 1:
                    mid = lo + (hi - lo) // 2
                    sl = st[base + 2 * h]
                    if (sl >> 1) != f:
                        par = 0
                        for i in range(lo, mid):
                            par ^= dp[q, i]
                        sl = tag + par
                        st[base + 2 * h] = sl
                        leak[p] += 1
                    if (st[base + 2 * h + 1] >> 1) != f:
                        st[base + 2 * h + 1] = tag + ((st[base + h] ^ sl) & 1)
                    if sl & 1:
                        h = 2 * h
                        hi = mid
                    else:
                        h = 2 * h + 1
                        lo = mid
                y = perm[q, lo]
                bob[off + y] ^= 1
                d[y] ^= 1
                fixed[p] += 1
                # cascade effect: every known node containing y flips its error parity
                for j in range(p + 1):
                    pj = inv[j, y]
                    dp[j, pj] ^= 1
                    b, lo, hi = _block_of(block_sizes[j], split[j], pj, L)
                    base = soff[j] + b * cap[j]
                    h = 1
                    odd = False
                    while True:
                        s = st[base + h]
                        if (s >> 1) != f:
                            break
                        s ^= 1
                        st[base + h] = s
                        if s & 1:
                            odd = True
                        if hi - lo == 1:
                            break
                        mid = lo + (hi - lo) // 2
                        if pj < mid:
                            h = 2 * h
                            hi = mid
                        else:
                            h = 2 * h + 1
                            lo = mid
                    if odd:
                        stk_p[top] = j
                        stk_x[top] = y
                        top += 1
    return leak, fixed


@dataclass(frozen=True)
class CascadeResult:
    """Outcome of :func:`cascade_reconcile`."""

    bob_corrected: np.ndarray  # uint8, Bob's bits after reconciliation
    leaked_bits: int  # parity bits disclosed by Alice, counted exactly
    errors_corrected: int  # bits Bob flipped
    block_sizes: np.ndarray  # schedule used (0 = random halves)
    frame_bits: int
    leaked_per_pass: np.ndarray
    corrected_per_pass: np.ndarray

    def efficiency(self, qber: float | None = None) -> float:
        """f = leaked / (n h(QBER)); QBER defaults to errors_corrected / n (the actual one)."""
        n = self.bob_corrected.size
        if qber is None:
            qber = self.errors_corrected / n if n else 0.0
        h = binary_entropy(qber)
        return float(self.leaked_bits / (n * h)) if n and h > 0 else float("nan")


def cascade_reconcile(alice_bits: np.ndarray, bob_bits: np.ndarray, qber_estimate: float,
                      rng: np.random.Generator, frame_bits: int = DEFAULT_FRAME_BITS,
                      passes: int = DEFAULT_PASSES) -> CascadeResult:
    """Run Cascade between Alice's and Bob's sifted keys (uint8 0/1 arrays, equal length).

    ``qber_estimate`` sets the block sizes (satqkd uses the X-basis QBER, so no key bit is
    disclosed); ``rng`` supplies the shared public randomness for the permutations.
    """
    a = np.ascontiguousarray(alice_bits, dtype=np.uint8)
    b = np.array(bob_bits, dtype=np.uint8, copy=True)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("Alice's and Bob's keys must be 1-D arrays of equal length")
    n = a.size
    frame = int(min(frame_bits, max(n, 1)))
    sizes = cascade_block_sizes(qber_estimate, frame, passes)
    seed = int(rng.integers(0, 2**32 - 1))
    leak, fixed = _cascade_kernel(a, b, sizes, frame, seed)
    return CascadeResult(b, int(leak.sum()), int(fixed.sum()), sizes, frame, leak, fixed)
