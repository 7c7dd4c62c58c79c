"""Sweep benchmark: the shipped trade study ``missions/walker-design-sweep.toml``.

``sweep.walker_design``: ``satqkd sweep`` of a Walker constellation of 1, 6 and 12
satellites x 3 transmitter apertures x 6 stations x one year at the counts level, on
``SATQKD_BENCH_WORKERS`` local workers (default: the cores); peak memory of the main
process and of the largest worker. ``SATQKD_BENCH_SWEEP_DAYS`` shortens the year (the
figure is then also extrapolated).
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import xarray as xr

REPO = Path(__file__).resolve().parent.parent
MISSION = REPO / "missions" / "walker-design-sweep.toml"


def run():
    from satqkd.mission.sweep import run_sweep

    days = float(os.environ.get("SATQKD_BENCH_SWEEP_DAYS", "365"))
    workers = int(os.environ.get("SATQKD_BENCH_WORKERS", str(os.cpu_count() or 2)))
    with tempfile.TemporaryDirectory() as tmp:
        mission = MISSION
        if days < 365:
            end = datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(days=days)
            mission = Path(tmp) / "short.toml"
            mission.write_text(MISSION.read_text().replace(
                "end = 2026-01-01T00:00:00Z", f"end = {end:%Y-%m-%dT%H:%M:%SZ}"))
        t0 = time.perf_counter()
        out = run_sweep(mission, None, Path(tmp) / "sweep", workers=workers)
        elapsed = time.perf_counter() - t0
        ds = xr.load_dataset(out / "sweep.nc")
        info = json.loads((out / "sweep.json").read_text())
    figure = {"name": "sweep.walker_design", "value": round(elapsed, 1), "unit": "s",
              "target": 300.0, "days": days, "workers": workers,
              "points": int(ds["total_secret_bits"].size), "passes": info["passes"],
              "passes_with_geometry": info["passes_with_geometry"],
              "secret_bits_per_year": {f"{w}/{a}": float(ds["secret_bits_per_year"].sel(
                  walker=w, aperture_m=a)) for w in ds["walker"].values
                  for a in ds["aperture_m"].values}}
    if days < 365:
        figure["year_extrapolated_s"] = round(elapsed * 365.0 / days, 1)
    yield figure
    yield {"name": "sweep.peak_rss_mb",
           "value": round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                              resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024.0, 1),
           "unit": "MB", "target": 2048.0}
