"""Astronomical refraction: apparent elevation from geometric elevation and back.

Saemundsson, Sky & Telescope 72, 70 (1986), refraction from the geometric (true)
elevation h (deg):

    R = 1.02 / tan(h + 10.3 / (h + 5.11))       [arcmin]

Bennett, J. Navigation 35, 255 (1982), refraction from the apparent elevation h_a:

    R = 1 / tan(h_a + 7.31 / (h_a + 4.4))       [arcmin]

both for 101.0 kPa and 10 deg C, scaled by (P / 101 kPa) (283 K / T) (Meeus,
*Astronomical Algorithms*, ch. 16). The two are each other's inverse to about 0.1'
(tested). The station's P and T are the ISO 2533 standard atmosphere at its altitude.
Refraction is 34' at the horizon, 5.3' at 10 deg, 1' at 45 deg; the line of sight of a
satellite (above the atmosphere) is bent exactly like a star's.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def standard_pressure_kpa(altitude_m: ArrayLike) -> np.ndarray:
    """ISO 2533 troposphere: 101.325 kPa (1 - 2.25577e-5 h)^5.25588."""
    return 101.325 * (1.0 - 2.25577e-5 * np.asarray(altitude_m, float)) ** 5.25588


def standard_temperature_k(altitude_m: ArrayLike) -> np.ndarray:
    """ISO 2533 troposphere: 288.15 K - 6.5 K/km h."""
    return 288.15 - 0.0065 * np.asarray(altitude_m, float)


def _scale(pressure_kpa: ArrayLike, temperature_k: ArrayLike) -> np.ndarray:
    return np.asarray(pressure_kpa, float) / 101.0 * 283.0 / np.asarray(temperature_k, float)


def saemundsson_refraction_deg(geometric_elevation_deg: ArrayLike, pressure_kpa: ArrayLike = 101.0,
                               temperature_k: ArrayLike = 283.0) -> np.ndarray:
    """Refraction (deg) of a source at geometric elevation h, Saemundsson (1986); 0 below -2 deg."""
    h = np.asarray(geometric_elevation_deg, float)
    hc = np.maximum(h, -1.9)  # the formula diverges at h = -5.11 - ...; no optical link there anyway
    r = 1.02 / np.tan(np.radians(hc + 10.3 / (hc + 5.11))) / 60.0
    return np.where(h > -2.0, r * _scale(pressure_kpa, temperature_k), 0.0)


def bennett_refraction_deg(apparent_elevation_deg: ArrayLike, pressure_kpa: ArrayLike = 101.0,
                           temperature_k: ArrayLike = 283.0) -> np.ndarray:
    """Refraction (deg) of a source seen at apparent elevation h_a, Bennett (1982)."""
    ha = np.maximum(np.asarray(apparent_elevation_deg, float), -1.0)
    return 1.0 / np.tan(np.radians(ha + 7.31 / (ha + 4.4))) / 60.0 * _scale(pressure_kpa, temperature_k)


def apparent_elevation_deg(geometric_elevation_deg: ArrayLike, altitude_m: float = 0.0) -> np.ndarray:
    """Apparent (refracted) elevation seen from a station at ``altitude_m`` (standard atmosphere)."""
    h = np.asarray(geometric_elevation_deg, float)
    return h + saemundsson_refraction_deg(h, standard_pressure_kpa(altitude_m), standard_temperature_k(altitude_m))


def geometric_elevation_deg(apparent_elevation_deg: ArrayLike, altitude_m: float = 0.0) -> np.ndarray:
    """Geometric elevation of a source seen at ``apparent_elevation_deg`` (Bennett 1982)."""
    ha = np.asarray(apparent_elevation_deg, float)
    return ha - bennett_refraction_deg(ha, standard_pressure_kpa(altitude_m), standard_temperature_k(altitude_m))
