"""Mission files and the command line: every bad value is one line and exit status 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from conftest import run_cli
import xarray as xr

from satqkd.config import load_catalogue, load_mission
from satqkd.errors import InputError


_cli = run_cli


def test_default_mission_is_valid(repo):
    cfg = load_mission(repo / "missions" / "micius-2016-12-19.toml")
    assert cfg.mission.seed == 20161219 and cfg.satellites[0].norad_id == 41731
    assert cfg.satellites[0].source.intensities == [0.8, 0.1, 0.0]


BAD = [
    # (replacement, words the single error line must contain)
    (("end = 2016-12-19T18:00:00Z", "end = 2016-12-19T15:00:00Z"), ["mission", "end", "after start"]),
    (("aperture_m = 0.30", "aperture_m = -0.3"), ["satellites[0].transmitter.aperture_m", "> 0"]),
    (("lat_deg = 40.3958", "lat_deg = 95.0"), ["stations[0].lat_deg", ">= -90", "<= 90", "95"]),
    (("probabilities = [0.5, 0.25, 0.25]", "probabilities = [0.5, 0.25, 0.2]"),
     ["satellites[0].source", "probabilities", "sum to 1"]),
    (("probabilities = [0.5, 0.25, 0.25]", "probabilities = [0.5, 0.5]"),
     ["satellites[0].source", "one probability per intensity"]),
    (('name = "Xinglong"                 # Xinglong Observatory, NAOC (Liao et al. 2017)\n'
      'lat_deg = 40.3958\nlon_deg = 117.5775\nalt_m = 960.0\naperture_m = 1.0',
      'name = "Atlantis"'), ["stations[0].name", "unknown station 'Atlantis'", "Xinglong"]),
    (('tle = "', 'tle = "/nonexistent/'), ["satellites[0].tle", "not found"]),
    (("seed = 20161219", "seed = 1\ncolour = 3"), ["mission.colour", "unknown key", "step_s"]),
    (("step_s = 1.0", "step_s = 0"), ["mission.step_s", "> 0"]),
    (("pointing_jitter_urad = 1.2", "pointing_jitter_urad = 1.2\nimplementation_loss_db = -3"),
     ["satellites[0].transmitter.implementation_loss_db", ">= 0"]),
    (("min_elevation_deg = 10.0", "min_elevation_deg = 95"), ["min_elevation_deg", "< 90"]),
    (("efficiency = 0.5", "efficiency = 1.5"), ["stations[0].detector.efficiency", "<= 1"]),
    (("norad_id = 41731", "norad_id = 25544"), ["satellites[0].norad_id", "25544", "41731"]),
    (('protocol = "decoy-bb84"', 'protocol = "b92"'), ["mission.protocol", "decoy-bb84"]),
    (("[mission]", "[mission\n"), ["not valid TOML"]),
]


@pytest.mark.parametrize("replacement,words", BAD, ids=[w[0] for _, w in BAD])
def test_bad_mission_one_line_exit_2(replacement, words, write_mission, capsys):
    path = write_mission(replacement)
    code, out, err = _cli(["passes", str(path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_unreadable_tle_file(tmp_path, write_mission, capsys):
    tle = tmp_path / "broken.tle"
    tle.write_bytes(b"\xff\xfe\x00garbage")
    path = write_mission(('tle = "', f'tle = "{tle}" #'))
    code, _, err = _cli(["passes", str(path)], capsys)
    assert code == 2 and "broken.tle" in err and len(err.strip().splitlines()) == 1


def test_bad_input_in_a_real_process_has_no_traceback(write_mission):
    path = write_mission(("lat_deg = 40.3958", "lat_deg = -91"))
    proc = subprocess.run([sys.executable, "-m", "satqkd.cli", "run", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "stations[0].lat_deg" in proc.stderr


def test_station_from_catalogue(tmp_path, repo):
    text = (repo / "missions" / "micius-2016-12-19.toml").read_text()
    start = text.index("[[stations]]")
    text = text[:start] + '[[stations]]\nname = "graz"\n[[stations]]\nname = "Xinglong"\n'
    text = text.replace('tle = "tle/micius.tle"', f'tle = "{repo / "tle/micius.tle"}"')
    (tmp_path / "m.toml").write_text(text)
    cfg = load_mission(tmp_path / "m.toml")
    cat = load_catalogue()
    assert cfg.stations[0].name == "Graz"
    assert cfg.stations[0].lat_deg == cat["graz"]["lat_deg"]
    assert cfg.stations[1].aperture_m == cat["xinglong"]["aperture_m"]


def test_catalogue_has_the_required_stations_with_sources():
    cat = load_catalogue()
    for name in ["Xinglong", "Nanshan", "Delingha", "Lijiang", "Ngari", "Graz", "Jinan",
                 "Hefei", "Stellenbosch", "Matera", "Tenerife"]:
        entry = cat[name.lower()]
        assert entry["source"].strip()
        assert -90 <= entry["lat_deg"] <= 90 and -180 <= entry["lon_deg"] <= 360
        assert entry["aperture_m"] > 0


def test_elements_and_walker_satellites(tmp_path, repo, capsys):
    text = (repo / "missions" / "micius-2016-12-19.toml").read_text()
    text = text.replace('tle = "tle/micius.tle"            # epoch 2016-353 (2016-12-18 21:38 UTC) is nearest the pass\nnorad_id = 41731',
                        "[satellites.orbit]\naltitude_km = 500.0\nltan_h = 22.5\n"
                        "epoch = 2016-12-19T00:00:00Z\nwalker = \"6/3/1\"")
    text = text.replace("end = 2016-12-19T18:00:00Z", "end = 2016-12-20T16:00:00Z")
    (tmp_path / "w.toml").write_text(text)
    code, out, err = _cli(["passes", str(tmp_path / "w.toml"), "--csv"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len({r["satellite"] for r in rows}) >= 4  # six satellites; most pass in a day
    assert all(r["satellite"].startswith("MICIUS-P") for r in rows)


def test_passes_and_run_commands(repo, tmp_path, capsys, write_mission):
    # the default mission at a 1 MHz source: same passes, a hundred times fewer events
    mission = write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"))
    code, out, _ = _cli(["passes", str(mission), "--csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert {"satellite", "station", "aos", "tca", "los", "max_elevation_deg",
            "duration_s"} <= set(rows[0])
    assert rows[0]["aos"].startswith("2016-12-19T16:48:4") and rows[0]["aos"].endswith("Z")
    code, out, _ = _cli(["passes", str(mission)], capsys)
    assert code == 0 and "16:52:13" in out and "Xinglong" in out
    code, _, err = _cli(["run", str(mission), "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "o" / "passes.csv")))
    assert len(rows) == 1 and int(rows[0]["sifted_bits"]) > 0
    assert 0.0 < float(rows[0]["qber"]) < 0.05
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["seed"] == 20161219 and len(run["config_sha256"]) == 64
    assert run["tle_epochs_used"]["MICIUS"][0]["epoch"].startswith("2016-12-18T21:38")
    with xr.open_dataset(tmp_path / "o" / "passes.nc") as ds:
        assert ds.sizes["pass"] == 1 and ds["row_size"].values[0] == ds.sizes["sample"]
        assert ds["range"].attrs["units"] == "km"
    assert not list((tmp_path / "o").glob(".*tmp"))


def test_version(capsys):
    code, out, _ = _cli(["--version"], capsys)
    assert code == 0 and out.startswith("satqkd ")


def test_loader_raises_input_error(write_mission):
    with pytest.raises(InputError):
        load_mission(write_mission(("seed = 20161219", "seed = -1")))


def test_validation_reads_the_published_quantities(write_mission):
    """The validation machinery on the Micius mission at a 1 MHz source (fast)."""
    from satqkd.mission.validate import micius_decoy_bb84

    figures = {f.quantity.split(" (")[0]: f for f in
               micius_decoy_bb84(write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6")))}
    assert figures["key-exchange window"].ours == pytest.approx(273.0, abs=3.0)
    near = next(f for q, f in figures.items() if q.startswith("sifted key rate at"))
    assert "645 km" in near.quantity
    far = figures["sifted key rate near 1200 km"]
    assert near.ours > 2.0 * far.ours > 0.0  # the link is best at the shortest range
    assert 0.5 < figures["QBER"].ours < 3.0


def test_aerosol_preset_reaches_the_link_budget(write_mission):
    from satqkd.mission.parameters import link_parameters

    cfg = load_mission(write_mission(("[stations.clouds]",
                                      '[stations.atmosphere]\naerosol_preset = "urban"\n'
                                      "[stations.clouds]")))
    assert link_parameters(cfg, cfg.satellites[0], cfg.stations[0]).atmosphere.visibility_km == 5.0
