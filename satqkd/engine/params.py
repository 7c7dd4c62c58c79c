"""Parameters of the decoy-state BB84 photon-level model, as frozen dataclasses.

Conventions shared by the engine, the analytic tables and the reference kernel
-------------------------------------------------------------------------------
* **Transmittance.** The engine's ``transmittance[slot]`` is the probability that one
  emitted photon reaches Bob's detector package: free-space channel, atmosphere and
  receiver optics, *excluding the single-photon detectors' quantum efficiency*. The four
  detector efficiencies live in :class:`Receiver` (``detector_efficiency``), so a
  detector-efficiency mismatch is a per-detector factor applied after the passive basis
  splitter. The channel stage reports a *total* transmittance with the detectors included
  as their mean efficiency; :func:`channel_transmittance` divides that mean back out.
* **Detectors** are numbered ``j = 2 * basis + bit``: 0 = Z0 (H), 1 = Z1 (V), 2 = X0 (D),
  3 = X1 (A), with ``BASIS_Z = 0`` and ``BASIS_X = 1`` as in :mod:`satqkd.engine.events`.
* **Noise.** ``noise_probability[slot]`` is the probability that one detector clicks in
  one detection window with no signal photon (dark count + background), the same for the
  four detectors, or an ``(n_slots, 4)`` array for per-detector values.

References: W.-Y. Hwang, PRL 91, 057901 (2003); H.-K. Lo, X. Ma, K. Chen, PRL 94, 230504
(2005); X. Ma, B. Qi, Y. Zhao, H.-K. Lo, PRA 72, 012326 (2005); S.-K. Liao et al.,
Nature 549, 43 (2017) for the Micius defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "DecoySource",
    "Receiver",
    "Eavesdropper",
    "EAVESDROPPER_KINDS",
    "channel_transmittance",
    "detector_routing",
    "trojan_detection_probability",
    "probe_detector_response",
]

EAVESDROPPER_KINDS = ("none", "intercept-resend", "pns", "efficiency-mismatch", "blinding",
                      "trojan-horse")
BASIS_CHOICES = ("passive", "active")
TROJAN_TARGETS = ("alice", "bob")

#: Eve's knowledge of an event's bit once bases are public (``eve_knows``): she knows
#: Alice's bit for certain, holds a noisy guess of it, or has nothing; or her bit is
#: Bob's (the detector that fired), for certain or as a noisy guess.
EVE_SURE = 1
EVE_GUESS = 0
EVE_NONE = -1
EVE_GUESS_BOB = 2
EVE_SURE_BOB = 3


@dataclass(frozen=True)
class DecoySource:
    """Alice's weak-coherent-pulse decoy-state source (phase-randomised, Poissonian).

    Attributes
    ----------
    rate_hz : pulse repetition rate (Micius: 1e8 Hz, Liao et al. 2017).
    intensities : mean photon numbers mu_k of the signal and decoy states
        (Micius: 0.8, 0.1, 0.0).
    probabilities : p_k, the probability of choosing intensity k for a pulse
        (Micius: 0.5, 0.25, 0.25). Must sum to 1.
    p_z : probability that Alice encodes in the Z basis (0.5: symmetric BB84).
    """

    rate_hz: float = 1.0e8
    intensities: tuple[float, ...] = (0.8, 0.1, 0.0)
    probabilities: tuple[float, ...] = (0.5, 0.25, 0.25)
    p_z: float = 0.5

    def __post_init__(self) -> None:
        if len(self.intensities) != len(self.probabilities) or not self.intensities:
            raise ValueError("intensities and probabilities must have the same, non-zero length")
        if len(self.intensities) > 127:
            raise ValueError("at most 127 intensities (int8 event field)")
        if any(m < 0 for m in self.intensities):
            raise ValueError("intensities must be >= 0")
        if any(p < 0 for p in self.probabilities) or abs(sum(self.probabilities) - 1) > 1e-9:
            raise ValueError("probabilities must be >= 0 and sum to 1")
        if not 0.0 <= self.p_z <= 1.0:
            raise ValueError("p_z must be in [0, 1]")
        if self.rate_hz <= 0:
            raise ValueError("rate_hz must be > 0")


@dataclass(frozen=True)
class Receiver:
    """Bob's passive-basis BB84 receiver with four threshold detectors.

    Attributes
    ----------
    detector_efficiency : quantum efficiency of the detectors (Z0, Z1, X0, X1); unequal
        values model an efficiency mismatch (Micius: 0.5 each, Liao et al. 2017).
    q_z : transmission of the passive basis beam splitter towards the Z analyser; each
        photon independently goes to Z with probability q_z, otherwise to X.
    misalignment : e_d, the probability that a photon reaching the analyser of its own
        basis is registered on the wrong detector (polarisation-reference error, applied
        per photon; Micius ~ 0.5-1 %).
    dead_time_s : detector dead time; 0 disables it. Windows falling in
        ``ceil(dead_time_s * rate_hz)`` pulses after a click are blind (Si-APD: 20-50 ns).
    afterpulse_probability : probability that a click is followed by one afterpulse
        *after* the dead time (0 disables afterpulsing; Si-APD: ~0.5-1 %).
    afterpulse_time_s : 1/e time of the exponential afterpulse delay, counted from the
        end of the dead time (trap lifetime; Si-APD: ~ 50-200 ns).
    basis_choice : "passive" (a beam splitter sends each photon to Z with probability q_z;
        nothing inside Bob holds the basis, so a Trojan-horse probe reads none) or
        "active" (a modulator sets Bob's basis per pulse, Z with probability q_z, and every
        photon of the pulse goes to that analyser; the modulator's setting can be probed,
        Vakhitov, Makarov & Hjelme, J. Mod. Opt. 48, 2023 (2001)).
    """

    detector_efficiency: tuple[float, float, float, float] = (0.5, 0.5, 0.5, 0.5)
    q_z: float = 0.5
    misalignment: float = 0.01
    dead_time_s: float = 0.0
    afterpulse_probability: float = 0.0
    afterpulse_time_s: float = 100e-9
    basis_choice: str = "passive"

    def __post_init__(self) -> None:
        if self.basis_choice not in BASIS_CHOICES:
            raise ValueError(f"basis_choice must be one of {BASIS_CHOICES}")
        if len(self.detector_efficiency) != 4:
            raise ValueError("detector_efficiency needs four values (Z0, Z1, X0, X1)")
        if any(not 0.0 <= e <= 1.0 for e in self.detector_efficiency):
            raise ValueError("detector efficiencies must be in [0, 1]")
        if not 0.0 <= self.q_z <= 1.0:
            raise ValueError("q_z must be in [0, 1]")
        if not 0.0 <= self.misalignment <= 1.0:
            raise ValueError("misalignment must be in [0, 1]")
        if self.dead_time_s < 0 or self.afterpulse_time_s <= 0:
            raise ValueError("dead_time_s must be >= 0 and afterpulse_time_s > 0")
        if not 0.0 <= self.afterpulse_probability <= 1.0:
            raise ValueError("afterpulse_probability must be in [0, 1]")

    @property
    def mean_efficiency(self) -> float:
        """Mean of the four detector efficiencies."""
        return float(np.mean(self.detector_efficiency))


@dataclass(frozen=True)
class Eavesdropper:
    """An eavesdropping strategy (or a device weakness Eve exploits).

    kind
        ``"none"``; ``"intercept-resend"``; ``"pns"`` (photon-number splitting);
        ``"efficiency-mismatch"`` (time-shift attack); ``"blinding"`` (detector control).
        The models are described in docs/engine.md and in :mod:`satqkd.engine.decoy`.
    fraction : intercept-resend: fraction f of pulses Eve intercepts (f = 1 gives a 25 %
        sifted QBER with random bases, Bennett & Brassard 1984).
    basis_z_probability : intercept-resend: probability that Eve measures in Z. For
        blinding Eve mimics Bob's passive choice and uses ``Receiver.q_z`` instead.
    pns_bob_transmittance : PNS: transmittance of Eve's replacement channel from the
        source to Bob's detectors (1.0: lossless, Eve also replaces the receiver optics).
    shift_efficiencies : efficiency-mismatch: detector efficiencies (Z0, Z1, X0, X1) at
        the two arrival times Eve chooses between with equal probability (Makarov,
        Anisimov, Skaar, PRA 74, 022313 (2006); Qi et al., Quantum Inf. Comput. 7, 73
        (2007)). At shift 0 the bit-0 detectors are the efficient ones.
    target : trojan-horse: ``"alice"`` (the satellite source's modulator, probed from the
        ground through the transmitter telescope) or ``"bob"`` (an active basis choice).
    probe_wavelength_nm : trojan-horse: wavelength of Eve's probe (Jain et al., NJP 16,
        123030 (2014) used 1924 nm, where isolators and silicon detectors are weak).
    probe_photons : trojan-horse: mean photon number mu_in of the probe per pulse.
    isolation_db : trojan-horse: round-trip attenuation of the target's isolation at the
        probe wavelength (probe in, reflection out).
    reflectivity : trojan-horse: fraction of the probe light that reaches the modulator
        and is reflected back to the isolation (Eve's detector efficiency folded in).
    detector_response : trojan-horse on Bob: probability that a probe photon reaching one
        of Bob's detectors makes it click (0: silicon beyond ~1.1 um; InGaAs at 1550 nm ~ its
        efficiency). Probe clicks add to Bob's noise, and afterpulse like any click.
    """

    kind: str = "none"
    fraction: float = 1.0
    basis_z_probability: float = 0.5
    pns_bob_transmittance: float = 1.0
    shift_efficiencies: tuple[tuple[float, float, float, float], tuple[float, float, float, float]] = (
        (0.5, 0.05, 0.5, 0.05),
        (0.05, 0.5, 0.05, 0.5),
    )
    target: str = "alice"
    probe_wavelength_nm: float = 1550.0
    probe_photons: float = 1.0e6
    isolation_db: float = 0.0
    reflectivity: float = 1.0e-2
    detector_response: float = 0.0

    def __post_init__(self) -> None:
        if self.target not in TROJAN_TARGETS:
            raise ValueError(f"target must be one of {TROJAN_TARGETS}")
        if self.probe_photons < 0 or self.isolation_db < 0 or self.probe_wavelength_nm <= 0:
            raise ValueError("probe_photons and isolation_db must be >= 0, wavelength > 0")
        if not 0.0 <= self.reflectivity <= 1.0 or not 0.0 <= self.detector_response <= 1.0:
            raise ValueError("reflectivity and detector_response must be in [0, 1]")
        if self.kind not in EAVESDROPPER_KINDS:
            raise ValueError(f"unknown eavesdropper kind {self.kind!r}; one of {EAVESDROPPER_KINDS}")
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError("fraction must be in [0, 1]")
        if not 0.0 <= self.basis_z_probability <= 1.0:
            raise ValueError("basis_z_probability must be in [0, 1]")
        if not 0.0 < self.pns_bob_transmittance <= 1.0:
            raise ValueError("pns_bob_transmittance must be in (0, 1]")
        if len(self.shift_efficiencies) != 2 or any(len(e) != 4 for e in self.shift_efficiencies):
            raise ValueError("shift_efficiencies needs two tuples of four efficiencies")


def trojan_detection_probability(probe_photons: float, isolation_db: float,
                                 reflectivity: float) -> float:
    """Probability that Eve's probe of one pulse brings back a photon she detects.

    The back-reflected light is a coherent state of mean photon number
    mu_out = mu_in 10^(-isolation_db / 10) R (isolation counted over the round trip, R the
    reflectivity of the modulator path with Eve's detection efficiency folded in); she
    detects >= 1 photon with probability 1 - exp(-mu_out), and that photon carries the
    modulator's setting (Vakhitov, Makarov & Hjelme, J. Mod. Opt. 48, 2023 (2001); Gisin
    et al., PRA 73, 022320 (2006)).
    """
    mu_out = probe_photons * 10.0 ** (-isolation_db / 10.0) * reflectivity
    return float(-np.expm1(-mu_out))


def probe_detector_response(material: str, wavelength_nm: float, efficiency: float) -> float:
    """Click probability of one probe photon at a detector of ``material`` (step model).

    Silicon absorbs below its band edge (~1.1 um): a 1550 or 1924 nm probe crosses it
    unabsorbed (no clicks, no afterpulses; Jain et al. 2014). InGaAs responds from ~0.9 to
    ~1.7 um: a 1550 nm probe clicks with the detector's efficiency, 1924 nm does not.
    """
    lo, hi = {"silicon": (300.0, 1100.0), "ingaas": (900.0, 1700.0)}[material]
    return float(efficiency) if lo <= wavelength_nm <= hi else 0.0


def channel_transmittance(total_transmittance: np.ndarray, receiver: Receiver) -> np.ndarray:
    """Transmittance up to the detectors from a total one that includes them.

    eta_channel = eta_total / mean(detector_efficiency), the convention of the channel
    stage (total transmittance with the detectors counted at their mean efficiency).
    """
    return np.asarray(total_transmittance, dtype=float) / receiver.mean_efficiency


def detector_routing(state_basis: int, state_bit: int, q_z: float, misalignment: float) -> np.ndarray:
    """Probability that a photon in BB84 state (basis, bit) is routed to each detector.

    r_j = q_b(j) * [(1 - e_d) if bit(j) == state_bit else e_d]   if basis(j) == state_basis
    r_j = q_b(j) / 2                                             otherwise,
    with q_b = q_z for Z and 1 - q_z for X (passive beam splitter), before the
    detector efficiency. The four r_j sum to 1.
    """
    r = np.empty(4)
    for j in range(4):
        b, v = j >> 1, j & 1
        qb = q_z if b == 0 else 1.0 - q_z
        if b == state_basis:
            r[j] = qb * ((1.0 - misalignment) if v == state_bit else misalignment)
        else:
            r[j] = 0.5 * qb
    return r


def active_routing(state_basis: int, state_bit: int, bob_basis: int, misalignment: float) -> np.ndarray:
    """Routing of a photon in (basis, bit) when Bob's modulator has set ``bob_basis``.

    Every photon goes to Bob's analyser: r_j = 0 outside ``bob_basis``; inside it
    (1 - e_d) / e_d on the right / wrong detector if the bases agree, 1/2 each otherwise.
    Averaged over bob_basis with weights (q_z, 1 - q_z) it is :func:`detector_routing`.
    """
    r = np.zeros(4)
    for v in (0, 1):
        j = 2 * bob_basis + v
        if bob_basis == state_basis:
            r[j] = (1.0 - misalignment) if v == state_bit else misalignment
        else:
            r[j] = 0.5
    return r


@dataclass(frozen=True)
class _Classes:
    """Internal: the emission classes (k, a, bit, Eve's state, efficiencies) of a run.

    Each class c carries a prior weight (independent of the slot), Alice's labels, the
    per-detector routing probability of its photons (state prepared by Alice or resent by
    Eve) times the detector efficiencies in force, and Eve's knowledge of the bit.
    """

    weight: np.ndarray  # (C,)
    intensity: np.ndarray  # (C,) int
    alice_basis: np.ndarray  # (C,) int
    alice_bit: np.ndarray  # (C,) int
    mu: np.ndarray  # (C,)
    route_eff: np.ndarray  # (C, 4) routing probability x detector efficiency
    target_detector: np.ndarray  # (C,) detector Eve's fake state fires (blinding), else -1
    eve_bit: np.ndarray  # (C,) Eve's guess of the bit, -1 when she has none
    mode: int  # 0 Poisson thinning, 1 PNS, 2 blinding
    eve_knows: np.ndarray  # (C,) EVE_SURE / EVE_GUESS / EVE_NONE once bases are public


def build_classes(source: DecoySource, receiver: Receiver, eve: Eavesdropper | None) -> _Classes:
    """Enumerate the emission classes for the engine's exact sampler.

    Each row: prior weight, Alice's labels, the state reaching Bob (prepared by Alice or
    resent by Eve), the efficiencies in force, Bob's basis when his modulator fixes it
    (-1: passive splitter), Eve's target detector (blinding), and Eve's guess of the bit
    with what it is worth once bases are public (``eve_knows``).
    """
    eve = eve or Eavesdropper()
    # (weight, k, a, bit, state_basis, state_bit, eff, bob_basis, target, eve_bit, eve_knows)
    rows = []
    eff0 = tuple(receiver.detector_efficiency)
    active = receiver.basis_choice == "active"
    p_t = 0.0
    if eve.kind == "trojan-horse":
        p_t = trojan_detection_probability(eve.probe_photons, eve.isolation_db, eve.reflectivity)
        if eve.target == "bob" and not active:
            p_t = 0.0  # a passive splitter holds no basis setting to read
    for k, pk in enumerate(source.probabilities):
        for a in (0, 1):
            pa = source.p_z if a == 0 else 1.0 - source.p_z
            for bit in (0, 1):
                w = pk * pa * 0.5
                if w == 0.0:
                    continue
                if eve.kind in ("none", "pns"):
                    rows.append((w, k, a, bit, a, bit, eff0, -1, -1, -1, EVE_NONE))
                elif eve.kind == "efficiency-mismatch":
                    for shift in (0, 1):
                        # Eve's guess: the detector she made efficient fired, i.e. of
                        # Bob's bit (noisy)
                        rows.append((0.5 * w, k, a, bit, a, bit, tuple(eve.shift_efficiencies[shift]),
                                     -1, -1, shift, EVE_GUESS_BOB))
                elif eve.kind in ("intercept-resend", "blinding"):
                    pe_z = eve.basis_z_probability if eve.kind == "intercept-resend" else receiver.q_z
                    f = eve.fraction if eve.kind == "intercept-resend" else 1.0
                    if f < 1.0:
                        rows.append(((1.0 - f) * w, k, a, bit, a, bit, eff0, -1, -1, -1, EVE_NONE))
                    for eb in (0, 1):
                        pe = pe_z if eb == 0 else 1.0 - pe_z
                        if pe == 0.0:
                            continue
                        states = ((bit, 1.0),) if eb == a else ((0, 0.5), (1, 0.5))
                        # after sifting Eve knows whether her basis was Alice's: then her
                        # bit is Alice's, otherwise it is worthless
                        knows = EVE_SURE if eb == a else EVE_NONE
                        for ebit, pb in states:
                            target = 2 * eb + ebit if eve.kind == "blinding" else -1
                            rows.append((f * w * pe * pb, k, a, bit, eb, ebit, eff0, -1, target,
                                         ebit, knows))
                elif eve.target == "alice":  # trojan-horse on the source: a passive read-out
                    if p_t > 0.0:
                        rows.append((p_t * w, k, a, bit, a, bit, eff0, -1, -1, bit, EVE_SURE))
                    if p_t < 1.0:
                        rows.append(((1.0 - p_t) * w, k, a, bit, a, bit, eff0, -1, -1, -1, EVE_NONE))
                else:  # trojan-horse on Bob's modulator: she reads his basis, then measures in it
                    for bb in (0, 1):
                        qb = receiver.q_z if bb == 0 else 1.0 - receiver.q_z
                        if p_t > 0.0:
                            states = ((bit, 1.0),) if bb == a else ((0, 0.5), (1, 0.5))
                            for ebit, pb in states:
                                rows.append((p_t * qb * pb * w, k, a, bit, bb, ebit, eff0, bb, -1,
                                             ebit, EVE_SURE if bb == a else EVE_NONE))
                        if p_t < 1.0:
                            rows.append(((1.0 - p_t) * qb * w, k, a, bit, a, bit, eff0, bb, -1, -1,
                                         EVE_NONE))
    if active:
        # Bob's modulator picks the basis per pulse: split rows that do not fix it yet
        split = []
        for r in rows:
            if r[7] >= 0:
                split.append(r)
                continue
            for bb in (0, 1):
                qb = receiver.q_z if bb == 0 else 1.0 - receiver.q_z
                if qb > 0.0:
                    split.append((r[0] * qb,) + r[1:7] + (bb,) + r[8:])
        rows = split

    def route(r) -> np.ndarray:
        if r[7] >= 0:
            base = active_routing(r[4], r[5], r[7], receiver.misalignment)
        else:
            base = detector_routing(r[4], r[5], receiver.q_z, receiver.misalignment)
        return base * np.array(r[6])

    weight = np.array([r[0] for r in rows])
    kk = np.array([r[1] for r in rows], dtype=np.int64)
    mode = {"pns": 1, "blinding": 2}.get(eve.kind, 0)
    return _Classes(
        weight=weight,
        intensity=kk,
        alice_basis=np.array([r[2] for r in rows], dtype=np.int64),
        alice_bit=np.array([r[3] for r in rows], dtype=np.int64),
        mu=np.asarray(source.intensities, dtype=float)[kk],
        route_eff=np.array([route(r) for r in rows]),
        target_detector=np.array([r[8] for r in rows], dtype=np.int64),
        eve_bit=np.array([r[9] for r in rows], dtype=np.int64),
        mode=mode,
        eve_knows=np.array([r[10] for r in rows], dtype=np.int8),
    )
