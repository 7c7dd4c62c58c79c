"""One-way rate-adaptive LDPC syndrome reconciliation for the BSC, with exact leakage counting.

Protocol (Alice's string is the reference; Bob corrects his):

1. Both interleave the key with the same public permutation (from ``rng``) and cut it into
   frames of ``k <= N - p_max`` key bits, N = ``frame_bits`` the length of the mother codes.
2. Per frame, a mother code H (m x N) of the family :data:`MOTHER_RATES` is chosen from the
   QBER estimate q, with p code positions *punctured* (Alice fills them with private random
   bits) and s positions *shortened* (filled with public pseudorandom bits from ``rng``),
   k = N - p - s; p is set so that the first attempt runs at f = ``f_start`` (rate
   adaptation of Elkouss, Martinez-Mateo, Martin, QIC 11, 226 (2011)).
3. Alice sends the syndrome s_A = H x_A of her frame word.  Bob decodes with layered
   normalised min-sum belief propagation from his word, LLR +-ln((1-q)/q) on key bits, 0 on
   punctured and +-inf on shortened ones, and checks the syndrome (and a ``hash_bits``-bit
   universal hash Alice sends with the syndrome, see below).
4. Blind rate adaptation (Martinez-Mateo, Elkouss, Martin, QIC 12, 791 (2012)): on failure
   Bob replies "failed" and Alice reveals the values of ``step`` more punctured bits (then,
   once none is left, of ``step`` key bits); Bob resumes decoding from his messages.  After
   ``max_retries`` failed retries Alice discloses the whole frame and Bob takes it.

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
one (girth >= 6: no 4-cycles) with the variable-degree distributions of
``scripts/design_ldpc_degrees.py`` (Gaussian-approximation density evolution for the BSC
and linear programming, Chung, Richardson, Urbanke, IEEE Trans. IT 47, 657 (2001)), and
cached in-process.  The simulation decodes from Bob's bits directly, since Alice's and
Bob's words differ only by the error pattern; every disclosed quantity is counted.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numba
import numpy as np

from satqkd.keys.cascade import _mix64
from satqkd.keys.finite_key import binary_entropy

#: Code length N of the mother codes: 2^15 = 32768.  BP's gap to capacity shrinks as N grows
#: (frame error rates fall faster with N at a fixed f); 2^15 keeps f <= 1.1 at QBER 1-4 % with
#: blind retries while a pass of 1e5-1e6 sifted bits still fills several frames.
DEFAULT_FRAME_BITS = 32768
DEFAULT_MAX_RETRIES = 12
#: Bits of the per-frame verification hash.
DEFAULT_HASH_BITS = 16
#: First attempt at f = F_START; each retry adds STEP_F x n h(q) disclosed bits.
F_START = 1.0
STEP_F = 0.03
MAX_ITERATIONS = 60
#: phi-function table of the sum-product decoder: step and size (covers [0, 24)).
PHI_STEP = 1.0 / 128.0
PHI_SIZE = 24 * 128
CODE_SEED = 20090115
_KNOWN_LLR = 1.0e4  # shortened and revealed bits

#: Mother code rates and node-perspective variable-degree distributions {degree: fraction}
#: (output of scripts/design_ldpc_degrees.py; GA thresholds within 1-5 % of capacity).
MOTHER_CODES: dict[float, dict[int, float]] = {
    0.50: {2: 0.4567, 3: 0.29982, 6: 0.09363, 7: 0.07484, 12: 0.00789, 15: 0.06712},
    0.60: {2: 0.40895, 3: 0.31046, 5: 0.0083, 6: 0.1639, 15: 0.10839},
    0.70: {2: 0.35716, 3: 0.31854, 5: 0.12471, 6: 0.05415, 15: 0.14544},
    0.78: {2: 0.31173, 3: 0.33677, 5: 0.16176, 6: 0.0254, 15: 0.16433},
    0.85: {2: 0.26477, 3: 0.38317, 5: 0.06613, 6: 0.11651, 15: 0.16941},
    0.90: {2: 0.22314, 3: 0.40936, 5: 0.02597, 6: 0.16969, 15: 0.17184},
    0.93: {2: 0.192, 3: 0.42715, 6: 0.20536, 15: 0.17549},
    0.95: {2: 0.16652, 3: 0.43871, 6: 0.20785, 15: 0.18691},
}
MOTHER_RATES = tuple(sorted(MOTHER_CODES))


# ----------------------------------------------------------------------------- construction
@numba.njit(cache=True)
def _peg_depth1(var_deg, m, starts):
    """Tanner graph by progressive edge growth with depth-one look-ahead.

    Variables (in the given order, lowest degree first as in PEG) receive their edges one
    by one; each goes to a check of least current degree among those not within distance
    two of the variable (so no 4-cycle closes), the scan starting at ``starts[e]``
    (pre-drawn, so the construction is a pure function of its inputs).  Returns CSR rows
    (row_ptr, cols) of H, m x n.
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
    stamp = np.full(m, -1, np.int64)
    level_count = np.zeros(cap + 1, np.int64)
    level_count[0] = m
    lev = 0
    e = 0
    for v in range(n):
        for k in range(var_deg[v]):
            # forbid v's checks and every check sharing a variable with them
            for a in range(vptr[v], vptr[v] + k):
                c1 = vchk[a]
                stamp[c1] = e
                for t in range(cdeg[c1]):
                    w = cvars[c1, t]
                    for b in range(vptr[w], vptr[w + 1]):
                        c2 = vchk[b]
                        if c2 >= 0:
                            stamp[c2] = e
            while level_count[lev] == 0:
                lev += 1
            chosen = -1
            for relax in range(2):
                lv = lev
                while chosen < 0 and lv < cap - 1:
                    if level_count[lv] > 0:
                        c = starts[e] % m
                        for _ in range(m):
                            if cdeg[c] == lv and stamp[c] != e:
                                chosen = c
                                break
                            c += 1
                            if c == m:
                                c = 0
                    lv += 1
                if chosen >= 0:
                    break
                # no 4-cycle-free check left: only forbid repeated edges
                for c in range(m):
                    if stamp[c] == e:
                        stamp[c] = -1
                for a in range(vptr[v], vptr[v] + k):
                    stamp[vchk[a]] = e
            if chosen < 0:
                raise RuntimeError("PEG: no check available")
            vchk[vptr[v] + k] = chosen
            cvars[chosen, cdeg[chosen]] = v
            level_count[cdeg[chosen]] -= 1
            cdeg[chosen] += 1
            level_count[cdeg[chosen]] += 1
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
    rounded to n nodes; m = round((1 - rate) n) checks of near-equal degree.  Up to
    ``max_puncture_fraction`` x m untainted positions are listed for puncturing, degree-2
    first, in a seeded random order.
    """
    dist = MOTHER_CODES[rate] if distribution is None else distribution
    m = int(round((1.0 - rate) * n))
    if not 0 < m < n:
        raise ValueError(f"rate {rate} gives {m} checks for n = {n}")
    rng = np.random.default_rng([seed, n, int(round(rate * 1000))])
    degs = np.array(sorted(dist), dtype=np.int64)
    frac = np.array([dist[d] for d in degs], dtype=float)
    counts = np.floor(frac / frac.sum() * n).astype(np.int64)
    counts[np.argmax(frac)] += n - counts.sum()
    var_deg = np.repeat(degs, counts)  # ascending: low degrees first, as in PEG
    var_deg = np.minimum(var_deg, m)
    starts = rng.integers(0, m, int(var_deg.sum()))
    row_ptr, cols = _peg_depth1(var_deg, m, starts)
    # relabel variables randomly so degrees are spread over the frame
    relabel = rng.permutation(n).astype(np.int32)
    cols = relabel[cols]
    low = relabel[np.flatnonzero(var_deg == var_deg.min())]
    rng.shuffle(low)
    punct = _untainted(row_ptr, cols, n, m, low, int(max_puncture_fraction * m))
    rest = np.setdiff1d(np.arange(n), punct)
    rng.shuffle(rest)
    return LdpcCode(float(rate), n, m, row_ptr, cols, punct, rest.astype(np.int64))


@functools.lru_cache(maxsize=64)
def mother_code(rate: float, n: int = DEFAULT_FRAME_BITS) -> LdpcCode:
    """The cached mother code of rate ``rate`` in ``MOTHER_RATES`` and length ``n``."""
    return build_code(rate, n)


# ----------------------------------------------------------------------------- decoding
@numba.njit(cache=True)
def _syndrome_ok(row_ptr, cols, llr, syn):
    """True if the hard decisions of ``llr`` (bit 1 where llr < 0) satisfy H x = syn."""
    for c in range(row_ptr.size - 1):
        par = syn[c]
        for e in range(row_ptr[c], row_ptr[c + 1]):
            if llr[cols[e]] < 0:
                par ^= 1
        if par:
            return False
    return True


def _phi_table() -> np.ndarray:
    """phi(x) = -ln tanh(x/2) at the centres of [i, i+1) PHI_STEP, i < PHI_SIZE (float32)."""
    x = (np.arange(PHI_SIZE) + 0.5) * PHI_STEP
    return (-np.log(np.tanh(x / 2.0))).astype(np.float32)


@numba.njit(cache=True, inline="always")
def _phi(x, tab):
    """phi(x) for x >= 0: the table above one step, ln(2/x) (its limit) below."""
    if x < np.float32(PHI_STEP):
        return np.float32(np.log(np.float32(2.0) / max(x, np.float32(1e-6))))
    return tab[min(int(x * np.float32(1.0 / PHI_STEP)), tab.size - 1)]


@numba.njit(cache=True)
def _layered_sum_product(row_ptr, cols, syn, L, R, max_iter, tab):
    """Layered sum-product syndrome decoding, in place; returns iterations used, or -1.

    One layer per check (Hocevar, IEEE SiPS 2004), in the phi domain of Gallager:
    t_e = L_v - R_e;  |R_e| = phi(sum_{e' != e} phi(|t_e'|)),
    sign R_e = (-1)^(s_c) prod_{e' != e} sign t_e';  L_v = t_e + R_e,
    phi(x) = -ln tanh(x/2) = phi^-1(x) from a table (step 1/128; exact sum-product to
    within the table's resolution, measured: same iterations and decisions as tanh/atanh).
    L (posterior LLRs = channel + sum of R) and R persist between calls, so a retry
    resumes from the last attempt.  Stops as soon as the hard decisions (bit 1 where
    L < 0) satisfy the syndrome; a check's syndrome bit s_c flips its messages' sign.
    """
    m = row_ptr.size - 1
    dmax = 0
    for c in range(m):
        dmax = max(dmax, row_ptr[c + 1] - row_ptr[c])
    t = np.empty(dmax, np.float32)
    ph = np.empty(dmax, np.float32)
    for it in range(max_iter):
        if _syndrome_ok(row_ptr, cols, L, syn):
            return it
        for c in range(m):
            lo = row_ptr[c]
            hi = row_ptr[c + 1]
            total = np.float32(0.0)
            neg = syn[c]
            for e in range(lo, hi):
                x = L[cols[e]] - R[e]
                t[e - lo] = x
                if x < 0:
                    neg ^= 1
                v = _phi(abs(x), tab)
                ph[e - lo] = v
                total += v
            for e in range(lo, hi):
                x = t[e - lo]
                mag = _phi(total - ph[e - lo], tab)
                r = -mag if neg ^ (1 if x < 0 else 0) else mag
                R[e] = r
                L[cols[e]] = x + r
    if _syndrome_ok(row_ptr, cols, L, syn):
        return max_iter
    return -1


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
    mask = np.uint64(0xFFFFFFFFFFFFFFFF) if bits >= 64 else (np.uint64(1) << np.uint64(bits)) - np.uint64(1)
    return np.int64(acc & mask)


_PHI_TABLE = _phi_table()


# ----------------------------------------------------------------------------- protocol
@dataclass(frozen=True)
class LdpcResult:
    """Outcome of :func:`ldpc_reconcile`."""

    bob_corrected: np.ndarray  # uint8, Bob's bits after reconciliation
    leaked_bits: int  # every bit of Alice's key the public messages reveal, counted exactly
    errors_corrected: int  # bits Bob flipped
    frames: int
    frames_retried: int  # frames that needed at least one retry
    frames_disclosed: int  # frames disclosed in full after max_retries failed retries
    frame_bits: int  # mother-code length N
    syndrome_bits: int  # sum over frames of (m - p_initial): the first message's cost
    revealed_bits: int  # punctured or key values revealed on retries
    hash_bits: int  # per-frame verification hash bits sent
    disclosed_bits: int  # key bits of fully disclosed frames (their whole charge)
    retries: int  # retries over all frames
    frame_leak: np.ndarray  # int64 leak per frame
    frame_key_bits: np.ndarray  # int64 key bits per frame
    frame_rates: np.ndarray  # mother-code rate used per frame

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
    p = code.m - int(math.ceil(f_start * h * key_bits))
    p = max(0, min(p, code.max_punctured, code.n - key_bits))
    return p, code.n - key_bits - p


def choose_code_rate(qber: float, n: int = DEFAULT_FRAME_BITS, f_start: float = F_START
                     ) -> float:
    """Mother rate for a QBER estimate: the highest rate whose m still covers f_start n h(q)
    (least puncturing), else the lowest rate (shortened)."""
    h = binary_entropy(min(max(qber, 1e-6), 0.5))
    need = f_start * h
    ok = [r for r in MOTHER_RATES if 1.0 - r >= need]
    return max(ok) if ok else min(MOTHER_RATES)


def ldpc_reconcile(alice_bits: np.ndarray, bob_bits: np.ndarray, qber_estimate: float,
                   rng: np.random.Generator, frame_bits: int = DEFAULT_FRAME_BITS,
                   max_retries: int = DEFAULT_MAX_RETRIES, *,
                   hash_bits: int = DEFAULT_HASH_BITS, f_start: float = F_START,
                   step_f: float = STEP_F, max_iterations: int = MAX_ITERATIONS
                   ) -> LdpcResult:
    """Reconcile Bob's sifted key to Alice's by one-way LDPC syndrome coding.

    ``alice_bits``/``bob_bits``: uint8 0/1 arrays of equal length; ``qber_estimate``: the
    a-priori error rate (sets code, puncturing and Bob's LLRs; correctness does not depend
    on it); ``rng``: all public randomness (interleaver, shortened fillers' seed, hash seed),
    drawn in that order; ``frame_bits``: mother-code length N (codes of that length are
    built at first use, about 1 s per rate for N = 32768, and cached); ``max_retries``:
    blind retries per frame before the frame is disclosed; ``hash_bits``: per-frame hash
    (0: syndrome check only); ``f_start``, ``step_f``: first attempt at f_start and
    step_f x k h(q) more revealed bits per retry.
    """
    a = np.ascontiguousarray(alice_bits, dtype=np.uint8)
    b0 = np.ascontiguousarray(bob_bits, dtype=np.uint8)
    if a.shape != b0.shape or a.ndim != 1:
        raise ValueError("Alice's and Bob's keys must be 1-D arrays of equal length")
    if not 0 <= hash_bits <= 64:
        raise ValueError("hash_bits must be in [0, 64]")
    n_key = a.size
    q = min(max(float(qber_estimate), 1e-4), 0.5)
    rate = choose_code_rate(q, frame_bits, f_start)
    code = mother_code(rate, int(frame_bits))
    N, m = code.n, code.m
    h = binary_entropy(q)

    perm = rng.permutation(n_key)
    seed = int(rng.integers(0, 2**63 - 1))
    hash_seed = int(rng.integers(0, 2**63 - 1))
    if n_key == 0:
        e = np.zeros(0, np.int64)
        return LdpcResult(b0.copy(), 0, 0, 0, 0, 0, 0, N, 0, 0, 0, 0, 0, e, e, e.astype(float))
    # frames of near-equal key length, none above N minus the fewest punctured bits needed
    k_max = N - frame_plan(code, N, q, f_start)[0]
    k_max = max(1, min(N, k_max))
    nf = -(-n_key // k_max)
    bounds = np.linspace(0, n_key, nf + 1).round().astype(np.int64)

    ap = a[perm]
    bp = b0[perm].copy()
    llr_key = np.float32(math.log((1.0 - q) / q))
    filler_rng = np.random.default_rng(seed)
    leaks = np.zeros(nf, np.int64)
    kbits = np.zeros(nf, np.int64)
    syndrome_total = revealed_total = disclosed_total = retries_total = 0
    retried = disclosed = 0
    E = code.cols.size
    for f in range(nf):
        lo, hi = int(bounds[f]), int(bounds[f + 1])
        k = hi - lo
        kbits[f] = k
        p, s = frame_plan(code, k, q, f_start)
        if m - p + hash_bits >= k:
            # the syndrome would cost more than the frame: disclose it outright
            bp[lo:hi] = ap[lo:hi]
            leaks[f] = k
            disclosed += 1
            disclosed_total += k
            continue
        punct = code.puncture_order[:p]
        short = code.shorten_order[:s]
        key_pos = np.setdiff1d(np.arange(N), np.concatenate([punct, short]),
                              assume_unique=True)
        # Alice's word: key bits, private random punctured bits, public fillers
        wa = np.zeros(N, np.uint8)
        wa[key_pos] = ap[lo:hi]
        fill = filler_rng.integers(0, 2, N, dtype=np.uint8)  # punctured (private) + shortened
        wa[punct] = fill[punct]
        wa[short] = fill[short]
        syn = _syndrome(code.row_ptr, code.cols, wa)
        L = np.zeros(N, np.float32)
        L[key_pos] = np.where(bp[lo:hi] == 0, llr_key, -llr_key)
        L[short] = np.where(wa[short] == 0, _KNOWN_LLR, -_KNOWN_LLR)
        R = np.zeros(E, np.float32)
        leak = m - p + hash_bits
        step = max(1, int(math.ceil(step_f * h * k)))
        n_rev_p = 0  # punctured values revealed, taken from the end of the punctured list
        n_rev_k = 0  # key values revealed
        ok = False
        for attempt in range(max_retries + 1):
            if attempt > 0:
                take_p = min(step, p - n_rev_p)
                rev = punct[p - n_rev_p - take_p:p - n_rev_p]
                n_rev_p += take_p
                take_k = min(step - take_p, k - n_rev_k)
                revk = key_pos[n_rev_k:n_rev_k + take_k]
                n_rev_k += take_k
                # a revealed value becomes a known bit: swap its channel LLR (L = ch + sum R)
                L[rev] += np.where(wa[rev] == 0, _KNOWN_LLR, -_KNOWN_LLR).astype(np.float32)
                ch_old = np.where(bp[lo:hi][n_rev_k - take_k:n_rev_k] == 0, llr_key, -llr_key)
                ch_new = np.where(wa[revk] == 0, _KNOWN_LLR, -_KNOWN_LLR)
                L[revk] += (ch_new - ch_old).astype(np.float32)
                leak += take_p + take_k
                retries_total += 1
            it = _layered_sum_product(code.row_ptr, code.cols, syn, L, R, max_iterations,
                                      _PHI_TABLE)
            if it >= 0:
                dec = (L[key_pos] < 0).astype(np.uint8)
                resid = np.flatnonzero(dec != ap[lo:hi]).astype(np.int64)
                # syndrome satisfied: Bob compares Alice's hash; a collision (probability
                # 2^-hash_bits per wrong frame) keeps the wrong word, as a real run would
                if resid.size == 0 or _hash_of_errors(resid, hash_seed, f, hash_bits) == 0:
                    bp[lo:hi] = dec
                    ok = True
                    break
        if attempt > 0:
            retried += 1
        if not ok:
            bp[lo:hi] = ap[lo:hi]
            leak = k
            disclosed += 1
            disclosed_total += k
        else:
            syndrome_total += m - p
            revealed_total += n_rev_p + n_rev_k
        leaks[f] = leak
    out = np.empty(n_key, np.uint8)
    out[perm] = bp
    return LdpcResult(out, int(leaks.sum()), int(np.count_nonzero(out != b0)), nf, retried,
                      disclosed, N, syndrome_total, revealed_total,
                      hash_bits * (nf - disclosed), disclosed_total, retries_total, leaks, kbits,
                      np.full(nf, rate))
