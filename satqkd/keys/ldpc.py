"""One-way rate-adaptive LDPC syndrome reconciliation for the BSC, with exact leakage counting.

Protocol (Alice's string is the reference; Bob corrects his):

1. Both interleave the key with the same public permutation (from ``rng``) and cut it into
   frames of near-equal length k, with k + p(k) <= N, N = ``frame_bits`` the length of the
   mother codes.
2. Per frame, a mother code H (m x N) of the family :data:`MOTHER_RATES` is chosen from the
   QBER estimate q, with p code positions *punctured* (Alice fills them with private random
   bits) and s positions *shortened* (filled with public pseudorandom bits from ``rng``),
   k = N - p - s; p is set so that the first attempt runs at f = ``f_start`` (rate
   adaptation of Elkouss, Martinez-Mateo, Martin, QIC 11, 226 (2011)).
3. Alice sends the syndrome s_A = H x_A of her frame word.  Bob decodes with layered
   sum-product belief propagation from his word, LLR +-ln((1-q)/q) on key bits, 0 on
   punctured and +-inf on shortened ones, and checks the syndrome (and a ``hash_bits``-bit
   universal hash Alice sends with the syndrome, see below).
4. Blind rate adaptation (Martinez-Mateo, Elkouss, Martin, QIC 12, 791 (2012)): on failure
   Bob replies "failed" and Alice reveals the values of ``step`` more punctured bits (then,
   once none is left, of ``step`` key bits); Bob resumes decoding from his messages
   (warm restart: revealed bits only add certainty).  After ``max_retries`` failed
   retries Alice discloses the whole frame and Bob takes it.

Bob decodes ``LANES`` frames side by side, one per SIMD lane of a generated, vectorised
sweep (:func:`_lanes_kernel`); a lane whose frame succeeds, or needs a retry, takes up
its next work at once, so the lanes stay full.

Bob's "failed"/"succeeded" per attempt is the only backward message: unlike Cascade's
parity replies it is not a function of his string beyond the decoder's success, so
the one-way accounting below is complete.

Leakage, counted exactly per frame (bits of Alice's string the public messages determine):

* syndrome: m - p.  The punctured columns are *untainted* (no check holds two of them;
  Elkouss et al., IEEE Commun. Lett. 15, 1127 (2011)), so they are linearly independent and
  H_p r, r Alice's private uniform fill, is uniform on a p-dimensional space: s_A reveals
  only the coset of H_k x_k modulo that space, an (m - p)-bit message (Alice could send
  exactly that label; sending s_A is equivalent).  Revealing a punctured value lowers p by
  one and costs one bit; revealing a key bit costs one bit;
* shortened fillers are public pseudorandom bits independent of the key: 0 bits;
* the frame hash: ``hash_bits`` bits per frame;
* a frame disclosed in full: its k key bits (everything else is then redundant).

Failure detection: syndrome check plus a per-frame universal hash (a random GF(2)-linear
map to ``hash_bits`` bits, seeded from ``rng``, so wrongly decoded frames escape with
probability 2^-hash_bits; set 0 to rely on the pass-level 50-bit verification tag).  A
frame that fails every check after ``max_retries`` retries is disclosed, never kept.

Codes: one family per N built deterministically (fixed seed) at first use by progressive
edge growth (Hu, Eleftheriou, Arnold, IEEE Trans. IT 51, 386 (2005)) restricted to depth
one (no 4-cycle where one can be avoided; degree-2 columns as a zig-zag chain, so they hold
no codeword) with the variable-degree distributions of
``tools/design_ldpc_degrees.py`` (Gaussian-approximation density evolution for the BSC
and linear programming, Chung, Richardson, Urbanke, IEEE Trans. IT 47, 657 (2001)), and
cached in-process.  The simulation evaluates the hash comparison as the hash of the
residual error pattern (the hash is linear: equal hashes iff that hash is zero); every
disclosed quantity is counted.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

from satqkd.keys.cascade import _mix64
from satqkd.keys.finite_key import binary_entropy

#: Code length N of the mother codes: 2^16 = 65536.  BP's gap to capacity shrinks with N:
#: the rate-0.9 code fails 1 frame in 12 at f = 1.145 (QBER 1.1 %) with N = 2^16, 4 in 10
#: with 2^15 (measured, docs/keys.md); 2^17 gains little more, and a pass of 1e5-1e6 sifted
#: bits still fills 2-16 frames.  Decoding cost per bit does not depend on N.
DEFAULT_FRAME_BITS = 65536
#: Blind retries before a frame is disclosed: f_start + 20 x 0.02 reaches f ~ 1.5.  A
#: retry costs 0.015-0.02 in f, a disclosure 1/h(q) (12 at QBER 1 %): retries are cheap.
DEFAULT_MAX_RETRIES = 20
#: Bits of the per-frame verification hash (0.3 % of the syndrome at QBER 1 %).
DEFAULT_HASH_BITS = 16
#: First attempt at f = F_START; each retry reveals STEP_F x k h(q) more bits
#: (STEP_F_HIGH_RATE for mother rates >= HIGH_RATE).  Measured on 1e6-bit keys (16 frames
#: of 2^16, docs/keys.md): at QBER 2-4 % the codes decode 50-90 % of frames at f = 1.10,
#: so most frames need one or two attempts; at QBER 1 % (rate 0.9) only 20 % decode at
#: 1.10 and 50-70 % at 1.13-1.16, so the f target needs a lower start and finer steps
#: there, at the price of about 4 attempts per frame (starting at 1.05 with steps of
#: 0.03 as before took 5; starting at 1.13 took 2 but gave f = 1.163).
F_START = 1.10
STEP_F = 0.02
STEP_F_HIGH_RATE = 0.015
HIGH_RATE = 0.88
#: Punctured bits kept in reserve for retries when choosing the mother code, in units of f.
PUNCTURE_RESERVE_F = 0.09
#: Iteration cap of one attempt (the last attempt before disclosure may use all of it).
MAX_ITERATIONS = 60
#: An attempt stops after this many iterations without a new fewest-unsatisfied-checks
#: count; the retry then resumes from its messages, so little is lost by stopping early
#: (at QBER 1 %: patience 10 / 5 / 3 gave f 1.154 / 1.157 / 1.159 at 0.25 / 0.35 / 0.42
#: Mbit/s).
PATIENCE = 5
#: phi-function table of the sum-product decoder: step and size (covers [0, 24)).
PHI_STEP = 1.0 / 128.0
PHI_SIZE = 24 * 128
CODE_SEED = 20090115
#: Checks probed for a 4-cycle-free edge before one is accepted (construction cost bound).
PEG_PROBES = 512
_KNOWN_LLR = 1.0e4  # shortened and revealed bits
#: Retries resume from the failed attempt's messages (True) or decode afresh.
WARM_RETRIES = True

#: Mother code rates and node-perspective variable-degree distributions {degree: fraction}
#: (output of tools/design_ldpc_degrees.py; GA thresholds within 1-5 % of capacity).
MOTHER_CODES: dict[float, dict[int, float]] = {
    0.50: {2: 0.32346, 3: 0.45592, 8: 0.0864, 10: 0.08663, 30: 0.04759},
    0.60: {2: 0.29115, 3: 0.46624, 8: 0.0913, 10: 0.10253, 30: 0.04877},
    0.65: {2: 0.27271, 3: 0.46395, 8: 0.14316, 10: 0.05441, 30: 0.06578},
    0.70: {2: 0.25467, 3: 0.47017, 8: 0.14052, 10: 0.06917, 30: 0.06548},
    0.75: {2: 0.23491, 3: 0.47177, 8: 0.17786, 10: 0.03859, 30: 0.07687},
    0.80: {2: 0.21333, 3: 0.47739, 8: 0.1894, 10: 0.03853, 30: 0.08136},
    0.83: {2: 0.19898, 3: 0.48145, 8: 0.19053, 10: 0.04738, 30: 0.08165},
    0.85: {2: 0.18873, 3: 0.4858, 8: 0.17818, 10: 0.06894, 30: 0.07834},
    0.88: {2: 0.17154, 3: 0.48603, 8: 0.21864, 10: 0.03319, 30: 0.09059},
    0.90: {2: 0.15876, 3: 0.48864, 8: 0.22136, 10: 0.03958, 30: 0.09166},
    0.93: {2: 0.13643, 3: 0.49114, 8: 0.23614, 10: 0.03972, 30: 0.09658},
    0.95: {2: 0.11838, 3: 0.49084, 6: 0.0043, 8: 0.27183, 15: 0.00997, 20: 0.02498,
           30: 0.0797},
}
MOTHER_RATES = tuple(sorted(MOTHER_CODES))


# ----------------------------------------------------------------------------- construction
@numba.njit(cache=True)
def _peg_depth1(var_deg, m, starts, probes, chain):
    """Tanner graph by progressive edge growth with depth-one look-ahead.

    Variables (in the given order, lowest degree first as in PEG) receive their edges one
    by one; each goes to a check of least current degree that is not within distance two
    of the variable (so no 4-cycle closes).  Checks are kept in buckets by degree; the
    search probes at most ``probes`` checks of the least and the next degree, from a
    pre-drawn offset ``starts[e]``, before it accepts a 4-cycle (dense high-rate codes:
    the last, high-degree variables see almost every check within distance two).
    The first ``chain.size - 1`` variables (degree 2) form a zig-zag: variable j joins
    checks chain[j] and chain[j + 1], so the degree-2 columns contain no cycle, i.e. no
    codeword (a cycle of degree-2 columns is one, of weight its length: the error floor
    a wrong-codeword convergence showed at QBER 1 %).  Returns CSR rows (row_ptr, cols).
    """
    n = var_deg.size
    E = int(var_deg.sum())
    cap = E // m + 4
    cdeg = np.zeros(m, np.int64)
    cvars = np.full((m, cap), -1, np.int64)
    vptr = np.zeros(n + 1, np.int64)
    for v in range(n):
        vptr[v + 1] = vptr[v] + var_deg[v]
    vchk = np.full(E, -1, np.int64)
    stamp = np.full(m, -1, np.int64)  # stamp[c] == v: c within distance two of v
    own = np.full(m, -1, np.int64)  # own[c] == v: c is already a check of v
    # bucket queue: order[start[d]:start[d + 1]] are the checks of degree d
    order = np.arange(m)
    where = np.arange(m)
    start = np.zeros(cap + 2, np.int64)
    start[1:] = m
    lev = 0
    e = 0
    for v in range(n):
        for k in range(var_deg[v]):
            if k > 0:
                # grow v's forbidden set by the neighbourhood of its newest check (the
                # other variables' edges do not change while v is being connected)
                c1 = vchk[vptr[v] + k - 1]
                for t in range(cdeg[c1]):
                    w = cvars[c1, t]
                    for b in range(vptr[w], vptr[w + 1]):
                        c2 = vchk[b]
                        if c2 >= 0:
                            stamp[c2] = v
            while start[lev + 1] == start[lev]:
                lev += 1
            chosen = -1
            if v < chain.size - 1:
                chosen = chain[v + k]
            for relax in range(2 if chosen < 0 else 0):
                for lv in range(lev, min(lev + 2, cap)):
                    size = start[lv + 1] - start[lv]
                    if size == 0:
                        continue
                    off = starts[e] % size
                    for j in range(min(size, probes) if relax == 0 else size):
                        c = order[start[lv] + (off + j) % size]
                        if own[c] != v and (relax or stamp[c] != v):
                            chosen = c
                            break
                    if chosen >= 0:
                        break
                if chosen >= 0:
                    break
            if chosen < 0:
                raise RuntimeError("PEG: no check available")
            vchk[vptr[v] + k] = chosen
            own[chosen] = v
            cvars[chosen, cdeg[chosen]] = v
            # move `chosen` to the top of its bucket, then shift the bucket boundary
            d = cdeg[chosen]
            top = start[d + 1] - 1
            other = order[top]
            i = where[chosen]
            order[i] = other
            where[other] = i
            order[top] = chosen
            where[chosen] = top
            start[d + 1] -= 1
            cdeg[chosen] = d + 1
            e += 1
    row_ptr = np.zeros(m + 1, np.int64)
    for c in range(m):
        row_ptr[c + 1] = row_ptr[c] + cdeg[c]
    cols = np.empty(E, np.int32)
    for c in range(m):
        for t in range(cdeg[c]):
            cols[row_ptr[c] + t] = cvars[c, t]
    return row_ptr, cols


@dataclass(frozen=True)
class LdpcCode:
    """A mother code: H in CSR form plus its puncturing and shortening orders."""

    rate: float  # design rate 1 - m/N
    n: int
    m: int
    row_ptr: np.ndarray  # int64, m + 1
    cols: np.ndarray  # int32, edges
    puncture_order: np.ndarray  # untainted positions; frame uses the first p
    shorten_order: np.ndarray  # other positions; frame shortens the first s

    @property
    def max_punctured(self) -> int:
        return int(self.puncture_order.size)


def _untainted(row_ptr, cols, n, m, candidates, limit):
    """Greedy untainted puncturing set (no check with two punctured neighbours), in order."""
    var_checks = [[] for _ in range(n)]
    for c in range(m):
        for v in cols[row_ptr[c]:row_ptr[c + 1]]:
            var_checks[v].append(c)
    tainted = np.zeros(m, bool)
    out = []
    for v in candidates:
        cs = var_checks[v]
        if cs and not tainted[cs].any():
            tainted[cs] = True
            out.append(v)
            if len(out) >= limit:
                break
    return np.array(out, dtype=np.int64)


def build_code(rate: float, n: int, seed: int = CODE_SEED,
               distribution: dict[int, float] | None = None,
               max_puncture_fraction: float = 0.5) -> LdpcCode:
    """Mother code of design rate ``rate`` and length ``n`` (deterministic in ``seed``).

    Variable degrees from ``distribution`` (node fractions; default ``MOTHER_CODES[rate]``),
    rounded to n nodes, with at most m - 1 of degree 2 (the rest become degree 3) laid as
    a zig-zag chain; m = round((1 - rate) n) checks of near-equal degree.  Up to
    ``max_puncture_fraction`` x m untainted positions are listed for puncturing, degree-2
    first, in a seeded random order.
    """
    dist = MOTHER_CODES[rate] if distribution is None else distribution
    m = round((1.0 - rate) * n)
    if not 0 < m < n:
        raise ValueError(f"rate {rate} gives {m} checks for n = {n}")
    rng = np.random.default_rng([seed, n, round(rate * 1000)])
    degs = np.array(sorted(dist), dtype=np.int64)
    frac = np.array([dist[d] for d in degs], dtype=float)
    counts = np.floor(frac / frac.sum() * n).astype(np.int64)
    counts[np.argmax(frac)] += n - counts.sum()
    if 2 in dist:  # degree-2 columns beyond m - 1 would close cycles: make them degree 3
        i2, i3 = int(np.searchsorted(degs, 2)), int(np.searchsorted(degs, 3))
        excess = max(0, int(counts[i2]) - (m - 1))
        counts[i2] -= excess
        if i3 < degs.size and degs[i3] == 3:
            counts[i3] += excess
        else:
            degs, counts = np.insert(degs, i2 + 1, 3), np.insert(counts, i2 + 1, excess)
    var_deg = np.repeat(degs, counts)  # ascending: low degrees first, as in PEG
    var_deg = np.minimum(var_deg, m)
    starts = rng.integers(0, m, int(var_deg.sum()))
    n2 = int(np.count_nonzero(var_deg == 2))
    chain = rng.permutation(m)[:n2 + 1] if n2 else np.zeros(0, np.int64)
    row_ptr, cols = _peg_depth1(var_deg, m, starts, PEG_PROBES, chain.astype(np.int64))
    # relabel variables randomly so degrees are spread over the frame
    relabel = rng.permutation(n).astype(np.int32)
    cols = relabel[cols]
    low = relabel[np.flatnonzero(var_deg == var_deg.min())]
    rng.shuffle(low)
    punct = _untainted(row_ptr, cols, n, m, low, int(max_puncture_fraction * m))
    rest = np.setdiff1d(np.arange(n), punct)
    rng.shuffle(rest)
    return LdpcCode(float(rate), n, m, row_ptr, cols, punct, rest.astype(np.int64))


def mother_code(rate: float, n: int = DEFAULT_FRAME_BITS) -> LdpcCode:
    """The cached mother code of rate ``rate`` in ``MOTHER_RATES`` and length ``n``."""
    return _cached_code(float(rate), int(n))


@functools.lru_cache(maxsize=64)
def _cached_code(rate: float, n: int) -> LdpcCode:
    return build_code(rate, n)


# ----------------------------------------------------------------------------- decoding
@numba.njit(cache=True)
def _unsatisfied(row_ptr, cols, llr, syn):
    """Number of checks the hard decisions of ``llr`` (bit 1 where llr < 0) violate."""
    bad = 0
    for c in range(row_ptr.size - 1):
        par = syn[c]
        for e in range(row_ptr[c], row_ptr[c + 1]):
            if llr[cols[e]] < 0:
                par ^= 1
        bad += par
    return bad


def _phi_table() -> np.ndarray:
    """phi(x) = -ln tanh(x/2) at the centres of [i, i+1) PHI_STEP, i < PHI_SIZE (float32)."""
    x = (np.arange(PHI_SIZE) + 0.5) * PHI_STEP
    return (-np.log(np.tanh(x / 2.0))).astype(np.float32)


@numba.njit(cache=True, fastmath=True, inline="always")
def _phi(x, tab):
    """phi(x) for x >= 0 from the table (below one step: phi(PHI_STEP / 2) = 5.5, whose
    image phi(5.5) = 0.008 is as good as the exact 0 of a zero-LLR input)."""
    return tab[min(np.int32(x * np.float32(1.0 / PHI_STEP)), tab.size - 1)]


@numba.njit(cache=True, fastmath=True, boundscheck=False)
def _layered_sum_product(row_ptr, cols, syn, L, R, max_iter, patience, tab):
    """Layered sum-product syndrome decoding, in place; returns iterations used, or -1.

    One layer per check (Hocevar, IEEE SiPS 2004), in the phi domain of Gallager:
    t_e = L_v - R_e;  |R_e| = phi(sum_{e' != e} phi(|t_e'|)),
    sign R_e = (-1)^(s_c) prod_{e' != e} sign t_e';  L_v = t_e + R_e,
    phi(x) = -ln tanh(x/2) = phi^-1(x) from a table (step 1/128; exact sum-product to
    within the table's resolution, measured: same iterations and decisions as tanh/atanh).
    L (posterior LLRs = channel + sum of R; start: the channel LLRs) and R (start: 0) are
    the state, updated in place.  Stops as soon as the hard decisions (bit 1 where
    L < 0) satisfy the syndrome (a check's syndrome bit s_c flips its messages' sign), or
    gives up when the number of unsatisfied checks has not reached a new minimum for
    ``patience`` iterations (a stalled attempt: the next retry reveals more instead).
    The count is taken in the sweep itself (each check as its layer starts), which saves
    a pass over the edges per iteration; a zero is confirmed by an exact check.
    """
    m = row_ptr.size - 1
    dmax = 0
    for c in range(m):
        dmax = max(dmax, row_ptr[c + 1] - row_ptr[c])
    t = np.empty(dmax, np.float32)
    ph = np.empty(dmax, np.float32)
    if _unsatisfied(row_ptr, cols, L, syn) == 0:
        return 0
    best = m + 1
    since = 0
    for it in range(max_iter):
        bad = 0  # checks unsatisfied by the hard decisions as each layer starts
        for c in range(m):
            lo = row_ptr[c]
            hi = row_ptr[c + 1]
            total = np.float32(0.0)
            sg = np.float32(-1.0) if syn[c] else np.float32(1.0)  # sign of the product
            hard = syn[c]
            for e in range(lo, hi):
                lv = L[cols[e]]
                hard ^= lv < 0
                x = lv - R[e]
                t[e - lo] = x
                sg = -sg if x < 0 else sg
                y = _phi(abs(x), tab)
                ph[e - lo] = y
                total += y
            bad += hard
            for e in range(lo, hi):
                x = t[e - lo]
                r = math.copysign(_phi(total - ph[e - lo], tab), sg * x)
                R[e] = r
                L[cols[e]] = x + r
        # the sweep's count lags by one layer update, so confirm a zero exactly
        if bad == 0 and _unsatisfied(row_ptr, cols, L, syn) == 0:
            return it + 1
        if bad < best:
            best = bad
            since = 0
        else:
            since += 1
            if since > patience:
                return -1
    if _unsatisfied(row_ptr, cols, L, syn) == 0:
        return max_iter
    return -1


#: Frames decoded side by side, one per SIMD lane.  Measured per sweep of the rate-0.9
#: code (458k edges), CPU time under load: 1 lane 1.6 ms, 2 lanes 2.2, 4 lanes 3.2 (0.8
#: per frame, 1.75 ns per edge and frame), 8 lanes 7.1, 16 lanes 16-20: beyond 4 lanes
#: the interleaved posteriors (N x lanes x 4 bytes) outgrow the core's 1 MB L2 cache.
#: The one-frame scalar kernel :func:`_layered_sum_product` takes 5.2 ns per edge.
LANES = 4
#: The lanes' check-to-variable messages are stored as int16 in units of 1 / R_SCALE:
#: their magnitude is at most phi(PHI_STEP / 2) = 6.9 (< 32767 / R_SCALE), the step
#: 2.4e-4 is far below the phi table's, and the message array (the sweep's largest
#: stream, 8 x 2 bytes per edge) halves.
R_SCALE = 4096.0


def _lanes_source(lanes: int) -> str:
    """Source of the layered sum-product sweep over ``lanes`` frames at once.

    The same update as :func:`_layered_sum_product`, one check layer at a time, with the
    frames interleaved (x[i * lanes + l] is item i of lane l) and the per-lane
    accumulators written out as scalar locals, so that LLVM's SLP vectoriser turns each
    group of ``lanes`` statements into one vector instruction (the phi look-ups into
    gathers).  Indices are unsigned, which spares numba's negative-index wraparound.
    """
    ls = range(lanes)

    def each(fmt: str) -> str:
        return "; ".join(fmt.format(l=l) for l in ls)

    return f"""
def sweep(row_ptr, cols, sgn, L, R, tab, T, P, bad):
    scale = np.float32(1.0 / PHI_STEP)
    topf = np.float32(tab.size - 1)
    nl = np.uint64({lanes})
    rup = np.float32(R_SCALE)
    rdown = np.float32(1.0 / R_SCALE)
    {each("b{l} = 0")}
    for c in range(row_ptr.size - 1):
        lo = row_ptr[c]
        hi = row_ptr[c + 1]
        cb = np.uint64(c) * nl
        {each("g{l} = sgn[cb + np.uint64({l})]")}
        {each("h{l} = g{l}")}
        {each("t{l} = np.float32(0.0)")}
        for e in range(lo, hi):
            vb = np.uint64(cols[e]) * nl
            eb = np.uint64(e) * nl
            jb = np.uint64(e - lo) * nl
            {each("a{l} = L[vb + np.uint64({l})]")}
            {each("r{l} = np.float32(R[eb + np.uint64({l})]) * rdown")}
            {each("x{l} = a{l} - r{l}")}
            {each("h{l} = -h{l} if a{l} < 0 else h{l}")}
            {each("g{l} = -g{l} if x{l} < 0 else g{l}")}
            {each("y{l} = tab[np.uint32(min(abs(x{l}) * scale, topf))]")}
            {each("t{l} += y{l}")}
            {each("T[jb + np.uint64({l})] = x{l}")}
            {each("P[jb + np.uint64({l})] = y{l}")}
        {each("b{l} += 1 if h{l} < 0 else 0")}
        for e in range(lo, hi):
            vb = np.uint64(cols[e]) * nl
            eb = np.uint64(e) * nl
            jb = np.uint64(e - lo) * nl
            {each("x{l} = T[jb + np.uint64({l})]")}
            {each("p{l} = P[jb + np.uint64({l})]")}
            {each("m{l} = tab[np.uint32(min((t{l} - p{l}) * scale, topf))]")}
            {each("o{l} = math.copysign(m{l}, g{l} * x{l})")}
            {each("R[eb + np.uint64({l})] = np.int16(o{l} * rup)")}
            {each("L[vb + np.uint64({l})] = x{l} + o{l}")}
    {each("bad[{l}] = b{l}")}
"""


@functools.lru_cache(maxsize=4)
def _lanes_kernel(lanes: int = LANES):
    """The compiled sweep over ``lanes`` frames (built at first use, 1.5-3.5 s).

    numba leaves the SLP vectoriser off by default (``NUMBA_SLP_VECTORIZE``); it is
    switched on for this one compilation (eager, from an explicit signature) and restored.
    The source is generated, so numba's on-disk cache does not apply.
    """
    ns = {"np": np, "math": math, "PHI_STEP": PHI_STEP, "R_SCALE": R_SCALE}
    # the source is generated here from the lane count alone
    exec(compile(_lanes_source(lanes), f"<ldpc sweep, {lanes} lanes>", "exec"), ns)  # noqa: S102
    f32, i64 = numba.float32[::1], numba.int64[::1]
    sig = numba.void(i64, numba.int32[::1], f32, f32, numba.int16[::1], f32, f32, f32, i64)
    old = numba.config.SLP_VECTORIZE
    numba.config.SLP_VECTORIZE = 1
    try:
        return numba.njit(sig, fastmath=True, boundscheck=False)(ns["sweep"])
    finally:
        numba.config.SLP_VECTORIZE = old


@numba.njit(cache=True)
def _unsatisfied_lane(row_ptr, cols, L, lanes, lane, syn):
    """Checks violated by the hard decisions of lane ``lane`` of the interleaved ``L``."""
    bad = 0
    for c in range(row_ptr.size - 1):
        par = syn[c]
        for e in range(row_ptr[c], row_ptr[c + 1]):
            if L[cols[e] * lanes + lane] < 0:
                par ^= 1
        bad += par
    return bad


@numba.njit(cache=True)
def _syndrome(row_ptr, cols, word):
    m = row_ptr.size - 1
    out = np.zeros(m, np.uint8)
    for c in range(m):
        par = 0
        for e in range(row_ptr[c], row_ptr[c + 1]):
            par ^= word[cols[e]]
        out[c] = par
    return out


@numba.njit(cache=True)
def _hash_of_errors(residual_pos, seed, frame, bits):
    """Universal hash (random GF(2)-linear map to ``bits`` bits) of the residual pattern.

    The hash is linear, so Alice's and Bob's hashes agree iff the hash of their difference
    is zero; the per-position words come from splitmix64 on (seed, frame, position).
    """
    if bits == 0:
        return 0
    acc = np.uint64(0)
    base = _mix64(np.uint64(seed) ^ _mix64(np.uint64(frame) + np.uint64(0x5851F42D4C957F2D)))
    for i in residual_pos:
        acc ^= _mix64(base + np.uint64(i) * np.uint64(0x9E3779B97F4A7C15))
    if bits < 64:
        acc &= (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    return np.int64(acc)


_PHI_TABLE = _phi_table()


# ----------------------------------------------------------------------------- protocol
def _narrow(x: np.ndarray, rows: int, lanes: int, keep: list[int], new: int) -> np.ndarray:
    """Interleaved array of ``lanes`` lanes -> one of ``new`` lanes holding lanes ``keep``."""
    out = np.zeros((rows, new), x.dtype)
    out[:, :len(keep)] = x.reshape(rows, lanes)[:, keep]
    return out.ravel()


class _FrameState:
    """One frame in decoding: its plan, Alice's syndrome, Bob's priors, its retries."""

    def __init__(self, lo, hi, k, p, punct, key_pos, syn, known, ch, step):
        self.lo, self.hi, self.k, self.p = lo, hi, k, p
        self.punct, self.key_pos, self.syn = punct, key_pos, syn
        self.known, self.ch, self.step = known, ch, step
        self.attempt = 0
        self.n_rev_p = 0  # punctured values revealed (from the end of the punctured list)
        self.n_rev_k = 0  # key values revealed (once no punctured value is left)
        self.just_revealed = np.zeros(0, np.int64)


@dataclass(frozen=True)
class LdpcResult:
    """Outcome of :func:`ldpc_reconcile`.

    Per frame f: leak = m - punctured[f] + hash_bits + revealed[f] if it was reconciled,
    key_bits[f] if it was disclosed; ``leaked_bits`` is their sum.
    """

    bob_corrected: np.ndarray  # uint8, Bob's bits after reconciliation
    leaked_bits: int  # every bit of Alice's key the public messages reveal, counted exactly
    errors_corrected: int  # bits Bob flipped
    frames: int
    frames_retried: int  # frames that needed at least one retry
    frames_disclosed: int  # frames disclosed in full after max_retries failed retries
    frame_bits: int  # mother-code length N
    code_rate: float  # design rate of the mother code used
    code_checks: int  # its m (syndrome length before puncturing credit)
    hash_bits: int  # per-frame verification hash length
    frame_key_bits: np.ndarray  # int64, key bits per frame
    frame_punctured: np.ndarray  # int64, punctured positions at the first attempt
    frame_shortened: np.ndarray  # int64, shortened (public filler) positions
    frame_revealed: np.ndarray  # int64, punctured or key values revealed on retries
    frame_attempts: np.ndarray  # int64, decoding attempts (1 + retries)
    frame_disclosed: np.ndarray  # bool, frame disclosed in full
    frame_leak: np.ndarray  # int64, leak charged per frame
    frame_hash_failures: np.ndarray  # int64, attempts whose syndrome held but hash did not

    @property
    def reply_bits(self) -> int:
        """Bits Bob discloses: one success/failure flag per decoding attempt.

        A flag depends on Bob's string (through his decoder), so it is charged by the
        two-way rule of :mod:`satqkd.keys.finite_key`; there are a few per frame, so the
        vacuum term keeps its credit (Tupkary & Lutkenhaus 2023).
        """
        return int(np.sum(self.frame_attempts))

    def efficiency(self, qber: float | None = None) -> float:
        """f = leaked / (n h(QBER)); QBER defaults to errors_corrected / n (the actual one)."""
        n = self.bob_corrected.size
        if qber is None:
            qber = self.errors_corrected / n if n else 0.0
        h = binary_entropy(qber)
        return float(self.leaked_bits / (n * h)) if n and h > 0 else float("nan")

    @property
    def frame_error_rate(self) -> float:
        """Fraction of frames disclosed in full (reconciliation failures after retries)."""
        return self.frames_disclosed / self.frames if self.frames else 0.0


def frame_plan(code: LdpcCode, key_bits: int, qber: float, f_start: float = F_START
               ) -> tuple[int, int]:
    """(punctured p, shortened s) for a frame of ``key_bits`` key bits at QBER ``qber``.

    s = N - p - key_bits, and p solves m - p = f_start h(q) key_bits (Elkouss et al. 2011),
    clipped to [0, min(max_punctured, N - key_bits)].
    """
    h = binary_entropy(min(max(qber, 1e-6), 0.5))
    p = code.m - math.ceil(f_start * h * key_bits)
    p = max(0, min(p, code.max_punctured, code.n - key_bits))
    return p, code.n - key_bits - p


def default_step_f(rate: float) -> float:
    """Retry step in units of f for a mother code: finer for the high-rate codes."""
    return STEP_F_HIGH_RATE if rate >= HIGH_RATE else STEP_F


def choose_code_rate(qber: float, n: int = DEFAULT_FRAME_BITS, f_start: float = F_START,
                     reserve_f: float = PUNCTURE_RESERVE_F) -> float:
    """Mother rate for a QBER estimate: the highest rate whose m covers
    0.95 (f_start + reserve_f) n h(q), else the lowest rate (shortened).

    The reserve keeps about three retries' worth of punctured bits to reveal: once they
    are gone a retry reveals key bits, which help the decoder far less (a frame at QBER
    2 % then needed up to 19 attempts).  A code up to 5 % short just starts lower.
    """
    h = binary_entropy(min(max(qber, 1e-6), 0.5))
    need = 0.95 * (f_start + reserve_f) * h
    ok = [r for r in MOTHER_RATES if 1.0 - r >= need]
    return max(ok) if ok else min(MOTHER_RATES)


def ldpc_reconcile(alice_bits: np.ndarray, bob_bits: np.ndarray, qber_estimate: float,
                   rng: np.random.Generator, frame_bits: int = DEFAULT_FRAME_BITS,
                   max_retries: int = DEFAULT_MAX_RETRIES, *,
                   hash_bits: int = DEFAULT_HASH_BITS, f_start: float = F_START,
                   step_f: float | None = None, max_iterations: int = MAX_ITERATIONS
                   ) -> LdpcResult:
    """Reconcile Bob's sifted key to Alice's by one-way LDPC syndrome coding.

    ``alice_bits``/``bob_bits``: uint8 0/1 arrays of equal length; ``qber_estimate``: the
    a-priori error rate (sets code, puncturing and Bob's LLRs; correctness does not depend
    on it); ``rng``: all public randomness (interleaver, shortened fillers' seed, hash seed),
    drawn in that order (the simulation also draws Alice's private punctured fill from the
    fillers' stream); ``frame_bits``: mother-code length N (codes of that length are
    built at first use, 2-4 s per rate for N = 65536, and cached); ``max_retries``:
    blind retries per frame before the frame is disclosed; ``hash_bits``: per-frame hash
    (0: syndrome check only); ``f_start``, ``step_f``: first attempt at f_start and
    step_f x k h(q) more revealed bits per retry (None: :func:`default_step_f`).
    """
    a = np.ascontiguousarray(alice_bits, dtype=np.uint8)
    b0 = np.ascontiguousarray(bob_bits, dtype=np.uint8)
    if a.shape != b0.shape or a.ndim != 1:
        raise ValueError("Alice's and Bob's keys must be 1-D arrays of equal length")
    if not 0 <= hash_bits <= 64:
        raise ValueError("hash_bits must be in [0, 64]")
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    n_key = a.size
    q = min(max(float(qber_estimate), 1e-4), 0.5)
    rate = choose_code_rate(q, frame_bits, f_start)
    code = mother_code(rate, int(frame_bits))
    N, m = code.n, code.m
    h = binary_entropy(q)
    if step_f is None:
        step_f = default_step_f(rate)

    perm = rng.permutation(n_key)
    seed = int(rng.integers(0, 2**63 - 1))
    hash_seed = int(rng.integers(0, 2**63 - 1))
    # frames of near-equal key length k <= k_max, where k + p(k) = N with the punctured
    # count p(k) = m - f_start h k of frame_plan (or k = N - max_punctured if p runs out)
    k_max = int((N - m) / (1.0 - f_start * h))
    k_max = max(1, min(N, max(k_max, N - code.max_punctured)))
    nf = -(-n_key // k_max)
    bounds = np.linspace(0, n_key, nf + 1).round().astype(np.int64)
    kbits = np.diff(bounds)
    punct_n = np.zeros(nf, np.int64)
    short_n = np.zeros(nf, np.int64)
    revealed = np.zeros(nf, np.int64)
    attempts = np.zeros(nf, np.int64)
    disclosed = np.zeros(nf, bool)
    leaks = np.zeros(nf, np.int64)
    hash_failures = np.zeros(nf, np.int64)

    ap = a[perm]
    bp = b0[perm].copy()
    llr_key = np.float32(math.log((1.0 - q) / q))
    filler_rng = np.random.default_rng(seed)
    lanes = LANES
    while lanes > 1 and lanes // 2 >= nf:  # no more lanes than frames
        lanes //= 2
    sweep = _lanes_kernel(lanes)
    row_ptr, cols = code.row_ptr, code.cols
    dmax = int(np.diff(row_ptr).max())
    # lane state: interleaved posteriors, check messages, syndrome signs, scratch
    Lx = np.zeros(N * lanes, np.float32)
    Rx = np.zeros(cols.size * lanes, np.int16)
    Sx = np.ones(m * lanes, np.float32)
    Tx = np.empty(dmax * lanes, np.float32)
    Px = np.empty(dmax * lanes, np.float32)
    bad = np.zeros(lanes, np.int64)
    lane_frame = [-1] * lanes
    lane_it = [0] * lanes
    lane_best = [0] * lanes
    lane_since = [0] * lanes
    frames_state: dict[int, _FrameState] = {}
    queue = list(range(nf))
    queue.reverse()  # pop() takes frames in order: the fillers are drawn in frame order

    def start(f: int) -> _FrameState | None:
        lo, hi = int(bounds[f]), int(bounds[f + 1])
        k = hi - lo
        p, s = frame_plan(code, k, q, f_start)
        punct_n[f], short_n[f] = p, s
        if m - p + hash_bits >= k:
            # the syndrome would cost as much as the frame: disclose it outright
            bp[lo:hi] = ap[lo:hi]
            disclosed[f] = True
            leaks[f] = k
            return None
        punct = code.puncture_order[:p]
        short = code.shorten_order[:s]
        key_pos = np.setdiff1d(np.arange(N), np.concatenate([punct, short]),
                               assume_unique=True)
        # Alice's word: key bits, private random punctured bits, public shortened fillers
        wa = filler_rng.integers(0, 2, N, dtype=np.uint8)
        wa[key_pos] = ap[lo:hi]
        syn = _syndrome(row_ptr, cols, wa)
        known = np.where(wa == 0, np.float32(_KNOWN_LLR), np.float32(-_KNOWN_LLR))
        ch = np.zeros(N, np.float32)  # channel LLRs; punctured: 0
        ch[key_pos] = np.where(bp[lo:hi] == 0, llr_key, -llr_key)
        ch[short] = known[short]
        step = max(1, math.ceil(step_f * h * k))
        return _FrameState(lo, hi, k, p, punct, key_pos, syn, known, ch, step)

    def load(lane: int, st: _FrameState, warm: bool) -> None:
        """Put frame ``st`` into ``lane``: from scratch, or keeping the messages."""
        Lv = Lx[lane::lanes]
        if warm:
            Lv[st.just_revealed] = st.ch[st.just_revealed]
        else:
            Lv[:] = st.ch
            Rx[lane::lanes] = 0
        Sx[lane::lanes] = 1.0 - 2.0 * st.syn.astype(np.float32)
        lane_it[lane] = 0
        lane_best[lane] = m + 1
        lane_since[lane] = 0

    def finish(f: int, st: _FrameState, ok: bool) -> None:
        attempts[f] = st.attempt + 1
        revealed[f] = st.n_rev_p + st.n_rev_k
        if ok:
            leaks[f] = m - st.p + hash_bits + revealed[f]
        else:
            bp[st.lo:st.hi] = ap[st.lo:st.hi]  # Alice discloses the frame; all of it public
            disclosed[f] = True
            leaks[f] = st.k

    while True:
        for lane in range(lanes):  # fill idle lanes
            while lane_frame[lane] < 0 and queue:
                f = queue.pop()
                st = start(f)
                if st is not None:
                    frames_state[f] = st
                    lane_frame[lane] = f
                    load(lane, st, warm=False)
        active = [lane for lane in range(lanes) if lane_frame[lane] >= 0]
        if not active:
            break
        if not queue and len(active) <= lanes // 2:
            # the last frames: move them to a narrower sweep instead of idling lanes
            new = lanes // 2
            while new // 2 >= len(active):
                new //= 2
            Lx = _narrow(Lx, N, lanes, active, new)
            Rx = _narrow(Rx, cols.size, lanes, active, new)
            Sx = _narrow(Sx, m, lanes, active, new)
            bad = np.zeros(new, np.int64)
            idle = [-1] * (new - len(active))
            lane_frame = [lane_frame[a] for a in active] + idle
            lane_it = [lane_it[a] for a in active] + idle
            lane_best = [lane_best[a] for a in active] + idle
            lane_since = [lane_since[a] for a in active] + idle
            lanes = new
            sweep = _lanes_kernel(lanes)
        sweep(row_ptr, cols, Sx, Lx, Rx, _PHI_TABLE, Tx, Px, bad)
        for lane in range(lanes):
            f = lane_frame[lane]
            if f < 0:
                continue
            st = frames_state[f]
            lane_it[lane] += 1
            last = st.attempt == max_retries
            patience = max_iterations if last else PATIENCE
            done = ok = wrong = False
            # the sweep's count lags by one layer update, so confirm a zero exactly
            if bad[lane] == 0 and _unsatisfied_lane(row_ptr, cols, Lx, lanes, lane,
                                                    st.syn) == 0:
                done = True
                dec = (Lx[lane::lanes][st.key_pos] < 0).astype(np.uint8)
                resid = np.flatnonzero(dec != ap[st.lo:st.hi]).astype(np.int64)
                # syndrome satisfied: Bob compares Alice's hash; a collision (probability
                # 2^-hash_bits per wrong frame) keeps the wrong word, as a real run would
                if resid.size == 0 or _hash_of_errors(resid, hash_seed, f, hash_bits) == 0:
                    bp[st.lo:st.hi] = dec
                    ok = True
                else:
                    hash_failures[f] += 1
                    wrong = True
            elif bad[lane] < lane_best[lane]:
                lane_best[lane] = int(bad[lane])
                lane_since[lane] = 0
            else:
                lane_since[lane] += 1
                done = lane_since[lane] > patience
            if not done and lane_it[lane] >= max_iterations:
                done = True
            if not done:
                continue
            if ok or last:
                finish(f, st, ok)
                lane_frame[lane] = -1
                del frames_state[f]
                continue
            # blind retry: Alice reveals `step` more values (punctured first, from the end
            # of the punctured list, then key bits); Bob resumes from his messages
            st.attempt += 1
            take_p = min(st.step, st.p - st.n_rev_p)
            rev = st.punct[st.p - st.n_rev_p - take_p:st.p - st.n_rev_p]
            take_k = min(st.step - take_p, st.k - st.n_rev_k)
            revk = st.key_pos[st.n_rev_k:st.n_rev_k + take_k]
            st.n_rev_p += take_p
            st.n_rev_k += take_k
            st.just_revealed = np.concatenate([rev, revk])
            st.ch[st.just_revealed] = st.known[st.just_revealed]
            # after a wrong word (hash mismatch) start afresh: resuming would sit in it
            load(lane, st, warm=WARM_RETRIES and not wrong)
    out = np.empty(n_key, np.uint8)
    out[perm] = bp
    return LdpcResult(out, int(leaks.sum()), int(np.count_nonzero(out != b0)), nf,
                      int(np.count_nonzero(attempts > 1)), int(disclosed.sum()), N, rate, m,
                      hash_bits, kbits, punct_n, short_n, revealed, attempts, disclosed, leaks,
                      hash_failures)
