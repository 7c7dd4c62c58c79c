"""Beam, truncation and pointing against closed forms, a published approximation and Monte Carlo."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from satqkd.channel import beam, pointing


def test_waist_divergence_round_trip():
    w0 = beam.waist_from_divergence_m(848.62, 10.0)
    # w0 = lambda / (pi theta_half) = 848.62e-9 / (pi * 5e-6)
    assert np.isclose(w0, 848.62e-9 / (np.pi * 5e-6), rtol=1e-12)
    assert np.isclose(beam.divergence_from_waist_urad(848.62, w0), 10.0, rtol=1e-12)


def test_far_field_radius_and_collection_closed_form():
    w0 = beam.waist_from_divergence_m(848.62, 10.0)
    w = beam.beam_radius_m(645e3, 848.62, w0)
    # w = w0 sqrt(1 + (z/zR)^2), zR = pi w0^2 / lambda = 10.8 km: far field w ~ 5e-6 * 645e3 = 3.225 m
    z_r = np.pi * w0**2 / 848.62e-9
    assert np.isclose(z_r, 10.81e3, rtol=1e-3)
    assert np.isclose(w, w0 * np.sqrt(1 + (645e3 / z_r) ** 2), rtol=1e-12)
    assert np.isclose(w, 3.225, rtol=2e-4)
    eta = beam.annular_collection(w, 1.0)
    assert np.isclose(eta, 1 - np.exp(-2 * 0.5**2 / w**2), rtol=1e-12)  # 0.0469 -> 13.3 dB
    assert np.isclose(-10 * np.log10(eta), 13.29, atol=0.01)
    # obscuration removes exactly the central disc's share
    eta_obs = beam.annular_collection(w, 1.0, 0.3)
    assert np.isclose(eta - eta_obs, 1 - np.exp(-2 * 0.15**2 / w**2), rtol=1e-10)


def test_truncation_only_matters_for_large_waists():
    assert beam.aperture_transmission(0.30, beam.waist_from_divergence_m(848.62, 10.0)) > 0.9999
    # waist equal to the aperture radius: 1 - exp(-2) = 0.8647
    assert np.isclose(beam.aperture_transmission(0.30, 0.15), 1 - np.exp(-2.0), rtol=1e-12)


def test_pointing_without_bias_is_broadened_beam():
    w, sigma = 3.2, 0.77
    got = pointing.mean_collected_fraction(w, 1.0, 0.0, sigma)
    assert np.isclose(got, 1 - np.exp(-2 * 0.25 / (w**2 + 4 * sigma**2)), rtol=1e-12)


def test_pointing_matches_farid_hranilovic_small_aperture():
    w, sigma = 10.0, np.array([0.5, 2.0, 5.0])
    exact = pointing.mean_collected_fraction(w, 0.2, 0.0, sigma)
    approx = pointing.farid_hranilovic_mean_fraction(w, 0.2, sigma)
    # a/w = 0.01: both are A0 w^2/(w^2 + 4 sigma^2) to O(a^2/w^2) = 1e-4
    assert np.allclose(exact, approx, rtol=1e-3)


def test_pointing_with_bias_against_monte_carlo():
    rng = np.random.default_rng(11)
    w, sigma, bias, a, b = 2.0, 0.6, 0.9, 0.5, 0.15
    n = 400_000
    dx = bias + sigma * rng.standard_normal(n)
    dy = sigma * rng.standard_normal(n)
    # collected fraction of a displaced Gaussian beam, by photon positions: MC of the MC
    px = dx + 0.5 * w * rng.standard_normal(n)
    py = dy + 0.5 * w * rng.standard_normal(n)
    r2 = px**2 + py**2
    hit = (r2 <= a**2) & (r2 >= b**2)
    exact = pointing.mean_collected_fraction(w, 2 * a, 2 * b, sigma, bias)
    tol = 5 * np.sqrt(exact * (1 - exact) / n)  # 5 sigma of a binomial proportion
    assert abs(hit.mean() - exact) < tol


@settings(max_examples=60, deadline=None)
@given(r1=st.floats(300.0, 3000.0), dr=st.floats(1.0, 2000.0), jitter=st.floats(0.0, 5.0),
       div=st.floats(2.0, 50.0))
def test_loss_grows_with_range(r1, dr, jitter, div):
    w0 = beam.waist_from_divergence_m(850.0, div)

    def eta(r_km):
        w = beam.beam_radius_m(r_km * 1e3, 850.0, w0)
        return beam.annular_collection(w, 1.0, 0.2) * pointing.pointing_efficiency(
            w, 1.0, 0.2, jitter * 1e-6 * r_km * 1e3)

    assert eta(r1 + dr) < eta(r1)
