"""Entangled photon pairs from a satellite: dual and single downlinks, BBM92 and E91/CHSH.

Model (docs/entanglement.md has the derivations)
-------------------------------------------------
* **Source.** A continuous-wave pumped SPDC source (Micius: 405 nm pump, type-II PPKTP in
  a Sagnac loop, 810 nm pairs; Yin et al., Science 356, 1140 (2017)) emits pairs as a
  Poisson process of rate ``pair_rate_hz``. Why Poisson: each spectral-temporal mode of the
  down-converted field has thermal (Bose-Einstein) pair statistics, but a detection window
  of ~ns holds M = tau / tau_c ~ 10^3 modes (tau_c ~ lambda^2 / (c dlambda) ~ 1 ps for a
  few-nm filter); the sum of M thermal modes is negative binomial with
  g2(0) = 1 + 1/M -> Poisson (Avenhaus et al., PRL 101, 053601 (2008); Takesue & Shimizu,
  Opt. Commun. 283, 276 (2010)). Multi-pair events are then simply photons of two pairs
  emitted within one coincidence window, which the time-tag analysis treats as it does on
  real data.
* **Polarisation state.** A Bell state (``phi+``, ``phi-``, ``psi+``, ``psi-``) mixed with
  white noise so that the two-photon fringe visibility is V in the H/V basis and V_D in the
  diagonal basis (V_D = V: a Werner state). For linear polarisers at angles a, b the
  correlation is E(a, b) = u(a)^T diag(V, V_D) T u(b), u(x) = (cos 2x, sin 2x), with T =
  diag(1, 1), diag(1, -1), diag(-1, 1), diag(-1, -1) for phi+, phi-, psi+, psi-
  (e.g. phi+: E = V cos 2(a - b)). Marginals are uniform, so for settings i, j and outcomes
  s_A, s_B = +-1 the joint law is P = p_A,i p_B,j (1 + s_A s_B E_ij) / 4 (passive basis
  choice with probabilities p). A per-side ``misalignment`` e (polarisation reference
  error) flips outcomes with probability e, i.e. E -> (1 - 2 e_A)(1 - 2 e_B) E.
* **Channel and detectors.** Each photon independently reaches its station's analyser
  with the slot's transmittance eta (channel, atmosphere, on-board and ground optics;
  *detector efficiency excluded*, as in :mod:`satqkd.engine.params`) and is detected with
  its detector's efficiency. By the marking theorem of Poisson processes the pair
  emissions split into independent Poisson processes: detected on both sides at detectors
  (dA, dB), rate R eta_A eta_B P(dA, dB) eff_A eff_B; detected on one side only ("lone"
  photons); plus each detector's dark/background counts (counts/s). Nothing loops over
  emitted pairs: the detections are drawn directly (O(detections) time and memory).
* **Time tags and coincidences.** Pair tags get Gaussian timing jitter per side (detector,
  time tagger and clock synchronisation, rms); propagation delays are assumed compensated
  from the orbit. A coincidence is what the sorted-merge search over the tags finds within
  ``|t_A - t_B| <= tau / 2`` (window of full width tau). True coincidences occur at
  R eta_A eff_A eta_B eff_B erf(tau / (2 sqrt(2 (s_A^2 + s_B^2)))); accidentals (uncorrelated
  tags, including photons of different pairs) at S_A S_B tau for singles rates S_A, S_B.
* **Eavesdropper.** Intercept-resend on the photon to B (or on both): Eve measures at an
  angle drawn from ``angles_deg`` and resends the polarisation she found; for Bob's
  photon this maps T -> T M, M = <u(e) u(e)^T> over her angles (M = I/2 for two angles 45
  degrees apart): E halves, the BBM92 QBER reaches 25 % and S = sqrt(2) V <= 2.

Dead time and afterpulsing are not modelled: at ground singles rates of 10^3-10^4 /s and
Si-APD dead times of ~50 ns they remove < 0.1 % of the tags. On board (single downlink,
MHz singles) dead time is not negligible (~R eta eff tau_dead): fold it into the on-board
detector efficiency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import pairs_kernels as pk
from .params import EVE_GUESS_BOB, EVE_NONE, EVE_SURE_BOB
from .pairs_kernels import (
    KIND_MULTIPAIR,
    KIND_NOISE,
    KIND_TRUE,
    ORIGIN_LONE,
    ORIGIN_NOISE,
    ORIGIN_PAIR,
)

__all__ = [
    "BELL_STATES",
    "COINCIDENCE_DTYPE",
    "KIND_MULTIPAIR",
    "KIND_NOISE",
    "KIND_TRUE",
    "ORIGIN_LONE",
    "ORIGIN_NOISE",
    "ORIGIN_PAIR",
    "TAG_DTYPE",
    "ChshResult",
    "PairEavesdropper",
    "PairReceiver",
    "PairResult",
    "PairSource",
    "SiftedPairs",
    "bbm92_flips",
    "bbm92_receiver",
    "bell_test_passed",
    "capture_fraction",
    "chsh",
    "chsh_receivers",
    "chsh_signs",
    "class_rates",
    "correlation_counts",
    "correlation_matrix",
    "correlators",
    "dual_downlink_pass",
    "e91_receivers",
    "eve_coincidence_record",
    "eve_joint_probabilities",
    "eve_tag_record",
    "expected_rates",
    "ideal_correlations",
    "joint_detector_probabilities",
    "sift_bbm92",
    "single_downlink_pass",
]

#: Polarisation correlation matrices T of the Bell states in the (cos 2x, sin 2x) plane.
BELL_STATES = {
    "phi+": np.diag([1.0, 1.0]),
    "phi-": np.diag([1.0, -1.0]),
    "psi+": np.diag([-1.0, 1.0]),
    "psi-": np.diag([-1.0, -1.0]),
}

TAG_DTYPE = np.dtype(
    [
        ("time_s", np.float64),  # detection time from the start of the pass
        ("detector", np.int8),  # 2 * setting + outcome
        ("origin", np.int8),  # ORIGIN_PAIR, ORIGIN_LONE or ORIGIN_NOISE
        ("slot", np.int32),
        ("pair", np.int64),  # pair id shared by both tags of a detected pair, else -1
    ]
)

COINCIDENCE_DTYPE = np.dtype(
    [
        ("time_s", np.float64),  # B's tag time
        ("slot", np.int32),
        ("setting_a", np.int8),
        ("outcome_a", np.int8),
        ("setting_b", np.int8),
        ("outcome_b", np.int8),
        ("multi", np.int8),  # bit 0: A clicked more than once in the window, bit 1: B
        ("kind", np.int8),  # KIND_TRUE, KIND_MULTIPAIR or KIND_NOISE (simulator diagnostic)
    ]
)


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class PairSource:
    """CW-pumped SPDC polarisation-entangled pair source.

    Attributes
    ----------
    pair_rate_hz : pairs emitted per second into the two transmitters (Micius: 5.9e6,
        Yin et al. 2017).
    visibility : two-photon polarisation visibility in the H/V basis (Micius on-board
        source: ~0.91, Yin et al. 2017 supplementary).
    visibility_diagonal : visibility in the +-45 degree basis; None -> equal to
        ``visibility`` (Werner state). Micius: ~0.94 (Yin et al. 2017 supplementary).
    bell_state : "phi+", "phi-", "psi+" or "psi-", the target state.
    wavelength_nm : photon wavelength (Micius: 810 nm, both photons).
    filter_bandwidth_nm : spectral filter of the detection path; sets the coherence time
        tau_c = lambda^2 / (c dlambda) and so the number of modes per coincidence window
        (:meth:`modes_per_window`), which justifies the Poisson emission model.
    """

    pair_rate_hz: float = 5.9e6
    visibility: float = 0.91
    visibility_diagonal: float | None = 0.94
    bell_state: str = "phi+"
    wavelength_nm: float = 810.0
    filter_bandwidth_nm: float = 3.0

    def __post_init__(self) -> None:
        if self.pair_rate_hz < 0 or not math.isfinite(self.pair_rate_hz):
            raise ValueError("pair_rate_hz must be finite and >= 0")
        for v in (self.visibility, self.visibility_d):
            if not 0.0 <= v <= 1.0:
                raise ValueError("visibilities must be in [0, 1]")
        if self.bell_state not in BELL_STATES:
            raise ValueError(f"bell_state must be one of {tuple(BELL_STATES)}")
        if self.wavelength_nm <= 0 or self.filter_bandwidth_nm <= 0:
            raise ValueError("wavelength_nm and filter_bandwidth_nm must be > 0")

    @property
    def visibility_d(self) -> float:
        return self.visibility if self.visibility_diagonal is None else self.visibility_diagonal

    def coherence_time_s(self) -> float:
        """tau_c = lambda^2 / (c dlambda) of the filtered photons."""
        lam = self.wavelength_nm * 1e-9
        return lam * lam / (299792458.0 * self.filter_bandwidth_nm * 1e-9)

    def modes_per_window(self, window_s: float) -> float:
        """Temporal modes M = tau / tau_c in a window; Poisson statistics need M >> 1."""
        return window_s / self.coherence_time_s()


@dataclass(frozen=True)
class PairReceiver:
    """One station's polarisation analyser: passive choice among linear-polariser settings.

    Each setting k is a polarising beam splitter at ``analyser_angles_deg[k]`` with two
    detectors (outcome 0 at the angle, 1 at angle + 90 deg), detectors indexed 2k + outcome.

    Attributes
    ----------
    analyser_angles_deg : polariser angles (BBM92: 0, 45 -> Z = H/V, X = D/A).
    setting_probabilities : passive splitting ratios (sum 1).
    detector_efficiency : one value for all detectors or one per detector (2 per setting).
    misalignment : probability that the polarisation reference flips an outcome.
    timing_jitter_ps : rms time-tag error of this side (detector + tagger + clock sync).
    """

    analyser_angles_deg: tuple[float, ...] = (0.0, 45.0)
    setting_probabilities: tuple[float, ...] = (0.5, 0.5)
    detector_efficiency: float | tuple[float, ...] = 0.5
    misalignment: float = 0.0
    timing_jitter_ps: float = 350.0

    def __post_init__(self) -> None:
        n = len(self.analyser_angles_deg)
        if not 1 <= n <= 4:
            raise ValueError("1 to 4 analyser settings per station")
        if len(self.setting_probabilities) != n:
            raise ValueError("one setting probability per analyser angle")
        if any(p < 0 for p in self.setting_probabilities) or abs(sum(self.setting_probabilities) - 1) > 1e-9:
            raise ValueError("setting_probabilities must be >= 0 and sum to 1")
        eff = self.efficiencies
        if eff.shape != (2 * n,) or np.any(eff < 0) or np.any(eff > 1):
            raise ValueError("detector_efficiency: a value in [0, 1] or one per detector (2 per setting)")
        if not 0.0 <= self.misalignment <= 0.5:
            raise ValueError("misalignment must be in [0, 0.5]")
        if self.timing_jitter_ps < 0:
            raise ValueError("timing_jitter_ps must be >= 0")

    @property
    def n_settings(self) -> int:
        return len(self.analyser_angles_deg)

    @property
    def n_detectors(self) -> int:
        return 2 * self.n_settings

    @property
    def efficiencies(self) -> np.ndarray:
        e = np.atleast_1d(np.asarray(self.detector_efficiency, dtype=float))
        return np.full(2 * len(self.analyser_angles_deg), e[0]) if e.size == 1 else e

    @property
    def mean_efficiency(self) -> float:
        """Detection probability of a photon reaching the analyser (routing-weighted)."""
        p = np.repeat(np.asarray(self.setting_probabilities), 2) / 2.0
        return float(p @ self.efficiencies)


@dataclass(frozen=True)
class PairEavesdropper:
    """Intercept-resend on the pair: Eve measures in a random basis and resends.

    kind : "none" or "intercept-resend".
    target : "b" (the photon sent to station B) or "both".
    fraction : fraction of the photons Eve intercepts.
    angles_deg : polariser angles Eve picks from uniformly (0, 45: BB84 bases).
    """

    kind: str = "intercept-resend"
    target: str = "b"
    fraction: float = 1.0
    angles_deg: tuple[float, ...] = (0.0, 45.0)

    def __post_init__(self) -> None:
        if self.kind not in ("none", "intercept-resend"):
            raise ValueError("kind must be 'none' or 'intercept-resend'")
        if self.target not in ("b", "both"):
            raise ValueError("target must be 'b' or 'both'")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError("fraction must be in [0, 1]")
        if not self.angles_deg:
            raise ValueError("Eve needs at least one measurement angle")


def bbm92_receiver(detector_efficiency: float = 0.5, timing_jitter_ps: float = 350.0,
                   misalignment: float = 0.0) -> PairReceiver:
    """BBM92 analyser (Bennett, Brassard, Mermin, PRL 68, 557 (1992)): Z = 0 deg, X = 45 deg."""
    return PairReceiver((0.0, 45.0), (0.5, 0.5), detector_efficiency, misalignment, timing_jitter_ps)


def e91_receivers(detector_efficiency: float = 0.5, timing_jitter_ps: float = 350.0,
                  misalignment: float = 0.0) -> tuple[PairReceiver, PairReceiver]:
    """E91 analysers (Ekert, PRL 67, 661 (1991), polariser form): Alice 0, 22.5, 45 deg;
    Bob 0, 22.5, -22.5 deg, each chosen with probability 1/3. Matching settings (0, 0) and
    (1, 1) give key; CHSH uses Alice {0, 2} x Bob {1, 2}."""
    p = (1 / 3, 1 / 3, 1 / 3)
    return (PairReceiver((0.0, 22.5, 45.0), p, detector_efficiency, misalignment, timing_jitter_ps),
            PairReceiver((0.0, 22.5, -22.5), p, detector_efficiency, misalignment, timing_jitter_ps))


def chsh_receivers(detector_efficiency: float = 0.5, timing_jitter_ps: float = 350.0,
                   misalignment: float = 0.0) -> tuple[PairReceiver, PairReceiver]:
    """Two-setting Bell-test analysers: Alice 0, 45 deg; Bob 22.5, 67.5 deg (Clauser, Horne,
    Shimony, Holt, PRL 23, 880 (1969); the settings of Yin et al. 2017's Bell test)."""
    return (PairReceiver((0.0, 45.0), (0.5, 0.5), detector_efficiency, misalignment, timing_jitter_ps),
            PairReceiver((22.5, 67.5), (0.5, 0.5), detector_efficiency, misalignment, timing_jitter_ps))


# --------------------------------------------------------------------------- correlations
def _u(angle_deg) -> np.ndarray:
    x = 2.0 * np.deg2rad(np.asarray(angle_deg, dtype=float))
    return np.stack([np.cos(x), np.sin(x)], axis=-1)


def correlation_matrix(source: PairSource, eve: PairEavesdropper | None = None) -> np.ndarray:
    """Effective 2x2 correlation matrix C with E(a, b) = u(a)^T C u(b).

    C = diag(V, V_D) T for the source; intercept-resend on B with fraction f gives
    C ((1 - f) I + f M), on both photons ((1 - f) I + f M) C ((1 - f) I + f M), with
    M = <u(e) u(e)^T>_e over Eve's angles (Eve's result on one photon steers the other to
    u(e) with correlation C, and she resends the pure state u(e)).
    """
    c = np.diag([source.visibility, source.visibility_d]) @ BELL_STATES[source.bell_state]
    if eve is None or eve.kind == "none" or eve.fraction == 0.0:
        return c
    ue = _u(eve.angles_deg)
    m = ue.T @ ue / len(eve.angles_deg)
    k = (1.0 - eve.fraction) * np.eye(2) + eve.fraction * m
    return c @ k if eve.target == "b" else k @ c @ k


def ideal_correlations(source: PairSource, station_a: PairReceiver, station_b: PairReceiver,
                       eve: PairEavesdropper | None = None) -> np.ndarray:
    """E_ij for every setting pair, with visibility, Eve and misalignment: (n_a, n_b)."""
    c = correlation_matrix(source, eve)
    e = _u(station_a.analyser_angles_deg) @ c @ _u(station_b.analyser_angles_deg).T
    return e * (1.0 - 2.0 * station_a.misalignment) * (1.0 - 2.0 * station_b.misalignment)


def joint_detector_probabilities(source: PairSource, station_a: PairReceiver, station_b: PairReceiver,
                                 eve: PairEavesdropper | None = None) -> np.ndarray:
    """P(dA, dB) that both photons of a pair are routed to detectors dA, dB (before efficiency).

    P = p_A,i p_B,j (1 + s_A s_B E_ij) / 4, d = 2 setting + outcome, s = +1 (outcome 0), -1.
    """
    e = ideal_correlations(source, station_a, station_b, eve)
    pa = np.asarray(station_a.setting_probabilities)
    pb = np.asarray(station_b.setting_probabilities)
    s = np.array([1.0, -1.0])
    p = (pa[:, None, None, None] * pb[None, None, :, None]
         * (1.0 + s[None, :, None, None] * s[None, None, None, :] * e[:, None, :, None]) / 4.0)
    return p.reshape(station_a.n_detectors, station_b.n_detectors)


# --------------------------------------------------------------------------- inputs
def _per_slot(x, n_slots: int, n_det: int, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        a = np.full((n_slots, n_det), float(a))
    elif a.ndim == 1:
        if a.shape[0] != n_slots:
            raise ValueError(f"{name}: need one value per slot ({n_slots})")
        a = np.repeat(a[:, None], n_det, axis=1)
    if a.shape != (n_slots, n_det):
        raise ValueError(f"{name} must be scalar, (n_slots,) or (n_slots, {n_det})")
    if np.any(~np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name} must be finite and >= 0 (counts/s per detector)")
    return np.ascontiguousarray(a)


def _transmittance(x, name: str) -> np.ndarray:
    eta = np.ascontiguousarray(x, dtype=np.float64)
    if eta.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per slot)")
    if np.any(~np.isfinite(eta)) or np.any(eta < 0) or np.any(eta > 1):
        raise ValueError(f"{name} must be in [0, 1]")
    return eta


def class_rates(transmittance_a: np.ndarray, transmittance_b: np.ndarray, noise_a: np.ndarray,
                noise_b: np.ndarray, source: PairSource, station_a: PairReceiver,
                station_b: PairReceiver, eve: PairEavesdropper | None = None) -> np.ndarray:
    """Rates (counts/s) of the independent detection classes per slot, kernel layout.

    pair (dA, dB): R eta_A eta_B P(dA, dB) eff_A[dA] eff_B[dB]
    lone A at dA:  R eta_A eff_A[dA] (P_A(dA) - eta_B sum_dB P(dA, dB) eff_B[dB]), P_A the marginal
    (and symmetrically for B), then the per-detector noise rates.
    """
    p = joint_detector_probabilities(source, station_a, station_b, eve)
    ea, eb = station_a.efficiencies, station_b.efficiencies
    r = source.pair_rate_hz
    ta = transmittance_a[:, None]
    tb = transmittance_b[:, None]
    both = r * (ta * tb)[:, :, None] * (p * ea[:, None] * eb[None, :])[None]
    lone_a = r * ta * ea[None] * (p.sum(1)[None] - tb * (p @ eb)[None])
    lone_b = r * tb * eb[None] * (p.sum(0)[None] - ta * (ea @ p)[None])
    n = transmittance_a.shape[0]
    return np.ascontiguousarray(np.concatenate(
        [both.reshape(n, -1), np.maximum(lone_a, 0.0), noise_a, np.maximum(lone_b, 0.0), noise_b], axis=1))


# --------------------------------------------------------------------------- Eve's record
def _eve_records(eve: PairEavesdropper | None) -> bool:
    """Eve's per-photon record is kept for intercept-resend on B's photon."""
    return (eve is not None and eve.kind == "intercept-resend" and eve.target == "b"
            and eve.fraction > 0.0)


def eve_joint_probabilities(source: PairSource, station_a: PairReceiver, station_b: PairReceiver,
                            eve: PairEavesdropper) -> np.ndarray:
    """J[dA, dB, v]: both photons routed to detectors dA, dB and Eve's record v of B's
    photon (v = 0: not intercepted; v = 1 + 2 k + o: measured at her angle k, outcome o).

    Not intercepted (1 - f): P = p_A p_B (1 + s_A s_B E_ab) / 4 as without Eve. Intercepted
    (f / K per angle e_k): her outcome on B's photon is correlated with A's as a B analyser
    at e_k would be, m_A u(a)^T C u(e_k); she resends the pure state u(e_k) (o = 0) or its
    orthogonal, which B's analyser finds with correlation m_B u(e_k)^T u(b) (Malus; m the
    misalignment factors 1 - 2e):

        P = p_A p_B / 8 (1 + s_A s_E m_A u(a)^T C u(e_k)) (1 + s_B s_E m_B u(e_k)^T u(b)).

    Summed over v this is :func:`joint_detector_probabilities` with Eve (the correlation
    C M of :func:`correlation_matrix`), so her record is drawn after the detections from
    J(v | dA, dB) without changing them.
    """
    c = np.diag([source.visibility, source.visibility_d]) @ BELL_STATES[source.bell_state]
    ua, ub, ue = (_u(x) for x in (station_a.analyser_angles_deg, station_b.analyser_angles_deg,
                                  eve.angles_deg))
    ma, mb = 1.0 - 2.0 * station_a.misalignment, 1.0 - 2.0 * station_b.misalignment
    pa = np.asarray(station_a.setting_probabilities)
    pb = np.asarray(station_b.setting_probabilities)
    s = np.array([1.0, -1.0])
    f, k = eve.fraction, len(eve.angles_deg)
    e0 = ma * mb * (ua @ c @ ub.T)  # (i, j)
    ea = ma * (ua @ c @ ue.T)  # (i, k): A vs Eve
    eb = mb * (ue @ ub.T)  # (k, j): Eve's state vs B
    # axes: i, oA, j, oB, then v
    pij = pa[:, None, None, None] * pb[None, None, :, None]
    none = (1.0 - f) * pij * (1.0 + s[None, :, None, None] * s[None, None, None, :]
                              * e0[:, None, :, None]) / 4.0
    # intercepted: axes i, oA, j, oB, k, oE
    left = 1.0 + (s[None, :, None, None, None, None] * s[None, None, None, None, None, :]
                  * ea[:, None, None, None, :, None])
    right = 1.0 + (s[None, None, None, :, None, None] * s[None, None, None, None, None, :]
                   * eb.T[None, None, :, None, :, None])
    hit = (f / k) * pij[..., None, None] * left * right / 8.0
    nda, ndb = station_a.n_detectors, station_b.n_detectors
    return np.concatenate([none.reshape(nda, ndb, 1), hit.reshape(nda, ndb, 2 * k)], axis=2)


def eve_tag_record(tags_a: np.ndarray, tags_b: np.ndarray, transmittance_a: np.ndarray,
                   source: PairSource, station_a: PairReceiver, station_b: PairReceiver,
                   eve: PairEavesdropper, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Eve's angle index and outcome (int8, -1: not intercepted) for every B tag.

    A pair photon's record is drawn from J(v | dA, dB) (its partner's detector from the
    shared pair id); a lone B photon's (partner lost) from sum_dA J(dA, dB, v)
    (1 - eta_A eff_A(dA)), normalised; a noise tag has none. Exact given the detections
    (chain rule), so they need not be drawn again."""
    j = eve_joint_probabilities(source, station_a, station_b, eve)
    n = tags_b.shape[0]
    w = np.zeros((n, j.shape[2]))
    pair = tags_b["origin"] == ORIGIN_PAIR
    if pair.any():
        sel = tags_a["origin"] == ORIGIN_PAIR
        det_a = np.full(int(max(tags_b["pair"].max(), tags_a["pair"].max())) + 1, -1, np.int64)
        det_a[tags_a["pair"][sel]] = tags_a["detector"][sel]
        da = det_a[tags_b["pair"][pair]]
        if np.any(da < 0):
            raise AssertionError("a paired B tag without its A tag")
        w[pair] = j[da, tags_b["detector"][pair]]
    lone = tags_b["origin"] == ORIGIN_LONE
    if lone.any():
        eff_a = station_a.efficiencies
        db = tags_b["detector"][lone]
        eta = np.asarray(transmittance_a)[tags_b["slot"][lone]]
        w[lone] = j.sum(0)[db] - eta[:, None] * np.einsum("a,abv->bv", eff_a, j)[db]
    w = np.maximum(w, 0.0)
    tot = w.sum(1)
    angle = np.full(n, -1, np.int8)
    result = np.full(n, -1, np.int8)
    has = tot > 0
    cum = np.cumsum(w[has], axis=1) / tot[has, None]
    v = np.minimum((rng.random(int(has.sum()))[:, None] >= cum).sum(1), w.shape[1] - 1)
    hit = v > 0
    idx = np.flatnonzero(has)[hit]
    angle[idx] = (v[hit] - 1) // 2
    result[idx] = (v[hit] - 1) % 2
    return angle, result


def eve_coincidence_record(coincidences: np.ndarray, tag_b: np.ndarray, n_tags_b: np.ndarray,
                           angle: np.ndarray, result: np.ndarray, station_b: PairReceiver,
                           eve: PairEavesdropper) -> tuple[np.ndarray, np.ndarray]:
    """Eve's bit for B's outcome in each coincidence and what it is worth once B's setting
    is public: her resent state is found by B's analyser with correlation
    c = m_B u(e)^T u(b); |c| = 1 and a single B click in the window: she knows B's outcome
    (``EVE_SURE_BOB``); c = 0: nothing; otherwise (misalignment, a 22.5 degree basis, or
    more B clicks, squashed) a noisy guess, her outcome flipped where c < 0."""
    k = angle[tag_b].astype(np.int64)
    o = result[tag_b]
    has = k >= 0
    b = np.asarray(station_b.analyser_angles_deg, dtype=float)[coincidences["setting_b"]]
    e = np.asarray(eve.angles_deg, dtype=float)[np.maximum(k, 0)]
    c = (1.0 - 2.0 * station_b.misalignment) * np.cos(2.0 * np.deg2rad(e - b))
    useful = has & (np.abs(c) > 1e-12)
    sure = useful & (np.abs(np.abs(c) - 1.0) < 1e-12) & (n_tags_b == 1)
    knows = np.full(k.size, EVE_NONE, np.int8)
    knows[useful] = EVE_GUESS_BOB
    knows[sure] = EVE_SURE_BOB
    bit = np.where(useful, o ^ (c < 0), -1).astype(np.int8)
    return bit, knows


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class PairResult:
    """One pass of the entangled-pair engine.

    Attributes
    ----------
    coincidences : COINCIDENCE_DTYPE array, in time order.
    counts : int64 (n_slots, n_set_a, n_set_b, 2, 2) coincidences per slot, settings and
        outcomes (after squashing).
    singles_a, singles_b : int64 (n_slots, n_detectors) detections per detector (all
        origins; on a window-sampled side the unmaterialised tags are drawn as counts).
    pairs_emitted : int64 (n_slots,) pairs the source emitted (exact joint draw).
    kinds : int64 (n_slots, 3) coincidences per kind (true, multi-pair, noise).
    tags_a, tags_b : TAG_DTYPE arrays (None unless ``keep_tags``); on a window-sampled side
        only the materialised tags.
    eve_bit_b, eve_knows_b : Eve's record per coincidence under intercept-resend on B
        (:func:`eve_tag_record`, :func:`eve_coincidence_record`), else None.
    slot_duration_s, coincidence_window_s : as used.
    n_settings_a, n_settings_b : analyser settings per side.
    """

    coincidences: np.ndarray
    counts: np.ndarray
    singles_a: np.ndarray
    singles_b: np.ndarray
    pairs_emitted: np.ndarray
    kinds: np.ndarray
    tags_a: np.ndarray | None
    tags_b: np.ndarray | None
    slot_duration_s: float
    coincidence_window_s: float
    n_settings_a: int
    n_settings_b: int
    #: simulator only, per coincidence: Eve's bit for B's outcome (-1: none) and what it
    #: is worth once the settings are public (EVE_SURE_BOB / EVE_GUESS_BOB / EVE_NONE);
    #: None without intercept-resend on B
    eve_bit_b: np.ndarray | None = None
    eve_knows_b: np.ndarray | None = None

    @property
    def eve_record(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(eve_bit_b, eve_knows_b) per coincidence, or None (no record)."""
        return None if self.eve_bit_b is None else (self.eve_bit_b, self.eve_knows_b)

    def correlators(self):
        """(E, N, sigma_E) per setting pair over the pass (see :func:`correlators`)."""
        return correlators(self.counts.sum(axis=0))

    def qber(self, setting_a: int, setting_b: int, anti: bool = False) -> float:
        """Error rate of the setting pair: outcomes differ (or agree when ``anti``)."""
        c = self.counts[:, setting_a, setting_b].sum(axis=0)
        n = c.sum()
        err = c[0, 0] + c[1, 1] if anti else c[0, 1] + c[1, 0]
        return float(err / n) if n else float("nan")


def _counts_from_coincidences(co: np.ndarray, n_slots: int, na: int, nb: int) -> np.ndarray:
    idx = (((co["slot"].astype(np.int64) * na + co["setting_a"]) * nb + co["setting_b"]) * 2
           + co["outcome_a"]) * 2 + co["outcome_b"]
    return np.bincount(idx, minlength=n_slots * na * nb * 4).reshape(n_slots, na, nb, 2, 2)


def _singles(tags: np.ndarray, n: int, n_slots: int, n_det: int) -> np.ndarray:
    idx = tags["slot"][:n].astype(np.int64) * n_det + tags["detector"][:n]
    return np.bincount(idx, minlength=n_slots * n_det).reshape(n_slots, n_det)


def _seed(rng: np.random.Generator) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63 - 1))))


def _simulate(eta_a, eta_b, noise_a, noise_b, slot_duration_s, source, station_a, station_b,
              rng, coincidence_window_s, eve, window_sample_a, keep_tags) -> PairResult:
    if slot_duration_s <= 0:
        raise ValueError("slot_duration_s must be > 0")
    if coincidence_window_s <= 0:
        raise ValueError("coincidence_window_s must be > 0")
    n_slots = eta_a.shape[0]
    if eta_b.shape[0] != n_slots:
        raise ValueError("both transmittance arrays need the same number of slots")
    na_det, nb_det = station_a.n_detectors, station_b.n_detectors
    rates = class_rates(eta_a, eta_b, noise_a, noise_b, source, station_a, station_b, eve)
    edges = np.arange(n_slots + 1, dtype=np.float64) * slot_duration_s
    n_pair_cat = na_det * nb_det
    a_single = slice(n_pair_cat, n_pair_cat + 2 * na_det)
    rates_a_single = np.ascontiguousarray(rates[:, a_single])
    gen_rates = rates.copy()
    if window_sample_a:
        gen_rates[:, a_single] = 0.0
    per_slot = gen_rates * slot_duration_s
    exp_pair = per_slot[:, :n_pair_cat].sum()
    exp_a = exp_pair + per_slot[:, a_single].sum()
    exp_b = exp_pair + per_slot[:, n_pair_cat + 2 * na_det:].sum()
    sig_a = station_a.timing_jitter_ps * 1e-12
    sig_b = station_b.timing_jitter_ps * 1e-12
    seed_gen = int(rng.integers(0, 2**63 - 1))
    cap_a = int(exp_a + 10.0 * math.sqrt(exp_a) + 64)
    cap_b = int(exp_b + 10.0 * math.sqrt(exp_b) + 64)
    while True:
        ta = np.empty(cap_a, dtype=TAG_DTYPE)
        tb = np.empty(cap_b, dtype=TAG_DTYPE)
        n_a, n_b = pk.generate_tags(
            np.random.Generator(np.random.PCG64(seed_gen)), edges, gen_rates, na_det, nb_det,
            sig_a, sig_b, ta["time_s"], ta["detector"], ta["origin"], ta["slot"], ta["pair"],
            tb["time_s"], tb["detector"], tb["origin"], tb["slot"], tb["pair"])
        if n_a >= 0:
            break
        cap_a, cap_b = 2 * cap_a, 2 * cap_b  # rare: redo with the same seed, same result
    ta, tb = ta[:n_a], tb[:n_b]
    half = 0.5 * coincidence_window_s
    singles_a = _singles(ta, n_a, n_slots, na_det)
    lone_a = np.bincount(ta["slot"][ta["origin"] == ORIGIN_LONE], minlength=n_slots)
    if window_sample_a:
        seed_w = int(rng.integers(0, 2**63 - 1))
        lam_a = rates_a_single.sum(axis=1)
        exp_w = float(np.max(lam_a, initial=0.0) * 2 * half * n_b)
        cap = int(exp_w + 10.0 * math.sqrt(exp_w) + 64)
        while True:
            tw = np.empty(cap, dtype=TAG_DTYPE)
            covered = np.zeros(n_slots)
            n_w = pk.window_singles(np.random.Generator(np.random.PCG64(seed_w)), edges, rates_a_single,
                                    tb["time_s"], n_b, half, tw["time_s"], tw["detector"], tw["origin"],
                                    tw["slot"], tw["pair"], covered)
            if n_w >= 0:
                break
            cap *= 2
        tw = tw[:n_w]
        # A's unpaired tags outside the windows: Poisson counts per class, independent of
        # the ones drawn inside (never materialised)
        outside = rng.poisson(rates_a_single * np.maximum(slot_duration_s - covered, 0.0)[:, None])
        singles_a = singles_a + _singles(tw, n_w, n_slots, na_det) \
            + outside[:, :na_det] + outside[:, na_det:]
        lone_a = lone_a + np.bincount(tw["slot"][tw["origin"] == ORIGIN_LONE], minlength=n_slots) \
            + outside[:, :na_det].sum(1)
        ta = np.concatenate([ta, tw])
        ta = ta[np.argsort(ta["time_s"], kind="stable")]
        n_a = ta.shape[0]
    singles_b = _singles(tb, n_b, n_slots, nb_det)

    m = max(min(n_a, n_b), 1)
    out = np.empty(m, dtype=COINCIDENCE_DTYPE)
    # Eve's per-photon record needs each coincidence's B tag (only under her attack)
    record = _eve_records(eve)
    tag_b = np.empty(m if record else 0, np.int64)
    nb_win = np.empty(m if record else 0, np.int32)
    nc = pk.coincidence_search(
        _seed(rng), ta["time_s"], ta["detector"], ta["origin"], ta["pair"], n_a,
        tb["time_s"], tb["detector"], tb["origin"], tb["slot"], tb["pair"], n_b, half,
        station_a.n_settings, station_b.n_settings, out["time_s"], out["slot"], out["setting_a"],
        out["outcome_a"], out["setting_b"], out["outcome_b"], out["multi"], out["kind"],
        tag_b, nb_win)
    co = out[:nc].copy()
    counts = _counts_from_coincidences(co, n_slots, station_a.n_settings, station_b.n_settings)
    kinds = np.bincount(co["slot"].astype(np.int64) * 3 + co["kind"],
                        minlength=3 * n_slots).reshape(n_slots, 3)
    # emitted pairs = detected somewhere (pair, lone A, lone B; independent Poisson classes)
    # + never detected, Poisson(R T - rates of the detected classes T)
    pair_n = np.bincount(tb["slot"][tb["origin"] == ORIGIN_PAIR], minlength=n_slots)
    lone_b = np.bincount(tb["slot"][tb["origin"] == ORIGIN_LONE], minlength=n_slots)
    r_detected = (rates[:, :n_pair_cat].sum(1) + rates[:, n_pair_cat:n_pair_cat + na_det].sum(1)
                  + rates[:, n_pair_cat + 2 * na_det:n_pair_cat + 2 * na_det + nb_det].sum(1))
    undetected = rng.poisson(np.maximum(source.pair_rate_hz - r_detected, 0.0) * slot_duration_s)
    pairs_emitted = (pair_n + lone_a + lone_b).astype(np.int64) + undetected
    eve_bit = eve_knows = None
    if record:  # drawn last, from a child generator: the physics draws are unchanged
        angle, result = eve_tag_record(ta, tb, eta_a, source, station_a, station_b, eve,
                                       _seed(rng))
        eve_bit, eve_knows = eve_coincidence_record(co, tag_b[:nc], nb_win[:nc], angle,
                                                    result, station_b, eve)
    return PairResult(
        coincidences=co, counts=counts, singles_a=singles_a, singles_b=singles_b,
        pairs_emitted=pairs_emitted, kinds=kinds,
        tags_a=ta if keep_tags else None, tags_b=tb if keep_tags else None,
        slot_duration_s=slot_duration_s, coincidence_window_s=coincidence_window_s,
        n_settings_a=station_a.n_settings, n_settings_b=station_b.n_settings,
        eve_bit_b=eve_bit, eve_knows_b=eve_knows)


def dual_downlink_pass(
    transmittance_a: np.ndarray,
    transmittance_b: np.ndarray,
    noise_rate_a,
    noise_rate_b,
    slot_duration_s: float,
    source: PairSource,
    station_a: PairReceiver,
    station_b: PairReceiver,
    rng: np.random.Generator,
    coincidence_window_s: float = 2.5e-9,
    eavesdropper: PairEavesdropper | None = None,
    keep_tags: bool = False,
    window_sample_a: bool = False,
) -> PairResult:
    """Simulate one dual-downlink pass: one photon of each pair to each of two stations.

    Parameters
    ----------
    transmittance_a, transmittance_b : (n_slots,) probability that a photon reaches the
        station's analyser in each slot (detector efficiency excluded).
    noise_rate_a, noise_rate_b : dark + background counts/s per detector: scalar,
        (n_slots,) or (n_slots, n_detectors).
    slot_duration_s : slot length (s); slot s covers [s T, (s + 1) T).
    source, station_a, station_b, eavesdropper : model parameters.
    rng : the only source of randomness (same state -> same result).
    coincidence_window_s : full width tau of the coincidence window (|t_A - t_B| <= tau/2).
    keep_tags : keep both sides' time tags in the result (memory O(detections)).
    window_sample_a : draw A's unpaired tags only near B's tags (exact for the
        coincidences; for a side with far more singles than the other).
    """
    eta_a = _transmittance(transmittance_a, "transmittance_a")
    eta_b = _transmittance(transmittance_b, "transmittance_b")
    n = eta_a.shape[0]
    noise_a = _per_slot(noise_rate_a, n, station_a.n_detectors, "noise_rate_a")
    noise_b = _per_slot(noise_rate_b, n, station_b.n_detectors, "noise_rate_b")
    return _simulate(eta_a, eta_b, noise_a, noise_b, slot_duration_s, source, station_a, station_b,
                     rng, coincidence_window_s, eavesdropper, window_sample_a, keep_tags)


def single_downlink_pass(
    transmittance: np.ndarray,
    noise_rate_ground,
    slot_duration_s: float,
    source: PairSource,
    onboard: PairReceiver,
    ground: PairReceiver,
    rng: np.random.Generator,
    onboard_transmittance: float = 1.0,
    onboard_dark_rate: float = 100.0,
    coincidence_window_s: float = 2.5e-9,
    eavesdropper: PairEavesdropper | None = None,
    keep_tags: bool = False,
) -> PairResult:
    """One photon of each pair measured on board (side A), the other sent to the ground (B).

    Yin et al., PRL 119, 200501 (2017) (Micius to Delingha). ``onboard`` carries the on-board
    analyser and detector efficiency; ``onboard_transmittance`` the on-board optics between
    source and analyser; ``onboard_dark_rate`` the dark counts/s per on-board detector. The
    on-board singles (MHz) are drawn only inside the windows around ground tags
    (``window_sample_a``), which is exact for the coincidences and keeps memory O(ground
    detections).
    """
    eta_b = _transmittance(transmittance, "transmittance")
    n = eta_b.shape[0]
    if not 0.0 <= onboard_transmittance <= 1.0:
        raise ValueError("onboard_transmittance must be in [0, 1]")
    eta_a = np.full(n, float(onboard_transmittance))
    noise_a = _per_slot(onboard_dark_rate, n, onboard.n_detectors, "onboard_dark_rate")
    noise_b = _per_slot(noise_rate_ground, n, ground.n_detectors, "noise_rate_ground")
    return _simulate(eta_a, eta_b, noise_a, noise_b, slot_duration_s, source, onboard, ground,
                     rng, coincidence_window_s, eavesdropper, True, keep_tags)


# --------------------------------------------------------------------------- analytics
def capture_fraction(window_s: float, jitter_a_ps: float, jitter_b_ps: float) -> float:
    """P(|dt| <= tau/2) for dt ~ N(0, s_A^2 + s_B^2): erf(tau / (2 sqrt(2 (s_A^2 + s_B^2))))."""
    s = math.hypot(jitter_a_ps, jitter_b_ps) * 1e-12
    if s == 0.0:
        return 1.0
    return math.erf(0.5 * window_s / (math.sqrt(2.0) * s))


def expected_rates(transmittance_a, transmittance_b, noise_rate_a, noise_rate_b, source: PairSource,
                   station_a: PairReceiver, station_b: PairReceiver,
                   coincidence_window_s: float = 2.5e-9,
                   eavesdropper: PairEavesdropper | None = None) -> dict:
    """Analytic per-slot rates (counts/s): singles, true and accidental coincidences.

    singles_X = R eta_X eff_X + sum of noise rates; true = R eta_A eta_B sum P(dA,dB) eff eff
    times the jitter capture fraction; accidental = S_A S_B tau (the second factorial moment
    of independent Poisson tag streams; includes photons of different pairs, i.e. the
    multi-pair coincidences). Of these, the ones that fall on a captured true pair become
    extra clicks of that true coincidence; the separate accidental coincidences (kinds
    multi-pair + noise) occur at (S_A - C)(S_B - C) tau, C the captured true rate.
    qber[i, j] for every setting pair under the source's ideal
    correlation (errors = outcomes that disagree with the sign of E_ij; accidentals 1/2).
    """
    eta_a = _transmittance(transmittance_a, "transmittance_a")
    eta_b = _transmittance(transmittance_b, "transmittance_b")
    n = eta_a.shape[0]
    noise_a = _per_slot(noise_rate_a, n, station_a.n_detectors, "noise_rate_a")
    noise_b = _per_slot(noise_rate_b, n, station_b.n_detectors, "noise_rate_b")
    rates = class_rates(eta_a, eta_b, noise_a, noise_b, source, station_a, station_b, eavesdropper)
    nad, nbd = station_a.n_detectors, station_b.n_detectors
    npc = nad * nbd
    pair = rates[:, :npc]
    s_a = pair.sum(1) + rates[:, npc:npc + 2 * nad].sum(1)
    s_b = pair.sum(1) + rates[:, npc + 2 * nad:].sum(1)
    cap = capture_fraction(coincidence_window_s, station_a.timing_jitter_ps, station_b.timing_jitter_ps)
    true_ij = pair.reshape(n, station_a.n_settings, 2, station_b.n_settings, 2) * cap
    true = true_ij.sum(axis=(1, 2, 3, 4))
    acc = s_a * s_b * coincidence_window_s
    pa = np.asarray(station_a.setting_probabilities)
    pb = np.asarray(station_b.setting_probabilities)
    ea = station_a.efficiencies.reshape(-1, 2).mean(1)
    eb = station_b.efficiencies.reshape(-1, 2).mean(1)
    # accidentals per setting pair: the singles split by routing x efficiency
    wa = pa * ea / (pa * ea).sum() if (pa * ea).sum() > 0 else pa
    wb = pb * eb / (pb * eb).sum() if (pb * eb).sum() > 0 else pb
    acc_ij = acc[:, None, None] * wa[None, :, None] * wb[None, None, :]
    e_ideal = ideal_correlations(source, station_a, station_b, None)
    sign = np.where(e_ideal >= 0, 1.0, -1.0)
    agree = true_ij[:, :, 0, :, 0] + true_ij[:, :, 1, :, 1]
    disagree = true_ij[:, :, 0, :, 1] + true_ij[:, :, 1, :, 0]
    err = np.where(sign[None] > 0, disagree, agree) + 0.5 * acc_ij
    tot = agree + disagree + acc_ij
    with np.errstate(invalid="ignore", divide="ignore"):
        q = err.sum(0) / tot.sum(0)
    return {"singles_a": s_a, "singles_b": s_b, "true": true, "accidental": acc,
            "accidental_separate": np.maximum(s_a - true, 0.0) * np.maximum(s_b - true, 0.0) * coincidence_window_s,
            "capture_fraction": cap, "true_by_setting": true_ij.sum(axis=(2, 4)),
            "accidental_by_setting": acc_ij, "qber": q}


# --------------------------------------------------------------------------- protocols
def correlation_counts(coincidences: np.ndarray, n_settings_a: int, n_settings_b: int) -> np.ndarray:
    """Coincidences per (setting_a, setting_b, outcome_a, outcome_b): int64 (n_a, n_b, 2, 2)."""
    idx = ((coincidences["setting_a"].astype(np.int64) * n_settings_b + coincidences["setting_b"]) * 2
           + coincidences["outcome_a"]) * 2 + coincidences["outcome_b"]
    return np.bincount(idx, minlength=n_settings_a * n_settings_b * 4).reshape(n_settings_a, n_settings_b, 2, 2)


def correlators(counts: np.ndarray):
    """E = (N++ + N-- - N+- - N-+) / N per setting pair, N, and sigma_E.

    Each coincidence is a +-1 product with P(+1) = (1 + E)/2, so E is a binomial mean and
    Var(E) = (1 - E^2) / N (Clauser-Horne-Shimony-Holt data analysis as in Aspect, Grangier,
    Roger, PRL 49, 91 (1982)). Setting pairs with N = 0 give NaN.
    """
    c = np.asarray(counts, dtype=float)
    n = c.sum(axis=(-1, -2))
    diff = c[..., 0, 0] + c[..., 1, 1] - c[..., 0, 1] - c[..., 1, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = diff / n
        sig = np.sqrt(np.maximum(1.0 - e * e, 0.0) / n)
    return e, n.astype(np.int64), sig


@dataclass(frozen=True)
class ChshResult:
    """CHSH value S = sum_ij sign_ij E(a_i, b_j) over two settings per side, and its error."""

    s: float
    sigma: float
    settings_a: tuple[int, int]
    settings_b: tuple[int, int]
    signs: np.ndarray = field(repr=False)
    correlators: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)  # N per setting pair used

    def passed(self, k_sigma: float = 3.0) -> bool:
        """Bell violation established: S - k sigma_S > 2 (fails closed on NaN)."""
        return bell_test_passed(self.s, self.sigma, k_sigma)


def chsh_signs(expected: np.ndarray) -> np.ndarray:
    """The CHSH combination fixed before the data: the sign pattern (one minus sign, overall
    +-) that maximises sum sign_ij E_ij for the expected correlations E (2x2)."""
    best, best_val = None, -np.inf
    for k in range(4):
        for overall in (1.0, -1.0):
            s = np.ones(4)
            s[k] = -1.0
            s = overall * s.reshape(2, 2)
            v = float(np.sum(s * expected))
            if v > best_val + 1e-12:
                best, best_val = s, v
    return best


def chsh(counts: np.ndarray, settings_a: tuple[int, int], settings_b: tuple[int, int],
         signs: np.ndarray) -> ChshResult:
    """S = sum_ij sign_ij E(a_i, b_j) from pass counts (n_a, n_b, 2, 2); sigma_S from the four
    independent binomial correlator errors in quadrature (Clauser et al. 1969)."""
    sub = np.asarray(counts)[np.ix_(list(settings_a), list(settings_b))]
    e, n, sig = correlators(sub)
    s = float(np.sum(signs * e))
    sigma = float(np.sqrt(np.sum(sig ** 2)))
    return ChshResult(s, sigma, tuple(settings_a), tuple(settings_b), np.asarray(signs), e, n)


def bell_test_passed(s: float, sigma: float, k_sigma: float = 3.0) -> bool:
    """True only if S exceeds the local bound 2 by k standard deviations (NaN -> False)."""
    return bool(np.isfinite(s) and np.isfinite(sigma) and s - k_sigma * sigma > 2.0)


@dataclass(frozen=True)
class SiftedPairs:
    """BBM92 sifted bits: key-basis (Z) and test-basis (X) bits of both stations."""

    key_a: np.ndarray
    key_b: np.ndarray
    test_a: np.ndarray
    test_b: np.ndarray
    #: simulator only: Eve's bit of each of B's key bits (flip applied) and what it is
    #: worth (EVE_SURE_BOB / EVE_GUESS_BOB / EVE_NONE); None without her record
    eve_bit: np.ndarray | None = None
    eve_knows: np.ndarray | None = None

    @property
    def eve_key(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(eve_bit, eve_knows) for the key bits, or None."""
        return None if self.eve_bit is None else (self.eve_bit, self.eve_knows)

    @property
    def qber_key(self) -> float:
        return float(np.mean(self.key_a != self.key_b)) if self.key_a.size else float("nan")

    @property
    def qber_test(self) -> float:
        return float(np.mean(self.test_a != self.test_b)) if self.test_a.size else float("nan")


def sift_bbm92(coincidences: np.ndarray, key_settings: tuple[int, int] = (0, 0),
               test_settings: tuple[int, int] = (1, 1), flip_key: bool = False,
               flip_test: bool = False,
               eve: tuple[np.ndarray, np.ndarray] | None = None) -> SiftedPairs:
    """BBM92 sifting (Bennett, Brassard, Mermin, PRL 68, 557 (1992)): keep coincidences whose
    settings match the key pair (Z) or the test pair (X). B flips its bits where the state
    is anti-correlated in that basis (``flip_*``, e.g. psi- in both bases;
    :func:`bbm92_flips` derives them from the source). ``eve``: Eve's record per
    coincidence (:attr:`PairResult.eve_record`), kept for the key bits."""
    co = coincidences
    kz = (co["setting_a"] == key_settings[0]) & (co["setting_b"] == key_settings[1])
    kx = (co["setting_a"] == test_settings[0]) & (co["setting_b"] == test_settings[1])
    oa = co["outcome_a"].astype(np.uint8)
    ob = co["outcome_b"].astype(np.uint8)
    eve_bit = eve_knows = None
    if eve is not None:
        bit, knows = (np.asarray(x)[kz] for x in eve)
        eve_bit = np.where(bit >= 0, bit ^ np.int8(flip_key), -1).astype(np.int8)
        eve_knows = knows.astype(np.int8)
    return SiftedPairs(oa[kz], ob[kz] ^ np.uint8(flip_key), oa[kx], ob[kx] ^ np.uint8(flip_test),
                       eve_bit, eve_knows)


def bbm92_flips(source: PairSource, station_a: PairReceiver, station_b: PairReceiver,
                key_settings=(0, 0), test_settings=(1, 1)) -> tuple[bool, bool]:
    """Whether B must flip its bit in the key / test pair: the ideal correlation is negative."""
    e = ideal_correlations(source, station_a, station_b, None)
    return bool(e[key_settings] < 0), bool(e[test_settings] < 0)
