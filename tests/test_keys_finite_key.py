"""Finite-key (Lim et al. 2014) and asymptotic (Ma et al. 2005 / GLLP) bounds."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satqkd.keys.finite_key import (
    ABORT_NO_SINGLE_PHOTON,
    ABORT_NO_TEST,
    ABORT_NON_POSITIVE,
    asymptotic_key_rate,
    binary_entropy,
    count_bounds,
    finite_key_bounds,
    finite_key_length,
    lim_gamma,
    photon_number_probability,
    security_overhead_bits,
    vacuum_lower_bound,
)
from satqkd.keys.sifting import DecoyCounts, accumulate_counts, sift
from satqkd.keys.synthetic import decoy_link_expectations, synthetic_events

MU = (0.6, 0.2, 0.0)
P = (0.7, 0.2, 0.1)


def counts(nz, nx, mx):
    return DecoyCounts(np.asarray(nz), np.asarray(nx), np.asarray(mx), np.zeros(3, np.int64))


def test_gamma_hand_value():
    # (c+d)(1-b)b/(cd ln2) = 2e5*0.0099/(1e10*0.693147) = 2.85654e-7
    # log2(2e5/(1e10*0.0099) * 441/1e-18) = log2(8.90909e17) = 59.628
    # sqrt(2.85654e-7 * 59.628) = 0.0041271
    assert lim_gamma(1e-9, 0.01, 1e5, 1e5) == pytest.approx(0.00413, abs=5e-6)
    assert lim_gamma(1e-9, 0.01, 1e5, 1e5) == pytest.approx(0.0041271, rel=1e-4)


def test_security_overhead():
    # 6 log2(21e9) + log2(2e15) = 6 * 34.2896 + 50.8289
    assert security_overhead_bits(1e-9, 1e-15) == pytest.approx(256.57, abs=0.005)


def test_photon_number_probabilities():
    # tau_0 = 0.7 e^-0.6 + 0.2 e^-0.2 + 0.1 = 0.384168 + 0.163746 + 0.1
    assert photon_number_probability(0, MU, P) == pytest.approx(0.6479143, rel=1e-6)
    # tau_1 = 0.6 * 0.384168 + 0.2 * 0.163746
    assert photon_number_probability(1, MU, P) == pytest.approx(0.2632501, rel=1e-6)


def test_hand_worked_key_length_hoeffding():
    """Lim et al. eqs. 1-4 worked through for one set of counts (Hoeffding).

    n_Z = (105e6, 10e6, 25e3), n_X = (104.8e6, 10.05e6, 26e3), m_X = (1.06e6, 110e3, 13e3),
    lambda_EC = 11e6, eps_sec = 1e-9, eps_cor = 1e-15.
      delta_Z = sqrt(115.025e6/2 * ln(21e9)) = 36972.22
      delta_m = sqrt(1.183e6/2 * 23.7678) = 3749.49
      n^-_Z,mu2 = e^0.2/0.2 (10e6 - 36972.2) = 60844348.1
      n^+_Z,mu3 = (25000 + 36972.2)/0.1 = 619722.2
      n^+_Z,mu1 = e^0.6/0.7 (105e6 + 36972.2) = 273414059.7
      s_Z0 = tau_0 * (0.2 * (25000 - 36972.2)/0.1 - 0)/0.2 < 0  -> 0
      s_Z1 = tau_1 * 0.6 * [60844348.1 - 619722.2 - (0.04/0.36) * 273414059.7] / (0.12 - 0.04)
           = 0.2632501 * 0.6 * 29845285.9 / 0.08 = 58925812.6
      s_X1 (same with n_X) = 59623929.2
      v_X1 = tau_1 * (e^0.2/0.2 (110000 + 3749.49) - (13000 - 3749.49)/0.1) / 0.2 = 792599.4
      b = v/s_X1 = 0.0132933;  gamma = 1.78697e-4;  phi = 0.0134720;  h(phi) = 0.1030181
      ell = floor(58925812.6 * 0.8969819 - 11e6 - 256.567) = 41855131
    """
    r = finite_key_length(counts((105_000_000, 10_000_000, 25_000),
                                 (104_800_000, 10_050_000, 26_000),
                                 (1_060_000, 110_000, 13_000)), MU, P, 11_000_000)
    assert r.abort_reason == ""
    assert r.s_z0 == 0.0
    assert r.s_z1 == pytest.approx(58925812.6, rel=1e-8)
    assert r.s_x1 == pytest.approx(59623929.2, rel=1e-8)
    assert r.v_x1 == pytest.approx(792599.43, rel=1e-8)
    assert r.phi_z == pytest.approx(0.013472008, rel=1e-7)
    assert r.length == 41855131


def test_intensity_order_does_not_matter():
    c = counts((105_000_000, 10_000_000, 25_000), (104_800_000, 10_050_000, 26_000),
               (1_060_000, 110_000, 13_000))
    rev = counts(c.n_z[::-1], c.n_x[::-1], c.m_x[::-1])
    a = finite_key_length(c, MU, P, 11_000_000)
    b = finite_key_length(rev, MU[::-1], P[::-1], 11_000_000)
    assert a.length == b.length


def test_chernoff_bounds_hand_values():
    # beta = ln(21e9) = 23.76779; n = 10000:
    # upper n + beta + sqrt(2 beta n + beta^2) = 10000 + 23.768 + sqrt(475920.6) = 10713.64
    # lower n - beta/2 - sqrt(2 beta n + beta^2/4) = 10000 - 11.884 - sqrt(475496.9) = 9298.55
    lo, hi = count_bounds(np.array([10000.0, 10000.0, 10000.0]), 30000.0, (0.0, 0.0, 0.0),
                          (1.0, 1.0, 1.0), 1e-9, "chernoff")
    beta = math.log(21e9)
    assert hi[0] == pytest.approx(10000 + beta + math.sqrt(2 * beta * 1e4 + beta**2))
    assert hi[0] == pytest.approx(10713.64, abs=0.01)
    assert lo[0] == pytest.approx(9298.55, abs=0.01)


def test_vacuum_bound_formula():
    # s0 = tau0 (mu2 n^-_3 - mu3 n^+_2)/(mu2 - mu3) with mu = (0.6, 0.2, 0.05)
    mu = (0.6, 0.2, 0.05)
    p = (0.7, 0.2, 0.1)
    n_lo = np.array([0.0, 0.0, 5000.0])
    n_hi = np.array([0.0, 8000.0, 0.0])
    tau0 = 0.7 * math.exp(-0.6) + 0.2 * math.exp(-0.2) + 0.1 * math.exp(-0.05)
    expect = tau0 * (0.2 * 5000 - 0.05 * 8000) / 0.15
    assert vacuum_lower_bound(n_lo, n_hi, mu, p) == pytest.approx(expect)


def test_intercept_resend_statistics_give_no_key():
    # 25 % errors in both bases: phase error >= 25 %, reconciliation of a 25 % key costs
    # f h(0.25) n = 0.89 n > s_Z1 (1 - h(phi)) for any s_Z1 <= n.
    nz = np.array([1_000_000, 100_000, 2_000])
    nx = nz.copy()
    mx = nx // 4
    leak = 1.1 * nz.sum() * binary_entropy(0.25)
    r = finite_key_length(counts(nz, nx, mx), MU, P, leak)
    assert r.length == 0 and r.abort_reason == ABORT_NON_POSITIVE
    assert r.phi_z >= 0.25


def test_pns_like_statistics_give_no_single_photon_bound():
    """PNS attack: Eve blocks every single photon and forwards multi-photon pulses losslessly
    (Brassard et al., PRL 85, 1330 (2000)); decoy gains fall to P(n>=2 | mu) and the decoy
    bound on single photons collapses (Hwang 2003; Lo, Ma, Chen 2005)."""
    mu = (0.8, 0.1, 0.0)
    p = (0.5, 0.25, 0.25)
    mu_arr = np.array(mu)
    gains = 0.05 * (1 - np.exp(-mu_arr) * (1 + mu_arr)) + 1e-6
    errors = np.array([0.01, 0.01, 0.5])
    rng = np.random.default_rng(11)
    ev = synthetic_events(rng, 200_000_000, mu, p, gains, errors)
    c = sift(ev).counts
    r = finite_key_length(c, mu, p, 0.0)
    assert r.abort_reason == ABORT_NO_SINGLE_PHOTON and r.length == 0
    # control: an honest channel with about the same signal gain gives key
    g2, e2 = decoy_link_expectations(mu, 0.0095 / 0.8, 1e-6, 0.01)
    c2 = sift(synthetic_events(rng, 200_000_000, mu, p, g2, e2)).counts
    assert finite_key_length(c2, mu, p, 0.0).length > 0


def test_no_test_events_never_gives_key():
    r = finite_key_length(counts((10**6, 10**5, 10**3), (0, 0, 0), (0, 0, 0)), MU, P, 0.0)
    assert r.abort_reason == ABORT_NO_TEST and r.length == 0


def test_invalid_intensities_rejected():
    with pytest.raises(ValueError):
        finite_key_length(counts((1, 1, 1), (1, 1, 1), (0, 0, 0)), (0.3, 0.2, 0.15), P, 0.0)


def test_bounds_hold_for_sampled_data():
    """Lower bounds on single-photon detections must lie below the true expectation.

    True single-photon detections in Z: N p_zz sum_k p_k mu_k e^-mu_k Y1 with
    Y1 = Y0 + eta - Y0 eta (Ma et al. 2005 eq. 3); the Lim bounds fail with
    probability <= eps_sec, so with a fixed seed they must hold."""
    mu = (0.8, 0.1, 0.0)
    p = (0.5, 0.25, 0.25)
    eta, y0 = 1e-3, 1e-6
    gains, errs = decoy_link_expectations(mu, eta, y0, 0.01)
    pulses = 2_000_000_000
    rng = np.random.default_rng(3)
    c = sift(synthetic_events(rng, pulses, mu, p, gains, errs)).counts
    y1 = y0 + eta - y0 * eta
    tau1 = photon_number_probability(1, mu, p)
    true_s1 = pulses * 0.25 * tau1 * y1
    # tightness at 1e5 single-photon detections (about 0.64 and 0.85 of the truth for
    # seeds 0-2): Hoeffding with the basis-total deviation is the looser of the two
    for tail, tightness in (("hoeffding", 0.55), ("chernoff", 0.75)):
        b = finite_key_bounds(c.n_z, c.n_x, c.m_x, mu, p, 0.0, tail=tail)
        assert float(b["s_z1"]) <= true_s1
        assert float(b["s_z1"]) > tightness * true_s1
        # single-photon error rate e1 = (e0 Y0 + e_d eta)/Y1 must be below phi
        e1 = (0.5 * y0 + 0.01 * (y1 - y0)) / y1
        assert float(b["phi_z"]) >= e1


def test_vectorised_matches_scalar():
    rng = np.random.default_rng(0)
    nz = rng.integers(10**5, 10**6, size=(4, 3))
    nx = rng.integers(10**5, 10**6, size=(4, 3))
    mx = nx // 50
    leak = np.full(4, 1e4)
    b = finite_key_bounds(nz, nx, mx, MU, P, leak)
    for i in range(4):
        r = finite_key_length(counts(nz[i], nx[i], mx[i]), MU, P, 1e4)
        assert b["s_z1"][i] == pytest.approx(r.s_z1)
        assert b["length_raw"][i] == pytest.approx(r.length_raw)


def test_accumulating_passes_beats_separate_blocks():
    c = counts((2_000_000, 200_000, 3_000), (500_000, 50_000, 800), (5_000, 600, 400))
    one = finite_key_length(c, MU, P, 150_000)
    two = finite_key_length(accumulate_counts([c, c]), MU, P, 300_000)
    assert two.length > 2 * one.length


@settings(max_examples=60, deadline=None)
@given(extra_leak=st.floats(0, 1e5), extra_err=st.integers(0, 3000),
       tail=st.sampled_from(["hoeffding", "chernoff"]))
def test_length_monotone(extra_leak, extra_err, tail):
    """More leakage or more test errors never lengthen the key."""
    nz = np.array([3_000_000, 300_000, 5_000])
    nx = np.array([1_000_000, 100_000, 1_700])
    mx = np.array([10_000, 1_200, 800])
    base = finite_key_bounds(nz, nx, mx, MU, P, 2e5, tail=tail)["length_raw"]
    more_leak = finite_key_bounds(nz, nx, mx, MU, P, 2e5 + extra_leak, tail=tail)["length_raw"]
    more_err = finite_key_bounds(nz, nx, mx + np.array([extra_err, 0, 0]), MU, P, 2e5,
                                 tail=tail)["length_raw"]
    assert more_leak <= base + 1e-6
    assert more_err <= base + 1e-6


def test_asymptotic_decoy_bounds_bracket_truth():
    """Ma et al. (2005): Y1^L <= Y1 (tight within a few % for a weak decoy), e1^U >= e1."""
    mu = (0.5, 0.1, 0.0)
    eta, y0, ed = 10 ** (-30 / 10) * 0.5, 1.7e-6, 0.033
    gains, errs = decoy_link_expectations(mu, eta, y0, ed)
    r = asymptotic_key_rate(mu, gains, errs, f_ec=1.16, sifting_factor=0.5)
    y1 = y0 + eta - y0 * eta
    e1 = (0.5 * y0 + ed * eta) / y1
    assert r.y0 == pytest.approx(y0, rel=1e-9)
    assert 0.95 * y1 < r.y1 <= y1
    assert e1 <= r.e1 < 1.2 * e1  # the weak-decoy e1 bound is about 14 % loose here
    assert r.rate_per_signal_pulse > 0
    # GLLP with the true Y1, e1 is an upper bound on the decoy estimate
    true = 0.5 * (-gains[0] * 1.16 * binary_entropy(errs[0])
                  + y1 * 0.5 * math.exp(-0.5) * (1 - binary_entropy(e1)))
    assert r.rate_per_signal_pulse <= true


def test_asymptotic_pns_gives_zero():
    mu = np.array([0.8, 0.1, 0.0])
    gains = 0.05 * (1 - np.exp(-mu) * (1 + mu)) + 1e-6
    r = asymptotic_key_rate(mu, gains, [0.01, 0.01, 0.5])
    assert r.rate_per_signal_pulse == 0.0 and r.y1 == 0.0
