"""Optical ground stations: position on the WGS84 ellipsoid and topocentric frame."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# WGS84 ellipsoid (NIMA TR8350.2).
WGS84_A_KM = 6378.137
WGS84_F = 1.0 / 298.257223563


@dataclass(frozen=True)
class GroundStation:
    """A ground station: geodetic position (WGS84) and its receiving telescope."""

    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    aperture_m: float = 1.0

    @property
    def itrf_km(self) -> np.ndarray:
        """Earth-fixed Cartesian position (km) from geodetic coordinates.

        x = (N + h) cos(phi) cos(lam), y = (N + h) cos(phi) sin(lam),
        z = (N (1 - e^2) + h) sin(phi), with N = a / sqrt(1 - e^2 sin^2 phi).
        """
        phi, lam = math.radians(self.lat_deg), math.radians(self.lon_deg)
        e2 = WGS84_F * (2.0 - WGS84_F)
        n = WGS84_A_KM / math.sqrt(1.0 - e2 * math.sin(phi) ** 2)
        h = self.alt_m / 1000.0
        return np.array([
            (n + h) * math.cos(phi) * math.cos(lam),
            (n + h) * math.cos(phi) * math.sin(lam),
            (n * (1.0 - e2) + h) * math.sin(phi),
        ])

    @property
    def enu_matrix(self) -> np.ndarray:
        """Rows are the local east, north and up unit vectors in the Earth-fixed frame."""
        phi, lam = math.radians(self.lat_deg), math.radians(self.lon_deg)
        sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
        return np.array([
            [-sl, cl, 0.0],
            [-sp * cl, -sp * sl, cp],
            [cp * cl, cp * sl, sp],
        ])
