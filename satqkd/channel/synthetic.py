"""Synthetic pass geometry (circular orbit over a spherical Earth) for tests, docs and examples.

The satellite moves on a great circle of radius R + h at the circular speed; the
station sits at a central angle beta from the orbit plane, chosen so that the range at
culmination is ``min_range_km``. Sun and Moon angles are constants given by the caller.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from satqkd.orbit.refraction import apparent_elevation_deg

EARTH_RADIUS_KM = 6371.0
MU_KM3_S2 = 398600.4418


def synthetic_pass(
    altitude_km: float = 500.0,
    min_range_km: float = 645.0,
    max_range_km: float = 1200.0,
    step_s: float = 1.0,
    start: str = "2016-12-19T17:00:00",
    station: str = "Xinglong",
    station_lat_deg: float = 40.3958,
    station_lon_deg: float = 117.5775,
    station_alt_m: float = 960.0,
    sun_elevation_deg: float = -40.0,
    sun_separation_deg: float = 120.0,
    moon_elevation_deg: float = -10.0,
    moon_separation_deg: float = 90.0,
    moon_illumination: float = 0.0,
) -> xr.Dataset:
    """Geometry dataset of a pass from range ``max_range_km`` down to ``min_range_km`` and back."""
    r, rs = EARTH_RADIUS_KM + station_alt_m * 1e-3, EARTH_RADIUS_KM + altitude_km
    cos_beta = (r**2 + rs**2 - min_range_km**2) / (2 * r * rs)
    beta = np.arccos(np.clip(cos_beta, -1, 1))
    cos_gmax = (r**2 + rs**2 - max_range_km**2) / (2 * r * rs)
    theta_max = np.arccos(np.clip(cos_gmax / np.cos(beta), -1, 1))
    rate = np.sqrt(MU_KM3_S2 / rs) / rs
    half = theta_max / rate
    t = np.arange(-np.floor(half / step_s) * step_s, half + 1e-9, step_s)
    theta = rate * t
    a = np.array([np.sin(beta), 0.0, np.cos(beta)])
    u = np.cos(theta)[:, None] * a + np.sin(theta)[:, None] * np.array([0.0, 1.0, 0.0])
    rel = rs * u - np.array([0.0, 0.0, r])
    rng_km = np.linalg.norm(rel, axis=1)
    el = np.degrees(np.arcsin(rel[:, 2] / rng_km))
    az = np.degrees(np.arctan2(rel[:, 1], -rel[:, 0])) % 360.0
    n = t.shape[0]
    times = np.datetime64(start, "ns") + ((t - t[0]) * 1e9).astype("timedelta64[ns]")

    def var(values, units, name):
        return ("time", np.asarray(values), {"units": units, "long_name": name})

    return xr.Dataset(
        {
            "elevation": var(apparent_elevation_deg(el, station_alt_m), "deg",
                             "apparent elevation of the satellite (refracted)"),
            "elevation_geometric": var(el, "deg", "geometric elevation of the satellite"),
            "azimuth": var(az, "deg", "azimuth of the satellite"),
            "range": var(rng_km, "km", "slant range"),
            "sun_elevation": var(np.full(n, sun_elevation_deg), "deg", "elevation of the Sun"),
            "sun_separation": var(np.full(n, sun_separation_deg), "deg", "Sun - line of sight angle"),
            "moon_elevation": var(np.full(n, moon_elevation_deg), "deg", "elevation of the Moon"),
            "moon_separation": var(np.full(n, moon_separation_deg), "deg", "Moon - line of sight angle"),
            "moon_illumination": var(np.full(n, moon_illumination), "1", "illuminated fraction of the Moon"),
            "sunlit": var(np.zeros(n, bool), "1", "satellite in sunlight"),
            "night": var(np.full(n, sun_elevation_deg < -12.0), "1", "Sun below -12 deg"),
        },
        coords={"time": ("time", times, {"long_name": "time (UTC)"})},
        attrs={"satellite": "SYNTHETIC", "station": station, "station_lat_deg": station_lat_deg,
               "station_lon_deg": station_lon_deg, "station_alt_m": station_alt_m},
    )
