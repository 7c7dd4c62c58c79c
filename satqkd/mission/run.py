"""Run a mission: passes, per-second geometry, outputs (``satqkd run``)."""

from __future__ import annotations

import math
import shutil
import time
import warnings
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import xarray as xr

import satqkd
from satqkd import config
from satqkd.mission import store
from satqkd.mission.execute import execute
from satqkd.mission.io import atomic_path, write_json_atomic
from satqkd.mission.setup import build_satellites, build_stations
from satqkd.orbit.passes import Pass, find_passes, pass_geometry, pass_table
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.ragged import pass_from_ragged

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


#: Columns of ``passes.csv``, in order (those a stage has not produced are left out).
PASSES_CSV_COLUMNS = [
    "pass_id", "satellite", "norad_id", "station", "aos", "tca", "los", "max_elevation_deg",
    "duration_s", "tle_epoch",
]


def passes_csv_table(plan: "MissionPlan") -> pd.DataFrame:
    """The ``passes.csv`` columns known after the orbit stage."""
    table = pass_table(plan.passes, plan.stations)
    return table[[c for c in PASSES_CSV_COLUMNS if c in table.columns]]


def default_out_dir(cfg: config.MissionConfig) -> Path:
    return Path("outputs") / cfg.mission.name


@dataclass(frozen=True)
class PassTask:
    """Everything one pass needs, picklable for a worker process."""

    geometry: xr.Dataset  # per-pass geometry, dim "time", pass scalars as attrs
    cfg: config.MissionConfig
    satellite_index: int  # into cfg.satellites
    station_index: int  # into cfg.stations


def pass_seed(mission_seed: int, norad_id: int, station: str, aos_s: float) -> np.random.SeedSequence:
    """The pass's own random stream: keyed by (satellite, station, pass start).

    Any pass can be re-run alone, and results do not depend on how passes are
    distributed over workers (DESIGN.md section 3).
    """
    return np.random.SeedSequence(
        entropy=mission_seed,
        spawn_key=(int(norad_id), zlib.crc32(station.encode("utf-8")), int(math.floor(aos_s))),
    )


def simulate_pass(task: PassTask) -> xr.Dataset:
    """Run one pass through the stages after the orbit; return its result dataset."""
    ds = task.geometry.copy()
    return ds


def run_mission(
    mission: Path | str | MissionPlan,
    out_dir: Path | str | None = None,
    progress: Progress | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
) -> Path:
    """Run a mission (file path or plan); write its outputs; return the output folder.

    Each pass is checkpointed as soon as it finishes; ``resume=True`` keeps the
    checkpoints made with the same configuration and computes only the rest.
    """
    plan = mission if isinstance(mission, MissionPlan) else plan_mission(mission)
    cfg = plan.cfg
    out = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    sha = config.config_hash(cfg)

    t0 = time.perf_counter()
    geometry = pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                             cfg.mission.night_sun_elevation_deg)
    plan.timings_s["geometry"] = time.perf_counter() - t0

    ids = [p.pass_id for p in plan.passes]
    done = store.finished_passes(out, sha) if resume else set()
    if not resume and (out / store.CHECKPOINT_DIR).is_dir():
        shutil.rmtree(out / store.CHECKPOINT_DIR)
    sat_index = {sat.name: i for i, (sat, _) in enumerate(plan.satellites)}
    cfg_sat_index = {id(c): i for i, c in enumerate(cfg.satellites)}
    station_index = {s.name: i for i, s in enumerate(cfg.stations)}
    tasks = []
    for i, p in enumerate(plan.passes):
        if p.pass_id in done:
            continue
        tasks.append(PassTask(
            pass_from_ragged(geometry, i), cfg,
            cfg_sat_index[id(plan.satellites[sat_index[p.satellite]][1])],
            station_index[p.station],
        ))
    n_done = len(plan.passes) - len(tasks)
    if progress:
        progress("passes", n_done, len(plan.passes))

    t0 = time.perf_counter()

    def finished(result: xr.Dataset) -> None:
        nonlocal n_done
        store.write_checkpoint(out, result, sha)
        n_done += 1
        if progress:
            progress("passes", n_done, len(plan.passes))

    execute(simulate_pass, tasks, finished, workers=workers, scheduler=scheduler)
    plan.timings_s["passes_simulated"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = store.read_checkpoints(out, ids)
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else PASSES_CSV_COLUMNS)
    with atomic_path(out / "passes.csv") as tmp:
        table[[c for c in PASSES_CSV_COLUMNS if c in table.columns]].to_csv(tmp, index=False)
    store.merge_checkpoints(out, ids, out / "passes.nc", {
        "title": f"satqkd mission {cfg.mission.name}",
        "source": f"satqkd {satqkd.__version__}",
        "mission": cfg.mission.name,
        "config_sha256": sha,
        "step_s": cfg.mission.step_s,
    })
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
        "config_sha256": sha,
        "seed": cfg.mission.seed,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n_passes": len(plan.passes),
        "n_passes_resumed": len(done & set(ids)),
        "workers": workers if scheduler is None else scheduler,
        "tle_epochs_used": epochs,
        "warnings": plan.warnings,
        "timings_s": {k: round(v, 4) for k, v in plan.timings_s.items()},
    })
    return out


__all__ = ["MissionPlan", "PassTask", "pass_seed", "plan_mission", "passes_csv_table",
           "run_mission", "simulate_pass"]
