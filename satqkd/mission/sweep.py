"""Design trade studies: ``satqkd sweep`` over any mission-file field.

A sweep is a grid of mission variants: one axis per swept field, every combination run
as a mission, the figures gathered into one CF dataset ``sweep.nc`` (one dimension per
axis, plus ``station``), with plots and ``sweep_report.md``.

**Field paths.** A path names a key of the mission file, as TOML would nest it, with
dots: ``mission.min_elevation_deg``, ``keys.tail_bound``. A component that is an integer
picks an entry of an array of tables (0-based): ``satellites.0.transmitter.aperture_m``;
``*`` applies to every entry: ``stations.*.aperture_m``; any other component met on an
array of tables picks the entry with that ``name``: ``stations.Graz.aperture_m``.
Missing tables on the way are created (``stations.0.clouds.clear_probability``).

**Values.** ``--grid PATH=V1,V2,...`` (command line, repeatable) or, in the mission file,

    [[sweep.grid]]
    field = "satellites.0.transmitter.aperture_m"
    values = [0.1, 0.2, 0.3]
    name = "aperture_m"        # dimension name (default: the path's last key)

On the command line each value is read as a TOML value (``0.3``, ``true``,
``"97.4:6/3/1"``, ``[0.5, 0.5]``); a bare word is a string, and commas inside brackets
or quotes do not split. Command-line axes replace the file's.

**Execution.** Points whose orbit stage is the same (same period, step, mask, night
threshold, satellites' orbits and stations' positions) share it: one task per satellite
of such a group finds that satellite's passes, computes their geometry once and runs
every pass for every point of the group (:func:`satqkd.mission.run.simulate_pass`, the
same per-pass function as ``satqkd run``). Passes entirely in daylight when the link
operates at night only are recognised from the Sun at AOS, TCA and LOS (1 deg margin;
the Sun moves < 0.01 deg from its chord over a pass) and report ``daylight`` without a
link budget, as ``satqkd run`` would. Tasks go to the executor of ``satqkd run``
(``--workers``, ``--scheduler``); every pass keeps its own random stream, so the
results do not depend on the workers. Each finished (point, satellite) is written to
``points/<point>/<satellite>.json`` with the point's configuration hash: ``--resume``
keeps them and runs only the rest.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

import satqkd
from satqkd import config
from satqkd.errors import InputError
from satqkd.mission.io import atomic_path, write_json_atomic, write_text_atomic

__all__ = ["Axis", "parse_grid_arg", "set_field", "sweep_points", "run_sweep", "SweepPoint",
           "sweep_dataset"]

#: Per-station sums a satellite task returns for each point.
SUMS = ("passes", "usable_passes", "secret_bits", "sifted_bits", "usable_sifted_bits",
        "usable_errors", "detections")


@dataclass(frozen=True)
class Axis:
    """One swept field: its path, values and dimension name."""

    field: str
    values: tuple
    name: str


# --------------------------------------------------------------------------- grid syntax
def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return [v for v in out if v]


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text  # a bare word: a string


def _default_name(field: str) -> str:
    last = [p for p in field.split(".") if p != "*" and not p.isdigit()][-1]
    return "".join(c if c.isalnum() or c == "_" else "_" for c in last)


def parse_grid_arg(arg: str) -> Axis:
    """``PATH=V1,V2,...`` -> :class:`Axis` (values as TOML values)."""
    if "=" not in arg:
        raise InputError(f"--grid {arg!r}: expected FIELD=VALUE1,VALUE2,... "
                         "(e.g. satellites.0.transmitter.aperture_m=0.1,0.2,0.3)")
    field, _, values = arg.partition("=")
    vals = [_toml_value(v) for v in _split_values(values)]
    if not field.strip() or not vals:
        raise InputError(f"--grid {arg!r}: needs a field and at least one value")
    return Axis(field.strip(), tuple(vals), _default_name(field.strip()))


def set_field(raw: dict, path: str, value: Any) -> None:
    """Set ``value`` at ``path`` (syntax in the module docstring) in a mission dict."""
    parts = path.split(".")
    nodes: list[Any] = [raw]
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        nxt: list[Any] = []
        for node in nodes:
            if isinstance(node, list):
                if part == "*":
                    targets = list(range(len(node)))
                elif part.lstrip("-").isdigit():
                    i = int(part)
                    if not -len(node) <= i < len(node):
                        raise InputError(f"sweep field {path!r}: index {i} but the array has "
                                         f"{len(node)} entries")
                    targets = [i]
                else:
                    targets = [i for i, e in enumerate(node)
                               if isinstance(e, dict) and str(e.get("name", "")).lower()
                               == part.lower()]
                    if not targets:
                        raise InputError(f"sweep field {path!r}: no entry named {part!r}")
                for i in targets:
                    if last:
                        node[i] = copy.deepcopy(value)
                    else:
                        nxt.append(node[i])
            elif isinstance(node, dict):
                if last:
                    node[part] = copy.deepcopy(value)
                else:
                    node.setdefault(part, {})
                    nxt.append(node[part])
            else:
                raise InputError(f"sweep field {path!r}: {'.'.join(parts[:depth])!r} is a "
                                 "value, not a table or an array of tables")
        nodes = nxt


# --------------------------------------------------------------------------- points
@dataclass(frozen=True)
class SweepPoint:
    """One combination of the grid."""

    point_id: str
    index: tuple[int, ...]
    cfg: config.MissionConfig
    sha: str
    orbit_key: str


def _orbit_key(cfg: config.MissionConfig) -> str:
    """What the orbit stage depends on: points with the same key share passes and geometry."""
    m = cfg.mission
    data = {
        "mission": [m.start.isoformat(), m.end.isoformat(), m.step_s, m.min_elevation_deg,
                    m.night_sun_elevation_deg],
        "satellites": [s.model_dump(mode="json", include={"name", "tle", "norad_id", "orbit"})
                       for s in cfg.satellites],
        "stations": [[s.name, s.lat_deg, s.lon_deg, s.alt_m] for s in cfg.stations],
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def sweep_points(path: Path, raw: dict, axes: list[Axis]) -> list[SweepPoint]:
    """Every combination of the axes as a validated mission (sweep section removed)."""
    base = copy.deepcopy(raw)
    base.pop("sweep", None)
    shape = tuple(len(a.values) for a in axes)
    out = []
    for index in np.ndindex(*shape):
        point = copy.deepcopy(base)
        for a, i in zip(axes, index):
            set_field(point, a.field, a.values[i])
        pid = "p" + "_".join(str(i) for i in index) if index else "p"
        label = ", ".join(f"{a.field} = {a.values[i]!r}" for a, i in zip(axes, index))
        try:
            cfg = config.load_mission_dict(point, path)
        except InputError as exc:
            raise InputError(f"sweep point {label}: {exc}") from None
        if cfg.keys.block != "pass":
            raise InputError(f"{path}: keys.block: a sweep runs every pass as its own block "
                             '(block = "pass")')
        out.append(SweepPoint(pid, tuple(int(i) for i in index), cfg, config.config_hash(cfg),
                              _orbit_key(cfg)))
    return out


# --------------------------------------------------------------------------- worker side
@dataclass(frozen=True)
class SatelliteTask:
    """One satellite of an orbit group, to be run for every (unfinished) point of it."""

    mission_path: str
    satellite: int  # position in build_satellites() order
    points: tuple[tuple[str, str, config.MissionConfig], ...]  # (point_id, sha, cfg)
    cost: float


@dataclass
class SatelliteResult:
    satellite: str
    sums: dict[str, dict[str, dict[str, float]]]  # point_id -> station -> SUMS
    passes: int
    geometry_passes: int
    # point_id -> passes with key, (pass_id, satellite, station, aos, los, secret_bits),
    # for the points with [[relay.demands]] (the relay figures are planned on them)
    rows: dict[str, list[list]] = field(default_factory=dict)


def _daylight_passes(passes, stations, threshold_deg: float) -> np.ndarray:
    """Passes certainly in daylight: the Sun above threshold + 1 deg at AOS, TCA and LOS."""
    from satqkd.orbit import geometry as geo

    day = np.zeros(len(passes), bool)
    by_name = {s.name: s for s in stations}
    for name in {p.station for p in passes}:
        idx = [i for i, p in enumerate(passes) if p.station == name]
        t = np.array([[passes[i].aos_s, passes[i].tca_s, passes[i].los_s] for i in idx]).ravel()
        sun = geo.sun_moon_directions(by_name[name], t)["sun_enu"]
        el = np.degrees(np.arcsin(np.clip(sun[:, 2], -1, 1))).reshape(-1, 3)
        day[idx] = np.all(el > threshold_deg + 1.0, axis=1)
    return day


def run_satellite_task(task: SatelliteTask) -> SatelliteResult:
    """Passes, geometry (once) and every pass for every point of the task."""
    from satqkd.mission.run import PassTask, simulate_pass
    from satqkd.mission.setup import build_satellites, build_stations
    from satqkd.orbit.passes import find_passes, pass_geometry
    from satqkd.ragged import PassCutter

    cfg0 = task.points[0][2]
    sat, sat_cfg = build_satellites(cfg0, task.mission_path)[task.satellite]
    stations = build_stations(cfg0)
    m = cfg0.mission
    with warnings.catch_warnings():  # hypothetical element sets: "stale" on every pass
        warnings.simplefilter("ignore")
        passes = find_passes(sat, stations, m.start.timestamp(), m.end.timestamp(),
                             m.min_elevation_deg)
    passes.sort(key=lambda p: (p.aos_s, p.station))
    night_only = not any(c.channel.operate_in_daylight for _, _, c in task.points)
    day = (_daylight_passes(passes, stations, m.night_sun_elevation_deg) if night_only
           else np.zeros(len(passes), bool))
    work = [i for i in range(len(passes)) if not day[i]]
    geometry = pass_geometry([passes[i] for i in work], stations, m.step_s,
                             m.night_sun_elevation_deg)
    cut = PassCutter(geometry)
    geos = {i: cut.dataset(j) for j, i in enumerate(work)}
    station_index = {s.name: i for i, s in enumerate(cfg0.stations)}
    sat_index = next(i for i, s in enumerate(cfg0.satellites) if s.name == sat_cfg.name)
    sums: dict[str, dict[str, dict[str, float]]] = {}
    rows: dict[str, list[list]] = {}
    for pid, _, cfg in task.points:
        acc = {s.name: dict.fromkeys(SUMS, 0) for s in cfg.stations}
        keyed = rows.setdefault(pid, []) if cfg.relay.demands else None
        for i, p in enumerate(passes):
            a = acc[p.station]
            a["passes"] += 1
            if day[i]:
                continue  # satqkd run reports "daylight": no key, nothing sifted
            attrs = simulate_pass(PassTask(geos[i], cfg, sat_index, station_index[p.station]),
                                  per_second=False).dataset.attrs
            secret, sifted = int(attrs["secret_bits"]), int(attrs["sifted_bits"])
            a["secret_bits"] += secret
            a["sifted_bits"] += sifted
            a["detections"] += int(attrs["detections"])
            if attrs["abort_reason"] in ("", None) and secret > 0:
                a["usable_passes"] += 1
                a["usable_sifted_bits"] += sifted
                a["usable_errors"] += float(attrs["qber"]) * sifted
            if keyed is not None and secret > 0:
                keyed.append([str(attrs["pass_id"]), sat.name, p.station, str(attrs["aos"]),
                              str(attrs["los"]), secret])
        sums[pid] = acc
    return SatelliteResult(sat.name, sums, len(passes), len(work), rows)


# --------------------------------------------------------------------------- main side
def _axes_from(cfg_raw: dict, path: Path, grid: list[str] | None) -> list[Axis]:
    if grid:
        axes = [parse_grid_arg(g) for g in grid]
    else:
        sec = config.SweepSection.model_validate(cfg_raw.get("sweep", {}))
        axes = [Axis(a.field, tuple(a.values), a.name or _default_name(a.field))
                for a in sec.grid]
    if not axes:
        raise InputError(f"{path}: nothing to sweep: give --grid FIELD=V1,V2 or a "
                         "[[sweep.grid]] section")
    names = [a.name for a in axes]
    for n in names:
        if names.count(n) > 1 or n == "station":
            raise InputError(f"sweep: dimension name {n!r} is used twice (or is 'station'); "
                             "give the axes distinct names")
    return axes


def _result_path(out: Path, pid: str, satellite: str) -> Path:
    return out / "points" / pid / f"{satellite}.json"


def _coord(values: tuple) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=float)
    return np.asarray([v if isinstance(v, str) else json.dumps(v, default=str)
                       for v in values], dtype=object)


def sweep_dataset(axes: list[Axis], points: list[SweepPoint],
                  sums: dict[str, dict[str, dict[str, float]]],
                  n_satellites: dict[str, int], relay: dict[str, dict] | None = None
                  ) -> xr.Dataset:
    """The sweep's CF dataset from the per-point, per-station sums (and, with ``relay``,
    each point's relay figures: :func:`satqkd.network.sweep_relay.relay_figures`)."""
    stations = [s.name for s in points[0].cfg.stations]
    shape = tuple(len(a.values) for a in axes)
    dims = tuple(a.name for a in axes)
    arr = {k: np.zeros(shape + (len(stations),)) for k in SUMS}
    sats = np.zeros(shape, dtype=np.int64)
    for p in points:
        for j, st in enumerate(stations):
            for k in SUMS:
                arr[k][p.index + (j,)] = sums[p.point_id][st][k]
        sats[p.index] = n_satellites[p.point_id]
    m = points[0].cfg.mission
    years = (m.end - m.start).total_seconds() / (365.25 * 86400.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        avail = arr["usable_passes"] / arr["passes"]
        qber = arr["usable_errors"] / arr["usable_sifted_bits"]
        tot = {k: arr[k].sum(-1) for k in SUMS}
        avail_t = tot["usable_passes"] / tot["passes"]
        qber_t = tot["usable_errors"] / tot["usable_sifted_bits"]
    sd = dims + ("station",)

    def v(d, data, units, long_name, **kw):
        return (d, data, {"units": units, "long_name": long_name, **kw})

    ds = xr.Dataset(
        {
            "secret_bits": v(sd, arr["secret_bits"].astype(np.int64), "bit",
                             "secret key bits over the mission, per station"),
            "total_secret_bits": v(dims, tot["secret_bits"].astype(np.int64), "bit",
                                   "secret key bits over the mission, all stations"),
            "secret_bits_per_year": v(dims, tot["secret_bits"] / years, "bit a-1",
                                      "secret key bits per year, all stations"),
            "sifted_bits": v(sd, arr["sifted_bits"].astype(np.int64), "bit",
                             "sifted key-basis bits, per station"),
            "passes": v(sd, arr["passes"].astype(np.int64), "1",
                        "passes above the elevation mask"),
            "usable_passes": v(sd, arr["usable_passes"].astype(np.int64), "1",
                               "passes that gave key"),
            "total_usable_passes": v(dims, tot["usable_passes"].astype(np.int64), "1",
                                     "passes that gave key, all stations"),
            "availability": v(sd, avail, "1", "usable passes / passes, per station"),
            "total_availability": v(dims, avail_t, "1", "usable passes / passes, all stations"),
            "qber": v(sd, qber, "1", "key-basis QBER of the usable passes (sifted-weighted)"),
            "total_qber": v(dims, qber_t, "1", "key-basis QBER of the usable passes, all stations"),
            "detections": v(sd, arr["detections"].astype(np.int64), "1", "detections"),
            "satellites": v(dims, sats, "1", "number of satellites of the point"),
        },
        coords={**{a.name: (a.name, _coord(a.values), {"long_name": a.field,
                                                       "mission_field": a.field})
                   for a in axes},
                "station": ("station", np.asarray(stations, dtype=object),
                            {"long_name": "ground station"})},
    )
    if relay:
        _add_relay(ds, axes, points, relay)
    ds.attrs.update({
        "Conventions": "CF-1.8", "title": f"satqkd sweep of {m.name}",
        "source": f"satqkd {satqkd.__version__}", "mission": m.name,
        "fidelity": points[0].cfg.mission.fidelity,
        "swept_fields": json.dumps([a.field for a in axes]),
        "mission_years": years,
        "start": m.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": m.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    return ds


#: Relay figures of a point (planner, pair): name -> (units, long_name).
RELAY_VARIABLES = {
    "delivered_bits": ("bit", "key delivered to both endpoints of the pair over the mission"),
    "met_fraction": ("1", "share of the pair's demand met"),
    "latency_mean_s": ("s", "mean latency from request to key"),
    "latency_max_s": ("s", "largest latency from request to key"),
}


def _add_relay(ds: xr.Dataset, axes: list[Axis], points: list[SweepPoint],
               relay: dict[str, dict]) -> None:
    """The relay figures as ``relay_*`` variables (dims: the axes, ``planner``, ``pair``)."""
    first = relay[points[0].point_id]
    pairs, planners = list(first["pairs"]), ["greedy", "milp"]
    shape = tuple(len(a.values) for a in axes)
    dims = tuple(a.name for a in axes)
    req = np.full(shape + (len(pairs),), np.nan)
    figs = {k: np.full(shape + (len(planners), len(pairs)), np.nan) for k in RELAY_VARIABLES}
    status = np.empty(shape + (len(planners),), dtype=object)
    gap = np.full(shape + (len(planners),), np.nan)
    for p in points:
        r = relay[p.point_id]
        if list(r["pairs"]) != pairs:
            raise InputError("sweep: the points have different [[relay.demands]]; sweep a "
                             "field that keeps the demands")
        req[p.index] = r["requested_bits"]
        for k in RELAY_VARIABLES:
            figs[k][p.index] = r[k]
        status[p.index] = r["status"]
        gap[p.index] = r["mip_gap"]
    ds.coords["pair"] = ("pair", np.asarray(pairs, dtype=object),
                         {"long_name": "demand (pair of endpoints), [[relay.demands]]"})
    ds.coords["planner"] = ("planner", np.asarray(planners, dtype=object),
                            {"long_name": "relay planner (greedy baseline, exact MILP)"})
    ds["relay_requested_bits"] = (dims + ("pair",), req, {
        "units": "bit", "long_name": "key requested by the pair over the mission"})
    for k, (units, long_name) in RELAY_VARIABLES.items():
        ds[f"relay_{k}"] = (dims + ("planner", "pair"), figs[k],
                            {"units": units, "long_name": long_name})
    ds["relay_plan_status"] = (dims + ("planner",), status, {
        "long_name": "planner status (optimal, time_limit: the MILP stopped at "
                     "[relay] milp_time_limit_s; heuristic: greedy)"})
    ds["relay_mip_gap"] = (dims + ("planner",), gap, {
        "units": "1", "long_name": "relative optimality gap of the MILP plan (nan: greedy)"})


def run_sweep(mission: Path | str, grid: list[str] | None = None,
              out_dir: Path | str | None = None, workers: int = 1,
              scheduler: str | None = None, resume: bool = False,
              progress: Callable[[str, int, int], None] | None = None,
              relay_figures: Callable[[config.MissionConfig, list], dict] | None = None
              ) -> Path:
    """Run a sweep; write ``sweep.nc``, plots and ``sweep_report.md``; return the folder.

    ``relay_figures``: for missions with ``[[relay.demands]]``, the network stage's
    planner of a point's relay figures (:func:`satqkd.network.sweep_relay.relay_figures`;
    ``satqkd sweep`` and :func:`satqkd.network.sweep_relay.run_sweep` pass it). This
    stage does not import the network stage above it.
    """
    from satqkd.mission.execute import open_executor, tune_allocator
    from satqkd.mission.setup import build_satellites

    path = Path(mission)
    t_start = time.perf_counter()
    raw = config._read_toml(path, "mission file")
    config.load_mission(path)  # the base mission itself must be valid
    axes = _axes_from(raw, path, grid)
    points = sweep_points(path, raw, axes)
    name = points[0].cfg.mission.name
    out = Path(out_dir) if out_dir is not None else Path("outputs") / f"{name}-sweep"
    out.mkdir(parents=True, exist_ok=True)
    if not resume and (out / "points").is_dir():
        import shutil

        shutil.rmtree(out / "points")

    groups: dict[str, list[SweepPoint]] = {}
    for p in points:
        groups.setdefault(p.orbit_key, []).append(p)
    sats_of: dict[str, list[str]] = {}
    n_satellites: dict[str, int] = {}
    tasks: list[SatelliteTask] = []
    sums: dict[str, dict[str, dict[str, dict[str, float]]]] = {p.point_id: {} for p in points}
    keyed: dict[str, dict[str, list]] = {p.point_id: {} for p in points}  # passes with key
    for members in groups.values():
        sat_names = [s.name for s, _ in build_satellites(members[0].cfg, path)]
        for p in members:
            n_satellites[p.point_id] = len(sat_names)
        for k, sname in enumerate(sat_names):
            todo = []
            for p in members:
                rp = _result_path(out, p.point_id, sname)
                if resume and rp.exists():
                    data = json.loads(rp.read_text())
                    if data.get("config_sha256") == p.sha:
                        sums[p.point_id][sname] = data["stations"]
                        keyed[p.point_id][sname] = data.get("rows", [])
                        continue
                todo.append((p.point_id, p.sha, p.cfg))
            if todo:
                years = (members[0].cfg.mission.end - members[0].cfg.mission.start
                         ).total_seconds() / 3.15e7
                tasks.append(SatelliteTask(str(path), k, tuple(todo),
                                           cost=(1.0 + len(todo)) * years))
        sats_of.update({p.point_id: sat_names for p in members})
    n_total = sum(len(v) for v in sats_of.values())
    n_done = sum(len(v) for v in sums.values())
    if progress:
        progress("sweep", n_done, n_total)
    stats = {"passes": 0, "geometry_passes": 0}

    def finished(r: SatelliteResult) -> None:
        nonlocal n_done
        sha = {p.point_id: p.sha for p in points}
        for pid, stations in r.sums.items():
            rp = _result_path(out, pid, r.satellite)
            rp.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(rp, {"config_sha256": sha[pid], "satellite": r.satellite,
                                   "stations": stations, "rows": r.rows.get(pid, [])})
            sums[pid][r.satellite] = stations
            keyed[pid][r.satellite] = r.rows.get(pid, [])
            n_done += 1
        stats["passes"] += r.passes
        stats["geometry_passes"] += r.geometry_passes
        if progress:
            progress("sweep", n_done, n_total)

    tune_allocator()
    t0 = time.perf_counter()
    with open_executor(workers, scheduler) as executor:
        order = sorted(range(len(tasks)), key=lambda i: -tasks[i].cost)
        executor.run(run_satellite_task, [tasks[i] for i in order], finished,
                     costs=[tasks[i].cost for i in order])
    t_sim = time.perf_counter() - t0

    # per point: sum the satellites in their fixed order (float sums independent of timing)
    per_point = {}
    for p in points:
        acc = {s.name: dict.fromkeys(SUMS, 0.0) for s in p.cfg.stations}
        for sname in sats_of[p.point_id]:
            for st, vals in sums[p.point_id][sname].items():
                for k in SUMS:
                    acc[st][k] += vals[k]
        per_point[p.point_id] = acc
    relay = None
    if any(p.cfg.relay.demands for p in points):
        if progress:
            progress("relay", 0, len(points))
        if relay_figures is not None:
            relay = {}
            for k, p in enumerate(points):  # the satellites' passes in their fixed order
                relay[p.point_id] = relay_figures(
                    p.cfg, [row for sname in sats_of[p.point_id]
                            for row in keyed[p.point_id].get(sname, [])])
                if progress:
                    progress("relay", k + 1, len(points))
    t_relay = time.perf_counter() - t0 - t_sim
    ds = sweep_dataset(axes, points, per_point, n_satellites, relay)
    if relay is None and any(p.cfg.relay.demands for p in points):
        ds.attrs["relay_figures"] = ("not computed: run_sweep was given no relay planner "
                                     "(satqkd sweep gives it)")
    timings = {"simulated": round(t_sim, 2), "relay": round(t_relay, 2),
               "total": round(time.perf_counter() - t_start, 2)}
    ds.attrs["workers"] = str(workers if scheduler is None else scheduler)
    with atomic_path(out / "sweep.nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    from satqkd.report.sweep_plots import plot_sweep, sweep_report

    plots = plot_sweep(ds, out / "plots")
    write_text_atomic(out / "sweep_report.md", sweep_report(ds, plots, out, timings, stats))
    write_json_atomic(out / "sweep.json", {
        "satqkd_version": satqkd.__version__, "mission_file": str(path),
        "axes": [{"field": a.field, "name": a.name, "values": list(a.values)} for a in axes],
        "points": {p.point_id: p.sha for p in points}, "workers": ds.attrs["workers"],
        "passes": stats["passes"], "passes_with_geometry": stats["geometry_passes"],
        "timings_s": {**timings, "total": round(time.perf_counter() - t_start, 2)},
    })
    return out
