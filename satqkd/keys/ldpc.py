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

Bob decodes one frame at a time; the sum-product kernel (:func:`_qc_sweep`) updates the 16
checks of a circulant block row in one 16-lane vector (:mod:`satqkd.keys.simd`).

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

Codes: quasi-cyclic, one family per N built deterministically (fixed seed) at first use
and cached in-process.  A base graph of N / 16 variables is grown by progressive edge
growth (Hu, Eleftheriou, Arnold, IEEE Trans. IT 51, 386 (2005)) restricted to depth one
(no 4-cycle where one can be avoided; degree-2 columns as a zig-zag chain, so they hold
no codeword) with the variable-degree distributions of ``tools/design_ldpc_degrees.py``
(Gaussian-approximation density evolution for the BSC and linear programming, Chung,
Richardson, Urbanke, IEEE Trans. IT 47, 657 (2001)); every base edge then becomes a
16 x 16 cyclically shifted identity, the shifts chosen so that no 4-cycle of the base
graph survives the lifting where another shift can avoid it (a base cycle lifts to
cycles of the same length iff its alternating sum of shifts is 0 mod 16: Fossorier, IEEE
Trans. IT 50, 1788 (2004); PEG on a lifted graph: Li, Kumar, Asilomar 2004).  The 16 checks
of a base row then touch 16 distinct variables of each base column, which is what lets
the decoder update them in one vector instruction.  The simulation evaluates the hash
comparison as the hash of the residual error pattern (the hash is linear: equal hashes iff
that hash is zero); every disclosed quantity is counted.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

from satqkd.keys.cascade import _mix64
from satqkd.keys.finite_key import binary_entropy
from satqkd.keys.simd import (
    EXP_UMAX,
    WIDTH,
    vabs,
    vcountneg,
    vexpneg,
    vflipsign,
    vln,
    vload,
    vload_rot,
    vmax,
    vrecip,
    vsplat,
    vstore,
    vstore_rot,
)

#: Code length N of the mother codes: 2^16 = 65536.  BP's gap to capacity shrinks with N
#: (the PEG rate-0.9 code failed 1 frame in 12 at f = 1.145, QBER 1.1 %, with N = 2^16 and
#: 4 in 10 with 2^15); 2^17 gains 0.007 in f at QBER 1 % but its posteriors leave the L2
#: cache (docs/keys.md), and a pass of 1e5-1e6 sifted bits still fills 2-16 frames.
DEFAULT_FRAME_BITS = 65536
#: Size of the circulants (the lifting factor): one 16-lane float32 vector.  Frame lengths
#: are multiples of it.
LIFT = WIDTH
#: Blind retries before a frame is disclosed: f_start + 20 x 0.015-0.02 reaches f ~ 1.5.
#: A retry costs 0.015-0.02 in f, a disclosure 1/h(q) (12 at QBER 1 %): retries are cheap.
DEFAULT_MAX_RETRIES = 20
#: Bits of the per-frame verification hash (0.3 % of the syndrome at QBER 1 %).
DEFAULT_HASH_BITS = 16
#: First attempt at f = F_START (F_START_HIGH_RATE for mother rates >= HIGH_RATE); each
#: retry reveals STEP_F x k h(q) more bits (STEP_F_HIGH_RATE at the high rates).  With the
#: selected codes, measured on 10 x 2e6-bit keys per QBER (docs/keys.md): a start of 1.12
#: decodes 90-95 % of frames at the first attempt at QBER 2-4 % (f = 1.122), but only
#: about half at 1 % (rate 0.9), where 1.13 cuts the decoding work by 15 % for f = 1.140
#: instead of 1.135; a start of 1.10 gives f lower by 0.01 at 1.3-1.4x the work.
F_START = 1.12
F_START_HIGH_RATE = 1.13
STEP_F = 0.02
STEP_F_HIGH_RATE = 0.015
HIGH_RATE = 0.88
#: Punctured bits kept in reserve for retries when choosing the mother code, in units of f.
PUNCTURE_RESERVE_F = 0.09
#: Iteration cap of one attempt (the last attempt before disclosure may use all of it).
MAX_ITERATIONS = 60
#: An attempt stops after more than PATIENCE iterations in which the number of unsatisfied
#: checks did not fall STALL_REL below its best so far; the retry then resumes from the
#: messages, so little is lost by stopping early.  The relative margin stops attempts that
#: hover on a plateau, where noise alone sets new minima now and then (docs/keys.md).
PATIENCE = 5
STALL_REL = 0.03
CODE_SEED = 20090115
#: Checks probed for a 4-cycle-free edge before one is accepted (construction cost bound).
PEG_PROBES = 512
_KNOWN_LLR = 1.0e4  # shortened and revealed bits
#: Retries resume from the failed attempt's messages (True) or decode afresh.
WARM_RETRIES = True
#: The check update's denominator (1 - w_e, up to a factor) is kept >= DEN_FLOOR x its
#: numerator: below that, float32 rounding of w_e near 1 (relative 6e-8) would dominate
#: it.  So |R| <= R_MAX = ln(1 / DEN_FLOOR) = 13.8.  An earlier clip at 7.9 trapped a frame
#: at QBER 4 % for all 21 attempts: the two saturated messages into a punctured degree-2
#: variable cancelled exactly, and its posterior stayed at 0 (docs/keys.md).
DEN_FLOOR = 1e-6
R_MAX = math.log(1.0 / DEN_FLOOR)

#: Mother code rates and node-perspective variable-degree distributions {degree: fraction}:
#: per rate, the candidate of least simulated f among GA designs
#: (tools/design_ldpc_degrees.py) with check margins 0.05-0.25 and largest variable degree
#: 30 or 45, chosen by tools/select_ldpc_codes.py (blind reconciliation of 3 x 1e6-bit keys
#: at the middle of the rate's QBER range).  Below rate 0.7 the plain design (margin 0.05)
#: wins; above, larger margins (fewer degree-2 columns) and degree-45 columns win,
#: by 0.01-0.04 in f (docs/keys.md).
MOTHER_CODES: dict[float, dict[int, float]] = {
    0.50: {2: 0.32346, 3: 0.45592, 8: 0.0864, 10: 0.08663, 30: 0.04759},
    0.60: {2: 0.29115, 3: 0.46624, 8: 0.0913, 10: 0.10253, 30: 0.04877},
    0.65: {2: 0.27271, 3: 0.46395, 8: 0.14316, 10: 0.05441, 30: 0.06578},
    0.70: {2: 0.17937, 3: 0.54293, 8: 0.02074, 10: 0.19593, 20: 0.01036, 45: 0.05067},
    0.75: {2: 0.16752, 3: 0.53605, 8: 0.04652, 10: 0.18746, 45: 0.06244},
    0.80: {2: 0.15459, 3: 0.53066, 8: 0.06018, 10: 0.18203, 15: 0.00891, 45: 0.06363},
    0.83: {2: 0.14603, 3: 0.52311, 8: 0.12151, 10: 0.10936, 15: 0.03723, 45: 0.06277},
    0.85: {2: 0.09557, 3: 0.55543, 8: 0.10587, 10: 0.15504, 20: 0.02276, 45: 0.06533},
    0.88: {2: 0.08862, 3: 0.54084, 8: 0.19536, 10: 0.04386, 15: 0.05274, 20: 0.01315,
           45: 0.06544},
    0.90: {2: 0.0537, 3: 0.54441, 8: 0.24533, 15: 0.08161, 45: 0.07494},
    0.93: {2: 0.05451, 3: 0.50516, 6: 0.06836, 8: 0.19465, 15: 0.10104, 45: 0.07628},
    0.95: {2: 0.06751, 3: 0.50337, 6: 0.05394, 8: 0.24783, 20: 0.0822, 30: 0.04515},
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


@numba.njit(cache=True)
def _circulant_shifts(row_ptr, cols, n, z, order, first):
    """Shift in [0, z) of every base edge: lifted 4-cycles avoided where possible.

    Edges are visited in ``order``; edge e = (v, c) gets the first shift, counted
    cyclically from ``first[e]``, that closes no lifted 4-cycle with the edges already
    shifted: for every base 4-cycle v-c-w-c2-v the lifted graph has one iff
    s(v,c) - s(w,c) + s(w,c2) - s(v,c2) = 0 mod z (Fossorier 2004), so that value of
    s(v,c) is excluded.  When all z are excluded (dense high-rate base graphs) the first
    is taken.  Returns (shifts, edges without a 4-cycle-free shift).
    """
    m = row_ptr.size - 1
    E = cols.size
    vdeg = np.zeros(n, np.int64)
    for e in range(E):
        vdeg[cols[e]] += 1
    vptr = np.zeros(n + 1, np.int64)
    for v in range(n):
        vptr[v + 1] = vptr[v] + vdeg[v]
    fill = vptr[:n].copy()
    vedge = np.empty(E, np.int64)  # edges of each variable, by variable
    echk = np.empty(E, np.int64)
    for c in range(m):
        for e in range(row_ptr[c], row_ptr[c + 1]):
            vedge[fill[cols[e]]] = e
            fill[cols[e]] += 1
            echk[e] = c
    shift = np.full(E, -1, np.int64)
    edge_of = np.full(n, -1, np.int64)  # edge_of[w]: edge (w, c2) of the check c2 in hand
    banned = np.zeros(z, np.bool_)
    forced = 0
    for e in order:
        c = echk[e]
        v = cols[e]
        banned[:] = False
        for b in range(vptr[v], vptr[v + 1]):
            e2 = vedge[b]
            c2 = echk[e2]
            if c2 == c or shift[e2] < 0:
                continue
            for f in range(row_ptr[c2], row_ptr[c2 + 1]):
                edge_of[cols[f]] = f
            for f in range(row_ptr[c], row_ptr[c + 1]):
                w = cols[f]
                g = edge_of[w]
                if w != v and g >= 0 and shift[f] >= 0 and shift[g] >= 0:
                    banned[(shift[f] - shift[g] + shift[e2]) % z] = True
            for f in range(row_ptr[c2], row_ptr[c2 + 1]):
                edge_of[cols[f]] = -1
        s = first[e]
        for t in range(z):
            if not banned[(first[e] + t) % z]:
                s = (first[e] + t) % z
                break
        else:
            forced += 1
        shift[e] = s
    return shift, forced


@numba.njit(cache=True)
def _untainted(row_ptr, cols, n, candidates, limit):
    """Greedy untainted puncturing set (no check with two punctured neighbours), in order."""
    m = row_ptr.size - 1
    vdeg = np.zeros(n, np.int64)
    for e in range(cols.size):
        vdeg[cols[e]] += 1
    vptr = np.zeros(n + 1, np.int64)
    for v in range(n):
        vptr[v + 1] = vptr[v] + vdeg[v]
    fill = vptr[:n].copy()
    vchk = np.empty(cols.size, np.int64)
    for c in range(m):
        for e in range(row_ptr[c], row_ptr[c + 1]):
            vchk[fill[cols[e]]] = c
            fill[cols[e]] += 1
    tainted = np.zeros(m, np.bool_)
    out = np.empty(min(limit, candidates.size), np.int64)
    k = 0
    for v in candidates:
        if k >= out.size:
            break
        if vptr[v + 1] == vptr[v]:
            continue
        free = True
        for b in range(vptr[v], vptr[v + 1]):
            free &= not tainted[vchk[b]]
        if free:
            for b in range(vptr[v], vptr[v + 1]):
                tainted[vchk[b]] = True
            out[k] = v
            k += 1
    return out[:k]


@dataclass(frozen=True)
class LdpcCode:
    """A mother code: H in CSR form, its quasi-cyclic base, puncturing and shortening orders.

    Check r * lift + i of H joins variables base_cols[e] * lift + (i + shifts[e]) % lift for
    the base edges e of base row r (lift = 1: H is the base graph itself).
    """

    rate: float  # design rate 1 - m/N
    n: int
    m: int
    row_ptr: np.ndarray  # int64, m + 1
    cols: np.ndarray  # int32, edges
    puncture_order: np.ndarray  # untainted positions; frame uses the first p
    shorten_order: np.ndarray  # other positions; frame shortens the first s
    lift: int = 1
    base_row_ptr: np.ndarray | None = None  # int64, m / lift + 1
    base_cols: np.ndarray | None = None  # int32, base edges
    shifts: np.ndarray | None = None  # int32, circulant shift of each base edge

    @property
    def max_punctured(self) -> int:
        return int(self.puncture_order.size)


def build_code(rate: float, n: int, seed: int = CODE_SEED,
               distribution: dict[int, float] | None = None,
               max_puncture_fraction: float = 0.5, lift: int = LIFT) -> LdpcCode:
    """Mother code of design rate ``rate`` and length ``n`` (deterministic in ``seed``).

    A base graph of n / lift variables: degrees from ``distribution`` (node fractions;
    default ``MOTHER_CODES[rate]``), rounded, with at most mb - 1 of degree 2 (the rest
    become degree 3) laid as a zig-zag chain; mb = round((1 - rate) n / lift) checks of
    near-equal degree; edges by depth-one PEG.  Each base edge becomes a lift x lift
    circulant (:func:`_circulant_shifts`; lift = 1: no lifting).  Up to
    ``max_puncture_fraction`` x m untainted positions are listed for puncturing, lowest
    degree first, in a seeded random order.
    """
    if lift < 1 or n % lift:
        raise ValueError(f"code length {n} is not a multiple of the lifting factor {lift}")
    dist = MOTHER_CODES[rate] if distribution is None else distribution
    nb = n // lift
    mb = round((1.0 - rate) * nb)
    if not 0 < mb < nb:
        raise ValueError(f"rate {rate} gives {mb} base checks for n = {n}")
    rng = np.random.default_rng([seed, n, round(rate * 1000)])
    degs = np.array(sorted(dist), dtype=np.int64)
    frac = np.array([dist[d] for d in degs], dtype=float)
    counts = np.floor(frac / frac.sum() * nb).astype(np.int64)
    counts[np.argmax(frac)] += nb - counts.sum()
    if 2 in dist:  # degree-2 columns beyond mb - 1 would close cycles: make them degree 3
        i2, i3 = int(np.searchsorted(degs, 2)), int(np.searchsorted(degs, 3))
        excess = max(0, int(counts[i2]) - (mb - 1))
        counts[i2] -= excess
        if i3 < degs.size and degs[i3] == 3:
            counts[i3] += excess
        else:
            degs, counts = np.insert(degs, i2 + 1, 3), np.insert(counts, i2 + 1, excess)
    var_deg = np.repeat(degs, counts)  # ascending: low degrees first, as in PEG
    var_deg = np.minimum(var_deg, mb)
    starts = rng.integers(0, mb, int(var_deg.sum()))
    n2 = int(np.count_nonzero(var_deg == 2))
    chain = rng.permutation(mb)[:n2 + 1] if n2 else np.zeros(0, np.int64)
    brow, bcols = _peg_depth1(var_deg, mb, starts, PEG_PROBES, chain.astype(np.int64))
    # relabel variables randomly so degrees are spread over the frame
    relabel = rng.permutation(nb).astype(np.int32)
    bcols = relabel[bcols]
    shifts = np.zeros(bcols.size, np.int64)
    if lift > 1:
        shifts, _ = _circulant_shifts(brow, bcols.astype(np.int64), nb, lift,
                                      rng.permutation(bcols.size),
                                      rng.integers(0, lift, bcols.size))
    deg = np.diff(brow)
    row_ptr = np.zeros(mb * lift + 1, np.int64)
    row_ptr[1:] = np.cumsum(np.repeat(deg, lift))
    # row r * lift + i: base row r's columns, each shifted by i (vectorised over i)
    lane = np.arange(lift)[:, None]
    cols = np.concatenate([
        (bcols[brow[r]:brow[r + 1]].astype(np.int64) * lift
         + (lane + shifts[brow[r]:brow[r + 1]]) % lift).ravel()
        for r in range(mb)]).astype(np.int32)
    m = mb * lift
    vdeg = np.bincount(cols, minlength=n)
    low = np.flatnonzero(vdeg == vdeg.min())
    rng.shuffle(low)
    punct = _untainted(row_ptr, cols, n, low, int(max_puncture_fraction * m))
    rest = np.setdiff1d(np.arange(n), punct)
    rng.shuffle(rest)
    return LdpcCode(float(rate), n, m, row_ptr, cols, punct, rest.astype(np.int64), lift,
                    brow.astype(np.int64), bcols.astype(np.int32), shifts.astype(np.int32))


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


@numba.njit(cache=True)
def _layered_sum_product(row_ptr, cols, syn, L, R, max_iter, patience):
    """Layered sum-product syndrome decoding of any code, in place; returns iterations used,
    or -1.  The one-frame reference of :func:`_qc_sweep`, in float64 with exact tanh/log.

    One layer per check (Hocevar, IEEE SiPS 2004), in the tanh domain: with
    t_e = L_v - R_e and u_e = min(exp(-|t_e|), EXP_UMAX) (EXP_UMAX = 1 - 2^-9),
    tanh(|t_e| / 2) = (1 - u_e) / (1 + u_e) and E = prod_e tanh(|t_e| / 2), the extrinsic
    product of edge e is w_e = E (1 + u_e) / (1 - u_e), and
    |R_e| = ln((1 + w_e) / (1 - w_e)) = ln(((1 - u_e) + E (1 + u_e)) / ((1 - u_e) - E (1 + u_e))),
    (at most R_MAX, by the floor DEN_FLOOR on the denominator); sign R_e = (-1)^(s_c) prod_{e' != e} sign t_e';  L_v = t_e + R_e.
    Dividing the product by the edge's own factor avoids a second pass; where E underflows
    (more than a dozen inputs near 0) every output is near 0 anyway.  L (posterior LLRs,
    start: the channel LLRs) and R (start: 0) are the state, updated in place.  Stops as
    soon as the hard decisions (bit 1 where L < 0) satisfy the syndrome, or after
    ``patience`` iterations without a new fewest-unsatisfied-checks count.
    """
    m = row_ptr.size - 1
    dmax = 0
    for c in range(m):
        dmax = max(dmax, row_ptr[c + 1] - row_ptr[c])
    t = np.empty(dmax)
    us = np.empty(dmax)
    if _unsatisfied(row_ptr, cols, L, syn) == 0:
        return 0
    best = m + 1
    since = 0
    for it in range(max_iter):
        for c in range(m):
            lo = row_ptr[c]
            hi = row_ptr[c + 1]
            prod = 1.0
            sg = -1.0 if syn[c] else 1.0
            for e in range(lo, hi):
                x = L[cols[e]] - R[e]
                t[e - lo] = x
                sg = -sg if x < 0 else sg
                u = min(math.exp(-abs(x)), EXP_UMAX)
                us[e - lo] = u
                prod *= (1.0 - u) / (1.0 + u)
            for e in range(lo, hi):
                x = t[e - lo]
                u = us[e - lo]
                q = prod * (1.0 + u)
                num = (1.0 - u) + q
                den = max((1.0 - u) - q, DEN_FLOOR * num)
                r = math.copysign(math.log(num / den), sg * x)
                R[e] = r
                L[cols[e]] = x + r
        bad = _unsatisfied(row_ptr, cols, L, syn)
        if bad == 0:
            return it + 1
        if bad < best:
            best = bad
            since = 0
        else:
            since += 1
            if since > patience:
                return -1
    return -1


@numba.njit(cache=True, fastmath=True, boundscheck=False)
def _qc_sweep(brow_ptr, bcol, bshift, sgn, L, R, T, P):
    """One layered sum-product iteration over a quasi-cyclic code, 16 checks per vector.

    The update of :func:`_layered_sum_product`, with one layer per base row: its 16 checks
    touch 16 distinct variables of each of the row's base columns (a circulant), read as
    one cyclically shifted vector of the posteriors L, so the 16 checks are updated at
    once, exactly as 16 consecutive layers.  exp, ln and the reciprocals are the vector
    approximations of :mod:`satqkd.keys.simd` (relative errors 1.1e-4 and 2^-14, absolute
    1e-4 on ln).  ``sgn``: (-1)^(syndrome bit) per check; R: messages (float32), in
    base-edge-major order (R[16 e + i]: base edge e, check i of its row); T, P: scratch of
    16 x (largest base-row degree).  Returns the number of checks the hard decisions
    violate, each counted as its layer starts (so a count of 0 lags by one layer update).
    """
    one = vsplat(np.float32(1.0))
    floor = vsplat(np.float32(DEN_FLOOR))
    z = np.uint64(WIDTH)
    bad = 0
    for r in range(brow_ptr.size - 1):
        lo = np.uint64(brow_ptr[r])
        hi = np.uint64(brow_ptr[r + 1])
        g = vload(sgn, np.uint64(r) * z)  # sign of each check's output product
        h = g  # parity of the hard decisions
        prod_m = one  # prod (1 - u)
        prod_p = one  # prod (1 + u)
        j = np.uint64(0)
        for e in range(lo, hi):
            a = vload_rot(L, np.uint64(bcol[e]) * z, bshift[e])
            x = a - vload(R, e * z)
            h = vflipsign(h, a)
            g = vflipsign(g, x)
            u = vexpneg(vabs(x))
            prod_m = prod_m * (one - u)
            prod_p = prod_p * (one + u)
            vstore(T, j, x)
            vstore(P, j, u)
            j += z
        bad += vcountneg(h)
        big_e = prod_m * vrecip(prod_p)
        j = np.uint64(0)
        for e in range(lo, hi):
            x = vload(T, j)
            u = vload(P, j)
            q = big_e * (one + u)
            num = (one - u) + q
            den = vmax((one - u) - q, floor * num)
            o = vflipsign(vflipsign(vln(num * vrecip(den)), g), x)
            vstore(R, e * z, o)
            vstore_rot(L, np.uint64(bcol[e]) * z, bshift[e], x + o)
            j += z
    return bad


@numba.njit(cache=True, boundscheck=False)
def _qc_signs(brow_ptr, bcol, bshift, X, out):
    """out[c] = product over check c's variables v of sign(X[v]) (+-1.0), quasi-cyclic H.

    With X = 1 - 2 x for a word x, that is (-1)^(H x)_c, the syndrome as signs.
    """
    z = np.uint64(WIDTH)
    one = vsplat(np.float32(1.0))
    for r in range(brow_ptr.size - 1):
        h = one
        for e in range(np.uint64(brow_ptr[r]), np.uint64(brow_ptr[r + 1])):
            h = vflipsign(h, vload_rot(X, np.uint64(bcol[e]) * z, bshift[e]))
        vstore(out, np.uint64(r) * z, h)


@numba.njit(cache=True, boundscheck=False)
def _qc_unsatisfied(brow_ptr, bcol, bshift, sgn, L):
    """Checks violated by the hard decisions of L (bit 1 where L < 0), syndrome signs sgn."""
    z = np.uint64(WIDTH)
    bad = 0
    for r in range(brow_ptr.size - 1):
        h = vload(sgn, np.uint64(r) * z)
        for e in range(np.uint64(brow_ptr[r]), np.uint64(brow_ptr[r + 1])):
            h = vflipsign(h, vload_rot(L, np.uint64(bcol[e]) * z, bshift[e]))
        bad += vcountneg(h)
    return bad


@numba.njit(cache=True)
def _qc_attempt(brow_ptr, bcol, bshift, sgn, L, R, T, P, max_iter, patience, stall_rel):
    """Decode one attempt in place: sweeps until the syndrome holds or the attempt stalls.

    Returns (ok, iterations).  The in-sweep count of unsatisfied checks drives the stop;
    a zero is confirmed exactly.  Stall: more than ``patience`` sweeps in a row whose count
    is not below (1 - stall_rel) x the best so far.
    """
    if _qc_unsatisfied(brow_ptr, bcol, bshift, sgn, L) == 0:
        return True, 0
    best = sgn.size + 1
    since = 0
    for it in range(max_iter):
        bad = _qc_sweep(brow_ptr, bcol, bshift, sgn, L, R, T, P)
        if bad == 0 and _qc_unsatisfied(brow_ptr, bcol, bshift, sgn, L) == 0:
            return True, it + 1
        if bad < best * (1.0 - stall_rel):
            best = bad
            since = 0
        else:
            best = min(best, bad)
            since += 1
            if since > patience:
                return False, it + 1
    return _qc_unsatisfied(brow_ptr, bcol, bshift, sgn, L) == 0, max_iter


@numba.njit(cache=True)
def _shuffle(n, seed):
    """A public pseudorandom permutation of [0, n) (int32): Fisher-Yates driven by
    splitmix64 (Steele, Lea, Flood, OOPSLA 2014) on ``seed``, with Lemire's multiply-shift
    range reduction; 2.5x faster than numpy's ``permutation`` at 2e6 bits."""
    p = np.arange(n).astype(np.int32)
    s = np.uint64(seed)
    for i in range(n - 1, 0, -1):
        s += np.uint64(0x9E3779B97F4A7C15)
        j = np.int64(((_mix64(s) >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32))
        t = p[i]
        p[i] = p[j]
        p[j] = t
    return p


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



@numba.njit(cache=True)
def _gather2(a, b, perm):
    """(a[perm], b[perm]) in one pass over the permutation."""
    x = np.empty(perm.size, np.uint8)
    y = np.empty(perm.size, np.uint8)
    for i in range(perm.size):
        x[i] = a[perm[i]]
        y[i] = b[perm[i]]
    return x, y


@numba.njit(cache=True)
def _scatter_diff(bp, perm, b0):
    """out[perm] = bp, and the number of positions where out differs from b0."""
    out = np.empty(perm.size, np.uint8)
    diff = 0
    for i in range(perm.size):
        j = perm[i]
        out[j] = bp[i]
        diff += bp[i] != b0[j]
    return out, diff


@numba.njit(cache=True)
def _frame_inputs(wa, key_pos, short, a_frame, b_frame, llr, X, ch):
    """Alice's frame word and Bob's channel LLRs, in place, in one pass.

    wa: Alice's word, on entry her random fill (the punctured values), on return with her
    key bits at ``key_pos``; X = 1 - 2 wa (for the syndrome signs); ch: Bob's LLRs,
    +-llr from his key bits, +-_KNOWN_LLR on the shortened (public) positions, 0 on the
    punctured ones.
    """
    ch[:] = 0.0
    for j in range(key_pos.size):
        v = key_pos[j]
        wa[v] = a_frame[j]
        ch[v] = -llr if b_frame[j] else llr
    for v in short:
        ch[v] = -_KNOWN_LLR if wa[v] else _KNOWN_LLR
    for v in range(wa.size):
        X[v] = -1.0 if wa[v] else 1.0


@numba.njit(cache=True)
def _decisions(L, key_pos):
    """Bob's hard decisions on the key positions (bit 1 where L < 0)."""
    out = np.empty(key_pos.size, np.uint8)
    for j in range(key_pos.size):
        out[j] = L[key_pos[j]] < 0
    return out


# ----------------------------------------------------------------------------- protocol
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
    frame_iterations: np.ndarray  # int64, decoder iterations over all attempts

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


def default_f_start(rate: float) -> float:
    """f of the first attempt for a mother code: higher for the high-rate codes."""
    return F_START_HIGH_RATE if rate >= HIGH_RATE else F_START


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
                   hash_bits: int = DEFAULT_HASH_BITS, f_start: float | None = None,
                   step_f: float | None = None, max_iterations: int = MAX_ITERATIONS
                   ) -> LdpcResult:
    """Reconcile Bob's sifted key to Alice's by one-way LDPC syndrome coding.

    ``alice_bits``/``bob_bits``: uint8 0/1 arrays of equal length; ``qber_estimate``: the
    a-priori error rate (sets code, puncturing and Bob's LLRs; correctness does not depend
    on it); ``rng``: all public randomness (interleaver, shortened fillers' seed, hash seed),
    drawn in that order (the simulation also draws Alice's private punctured fill from the
    fillers' stream); ``frame_bits``: mother-code length N, a multiple of :data:`LIFT`
    (codes of that length are built at first use, about 1-3 s per rate for N = 65536,
    and cached); ``max_retries``: blind retries per frame before the frame is disclosed;
    ``hash_bits``: per-frame hash (0: syndrome check only); ``f_start``, ``step_f``: first
    attempt at f_start and step_f x k h(q) more revealed bits per retry (None:
    :func:`default_f_start`, :func:`default_step_f` of the mother code, chosen with
    f_start = F_START).
    """
    a = np.ascontiguousarray(alice_bits, dtype=np.uint8)
    b0 = np.ascontiguousarray(bob_bits, dtype=np.uint8)
    if a.shape != b0.shape or a.ndim != 1:
        raise ValueError("Alice's and Bob's keys must be 1-D arrays of equal length")
    if not 0 <= hash_bits <= 64:
        raise ValueError("hash_bits must be in [0, 64]")
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    if frame_bits % LIFT:
        raise ValueError(f"frame_bits must be a multiple of {LIFT}")
    n_key = a.size
    q = min(max(float(qber_estimate), 1e-4), 0.5)
    rate = choose_code_rate(q, frame_bits, F_START if f_start is None else f_start)
    code = mother_code(rate, int(frame_bits))
    N, m = code.n, code.m
    h = binary_entropy(q)
    if f_start is None:
        f_start = default_f_start(rate)
    if step_f is None:
        step_f = default_step_f(rate)

    perm = _shuffle(n_key, int(rng.integers(0, 2**63 - 1)))
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
    iterations = np.zeros(nf, np.int64)

    ap, bp = _gather2(a, b0, perm)
    llr_key = np.float32(math.log((1.0 - q) / q))
    filler_rng = np.random.default_rng(seed)
    brow, bcol, bshift = code.base_row_ptr, code.base_cols, code.shifts
    dmax = int(np.diff(brow).max())
    T = np.empty(dmax * LIFT, np.float32)
    P = np.empty(dmax * LIFT, np.float32)
    R = np.zeros(bcol.size * LIFT, np.float32)
    sgn = np.empty(m, np.float32)
    X = np.empty(N, np.float32)
    ch = np.empty(N, np.float32)
    L = np.empty(N, np.float32)
    layouts: dict[tuple[int, int], np.ndarray] = {}  # (p, s) -> key positions

    for f in range(nf):
        lo, hi = int(bounds[f]), int(bounds[f + 1])
        k = hi - lo
        p, s = frame_plan(code, k, q, f_start)
        punct_n[f], short_n[f] = p, s
        if m - p + hash_bits >= k:
            # the syndrome would cost as much as the frame: disclose it outright
            bp[lo:hi] = ap[lo:hi]
            disclosed[f] = True
            leaks[f] = k
            continue
        punct = code.puncture_order[:p]
        short = code.shorten_order[:s]
        if (p, s) not in layouts:
            free = np.ones(N, bool)
            free[punct] = free[short] = False
            layouts[(p, s)] = np.flatnonzero(free)
        key_pos = layouts[(p, s)]
        # Alice's word: key bits, private random punctured bits, public shortened fillers
        wa = filler_rng.integers(0, 2, N, dtype=np.uint8)
        _frame_inputs(wa, key_pos, short, ap[lo:hi], bp[lo:hi], llr_key, X, ch)
        _qc_signs(brow, bcol, bshift, X, sgn)  # Alice's syndrome, as signs
        step = max(1, math.ceil(step_f * h * k))
        L[:] = ch
        R[:] = 0
        n_rev_p = n_rev_k = 0  # punctured / key values revealed so far
        ok = False
        for attempt in range(max_retries + 1):
            last = attempt == max_retries
            done, its = _qc_attempt(brow, bcol, bshift, sgn, L, R, T, P, max_iterations,
                                    max_iterations if last else PATIENCE, STALL_REL)
            iterations[f] += its
            wrong = False
            if done:
                dec = _decisions(L, key_pos)
                resid = np.flatnonzero(dec != ap[lo:hi]).astype(np.int64)
                # syndrome satisfied: Bob compares Alice's hash; a collision (probability
                # 2^-hash_bits per wrong frame) keeps the wrong word, as a real run would
                if resid.size == 0 or _hash_of_errors(resid, hash_seed, f, hash_bits) == 0:
                    bp[lo:hi] = dec
                    ok = True
                    break
                hash_failures[f] += 1
                wrong = True
            if last:
                break
            # blind retry: Alice reveals `step` more values (punctured first, from the end
            # of the punctured list, then key bits); Bob resumes from his messages
            take_p = min(step, p - n_rev_p)
            rev = punct[p - n_rev_p - take_p:p - n_rev_p]
            take_k = min(step - take_p, k - n_rev_k)
            revk = key_pos[n_rev_k:n_rev_k + take_k]
            n_rev_p += take_p
            n_rev_k += take_k
            just = np.concatenate([rev, revk])
            ch[just] = np.where(wa[just] == 0, np.float32(_KNOWN_LLR), np.float32(-_KNOWN_LLR))
            if WARM_RETRIES and not wrong:
                L[just] = ch[just]
            else:  # after a wrong word (hash mismatch) start afresh: resuming would sit in it
                L[:] = ch
                R[:] = 0
        attempts[f] = attempt + 1
        revealed[f] = n_rev_p + n_rev_k
        if ok:
            leaks[f] = m - p + hash_bits + revealed[f]
        else:
            bp[lo:hi] = ap[lo:hi]  # Alice discloses the frame; all of it public
            disclosed[f] = True
            leaks[f] = k
    out, flipped = _scatter_diff(bp, perm, b0)
    return LdpcResult(out, int(leaks.sum()), flipped, nf,
                      int(np.count_nonzero(attempts > 1)), int(disclosed.sum()), N, rate, m,
                      hash_bits, kbits, punct_n, short_n, revealed, attempts, disclosed, leaks,
                      hash_failures, iterations)
