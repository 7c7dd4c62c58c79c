"""Pass finding and per-second pass geometry.

Passes are found from elevation on a coarse grid (one SGP4 array call per satellite
for all stations), refined for all candidates at once (golden-section search for the
culmination, bisection for the mask crossings), so a year of passes costs a few
dozen array calls rather than a loop over seconds.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from satqkd.errors import InputError
from satqkd.notices import Notice, NoticeWarning
from satqkd.orbit import geometry as geo
from satqkd.orbit.refraction import apparent_elevation_deg
from satqkd.orbit.elements import MU_KM3_S2
from satqkd.orbit.satellite import STALE_EPOCH_DAYS, Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.orbit.tle import ElementSet
from satqkd.orbit.validity import (
    ValidSpan,
    check_start,
    satellite_spans,
    sgp4_errors,
    sgp4_reason,
    utc_text,
)
from satqkd.ragged import ragged_dataset


class StaleElementsWarning(NoticeWarning):
    """Element sets far from the passes they are used for (one warning per call)."""


class PropagationWarning(NoticeWarning):
    """SGP4 flags part of the mission period: no pass is made there."""


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
        """A stable key: satellite, station and AOS to the second; a safe file name
        (the station name as :func:`satqkd.paths.slug` spells it)."""
        from satqkd.paths import slug

        stamp = str(to_datetime64(math.floor(self.aos_s)).astype("datetime64[s]"))
        return f"{self.norad_id}_{slug(self.station)}_{stamp.replace('-', '').replace(':', '')}"


def _max_elevation_rate_deg_s(satellite: Satellite) -> float:
    """Upper bound of |d elevation / dt|: orbital speed over the lowest altitude."""
    rates = []
    for es in satellite.element_sets:
        a_km = es.satrec.a * geo.EARTH_EQUATORIAL_RADIUS_KM
        perigee_km = a_km * (1.0 - es.satrec.ecco) - geo.EARTH_EQUATORIAL_RADIUS_KM
        speed = math.sqrt(MU_KM3_S2 * (2.0 / (a_km * (1 - es.satrec.ecco)) - 1.0 / a_km))
        rates.append(math.degrees(speed / max(perigee_km, 100.0)))
    return max(rates)


def _positions(satellite: Satellite, unix_s: np.ndarray, dut1: float,
               spans: Sequence[ValidSpan], which: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Earth-fixed positions and a code per time (0: usable).

    Each time uses element set ``which`` (default: the nearest). The code is SGP4's error
    code, or the code that ended the set's valid span when the time lies beyond it
    (:mod:`satqkd.orbit.validity`); positions with a non-zero code mean nothing.
    """
    out = np.empty((unix_s.size, 3))
    code = np.zeros(unix_s.size, dtype=np.int64)
    if which is None:
        which = satellite.nearest_index(unix_s)
    for k in np.unique(which):
        sel = which == k
        t = unix_s[sel]
        out[sel], err = geo.satellite_itrf_km(satellite.element_sets[k].satrec, t, dut1)
        span = spans[k]
        code[sel] = np.where(err != 0, err, np.where(
            t >= span.hi_s, span.hi_code, np.where(t <= span.lo_s, span.lo_code, 0)))
    return out, code


def find_passes(
    satellite: Satellite,
    stations: Sequence[GroundStation],
    start_s: float,
    end_s: float,
    min_elevation_deg: float = 10.0,
    coarse_step_s: float = 30.0,
    refraction: bool = True,
    map_fn: Callable[[Callable[[Any], Any], Sequence[Any]], list[Any]] | None = None,
) -> list[Pass]:
    """Every pass of ``satellite`` over each station between two UTC times (s since 1970).

    Elevation is sampled every ``coarse_step_s`` (one SGP4 array call for all
    stations); each local maximum that could reach the mask (the threshold is lowered
    by the largest elevation change in half a step) is refined, for all candidates
    at once, by a golden-section search for the culmination and a bisection for the
    mask crossings on either side (elevation is unimodal within a pass). A pass cut
    by the mission window starts or ends at the window's edge. With ``refraction`` (default)
    the mask and ``max_elevation_deg`` are apparent elevations (Saemundsson 1986,
    :mod:`satqkd.orbit.refraction`), which moves AOS/LOS by ~1 s at a 10 deg mask.

    Every pass with a second SGP4 flags is dropped (and counted in the warning): the
    per-second geometry must be sound. ``map_fn(fn, items)`` (default: a loop here) may
    run the coarse propagation, in two halves of the grid, and each station's search and
    check in other processes: both are computed sample by sample and candidate by
    candidate, so the passes are the same bit for bit.
    """
    if end_s <= start_s:
        return []
    check_start(satellite, start_s, end_s)
    spans = satellite_spans(satellite, start_s, end_s)
    grid = np.arange(start_s, end_s + coarse_step_s, coarse_step_s)
    grid[-1] = min(grid[-1], end_s)
    dut1 = float(geo.dut1_s(0.5 * (start_s + end_s))[0])
    if map_fn is None:
        r_coarse, code = _positions(satellite, grid, dut1, spans)
    else:
        halves = map_fn(functools.partial(_positions, satellite, dut1=dut1, spans=spans),
                        np.array_split(grid, 2))
        r_coarse = np.concatenate([h[0] for h in halves])
        code = np.concatenate([h[1] for h in halves])
    flagged = code != 0
    if flagged.all():
        raise InputError(_no_orbit_message(satellite, spans, start_s, end_s, grid, code))
    margin = _max_elevation_rate_deg_s(satellite) * coarse_step_s / 2.0 + 1.0
    passes: list[Pass] = []
    dropped = 0
    search = functools.partial(_station_search, satellite, grid, r_coarse, flagged,
                               min_elevation_deg, margin, dut1, spans, refraction)
    found = map_fn(search, list(stations)) if map_fn is not None else map(search, stations)
    for station, (rows, n_bad) in zip(stations, found):
        passes.extend(Pass(satellite.name, satellite.norad_id, station.name, aos, tca, los,
                           peak, satellite.element_sets[k]) for aos, tca, los, peak, k in rows)
        dropped += n_bad
    passes.sort(key=lambda p: (p.aos_s, p.station))
    if flagged.any() or dropped:
        first = int(np.argmax(flagged)) if flagged.any() else 0
        where = (f"{flagged.mean():.0%} of the period, first at {utc_text(grid[first])}: "
                 f"{sgp4_reason(code[first])}" if flagged.any() else "")
        warnings.warn(PropagationWarning([Notice(
            "invalid propagation", "satellite",
            "with times SGP4 flags in the mission period (no pass is made there)",
            float(flagged.mean()),
            f"{satellite.name}: {where}" + (f"; {dropped} pass(es) dropped" if dropped else ""),
        )]), stacklevel=2)
    stale = [p for p in passes
             if not p.element_set.design and p.epoch_offset_days > STALE_EPOCH_DAYS]
    if stale:
        warnings.warn(StaleElementsWarning([Notice(
            "stale element set", "pass",
            f"using an element set more than {STALE_EPOCH_DAYS:g} days from the pass",
            p.epoch_offset_days,
            f"{p.epoch_offset_days:.0f} days: {p.satellite} over {p.station} "
            f"{iso_utc(p.aos_s)[:16]}Z, element set of {p.element_set.epoch:%Y-%m-%d %H:%M}",
        ) for p in stale]), stacklevel=2)
    return passes


def _no_orbit_message(satellite: Satellite, spans: Sequence[ValidSpan], start_s: float,
                      end_s: float, grid: np.ndarray, code: np.ndarray) -> str:
    """One line: satellite, period, why SGP4 gives no usable orbit, and since when."""
    k = int(satellite.nearest_index(start_s))
    es, span = satellite.element_sets[k], spans[k]
    if grid[0] >= span.hi_s:
        why = f"{sgp4_reason(span.hi_code)} from {utc_text(span.hi_s)} on"
    elif grid[-1] <= span.lo_s:
        why = f"{sgp4_reason(span.lo_code)} before {utc_text(span.lo_s)}"
    else:
        why = sgp4_reason(int(code[0]))
    return (f"{satellite.name}: no valid orbit from {utc_text(start_s)} to {utc_text(end_s)}: "
            f"{why} (element set of epoch {utc_text(es.epoch.timestamp())}, {es.source})")


def _seconds_sound(satellite: Satellite, spans: Sequence[ValidSpan],
                   rows: Sequence[tuple[float, float, int]]) -> list[bool]:
    """Whether SGP4 flags no second of each (AOS, LOS, element set index) row."""
    out = []
    for aos_s, los_s, k in rows:
        t = np.arange(math.floor(aos_s), math.ceil(los_s) + 1.0)
        out.append(bool(((sgp4_errors(satellite.element_sets[k].satrec, t) == 0)
                         & spans[k].contains(t)).all()))
    return out


_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _station_search(satellite: Satellite, grid: np.ndarray, r_coarse: np.ndarray,
                    flagged: np.ndarray, min_el: float, margin: float, dut1: float,
                    spans: Sequence[ValidSpan], refraction: bool, station: GroundStation
                    ) -> tuple[list[tuple[float, float, float, float, int]], int]:
    """One station's passes as plain rows (AOS, TCA, LOS, peak, element set index; they
    travel back from a worker without the element sets), and how many were dropped for
    an SGP4 flag (during the refinement, or on any second of the pass)."""
    el, _, _ = geo.look_angles(r_coarse, station)
    if refraction:  # the mask applies to the apparent elevation (what the telescope sees)
        el = apparent_elevation_deg(el, station.alt_m)
    el = np.where(flagged, -90.0, el)  # no pass where SGP4 is flagged
    rows, n_bad = _refine_all(satellite, station, grid, el, min_el, margin, dut1, spans,
                              refraction)
    # every second of a pass must propagate (the per-second geometry must be sound)
    sound = _seconds_sound(satellite, spans, [(r[0], r[2], r[4]) for r in rows])
    return [r for r, ok in zip(rows, sound) if ok], n_bad + sound.count(False)


def _refine_all(
    satellite: Satellite, station: GroundStation, grid: np.ndarray, el: np.ndarray,
    min_el: float, margin: float, dut1: float, spans: Sequence[ValidSpan],
    refraction: bool = True,
) -> tuple[list[tuple[float, float, float, float, int]], int]:
    """Passes over one station (rows as :func:`_station_search`), and how many candidates
    SGP4 flags during refinement."""
    n = grid.size
    # Coarse local maxima (edges count: a pass may be cut by the window).
    left = np.r_[-np.inf, el[:-1]]
    right = np.r_[el[1:], -np.inf]
    cand = np.flatnonzero((el >= left) & (el > right) & (el > min_el - margin))
    if cand.size == 0:
        return [], 0
    which = satellite.nearest_index(grid[cand])
    bad = np.zeros(cand.size, dtype=bool)  # a refinement step met an SGP4 flag

    def elevation(t: np.ndarray) -> np.ndarray:
        nonlocal bad
        r, code = _positions(satellite, t, dut1, spans, which)
        bad = bad | (code != 0)
        el_geo = geo.look_angles(r, station)[0]
        el = apparent_elevation_deg(el_geo, station.alt_m) if refraction else el_geo
        return np.where(code != 0, -90.0, el)

    # Culmination: golden-section search in the two coarse steps around each maximum.
    a = grid[np.maximum(cand - 1, 0)]
    b = grid[np.minimum(cand + 1, n - 1)]
    for _ in range(40):
        c = b - _GOLDEN * (b - a)
        d = a + _GOLDEN * (b - a)
        higher_c = elevation(c) > elevation(d)
        b = np.where(higher_c, d, b)
        a = np.where(higher_c, a, c)
        if np.max(b - a) < 1e-3:
            break
    tca = 0.5 * (a + b)
    peak = elevation(tca)
    keep = peak >= min_el
    cand, which, tca, peak, bad = cand[keep], which[keep], tca[keep], peak[keep], bad[keep]
    if cand.size == 0:
        return [], 0

    # Mask crossings: bracket with the nearest coarse sample below the mask, bisect.
    below = el < min_el
    idx_below = np.flatnonzero(below)
    j_before = np.searchsorted(idx_below, cand, side="left") - 1
    j_after = np.searchsorted(idx_below, cand, side="right")
    aos_lo = np.where(j_before >= 0, grid[idx_below[np.maximum(j_before, 0)]], grid[0])
    los_hi = np.where(j_after < idx_below.size,
                      grid[idx_below[np.minimum(j_after, idx_below.size - 1)]], grid[-1])
    # A pass in progress at the window's edge starts (ends) there.
    starts_cut = (j_before < 0) | (aos_lo > tca)
    ends_cut = (j_after >= idx_below.size) | (los_hi < tca)

    def crossing(lo: np.ndarray, hi: np.ndarray, rising: bool) -> np.ndarray:
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            up = elevation(mid) >= min_el
            if rising:
                hi, lo = np.where(up, mid, hi), np.where(up, lo, mid)
            else:
                lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
            if np.max(hi - lo) < 1e-3:
                break
        return 0.5 * (lo + hi)

    aos = np.where(starts_cut, grid[0], crossing(np.minimum(aos_lo, tca), tca, True))
    los = np.where(ends_cut, grid[-1], crossing(tca, np.maximum(los_hi, tca), False))
    return [
        (float(aos[k]), float(tca[k]), float(los[k]), float(peak[k]), int(which[k]))
        for k in range(cand.size) if los[k] > aos[k] and not bad[k]
    ], int(np.count_nonzero(bad & (los > aos)))


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
    "elevation": ("deg", "apparent satellite elevation above the horizon (refracted, Saemundsson 1986)"),
    "elevation_geometric": ("deg", "geometric satellite elevation (no refraction)"),
    "azimuth": ("deg", "satellite azimuth, from north through east"),
    "range": ("km", "slant range from station to satellite"),
    "sun_elevation": ("deg", "apparent elevation of the Sun"),
    "sun_separation": ("deg", "angle between the line of sight and the Sun"),
    "moon_elevation": ("deg", "apparent elevation of the Moon"),
    "moon_separation": ("deg", "angle between the line of sight and the Moon"),
    "moon_illumination": ("1", "illuminated fraction of the lunar disc"),
    "sunlit": ("1", "satellite in sunlight (cylindrical Earth shadow)"),
    "night": ("1", "Sun below the night threshold elevation at the station"),
    "lat": ("degrees_north", "sub-satellite latitude (WGS84)"),
    "lon": ("degrees_east", "sub-satellite longitude (WGS84)"),
    "altitude": ("km", "satellite height above the WGS84 ellipsoid"),
}


def pass_table(passes: Sequence[Pass], stations: Sequence[GroundStation]) -> pd.DataFrame:
    """One row per pass: identity, times (ISO 8601 UTC), station and element set."""
    by_name = {s.name: s for s in stations}
    return pd.DataFrame({
        "pass_id": [p.pass_id for p in passes],
        "satellite": [p.satellite for p in passes],
        "norad_id": [p.norad_id for p in passes],
        "station": [p.station for p in passes],
        "aos": [iso_utc(p.aos_s) for p in passes],
        "tca": [iso_utc(p.tca_s) for p in passes],
        "los": [iso_utc(p.los_s) for p in passes],
        "max_elevation_deg": [round(p.max_elevation_deg, 3) for p in passes],
        "duration_s": [round(p.duration_s, 3) for p in passes],
        "tle_epoch": [p.element_set.epoch.strftime("%Y-%m-%dT%H:%M:%SZ") for p in passes],
        "tle_source": [p.element_set.source for p in passes],
        "station_lat_deg": [by_name[p.station].lat_deg for p in passes],
        "station_lon_deg": [by_name[p.station].lon_deg for p in passes],
        "station_alt_m": [by_name[p.station].alt_m for p in passes],
    })


_PASS_ATTRS = {
    "max_elevation_deg": {"units": "deg", "long_name": "maximum elevation of the pass"},
    "duration_s": {"units": "s", "long_name": "time from AOS to LOS"},
    "station_lat_deg": {"units": "degrees_north", "long_name": "station latitude (WGS84)"},
    "station_lon_deg": {"units": "degrees_east", "long_name": "station longitude (WGS84)"},
    "station_alt_m": {"units": "m", "long_name": "station altitude"},
}


def independent_chunks(passes: Sequence[Pass], n_chunks: int,
                       gap_s: float | None = None) -> list[list[int]]:
    """Split time-ordered passes into about ``n_chunks`` runs whose geometry
    :func:`pass_geometry` computes exactly as it does for all passes at once.

    A run ends only where no pass is in progress for ``gap_s`` (default: three Sun/Moon
    interpolation steps plus a second, the reach of a pass's ephemeris nodes beyond AOS
    and LOS): no pass then shares an ephemeris node with a pass of another run, and
    passes that overlap in time (a dual downlink's two stations, several satellites over
    one station) stay together. Every other quantity is computed sample by sample, and
    each element set's SGP4 state is the same whichever samples it is evaluated on.
    Returns index lists into ``passes``, in order, covering every pass once (fewer runs
    where no gap allows a cut).
    """
    gap = 3.0 * geo.SUN_MOON_NODE_S + 1.0 if gap_s is None else gap_s
    size = max(1, math.ceil(len(passes) / max(n_chunks, 1)))
    chunks: list[list[int]] = []
    current: list[int] = []
    last_los = -math.inf
    for i, p in enumerate(passes):
        if len(current) >= size and p.aos_s >= last_los + gap:
            chunks.append(current)
            current = []
        current.append(i)
        last_los = max(last_los, p.los_s)
    if current:
        chunks.append(current)
    return chunks


def pass_geometry(
    passes: Sequence[Pass],
    stations: Sequence[GroundStation],
    step_s: float = 1.0,
    night_sun_elevation_deg: float = -12.0,
) -> xr.Dataset:
    """Per-second geometry of every pass, as one ragged dataset (see :mod:`satqkd.ragged`).

    All passes are computed together: one SGP4 array call per element set, and one
    skyfield ephemeris evaluation per station on a coarse grid. Cut single passes out
    with :func:`satqkd.ragged.pass_from_ragged` (dimension ``time``).
    """
    by_name = {s.name: s for s in stations}
    times = [sample_times(p, step_s) for p in passes]
    bounds = np.cumsum([0] + [t.size for t in times])
    t_all = np.concatenate(times) if times else np.zeros(0)
    r_all = np.empty((t_all.size, 3))
    pass_of_sample = np.repeat(np.arange(len(passes)), np.diff(bounds))
    if passes:
        dut1 = geo.dut1_s(np.array([p.aos_s for p in passes]))
        groups: dict[int, list[int]] = defaultdict(list)
        for i, p in enumerate(passes):
            groups[id(p.element_set)].append(i)
        for members in groups.values():
            sel = np.isin(pass_of_sample, members)
            satrec = passes[members[0]].element_set.satrec
            r_all[sel], err = geo.satellite_itrf_km(satrec, t_all[sel],
                                                    dut1[pass_of_sample[sel]])
            if err.any():  # find_passes makes no such pass; a hand-made one may
                i = int(np.flatnonzero(sel)[np.argmax(err != 0)])
                p = passes[pass_of_sample[i]]
                raise InputError(
                    f"{p.satellite}: the pass of {iso_utc(p.aos_s)} over {p.station} has "
                    f"{int(np.count_nonzero(err))} samples SGP4 flags, first at "
                    f"{iso_utc(t_all[i])}: {sgp4_reason(int(err[err != 0][0]))}")

    data = {name: np.empty(t_all.size) for name in _ATTRS}
    data["sunlit"] = np.zeros(t_all.size, dtype=bool)
    by_station: dict[str, list[int]] = defaultdict(list)
    for i, p in enumerate(passes):
        by_station[p.station].append(i)
    for name, members in by_station.items():
        station = by_name[name]
        sel = np.isin(pass_of_sample, members)
        t, r = t_all[sel], r_all[sel]
        # Coarse Sun/Moon nodes covering every pass of this station.
        node_lists = [np.arange(passes[i].aos_s - geo.SUN_MOON_NODE_S,
                                passes[i].los_s + 2 * geo.SUN_MOON_NODE_S, geo.SUN_MOON_NODE_S)
                      for i in members]
        nodes = np.unique(np.concatenate(node_lists))
        sm = geo.sun_moon_directions(station, nodes)
        el, az, rng = geo.look_angles(r, station)
        los = geo.rotate_rows(r - station.itrf_km, station.enu_matrix.T) / rng[:, None]
        sun = geo.interpolate_unit_vectors(nodes, sm["sun_enu"], t)
        moon = geo.interpolate_unit_vectors(nodes, sm["moon_enu"], t)
        data["elevation"][sel] = apparent_elevation_deg(el, station.alt_m)
        data["elevation_geometric"][sel] = el
        data["azimuth"][sel] = az
        data["range"][sel] = rng
        data["sun_elevation"][sel] = np.degrees(np.arcsin(sun[:, 2]))
        data["sun_separation"][sel] = geo.angle_between_deg(los, sun)
        data["moon_elevation"][sel] = np.degrees(np.arcsin(moon[:, 2]))
        data["moon_separation"][sel] = geo.angle_between_deg(los, moon)
        data["moon_illumination"][sel] = np.interp(t, nodes, sm["moon_illumination"])
        data["sunlit"][sel] = geo.satellite_sunlit(r, geo.rotate_rows(sun, station.enu_matrix))
    data["night"] = data["sun_elevation"] < night_sun_elevation_deg
    # The trajectory's CF coordinates (passes.nc): a few array operations for all passes.
    data["lat"], data["lon"], data["altitude"] = geo.itrf_to_geodetic(r_all)

    sample_vars = {name: (values, {"units": _ATTRS[name][0], "long_name": _ATTRS[name][1]})
                   for name, values in data.items()}
    sample_vars["night"][1]["threshold_deg"] = night_sun_elevation_deg
    return ragged_dataset(
        pass_table(passes, stations), np.diff(bounds), to_datetime64(t_all), sample_vars,
        attrs={"night_sun_elevation_deg": night_sun_elevation_deg, "step_s": step_s},
        pass_attrs=_PASS_ATTRS,
    )
