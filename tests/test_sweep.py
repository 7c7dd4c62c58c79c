"""satqkd sweep: field paths, grid values, results independent of the workers, resume,
and a point equal to `satqkd run` of the same mission."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satqkd.errors import InputError
from satqkd.mission.sweep import parse_grid_arg, run_sweep, set_field

MISSION = """
[mission]
name = "sweep-test"
start = 2025-01-10T00:00:00Z
end = 2025-01-12T00:00:00Z
seed = 7
min_elevation_deg = 20.0
fidelity = "counts"

[[satellites]]
name = "Q"
[satellites.orbit]
altitude_km = 500.0
ltan_h = 22.5
walker = "2/2/1"
epoch = 2025-01-10T00:00:00Z

[[stations]]
name = "Xinglong"
[stations.clouds]
model = "clear"
[[stations]]
name = "Graz"

[report]
pass_plots = 0
mission_report = false

[[sweep.grid]]
field = "satellites.0.transmitter.aperture_m"
values = [0.15, 0.3]
"""


def test_field_paths_and_values():
    raw = {"satellites": [{"name": "A"}], "stations": [{"name": "Graz"}, {"name": "Ngari"}]}
    set_field(raw, "satellites.0.transmitter.aperture_m", 0.2)
    set_field(raw, "stations.*.aperture_m", 1.5)
    set_field(raw, "stations.ngari.detector.efficiency", [0.5, 0.5, 0.4, 0.5])
    set_field(raw, "mission.seed", 3)
    assert raw["satellites"][0]["transmitter"] == {"aperture_m": 0.2}
    assert [s["aperture_m"] for s in raw["stations"]] == [1.5, 1.5]
    assert raw["stations"][1]["detector"]["efficiency"][2] == 0.4
    assert raw["mission"] == {"seed": 3}
    for bad in ("stations.5.aperture_m", "stations.Nowhere.aperture_m", "mission.seed.x"):
        with pytest.raises(InputError, match="sweep field"):
            set_field(raw, bad, 1)
    a = parse_grid_arg('satellites.0.orbit.walker="97.4:6/3/1", 97.4:12/3/1 ,[1, 2],true,0.3')
    assert a.name == "walker" and a.values == ("97.4:6/3/1", "97.4:12/3/1", [1, 2], True, 0.3)
    with pytest.raises(InputError, match="FIELD=VALUE"):
        parse_grid_arg("satellites.0.transmitter.aperture_m")


def test_sweep_is_worker_independent_resumable_and_equals_run(tmp_path):
    from satqkd.mission.run import run_mission

    path = tmp_path / "s.toml"
    path.write_text(MISSION)
    serial = run_sweep(path, None, tmp_path / "serial")
    ds = xr.load_dataset(serial / "sweep.nc")
    assert ds["secret_bits"].dims == ("aperture_m", "station")
    assert ds["aperture_m"].attrs["mission_field"] == "satellites.0.transmitter.aperture_m"
    assert ds.attrs["Conventions"] == "CF-1.8" and ds["secret_bits"].attrs["units"] == "bit"
    assert int(ds["satellites"].min()) == 2
    # the larger aperture gives more key, and some key at all
    tot = ds["total_secret_bits"].values
    assert 0 < tot[0] < tot[1]
    assert (serial / "sweep_report.md").exists() and (serial / "plots" / "sweep_lines.png").exists()

    grid = ["satellites.0.transmitter.aperture_m=0.15,0.3"]
    par = run_sweep(path, grid, tmp_path / "par", workers=2)
    dp = xr.load_dataset(par / "sweep.nc")
    for v in ("secret_bits", "sifted_bits", "usable_passes", "passes", "qber"):
        np.testing.assert_array_equal(ds[v].values, dp[v].values)

    # resume: remove one point's results, rerun: only that point runs, same figures
    for f in (par / "points" / "p1").iterdir():
        f.unlink()
    run_sweep(path, grid, par, resume=True)
    dr = xr.load_dataset(par / "sweep.nc")
    np.testing.assert_array_equal(ds["secret_bits"].values, dr["secret_bits"].values)
    assert json.loads((par / "sweep.json").read_text())["passes"] < 2 * int(ds["passes"].sum())

    # point 1 is the base mission (aperture 0.3): satqkd run gives the same key per station
    base = tmp_path / "base.toml"
    base.write_text(MISSION.split("[[sweep.grid]]")[0].replace(
        "epoch = 2025-01-10T00:00:00Z\n",
        "epoch = 2025-01-10T00:00:00Z\n[satellites.transmitter]\naperture_m = 0.3\n", 1))
    out = run_mission(base, tmp_path / "run")
    table = pd.read_csv(out / "passes.csv", keep_default_na=False)
    per_station = table.groupby("station")["secret_bits"].sum()
    for st in ds["station"].values:
        assert int(ds["secret_bits"].sel(aperture_m=0.3, station=st)) == int(per_station.get(st, 0))
