"""Pass finding and per-second pass geometry.

Passes are found in two steps: elevation on a coarse grid (one SGP4 array call per
satellite for all stations) flags candidate windows, with a threshold lowered by the
largest elevation change possible within half a grid step; each candidate is then
sampled every second, and AOS/LOS are interpolated to the exact crossing of the
minimum elevation, TCA by a parabola through the highest three samples.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import xarray as xr

from satqkd.orbit import geometry as geo
from satqkd.orbit.elements import MU_KM3_S2
from satqkd.orbit.satellite import STALE_EPOCH_DAYS, Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.orbit.tle import ElementSet


class StaleElementsWarning(UserWarning):
    """An element set's epoch is far from the pass it is used for."""


def to_datetime64(unix_s: np.ndarray | float) -> np.ndarray:
    """UTC seconds since 1970 -> numpy datetime64[ns]."""
    return (np.round(np.asarray(unix_s, dtype=float) * 1e9)).astype("datetime64[ns]")


def iso_utc(unix_s: float) -> str:
    """ISO 8601 UTC string with milliseconds, e.g. 2016-12-19T16:48:44.123Z."""
    return str(to_datetime64(unix_s).astype("datetime64[ms]")) + "Z"


@dataclass(frozen=True)
class Pass:
    """One pass of a satellite over a station above the minimum elevation."""

    satellite: str
    norad_id: int
    station: str
    aos_s: float  # UTC seconds since 1970
    tca_s: float
    los_s: float
    max_elevation_deg: float
    element_set: ElementSet

    @property
    def duration_s(self) -> float:
        return self.los_s - self.aos_s

    @property
    def epoch_offset_days(self) -> float:
        """Distance between the element-set epoch and the pass, in days."""
        return abs(self.tca_s - self.element_set.epoch.timestamp()) / 86400.0

    @property
    def pass_id(self) -> str:
        """A stable key: satellite, station and AOS to the second."""
        stamp = str(to_datetime64(math.floor(self.aos_s)).astype("datetime64[s]"))
        return f"{self.norad_id}_{self.station}_{stamp.replace('-', '').replace(':', '')}"


def _max_elevation_rate_deg_s(satellite: Satellite) -> float:
    """Upper bound of |d elevation / dt|: orbital speed over the lowest altitude."""
    rates = []
    for es in satellite.element_sets:
        a_km = es.satrec.a * geo.EARTH_EQUATORIAL_RADIUS_KM
        perigee_km = a_km * (1.0 - es.satrec.ecco) - geo.EARTH_EQUATORIAL_RADIUS_KM
        speed = math.sqrt(MU_KM3_S2 * (2.0 / (a_km * (1 - es.satrec.ecco)) - 1.0 / a_km))
        rates.append(math.degrees(speed / max(perigee_km, 100.0)))
    return max(rates)


def _positions(satellite: Satellite, unix_s: np.ndarray, dut1: float) -> np.ndarray:
    """Earth-fixed positions, each time propagated with its nearest element set."""
    out = np.empty((unix_s.size, 3))
    which = satellite.nearest_index(unix_s)
    for k in np.unique(which):
        sel = which == k
        out[sel], _ = geo.satellite_itrf_km(satellite.element_sets[k].satrec, unix_s[sel], dut1)
    return out


def _crossing(t0: float, e0: float, t1: float, e1: float, level: float) -> float:
    return t0 + (level - e0) * (t1 - t0) / (e1 - e0)


def find_passes(
    satellite: Satellite,
    stations: Sequence[GroundStation],
    start_s: float,
    end_s: float,
    min_elevation_deg: float = 10.0,
    coarse_step_s: float = 30.0,
) -> list[Pass]:
    """Every pass of ``satellite`` over each station between two UTC times (s since 1970).

    A pass cut by the mission window starts or ends at the window's edge.
    """
    if end_s <= start_s:
        return []
    grid = np.arange(start_s, end_s + coarse_step_s, coarse_step_s)
    dut1 = float(geo.dut1_s(0.5 * (start_s + end_s))[0])
    r_coarse = _positions(satellite, grid, dut1)
    margin = _max_elevation_rate_deg_s(satellite) * coarse_step_s / 2.0 + 1.0
    passes: list[Pass] = []
    for station in stations:
        el, _, _ = geo.look_angles(r_coarse, station)
        idx = np.flatnonzero(el > min_elevation_deg - margin)
        if idx.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(idx) > 1)
        for first, last in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]]):
            w0 = max(start_s, grid[first] - coarse_step_s)
            w1 = min(end_s, grid[last] + coarse_step_s)
            passes.extend(_refine(satellite, station, w0, w1, min_elevation_deg, dut1))
    passes.sort(key=lambda p: (p.aos_s, p.station))
    for p in passes:
        if p.epoch_offset_days > STALE_EPOCH_DAYS:
            warnings.warn(
                f"{p.satellite}: the element set nearest the pass of {iso_utc(p.aos_s)} over "
                f"{p.station} has epoch {p.element_set.epoch:%Y-%m-%d %H:%M} UTC, "
                f"{p.epoch_offset_days:.1f} days away (> {STALE_EPOCH_DAYS:g})",
                StaleElementsWarning,
                stacklevel=2,
            )
    return passes


def _refine(
    satellite: Satellite, station: GroundStation, w0: float, w1: float,
    min_el: float, dut1: float,
) -> list[Pass]:
    es = satellite.nearest(0.5 * (w0 + w1))
    t = np.arange(math.floor(w0), math.ceil(w1) + 1.0)
    t = np.clip(t, w0, w1)
    r, _ = geo.satellite_itrf_km(es.satrec, t, dut1)
    el, _, _ = geo.look_angles(r, station)
    above = el >= min_el
    if not above.any():
        return []
    idx = np.flatnonzero(above)
    breaks = np.flatnonzero(np.diff(idx) > 1)
    out = []
    for a, b in zip(np.r_[idx[0], idx[breaks + 1]], np.r_[idx[breaks], idx[-1]]):
        aos = t[a] if a == 0 else _crossing(t[a - 1], el[a - 1], t[a], el[a], min_el)
        los = t[b] if b == t.size - 1 else _crossing(t[b], el[b], t[b + 1], el[b + 1], min_el)
        k = a + int(np.argmax(el[a:b + 1]))
        tca, max_el = t[k], el[k]
        if 0 < k < t.size - 1:
            y0, y1, y2 = el[k - 1], el[k], el[k + 1]
            denom = y0 - 2.0 * y1 + y2
            if denom < 0.0:
                x = 0.5 * (y0 - y2) / denom  # vertex of the parabola, in steps from k
                tca = t[k] + x * (t[k + 1] - t[k])
                max_el = y1 - 0.25 * (y0 - y2) * x
        if los > aos:
            out.append(Pass(satellite.name, satellite.norad_id, station.name, float(aos),
                            float(tca), float(los), float(max_el), es))
    return out


def common_windows(
    passes_a: Sequence[Pass], passes_b: Sequence[Pass]
) -> list[tuple[Pass, Pass, float, float]]:
    """Intervals when one satellite is above the minimum elevation at two stations.

    Returns (pass over A, pass over B, start_s, end_s) for every overlap of passes of
    the same satellite: the windows a dual downlink can use.
    """
    out = []
    for pa in passes_a:
        for pb in passes_b:
            if pa.norad_id != pb.norad_id:
                continue
            t0, t1 = max(pa.aos_s, pb.aos_s), min(pa.los_s, pb.los_s)
            if t1 > t0:
                out.append((pa, pb, t0, t1))
    return out


def sample_times(p: Pass, step_s: float = 1.0) -> np.ndarray:
    """The pass's sample instants: multiples of ``step_s`` (UTC s) inside [AOS, LOS]."""
    first = math.ceil(p.aos_s / step_s) * step_s
    return np.arange(first, p.los_s + 1e-9, step_s)


_ATTRS = {
    "elevation": ("deg", "satellite elevation above the horizon (geometric)"),
    "azimuth": ("deg", "satellite azimuth, from north through east"),
    "range": ("km", "slant range from station to satellite"),
    "sun_elevation": ("deg", "apparent elevation of the Sun"),
    "sun_separation": ("deg", "angle between the line of sight and the Sun"),
    "moon_elevation": ("deg", "apparent elevation of the Moon"),
    "moon_separation": ("deg", "angle between the line of sight and the Moon"),
    "moon_illumination": ("1", "illuminated fraction of the lunar disc"),
    "sunlit": ("1", "satellite in sunlight (cylindrical Earth shadow)"),
    "night": ("1", "Sun below the night threshold elevation at the station"),
}


def pass_geometry(
    passes: Sequence[Pass],
    stations: Sequence[GroundStation],
    step_s: float = 1.0,
    night_sun_elevation_deg: float = -12.0,
) -> list[xr.Dataset]:
    """Per-second geometry of each pass as an ``xr.Dataset`` (dim ``time``).

    All passes are computed together: one SGP4 array call per element set, one
    skyfield ephemeris evaluation per station on a one-minute grid.
    """
    if not passes:
        return []
    by_name = {s.name: s for s in stations}
    times = [sample_times(p, step_s) for p in passes]
    bounds = np.cumsum([0] + [t.size for t in times])
    t_all = np.concatenate(times)
    r_all = np.empty((t_all.size, 3))
    dut1 = geo.dut1_s(np.array([p.aos_s for p in passes]))
    dut1_all = np.repeat(dut1, np.diff(bounds))
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(passes):
        groups[id(p.element_set)].append(i)
    for members in groups.values():
        sel = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in members])
        satrec = passes[members[0]].element_set.satrec
        r_all[sel], _ = geo.satellite_itrf_km(satrec, t_all[sel], dut1_all[sel])

    out: list[xr.Dataset | None] = [None] * len(passes)
    by_station: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(passes):
        by_station[p.station].append(i)
    for name, members in by_station.items():
        station = by_name[name]
        # One-minute Sun/Moon nodes covering every pass of this station.
        node_lists = [
            np.arange(math.floor(passes[i].aos_s / 60.0) * 60.0,
                      passes[i].los_s + 2 * geo.SUN_MOON_NODE_S, geo.SUN_MOON_NODE_S)
            for i in members
        ]
        nodes = np.unique(np.concatenate(node_lists))
        sm = geo.sun_moon_directions(station, nodes)
        enu_to_itrf = station.enu_matrix.T
        for i in members:
            sl = slice(bounds[i], bounds[i + 1])
            t, r = t_all[sl], r_all[sl]
            el, az, rng = geo.look_angles(r, station)
            los = (r - station.itrf_km) @ station.enu_matrix.T
            los /= rng[:, None]
            sun = geo.interpolate_unit_vectors(nodes, sm["sun_enu"], t)
            moon = geo.interpolate_unit_vectors(nodes, sm["moon_enu"], t)
            sun_el = np.degrees(np.arcsin(sun[:, 2]))
            data = {
                "elevation": el,
                "azimuth": az,
                "range": rng,
                "sun_elevation": sun_el,
                "sun_separation": geo.angle_between_deg(los, sun),
                "moon_elevation": np.degrees(np.arcsin(moon[:, 2])),
                "moon_separation": geo.angle_between_deg(los, moon),
                "moon_illumination": np.interp(t, nodes, sm["moon_illumination"]),
                "sunlit": geo.satellite_sunlit(r, sun @ enu_to_itrf.T),
                "night": sun_el < night_sun_elevation_deg,
            }
            out[i] = _dataset(passes[i], station, t, data, night_sun_elevation_deg)
    return out  # type: ignore[return-value]


def _dataset(p: Pass, station: GroundStation, t: np.ndarray, data: dict,
             night_sun_elevation_deg: float) -> xr.Dataset:
    variables = {
        name: ("time", values, {"units": _ATTRS[name][0], "long_name": _ATTRS[name][1]})
        for name, values in data.items()
    }
    ds = xr.Dataset(
        variables,
        coords={"time": ("time", to_datetime64(t), {"long_name": "time (UTC)"})},
        attrs={
            "Conventions": "CF-1.8",
            "satellite": p.satellite,
            "norad_id": p.norad_id,
            "station": station.name,
            "station_lat_deg": station.lat_deg,
            "station_lon_deg": station.lon_deg,
            "station_alt_m": station.alt_m,
            "pass_id": p.pass_id,
            "aos": iso_utc(p.aos_s),
            "tca": iso_utc(p.tca_s),
            "los": iso_utc(p.los_s),
            "max_elevation_deg": p.max_elevation_deg,
            "element_set_epoch": p.element_set.epoch.isoformat(),
            "element_set_source": p.element_set.source,
            "night_sun_elevation_deg": night_sun_elevation_deg,
        },
    )
    ds["night"].attrs["threshold_deg"] = night_sun_elevation_deg
    return ds
