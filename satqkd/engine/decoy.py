"""Event-driven, statistically exact photon-level simulation of a decoy-state BB84 pass.

The model (docs/engine.md has the equations): Alice sends pulses at ``rate_hz``; each
pulse has intensity k with probability p_k, basis Z with probability p_z, a uniform bit,
and a Poisson(mu_k) photon number (phase-randomised weak coherent pulse; Hwang 2003,
Lo-Ma-Chen 2005, Ma-Qi-Zhao-Lo PRA 72, 012326 (2005)). Each photon independently reaches
Bob's detector package with the slot's transmittance eta, goes to the Z analyser with
probability q_z (passive beam splitter), lands on the wrong detector of its own basis
with probability e_d (on either detector with 1/2 in the other basis) and is detected
with that detector's efficiency. Each of the four threshold detectors also fires with the
slot's noise probability. Patterns are squashed into Bob's (basis, bit) by
:func:`satqkd.engine.kernels.resolve_outcome`; dead time and afterpulsing are applied by a
time-ordered pass over the sparse click train.

Nothing loops over pulses: in each slot the clicking pulses are drawn directly (geometric
gaps with the exact per-pulse click probability), then each one's class and click pattern
(and, if asked, photon number) from their exact conditional law given a click. Memory
and time are O(detections).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import kernels
from .eavesdroppers import strategy_parameters
from .events import EVENT_DTYPE
from .params import DecoySource, Eavesdropper, Receiver, build_classes

__all__ = ["EngineResult", "simulate_decoy_bb84", "prepare_slots"]


@dataclass(frozen=True)
class EngineResult:
    """Output of one pass.

    Attributes
    ----------
    counts : int64 (n_slots, n_intensities, 2, 2, 2), clicks indexed by
        [slot, intensity, alice_basis, bob_basis, error], error = bob_bit != alice_bit.
    double_clicks : int64 (n_slots, n_intensities), events where both detectors of Bob's
        (assigned) basis fired.
    events : structured array of :data:`satqkd.engine.events.EVENT_DTYPE`, in pulse order.
    n_pulses : int64 (n_slots, n_intensities, 2), pulses Alice sent per intensity and
        basis (exact joint draw with the clicks).
    eve_bit : int8 per event, Eve's bit (-1 where she has none), or
        None when there is no eavesdropper (PNS: only with recorded photon numbers).
    rate_hz, slot_duration_s : the source rate and slot length used.
    eve_knows : int8 per event (with ``eve_bit``): what her bit is worth once the bases
        are public: ``EVE_SURE`` (1, it is Alice's bit), ``EVE_GUESS`` (0, a noisy guess
        of it), ``EVE_GUESS_BOB`` (2, a noisy guess of Bob's bit: the time-shift attack)
        or ``EVE_NONE`` (-1, e.g. intercept-resend in the wrong basis).
    """

    counts: np.ndarray
    double_clicks: np.ndarray
    events: np.ndarray
    n_pulses: np.ndarray
    eve_bit: np.ndarray | None
    rate_hz: float
    slot_duration_s: float
    eve_knows: np.ndarray | None = None

    @property
    def sifted(self) -> np.ndarray:
        """Boolean mask of events whose bases agree."""
        return self.events["alice_basis"] == self.events["bob_basis"]

    def gain(self) -> np.ndarray:
        """Gain per intensity over the pass: clicks / pulses sent."""
        return self.counts.sum(axis=(0, 2, 3, 4)) / self.n_pulses.sum(axis=(0, 2))

    def qber(self, basis: int | None = None) -> np.ndarray:
        """Sifted QBER per intensity (basis 0 = Z, 1 = X, None = both)."""
        c = self.counts.sum(axis=0)  # (k, a, b, e)
        bases = (0, 1) if basis is None else (basis,)
        err = sum(c[:, b, b, 1] for b in bases)
        tot = sum(c[:, b, b, :].sum(axis=-1) for b in bases)
        with np.errstate(invalid="ignore", divide="ignore"):
            return err / tot


@dataclass(frozen=True)
class _Prepared:
    mode: int
    weight: np.ndarray
    cls_k: np.ndarray
    cls_a: np.ndarray
    cls_bit: np.ndarray
    mu: np.ndarray
    re: np.ndarray
    eta: np.ndarray
    noise: np.ndarray
    eve_par: np.ndarray
    t_bob: float
    starts: np.ndarray
    eve_bit_of_class: np.ndarray
    n_intensities: int
    eve_knows_of_class: np.ndarray


def prepare_slots(transmittance, noise_probability, slot_duration_s: float, source: DecoySource,
                  receiver: Receiver, eavesdropper: Eavesdropper | None) -> _Prepared:
    """Validate inputs and build the arrays the kernels take (plain numpy)."""
    eta = np.ascontiguousarray(transmittance, dtype=np.float64)
    if eta.ndim != 1:
        raise ValueError("transmittance must be 1-D (one value per slot)")
    if np.any(~np.isfinite(eta)) or np.any(eta < 0) or np.any(eta > 1):
        raise ValueError("transmittance must be in [0, 1]")
    noise = np.asarray(noise_probability, dtype=np.float64)
    if noise.ndim == 0:
        noise = np.full(eta.shape, float(noise))
    if noise.ndim == 1:
        noise = np.repeat(noise[:, None], 4, axis=1)
    if noise.shape != (eta.shape[0], 4):
        raise ValueError("noise_probability must be scalar, (n_slots,) or (n_slots, 4)")
    if np.any(~np.isfinite(noise)) or np.any(noise < 0) or np.any(noise >= 1):
        raise ValueError("noise_probability must be in [0, 1)")
    if (eavesdropper is not None and eavesdropper.kind == "trojan-horse"
            and eavesdropper.target == "bob" and eavesdropper.detector_response > 0):
        # probe light that crosses Bob's isolation once (half the round-trip dB) and falls
        # on his four detectors: Poisson clicks added to each detector's noise
        mu_det = (eavesdropper.probe_photons * 10.0 ** (-eavesdropper.isolation_db / 20.0)
                  * eavesdropper.detector_response / 4.0)
        noise = -np.expm1(np.log1p(-noise) - mu_det)
        noise = np.minimum(noise, np.nextafter(1.0, 0.0))
    noise = np.ascontiguousarray(noise)
    if slot_duration_s <= 0:
        raise ValueError("slot_duration_s must be > 0")
    per_slot = source.rate_hz * slot_duration_s
    starts = np.rint(np.arange(eta.shape[0] + 1) * per_slot).astype(np.int64)
    cl = build_classes(source, receiver, eavesdropper)
    re = cl.route_eff.copy()
    if cl.mode == kernels.MODE_BLINDING:
        re = np.zeros_like(re)
        re[np.arange(re.shape[0]), cl.target_detector] = 1.0  # one-hot: Eve's target detector
    eve_par = np.ascontiguousarray(strategy_parameters(eta, noise, source, receiver, eavesdropper))
    return _Prepared(
        mode=cl.mode, weight=cl.weight, cls_k=cl.intensity, cls_a=cl.alice_basis,
        cls_bit=cl.alice_bit, mu=cl.mu, re=np.ascontiguousarray(re), eta=eta, noise=noise,
        eve_par=eve_par,
        t_bob=eavesdropper.pns_bob_transmittance if eavesdropper is not None else 1.0,
        starts=starts, eve_bit_of_class=cl.eve_bit, n_intensities=len(source.intensities),
        eve_knows_of_class=cl.eve_knows,
    )


def _kernel_rng(rng: np.random.Generator) -> np.random.Generator:
    """A child Generator (PCG64) for a numba kernel, seeded from the caller's Generator."""
    return np.random.Generator(np.random.PCG64(int(rng.integers(0, 2**63 - 1))))


def simulate_decoy_bb84(
    transmittance: np.ndarray,
    noise_probability: np.ndarray | float,
    slot_duration_s: float,
    source: DecoySource,
    receiver: Receiver,
    rng: np.random.Generator,
    eavesdropper: Eavesdropper | None = None,
    record_photon_number: bool = False,
    events_out: np.ndarray | None = None,
) -> EngineResult:
    """Simulate one decoy-state BB84 pass photon by photon, exactly, in O(detections).

    Parameters
    ----------
    transmittance : (n_slots,) probability that a photon reaches Bob's detector package
        (channel and receiver optics, detector efficiency excluded; see
        :func:`satqkd.engine.params.channel_transmittance`).
    noise_probability : per-detector noise click probability per detection window (dark
        counts + background), scalar, (n_slots,) or (n_slots, 4).
    slot_duration_s : duration of each slot; slot s holds pulses
        ``rint(s * rate * T) .. rint((s+1) * rate * T) - 1``.
    source, receiver, eavesdropper : model parameters.
    rng : the only source of randomness (same state -> same result).
    record_photon_number : draw each event's emitted photon number from its exact
        conditional law (otherwise ``PHOTON_NUMBER_UNKNOWN``).
    events_out : optional 1-D ``EVENT_DTYPE`` buffer to write the events into when it is
        large enough (the result's ``events`` is then a view of it), so that a caller
        simulating stretch after stretch does not fault in a fresh buffer each time.
        Whether it is used does not change the result.
    """
    if events_out is not None and (events_out.dtype != EVENT_DTYPE or events_out.ndim != 1
                                   or not events_out.flags.c_contiguous):
        raise ValueError("events_out must be a contiguous 1-D array of EVENT_DTYPE")
    prep = prepare_slots(transmittance, noise_probability, slot_duration_s, source, receiver, eavesdropper)
    n_slots = prep.eta.shape[0]
    k_n = prep.n_intensities
    post = receiver.dead_time_s > 0 or receiver.afterpulse_probability > 0
    track_cls = eavesdropper is not None and eavesdropper.kind in (
        "intercept-resend", "efficiency-mismatch", "blinding", "trojan-horse")

    p_click = kernels.click_probabilities(prep.mode, prep.weight, prep.mu, prep.re, prep.eta,
                                          prep.noise, prep.eve_par, prep.t_bob)
    n_per_slot = np.diff(prep.starts)
    expected = float(np.sum(n_per_slot * p_click))
    cap = int(expected + 10.0 * math.sqrt(expected) + 64)
    seed_gen = int(rng.integers(0, 2**63 - 1))
    while True:
        if not post and events_out is not None and events_out.shape[0] >= cap:
            events = events_out
            cap = events.shape[0]  # the kernel's bound: the side arrays must match it
        else:
            events = np.empty(cap, dtype=EVENT_DTYPE)
        masks = np.empty(cap if post else 0, dtype=np.uint8)
        cls_idx = np.empty(cap if (track_cls or post) else 0, dtype=np.int16)
        counts = np.zeros((n_slots, k_n, 2, 2, 2), dtype=np.int64)
        double = np.zeros((n_slots, k_n), dtype=np.int64)
        clicked_ka = np.zeros((n_slots, k_n, 2), dtype=np.int64)
        p0_ka = np.zeros((n_slots, k_n, 2))
        ne = kernels.generate_events(
            np.random.Generator(np.random.PCG64(seed_gen)), prep.mode, prep.weight, prep.cls_k,
            prep.cls_a, prep.cls_bit, prep.mu, prep.re, prep.eta, prep.noise, prep.eve_par,
            prep.t_bob, prep.starts, not post,
            record_photon_number, events, masks, cls_idx, counts, double, clicked_ka, p0_ka,
        )
        if ne >= 0:
            break
        cap *= 2  # astronomically rare: redo with the same seed, so the result is unchanged
    ap_ka = np.zeros((n_slots, k_n, 2), dtype=np.int64)
    if post:
        dead_windows = int(math.ceil(receiver.dead_time_s * source.rate_hz - 1e-9))
        p_release = -math.expm1(-1.0 / (source.rate_hz * receiver.afterpulse_time_s))
        seed_post = int(rng.integers(0, 2**63 - 1))
        cap_out = int(ne * (1.0 + 3.0 * receiver.afterpulse_probability) + 10.0 * math.sqrt(ne) + 64)
        while True:
            if events_out is not None and events_out.shape[0] >= cap_out:
                ev_out = events_out
                cap_out = ev_out.shape[0]
            else:
                ev_out = np.empty(cap_out, dtype=EVENT_DTYPE)
            m_out = np.empty(cap_out, dtype=np.uint8)
            c_out = np.empty(cap_out, dtype=np.int16)
            ap_ka[:] = 0
            no = kernels.dead_time_afterpulse_pass(
                np.random.Generator(np.random.PCG64(seed_post)), prep.mode, prep.weight, prep.cls_k,
                prep.cls_a, prep.cls_bit, prep.mu, prep.re, prep.eta, prep.noise, prep.eve_par, prep.t_bob, prep.starts,
                record_photon_number, dead_windows, receiver.afterpulse_probability, p_release,
                events, masks, cls_idx, ne, ev_out, m_out, c_out, ap_ka,
            )
            if no == -2:
                raise RuntimeError("more than 256 afterpulses pending on one detector")
            if no >= 0:
                break
            cap_out *= 2
        events, masks, cls_idx, ne = ev_out, m_out, c_out, no
        kernels.resolve_events(_kernel_rng(rng), events, masks, ne, counts, double)
    events = events[:ne]
    # Pulses with no primary click are i.i.d. from P(k, a | no click): draw their
    # intensity/basis split per slot (the afterpulse-only pulses were drawn from it too).
    silent = n_per_slot - clicked_ka.sum(axis=(1, 2)) - ap_ka.sum(axis=(1, 2))
    p0 = p0_ka.reshape(n_slots, -1)
    norm = p0.sum(axis=1, keepdims=True)
    pvals = np.divide(p0, norm, out=np.full_like(p0, 1.0 / p0.shape[1]), where=norm > 0)
    rest = rng.multinomial(silent, pvals).reshape(n_slots, k_n, 2)
    n_pulses = clicked_ka + ap_ka + rest
    eve_bit = eve_knows = None
    if track_cls:
        eve_bit = prep.eve_bit_of_class[cls_idx[:ne]].astype(np.int8)
        eve_knows = prep.eve_knows_of_class[cls_idx[:ne]]
    elif eavesdropper is not None and eavesdropper.kind == "pns" and record_photon_number:
        # she kept one photon of every multi-photon pulse and measures it once bases are public
        multi = events["photon_number"] >= 2
        eve_bit = np.where(multi, events["alice_bit"], -1).astype(np.int8)
        eve_knows = np.where(multi, 1, -1).astype(np.int8)
    return EngineResult(counts=counts, double_clicks=double, events=events, n_pulses=n_pulses,
                        eve_bit=eve_bit, rate_hz=source.rate_hz, slot_duration_s=slot_duration_s,
                        eve_knows=eve_knows)
