"""Fibre decoy-BB84 rate model and trusted-node chains (satqkd.network.fibre)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from satqkd.network.fibre import (
    FibreLink,
    FibreQKDParams,
    cutoff_distance_km,
    decoy_bb84_key_per_pulse,
    fibre_key_rate_bps,
    fibre_link_capacity_bps,
    hop_lengths_km,
)


def test_rate_at_50_km_by_hand():
    # Defaults (GYS detector, 0.2 dB/km), mu = 0.5, L = 50 km, by hand:
    #   eta    = 0.045 * 10^(-0.2*50/10)            = 0.0045
    #   1-e^(-eta mu) = 1 - exp(-0.00225)           = 0.00224747065
    #   Q_mu   = 1.7e-6 + 0.00224747065             = 0.00224917065
    #   E_mu   = (0.5*1.7e-6 + 0.033*0.00224747065)/Q_mu = 0.0333529746
    #   Y_1    = 1.7e-6 + 0.0045                    = 0.0045017
    #   e_1    = (0.5*1.7e-6 + 0.033*0.0045)/Y_1    = 0.0331763556
    #   Q_1    = Y_1 * 0.5 * exp(-0.5)              = 0.00136520954
    #   H2(E_mu) = 0.210937708, H2(e_1) = 0.210079153
    #   R = 0.5 * (-Q_mu*1.22*0.210937708 + Q_1*(1 - 0.210079153)) = 2.49798446e-4 per pulse
    #   x 1e8 pulses/s = 24979.84 bit/s
    r = float(decoy_bb84_key_per_pulse(50.0, 0.5))
    assert r == pytest.approx(2.49798446e-4, rel=1e-7)
    p = FibreQKDParams(mu=0.5)
    assert float(fibre_key_rate_bps(50.0, p)) == pytest.approx(24979.84, rel=1e-6)
    # the optimised mu can only do better than mu = 0.5
    assert float(fibre_key_rate_bps(50.0)) >= 24979.84


def test_cutoff_distance_gys():
    # Ma, Qi, Zhao, Lo (PRA 72, 012326, 2005) give about 142 km for GYS with infinite
    # decoys at 0.21 dB/km; the same loss budget at 0.2 dB/km is 142 * 0.21 / 0.2 km.
    p21 = FibreQKDParams(attenuation_db_per_km=0.21)
    l21 = cutoff_distance_km(p21)
    assert l21 == pytest.approx(142.0, abs=0.5)
    l20 = cutoff_distance_km()
    assert l20 == pytest.approx(l21 * 0.21 / 0.2, rel=1e-4)  # only the loss in dB matters
    assert float(fibre_key_rate_bps(l20 - 0.5)) > 0.0
    assert float(fibre_key_rate_bps(l20 + 0.5)) == 0.0
    assert float(fibre_key_rate_bps(300.0)) == 0.0


def test_rate_decreases_with_distance():
    d = np.linspace(0.0, 140.0, 15)
    r = fibre_key_rate_bps(d)
    assert np.all(np.diff(r) < 0)
    # far below the cutoff the rate falls like the transmittance: 10 dB per 50 km
    assert r[5] / r[10] == pytest.approx(10.0, rel=0.25)


def test_trusted_node_chain_is_limited_by_weakest_hop():
    link = FibreLink("Vienna", "Graz", 200.0, trusted_node_spacing_km=70.0)
    hops = hop_lengths_km(link)
    assert hops.size == 3 and np.allclose(hops, 200.0 / 3)
    assert fibre_link_capacity_bps(link) == pytest.approx(float(fibre_key_rate_bps(200.0 / 3)))
    uneven = FibreLink("Vienna", "Graz", 150.0, hop_lengths_km=(30.0, 100.0, 20.0))
    assert fibre_link_capacity_bps(uneven) == pytest.approx(float(fibre_key_rate_bps(100.0)))
    # one 200 km hop is beyond the cutoff: the link carries nothing without nodes
    assert fibre_link_capacity_bps(FibreLink("Vienna", "Graz", 200.0)) == 0.0
    assert math.isinf(fibre_link_capacity_bps(FibreLink("Graz city", "Graz", 0.0)))


def test_bad_hops_rejected():
    with pytest.raises(ValueError):
        FibreLink("X", "Y", 100.0, hop_lengths_km=(30.0, 30.0))
