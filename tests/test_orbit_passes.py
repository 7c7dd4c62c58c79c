"""Pass finding and per-second geometry against published and independent values."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from satqkd.orbit.passes import common_windows, find_passes, pass_geometry
from satqkd.ragged import pass_from_ragged
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.orbit.tle import read_element_sets

XINGLONG = GroundStation("Xinglong", 40.3958, 117.5775, 960.0, 1.0)


def _utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


@pytest.fixture(scope="module")
def micius():
    recs = read_element_sets(Path(__file__).resolve().parent.parent / "tle" / "micius.tle")
    return Satellite("MICIUS", 41731, tuple(recs))


@pytest.fixture(scope="module")
def micius_pass(micius):
    passes = find_passes(micius, [XINGLONG], _utc(2016, 12, 19, 16), _utc(2016, 12, 19, 18))
    assert len(passes) == 1
    return passes[0]


def test_micius_xinglong_pass_2016_12_19(micius_pass):
    """Liao et al. 2017 / DESIGN.md: 16:48:44 - 16:55:41 UTC, TCA 16:52:14 at 47.8 deg."""
    p = micius_pass
    assert abs(p.aos_s - _utc(2016, 12, 19, 16, 48, 44)) <= 2.0
    assert abs(p.tca_s - _utc(2016, 12, 19, 16, 52, 14)) <= 2.0
    assert abs(p.los_s - _utc(2016, 12, 19, 16, 55, 41)) <= 2.0
    assert abs(p.max_elevation_deg - 47.8) <= 0.1
    assert p.element_set.epoch.strftime("%y%j") == "16353"


def test_micius_pass_geometry(micius_pass):
    ds = pass_from_ragged(pass_geometry([micius_pass], [XINGLONG]), 0)
    assert ds.sizes["time"] == 419  # 417 geometric; refraction lifts the 10 deg mask crossings ~1 s
    assert abs(float(ds["range"].min()) - 645.0) <= 2.0
    assert float(ds["elevation"].min()) >= 10.0
    assert ds["range"].attrs["units"] == "km" and ds["elevation"].attrs["units"] == "deg"
    assert bool(ds["night"].all()) and not bool(ds["sunlit"].any())  # a December night pass
    # culmination sample is the one with the shortest range
    assert np.argmax(ds["elevation"].values) == np.argmin(ds["range"].values)


def test_geometry_matches_astropy(micius_pass):
    """Independent path: sgp4 TEME -> astropy (IAU 2006 + IERS) -> topocentric AltAz."""
    import astropy.units as u
    from astropy.coordinates import (
        ITRS, TEME, AltAz, CartesianDifferential, CartesianRepresentation, EarthLocation,
        get_body,
    )
    from astropy.time import Time

    from satqkd.orbit.ephemeris import configure_astropy_offline

    configure_astropy_offline()
    ds = pass_from_ragged(pass_geometry([micius_pass], [XINGLONG]), 0)
    sub = ds.isel(time=slice(0, None, 20))
    t = Time(sub["time"].values, scale="utc")
    sat = micius_pass.element_set.satrec
    _, r, v = sat.sgp4_array(t.jd1, t.jd2)
    teme = TEME(CartesianRepresentation(r.T * u.km).with_differentials(
        CartesianDifferential(v.T * u.km / u.s)), obstime=t)
    itrs = teme.transform_to(ITRS(obstime=t))
    loc = EarthLocation.from_geodetic(XINGLONG.lon_deg * u.deg, XINGLONG.lat_deg * u.deg,
                                      XINGLONG.alt_m * u.m)
    topo = ITRS(itrs.cartesian.without_differentials() - loc.get_itrs(t).cartesian,
                obstime=t, location=loc)
    aa = topo.transform_to(AltAz(obstime=t, location=loc))
    assert np.abs(aa.alt.deg - sub["elevation_geometric"].values).max() < 0.01  # astropy: no refraction
    # apparent = geometric + refraction (Saemundsson 1986): 0.02-0.1 deg over this pass
    assert np.all(sub["elevation"].values > sub["elevation_geometric"].values)
    daz = (aa.az.deg - sub["azimuth"].values + 180.0) % 360.0 - 180.0
    assert np.abs(daz * np.cos(np.radians(aa.alt.deg))).max() < 0.01
    assert np.abs(aa.distance.km - sub["range"].values).max() < 0.05
    # Sun and Moon: astropy's own ephemeris is independent of DE421 at the 0.01 deg level
    frame = AltAz(obstime=t, location=loc)
    sun = get_body("sun", t, loc).transform_to(frame)
    moon = get_body("moon", t, loc).transform_to(frame)
    assert np.abs(sun.alt.deg - sub["sun_elevation"].values).max() < 0.02
    assert np.abs(moon.alt.deg - sub["moon_elevation"].values).max() < 0.05
    sep = sun.separation(aa).deg
    assert np.abs(sep - sub["sun_separation"].values).max() < 0.02


def test_pass_finding_agrees_with_skyfield_events(micius):
    """A day of passes over two stations against skyfield's find_events (AOS/LOS 2 s)."""
    from skyfield.api import EarthSatellite, wgs84

    from satqkd.orbit.ephemeris import timescale

    graz = GroundStation("Graz", 47.0671, 15.4933, 539.4)
    start, end = _utc(2016, 12, 19), _utc(2016, 12, 20)
    ours = find_passes(micius, [XINGLONG, graz], start, end, 10.0, refraction=False)  # skyfield: geometric
    refracted = find_passes(micius, [XINGLONG, graz], start, end, 10.0)
    assert all(r.aos_s < p.aos_s and r.los_s > p.los_s for r, p in zip(refracted, ours))
    ts = timescale()
    es = micius.element_sets[0]
    sf_sat = EarthSatellite.from_satrec(es.satrec, ts)
    for station in (XINGLONG, graz):
        topos = wgs84.latlon(station.lat_deg, station.lon_deg, elevation_m=station.alt_m)
        t, events = sf_sat.find_events(topos, ts.utc(2016, 12, 19), ts.utc(2016, 12, 20), 10.0)
        rises = [tt.utc_datetime().timestamp() for tt, e in zip(t, events) if e == 0]
        culms = [tt.utc_datetime().timestamp() for tt, e in zip(t, events) if e == 1]
        sets = [tt.utc_datetime().timestamp() for tt, e in zip(t, events) if e == 2]
        mine = [p for p in ours if p.station == station.name]
        assert len(mine) == len(rises) == len(sets) >= 2
        for p, a, c, b in zip(mine, rises, culms, sets):
            assert abs(p.aos_s - a) < 2.0 and abs(p.los_s - b) < 2.0 and abs(p.tca_s - c) < 2.0


def test_low_pass_is_not_missed(micius):
    """Passes culminating just above the mask must still be found by the coarse search."""
    ours = find_passes(micius, [XINGLONG], _utc(2016, 12, 19), _utc(2016, 12, 26), 10.0)
    fine = find_passes(micius, [XINGLONG], _utc(2016, 12, 19), _utc(2016, 12, 26), 10.0,
                       coarse_step_s=5.0)
    assert [round(p.aos_s) for p in ours] == [round(p.aos_s) for p in fine]
    assert min(p.max_elevation_deg for p in ours) < 20.0


def test_common_visibility_windows(micius):
    delingha = GroundStation("Delingha", 37.3790, 97.7269, 3153.0)
    lijiang = GroundStation("Lijiang", 26.6939, 100.0293, 3233.0)
    passes = find_passes(micius, [delingha, lijiang], _utc(2016, 12, 19), _utc(2016, 12, 21))
    a = [p for p in passes if p.station == "Delingha"]
    b = [p for p in passes if p.station == "Lijiang"]
    windows = common_windows(a, b)
    assert windows, "Delingha and Lijiang (1203 km apart) share Micius passes"
    for pa, pb, t0, t1 in windows:
        assert pa.aos_s <= t0 < t1 <= pa.los_s and pb.aos_s <= t0 < t1 <= pb.los_s


def test_pass_cut_by_the_mission_window(micius, micius_pass):
    mid = micius_pass.tca_s
    first = find_passes(micius, [XINGLONG], mid - 3600.0, mid)
    second = find_passes(micius, [XINGLONG], mid, mid + 3600.0)
    assert len(first) == len(second) == 1
    assert abs(first[0].aos_s - micius_pass.aos_s) < 0.01 and first[0].los_s == mid
    assert second[0].aos_s == mid and abs(second[0].los_s - micius_pass.los_s) < 0.01


def test_independent_chunks_give_the_geometry_of_all_passes_at_once():
    """Runs cut where no pass is in progress (the mission stage computes one per worker)
    give every geometry variable bit for bit as one call over all passes does, also with
    passes overlapping in time (12 satellites over six stations)."""
    from pathlib import Path

    from satqkd.mission.run import plan_mission
    from satqkd.orbit.passes import independent_chunks, pass_geometry

    mission = Path(__file__).resolve().parent.parent / "missions" / "walker-design-sweep.toml"
    plan = plan_mission(mission, ["mission.end=2025-01-03T00:00:00Z",
                                  'satellites.0.orbit.walker="97.4:12/3/1"'])
    passes = plan.passes
    overlapping = sum(1 for a, b in zip(passes, passes[1:]) if b.aos_s < a.los_s)
    assert overlapping > 0
    runs = independent_chunks(passes, 4)
    assert len(runs) > 1 and sorted(i for r in runs for i in r) == list(range(len(passes)))
    for a, b in zip(runs, runs[1:]):  # no pass in progress across a cut
        assert max(passes[i].los_s for i in a) + 361.0 <= passes[b[0]].aos_s
    whole = pass_geometry(passes, plan.stations, 1.0)
    parts = [pass_geometry([passes[i] for i in r], plan.stations, 1.0) for r in runs]
    for name, v in whole.variables.items():
        if v.dims[:1] in (("sample",), ("pass",)):
            joined = np.concatenate([p.variables[name].values for p in parts])
            assert joined.dtype == v.dtype and np.array_equal(
                joined, v.values, equal_nan=joined.dtype.kind == "f"), name
    assert independent_chunks(passes, 1) == [list(range(len(passes)))]


def test_pass_search_on_forked_workers_is_bit_identical():
    """find_passes with its coarse propagation and station searches on two forked
    processes (``plan_mission(workers=2)``) finds the same passes, float for float."""
    from pathlib import Path

    from satqkd.mission.execute import fork_available
    from satqkd.mission.run import plan_mission

    if not fork_available():
        pytest.skip("no fork on this platform")
    mission = Path(__file__).resolve().parent.parent / "missions" / "year-4-stations.toml"
    sets = ["mission.end=2025-01-20T00:00:00Z"]
    serial, forked = plan_mission(mission, sets), plan_mission(mission, sets, workers=2)
    assert len(serial.passes) > 20
    key = lambda p: (p.pass_id, p.aos_s, p.tca_s, p.los_s, p.max_elevation_deg,  # noqa: E731
                     p.element_set.epoch)
    assert [key(p) for p in serial.passes] == [key(p) for p in forked.passes]
    assert serial.warnings == forked.warnings
