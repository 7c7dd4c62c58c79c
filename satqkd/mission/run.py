"""Run a mission: passes, per-second geometry, outputs (``satqkd run``)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

import satqkd
from satqkd import config
from satqkd.mission.io import atomic_path, write_json_atomic
from satqkd.mission.setup import build_satellites, build_stations
from satqkd.orbit.passes import Pass, find_passes, pass_geometry, pass_table
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation

Progress = Callable[[str, int, int], None]


@dataclass
class MissionPlan:
    """A validated mission with its satellites, stations and passes."""

    path: Path
    cfg: config.MissionConfig
    satellites: list[tuple[Satellite, config.Satellite]]
    stations: list[GroundStation]
    passes: list[Pass]
    warnings: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)


def plan_mission(path: Path | str) -> MissionPlan:
    """Read a mission file and find every pass of every satellite over every station."""
    path = Path(path)
    t0 = time.perf_counter()
    cfg = config.load_mission(path)
    sats = build_satellites(cfg, path)
    stations = build_stations(cfg)
    start, end = cfg.mission.start.timestamp(), cfg.mission.end.timestamp()
    passes: list[Pass] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for sat, _ in sats:
            passes.extend(find_passes(sat, stations, start, end, cfg.mission.min_elevation_deg))
    passes.sort(key=lambda p: (p.aos_s, p.station, p.norad_id))
    plan = MissionPlan(path, cfg, sats, stations, passes,
                       warnings=sorted({str(w.message) for w in caught}))
    plan.timings_s["passes"] = time.perf_counter() - t0
    return plan


def passes_csv_table(plan: "MissionPlan") -> pd.DataFrame:
    """The ``passes.csv`` columns known after the orbit stage."""
    table = pass_table(plan.passes, plan.stations)
    return table[["pass_id", "satellite", "norad_id", "station", "aos", "tca", "los",
                  "max_elevation_deg", "duration_s", "tle_epoch"]]


def default_out_dir(cfg: config.MissionConfig) -> Path:
    return Path("outputs") / cfg.mission.name


def run_mission(
    mission: Path | str | MissionPlan,
    out_dir: Path | str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Run a mission (file path or plan); write its outputs; return the output folder."""
    plan = mission if isinstance(mission, MissionPlan) else plan_mission(mission)
    cfg = plan.cfg
    out = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    geometry = pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                             cfg.mission.night_sun_elevation_deg)
    if progress:
        progress("geometry", len(plan.passes), len(plan.passes))
    plan.timings_s["geometry"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    with atomic_path(out / "passes.csv") as tmp:
        passes_csv_table(plan).to_csv(tmp, index=False)
    geometry.attrs.update({
        "title": f"satqkd mission {cfg.mission.name}",
        "source": f"satqkd {satqkd.__version__}",
        "mission": cfg.mission.name,
    })
    with atomic_path(out / "passes.nc") as tmp:
        geometry.to_netcdf(tmp, engine="h5netcdf")
    plan.timings_s["write"] = time.perf_counter() - t0

    epochs = {}
    for sat, _ in plan.satellites:
        used = sorted({p.element_set.source for p in plan.passes if p.norad_id == sat.norad_id})
        epochs[sat.name] = [
            {"epoch": es.epoch.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "source": es.source}
            for es in sat.element_sets if es.source in used
        ]
    write_json_atomic(out / "run.json", {
        "satqkd_version": satqkd.__version__,
        "mission": cfg.mission.name,
        "mission_file": str(plan.path),
        "config_sha256": config.config_hash(cfg),
        "seed": cfg.mission.seed,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n_passes": len(plan.passes),
        "tle_epochs_used": epochs,
        "warnings": plan.warnings,
        "timings_s": {k: round(v, 4) for k, v in plan.timings_s.items()},
    })
    return out


__all__ = ["MissionPlan", "plan_mission", "passes_csv_table", "run_mission"]
