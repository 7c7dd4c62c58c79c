"""Orbit benchmarks: a year of passes of one satellite over one station.

``orbit.year_geometry``: per-second geometry (elevation, azimuth, range, Sun, Moon,
sunlit, night) of every pass above 10 deg in one year, as one ragged dataset
(DESIGN.md section 7 target: <= 1 s). ``orbit.year_passes``: finding those passes.
"""

from __future__ import annotations

import time
import warnings
from datetime import datetime, timezone

from satqkd.orbit.elements import circular_orbit, raan_for_ltan_deg, sun_synchronous_inclination_deg
from satqkd.orbit.passes import find_passes, pass_geometry
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation


def _setup():
    epoch = datetime(2025, 1, 1, tzinfo=timezone.utc)
    es = circular_orbit("SSO-500", 300001, epoch, 500.0, sun_synchronous_inclination_deg(500.0),
                        raan_for_ltan_deg(epoch, 22.5))
    sat = Satellite("SSO-500", 300001, (es,))
    station = GroundStation("Xinglong", 40.3958, 117.5775, 960.0, 1.0)
    return sat, station, epoch.timestamp(), epoch.timestamp() + 365 * 86400.0


def run():
    sat, station, start, end = _setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # none expected: a design orbit is never stale
        find_passes(sat, [station], start, start + 86400.0)  # warm caches (ephemeris)
        t0 = time.perf_counter()
        passes = find_passes(sat, [station], start, end, 10.0)
        t_find = time.perf_counter() - t0
        pass_geometry(passes[:2], [station])
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            ds = pass_geometry(passes, [station])
            best = min(best, time.perf_counter() - t0)
    samples = ds.sizes["sample"]
    yield {"name": "orbit.year_passes", "value": round(t_find, 4), "unit": "s",
           "passes": len(passes)}
    yield {"name": "orbit.year_geometry", "value": round(best, 4), "unit": "s",
           "passes": len(passes), "samples": samples, "target": 1.0}
