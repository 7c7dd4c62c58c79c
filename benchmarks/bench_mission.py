"""Mission benchmark: one satellite, four stations, one year, end to end.

``mission.year_4_stations``: ``missions/year-4-stations.toml`` through ``satqkd run``
(orbit, per-second link budget, photon-level engine, real error correction and privacy
amplification on every pass) on local worker processes; the time of each stage is
reported with it. ``mission.peak_rss_mb``: the largest resident memory of the main
process and of any worker.

Set ``SATQKD_BENCH_MISSION_DAYS`` (e.g. 7) to run only the first days of the year; the
figure is then also given extrapolated to the year (``year_extrapolated_s``).

``mission.year_4_stations_counts``: the same year with the ideal link
(``implementation_loss_db = 0`` and no air-mass term, about 24 times the detections) at
``fidelity = "counts"``;
``mission.year_4_stations_bits_0db``: that mission at the bits level in the same run, over
``SATQKD_BENCH_BITS0_DAYS`` days (default 14; the whole year takes many minutes on a
loaded 2-core machine) and extrapolated to the year, with the ratio to the counts run.
``SATQKD_BENCH_MISSION_ONLY=counts`` skips the as-flown bits year.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
MISSION = REPO / "missions" / "year-4-stations.toml"


def _variant(days: float, fidelity: str, loss_db: float | None) -> list[str]:
    """``--set`` overrides of year-4-stations: a shorter span, another fidelity, and the
    ideal link (``loss_db = 0``: no calibrated excess loss, constant nor elevation term)."""
    from datetime import datetime, timedelta, timezone

    sets = [f'mission.fidelity="{fidelity}"']
    if days < 365:
        end = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=days)
        sets.append(f"mission.end={end:%Y-%m-%dT%H:%M:%SZ}")
    if loss_db is not None:
        sets += [f"satellites.0.transmitter.implementation_loss_db={loss_db}",
                 "satellites.0.transmitter.implementation_loss_airmass_db=0.0"]
    return sets


def _timed_run(sets: list[str], out: Path, workers: int) -> tuple[float, "pd.DataFrame", dict]:
    from satqkd.mission.run import plan_mission, run_mission

    t0 = time.perf_counter()
    folder = run_mission(plan_mission(MISSION, sets, workers=workers), out, workers=workers)
    elapsed = time.perf_counter() - t0
    table = pd.read_csv(folder / "passes.csv", keep_default_na=False)
    return elapsed, table, json.loads((folder / "run.json").read_text())["timings_s"]


def run_counts(workers: int):
    """Counts level against bits level on the ideal-link year (same run, same machine)."""
    bits_days = float(os.environ.get("SATQKD_BENCH_BITS0_DAYS", "14"))
    with tempfile.TemporaryDirectory() as tmp:
        t_c, tab_c, st_c = _timed_run(_variant(365, "counts", 0.0),
                                      Path(tmp) / "counts", workers)
        rss_c = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
        t_b, tab_b, st_b = _timed_run(_variant(bits_days, "bits", 0.0),
                                      Path(tmp) / "bits0", workers)
        t_c14, tab_c14, _ = _timed_run(_variant(bits_days, "counts", 0.0),
                                       Path(tmp) / "counts14", workers)
    year_b = t_b * 365.0 / bits_days
    yield {"name": "mission.year_4_stations_counts", "value": round(t_c, 2), "unit": "s",
           "target": 15.0, "workers": workers, "implementation_loss_db": 0.0,
           "passes": int(len(tab_c)), "passes_with_key": int((tab_c["secret_bits"] > 0).sum()),
           "detections": int(tab_c["detections"].sum()),
           "secret_bits": int(tab_c["secret_bits"].sum()),
           "stages_s": {k: round(v, 3) for k, v in st_c.items()},
           "peak_rss_mb": round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                                    rss_c), 1)}
    yield {"name": "mission.year_4_stations_bits_0db", "value": round(t_b, 2), "unit": "s",
           "days": bits_days, "year_extrapolated_s": round(year_b, 1),
           "reference": round(t_c, 2), "ratio": round(year_b / t_c, 1),
           "secret_bits": int(tab_b["secret_bits"].sum()),
           "counts_secret_bits_same_days": int(tab_c14["secret_bits"].sum()),
           "counts_same_days_s": round(t_c14, 2),
           "detections": int(tab_b["detections"].sum()),
           "stages_s": {k: round(v, 3) for k, v in st_b.items()}}


def run():
    from satqkd.mission.run import plan_mission, run_mission

    days = float(os.environ.get("SATQKD_BENCH_MISSION_DAYS", "365"))
    workers = int(os.environ.get("SATQKD_BENCH_WORKERS", str(os.cpu_count() or 2)))
    yield from run_counts(workers)
    if os.environ.get("SATQKD_BENCH_MISSION_ONLY") == "counts":
        return
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        plan = plan_mission(MISSION, _variant(days, "bits", None), workers=workers)
        folder = run_mission(plan, Path(tmp) / "run", workers=workers)
        elapsed = time.perf_counter() - t0
        table = pd.read_csv(folder / "passes.csv", keep_default_na=False)
        stages = json.loads((folder / "run.json").read_text())["timings_s"]
    rss_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    rss_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    figure = {
        "name": "mission.year_4_stations", "value": round(elapsed, 2), "unit": "s",
        "target": 120.0, "days": days, "workers": workers, "passes": int(len(table)),
        "passes_with_key": int((table["secret_bits"] > 0).sum()),
        "detections": int(table["detections"].sum()),
        "secret_bits": int(table["secret_bits"].sum()),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "ns_per_detection_core": round(elapsed * workers / max(int(table["detections"].sum()), 1) * 1e9, 1),
    }
    if days < 365:
        figure["year_extrapolated_s"] = round(elapsed * 365.0 / days, 1)
    yield figure
    yield {"name": "mission.peak_rss_mb", "value": round(max(rss_self, rss_children), 1),
           "unit": "MB", "target": 2048.0, "main_mb": round(rss_self, 1),
           "largest_worker_mb": round(rss_children, 1)}
