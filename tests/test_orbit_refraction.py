"""Refraction: Saemundsson (1986) and Bennett (1982) against their published values and each other."""

import numpy as np

from satqkd.orbit import refraction


def test_refraction_published_values():
    # Meeus, Astronomical Algorithms ch. 16: ~34' at the horizon (Saemundsson gives 29' from h = 0 true),
    # 5.3' at 10 deg, 1.0' at 45 deg (standard 101 kPa, 10 C)
    assert np.isclose(refraction.bennett_refraction_deg(0.0) * 60, 34.5, atol=0.2)
    assert np.isclose(refraction.bennett_refraction_deg(10.0) * 60, 5.3, atol=0.1)
    assert np.isclose(refraction.saemundsson_refraction_deg(45.0) * 60, 1.0, atol=0.05)


def test_saemundsson_and_bennett_are_inverse():
    h = np.linspace(3.0, 89.0, 200)
    back = refraction.geometric_elevation_deg(refraction.apparent_elevation_deg(h, 960.0), 960.0)
    assert np.max(np.abs(back - h)) * 60 < 0.1  # arcmin


def test_altitude_lowers_refraction():
    # Xinglong (960 m): P/P0 = 0.89, T = 281.9 K -> 0.89 of the sea-level value
    r0 = refraction.apparent_elevation_deg(20.0, 0.0) - 20.0
    r1 = refraction.apparent_elevation_deg(20.0, 960.0) - 20.0
    assert 0.85 < r1 / r0 < 0.92
