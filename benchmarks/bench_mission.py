"""Mission benchmark: one satellite, four stations, one year, end to end.

``mission.year_4_stations``: ``missions/year-4-stations.toml`` through ``satqkd run``
(orbit, per-second link budget, photon-level engine, real error correction and privacy
amplification on every pass) on local worker processes; the time of each stage is
reported with it. ``mission.peak_rss_mb``: the largest resident memory of the main
process and of any worker.

Set ``SATQKD_BENCH_MISSION_DAYS`` (e.g. 7) to run only the first days of the year; the
figure is then also given extrapolated to the year (``year_extrapolated_s``).
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


def run():
    from satqkd.mission.run import plan_mission, run_mission

    days = float(os.environ.get("SATQKD_BENCH_MISSION_DAYS", "365"))
    workers = int(os.environ.get("SATQKD_BENCH_WORKERS", str(os.cpu_count() or 2)))
    with tempfile.TemporaryDirectory() as tmp:
        mission = MISSION
        if days < 365:
            from datetime import datetime, timedelta, timezone

            end = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=days)
            mission = Path(tmp) / "short.toml"
            mission.write_text(MISSION.read_text().replace(
                "end = 2026-01-01T00:00:00Z", f"end = {end:%Y-%m-%dT%H:%M:%SZ}"))
        t0 = time.perf_counter()
        plan = plan_mission(mission)
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
