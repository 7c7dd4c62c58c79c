"""Test oracle for Cascade: the protocol executed literally on dense arrays.

Every pass materialises its whole permutation (from the same keyed Feistel network as
``satqkd.keys.cascade``) and the error pattern in pass order, and every parity is a scan
over the bits of its block. The production kernel, which touches only the error positions,
must disclose the same parities and flip the same bits. The parity-tree bookkeeping is
restated here, not imported from the kernel, so that a slip in it cannot hide in both.
"""

import numba
import numpy as np

from satqkd.keys.cascade import _domain_half_bits, _next_pow2, _pass_keys, _permute


@numba.njit(cache=True, inline="always")
def _old_block_of(k, split, pos, n):
    if k > 0:
        b = pos // k
        lo = b * k
        return b, lo, min(lo + k, n)
    if pos < split:
        return 0, 0, split
    return 1, split, n


@numba.njit(cache=True)
def dense_cascade_kernel(alice, bob, block_sizes, frame_bits, seed):
    """Reconcile ``bob`` in place, scanning whole blocks of explicit permutations."""
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
        h_bits = _domain_half_bits(L)
        for p in range(n_pass):
            k = block_sizes[p]
            keys = _pass_keys(seed, f, p)
            for y in range(L):
                perm[p, _permute(y, keys, h_bits, L)] = y
            if k > 0:
                nb = (L + k - 1) // k
            else:
                split[p] = L // 2
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
                b, lo, hi = _old_block_of(block_sizes[q], split[q], pos, L)
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
                    b, lo, hi = _old_block_of(block_sizes[j], split[j], pj, L)
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

