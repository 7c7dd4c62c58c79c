"""Analytic tables: normalisation, limits, vectorisation, parameters' validation."""

from __future__ import annotations

import numpy as np
import pytest

from satqkd.engine import DecoySource, Eavesdropper, Receiver, channel_transmittance
from satqkd.engine.analytic import (
    expected_gain_qber,
    ma_gain_qber,
    outcome_table,
    photon_number_given_click,
    squash_weights,
)
from satqkd.engine.eavesdroppers import pns_forwarding
from satqkd.engine.params import detector_routing

SOURCE = DecoySource()
RECEIVER = Receiver()


def test_tables_are_normalised():
    eta = np.array([[1e-5, 1e-3], [0.1, 0.9]])
    t = outcome_table(eta, 1e-5, SOURCE, RECEIVER)
    assert t.table.shape == (2, 2, 3, 2, 2, 2)
    total = t.table.sum(axis=(-1, -2, -3, -4)) + t.no_click.sum(axis=-1)
    assert np.allclose(total, 1.0, rtol=0, atol=1e-13)
    assert np.allclose(t.by_bit.sum(axis=(-1, -2, -3, -4)), t.table.sum(axis=(-1, -2, -3)), atol=1e-15)
    w = squash_weights()
    assert np.allclose(w[1:].sum(axis=(1, 2, 3)), 1.0) and np.all(w[0] == 0)
    for sb in (0, 1):
        for bit in (0, 1):
            assert np.isclose(detector_routing(sb, bit, 0.3, 0.02).sum(), 1.0)


def test_noiseless_gain_is_poisson_detection():
    """Without noise and with equal efficiencies, Q_k = 1 - exp(-mu_k eta eff) exactly."""
    eta = np.geomspace(1e-6, 1.0, 7)
    gain, sifted, qz, qx = expected_gain_qber(eta, 0.0, SOURCE, RECEIVER)
    mu = np.asarray(SOURCE.intensities)
    assert np.allclose(gain, -np.expm1(-np.outer(eta, mu) * 0.5), rtol=1e-12, atol=0)
    assert gain.shape == sifted.shape == qz.shape == (7, 3)
    # symmetric receiver: Z and X QBER agree; small-eta QBER tends to e_d
    assert np.allclose(qz[:, :2], qx[:, :2])
    assert np.isclose(qz[0, 0], RECEIVER.misalignment, rtol=1e-5)


def test_ma_formula_limits():
    q, e = ma_gain_qber(np.array([0.0, 0.5]), 1e-3, 1e-5, 0.01)
    assert np.isclose(q[0], 1e-5) and np.isclose(e[0], 0.5)
    assert np.isclose(q[1], 1e-5 - np.expm1(-5e-4))
    # at small eta the exact table agrees with Ma et al. to second order
    total, noise = 1e-3, 1e-7
    gain, _, qz, _ = expected_gain_qber(total / 0.5, noise, SOURCE, RECEIVER)
    qm, em = ma_gain_qber(np.asarray(SOURCE.intensities[:2]), total, 1 - (1 - noise) ** 4, 0.01)
    assert np.allclose(gain[:2], qm, rtol=2e-3)
    assert np.allclose(qz[:2], em, rtol=2e-3)


def test_photon_number_given_click_normalised_and_vacuum():
    p = photon_number_given_click(0.01, 1e-6, SOURCE, RECEIVER, n_max=40)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert p[2, 0] == 1.0  # vacuum decoy: only noise clicks, n = 0
    assert p[0, 0] < 1e-3 < p[0, 1]


def test_intercept_resend_analytic_qber():
    rx = Receiver(misalignment=0.0)
    _, _, qz, _ = expected_gain_qber(1e-2, 0.0, SOURCE, rx, Eavesdropper(kind="intercept-resend"))
    assert np.allclose(qz[:2], 0.25)


def test_pns_forwarding_keeps_signal_gain():
    eve = Eavesdropper(kind="pns")
    eta = np.array([1e-3, 1e-2])
    q = pns_forwarding(eta, np.full((2, 4), 1e-6), SOURCE, RECEIVER, eve)
    assert np.all(q[:, 0] == 0) and np.all((q[:, 1] > 0) & (q[:, 1] < 1))
    # at eta = 1 there is no loss to hide in: Eve must forward single photons too
    q1 = pns_forwarding(np.array([1.0]), np.full((1, 4), 1e-6), SOURCE, RECEIVER, eve)
    assert q1[0, 1] == 1.0 and q1[0, 0] > 0


def test_channel_transmittance_convention():
    assert np.isclose(channel_transmittance(1e-3, RECEIVER), 2e-3)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: DecoySource(intensities=(0.5,), probabilities=(0.5, 0.5)),
        lambda: DecoySource(probabilities=(0.5, 0.5, 0.5)),
        lambda: Receiver(detector_efficiency=(0.5, 0.5, 0.5)),
        lambda: Receiver(misalignment=1.5),
        lambda: Eavesdropper(kind="trojan"),
    ],
)
def test_parameters_validated(bad):
    with pytest.raises(ValueError):
        bad()
