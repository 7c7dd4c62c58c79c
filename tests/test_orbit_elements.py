"""Hypothetical satellites by elements: sun-synchronous orbits and Walker patterns."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from satqkd.orbit import geometry as geo
from satqkd.orbit.elements import (
    EARTH_RADIUS_KM,
    circular_orbit,
    parse_walker,
    raan_for_ltan_deg,
    sun_synchronous_inclination_deg,
    walker_constellation,
)

EPOCH = datetime(2025, 3, 1, 6, 30, tzinfo=timezone.utc)


def test_sun_synchronous_inclination_published_values():
    # Vallado (4th ed.) fig. 11-15 / Wertz: 500 km -> 97.4 deg, 800 km -> 98.6 deg.
    assert sun_synchronous_inclination_deg(500.0) == pytest.approx(97.40, abs=0.02)
    assert sun_synchronous_inclination_deg(800.0) == pytest.approx(98.60, abs=0.03)
    with pytest.raises(ValueError):
        sun_synchronous_inclination_deg(8000.0)


def _ascending_node_local_times(es, days: float) -> np.ndarray:
    """Local mean solar time (h) of each ascending-node crossing over ``days``."""
    t = es.epoch.timestamp() + np.arange(0.0, days * 86400.0, 5.0)
    whole, frac = geo.julian_date(t)
    _, r, _ = es.satrec.sgp4_array(whole, frac)
    up = np.flatnonzero((r[:-1, 2] < 0) & (r[1:, 2] >= 0))
    # interpolate the crossing time and position
    w = -r[up, 2] / (r[up + 1, 2] - r[up, 2])
    tc = t[up] + w * 5.0
    x = r[up, 0] + w * (r[up + 1, 0] - r[up, 0])
    y = r[up, 1] + w * (r[up + 1, 1] - r[up, 1])
    wc, fc = geo.julian_date(tc)
    lon = np.degrees(np.arctan2(y, x) - geo.gmst1982_rad(wc, fc))
    ut_h = (tc % 86400.0) / 3600.0
    return (ut_h + lon / 15.0) % 24.0


def test_sun_synchronous_orbit_has_its_inclination_and_local_time():
    alt, ltan = 510.0, 22.5
    incl = sun_synchronous_inclination_deg(alt)
    es = circular_orbit("SSO", 300001, EPOCH, alt, incl, raan_for_ltan_deg(EPOCH, ltan))
    assert math.degrees(es.satrec.inclo) == pytest.approx(incl, abs=1e-9)
    assert es.satrec.a * EARTH_RADIUS_KM - EARTH_RADIUS_KM == pytest.approx(alt, abs=1e-3)
    lt = _ascending_node_local_times(es, 30.0)
    # Mean local time of the node stays at LTAN (to a minute or so from SGP4's
    # short-periodic terms) because the J2 drift follows the mean Sun.
    dev = (lt - ltan + 12.0) % 24.0 - 12.0
    assert np.abs(dev).max() < 3.0 / 60.0
    assert abs(dev[-5:].mean() - dev[:5].mean()) < 1.0 / 60.0


def test_non_sun_synchronous_orbit_drifts_in_local_time():
    es = circular_orbit("ISSlike", 300002, EPOCH, 420.0, 51.6, raan_for_ltan_deg(EPOCH, 12.0))
    lt = _ascending_node_local_times(es, 30.0)
    drift = ((lt[-1] - lt[0] + 12.0) % 24.0) - 12.0
    assert abs(drift) > 1.0  # hours in a month


def test_walker_pattern():
    assert parse_walker("53:24/3/1") == (53.0, 24, 3, 1)
    assert parse_walker("6/3/1") == (None, 6, 3, 1)
    with pytest.raises(ValueError):
        parse_walker("7/3/1")
    with pytest.raises(ValueError):
        parse_walker("6/3/3")
    sats = walker_constellation("W", 310001, EPOCH, 550.0, 53.0, 6, 3, 1)
    assert len(sats) == 6 and len({s.norad_id for s in sats}) == 6
    raan = sorted({round(math.degrees(s.satrec.nodeo), 6) for s in sats})
    assert np.allclose(np.diff(raan), 120.0)
    # in-plane spacing 180 deg, inter-plane phase offset 360 f / t = 60 deg
    u = [math.degrees(s.satrec.mo + s.satrec.argpo) % 360.0 for s in sats]
    assert u[1] - u[0] == pytest.approx(180.0) and u[2] - u[0] == pytest.approx(60.0)
    # same altitude for all, and they are distinct orbits at a later time
    t = EPOCH + timedelta(hours=3)
    pos = []
    for s in sats:
        w, f = geo.julian_date(np.array([t.timestamp()]))
        _, r, _ = s.satrec.sgp4_array(w, f)
        pos.append(r[0])
    d = np.linalg.norm(np.array(pos)[:, None] - np.array(pos)[None], axis=2)
    assert d[np.triu_indices(6, 1)].min() > 100.0
