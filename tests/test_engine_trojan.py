"""Trojan-horse attack and active basis choice in the engine; the Lucamarini correction."""

import math

import numpy as np
import pytest

from satqkd.engine import DecoySource, Eavesdropper, Receiver, simulate_decoy_bb84
from satqkd.engine.params import trojan_detection_probability
from satqkd.keys.finite_key import leaky_phase_error, trojan_coin_imbalance

SRC = DecoySource(rate_hz=1e8)
ETA = np.full(5, 2e-3)
Z_MAX = 5.0  # |z| of a binomial count beyond which the model is rejected (p ~ 6e-7)


def _z(k, n, p):
    return (k - n * p) / math.sqrt(n * p * (1 - p))


@pytest.mark.parametrize("mu_out", [0.2, 1.0])
def test_alice_probe_reads_the_state_with_probability_p_t(mu_out):
    """Eve holds Alice's bit on a fraction 1 - exp(-mu_out) of the clicks, always right,
    and the parties' statistics are the honest ones (a passive read-out)."""
    iso = -10 * math.log10(mu_out / (1e6 * 1e-2))
    eve = Eavesdropper(kind="trojan-horse", target="alice", isolation_db=iso)
    p_t = trojan_detection_probability(1e6, iso, 1e-2)
    assert p_t == pytest.approx(-math.expm1(-mu_out))
    r = simulate_decoy_bb84(ETA, 1e-6, 1.0, SRC, Receiver(), np.random.default_rng(3), eavesdropper=eve)
    sure = r.eve_knows == 1
    assert abs(_z(sure.sum(), sure.size, p_t)) < Z_MAX
    assert np.all(r.eve_bit[sure] == r.events["alice_bit"][sure])
    honest = simulate_decoy_bb84(ETA, 1e-6, 1.0, SRC, Receiver(), np.random.default_rng(4))
    assert abs(r.qber(0)[0] - honest.qber(0)[0]) < 0.004  # 1.0 % e_d + noise, +-5 sigma


def test_bob_probe_needs_an_active_basis_choice():
    eve = Eavesdropper(kind="trojan-horse", target="bob")  # 0 dB: p_T = 1
    passive = simulate_decoy_bb84(ETA, 1e-6, 1.0, SRC, Receiver(), np.random.default_rng(5),
                                  eavesdropper=eve)
    assert not np.any(passive.eve_knows == 1)  # a splitter holds no setting
    active = simulate_decoy_bb84(ETA, 1e-6, 1.0, SRC, Receiver(basis_choice="active"),
                                 np.random.default_rng(5), eavesdropper=eve)
    s = active.sifted
    # she measured every pulse in Bob's basis: sifted bits all hers, no extra error
    known = s & (active.eve_knows == 1)
    assert known.sum() > 0.99 * s.sum()
    assert np.all(active.eve_bit[known] == active.events["alice_bit"][known])
    assert active.qber(0)[0] < 0.02


def test_active_basis_choice_matches_passive_statistics_for_single_photons():
    """Averaged over Bob's modulator setting the routing is the passive one: the sifted
    share and QBER of the weak decoy agree within binomial noise."""
    a = simulate_decoy_bb84(ETA, 1e-6, 1.0, SRC, Receiver(basis_choice="active"), np.random.default_rng(6))
    p = simulate_decoy_bb84(ETA, 1e-6, 1.0, SRC, Receiver(), np.random.default_rng(7))
    fa, fp = a.sifted.mean(), p.sifted.mean()
    n = min(a.sifted.size, p.sifted.size)
    assert abs(fa - fp) < Z_MAX * math.sqrt(2 * 0.25 / n)


def test_probe_clicks_at_bob_follow_the_detector_response():
    eve = Eavesdropper(kind="trojan-horse", target="bob", isolation_db=100.0, detector_response=0.5)
    # mu_det = 1e6 * 10^(-100/20) * 0.5 / 4 = 1.25 probe photons per detector and window
    r = simulate_decoy_bb84(ETA[:1], 1e-6, 1e-3, SRC, Receiver(basis_choice="active"),
                            np.random.default_rng(8), eavesdropper=eve)
    assert r.qber(0)[0] > 0.3
    blind = Eavesdropper(kind="trojan-horse", target="bob", isolation_db=100.0, detector_response=0.0)
    r0 = simulate_decoy_bb84(ETA[:1], 1e-6, 1e-3, SRC, Receiver(basis_choice="active"),
                             np.random.default_rng(8), eavesdropper=blind)
    assert r0.events.size < r.events.size / 10


def test_lucamarini_correction():
    assert trojan_coin_imbalance(1e-6) == pytest.approx(5e-7, rel=1e-5)  # ~ mu_out / 2
    assert leaky_phase_error(0.02, 0.0) == pytest.approx(0.02)
    assert leaky_phase_error(0.02, 0.5) == 0.5
    e = [leaky_phase_error(0.02, d) for d in (1e-6, 1e-4, 1e-2)]
    assert e[0] > 0.02 and e[0] < e[1] < e[2] < 0.5
    # small D: e' ~ e + 4 D + 4 sqrt(D e (1 - e))
    d = 1e-6
    assert leaky_phase_error(0.02, d) == pytest.approx(0.02 + 4 * d + 4 * math.sqrt(d * 0.02 * 0.98), rel=1e-3)


def test_mission_keys(write_mission):
    """The mission file's Trojan-horse keys reach the engine and the finite key."""
    from satqkd import config
    from satqkd.mission import parameters

    path = write_mission(
        ("probabilities = [0.5, 0.25, 0.25]", "probabilities = [0.5, 0.25, 0.25]\nisolation_db = 100.0"),
        ("misalignment = 0.01 ", 'basis_choice = "active"\nmisalignment = 0.01 '),
        ("[stations.clouds]", '[eavesdropper]\nkind = "trojan-horse"\nprobe_wavelength_nm = 1924.0\n'
                              '\n[stations.clouds]'))
    cfg = config.load_mission(path)
    sat, st = cfg.satellites[0], cfg.stations[0]
    eve = parameters.eavesdropper(cfg, sat, st)
    assert eve.kind == "trojan-horse" and eve.isolation_db == 100.0  # the declared one
    assert eve.detector_response == 0.0  # silicon at 1924 nm
    assert parameters.engine_receiver(st).basis_choice == "active"
    kp = parameters.key_parameters(cfg, st, sat)
    # source declared, station active but undeclared: Delta = (1 - exp(-mu) cos mu) / 2
    assert kp.leak_delta == pytest.approx(trojan_coin_imbalance(1e6 * 1e-10))
