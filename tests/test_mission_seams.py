"""The mission stage's two seams: links (downlink, uplink) and protocols (decoy BB84,
BBM92/E91), their registries, the uplink's mission-file keys and its physics on the
mission side (same hardware loses more upwards; dark counts grow in orbit)."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from conftest import run_cli

from satqkd import config
from satqkd.channel.radiation import dark_count_rate_in_orbit_hz
from satqkd.errors import InputError
from satqkd.keys.finite_key import ABORT_REASONS
from satqkd.mission import links, protocols, run
from satqkd.mission.protocols.decoy_bb84 import DecoyBB84
from satqkd.mission.protocols.entangled import Entangled
from satqkd.mission.tasks import PassOutput, PassTask
from satqkd.orbit.passes import pass_geometry
from satqkd.ragged import pass_from_ragged

REPO = Path(__file__).resolve().parent.parent
MICIUS = REPO / "missions" / "micius-2016-12-19.toml"
QEYSSAT = REPO / "missions" / "qeyssat-uplink.toml"
QUIET = ["report.mission_report=false", "report.pass_plots=0"]


def _first_pass(plan) -> xr.Dataset:
    return pass_from_ragged(pass_geometry(plan.passes[:1], plan.stations, plan.cfg.mission.step_s,
                                          plan.cfg.mission.night_sun_elevation_deg), 0)


# ------------------------------------------------------------------------ registries

def test_registries_cover_every_configuration_value():
    fields = config.MissionSection.model_fields
    assert set(protocols.PROTOCOLS) == set(typing.get_args(fields["protocol"].annotation))
    assert set(links.LINKS) == set(typing.get_args(fields["direction"].annotation))
    for name, cls in protocols.PROTOCOLS.items():
        assert name in cls.names and issubclass(cls, protocols.Protocol)
    for name, cls in links.LINKS.items():
        assert cls.direction == name and issubclass(cls, links.Link)


def test_protocol_for_composes_the_configured_protocol_and_link():
    down = config.load_mission(MICIUS)
    up = config.load_mission(MICIUS, ["mission.direction=uplink"])
    p = protocols.protocol_for(up)
    assert isinstance(p, DecoyBB84) and isinstance(p.link, links.Uplink)
    assert isinstance(protocols.protocol_for(down).link, links.Downlink)
    ent = config.load_mission(REPO / "missions" / "micius-entanglement-2017.toml")
    assert isinstance(protocols.protocol_for(ent), Entangled)
    with pytest.raises(InputError, match="downlink links, not 'uplink'"):
        protocols.protocol_for(ent, links.Uplink())


def test_run_does_not_branch_on_protocol_or_direction():
    src = inspect.getsource(run)
    for needle in ("mission.protocol ==", "mission.protocol !=", "protocol in (",
                   "direction ==", "direction !=", '"uplink"', '"downlink"', '"decoy-bb84"'):
        assert needle not in src, needle


def _imports(path: Path) -> set[str]:
    """Every module a source file imports (anywhere in it)."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_dependencies_point_one_way():
    """run -> protocols -> links -> parameters/channel; tasks below both. No module of
    the seams imports the runner, and links and tasks import no protocol."""
    seams = ("links", "tasks", "protocols/base", "protocols/decoy_bb84", "protocols/entangled")
    for mod in seams:
        imported = _imports(REPO / "satqkd" / "mission" / f"{mod}.py")
        assert "satqkd.mission.run" not in imported, mod
        if mod in ("links", "tasks"):
            assert not any(m.startswith("satqkd.mission.protocols") for m in imported), mod
    assert "satqkd.mission.protocols.decoy_bb84" not in _imports(
        REPO / "satqkd" / "mission" / "protocols" / "entangled.py")
    assert not (REPO / "satqkd" / "mission" / "entangled.py").exists()


class _FlatLink(links.Downlink):
    """A link of constant transmittance, to show any link plugs into the runner."""

    direction = "downlink"
    calls: list[str] = []

    def channel(self, geometry, params, rng, **options):
        ds = super().channel(geometry, params, rng, **options)
        _FlatLink.calls.append(str(geometry.attrs.get("pass_id", "")))
        return ds.assign(transmittance=("time", np.full(ds.sizes["time"], 1e-3)))


class _CountingProtocol(DecoyBB84):
    """A protocol that reports the link's summed transmittance as its 'key'."""

    names = ("decoy-bb84",)

    def warm_up(self, cfg):
        return None

    def close(self, out_dir, cfg, pass_ids):
        return {pid: {"block_id": 100 + i} for i, pid in enumerate(pass_ids)}

    def simulate(self, task: PassTask) -> PassOutput:
        ds, _ = self.channel_stage(task)
        ds.attrs.update(secret_bits=int(round(ds["transmittance"].values.sum() * 1e3)),
                        abort_reason="", sifted_bits=0, qber=0.0, qber_z=0.0, qber_x=0.0,
                        detections=0)
        empty = np.zeros(0, np.uint8)
        return PassOutput(ds, empty, empty, 0)


def test_a_fake_protocol_and_link_plug_into_run(monkeypatch, tmp_path):
    monkeypatch.setitem(links.LINKS, "downlink", _FlatLink)
    monkeypatch.setitem(protocols.PROTOCOLS, "decoy-bb84", _CountingProtocol)
    _FlatLink.calls.clear()
    plan = run.plan_mission(MICIUS, QUIET)
    out = run.run_mission(plan, tmp_path / "out")
    table = pd.read_csv(out / "passes.csv")
    n = int(pass_from_ragged(pass_geometry(plan.passes, plan.stations, 1.0, -12.0), 0)
            .sizes["time"])
    assert _FlatLink.calls == [plan.passes[0].pass_id]
    assert table["secret_bits"].tolist() == [n]  # 1e-3 x n seconds x 1e3
    assert table["block_id"].tolist() == [100]  # the protocol's closing step


# ------------------------------------------------------------------ uplink: the ends

def test_uplink_ends_are_the_station_sender_and_satellite_receiver():
    cfg = config.load_mission(MICIUS, ["mission.direction=uplink",
                                       "satellites.0.receiver.aperture_m=0.4",
                                       "stations.0.source.rate_hz=2e6",
                                       "stations.0.transmitter.aperture_m=0.5"])
    sat, st = cfg.satellites[0], cfg.stations[0]
    up, down = links.Uplink().ends(sat, st), links.Downlink().ends(sat, st)
    assert up.source.rate_hz == 2e6 and down.source.rate_hz == 1e8
    assert up.transmitter.aperture_m == 0.5 and down.transmitter.aperture_m == 0.30
    assert up.receiver_aperture_m == 0.4 and down.receiver_aperture_m == 1.0
    assert up.detector is sat.detector and down.detector is st.detector
    # the launch defaults to the mission's start when the mission is read
    assert sat.detector.launch == cfg.mission.start


def test_uplink_on_the_same_hardware_loses_more_than_the_downlink():
    """The two directions with the same telescopes, source and detectors: the geometric,
    atmospheric and receiver terms are the same (reciprocity), but the uplink's beam
    crosses the turbulence first and leaves it spread and wandering (Andrews & Phillips
    2005, ch. 12): with a 5.4 cm waist against r0 of a few cm at 848 nm the long-term
    beam is about twice the diffraction beam, several dB at the receiver. We require a
    loss above the downlink's in every second and by more than 1 dB at the median."""
    same = ["satellites.0.receiver.aperture_m=1.0",  # Xinglong's telescope, on board
            "satellites.0.detector.dark_count_growth_hz_per_day=0.0",
            "satellites.0.source.rate_hz=1e6", "stations.0.source.rate_hz=1e6"]
    out = {}
    for direction in ("downlink", "uplink"):
        plan = run.plan_mission(MICIUS, [f"mission.direction={direction}", *same])
        protocol = protocols.protocol_for(plan.cfg)
        out[direction] = protocol.simulate(PassTask(_first_pass(plan), plan.cfg, 0, 0)).dataset
    down, up = out["downlink"], out["uplink"]
    assert down.attrs["link_direction"] == "downlink" and up.attrs["link_direction"] == "uplink"
    for term in ("loss_geometric", "loss_atmosphere", "loss_receiver"):
        np.testing.assert_allclose(up[term].values, down[term].values, rtol=1e-12, err_msg=term)
    extra_db = 10.0 * np.log10(down["transmittance"].values / up["transmittance"].values)
    assert np.all(extra_db > 0.0) and np.median(extra_db) > 1.0, extra_db
    assert up.attrs["min_loss_db"] > down.attrs["min_loss_db"]
    assert up.attrs["detections"] < down.attrs["detections"]


def test_uplink_tip_tilt_and_city_lights_reach_the_channel():
    """The mission keys reach uplink_budget: beacon tip-tilt takes out part of the beam
    wander (less loss in every second), a VIIRS city-light pixel adds background."""
    def budget(*sets):
        plan = run.plan_mission(MICIUS, ["mission.direction=uplink", *sets])
        cfg = plan.cfg
        return links.link_for(cfg).budget(cfg, cfg.satellites[0], cfg.stations[0],
                                          _first_pass(plan), np.random.default_rng(0))

    free, tilt = budget(), budget("stations.0.transmitter.tip_tilt=true")
    assert tilt.attrs["tip_tilt"] == 1 and free.attrs["tip_tilt"] == 0
    assert np.all(tilt["transmittance"].values >= free["transmittance"].values)
    assert np.median(tilt["transmittance"].values / free["transmittance"].values) > 1.05
    dark, lit = budget(), budget("stations.0.sky.city_light_nw_cm2_sr=50")
    assert np.all(lit["background_rate"].values > dark["background_rate"].values)


def test_tip_tilt_on_a_downlink_transmitter_is_refused(capsys, tmp_path):
    code, _, err = run_cli(["run", str(MICIUS), "--out", str(tmp_path / "o"), "-q", "--set",
                            "satellites.0.transmitter.tip_tilt=true"], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "satellites[0].transmitter.tip_tilt" in lines[0]


# ------------------------------------------------------------- uplink: dark counts

def test_dark_count_rate_grows_linearly_with_days_in_orbit():
    assert dark_count_rate_in_orbit_hz(50.0, 0.54, 0.0) == 50.0
    assert dark_count_rate_in_orbit_hz(50.0, 0.54, 1029.0) == pytest.approx(50.0 + 0.54 * 1029.0)
    days = np.array([0.0, 10.0, 100.0, 1000.0])
    rates = dark_count_rate_in_orbit_hz(25.0, 0.54, days)
    assert np.all(np.diff(rates) > 0) and np.allclose(np.diff(rates) / np.diff(days), 0.54)
    with pytest.raises(ValueError):
        dark_count_rate_in_orbit_hz(25.0, 0.54, -1.0)
    assert config.DARK_COUNT_GROWTH_HZ_PER_DAY == 0.54  # Yang et al. 2019, in orbit


def test_uplink_background_grows_with_days_in_orbit():
    """The same pass, 100 days later in the detectors' life: each detector's background
    (sky + dark) is up by exactly 0.54 x 100 counts/s; the downlink's is unchanged."""
    budgets = {}
    for launch in ("2016-12-19T16:00:00Z", "2016-09-10T16:00:00Z"):
        plan = run.plan_mission(MICIUS, ["mission.direction=uplink",
                                         f"satellites.0.detector.launch={launch}"])
        cfg = plan.cfg
        budgets[launch] = links.link_for(cfg).budget(cfg, cfg.satellites[0], cfg.stations[0],
                                                     _first_pass(plan), np.random.default_rng(0))
    young, old = budgets.values()
    np.testing.assert_allclose(old["background_rate"].values - young["background_rate"].values,
                               0.54 * 100.0, rtol=1e-9)
    assert old.attrs["dark_count_rate_hz"] > young.attrs["dark_count_rate_hz"]


# ------------------------------------------------------------- uplink: configuration

@pytest.mark.parametrize("sets, field", [
    (["mission.direction=sideways"], "mission.direction"),
    (["satellites.0.receiver.aperture_m=-1"], "satellites[0].receiver.aperture_m"),
    (["satellites.0.receiver.obscuration_m=0.5"], "satellites[0].receiver"),
    (["satellites.0.detector.dark_count_growth_hz_per_day=-0.5"],
     "satellites[0].detector.dark_count_growth_hz_per_day"),
    (["satellites.0.detector.launch=2017-01-01T00:00:00Z"], "satellites[0].detector.launch"),
    (["satellites.0.detector.launch=1990-01-01T00:00:00Z",
      "satellites.0.detector.dark_count_growth_hz_per_day=1e4"],
     "satellites[0].detector.dark_count_growth_hz_per_day"),
    (["stations.0.transmitter.wavelength_nm=100"], "stations[0].transmitter.wavelength_nm"),
    (["stations.0.source.p_z=1.5"], "stations[0].source.p_z"),
    (["stations.0.sky.earth_albedo=2"], "stations[0].sky.earth_albedo"),
    (["channel.operate_when_sunlit=3"], "channel.operate_when_sunlit"),
    (["mission.fidelity=counts", "satellites.0.detector.dead_time_ns=50"],
     "satellites[0].detector.dead_time_ns"),
])
def test_bad_uplink_input_is_one_line_and_exit_2(sets, field, capsys, tmp_path):
    argv = ["run", str(MICIUS), "--out", str(tmp_path / "o"), "-q",
            "--set", "mission.direction=uplink"]
    for s in sets:
        argv += ["--set", s]
    code, _, err = run_cli(argv, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"satqkd: error: {MICIUS}: {field}"), lines[0]


def test_entangled_protocols_refuse_an_uplink(capsys, tmp_path):
    mission = REPO / "missions" / "micius-entanglement-2017.toml"
    code, _, err = run_cli(["run", str(mission), "--out", str(tmp_path / "o"), "-q",
                            "--set", "mission.direction=uplink"], capsys)
    assert code == 2 and "mission.direction: an uplink runs decoy-bb84 only" in err


# --------------------------------------------------------- the QEYSSat-like mission

def _qeyssat(tmp_path, *sets):
    plan = run.plan_mission(QEYSSAT, [*QUIET, "stations.0.clouds.model=clear",
                                      "stations.1.clouds.model=clear", *sets])
    out = run.run_mission(plan, tmp_path / "qeyssat")
    return plan, pd.read_csv(out / "passes.csv"), xr.open_dataset(out / "passes.nc")


def _no_exchange_while_sunlit(ds: xr.Dataset) -> None:
    sunlit = ds["sunlit"].values.astype(bool)
    assert not (ds["operating"].values.astype(bool) & sunlit).any()
    assert not ds["transmittance"].values[sunlit].any()
    assert not ds["counts"].values[sunlit].any()


def test_qeyssat_uplink_runs_end_to_end_in_winter(tmp_path):
    """Two winter days over Waterloo and Ottawa: every pass gives key or a named abort
    reason, night passes at high elevation give key, and no photon is exchanged while
    the satellite is sunlit."""
    plan, table, ds = _qeyssat(tmp_path, "mission.end=2026-12-03T00:00:00Z")
    assert plan.cfg.mission.direction == "uplink" and len(table) > 4
    assert set(table["station"]) == {"Waterloo", "Ottawa"}
    reasons = table["abort_reason"].fillna("")
    assert all(r in ABORT_REASONS for r in reasons[reasons != ""])
    keyed = table[(reasons == "") & (table["secret_bits"] > 0)]
    assert len(keyed) >= 1 and set(reasons[reasons != ""]) - set(ABORT_REASONS) == set()
    assert (ds["link_direction"].values == "uplink").all()
    assert (ds["operate_when_sunlit"].values == 0).all()
    _no_exchange_while_sunlit(ds)


def test_qeyssat_uplink_exchanges_no_photon_while_sunlit_in_summer(tmp_path):
    """Two June days: the satellite is sunlit in part of the station's night (the
    Earth's shadow is short in summer), and those seconds carry no photon."""
    _, table, ds = _qeyssat(tmp_path, "mission.start=2027-06-10T00:00:00Z",
                            "mission.end=2027-06-12T00:00:00Z",
                            "satellites.0.orbit.epoch=2027-06-10T00:00:00Z")
    sunlit, night = ds["sunlit"].values.astype(bool), ds["night"].values.astype(bool)
    assert (sunlit & night).any()  # the gate has work to do
    _no_exchange_while_sunlit(ds)
    assert (ds["operating"].values.astype(bool) & night & ~sunlit).any()
    assert table["abort_reason"].fillna("").isin(("",) + ABORT_REASONS).all()


def test_idle_reason_names_the_shadow_gate():
    n = 5
    ds = xr.Dataset({"night": ("time", np.ones(n, bool)), "sunlit": ("time", np.ones(n, bool)),
                     "operating": ("time", np.zeros(n, bool))},
                    attrs={"operate_in_daylight": 0, "operate_when_sunlit": 0})
    assert links.idle_reason(ds) == "sunlit"
    ds.attrs["operate_when_sunlit"] = 1
    assert links.idle_reason(ds) == "daylight"
    ds = ds.assign(night=("time", np.zeros(n, bool)))
    ds.attrs["operate_when_sunlit"] = 0
    assert links.idle_reason(ds) == "daylight"


def test_calibrate_refuses_an_uplink(write_mission):
    from satqkd.mission.calibrate import modelled_pass

    mission = write_mission(("seed = 20161219", 'seed = 20161219\ndirection = "uplink"'))
    with pytest.raises(InputError, match="mission.direction: satqkd calibrate fits a downlink"):
        modelled_pass(mission)
