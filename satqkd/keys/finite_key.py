"""Finite-key and asymptotic secret-key lengths for three-intensity decoy-state BB84.

Finite key: Lim, Curty, Walenta, Xu, Zbinden, "Concise security bounds for practical
decoy-state quantum key distribution", PRA 89, 022307 (2014) (arXiv:1311.7129), here
called *Lim14*.  The paper extracts key from basis X and tests in Z; satqkd extracts key
from **Z** (the biased basis, probability ``p_z``) and tests in **X**, so every X/Z label of
the paper is swapped below.  Key from all three intensities, as in the paper.

Key length (Lim14 eq. 1)::

    ell = floor( s_Z0 + s_Z1 (1 - h(phi_Z)) - lambda_EC
                 - 6 log2(21/eps_sec) - log2(2/eps_cor) )

with (Lim14 eqs. 2-4 and the text after them; k runs over mu1 > mu2 + mu3, mu2 > mu3 >= 0)::

    tau_n     = sum_k exp(-mu_k) mu_k^n p_k / n!
    n^pm_k    = exp(mu_k) / p_k * (n_k pm delta)                  (tail bound, see below)
    s_0^l     = tau_0 (mu2 n^-_mu3 - mu3 n^+_mu2) / (mu2 - mu3)                 (eq. 2)
    s_1^l     = tau_1 mu1 [ n^-_mu2 - n^+_mu3 - (mu2^2 - mu3^2)/mu1^2 (n^+_mu1 - s_0^l/tau_0) ]
                / (mu1 (mu2 - mu3) - mu2^2 + mu3^2)                              (eq. 3)
    v_X1^u    = tau_1 (m^+_X,mu2 - m^-_X,mu3) / (mu2 - mu3)                      (eq. 4)
    phi_Z^u   = v_X1/s_X1 + gamma(eps_sec, v_X1/s_X1, s_X1, s_Z1)
    gamma(a, b, c, d) = sqrt( (c+d)(1-b)b / (c d ln 2) * log2( (c+d)/(c d (1-b) b) * 21^2/a^2 ) )

Tail bounds on the expected counts n*_k from the observed n_k (failure eps_sec/21 each):

* ``"hoeffding"`` (Lim14): n*_k in n_k -+ sqrt(n/2 ln(21/eps_sec)), n the basis total
  (n_Z or n_X for the counts, m_X for the errors).
* ``"chernoff"``: multiplicative Chernoff bound on each count separately (Chernoff 1952;
  inverted as in Sidhu et al., npj Quantum Inf. 8, 18 (2022), Methods, and their SatQuMA
  code), beta = ln(21/eps_sec)::

      n*^u = n + beta + sqrt(2 beta n + beta^2)          (lower tail exp(-d^2 mu/2))
      n*^l = n - beta/2 - sqrt(2 beta n + beta^2/4)

  The direct inversion of the upper tail exp(-d^2 mu/(2+d)) gives n + beta/2 - sqrt(...);
  the published form used here is lower by beta, i.e. more conservative.

Two-way reconciliation (Tupkary & Lutkenhaus, "Using Cascade in quantum key distribution",
Phys. Rev. Applied 20, 064040 (2023), arXiv:2307.00576).  Eq. 1 charges lambda_EC for the
messages Alice sends.  When Bob talks back (Cascade's replies, a blind LDPC code's
success flags), his messages are public functions of his raw key; in the rounds where
Alice sent vacuum, Bob's bits may be Eve's own (she can inject light), so his replies,
joined to Alice's parities, tell Eve parities of Alice's vacuum bits.  Two bounds remain
valid, and the larger is used (both hold on the same parameter-estimation events, so
their maximum does too)::

    ell_TL    = s_Z1 (1 - h(phi_Z)) - lambda_A - overhead          (T&L: no vacuum credit)
    ell_chain = s_Z0 + s_Z1 (1 - h(phi_Z)) - lambda_A - lambda_B - overhead

``ell_chain`` is the chain rule for the smooth min-entropy over the *whole* transcript
(H_min(Z|E C) >= H_min(Z|E) - log2|C|, Renner 2005, Lemma 3.1.10 / Tomamichel et al.
2012): every bit either party sends is charged, and the vacuum bits keep their credit.
For one-way reconciliation (lambda_B = 0) ``ell_chain`` is Lim14 eq. 1 and always wins.

Asymptotic comparison: Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), vacuum + weak decoy
(their eqs. 34, 37, 38 generalised to a weak third intensity by the infinite-statistics
limit of Lim14 eqs. 2-4), inside the GLLP rate
R = q { -Q_mu f H(E_mu) + Q_1 (1 - H(e_1)) } (Gottesman, Lo, Lutkenhaus, Preskill,
Quantum Inf. Comput. 4, 325 (2004)).

All bounds broadcast over leading axes: counts have the intensity axis LAST and are
ordered like ``intensities`` (any order; they are sorted internally), so a vectorised call
from expected counts (parameter optimisation) is a single call.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

#: Abort reasons recorded by the keys stage ("" means no abort).
ABORT_QBER = "qber_above_threshold"
ABORT_NO_SINGLE_PHOTON = "no_single_photon_bound"
ABORT_NON_POSITIVE = "non_positive_length"
ABORT_NO_TEST = "no_test_events"
ABORT_EC_FAILED = "ec_failed"
ABORT_VERIFICATION = "verification_failed"
ABORT_BELL_TEST = "bell_test_failed"  # entangled modes (satqkd.keys.bbm92)
ABORT_DAYLIGHT = "daylight"  # the mission stage ran no QKD: Sun up, night-only operation
ABORT_OVERCAST = "overcast"  # the mission stage ran no QKD: no clear second
ABORT_SUNLIT = "sunlit"  # the mission stage ran no QKD: satellite sunlit, shadow-only operation
ABORT_TOO_SHORT = "too_short"  # the pass has no sample at the mission's time step
ABORT_MISMATCH = "efficiency_mismatch"  # unequal detector efficiencies: no bound certifies it
ABORT_POOLED = "pooled"  # pooled finite-key block: the key is reported on the closing pass
ABORT_REASONS = (
    ABORT_QBER,
    ABORT_NO_SINGLE_PHOTON,
    ABORT_NON_POSITIVE,
    ABORT_NO_TEST,
    ABORT_EC_FAILED,
    ABORT_VERIFICATION,
    ABORT_BELL_TEST,
    ABORT_DAYLIGHT,
    ABORT_OVERCAST,
    ABORT_SUNLIT,
    ABORT_TOO_SHORT,
    ABORT_MISMATCH,
    ABORT_POOLED,
)

TAIL_BOUNDS = ("hoeffding", "chernoff")


# --------------------------------------------------------------------------- helpers
def binary_entropy(p):
    """Binary Shannon entropy h(p) = -p log2 p - (1-p) log2(1-p), with h(0) = h(1) = 0."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p * np.log2(p) - (1.0 - p) * np.log2(1.0 - p)
    h = np.where((p <= 0.0) | (p >= 1.0), 0.0, h)
    return h if h.ndim else float(h)


def lim_gamma(a, b, c, d):
    """Lim14's sampling term gamma(a, b, c, d) (after eq. 4).

    ``sqrt((c+d)(1-b)b / (c d ln 2) * log2((c+d) / (c d (1-b) b) * 21**2 / a**2))``;
    a = eps_sec, b = observed single-photon error ratio in the test basis, c and d the
    single-photon counts of the test and key bases.  b is clipped to [1e-300, 0.5]: for
    b -> 0 the expression tends to 0, above 0.5 the phase error is capped anyway.
    """
    b = np.clip(np.asarray(b, dtype=float), 1e-300, 0.5)
    c = np.asarray(c, dtype=float)
    d = np.asarray(d, dtype=float)
    cd = c * d
    # log2 of the argument summed term by term: no overflow as b -> 0
    log_inner = (np.log2((c + d) / cd) - np.log2((1.0 - b) * b)
                 + 2.0 * math.log2(21.0) - 2.0 * math.log2(a))
    val = (c + d) * (1.0 - b) * b / (cd * math.log(2.0)) * log_inner
    out = np.sqrt(np.maximum(val, 0.0))
    return out if out.ndim else float(out)


def security_overhead_bits(eps_sec: float = 1e-9, eps_cor: float = 1e-15) -> float:
    """Lim14 eq. 1 constant cost: 6 log2(21/eps_sec) + log2(2/eps_cor) (256.57 bits at defaults).

    The log2(2/eps_cor) term pays for the error-verification hash (its tag bits are not
    added to lambda_EC a second time)."""
    return 6.0 * math.log2(21.0 / eps_sec) + math.log2(2.0 / eps_cor)


def photon_number_probability(n: int, intensities, probabilities) -> float:
    """tau_n = sum_k exp(-mu_k) mu_k^n p_k / n!  (Lim14, after eq. 2)."""
    mu = np.asarray(intensities, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    return float(np.sum(np.exp(-mu) * mu**n * p) / math.factorial(n))


def _check_intensities(intensities, probabilities):
    mu = np.asarray(intensities, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if mu.shape != (3,) or p.shape != (3,):
        raise ValueError("decoy BB84 needs exactly three intensities and probabilities")
    if np.any(p <= 0.0) or abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"intensity probabilities must be positive and sum to 1, got {p}")
    order = np.argsort(-mu, kind="stable")
    m1, m2, m3 = mu[order]
    if not (m3 >= 0.0 and m2 > m3 and m1 > m2 + m3):
        raise ValueError(
            f"Lim et al. 2014 needs mu1 > mu2 + mu3 and mu2 > mu3 >= 0, got {mu.tolist()}")
    return mu[order], p[order], order


def count_bounds(counts, total, intensities, probabilities, eps_sec=1e-9, tail="hoeffding"):
    """Bounds n^-_k, n^+_k on exp(mu_k)/p_k times the expected counts (Lim14 after eq. 2).

    ``counts`` (..., 3) observed counts per intensity (same order as ``intensities``);
    ``total`` (...) the basis total used by the Hoeffding deviation (ignored by Chernoff).
    Returns (lower, upper), each (..., 3).
    """
    n = np.asarray(counts, dtype=float)
    mu = np.asarray(intensities, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    beta = math.log(21.0 / eps_sec)
    if tail == "hoeffding":
        delta = np.sqrt(np.asarray(total, dtype=float) / 2.0 * beta)[..., None]
        lo, hi = n - delta, n + delta
    elif tail == "chernoff":
        lo = n - beta / 2.0 - np.sqrt(2.0 * beta * n + beta * beta / 4.0)
        hi = n + beta + np.sqrt(2.0 * beta * n + beta * beta)
    else:
        raise ValueError(f"tail must be one of {TAIL_BOUNDS}, got {tail!r}")
    scale = np.exp(mu) / p
    return scale * lo, scale * hi


def vacuum_lower_bound(n_lo, n_hi, intensities, probabilities):
    """s_0^l = tau_0 (mu2 n^-_mu3 - mu3 n^+_mu2) / (mu2 - mu3) (Lim14 eq. 2), mu sorted."""
    m1, m2, m3 = intensities
    tau0 = photon_number_probability(0, intensities, probabilities)
    return tau0 * (m2 * n_lo[..., 2] - m3 * n_hi[..., 1]) / (m2 - m3)


def single_photon_lower_bound(n_lo, n_hi, s0_lower, intensities, probabilities):
    """s_1^l of Lim14 eq. 3 (intensities sorted mu1 > mu2 > mu3); uses the lower s_0 bound."""
    m1, m2, m3 = intensities
    tau0 = photon_number_probability(0, intensities, probabilities)
    tau1 = photon_number_probability(1, intensities, probabilities)
    bracket = (n_lo[..., 1] - n_hi[..., 2]
               - (m2 * m2 - m3 * m3) / (m1 * m1) * (n_hi[..., 0] - s0_lower / tau0))
    return tau1 * m1 * bracket / (m1 * (m2 - m3) - m2 * m2 + m3 * m3)


def single_photon_error_upper_bound(m_lo, m_hi, intensities, probabilities):
    """v_1^u = tau_1 (m^+_mu2 - m^-_mu3) / (mu2 - mu3)  (Lim14 eq. 4); intensities sorted."""
    m1, m2, m3 = intensities
    tau1 = photon_number_probability(1, intensities, probabilities)
    return tau1 * (m_hi[..., 1] - m_lo[..., 2]) / (m2 - m3)


# --------------------------------------------------------------------------- leaky devices
def trojan_coin_imbalance(mu_out):
    """Quantum-coin imbalance Delta of a Trojan-horse side channel (Lucamarini et al.,
    PRX 5, 031030 (2015)).

    Eve's back-reflected light is a coherent state |beta_b> whose phase (or polarisation)
    follows the modulator setting b; for settings a quarter turn apart,
    <beta|i beta> = exp(-mu_out (1 - i)), and the imbalance of the basis "quantum coin"
    (Gottesman, Lo, Lutkenhaus, Preskill 2004; Koashi 2009) is
        Delta = (1 - Re<beta|i beta>) / 2 = (1 - exp(-mu_out) cos(mu_out)) / 2,
    about mu_out / 2 for small mu_out. Leaks at both ends compose through the product of
    the overlaps: Delta = (1 - c_A c_B) / 2 <= Delta_A + Delta_B (c = exp(-mu) cos mu).
    """
    mu = np.asarray(mu_out, dtype=float)
    d = 0.5 * (1.0 - np.exp(-mu) * np.cos(mu))
    return d if d.ndim else float(d)


def leaky_phase_error(e, delta_prime):
    """Phase-error rate of a leaky source from the test-basis one (Lucamarini et al. 2015,
    after Lo & Preskill, Quantum Inf. Comput. 7, 431 (2007)):

        e' = e + 4 D (1 - D)(1 - 2e) + 4 (1 - 2D) sqrt(D (1 - D) e (1 - e)),

    D = Delta' = Delta / Y_1 the imbalance per detected single photon (Eve may keep only
    the detections where the coin is most biased). Capped at 1/2; D >= 1/2 gives 1/2.
    """
    e = np.clip(np.asarray(e, dtype=float), 0.0, 0.5)
    d = np.clip(np.asarray(delta_prime, dtype=float), 0.0, 0.5)
    out = e + 4 * d * (1 - d) * (1 - 2 * e) + 4 * (1 - 2 * d) * np.sqrt(d * (1 - d) * e * (1 - e))
    out = np.where(d >= 0.5, 0.5, np.minimum(out, 0.5))
    return out if out.ndim else float(out)


# --------------------------------------------------------------------------- finite key
@dataclass(frozen=True)
class FiniteKeyResult:
    """Bounds and key length of one finite-key block (Lim14, key basis Z, test basis X)."""

    length: int  # final secret key length ell (>= 0)
    length_raw: float  # the bracket of eq. 1 before floor and clipping
    s_z0: float  # lower bound, vacuum events in the key basis
    s_z1: float  # lower bound, single-photon events in the key basis
    s_x0: float  # lower bound, vacuum events in the test basis
    s_x1: float  # lower bound, single-photon events in the test basis
    v_x1: float  # upper bound, single-photon bit errors in the test basis
    phi_z: float  # upper bound, single-photon phase error rate of the key basis
    leaked_ec_bits: float  # lambda_EC used (lambda_A: bits Alice disclosed)
    overhead_bits: float  # 6 log2(21/eps_sec) + log2(2/eps_cor)
    abort_reason: str = ""
    reply_bits: float = 0.0  # lambda_B: bits Bob disclosed (two-way reconciliation)
    vacuum_credited: bool = True  # False: the Tupkary-Lutkenhaus bound (no s_Z0) was larger

    def asdict(self) -> dict:
        return asdict(self)


def finite_key_bounds(n_z, n_x, m_x, intensities, probabilities, leaked_ec_bits,
                      eps_sec: float = 1e-9, eps_cor: float = 1e-15, tail: str = "hoeffding",
                      reply_bits=0.0, overhead_bits=None, leak_delta: float = 0.0,
                      single_photon_trials=None):
    """Vectorised Lim14 bounds.  ``n_z``, ``n_x``, ``m_x``: (..., 3) counts per intensity
    (order of ``intensities``); ``leaked_ec_bits``: (...) lambda_A, the bits Alice
    disclosed; ``reply_bits``: (...) lambda_B, the bits Bob disclosed (0 for one-way
    reconciliation); ``overhead_bits``: the constant cost (default
    :func:`security_overhead_bits`; a pooled block of k verified passes pays k tags).
    ``leak_delta`` > 0: a Trojan-horse leak of declared size (:func:`trojan_coin_imbalance`);
    the phase error becomes :func:`leaky_phase_error` with Delta' = Delta / Y_1, Y_1 >=
    s_Z1 / ``single_photon_trials`` (the expected number of single-photon pulses Alice
    prepared in Z and Bob measured in Z; none given: Y_1 is unknown and no key is certified).

    Returns a dict of arrays: s_z0, s_z1, s_x0, s_x1, v_x1, phi_z, length_raw (the larger
    of the two brackets of the module docstring, eq. 1 when lambda_B = 0; floor and clip
    it yourself) and vacuum_credited (whether the bracket with s_Z0 was the larger).
    Lower bounds are clipped at 0 (a valid lower bound of a non-negative count); phi_z is
    0.5 wherever s_x1 or s_z1 is not positive.
    """
    mu, p, order = _check_intensities(intensities, probabilities)
    n_z = np.asarray(n_z, dtype=float)[..., order]
    n_x = np.asarray(n_x, dtype=float)[..., order]
    m_x = np.asarray(m_x, dtype=float)[..., order]
    nz_lo, nz_hi = count_bounds(n_z, n_z.sum(-1), mu, p, eps_sec, tail)
    nx_lo, nx_hi = count_bounds(n_x, n_x.sum(-1), mu, p, eps_sec, tail)
    mx_lo, mx_hi = count_bounds(m_x, m_x.sum(-1), mu, p, eps_sec, tail)

    s_z0 = np.maximum(vacuum_lower_bound(nz_lo, nz_hi, mu, p), 0.0)
    s_x0 = np.maximum(vacuum_lower_bound(nx_lo, nx_hi, mu, p), 0.0)
    s_z1 = np.maximum(single_photon_lower_bound(nz_lo, nz_hi, s_z0, mu, p), 0.0)
    s_x1 = np.maximum(single_photon_lower_bound(nx_lo, nx_hi, s_x0, mu, p), 0.0)
    # single-photon errors cannot exceed all observed test errors
    v_x1 = np.clip(single_photon_error_upper_bound(mx_lo, mx_hi, mu, p), 0.0, m_x.sum(-1))

    ok = (s_x1 > 0.0) & (s_z1 > 0.0)
    safe_sx1 = np.where(ok, s_x1, 1.0)
    safe_sz1 = np.where(ok, s_z1, 1.0)
    ratio = np.minimum(v_x1 / safe_sx1, 0.5)
    phi = ratio + lim_gamma(eps_sec, ratio, safe_sx1, safe_sz1)
    phi_z = np.where(ok, np.minimum(phi, 0.5), 0.5)
    if leak_delta > 0.0 and single_photon_trials is None:
        # Y_1 unknown: no conservative Delta' = Delta / Y_1 exists, so no key is certified
        phi_z = np.full_like(phi_z, 0.5)
    elif leak_delta > 0.0:
        y1 = np.minimum(
            s_z1 / np.maximum(np.asarray(single_photon_trials, dtype=float), 1e-300), 1.0)
        d_prime = np.where(y1 > 0, leak_delta / np.where(y1 > 0, y1, 1.0), 0.5)
        phi_z = np.where(ok, leaky_phase_error(phi_z, d_prime), 0.5)

    overhead = security_overhead_bits(eps_sec, eps_cor) if overhead_bits is None else overhead_bits
    single = s_z1 * (1.0 - binary_entropy(phi_z)) - np.asarray(leaked_ec_bits, dtype=float)
    chain = s_z0 + single - np.asarray(reply_bits, dtype=float)
    return {"s_z0": s_z0, "s_z1": s_z1, "s_x0": s_x0, "s_x1": s_x1, "v_x1": v_x1,
            "phi_z": phi_z, "length_raw": np.maximum(chain, single) - overhead,
            "vacuum_credited": chain >= single}


def finite_key_length(counts, intensities, probabilities, leaked_ec_bits: float,
                      eps_sec: float = 1e-9, eps_cor: float = 1e-15,
                      tail: str = "hoeffding", reply_bits: float = 0.0,
                      overhead_bits: float | None = None, leak_delta: float = 0.0,
                      single_photon_trials: float | None = None) -> FiniteKeyResult:
    """Secret key length of one block from its sifted statistics (Lim14 eq. 1).

    ``leaked_ec_bits`` is lambda_A (Alice's disclosures), ``reply_bits`` lambda_B (Bob's,
    two-way reconciliation: the Tupkary-Lutkenhaus rule of the module docstring applies).

    ``counts`` is a :class:`satqkd.keys.sifting.DecoyCounts` (or anything with ``n_z``,
    ``n_x``, ``m_x`` arrays per intensity).  Several passes may be accumulated into one
    block by summing their counts (``DecoyCounts.__add__``) and their ``leaked_ec_bits``;
    the length then applies to the concatenation of their reconciled keys, hashed in one
    privacy-amplification step.

    Guards: no test-basis events -> ``no_test_events``; no positive single-photon bound in
    either basis -> ``no_single_photon_bound``; a non-positive bracket ->
    ``non_positive_length``.  A length is never positive when an abort reason is set.
    """
    n_z = np.asarray(counts.n_z, dtype=float)
    n_x = np.asarray(counts.n_x, dtype=float)
    m_x = np.asarray(counts.m_x, dtype=float)
    overhead = security_overhead_bits(eps_sec, eps_cor) if overhead_bits is None else overhead_bits
    if n_x.sum() <= 0:
        nan = float("nan")
        return FiniteKeyResult(0, nan, nan, nan, nan, nan, nan, 0.5, float(leaked_ec_bits),
                               overhead, ABORT_NO_TEST, float(reply_bits), False)
    b = finite_key_bounds(n_z, n_x, m_x, intensities, probabilities, leaked_ec_bits,
                          eps_sec, eps_cor, tail, reply_bits, overhead, leak_delta,
                          single_photon_trials)
    vacuum = bool(b.pop("vacuum_credited"))
    vals = {k: float(v) for k, v in b.items()}
    if vals["s_z1"] <= 0.0 or vals["s_x1"] <= 0.0:
        reason = ABORT_NO_SINGLE_PHOTON
    elif vals["length_raw"] < 1.0:
        reason = ABORT_NON_POSITIVE
    else:
        reason = ""
    length = int(math.floor(vals["length_raw"])) if reason == "" else 0
    return FiniteKeyResult(length, vals["length_raw"], vals["s_z0"], vals["s_z1"],
                           vals["s_x0"], vals["s_x1"], vals["v_x1"], vals["phi_z"],
                           float(leaked_ec_bits), overhead, reason, float(reply_bits), vacuum)


# --------------------------------------------------------------------------- asymptotic
@dataclass(frozen=True)
class AsymptoticResult:
    """Ma et al. (2005) decoy bounds and the GLLP rate per signal pulse."""

    y0: float  # vacuum yield (lower bound)
    y1: float  # single-photon yield, lower bound
    q1: float  # single-photon gain of the signal, Y1 mu1 exp(-mu1)
    e1: float  # single-photon error rate, upper bound (capped at 0.5)
    rate_per_signal_pulse: float  # q {-Q_mu f H(E_mu) + Q1 (1 - H(e1))}, clipped at 0
    extra: dict = field(default_factory=dict)


def asymptotic_key_rate(intensities, gains, error_rates, f_ec: float = 1.16,
                        sifting_factor: float = 0.5) -> AsymptoticResult:
    """GLLP key rate with Ma et al. (2005) vacuum + weak decoy bounds.

    ``gains[k]`` = Q_k, detection probability per pulse of intensity k; ``error_rates[k]``
    = E_k, its QBER.  Intensities any order (sorted internally; the largest is the signal
    mu).  Ma et al. eqs. (with mu3 = 0 they are exactly eqs. 34-38 there):

        Y0   >= max(0, (mu2 Q3 e^mu3 - mu3 Q2 e^mu2) / (mu2 - mu3))
        Y1   >= mu1 / (mu1 (mu2 - mu3) - mu2^2 + mu3^2)
                * [Q2 e^mu2 - Q3 e^mu3 - (mu2^2 - mu3^2)/mu1^2 (Q1 e^mu1 - Y0)]
        e1   <= (E2 Q2 e^mu2 - E3 Q3 e^mu3) / ((mu2 - mu3) Y1)
        Q_1  = Y1 mu1 exp(-mu1),   R = q { -Q_mu1 f H(E_mu1) + Q_1 (1 - H(e1)) }

    The rate is per *signal* pulse (GLLP: key from the signal intensity only).
    """
    mu = np.asarray(intensities, dtype=float)
    order = np.argsort(-mu, kind="stable")
    m1, m2, m3 = mu[order]
    q = np.asarray(gains, dtype=float)[order]
    e = np.asarray(error_rates, dtype=float)[order]
    y0 = max(0.0, (m2 * q[2] * math.exp(m3) - m3 * q[1] * math.exp(m2)) / (m2 - m3))
    y1 = m1 / (m1 * (m2 - m3) - m2 * m2 + m3 * m3) * (
        q[1] * math.exp(m2) - q[2] * math.exp(m3)
        - (m2 * m2 - m3 * m3) / (m1 * m1) * (q[0] * math.exp(m1) - y0))
    if y1 <= 0.0:
        return AsymptoticResult(y0, 0.0, 0.0, 0.5, 0.0)
    e1 = (e[1] * q[1] * math.exp(m2) - e[2] * q[2] * math.exp(m3)) / ((m2 - m3) * y1)
    e1 = min(max(e1, 0.0), 0.5)
    q1 = y1 * m1 * math.exp(-m1)
    rate = sifting_factor * (-q[0] * f_ec * binary_entropy(e[0]) + q1 * (1.0 - binary_entropy(e1)))
    return AsymptoticResult(y0, y1, q1, e1, max(rate, 0.0))
