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


def test_truncated_gaussian_untruncated_limit_is_the_gaussian_formula():
    # a 10 m aperture does not truncate a 5.4 cm waist: collection and radius = w(z) formula,
    # near field (5 km, 20 km: Fresnel phase matters) and far field alike
    lam = 848.62
    w0 = beam.waist_from_divergence_m(lam, 10.0)
    L = np.array([5e3, 20e3, 645e3, 1200e3])
    got = beam.truncated_gaussian_collection(L, lam, w0, 10.0, 1.0, 0.0, 0.3)
    w = beam.beam_radius_m(L, lam, w0)
    assert np.allclose(got["collected"], beam.annular_collection(w, 1.0, 0.3), rtol=1e-8)
    assert np.allclose(got["equivalent_radius_m"], w, rtol=1e-8)


def test_truncated_gaussian_optimum_waist_is_089_of_the_aperture_radius():
    # Klein & Degnan (1974): the far-field on-axis gain peaks at alpha = a/w0 = 1.12 (w0/a = 0.89)
    a = 0.15
    ratios = np.linspace(0.80, 1.00, 201)
    gain = [abs(beam.truncated_gaussian_field(np.array([1e9]), np.array([0.0]), 850.0, q * a, 2 * a)[0, 0]) ** 2
            / (0.5 * np.pi * (q * a) ** 2) for q in ratios]
    assert abs(ratios[int(np.argmax(gain))] - 0.892) < 0.002
    # and our Hankel integral equals the closed form at every ratio (far field, relative)
    closed = beam.klein_degnan_far_field_gain(1.0 / ratios)
    assert np.allclose(np.array(gain) / max(gain), closed / closed.max(), rtol=1e-6)
    # with a central obscuration gamma = b/a = 0.2 the optimum moves to alpha ~ 1.07
    # (Klein & Degnan's fit alpha = 1.12 - 1.30 gamma^2 + 2.12 gamma^4 = 1.071)
    g = [abs(beam.truncated_gaussian_field(np.array([1e9]), np.array([0.0]), 850.0, q * a, 2 * a, 0.4 * a)[0, 0]) ** 2
         / (q * a) ** 2 for q in ratios]
    assert abs(1.0 / ratios[int(np.argmax(g))] - 1.071) < 0.01


def test_truncation_widens_the_far_field():
    # SatQuMA-like: w0 = a = 0.15 m, 810 nm, 500 km, 1.2 m receiver. A power clip alone would
    # give 2.77 dB; the wider far field of the truncated beam costs 2.2 dB more.
    got = beam.truncated_gaussian_collection(np.array([500e3]), 810.0, 0.15, 0.30, 1.2)
    clip = beam.aperture_transmission(0.30, 0.15) * beam.annular_collection(
        beam.beam_radius_m(500e3, 810.0, 0.15), 1.2)
    assert np.isclose(-10 * np.log10(clip), 2.77, atol=0.01)
    assert np.isclose(-10 * np.log10(got["collected"][0]), 4.98, atol=0.02)
    assert got["equivalent_radius_m"][0] > beam.beam_radius_m(500e3, 810.0, 0.15)


def test_truncated_gaussian_table_interpolation_is_exact_enough():
    L = np.linspace(480e3, 2600e3, 57)
    direct = beam.truncated_gaussian_collection(L, 810.0, 0.15, 0.30, 1.2, 0.05, 0.2)["collected"]
    table = beam.truncated_gaussian_link(L, 810.0, 0.15, 0.30, 1.2, 0.05, 0.2)["collected"]
    assert np.max(np.abs(10 * np.log10(table / direct))) < 2e-3  # dB
