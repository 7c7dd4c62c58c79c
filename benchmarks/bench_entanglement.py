"""Entanglement benchmark: one 300 s Micius-like dual-downlink pass.

Source 5.9e6 pairs/s (Yin et al., Science 356, 1140 (2017)); per-second transmittance of
each downlink (detectors excluded) following a parabola from 1e-4 at the ends of the pass
to 1e-3 at culmination, the two links offset by 30 s; dark + background 500 counts/s per
detector on A and 1000 on B; BBM92 analysers (efficiency 0.5, 350 ps jitter), 2.5 ns
coincidence window. The engine draws every detection with its time tag (about 3e6 in
all) and finds the coincidences by a sorted merge of the tags. Also reported: BBM92
post-processing (Cascade + verification + Toeplitz PA) of a pass with 10x brighter links,
and the CHSH value of a Bell-test pass on the benchmark links against its analytic value.
"""

from __future__ import annotations

import time

import numpy as np

from satqkd.engine.pairs import (
    PairSource,
    bbm92_flips,
    bbm92_receiver,
    chsh,
    chsh_receivers,
    chsh_signs,
    dual_downlink_pass,
    expected_rates,
    ideal_correlations,
    sift_bbm92,
)
from satqkd.keys.bbm92 import BBM92Parameters, process_bbm92

PASS_S = 300


def pass_inputs() -> tuple[np.ndarray, np.ndarray]:
    """Per-second transmittances of the two downlinks (1e-4 -> 1e-3 -> 1e-4, offset 30 s)."""
    t = np.arange(PASS_S) + 0.5
    def parabola(centre):
        x = np.clip((t - centre) / (PASS_S / 2), -1.0, 1.0)
        return 1e-4 + 9e-4 * (1.0 - x * x)
    return parabola(PASS_S / 2 - 15), parabola(PASS_S / 2 + 15)


def run():
    source = PairSource()
    a = bbm92_receiver()
    b = bbm92_receiver()
    eta_a, eta_b = pass_inputs()
    dual_downlink_pass(eta_a[:2], eta_b[:2], 500.0, 1000.0, 1.0, source, a, b, np.random.default_rng(0))

    best = np.inf
    res = None
    for rep in range(5):
        t0 = time.perf_counter()
        res = dual_downlink_pass(eta_a, eta_b, 500.0, 1000.0, 1.0, source, a, b, np.random.default_rng(rep))
        best = min(best, time.perf_counter() - t0)
    yield {"name": "engine.dual_downlink_pass", "value": best, "unit": "s"}  # target < 1 s
    n_tags = int(res.singles_a.sum() + res.singles_b.sum())
    yield {"name": "entanglement.dual_downlink_detections", "value": n_tags, "unit": "tags"}
    yield {"name": "entanglement.dual_downlink_coincidences", "value": int(res.coincidences.shape[0]),
           "unit": "coincidences"}

    # BBM92 post-processing needs ~1e4 bits: a pass with 10x brighter links (1e-3 .. 1e-2)
    bright = dual_downlink_pass(10 * eta_a, 10 * eta_b, 500.0, 1000.0, 1.0, source, a, b,
                                np.random.default_rng(5))
    fk, ft = bbm92_flips(source, a, b)
    sp = sift_bbm92(bright.coincidences, flip_key=fk, flip_test=ft)
    t0 = time.perf_counter()
    keys = process_bbm92(sp.key_a, sp.key_b, sp.test_a, sp.test_b, BBM92Parameters(),
                         np.random.default_rng(7))
    yield {"name": "keys.bbm92_postprocess", "value": time.perf_counter() - t0, "unit": "s"}
    yield {"name": "entanglement.bbm92_sifted_bits", "value": keys.sifted_bits, "unit": "bits"}
    yield {"name": "entanglement.bbm92_secret_bits", "value": keys.secret_bits, "unit": "bits"}
    yield {"name": "entanglement.bbm92_ec_efficiency", "value": keys.ec_efficiency, "unit": "f"}

    # Bell test on the benchmark pass; reference: analytic S with the accidental dilution
    ca, cb = chsh_receivers()
    r = dual_downlink_pass(eta_a, eta_b, 500.0, 1000.0, 1.0, source, ca, cb, np.random.default_rng(11))
    e = ideal_correlations(source, ca, cb)
    signs = chsh_signs(e)
    c = chsh(r.counts.sum(0), (0, 1), (0, 1), signs)
    ex = expected_rates(eta_a, eta_b, 500.0, 1000.0, source, ca, cb)
    t, acc = ex["true_by_setting"].sum(0), ex["accidental_by_setting"].sum(0)
    s_exp = float(np.sum(signs * e * t / (t + acc)))
    yield {"name": "entanglement.chsh_s", "value": c.s, "unit": "", "reference": s_exp,
           "ratio": c.s / s_exp}
    yield {"name": "entanglement.chsh_sigma", "value": c.sigma, "unit": ""}
