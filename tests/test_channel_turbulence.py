"""Turbulence: HV5/7 Fried parameter and Rytov variance against closed forms and quoted values."""

import math

import numpy as np
import pytest

from satqkd.channel import turbulence as tb
from satqkd.channel.params import Turbulence

HV57 = Turbulence()


def _hv_moment(p: float, a: float = 1.7e-14, v: float = 21.0) -> float:
    """int_0^inf Cn2(h) h^p dh of HV in closed form (three gamma integrals)."""
    c = 0.00594 * (v / 27.0) ** 2 * 1e-50
    return (c * math.gamma(11 + p) * 1000.0 ** (11 + p)
            + 2.7e-16 * math.gamma(1 + p) * 1500.0 ** (1 + p)
            + a * math.gamma(1 + p) * 100.0 ** (1 + p))


def test_fried_parameter_hv57_500nm_zenith():
    k = 2 * np.pi / 500e-9
    expected = (0.423 * k**2 * _hv_moment(0.0)) ** -0.6
    r0 = tb.fried_parameter_m(500.0, 0.0, 0.0, HV57)
    assert np.isclose(r0, expected, rtol=2e-3)  # quadrature vs closed form
    assert 0.045 < r0 < 0.055  # "about 5 cm" (A&P ch. 12)


def test_rytov_variance_downlink_850nm_zenith():
    k = 2 * np.pi / 850e-9
    expected = 2.25 * k ** (7 / 6) * _hv_moment(5 / 6)
    got = tb.rytov_variance_downlink(850.0, 0.0, 0.0, HV57)
    assert np.isclose(got, expected, rtol=2e-3)
    # the quoted "about 0.13": the plane-wave Rytov variance, heights from sea level
    assert 0.12 < got < 0.135


def test_zenith_scaling_laws():
    z = np.array([0.0, 30.0, 60.0])
    sec = 1 / np.cos(np.radians(z))
    r0 = tb.fried_parameter_m(850.0, z, 0.0, HV57)
    assert np.allclose(r0 / r0[0], sec**-0.6)
    s = tb.rytov_variance_downlink(850.0, z, 0.0, HV57)
    assert np.allclose(s / s[0], sec ** (11 / 6))
    assert np.isclose(tb.fried_parameter_m(1700.0, 0.0, 0.0, HV57) / tb.fried_parameter_m(850.0, 0.0, 0.0, HV57),
                      2.0**1.2)


def test_station_altitude_is_respected():
    low = tb.fried_parameter_m(850.0, 0.0, 0.0, HV57)
    high = tb.fried_parameter_m(850.0, 0.0, 2400.0, HV57)
    assert high > 1.5 * low  # most of the 100 m ground layer lies below a mountain site
    shifted = tb.fried_parameter_m(850.0, 0.0, 2400.0, Turbulence(heights_above_ground=True))
    assert np.isclose(shifted, low)


def test_aperture_averaging():
    small = tb.scintillation_weak_downlink(850.0, 30.0, 1e-4, 0.0, HV57)
    assert np.isclose(small, tb.rytov_variance_downlink(850.0, 30.0, 0.0, HV57), rtol=0.01)
    d = np.array([0.01, 0.1, 0.3, 1.0])
    s = np.array([tb.scintillation_weak_downlink(850.0, 30.0, x, 0.0, HV57) for x in d])
    assert np.all(np.diff(s) < 0)
    assert s[-1] / small < 0.01  # a 1 m telescope averages the ~4 cm speckle


def test_strong_fluctuations_saturate():
    res = tb.scintillation_downlink(850.0, 0.0, 1e-6, 0.0, Turbulence(ground_cn2=3e-9))
    assert res["rytov_variance"] > 1000
    # Andrews' plane-wave index tends to 1 + O(sigma_R^-4/5) in saturation
    assert abs(res["scintillation_index"] - 1.0) < 0.15
    weak = tb.scintillation_downlink(850.0, 0.0, 1e-6, 0.0, HV57)
    assert np.isclose(weak["scintillation_index"], weak["rytov_variance"], rtol=0.05)


def test_equivalent_d_reproduces_weak_factor():
    f = np.array([1.0, 0.5, 0.1, 0.003])
    d2 = tb.equivalent_d2(f)
    assert np.allclose(tb._weak_averaging_factor(d2), f, rtol=1e-8)


def test_seeing_coupling_closed_form():
    r0 = 0.1
    fwhm = np.hypot(0.98 * 850e-9 / r0, 1.03 * 850e-9 / 1.0)
    s = fwhm / 2.3548
    eta = tb.seeing_coupling(850.0, r0, 1.0, 20.0)
    assert np.isclose(eta, 1 - np.exp(-(10e-6) ** 2 / (2 * s**2)), rtol=1e-3)
    assert tb.seeing_coupling(850.0, r0, 1.0, 100.0) > 0.9999


@pytest.mark.parametrize("alt", [0.0, 960.0])
def test_weighted_height_is_in_the_troposphere(alt):
    h = tb.scintillation_weighted_height_m(alt, HV57)
    assert 3e3 < h < 15e3
