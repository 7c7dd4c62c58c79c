"""Entangled protocols through `satqkd run`: dual-downlink windows, CHSH and BBM92 keys."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from satqkd.config import load_mission
from satqkd.errors import InputError
from satqkd.mission.run import run_mission

REPO = Path(__file__).resolve().parent.parent


def _mission(tmp_path: Path, name: str, *replace: tuple[str, str]) -> Path:
    text = (REPO / "missions" / name).read_text()
    text = text.replace('tle = "tle/micius.tle"', f'tle = "{REPO / "tle" / "micius.tle"}"')
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_e91_chsh_window(tmp_path):
    """One night window of the 2017 mission: S near 2 sqrt2 V diluted by accidentals."""
    path = _mission(tmp_path, "micius-entanglement-2017.toml",
                    ("start = 2016-12-18T12:00:00Z", "start = 2016-12-21T17:00:00Z"),
                    ("end = 2016-12-22T00:00:00Z", "end = 2016-12-21T18:30:00Z"))
    out = run_mission(path, tmp_path / "e91")
    table = pd.read_csv(out / "passes.csv", keep_default_na=False)
    assert len(table) == 1 and table["station"][0] == "Delingha+Lijiang"
    s, sigma = float(table["chsh_s"][0]), float(table["chsh_sigma"][0])
    ideal = math.sqrt(2) * (0.91 + 0.94)  # source visibilities of the mission file
    assert s - 3 * sigma > 2.0 and abs(s - ideal) < 5 * sigma + 0.05
    assert table["abort_reason"][0] == "bell_test_only"
    # its own report: the Bell test headline, not "secret key 0 bit"; both stations mapped
    md = (out / "report.md").read_text()
    summary = md.split("## Executive summary", 1)[1].split("\n## ", 1)[0]
    assert "Bell test passed in 1 of 1" in summary and "CHSH S = " in summary
    assert "secret key 0 bit" not in summary and "Two-downlink loss" in summary
    assert "Bell test only: this protocol" in summary and "ASSUMPTION" in summary
    assert "## Entanglement windows" in md and "## Mission totals" not in md
    assert "(plots/entanglement_windows.png)" in md and "(plots/monthly_key.png)" not in md
    import xarray as xr

    from satqkd.report.worldmap import _dual_downlink_view, ground_tracks
    with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as ds:
        assert len(ground_tracks(_dual_downlink_view(ds))) == 1  # the common-visibility arc


def test_bbm92_key_window(tmp_path):
    path = _mission(tmp_path, "micius-bbm92-2020.toml",
                    ("start = 2021-04-27T12:00:00Z", "start = 2021-04-27T17:30:00Z"),
                    ("end = 2021-05-04T00:00:00Z", "end = 2021-04-27T19:00:00Z"))
    out = run_mission(path, tmp_path / "bbm92")
    row = pd.read_csv(out / "passes.csv", keep_default_na=False).iloc[0]
    assert row["station"] == "Delingha+Nanshan" and int(row["sifted_bits"]) > 1000
    # Z-basis QBER floor (1 - V) / 2 = 4.5 % plus accidentals
    assert 0.03 < float(row["qber_z"]) < 0.09
    assert int(row["secret_bits"]) > 0 and row["abort_reason"] == ""


def test_dual_downlink_needs_known_station_pairs(tmp_path):
    path = _mission(tmp_path, "micius-bbm92-2020.toml",
                    ('pairs = [["Delingha", "Nanshan"]]', 'pairs = [["Delingha", "Graz"]]'))
    with pytest.raises(InputError, match=r"entanglement\.pairs: 'Graz' is not one of"):
        load_mission(path)


def test_single_downlink_partner_on_board(tmp_path):
    """Single downlink: every pass of every station, the partner photon measured on board."""
    path = _mission(tmp_path, "micius-bbm92-2020.toml",
                    ("start = 2021-04-27T12:00:00Z", "start = 2021-04-27T17:30:00Z"),
                    ("end = 2021-05-04T00:00:00Z", "end = 2021-04-27T19:00:00Z"),
                    ('mode = "dual-downlink"', 'mode = "single-downlink"'))
    out = run_mission(path, tmp_path / "single")
    table = pd.read_csv(out / "passes.csv", keep_default_na=False)
    assert set(table["station"]) == {"Delingha", "Nanshan"}
    # one lossy link instead of two: far more coincidences than the dual downlink
    assert (table["detections"] > 10_000).all()
    assert (table["qber_z"].astype(float) < 0.08).all()


def test_intercept_resend_breaks_the_bell_test(tmp_path):
    """Eve measuring every photon to Lijiang and resending: S <= 2, the test fails."""
    path = _mission(tmp_path, "micius-entanglement-2017.toml",
                    ("start = 2016-12-18T12:00:00Z", "start = 2016-12-21T17:00:00Z"),
                    ("end = 2016-12-22T00:00:00Z", "end = 2016-12-21T18:30:00Z"),
                    ("[mission]", '[eavesdropper]\nkind = "intercept-resend"\n\n[mission]'))
    out = run_mission(path, tmp_path / "eve")
    row = pd.read_csv(out / "passes.csv", keep_default_na=False).iloc[0]
    s, sigma = float(row["chsh_s"]), float(row["chsh_sigma"])
    assert s < 2.0 + 3 * sigma  # a local-realistic value (ideal: sqrt2 V, about 1.31)
    assert abs(s - math.sqrt(2) * (0.91 + 0.94) / 2) < 5 * sigma + 0.05
    with pytest.raises(InputError, match="entangled protocols allow none or intercept-resend"):
        load_mission(_mission(tmp_path, "micius-entanglement-2017.toml",
                              ("[mission]", '[eavesdropper]\nkind = "pns"\n\n[mission]')))
