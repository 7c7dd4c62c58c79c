"""Naive per-pulse reference kernel: every pulse, photon and detector drawn explicitly.

It exists to prove the event-driven engine (:mod:`satqkd.engine.decoy`) exact: the same
physical model written the obvious way, one pulse at a time, with no shared sampling code
(only the model parameters and Eve's per-slot strategy numbers are shared). For each pulse:
intensity k ~ p_k, basis ~ p_z, bit ~ 1/2, photon number n ~ Poisson(mu_k); Eve acts; each
photon survives the channel with eta, picks Bob's analyser (q_z), is flipped with e_d in
its own basis or lands at random in the other one, and is detected with that detector's
efficiency; each detector adds a noise click with its noise probability; dead time and
afterpulse traps are tracked window by window; the click pattern is squashed into Bob's
basis and bit. It is slow by design (O(pulses)); the benchmark reports its rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .eavesdroppers import strategy_parameters
from .params import DecoySource, Eavesdropper, Receiver

__all__ = ["ReferenceResult", "reference_decoy_bb84"]

_KIND_CODE = {"none": 0, "intercept-resend": 1, "pns": 2, "efficiency-mismatch": 3, "blinding": 4}


@dataclass(frozen=True)
class ReferenceResult:
    """counts [slot, k, a, b, error], double_clicks [slot, k], n_pulses [slot, k, a] and
    photon_clicks [k, n] (clicks by emitted photon number, last bin = n_max or more)."""

    counts: np.ndarray
    double_clicks: np.ndarray
    n_pulses: np.ndarray
    photon_clicks: np.ndarray


@numba.njit(cache=True)
def _reference_kernel(rng, eta, noise, n_pulses_slot, cum_p, mu, p_z, q_z, e_d, eff,
                      kind, fraction, eve_pz, t_bob, shift_eff, eve_par, dead_windows, p_ap,
                      p_release, counts, double_clicks, n_pulses, photon_clicks):
    n_slots = eta.shape[0]
    n_k = mu.shape[0]
    n_max = photon_clicks.shape[1] - 1
    dead_until = np.full(4, -1, dtype=np.int64)
    traps = np.zeros((4, 4096), dtype=np.int64)  # activation window of each filled trap
    n_traps = np.zeros(4, dtype=np.int64)
    i = 0  # global window counter
    for s in range(n_slots):
        for _ in range(n_pulses_slot[s]):
            u = rng.random()
            k = 0
            while k < n_k - 1 and u >= cum_p[k]:
                k += 1
            a = 0 if rng.random() < p_z else 1
            bit = 1 if rng.random() < 0.5 else 0
            n = rng.poisson(mu[k]) if mu[k] > 0.0 else 0
            n_pulses[s, k, a] += 1
            sb = a
            sbit = bit
            ef = eff
            t = eta[s]
            m_ph = n
            forced = -1  # blinding: the pattern Eve imposes
            if kind == 1:  # intercept-resend
                if rng.random() < fraction:
                    eb = 0 if rng.random() < eve_pz else 1
                    if n >= 1:
                        ebit = bit if eb == a else (1 if rng.random() < 0.5 else 0)
                        sb = eb
                        sbit = ebit
            elif kind == 2:  # photon-number splitting
                t = t_bob
                if n == 1:
                    m_ph = 1 if rng.random() < eve_par[s, 0] else 0
                elif n >= 2:
                    m_ph = n - 1 if rng.random() < eve_par[s, 1] else 0
            elif kind == 3:  # time-shift attack on a mismatched receiver
                ef = shift_eff[0] if rng.random() < 0.5 else shift_eff[1]
            elif kind == 4:  # blinding
                forced = 0
                if n >= 1:
                    eb = 0 if rng.random() < q_z else 1
                    ebit = bit if eb == a else (1 if rng.random() < 0.5 else 0)
                    y = 1.0 - eve_par[s, 0] * eve_par[s, 1] ** n
                    if rng.random() < y:
                        forced = 1 << (2 * eb + ebit)
            hit = 0
            if forced >= 0:
                hit = forced
            else:
                for _p in range(m_ph):
                    if rng.random() >= t:
                        continue
                    bb = 0 if rng.random() < q_z else 1
                    if bb == sb:
                        vb = sbit if rng.random() >= e_d else 1 - sbit
                    else:
                        vb = 1 if rng.random() < 0.5 else 0
                    j = 2 * bb + vb
                    if rng.random() < ef[j]:
                        hit |= 1 << j
                for j in range(4):
                    if rng.random() < noise[s, j]:
                        hit |= 1 << j
            # afterpulse traps releasing in this window
            for j in range(4):
                q = 0
                while q < n_traps[j]:
                    if traps[j, q] <= i and rng.random() < p_release:
                        hit |= (1 << j) if i > dead_until[j] else 0
                        n_traps[j] -= 1
                        traps[j, q] = traps[j, n_traps[j]]
                    else:
                        q += 1
            final = 0
            for j in range(4):
                if (hit >> j) & 1 and i > dead_until[j]:
                    final |= 1 << j
                    dead_until[j] = i + dead_windows
                    if p_ap > 0.0 and rng.random() < p_ap:
                        traps[j, n_traps[j]] = i + dead_windows + 1
                        n_traps[j] += 1
            i += 1
            if final == 0:
                continue
            z = final & 3
            x = (final >> 2) & 3
            if z != 0 and x != 0:
                b = 0 if rng.random() < 0.5 else 1
            else:
                b = 0 if z != 0 else 1
            pat = z if b == 0 else x
            dc = pat == 3
            v = (1 if rng.random() < 0.5 else 0) if dc else (1 if pat == 2 else 0)
            counts[s, k, a, b, 1 if v != bit else 0] += 1
            if dc:
                double_clicks[s, k] += 1
            photon_clicks[k, min(n, n_max)] += 1


def reference_decoy_bb84(transmittance, noise_probability, slot_duration_s: float, source: DecoySource,
                         receiver: Receiver, rng: np.random.Generator,
                         eavesdropper: Eavesdropper | None = None, pulses_per_slot: int | None = None,
                         n_max: int = 20) -> ReferenceResult:
    """Simulate pulse by pulse. ``pulses_per_slot`` (default rate x slot duration) lets a
    test run fewer pulses per slot than the real source would send."""
    eta = np.ascontiguousarray(transmittance, dtype=np.float64)
    noise = np.asarray(noise_probability, dtype=np.float64)
    if noise.ndim == 0:
        noise = np.full(eta.shape, float(noise))
    if noise.ndim == 1:
        noise = np.repeat(noise[:, None], 4, axis=1)
    noise = np.ascontiguousarray(noise)
    n_slots = eta.shape[0]
    if pulses_per_slot is None:
        starts = np.rint(np.arange(n_slots + 1) * source.rate_hz * slot_duration_s).astype(np.int64)
        per = np.diff(starts)
    else:
        per = np.full(n_slots, int(pulses_per_slot), dtype=np.int64)
    eve = eavesdropper or Eavesdropper()
    eve_par = np.ascontiguousarray(strategy_parameters(eta, noise, source, receiver, eavesdropper))
    k_n = len(source.intensities)
    counts = np.zeros((n_slots, k_n, 2, 2, 2), dtype=np.int64)
    double = np.zeros((n_slots, k_n), dtype=np.int64)
    n_pulses = np.zeros((n_slots, k_n, 2), dtype=np.int64)
    photon_clicks = np.zeros((k_n, n_max + 1), dtype=np.int64)
    dead_windows = int(math.ceil(receiver.dead_time_s * source.rate_hz - 1e-9))
    p_release = -math.expm1(-1.0 / (source.rate_hz * receiver.afterpulse_time_s))
    _reference_kernel(
        np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63 - 1)))), eta, noise, per,
        np.cumsum(source.probabilities),
        np.asarray(source.intensities, dtype=np.float64), source.p_z, receiver.q_z,
        receiver.misalignment, np.asarray(receiver.detector_efficiency, dtype=np.float64),
        _KIND_CODE[eve.kind], eve.fraction, eve.basis_z_probability, eve.pns_bob_transmittance,
        np.asarray(eve.shift_efficiencies, dtype=np.float64), eve_par, dead_windows,
        receiver.afterpulse_probability, p_release, counts, double, n_pulses, photon_clicks,
    )
    return ReferenceResult(counts=counts, double_clicks=double, n_pulses=n_pulses, photon_clicks=photon_clicks)
