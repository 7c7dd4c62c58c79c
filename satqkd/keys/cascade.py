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

Each pass: a shared pseudorandom permutation of the frame (a keyed four-round Feistel network
on the bit index, restricted to the frame by cycle walking; keys from the shared seed) cuts
it into blocks of k_i; Alice discloses every block parity (1 bit each, except the last block
of passes 2.. whose parity follows from the frame parity fixed by pass 1); in every block
whose parities differ, BINARY halves the block, Alice disclosing the parity of the left half
(1 bit) while the right half's follows from the parent (0 bits), until the error is found.
Every correction flips the parity of the blocks containing that bit in all earlier passes
(the cascade effect).  With sub-block reuse every parity Alice ever disclosed or implied is
kept in a binary tree per block, so the back-tracking search starts from the *smallest*
known odd sub-block and never asks for a parity twice.  Passes with k_i = n/2 cut the
permuted frame in two halves (the BICONF primitive of Brassard & Salvail).

Leakage = number of parity bits Alice disclosed, counted exactly in the kernel; Bob sends
one reply per disclosed parity (``CascadeResult.reply_bits``), which the finite key charges
by the two-way rule of :mod:`satqkd.keys.finite_key` (Tupkary & Lutkenhaus 2023).  The
simulation evaluates "Alice's parity XOR Bob's parity" of a block as the parity of the
error pattern a XOR b over it, which is the same bit; because a position's place in a pass
is computed alone (no shuffle of the frame), the kernel handles only the error positions
and its cost grows with the errors (about QBER x n), not with n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from satqkd.keys.bits import word_parity
from satqkd.keys.finite_key import binary_entropy

#: Martinez-Mateo et al. (2015) tuned k3 = 4096 on 2^14-bit frames; 2^16-bit frames keep the
#: same first three passes and amortise the n/2 passes over 4x more bits (f 1.04-1.09 instead
#: of 1.06-1.11 at QBER 1-2 %, measured, docs/keys.md).
PAPER_FRAME_BITS = 16384
DEFAULT_FRAME_BITS = 65536
DEFAULT_PASSES = 14
#: Feistel rounds of the per-pass permutation (four: a strong pseudorandom permutation).
FEISTEL_ROUNDS = 4


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


@numba.njit(cache=True, inline="always")
def _mix64(z):
    """splitmix64 finaliser (Steele, Lea, Flood, OOPSLA 2014): a bijective 64-bit mixer."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def _pass_keys(seed, frame, p):
    """Four Feistel round keys of pass ``p`` of frame ``frame``, from the shared seed."""
    keys = np.empty(FEISTEL_ROUNDS, np.uint64)
    base = _mix64(np.uint64(seed) ^ _mix64(np.uint64(frame) * np.uint64(64) + np.uint64(p)))
    for r in range(FEISTEL_ROUNDS):
        keys[r] = _mix64(base + np.uint64(r + 1) * np.uint64(0x9E3779B97F4A7C15))
    return keys


@numba.njit(cache=True)
def _domain_half_bits(L):
    """Half-width h of the balanced Feistel domain [0, 4^h) that holds [0, L)."""
    h = 1
    while (1 << (2 * h)) < L:
        h += 1
    return h


@numba.njit(cache=True, inline="always")
def _permute(y, keys, h, L):
    """Position of bit ``y`` in a pass: a keyed pseudorandom permutation of [0, L).

    A balanced Feistel network on 2h bits with splitmix64 round functions (Luby & Rackoff,
    SIAM J. Comput. 17, 373 (1988): four rounds give a strong pseudorandom permutation),
    restricted to [0, L) by cycle walking (Black & Rogaway, CT-RSA 2002), so any bit's
    position is computed alone, without shuffling the frame.
    """
    mask = np.uint64((1 << h) - 1)
    x = np.uint64(y)
    while True:
        left = x >> np.uint64(h)
        right = x & mask
        for r in range(keys.size):
            t = right
            right = left ^ (_mix64(right ^ keys[r]) & mask)
            left = t
        x = (left << np.uint64(h)) | right
        if x < np.uint64(L):
            return np.int64(x)


@numba.njit(cache=True)
def _next_pow2(x):
    v = 1
    while v < x:
        v *= 2
    return v


@numba.njit(cache=True, inline="always")
def _block_of(k, pos, n):
    """Block index and [lo, hi) of position ``pos`` in a pass: fixed blocks of ``k`` bits,
    or (k = 0) the two halves [0, n // 2) and [n // 2, n)."""
    if k > 0:
        b = pos // k
        lo = b * k
        return b, lo, min(lo + k, n)
    split = n // 2
    if pos < split:
        return 0, 0, split
    return 1, split, n


@numba.njit(cache=True, inline="always")
def _toward(pos, h, lo, hi):
    """One step down a block's parity tree (heap order): the child of node ``h`` over
    [lo, hi) that holds position ``pos``, with its range."""
    mid = lo + (hi - lo) // 2
    if pos < mid:
        return 2 * h, lo, mid
    return 2 * h + 1, mid, hi


@numba.njit(cache=True, inline="always")
def _range_parity(words, row, lo, hi):
    """Parity of bits [lo, hi) (hi > lo) of the packed bitmap ``words[row]`` (bit t of the
    bitmap is bit t % 64 of word t // 64)."""
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    wlo = lo >> 6
    whi = (hi - 1) >> 6
    top = np.uint64(((hi - 1) & 63) + 1)  # bits of the last word inside the range
    last = ones if top == np.uint64(64) else (np.uint64(1) << top) - np.uint64(1)
    if wlo == whi:
        return word_parity((words[row, wlo] & last) >> np.uint64(lo & 63))
    acc = words[row, wlo] >> np.uint64(lo & 63)
    for w in range(wlo + 1, whi):
        acc ^= words[row, w]
    acc ^= words[row, whi] & last
    return word_parity(acc)


@numba.njit(cache=True)
def _cascade_kernel_rec(alice, bob, block_sizes, frame_bits, seed, rec):
    """Reconcile ``bob`` towards ``alice`` in place. Returns (leak/pass, corrections/pass).

    ``rec`` (m, 5) int64: when m > 0, the transcript of Alice's disclosures is written to
    it, one row (frame, pass, lo, hi, err) per disclosed parity, in the order disclosed:
    the parity of the frame's bits whose position in that pass's permutation is in
    [lo, hi), and the parity ``err`` of Bob's remaining errors over them at that moment,
    i.e. Bob's reply (m must be at least the total leak).

    Work scales with the errors, not the key: a pass places only the frame's remaining
    errors (their positions from :func:`_permute`) in a packed bitmap of the pass order,
    block parities are tallied from them, and BINARY's sub-block parities are word-wise
    parities of that bitmap. Every parity is the one Alice and Bob would compare.
    """
    n = alice.size
    n_pass = block_sizes.size
    leak = np.zeros(n_pass, np.int64)
    fixed = np.zeros(n_pass, np.int64)
    n_rec = 0
    rec_cap = rec.shape[0]
    if n == 0:
        return leak, fixed
    nf = max(1, n // frame_bits)
    lmax = n - (nf - 1) * frame_bits

    # tree layout per pass: node h of block b lives at soff[p] + b * cap[p] + h (heap order)
    cap = np.empty(n_pass, np.int64)
    soff = np.empty(n_pass, np.int64)
    total = 0
    nb_max = 0
    nb_all = 0
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
        nb_max = max(nb_max, nb)
        nb_all += nb
    # state = 2 * frame + parity; a node is known in frame f iff state >> 1 == f (no resets)
    st = np.full(total + 2, -1, np.int32)
    dpw = np.zeros((n_pass, (lmax + 63) // 64), np.uint64)  # error bitmap in pass order
    errs = np.empty(lmax, np.int32)  # the frame's error positions at its start
    live = np.empty(lmax, np.uint8)  # 1 while error e is uncorrected
    posc = np.empty((n_pass, lmax), np.int32)  # position of error e in pass p
    rev = np.empty((n_pass, lmax), np.int32)  # error at a pass position (where the bit is set)
    blkpar = np.empty(nb_max, np.uint8)
    stack_cap = n_pass * (lmax + 1) + nb_all + 16
    stk_p = np.empty(stack_cap, np.int32)
    stk_x = np.empty(stack_cap, np.int32)

    for f in range(nf):
        off = f * frame_bits
        L = frame_bits if f < nf - 1 else n - off
        tag = 2 * f
        h_bits = _domain_half_bits(L)
        n_err = 0
        for i in range(L):
            if alice[off + i] != bob[off + i]:
                errs[n_err] = i
                live[n_err] = 1
                n_err += 1
        n_words = (L + 63) // 64
        for p in range(n_pass):
            k = block_sizes[p]
            keys = _pass_keys(seed, f, p)
            nb = (L + k - 1) // k if k > 0 else 2
            for w in range(n_words):
                dpw[p, w] = 0
            for b in range(nb):
                blkpar[b] = 0
            for e in range(n_err):
                if not live[e]:
                    continue
                pos = _permute(errs[e], keys, h_bits, L)
                posc[p, e] = pos
                rev[p, pos] = e
                dpw[p, pos >> 6] |= np.uint64(1) << np.uint64(pos & 63)
                b, lo, hi = _block_of(k, pos, L)
                blkpar[b] ^= 1

            top = 0
            for b in range(nb):
                lo = b * k if k > 0 else (0 if b == 0 else L // 2)
                if lo >= L or (k == 0 and b == 0 and L // 2 == 0):
                    continue  # the empty first half of a one-bit frame
                par = blkpar[b]
                st[soff[p] + b * cap[p] + 1] = tag + par
                # the last block of a later pass follows from the frame parity (pass 0)
                if p == 0 or b < nb - 1:
                    leak[p] += 1
                    if n_rec < rec_cap:
                        rec[n_rec, 0] = f
                        rec[n_rec, 1] = p
                        rec[n_rec, 2] = lo
                        rec[n_rec, 3] = min(lo + k, L) if k > 0 else (L // 2 if b == 0 else L)
                        rec[n_rec, 4] = par
                        n_rec += 1
                if par:
                    stk_p[top] = p
                    stk_x[top] = lo
                    top += 1

            while top > 0:
                top -= 1
                q = stk_p[top]
                pos = stk_x[top]
                b, lo, hi = _block_of(block_sizes[q], pos, L)
                base = soff[q] + b * cap[q]
                # deepest known odd node on the path to pos
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
                    h, lo, hi = _toward(pos, h, lo, hi)
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
                        sl = tag + _range_parity(dpw, q, lo, mid)
                        st[base + 2 * h] = sl
                        leak[p] += 1
                        if n_rec < rec_cap:
                            rec[n_rec, 0] = f
                            rec[n_rec, 1] = q
                            rec[n_rec, 2] = lo
                            rec[n_rec, 3] = mid
                            rec[n_rec, 4] = sl & 1
                            n_rec += 1
                    if (st[base + 2 * h + 1] >> 1) != f:
                        st[base + 2 * h + 1] = tag + ((st[base + h] ^ sl) & 1)
                    if sl & 1:
                        h = 2 * h
                        hi = mid
                    else:
                        h = 2 * h + 1
                        lo = mid
                if not (dpw[q, lo >> 6] >> np.uint64(lo & 63)) & np.uint64(1):
                    raise AssertionError("Cascade: BINARY ended on a position without error")
                e = rev[q, lo]
                y = errs[e]
                bob[off + y] ^= 1
                live[e] = 0
                fixed[p] += 1
                # cascade effect: every known node containing y flips its error parity
                for j in range(p + 1):
                    pj = posc[j, e]
                    dpw[j, pj >> 6] ^= np.uint64(1) << np.uint64(pj & 63)
                    b, lo, hi = _block_of(block_sizes[j], pj, L)
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
                        h, lo, hi = _toward(pj, h, lo, hi)
                    if odd:
                        stk_p[top] = j
                        stk_x[top] = pj
                        top += 1
    return leak, fixed


def _cascade_kernel(alice, bob, block_sizes, frame_bits, seed, rec=None):
    """:func:`_cascade_kernel_rec`, without a transcript unless ``rec`` is given."""
    if rec is None:
        rec = np.zeros((0, 5), np.int64)
    return _cascade_kernel_rec(alice, bob, block_sizes, frame_bits, seed, rec)


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
    seed: int = 0  # public seed of the permutations
    #: (leaked_bits, 5) rows (frame, pass, lo, hi, err) of Alice's disclosures and the
    #: error parity Bob's reply reveals (transcript=True)
    transcript: np.ndarray | None = None

    @property
    def reply_bits(self) -> int:
        """Bits Bob discloses: one reply for every parity Alice discloses.

        Bob answers each disclosed block parity with "same/different" and each BINARY
        step with "left/right"; a parity that follows from known ones draws no message
        from either side.  With Alice's parity public, each reply reveals Bob's parity of
        the same block (Tupkary & Lutkenhaus, Phys. Rev. Applied 20, 064040 (2023)), which
        the finite key must account for (:mod:`satqkd.keys.finite_key`).
        """
        return self.leaked_bits

    def efficiency(self, qber: float | None = None) -> float:
        """f = leaked / (n h(QBER)); QBER defaults to errors_corrected / n (the actual one)."""
        n = self.bob_corrected.size
        if qber is None:
            qber = self.errors_corrected / n if n else 0.0
        h = binary_entropy(qber)
        return float(self.leaked_bits / (n * h)) if n and h > 0 else float("nan")


def cascade_reconcile(alice_bits: np.ndarray, bob_bits: np.ndarray, qber_estimate: float,
                      rng: np.random.Generator, frame_bits: int = DEFAULT_FRAME_BITS,
                      passes: int = DEFAULT_PASSES, transcript: bool = False) -> CascadeResult:
    """Run Cascade between Alice's and Bob's sifted keys (uint8 0/1 arrays, equal length).

    ``qber_estimate`` sets the block sizes (satqkd uses the X-basis QBER, so no key bit is
    disclosed); ``rng`` supplies the shared public randomness for the permutations.
    ``transcript``: also return which bits each disclosed parity covers (what Eve reads
    on the public channel, :func:`parity_rows`); the run is repeated with the same seed
    to record it, so the protocol and its result are unchanged.
    """
    a = np.ascontiguousarray(alice_bits, dtype=np.uint8)
    b = np.array(bob_bits, dtype=np.uint8, copy=True)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("Alice's and Bob's keys must be 1-D arrays of equal length")
    n = a.size
    frame = int(min(frame_bits, max(n, 1)))
    sizes = cascade_block_sizes(qber_estimate, frame, passes)
    seed = int(rng.integers(0, 2**63 - 1))
    b0 = b.copy() if transcript else b
    leak, fixed = _cascade_kernel(a, b, sizes, frame, seed, np.zeros((0, 5), np.int64))
    rec = None
    if transcript:
        rec = np.zeros((int(leak.sum()), 5), np.int64)
        _cascade_kernel(a, b0, sizes, frame, seed, rec)  # same seed: the same disclosures
    return CascadeResult(b, int(leak.sum()), int(fixed.sum()), sizes, frame, leak, fixed,
                         seed, rec)


@numba.njit(cache=True)
def _parity_rows_kernel(n, frame_bits, seed, rec, col_of, out):
    """Fill ``out[i]`` (packed over columns) with the bits of disclosure ``rec[i]``.

    Bit t of a row is bit t % 64 of word t // 64; position y of the key is column
    ``col_of[y]`` (skipped when -1). Rows are grouped by (frame, pass) so each pass's
    inverse permutation is computed once.
    """
    nf = max(1, n // frame_bits)
    m = rec.shape[0]
    order = np.argsort(rec[:, 0] * 64 + rec[:, 1])
    inv = np.empty(max(frame_bits, n - (nf - 1) * frame_bits), np.int64)
    cur = -1
    for t in range(m):
        i = order[t]
        f = rec[i, 0]
        p = rec[i, 1]
        key = f * 64 + p
        off = f * frame_bits
        L = frame_bits if f < nf - 1 else n - off
        if key != cur:
            keys = _pass_keys(seed, f, p)
            h = _domain_half_bits(L)
            for y in range(L):
                inv[_permute(y, keys, h, L)] = y
            cur = key
        for pos in range(rec[i, 2], rec[i, 3]):
            c = col_of[off + inv[pos]]
            if c >= 0:
                out[i, c >> 6] |= np.uint64(1) << np.uint64(c & 63)


def transcript_rows(transcript: np.ndarray, frame_bits: int, seed: int, n: int,
                    col_of: np.ndarray, width: int | None = None) -> np.ndarray:
    """Disclosures ``transcript`` (rows (frame, pass, lo, hi, ...)) of a Cascade run on n
    bits with ``frame_bits`` and permutation ``seed`` as packed GF(2) rows over the
    columns ``col_of`` (position y -> column, -1 to leave it out); ``width`` columns at
    least (default: max(col_of) + 1)."""
    col_of = np.ascontiguousarray(col_of, dtype=np.int64)
    n_cols = int(col_of.max()) + 1 if col_of.size else 0
    if width is not None:
        n_cols = max(n_cols, int(width))
    rec = np.ascontiguousarray(transcript, dtype=np.int64)
    out = np.zeros((rec.shape[0], (n_cols + 63) // 64), np.uint64)
    if n and out.size:
        _parity_rows_kernel(n, int(frame_bits), np.uint64(seed), rec, col_of, out)
    return out


def parity_rows(result: CascadeResult, n: int, col_of: np.ndarray) -> np.ndarray:
    """Alice's disclosed parities as GF(2) rows: (leaked_bits, ceil(n_cols / 64)) uint64.

    ``col_of[y]`` is the column of key position y (-1 to leave it out, e.g. a bit Eve
    already knows: its contribution to the parity is then a known constant). Needs a
    result made with ``transcript=True``.
    """
    if result.transcript is None:
        raise ValueError("Cascade ran without transcript=True")
    return transcript_rows(result.transcript, result.frame_bits, result.seed, n, col_of)
