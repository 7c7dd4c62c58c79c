"""Ground fibre links from a city to a ground station: decoy-state BB84 over trusted nodes.

Rate-distance model: asymptotic decoy-state BB84 with an infinite number of decoy
intensities (Lo, Ma, Chen, PRL 94, 230504 (2005); Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005),
section II, eqs. 1-11, with the detector model of their section III)::

    eta      = eta_det * 10^(-alpha L / 10)                      channel x detector transmittance
    Y_0      = p_dark                                             vacuum yield (dark counts per pulse)
    Y_1      = Y_0 + eta                                          single-photon yield (Ma et al. eq. 4,
                                                                  Y_n ~ Y_0 + eta_n, the Y_0 eta_n term dropped)
    e_1      = (e_0 Y_0 + e_d eta) / Y_1,      e_0 = 1/2          single-photon error rate
    Q_mu     = Y_0 + 1 - exp(-eta mu)                             gain of the signal state
    E_mu     = (e_0 Y_0 + e_d (1 - exp(-eta mu))) / Q_mu          QBER of the signal state
    Q_1      = Y_1 mu exp(-mu)                                    single-photon gain
    R        = q { -Q_mu f H2(E_mu) + Q_1 [1 - H2(e_1)] }         GLLP key per pulse

(Gottesman, Lo, Lutkenhaus, Preskill, Quantum Inf. Comput. 4, 325 (2004)), with ``q`` the
sifting factor (1/2 for BB84 with equal basis choice), ``f`` the error-correction
inefficiency and ``H2`` the binary entropy.  With infinitely many decoys ``Y_1`` and ``e_1``
are known exactly, so this is the upper envelope of practical (vacuum + weak) decoy
schemes, which Ma et al. show come within a few per cent of it.  The mean photon number
``mu`` is optimised at every distance unless given.

The default parameters are those of the GYS experiment (Gobby, Yuan, Shields, APL 84, 3762
(2004)) used by Ma et al. (Table I): ``eta_det = 4.5 %`` (Bob's optics and detector),
``p_dark = 1.7e-6`` per pulse, ``e_d = 3.3 %``, ``f = 1.22``, except the fibre loss, taken as
0.2 dB/km (modern G.652 at 1550 nm; GYS had 0.21 dB/km).  With 0.21 dB/km the model gives
Ma et al.'s maximal distance of about 142 km; with 0.2 dB/km about 149 km.

Trusted-node chain: a city-station link of length L with trusted nodes every ``s`` km has
``n = ceil(L / s)`` hops of ``L / n`` km (or the hop lengths given explicitly).  Each hop
runs its own QKD link and the nodes forward key hop by hop with one-time pads, so the
chain delivers end-to-end key at the rate of its weakest hop::

    C_chain = source_rate * min_i R(L_i)                                          [bit/s]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

__all__ = [
    "FibreQKDParams",
    "FibreLink",
    "binary_entropy",
    "decoy_bb84_key_per_pulse",
    "optimal_key_per_pulse",
    "fibre_key_rate_bps",
    "cutoff_distance_km",
    "hop_lengths_km",
    "fibre_link_capacity_bps",
]


@dataclass(frozen=True)
class FibreQKDParams:
    """Decoy-state BB84 fibre link parameters (defaults: GYS, Ma et al. PRA 72, 012326, Table I).

    Attributes:
        attenuation_db_per_km: fibre loss alpha (0.2 dB/km, standard single-mode at 1550 nm).
        detector_efficiency: eta_det, Bob's total efficiency (optics x detector), 0.045.
        dark_count_probability: Y_0, background click probability per pulse, 1.7e-6.
        misalignment_error: e_d, probability that a photon hits the wrong detector, 0.033.
        ec_inefficiency: f >= 1, error correction leak / Shannon limit, 1.22.
        source_rate_hz: pulse repetition rate, 1e8 Hz (GYS ran at 2 MHz; a design value).
        sifting_factor: q, fraction of pulses in matching bases (1/2 for symmetric BB84;
            close to 1 for efficient BB84, Lo, Chau, Ardehali, J. Cryptol. 18, 133 (2005)).
        mu: signal mean photon number; ``None`` optimises it at each distance.
    """

    attenuation_db_per_km: float = 0.2
    detector_efficiency: float = 0.045
    dark_count_probability: float = 1.7e-6
    misalignment_error: float = 0.033
    ec_inefficiency: float = 1.22
    source_rate_hz: float = 1.0e8
    sifting_factor: float = 0.5
    mu: float | None = None

    def __post_init__(self) -> None:
        if self.attenuation_db_per_km < 0:
            raise ValueError("attenuation_db_per_km must be >= 0")
        if not 0 < self.detector_efficiency <= 1:
            raise ValueError("detector_efficiency must be in (0, 1]")
        if not 0 <= self.dark_count_probability < 1:
            raise ValueError("dark_count_probability must be in [0, 1)")
        if not 0 <= self.misalignment_error < 0.5:
            raise ValueError("misalignment_error must be in [0, 0.5)")
        if self.ec_inefficiency < 1:
            raise ValueError("ec_inefficiency must be >= 1")
        if self.source_rate_hz <= 0:
            raise ValueError("source_rate_hz must be > 0")
        if not 0 < self.sifting_factor <= 1:
            raise ValueError("sifting_factor must be in (0, 1]")
        if self.mu is not None and self.mu <= 0:
            raise ValueError("mu must be > 0")


@dataclass(frozen=True)
class FibreLink:
    """A terrestrial fibre link from a city to a ground station through trusted nodes.

    Attributes:
        city: name of the city (a demand endpoint).
        station: name of the ground station the city is reached from.
        length_km: fibre length city-station; 0 means the city is at the station (no limit).
        trusted_node_spacing_km: maximum hop length; ``None`` means one hop (no node)
            unless ``hop_lengths_km`` is given.
        hop_lengths_km: explicit hop lengths (must add up to ``length_km``), for real
            networks with uneven node spacing; overrides the spacing.
        params: the QKD system used on every hop.
        lat_deg, lon_deg: city position, for maps only (optional).
    """

    city: str
    station: str
    length_km: float
    trusted_node_spacing_km: float | None = None
    hop_lengths_km: tuple[float, ...] | None = None
    params: FibreQKDParams = FibreQKDParams()
    lat_deg: float | None = None
    lon_deg: float | None = None

    def __post_init__(self) -> None:
        if self.length_km < 0:
            raise ValueError(f"fibre link {self.city}: length_km must be >= 0")
        if self.trusted_node_spacing_km is not None and self.trusted_node_spacing_km <= 0:
            raise ValueError(f"fibre link {self.city}: trusted_node_spacing_km must be > 0")
        if self.hop_lengths_km is not None:
            hops = np.asarray(self.hop_lengths_km, dtype=float)
            if hops.size == 0 or np.any(hops < 0):
                raise ValueError(f"fibre link {self.city}: hop lengths must be >= 0")
            if not math.isclose(float(hops.sum()), self.length_km, rel_tol=1e-6, abs_tol=1e-6):
                raise ValueError(
                    f"fibre link {self.city}: hop lengths add up to {hops.sum()} km, "
                    f"not length_km = {self.length_km}"
                )


def binary_entropy(p):
    """H2(p) = -p log2 p - (1-p) log2(1-p), with H2(0) = H2(1) = 0."""
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -p * np.log2(p) - (1.0 - p) * np.log2(1.0 - p)
    return np.where((p <= 0.0) | (p >= 1.0), 0.0, h)


def decoy_bb84_key_per_pulse(distance_km, mu, params: FibreQKDParams = FibreQKDParams(), clip: bool = True):
    """Asymptotic infinite-decoy BB84 secret key per emitted pulse (Ma et al. 2005, eqs. 1-11).

    ``R = q { -Q_mu f H2(E_mu) + Q_1 [1 - H2(e_1)] }`` (see the module docstring). Broadcasts
    over ``distance_km`` and ``mu``. With ``clip=False`` the negative values past the cutoff
    are returned (for root finding).
    """
    distance_km = np.asarray(distance_km, dtype=float)
    mu = np.asarray(mu, dtype=float)
    p = params
    eta = p.detector_efficiency * 10.0 ** (-p.attenuation_db_per_km * distance_km / 10.0)
    y0 = p.dark_count_probability
    e0 = 0.5
    y1 = y0 + eta
    e1 = (e0 * y0 + p.misalignment_error * eta) / y1
    click = -np.expm1(-eta * mu)  # 1 - exp(-eta mu) without cancellation at small eta mu
    q_mu = y0 + click
    e_mu = (e0 * y0 + p.misalignment_error * click) / q_mu
    q_1 = y1 * mu * np.exp(-mu)
    r = p.sifting_factor * (-q_mu * p.ec_inefficiency * binary_entropy(e_mu) + q_1 * (1.0 - binary_entropy(e1)))
    return np.maximum(r, 0.0) if clip else r


def _best_mu(distance_km: float, params: FibreQKDParams) -> tuple[float, float]:
    """(mu*, R(mu*)) maximising the unclipped key per pulse at one distance."""
    res = minimize_scalar(
        lambda m: -float(decoy_bb84_key_per_pulse(distance_km, m, params, clip=False)),
        bounds=(1e-4, 1.5),
        method="bounded",
        options={"xatol": 1e-7},
    )
    return float(res.x), -float(res.fun)


def optimal_key_per_pulse(distance_km, params: FibreQKDParams = FibreQKDParams(), clip: bool = True):
    """Key per pulse at the optimal mean photon number (or at ``params.mu`` when it is set).

    Returns ``(R, mu)`` arrays shaped like ``distance_km``.
    """
    d = np.atleast_1d(np.asarray(distance_km, dtype=float))
    if params.mu is not None:
        mu = np.full(d.shape, params.mu)
        r = decoy_bb84_key_per_pulse(d, mu, params, clip=clip)
    else:
        pairs = [_best_mu(float(x), params) for x in d.ravel()]
        mu = np.array([m for m, _ in pairs]).reshape(d.shape)
        r = np.array([v for _, v in pairs]).reshape(d.shape)
        if clip:
            r = np.maximum(r, 0.0)
    shape = np.shape(distance_km)
    return r.reshape(shape), mu.reshape(shape)


def fibre_key_rate_bps(distance_km, params: FibreQKDParams = FibreQKDParams()):
    """Secret key rate of one fibre hop in bit/s: ``source_rate_hz * R(L)`` (R optimised over mu)."""
    r, _ = optimal_key_per_pulse(distance_km, params)
    return params.source_rate_hz * r


def cutoff_distance_km(params: FibreQKDParams = FibreQKDParams()) -> float:
    """Distance beyond which the key rate is zero: the root of max_mu R(L, mu) (unclipped).

    Found by Brent's method between 0 km and the distance where the channel transmittance
    equals the dark count probability (no key can survive there: e_1 >= 1/4 already).
    """

    def f(length_km: float) -> float:
        return float(optimal_key_per_pulse(length_km, params, clip=False)[0])

    if f(0.0) <= 0.0:
        return 0.0
    hi = 10.0 * math.log10(params.detector_efficiency / params.dark_count_probability) / max(
        params.attenuation_db_per_km, 1e-12
    ) if params.dark_count_probability > 0 else 1.0e4
    hi = max(hi, 1.0)
    while f(hi) > 0.0:  # zero dark counts and zero loss corner cases
        hi *= 2.0
        if hi > 1e7:
            return math.inf
    return float(brentq(f, 0.0, hi, xtol=1e-6))


def hop_lengths_km(link: FibreLink) -> np.ndarray:
    """Hop lengths of the trusted-node chain: explicit, or ``ceil(L/s)`` equal hops of ``L/n``."""
    if link.hop_lengths_km is not None:
        return np.asarray(link.hop_lengths_km, dtype=float)
    if link.length_km == 0:
        return np.zeros(0)
    if link.trusted_node_spacing_km is None:
        return np.array([float(link.length_km)])
    n = max(1, math.ceil(link.length_km / link.trusted_node_spacing_km - 1e-12))
    return np.full(n, link.length_km / n)


def fibre_link_capacity_bps(link: FibreLink) -> float:
    """End-to-end key capacity of a trusted-node chain in bit/s: its weakest hop's rate.

    ``inf`` for a zero-length link (the city is the station).
    """
    hops = hop_lengths_km(link)
    hops = hops[hops > 0]
    if hops.size == 0:
        return math.inf
    return float(np.min(fibre_key_rate_bps(hops, link.params)))
