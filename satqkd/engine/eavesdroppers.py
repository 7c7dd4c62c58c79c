"""Eve's per-slot strategy parameters (shared by the engine and the reference kernel).

* Photon-number splitting (Brassard, Luetkenhaus, Mor, Sanders, PRL 85, 1330 (2000);
  Hwang, PRL 91, 057901 (2003)). Eve measures the photon number n of each pulse (QND) and
  replaces the lossy channel. She forwards a pulse with a probability q_n that depends
  on n only: single photons are blocked (q_1 = 0) and multi-photon pulses are forwarded
  with probability q_2 after she keeps one photon, i.e. n - 1 photons reach Bob through
  her channel of transmittance ``pns_bob_transmittance`` (1 = lossless). q_2 is chosen so
  that the *signal* state's gain equals the honest one:
      Q_s^Eve = (1 - N0) + N0 [q_1 P(1) (1 - z) + q_2 sum_{n>=2} P(n) (1 - z^(n-1))],
  z = 1 - t_B W the probability that a forwarded photon fires no detector, N0 the
  probability of no noise click, P(n) Poisson(mu_s). If even q_2 = 1 falls short (too
  little loss for the attack) Eve forwards single photons too (q_1 > 0).
  Because q_n depends on n alone, the yields Y_n are the same for every intensity while
  Y_1 = noise only: the decoy gains then disagree with the signal's, which the decoy
  analysis detects (Lo, Ma, Chen, PRL 94, 230504 (2005)).
* Blinding (Lydersen et al., Nat. Photon. 4, 686 (2010)): Eve blinds Bob's APDs and
  turns them into classical threshold detectors. She measures each non-empty pulse in a
  basis chosen like Bob's passive splitter (Z with probability q_z) and sends a bright
  fake state that fires exactly Bob's detector (her basis, her bit); in the other basis
  the light splits below threshold and nothing fires. She resends an n-photon pulse's
  result with the honest yield y_n = 1 - N0 (1 - W)^n so gains look normal. Blinded
  detectors have no dark counts. Sifted QBER is exactly zero yet Eve knows every
  sifted bit: no protocol-level statistic reveals it, only hardware countermeasures
  (e.g. monitoring the photocurrent, random detector efficiency).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import poisson

from .params import DecoySource, Eavesdropper, Receiver, detector_routing

__all__ = ["pns_forwarding", "blinding_parameters", "strategy_parameters"]


def _honest_detection(source: DecoySource, receiver: Receiver) -> tuple[np.ndarray, np.ndarray]:
    """Weights w_ab of Alice's four states and W_ab = sum_j routing_j x efficiency_j."""
    w, big_w = [], []
    eff = np.asarray(receiver.detector_efficiency)
    for a in (0, 1):
        pa = source.p_z if a == 0 else 1.0 - source.p_z
        for bit in (0, 1):
            w.append(0.5 * pa)
            big_w.append(float(np.sum(detector_routing(a, bit, receiver.q_z, receiver.misalignment) * eff)))
    return np.array(w), np.array(big_w)


def _no_noise(noise: np.ndarray) -> np.ndarray:
    """N0 = prod_j (1 - p_j) per slot."""
    return np.exp(np.sum(np.log1p(-noise), axis=-1))


def pns_forwarding(transmittance: np.ndarray, noise: np.ndarray, source: DecoySource,
                   receiver: Receiver, eve: Eavesdropper) -> np.ndarray:
    """(q_1, q_2) per slot: Eve's forwarding probabilities for n = 1 and n >= 2 photons."""
    eta = np.asarray(transmittance, dtype=float)
    n0 = _no_noise(noise)
    w, big_w = _honest_detection(source, receiver)
    w = w / w.sum()
    mu_s = float(max(source.intensities))
    honest = 1.0 - n0 * np.sum(w[None, :] * np.exp(-mu_s * eta[:, None] * big_w[None, :]), axis=1)
    z = 1.0 - eve.pns_bob_transmittance * big_w  # per state
    nmax = int(mu_s + 12 * np.sqrt(mu_s) + 40)
    n = np.arange(2, nmax + 1)
    pn = poisson.pmf(n, mu_s)
    s2 = np.sum(w * np.array([np.sum(pn * (1.0 - zz ** (n - 1))) for zz in z]))
    s1 = poisson.pmf(1, mu_s) * np.sum(w * (1.0 - z))
    base = 1.0 - n0
    a2 = n0 * s2
    a1 = n0 * s1
    with np.errstate(divide="ignore", invalid="ignore"):
        q2 = np.clip(np.where(a2 > 0, (honest - base) / a2, 0.0), 0.0, 1.0)
        q1 = np.clip(np.where(a1 > 0, (honest - base - q2 * a2) / a1, 0.0), 0.0, 1.0)
    return np.stack([q1, q2], axis=1)


def blinding_parameters(transmittance: np.ndarray, noise: np.ndarray, source: DecoySource,
                        receiver: Receiver) -> np.ndarray:
    """(N0, 1 - W) per slot for Eve's yield emulation y_n = 1 - N0 (1 - W)^n."""
    eta = np.asarray(transmittance, dtype=float)
    w, big_w = _honest_detection(source, receiver)
    wbar = float(np.sum(w * big_w) / np.sum(w))
    return np.stack([_no_noise(noise), 1.0 - eta * wbar], axis=1)


def strategy_parameters(transmittance: np.ndarray, noise: np.ndarray, source: DecoySource,
                        receiver: Receiver, eve: Eavesdropper | None) -> np.ndarray:
    """Per-slot Eve parameters (n_slots, 2) as the kernels expect them (zeros if unused)."""
    eta = np.asarray(transmittance, dtype=float)
    if eve is not None and eve.kind == "pns":
        return pns_forwarding(eta, noise, source, receiver, eve)
    if eve is not None and eve.kind == "blinding":
        return blinding_parameters(eta, noise, source, receiver)
    return np.zeros((eta.shape[0], 2))
