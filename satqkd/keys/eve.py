"""What Eve truly knows of a final key: the simulator's side of the security claim.

The protocol certifies a key of ell bits K = T x (x Alice's sifted Z key, T the public
Toeplitz matrix of privacy amplification) from observed statistics. The simulation also
records what Eve did, so her knowledge can be counted instead of bounded:

* her bits on the sifted key, per position (codes of :func:`eve_codes`): she knows
  Alice's bit (blinding, intercept-resend in the right basis, PNS on a multi-photon
  pulse, a Trojan-horse read-out), holds a noisy guess of it, knows or guesses Bob's bit
  instead (the detector that fired: time shift; intercept-resend on the photon of an
  entangled pair sent to Bob), or has nothing;
* everything said in public: Cascade's parities from Alice and replies from Bob, and the
  verification tag (:func:`satqkd.keys.cascade.parity_rows`);
* the public seed of T.

Two-way transcript. Write Bob's raw key y = x + e (e the error pattern). Cascade's
messages are Alice's parities P_r x and Bob's replies P_r y_t, y_t = y + c_t with c_t
the corrections made so far; each correction ends a BINARY search whose path the earlier
replies make public, so c_t is public and every message is a function of (P x, e). If
the reconciliation is correct (Bob ends with y + c = x, which the tag certifies except
with probability eps_cor), e = c is a function of the messages. So the transcript is
equivalent to (P x, e), tag included: Bob's replies reveal exactly the error pattern.
Then (i) Eve's record of Bob's bit is one of Alice's: x_i = y_i + e_i, and a guess g of
y_i is the guess g + e_i of x_i with the same error rate (:func:`alice_codes`); (ii) where
her record says nothing, x_i is independent of (e_i, E_i) (Alice's bit is uniform and
the channel and detectors treat both values alike), so e adds nothing about the other
bits. With one-way error correction (LDPC) e stays private: her records of Bob's bits
count as noisy guesses of Alice's.

Let S be the positions Eve knows and U the rest; P_U, T_U the columns of P, T on U.
Given the transcript, x_U is uniform on an affine coset of ker(P_U) (Alice's bits are
uniform and independent; Eve's bits on S are functions of x_S and of her own randomness).
The linear functions w^T K she then knows with certainty are those with w^T T_U in
rowspace(P_U), a space of dimension

    known = ell - (rank([T_U; P_U]) - rank(P_U))                       (exact, eq. E1)

(rank([T_U; P_U]) - rank(P_U) = dim T_U(ker P_U), the part of K still uniform). Computed
by GF(2) elimination on 64-bit words (:func:`knowledge`) when the matrix is small enough.

Bounds, when it is not (proofs):

* **count bound**: rank([T_U; P_U]) - rank(P_U) <= |U| - rank(P_U) <= |U|, so
  known >= ell - |U|. With |U| = 0 (blinding) known = ell exactly, without any elimination.
* **seed bound**: for a fixed nonzero w in F_2^ell, w^T T is uniform on F_2^n over the
  random seed: entry j of w^T T is sum_i w_i s[i - j + n - 1]; with i0 the largest i
  where w_i = 1, seed bit s[i0 - j + n - 1] appears in entry j and in no entry j' > j, so
  the map from the seed to w^T T is triangular with unit diagonal, hence onto. The seed is
  drawn after the transcript, so Pr[w^T T_U in rowspace(P_U)] = 2^(rank P_U - |U|). The
  known w form a subspace of size 2^known; by the union bound (Markov on their number),
  Pr[known >= k] <= 2^(ell - d) / (2^k - 1), d = |U| - rank(P_U) >= |U| - lambda, lambda
  the number of public rows. When d_lb = |U| - lambda >= ell + 64, Eve knows nothing of
  K except with probability <= 2^-64, which is reported as known = 0 ("seed-bound").

Information (noisy guesses, e.g. the time-shift attack, where nothing is known for
certain yet much is known): with U_g the guessed and U_0 the empty positions and z the
error pattern of Eve's guesses, H(x_U | E, P x) <= sum_{U_g} h(p_i) + |U_0| - rank(P_{U_0})
(H(P_U z) >= H(P_U z | z_{U_g}) = rank(P_{U_0}) as z_{U_0} is uniform), and
sum h(p_i) <= |U_g| h(mean p) (concavity). K = T x is uniform (rank T = ell except with
probability 2^(ell - n), the seed bound with P empty), so

    I(K; E, C) >= ell - |U_g| h(p_up) - |U_0| + rank(P_{U_0})              (eq. E2)

with p_up a Hoeffding upper confidence bound (failure eps) of the realised error rate of
her guesses (a simulator-only statistic).

What is exact. E1 holds for any linear function in rowspace(P_U) (so it is never more
than she knows), and it is all she knows when, given her record and e, the bits of U
are independent with both values possible (each position's event is drawn on its own;
dead time and afterpulses, which couple neighbouring events, are left out). E2 is a
bound by nature; the seed and count bounds are bounds.

Verdict. An eps-secret key has I(K; E) <= eps ell + (1 + eps) h(eps / (1 + eps)) <=
eps ell + 1 (Alicki-Fannes-Winter continuity, Winter, CMP 347, 291 (2016)), and if Eve
knows one nonzero linear function of K with certainty, the key is at trace distance >=
1/2 from ideal. So a claimed key is ``compromised`` when known >= 1, when eq. E2 exceeds
eps ell + 1, or when her best guess agrees with K more than Hoeffding allows at eps
(agreement - 1/2 > sqrt(ln(1/eps) / (2 ell))); ``aborted`` when no key was claimed;
``secure`` otherwise (against the attack simulated: E1 and her agreement say she holds
nothing, E2 stays below the bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from satqkd.keys.finite_key import binary_entropy

__all__ = ["EVE_CODE_BOB", "EVE_CODE_NONE", "SECURITY_VERDICTS", "EveKnowledge", "EveRecord",
           "alice_codes", "block_knowledge", "disclosed_record", "eve_codes", "gf2_rank", "honest_knowledge", "knowledge",
           "pass_record", "toeplitz_rows", "verdict"]

#: per-position code of Eve's knowledge on the sifted key (``SiftedKey.eve_z``):
#: -1 nothing, 0/1 she knows Alice's bit is 0/1, 2/3 she guesses 0/1 (noisy);
#: 4/5 she knows Bob's bit is 0/1, 6/7 she guesses Bob's bit (:func:`alice_codes` turns
#: the last two into the first, once the error pattern is public)
EVE_CODE_NONE = -1
EVE_CODE_BOB = 4  # codes >= this are of Bob's bit
SECURITY_VERDICTS = ("secure", "aborted", "compromised")
#: elimination budget in 64-bit word operations (~1 s): beyond it the bounds are used
EXACT_WORD_OPS = 4.0e8
#: the seed bound is quoted when it fails with probability <= 2^-SEED_BOUND_BITS
SEED_BOUND_BITS = 64


def eve_codes(eve_bit: np.ndarray, eve_knows: np.ndarray) -> np.ndarray:
    """Per-event code (:data:`EVE_CODE_NONE`; bit, 2 + bit: Alice's bit, sure or guessed;
    4 + bit, 6 + bit: Bob's) from the engine's ``eve_bit`` and ``eve_knows``
    (:data:`satqkd.engine.params.EVE_SURE` and siblings)."""
    from satqkd.engine.params import EVE_GUESS, EVE_GUESS_BOB, EVE_SURE, EVE_SURE_BOB

    b = np.asarray(eve_bit, dtype=np.int8)
    k = np.asarray(eve_knows, dtype=np.int8)
    out = np.full(b.shape, EVE_CODE_NONE, dtype=np.int8)
    ok = b >= 0
    for knows, base in ((EVE_SURE, 0), (EVE_GUESS, 2), (EVE_SURE_BOB, 4), (EVE_GUESS_BOB, 6)):
        m = ok & (k == knows)
        out[m] = base + b[m]
    return out


def alice_codes(codes: np.ndarray, alice: np.ndarray, bob: np.ndarray | None,
                errors_public: bool) -> np.ndarray:
    """Eve's codes as knowledge of Alice's bits only (codes -1..3).

    ``errors_public``: the error pattern e = alice + bob (``bob`` Bob's raw key) is public
    (a correct two-way reconciliation, module docstring): her sure or guessed bit of Bob's
    becomes one of Alice's, xor e. Otherwise it is a noisy guess of Alice's bit."""
    c = np.array(codes, dtype=np.int8, copy=True)
    of_bob = c >= EVE_CODE_BOB
    if not of_bob.any():
        return c
    bit = (c[of_bob] - EVE_CODE_BOB) & 1
    if errors_public:
        e = (np.asarray(alice, dtype=np.uint8) ^ np.asarray(bob, dtype=np.uint8))[of_bob]
        c[of_bob] = (c[of_bob] - EVE_CODE_BOB - bit) + (bit ^ e)  # sure stays sure
    else:
        c[of_bob] = 2 + bit
    return c


@numba.njit(cache=True)
def _reduce_insert(rows, basis, lead, n_basis, insert, zero_out):
    """Reduce each row against the echelon basis (lead[c] = basis row whose lowest set bit
    is c); insert it as a new basis row when it does not reduce to zero and ``insert``.
    zero_out[i] = 1 when row i reduced to zero (lies in the span). Returns n_basis."""
    n_words = rows.shape[1]
    tmp = np.empty(n_words, np.uint64)
    for i in range(rows.shape[0]):
        for w in range(n_words):
            tmp[w] = rows[i, w]
        w = 0
        zero_out[i] = 1
        while w < n_words:
            x = tmp[w]
            if x == 0:
                w += 1
                continue
            # lowest set bit of this word
            low = x & (~x + np.uint64(1))
            b = 0
            while (low >> np.uint64(b)) != np.uint64(1):
                b += 1
            c = w * 64 + b
            r = lead[c]
            if r >= 0:
                for v in range(w, n_words):
                    tmp[v] ^= basis[r, v]
                continue
            zero_out[i] = 0
            if insert:
                for v in range(n_words):
                    basis[n_basis, v] = tmp[v]
                lead[c] = n_basis
                n_basis += 1
            break
    return n_basis


def gf2_rank(rows: np.ndarray) -> int:
    """Rank over GF(2) of packed rows (uint64 words, bit t of a row = bit t % 64 of word t // 64)."""
    rows = np.ascontiguousarray(rows, dtype=np.uint64)
    if rows.size == 0:
        return 0
    basis = np.zeros((min(rows.shape[0], rows.shape[1] * 64), rows.shape[1]), np.uint64)
    lead = np.full(rows.shape[1] * 64, -1, np.int64)
    return int(_reduce_insert(rows, basis, lead, 0, True, np.zeros(rows.shape[0], np.uint8)))


@numba.njit(cache=True)
def _toeplitz_rows_kernel(seed, n, cols, out_cols, out):
    for i in range(out.shape[0]):
        for u in range(cols.shape[0]):
            if seed[i - cols[u] + n - 1]:
                c = out_cols[u]
                out[i, c >> 6] |= np.uint64(1) << np.uint64(c & 63)


def toeplitz_rows(seed: np.ndarray, n: int, m: int, cols: np.ndarray,
                  out_cols: np.ndarray | None = None, width: int | None = None) -> np.ndarray:
    """Rows of the m x n Toeplitz matrix T[i, j] = seed[i - j + n - 1], restricted to the
    columns ``cols`` (packed; key position cols[u] goes to column ``out_cols[u]``, by
    default u), over ``width`` columns (default: just enough)."""
    cols = np.ascontiguousarray(cols, dtype=np.int64)
    out_cols = (np.arange(cols.size, dtype=np.int64) if out_cols is None
                else np.ascontiguousarray(out_cols, dtype=np.int64))
    n_cols = int(out_cols.max()) + 1 if out_cols.size else 0
    if width is not None:
        n_cols = max(n_cols, int(width))
    out = np.zeros((m, (n_cols + 63) // 64), np.uint64)
    if m and cols.size:
        _toeplitz_rows_kernel(np.ascontiguousarray(seed, dtype=np.uint8), n, cols, out_cols, out)
    return out


@dataclass(frozen=True)
class EveKnowledge:
    """Eve's knowledge of one final key (lower bounds; see the module docstring)."""

    known_bits: int  # linear functions of K she knows with certainty (E1, or a bound)
    information_bits: float  # lower bound on I(K; E, C) in bits (>= known_bits)
    agreement: float  # bit agreement of her best guess with K (NaN without a key)
    method: str  # "none" (no eavesdropper), "exact", "seed-bound", "count-bound"
    security: str  # one of SECURITY_VERDICTS
    sure_bits: int = 0  # sifted positions she knows
    guessed_bits: int = 0  # sifted positions she guesses (noisy)
    failure_probability: float = 0.0  # seed bound: Pr[known > 0] over the seed, else 0

    def scalars(self) -> dict:
        return {"eve_known_bits": int(self.known_bits),
                "eve_information_bits": float(self.information_bits),
                "eve_key_agreement": float(self.agreement),
                "eve_knowledge_method": self.method,
                "security": self.security}


def verdict(secret_bits: int, known_bits: int, information_bits: float, agreement: float,
            eps_sec: float) -> str:
    """``aborted`` / ``compromised`` / ``secure`` by the rule of the module docstring."""
    if secret_bits <= 0:
        return "aborted"
    if known_bits >= 1 or information_bits > eps_sec * secret_bits + 1.0:
        return "compromised"
    if np.isfinite(agreement) and agreement - 0.5 > math.sqrt(
            math.log(1.0 / eps_sec) / (2.0 * secret_bits)):
        return "compromised"
    return "secure"


def honest_knowledge(secret_bits: int) -> EveKnowledge:
    """No eavesdropper: Eve holds nothing (no computation)."""
    return EveKnowledge(0, 0.0, 0.5 if secret_bits > 0 else float("nan"), "none",
                        "secure" if secret_bits > 0 else "aborted")


def knowledge(alice: np.ndarray, codes: np.ndarray, public_rows, final_key: np.ndarray | None,
              pa_seed: np.ndarray | None, eps_sec: float, rng: np.random.Generator,
              n_public: int | None = None, exact_word_ops: float = EXACT_WORD_OPS
              ) -> EveKnowledge:
    """Eve's knowledge of the final key ``final_key`` = T(``pa_seed``) ``alice``.

    ``codes``: per sifted position (:func:`eve_codes`). ``public_rows(col_of)``: a callable
    returning Alice's public linear functions of the key as packed rows over the columns
    ``col_of`` (position -> column, -1 to drop), or None if they are not available (then
    only the bounds with ``n_public`` rows apply). ``rng``: Eve's random fill of the bits
    she has nothing on (her best guess there is a coin). ``final_key`` None: no key.
    """
    alice = np.ascontiguousarray(alice, dtype=np.uint8)
    codes = np.asarray(codes, dtype=np.int8)
    if codes.size and codes.max() >= EVE_CODE_BOB:
        raise ValueError("knowledge() takes codes of Alice's bits (see alice_codes)")
    n = alice.size
    sure = (codes == 0) | (codes == 1)
    guess = codes >= 2
    n_sure, n_guess = int(sure.sum()), int(guess.sum())
    ell = 0 if final_key is None else int(final_key.size)
    if ell == 0:
        return EveKnowledge(0, 0.0, float("nan"), "exact", "aborted", n_sure, n_guess)
    unknown = np.flatnonzero(~sure)
    n_u = unknown.size
    none_pos = np.flatnonzero(codes == EVE_CODE_NONE)
    # Eve's noisy guesses: Hoeffding upper confidence bound of their error rate
    if n_guess:
        p_hat = float(np.mean((codes[guess] - 2) != alice[guess]))
        p_up = min(0.5, p_hat + math.sqrt(math.log(1.0 / eps_sec) / (2.0 * n_guess)))
        h_guess = n_guess * float(binary_entropy(p_up))
    else:
        h_guess = 0.0

    # her best guess of x: her bits where she has them, coins elsewhere
    x_hat = np.where(codes >= 0, codes & 1, rng.integers(0, 2, n)).astype(np.uint8)
    from satqkd.keys.privacy_amplification import privacy_amplification

    k_hat = privacy_amplification(x_hat, ell, pa_seed) if n_u else final_key.copy()

    known = max(0, ell - n_u)  # count bound
    method = "count-bound"
    fail = 0.0
    rank_none = 0
    lam = int(n_public or 0)
    cost = 0.0
    if n_u == 0:
        known, method = ell, "exact"
    elif public_rows is not None:
        words = (n_u + 63) // 64
        cost = (lam + ell) * min(lam + ell, n_u) * words / 2.0
    if 0 < n_u and public_rows is not None and cost <= exact_word_ops:
        col_of = np.full(n, -1, np.int64)
        col_of[unknown] = np.arange(n_u)
        p_u = np.ascontiguousarray(public_rows(col_of), dtype=np.uint64)
        t_u = toeplitz_rows(pa_seed, n, ell, unknown)
        words = t_u.shape[1]
        if p_u.shape[1] < words:  # a public row set built over fewer columns
            p_u = np.pad(p_u, ((0, 0), (0, words - p_u.shape[1])))
        basis = np.zeros((min(p_u.shape[0] + ell, words * 64), words), np.uint64)
        lead = np.full(words * 64, -1, np.int64)
        rank_p = _reduce_insert(p_u, basis, lead, 0, True, np.zeros(p_u.shape[0], np.uint8))
        # final-key bits she can compute one by one: T_i,U in rowspace(P_U)
        single = np.zeros(ell, np.uint8)
        _reduce_insert(t_u, basis, lead, rank_p, False, single)
        rank_all = _reduce_insert(t_u, basis, lead, rank_p, True, np.zeros(ell, np.uint8))
        known = ell - (rank_all - rank_p)
        method = "exact"
        k_hat = np.where(single.astype(bool), final_key, k_hat)
        if none_pos.size:  # rank(P_{U_0}) for eq. E2
            col0 = np.full(n, -1, np.int64)
            col0[none_pos] = np.arange(none_pos.size)
            rank_none = gf2_rank(public_rows(col0))
    elif n_u > 0:
        d_lb = n_u - lam
        if d_lb - ell >= SEED_BOUND_BITS:
            known, method = 0, "seed-bound"
            fail = 2.0 ** (ell - d_lb)
    info = max(float(known), ell - h_guess - none_pos.size + rank_none)
    agreement = float(np.mean(k_hat == final_key))
    sec = verdict(ell, known, info, agreement, eps_sec)
    return EveKnowledge(int(known), info, agreement, method, sec, n_sure, n_guess, fail)


# --------------------------------------------------------------------------- records
@dataclass(frozen=True)
class EveRecord:
    """What Eve holds of one reconciled pass, kept until its key is hashed (a pass, or a
    pooled finite-key block closed later): her code per sifted bit (:func:`eve_codes`)
    and what was said in public about the pass, as the rows it takes to rebuild it.

    ``transcript``: Cascade's disclosures (:func:`satqkd.keys.cascade.cascade_reconcile`
    with ``transcript=True``), None when the reconciliation left none (LDPC: only the
    count ``ec_bits`` of its syndrome bits is known, and only the bounds apply).
    ``tag_seed``/``tag_bits``: the public Toeplitz seed and length of the verification tag.
    """

    codes: np.ndarray = field(repr=False)  # int8 per sifted bit
    ec_bits: int = 0  # Alice's public error-correction bits (lambda_A)
    transcript: np.ndarray | None = field(default=None, repr=False)
    frame_bits: int = 0
    cascade_seed: int = 0
    tag_seed: np.ndarray | None = field(default=None, repr=False)
    tag_bits: int = 0

    @property
    def n(self) -> int:
        return int(self.codes.size)

    @property
    def n_public(self) -> int:
        return int(self.ec_bits) + (int(self.tag_bits) if self.tag_seed is not None else 0)

    @property
    def rows_known(self) -> bool:
        """Every public function of the pass is available as a row (else: bounds only)."""
        return self.ec_bits == 0 or self.transcript is not None

    def rows(self, col_of: np.ndarray, width: int) -> np.ndarray:
        """The pass's public linear functions of Alice's key, packed over ``width``
        columns; ``col_of[y]`` the column of the pass's position y (-1: left out)."""
        from satqkd.keys.cascade import transcript_rows

        words = (int(width) + 63) // 64
        parts = [np.zeros((0, words), np.uint64)]
        if self.transcript is not None and self.transcript.shape[0]:
            parts.append(transcript_rows(self.transcript, self.frame_bits, self.cascade_seed,
                                         self.n, col_of, width))
        if self.tag_seed is not None and self.tag_bits:
            cols = np.flatnonzero(col_of >= 0)
            parts.append(toeplitz_rows(self.tag_seed, self.n, self.tag_bits, cols,
                                       col_of[cols], width))
        return np.concatenate(parts)

    def to_arrays(self) -> dict:
        """Plain arrays (for an ``np.savez`` file; :meth:`from_arrays` reads them back)."""
        rec = (np.zeros((0, 5), np.int32) if self.transcript is None
               else np.asarray(self.transcript, dtype=np.int32))
        tag = (np.zeros(0, np.uint8) if self.tag_seed is None
               else np.packbits(np.asarray(self.tag_seed, dtype=np.uint8)))
        return {"eve_codes": np.asarray(self.codes, dtype=np.int8), "eve_transcript": rec,
                "eve_tag_seed": tag,
                "eve_ints": np.array([self.ec_bits, self.transcript is not None,
                                      self.frame_bits, self.tag_bits,
                                      -1 if self.tag_seed is None else len(self.tag_seed)],
                                     np.int64),
                "eve_cascade_seed": np.array([self.cascade_seed], np.uint64)}

    @classmethod
    def from_arrays(cls, z) -> "EveRecord":
        ec_bits, has_rec, frame_bits, tag_bits, tag_len = (int(v) for v in z["eve_ints"])
        tag = None if tag_len < 0 else np.unpackbits(z["eve_tag_seed"])[:tag_len]
        return cls(np.asarray(z["eve_codes"], dtype=np.int8), ec_bits,
                   np.asarray(z["eve_transcript"], dtype=np.int64) if has_rec else None,
                   frame_bits, int(z["eve_cascade_seed"][0]), tag, tag_bits)


def pass_record(codes: np.ndarray, ec=None, ver=None, alice: np.ndarray | None = None,
                bob: np.ndarray | None = None) -> EveRecord:
    """Eve's record of a pass reconciled by ``ec`` (Cascade or LDPC result, or None)
    and verified by ``ver`` (:class:`satqkd.keys.verification.VerificationResult` or None).

    ``codes``: :func:`eve_codes` per sifted bit; ``alice``, ``bob``: both raw keys, needed
    when she has records of Bob's bits (:func:`alice_codes`): a correct Cascade run (Bob
    ends with Alice's key) makes the error pattern public."""
    transcript = getattr(ec, "transcript", None) if ec is not None else None
    codes = np.asarray(codes, dtype=np.int8)
    if codes.size and codes.max() >= EVE_CODE_BOB:
        if alice is None or bob is None:
            raise ValueError("records of Bob's bits need both raw keys")
        public = transcript is not None and np.array_equal(ec.bob_corrected, alice)
        codes = alice_codes(codes, alice, bob, public)
    return EveRecord(codes,
                     int(ec.leaked_bits) if ec is not None else 0, transcript,
                     int(getattr(ec, "frame_bits", 0)), int(getattr(ec, "seed", 0)),
                     ver.seed if ver is not None and ver.seed is not None else None,
                     int(ver.tag_bits) if ver is not None and ver.seed is not None else 0)


def disclosed_record(alice: np.ndarray) -> EveRecord:
    """A pass whose raw key Alice disclosed (a pooled pass that could not be reconciled):
    Eve knows every bit."""
    return EveRecord(np.asarray(alice, dtype=np.int8))


def block_knowledge(alice: np.ndarray, records: list[EveRecord], final_key: np.ndarray | None,
                    pa_seed: np.ndarray | None, eps_sec: float, rng: np.random.Generator,
                    exact_word_ops: float = EXACT_WORD_OPS) -> EveKnowledge:
    """Eve's knowledge of the key hashed from the concatenation ``alice`` of the passes
    of ``records`` (one pass, or a pooled block): :func:`knowledge` with her codes joined
    and the passes' public rows side by side (each pass's functions touch its own bits
    only; the PA seed spans all)."""
    codes = (np.concatenate([r.codes for r in records]) if records
             else np.zeros(0, np.int8))
    offsets = np.cumsum([0] + [r.n for r in records])
    if offsets[-1] != np.asarray(alice).size:
        raise ValueError("Eve's records do not cover the key")

    def public_rows(col_of):
        width = int(col_of.max()) + 1 if col_of.size else 0
        parts = [np.zeros((0, (width + 63) // 64), np.uint64)]
        for r, off in zip(records, offsets[:-1]):
            parts.append(r.rows(col_of[off:off + r.n], width))
        return np.concatenate(parts)

    known = all(r.rows_known for r in records)
    return knowledge(alice, codes, public_rows if known else None, final_key, pa_seed, eps_sec,
                     rng, n_public=sum(r.n_public for r in records),
                     exact_word_ops=exact_word_ops)
