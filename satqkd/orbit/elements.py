"""Hypothetical satellites from orbital elements: circular, sun-synchronous, Walker.

Each satellite becomes an SGP4 ``Satrec`` through ``sgp4init`` (Vallado et al.,
AIAA 2006-6753), exactly like a catalogue TLE, so later stages cannot tell them apart.
Drag is off (B* = 0) unless given: a design study asks for the nominal orbit.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone

from sgp4.api import WGS72, Satrec

from satqkd.orbit.tle import ElementSet

# WGS-72 constants, the ones SGP4 itself uses (Vallado et al. 2006, Appendix).
MU_KM3_S2 = 398600.8
EARTH_RADIUS_KM = 6378.135
J2 = 0.001082616
# Rate of the mean Sun in right ascension: 360 deg per tropical year (365.2422 d).
SUN_MEAN_MOTION_RAD_S = 2.0 * math.pi / (365.2422 * 86400.0)
_SGP4_EPOCH0 = datetime(1949, 12, 31, tzinfo=timezone.utc)  # sgp4init counts days from here


def sun_synchronous_inclination_deg(altitude_km: float, eccentricity: float = 0.0) -> float:
    """Inclination of a sun-synchronous orbit at a mean altitude.

    The secular J2 drift of the node, dOmega/dt = -3/2 n J2 (R/p)^2 cos i, equals the
    mean Sun's motion (Vallado, Fundamentals of Astrodynamics, 4th ed., eq. 11-17)::

        cos i = -2 omega_sun p^2 / (3 n J2 R^2),  n = sqrt(mu / a^3),  p = a (1 - e^2)
    """
    a = EARTH_RADIUS_KM + altitude_km
    n = math.sqrt(MU_KM3_S2 / a**3)
    p = a * (1.0 - eccentricity**2)
    cos_i = -2.0 * SUN_MEAN_MOTION_RAD_S * p**2 / (3.0 * n * J2 * EARTH_RADIUS_KM**2)
    if not -1.0 <= cos_i <= 1.0:
        raise ValueError(f"no sun-synchronous orbit exists at altitude {altitude_km} km")
    return math.degrees(math.acos(cos_i))


def gmst_rad(epoch: datetime) -> float:
    """Greenwich mean sidereal time (IAU 1982; Vallado et al. 2006, Appendix C), UT1~UTC."""
    jd = (epoch - datetime(2000, 1, 1, 12, tzinfo=timezone.utc)).total_seconds() / 86400.0
    t = jd / 36525.0
    seconds = 67310.54841 + (876600.0 * 3600.0 + 8640184.812866) * t + 0.093104 * t**2 \
        - 6.2e-6 * t**3
    return math.radians((seconds / 240.0) % 360.0)


def raan_for_ltan_deg(epoch: datetime, ltan_hours: float) -> float:
    """Right ascension of the ascending node (TEME) giving a local mean solar time.

    Local mean solar time at east longitude lambda is UT + lambda/15 h, and the node's
    longitude is RAAN - GMST, hence RAAN = GMST + 15 deg/h (LTAN - UT).
    """
    ut_hours = epoch.hour + epoch.minute / 60.0 + (epoch.second + epoch.microsecond * 1e-6) / 3600
    return (math.degrees(gmst_rad(epoch)) + 15.0 * (ltan_hours - ut_hours)) % 360.0


def circular_orbit(
    name: str,
    norad_id: int,
    epoch: datetime,
    altitude_km: float,
    inclination_deg: float,
    raan_deg: float,
    phase_deg: float = 0.0,
    bstar: float = 0.0,
) -> ElementSet:
    """A circular orbit at a mean altitude, as an SGP4 element set.

    ``phase_deg`` is the argument of latitude at epoch (argument of perigee 0, so it is
    the mean anomaly). SGP4 takes the Kozai mean motion and recovers the Brouwer one
    internally; the Kozai value is iterated until SGP4's own semi-major axis gives the
    requested altitude, so the orbit flies at the altitude the user asked for.
    """
    if epoch.tzinfo is None:
        epoch = epoch.replace(tzinfo=timezone.utc)
    target_a_er = (EARTH_RADIUS_KM + altitude_km) / EARTH_RADIUS_KM
    n_rad_min = math.sqrt(MU_KM3_S2 / (EARTH_RADIUS_KM + altitude_km) ** 3) * 60.0
    epoch_days = (epoch - _SGP4_EPOCH0).total_seconds() / 86400.0
    for _ in range(8):
        sat = Satrec()
        sat.sgp4init(
            WGS72, "i", norad_id, epoch_days, bstar, 0.0, 0.0, 0.0,
            0.0, math.radians(inclination_deg), math.radians(phase_deg), n_rad_min,
            math.radians(raan_deg % 360.0),
        )
        # sat.a is the (Brouwer) semi-major axis in Earth radii; Kepler: n ~ a^-3/2.
        n_rad_min *= (sat.a / target_a_er) ** 1.5
        if abs(sat.a - target_a_er) * EARTH_RADIUS_KM < 1e-6:
            break
    if sat.error:
        raise ValueError(f"SGP4 rejects the orbit of {name} (error {sat.error})")
    return ElementSet(name=name, norad_id=norad_id, epoch=epoch, satrec=sat,
                      source=f"elements: circular {altitude_km} km, i={inclination_deg:.4f} deg",
                      design=True)


def parse_walker(pattern: str) -> tuple[float | None, int, int, int]:
    """Parse Walker notation ``i:t/p/f`` (or ``t/p/f``) into (i, t, p, f)."""
    incl: float | None = None
    body = pattern.strip()
    if ":" in body:
        head, body = body.split(":", 1)
        incl = float(head)
    t, p, f = (int(x) for x in body.split("/"))
    if t < 1 or p < 1 or t % p:
        raise ValueError(f"Walker t/p/f needs t a positive multiple of p, got {t}/{p}/{f}")
    if not 0 <= f < p:
        raise ValueError(f"Walker phasing f must be in 0..p-1, got f={f} with p={p}")
    return incl, t, p, f


def walker_constellation(
    name: str,
    first_norad_id: int,
    epoch: datetime,
    altitude_km: float,
    inclination_deg: float,
    total: int,
    planes: int,
    phasing: int,
    raan0_deg: float = 0.0,
    phase0_deg: float = 0.0,
    bstar: float = 0.0,
) -> list[ElementSet]:
    """Walker delta constellation i:t/p/f (Walker, J. Br. Interplanet. Soc. 24, 369, 1971).

    Plane j (0..p-1) has RAAN = RAAN0 + 360 j / p; satellite k (0..s-1, s = t/p) of
    plane j has argument of latitude u = u0 + 360 k / s + 360 f j / t.
    """
    per_plane = total // planes
    sats = []
    for j in range(planes):
        for k in range(per_plane):
            sats.append(
                circular_orbit(
                    f"{name}-P{j + 1}S{k + 1}",
                    first_norad_id + j * per_plane + k,
                    epoch,
                    altitude_km,
                    inclination_deg,
                    raan0_deg + 360.0 * j / planes,
                    phase0_deg + 360.0 * k / per_plane + 360.0 * phasing * j / total,
                    bstar,
                )
            )
    return sats
