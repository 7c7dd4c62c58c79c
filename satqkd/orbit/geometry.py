"""Vectorised satellite-station geometry: SGP4 array propagation and frame rotations.

Satellite positions come from one SGP4 array call (TEME frame), are rotated to the
Earth-fixed frame by Greenwich mean sidereal time (IAU 1982, the rotation SGP4's TEME
frame is defined with; Vallado et al., AIAA 2006-6753, Appendix C; polar motion, a few
metres, is neglected), and projected on the station's east-north-up frame. Elevations
are geometric (no refraction) and positions are not corrected for light time (about
0.002 deg in LEO), as in skyfield's and astropy's satellite topocentric positions.

The Sun and the Moon (JPL DE421 through skyfield, apparent places) move across the
sky by about 0.25 deg per minute: they are computed every two minutes and the unit
vectors interpolated linearly, with an error below (0.5 deg)^2/8 ~ 1e-3 deg.
"""

from __future__ import annotations

import numpy as np
from sgp4.api import Satrec

from satqkd.orbit.ephemeris import ephemeris, timescale
from satqkd.orbit.stations import WGS84_A_KM, WGS84_F, GroundStation

UNIX_EPOCH_JD = 2440587.5
J2000_JD = 2451545.0
EARTH_EQUATORIAL_RADIUS_KM = 6378.137
SUN_MOON_NODE_S = 120.0


def julian_date(unix_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split Julian date (whole days at midnight, fraction) of UTC seconds since 1970."""
    unix_s = np.asarray(unix_s, dtype=float)
    days = np.floor(unix_s / 86400.0)
    return UNIX_EPOCH_JD + days, (unix_s - days * 86400.0) / 86400.0


def gmst1982_rad(jd_ut1_whole: np.ndarray, jd_ut1_fraction: np.ndarray) -> np.ndarray:
    """Greenwich mean sidereal time, IAU 1982 (Vallado et al. 2006, Appendix C).

    GMST(s) = 67310.54841 + (876600 h + 8640184.812866 s) T + 0.093104 T^2 - 6.2e-6 T^3,
    T in Julian centuries of UT1 from J2000; evaluated as the day fraction plus the
    slowly varying part so that float64 keeps microsecond precision.
    """
    t = ((jd_ut1_whole - J2000_JD) + jd_ut1_fraction) / 36525.0
    g = 67310.54841 + (8640184.812866 + (0.093104 - 6.2e-6 * t) * t) * t
    # 876600 h T contributes whole turns plus the UT1 day fraction (Earth rotation).
    turns = (jd_ut1_whole % 1.0) + jd_ut1_fraction + (g / 86400.0) % 1.0
    return (turns % 1.0) * 2.0 * np.pi


def teme_to_itrf_km(r_teme_km: np.ndarray, gmst_rad: np.ndarray) -> np.ndarray:
    """Rotate TEME positions (N, 3) to the Earth-fixed frame: r = R3(GMST) r_TEME."""
    c, s = np.cos(gmst_rad), np.sin(gmst_rad)
    x, y, z = r_teme_km[:, 0], r_teme_km[:, 1], r_teme_km[:, 2]
    return np.column_stack((c * x + s * y, -s * x + c * y, z))


def satellite_itrf_km(
    satrec: Satrec, unix_s: np.ndarray, dut1_s: np.ndarray | float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Earth-fixed satellite positions (N, 3) in km and SGP4 error codes (0 = fine)."""
    whole, frac = julian_date(unix_s)
    err, r, _ = satrec.sgp4_array(whole, frac)
    gmst = gmst1982_rad(whole, frac + np.asarray(dut1_s) / 86400.0)
    return teme_to_itrf_km(r, gmst), err


def itrf_to_geodetic(r_itrf_km: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-satellite point of Earth-fixed positions (N, 3): WGS84 latitude, longitude (deg)
    and height above the ellipsoid (km).

    Bowring's formula with two fixed-point steps: sub-millimetre at LEO heights, a few
    array operations for a whole mission (no per-sample skyfield calls).
    """
    r = np.asarray(r_itrf_km, dtype=float).reshape(-1, 3)
    x, y, z = r[:, 0], r[:, 1], r[:, 2]
    e2 = WGS84_F * (2.0 - WGS84_F)
    b = WGS84_A_KM * (1.0 - WGS84_F)
    ep2 = e2 / (1.0 - e2)
    p = np.hypot(x, y)
    lat = np.arctan2(z, p * (1.0 - e2))
    for _ in range(2):
        beta = np.arctan2((1.0 - WGS84_F) * np.sin(lat), np.cos(lat))
        lat = np.arctan2(z + ep2 * b * np.sin(beta) ** 3, p - e2 * WGS84_A_KM * np.cos(beta) ** 3)
    sin_lat = np.sin(lat)
    n = WGS84_A_KM / np.sqrt(1.0 - e2 * sin_lat**2)
    # Height from the projection on the normal: well conditioned at every latitude.
    h = p * np.cos(lat) + z * sin_lat - WGS84_A_KM ** 2 / n
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), h


#: Rows per matrix product in :func:`rotate_rows`: below OpenBLAS's threshold for
#: threading a product with three columns.
_ROWS_PER_PRODUCT = 16384


def rotate_rows(vectors: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``vectors @ matrix`` for (N, 3) rows and a 3 x 3 matrix, a block of rows at a time.

    One product over a year's million samples lets OpenBLAS start its threads, which on a
    machine whose cores are busy (a mission's own workers) spin for tens to hundreds of
    milliseconds; blocks small enough to run on one thread give the same rows (each row's
    sums are the same) in a few milliseconds.
    """
    vectors = np.asarray(vectors)
    if vectors.shape[0] <= _ROWS_PER_PRODUCT:
        return vectors @ matrix
    out = np.empty((vectors.shape[0], matrix.shape[1]), dtype=np.result_type(vectors, matrix))
    for i in range(0, vectors.shape[0], _ROWS_PER_PRODUCT):
        out[i:i + _ROWS_PER_PRODUCT] = vectors[i:i + _ROWS_PER_PRODUCT] @ matrix
    return out


def look_angles(
    r_itrf_km: np.ndarray, station: GroundStation
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Elevation (deg), azimuth (deg, from north through east) and slant range (km)."""
    rho = r_itrf_km - station.itrf_km
    enu = rotate_rows(rho, station.enu_matrix.T)
    range_km = np.sqrt(np.einsum("ij,ij->i", enu, enu))
    elevation = np.degrees(np.arcsin(np.clip(enu[:, 2] / range_km, -1.0, 1.0)))
    azimuth = np.degrees(np.arctan2(enu[:, 0], enu[:, 1])) % 360.0
    return elevation, azimuth, range_km


def dut1_s(unix_s: np.ndarray) -> np.ndarray:
    """UT1 - UTC (s) from skyfield's built-in IERS table."""
    unix_s = np.atleast_1d(np.asarray(unix_s, dtype=float))
    days = np.floor(unix_s / 86400.0)
    t = timescale().utc(1970, 1, 1 + days.astype(np.int64), 0, 0, unix_s - days * 86400.0)
    return np.atleast_1d(t.dut1)


def sun_moon_directions(station: GroundStation, unix_s: np.ndarray) -> dict[str, np.ndarray]:
    """Apparent Sun and Moon directions and the Moon's illuminated fraction.

    Returns ``sun_enu`` and ``moon_enu`` (N, 3) unit vectors in the station's
    east-north-up frame and ``moon_illumination`` (N,), from JPL DE421.
    """
    from skyfield.almanac import fraction_illuminated
    from skyfield.api import wgs84
    from skyfield.nutationlib import iau2000b_radians

    unix_s = np.atleast_1d(np.asarray(unix_s, dtype=float))
    days = np.floor(unix_s / 86400.0)
    t = timescale().utc(1970, 1, 1 + days.astype(np.int64), 0, 0, unix_s - days * 86400.0)
    # IAU 2000B nutation (1 mas) instead of skyfield's default 2000A: same answer at
    # this precision, ten times cheaper for thousands of nodes.
    t._nutation_angles_radians = iau2000b_radians(t)
    eph = ephemeris()
    observer = eph["earth"] + wgs84.latlon(station.lat_deg, station.lon_deg,
                                           elevation_m=station.alt_m)
    at = observer.at(t)
    out = {}
    for body in ("sun", "moon"):
        alt, az, _ = at.observe(eph[body]).apparent().altaz()
        el, azr = alt.radians, az.radians
        out[f"{body}_enu"] = np.column_stack(
            (np.cos(el) * np.sin(azr), np.cos(el) * np.cos(azr), np.sin(el))
        )
    out["moon_illumination"] = np.atleast_1d(fraction_illuminated(eph, "moon", t))
    return out


def interpolate_unit_vectors(
    node_s: np.ndarray, vectors: np.ndarray, unix_s: np.ndarray
) -> np.ndarray:
    """Linear interpolation of unit vectors between time nodes, renormalised."""
    out = np.column_stack([np.interp(unix_s, node_s, vectors[:, k]) for k in range(3)])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def angle_between_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (deg) between rows of two arrays of unit vectors (atan2 form, stable at 0)."""
    cross = np.linalg.norm(np.cross(a, b), axis=1)
    return np.degrees(np.arctan2(cross, np.einsum("ij,ij->i", a, b)))


def satellite_sunlit(r_itrf_km: np.ndarray, sun_itrf_unit: np.ndarray) -> np.ndarray:
    """Cylindrical Earth-shadow test (Vallado, Fundamentals of Astrodynamics, alg. 34).

    The satellite is lit when it is on the Sun's side of the Earth, or farther from the
    Earth-Sun line than one Earth radius.
    """
    along = np.einsum("ij,ij->i", r_itrf_km, sun_itrf_unit)
    perpendicular = np.linalg.norm(r_itrf_km - along[:, None] * sun_itrf_unit, axis=1)
    return (along > 0.0) | (perpendicular > EARTH_EQUATORIAL_RADIUS_KM)
