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


RELAY = """
[relay]
milp_time_limit_s = 30.0
[[relay.demands]]
a = "Xinglong"
b = "Graz"
bits_per_day = 2.0e6
"""


def test_sweep_relay_figures_equal_planning_the_points_run(tmp_path):
    """Each point's relay figures are those of `satqkd run` of that point's mission,
    planned (greedy and MILP) and carried out on its pass keys, whatever the workers."""
    from satqkd import config
    from satqkd.mission.run import run_mission
    from satqkd.network.execution import execute_plan
    from satqkd.network.outputs import demand_figures
    from satqkd.network.planning import plan_greedy, plan_milp
    from satqkd.network.relay_run import network_problem
    from satqkd.network.sweep_relay import run_sweep as relay_sweep

    path = tmp_path / "r.toml"
    path.write_text(MISSION.replace("[report]", RELAY + "\n[report]", 1))
    out = relay_sweep(path, None, tmp_path / "sweep")
    ds = xr.load_dataset(out / "sweep.nc")
    assert ds["relay_delivered_bits"].dims == ("aperture_m", "planner", "pair")
    assert list(ds["pair"].values) == ["Xinglong-Graz"]
    assert list(ds["planner"].values) == ["greedy", "milp"]
    assert ds["relay_delivered_bits"].attrs["units"] == "bit"
    assert ds["relay_latency_mean_s"].attrs["units"] == "s"
    assert "Trusted relay" in (out / "sweep_report.md").read_text()
    req = ds["relay_requested_bits"].values[..., 0]
    np.testing.assert_allclose(req, 2.0e6 * 2)  # two days
    got = ds["relay_delivered_bits"].values
    assert np.all(got <= req[:, None, None] + 1e-9)
    assert got[1, 1, 0] > 0  # the larger aperture's MILP plan delivers key
    assert np.all(got[:, 1] >= got[:, 0] - 1e-6)  # MILP (exact) >= greedy, weighted objective
    np.testing.assert_allclose(ds["relay_met_fraction"].values,
                               np.minimum(got / req[:, None, None], 1.0))

    # the 0.3 m point against satqkd run + the relay planners on its passes.csv
    base = tmp_path / "base.toml"
    base.write_text(path.read_text().split("[[sweep.grid]]")[0].replace(
        "epoch = 2025-01-10T00:00:00Z\n",
        "epoch = 2025-01-10T00:00:00Z\n[satellites.transmitter]\naperture_m = 0.3\n", 1))
    run = run_mission(base, tmp_path / "run")
    table = pd.read_csv(run / "passes.csv", keep_default_na=False)
    problem = network_problem(config.load_mission(base), table)
    for j, plan in enumerate((plan_greedy(problem), plan_milp(problem, time_limit_s=30.0))):
        fig = demand_figures(execute_plan(problem, plan, replan=False))
        point = ds.sel(aperture_m=0.3).isel(planner=j)
        assert float(point["relay_delivered_bits"][0]) == pytest.approx(fig["delivered_bits"][0])
        for k in ("latency_mean_s", "latency_max_s"):
            np.testing.assert_allclose(point[f"relay_{k}"].values[0], fig[k][0], rtol=1e-9)

    par = relay_sweep(path, None, tmp_path / "par", workers=2)
    dp = xr.load_dataset(par / "sweep.nc")
    np.testing.assert_array_equal(dp["relay_delivered_bits"].values, got)
