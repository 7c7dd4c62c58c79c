"""Mission reports and plots on a small mission run here (two stations, two months)."""

from __future__ import annotations

import base64
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satqkd.report import plots
from satqkd.report.mission_report import mission_summary, write_reports
from satqkd.report.worldmap import ground_tracks, look_to_ecef

# 28 h over the end of January: two night passes over Xinglong (clear sky: key), passes
# over Graz (its cloud climatology), daylight passes; 1 MHz source keeps it fast.
MISSION = """
[mission]
name = "report-test"
start = 2025-01-31T12:00:00Z
end = 2025-02-01T16:00:00Z
seed = 11
min_elevation_deg = 15.0

[[satellites]]
name = "QSAT"
[satellites.orbit]
altitude_km = 500.0
ltan_h = 22.5
epoch = 2025-01-01T00:00:00Z
[satellites.source]
rate_hz = 1.0e6

[[stations]]
name = "Xinglong"
[stations.clouds]
model = "clear"
[[stations]]
name = "Graz"

[report]
pass_plots = 0
"""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def mission(tmp_path_factory):
    from satqkd.mission.run import plan_mission, run_mission

    folder = tmp_path_factory.mktemp("report")
    (folder / "m.toml").write_text(MISSION)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = plan_mission(folder / "m.toml")
        out = run_mission(plan, folder / "out")
    return plan, out


@pytest.fixture(scope="module")
def out(mission):
    return mission[1]


@pytest.fixture(scope="module")
def reports(out):
    return write_reports(out)


@pytest.fixture(scope="module")
def csv(out):
    return pd.read_csv(out / "passes.csv", keep_default_na=False)


def _usable(csv: pd.DataFrame) -> np.ndarray:
    return ((csv["abort_reason"].astype(str) == "") & (csv["secret_bits"] > 0)).to_numpy()


def _md_table(md: str, heading: str) -> list[list[str]]:
    """Rows (cells) of the first table under a '## heading' of the Markdown report."""
    section = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines[2:]]


def _int(cell: str) -> int:
    return int(cell.replace(",", "").replace(" bit", ""))


def test_mission_is_a_useful_fixture(csv):
    # the checks below need: passes at both stations, in two months, some with key
    assert set(csv["station"]) == {"Xinglong", "Graz"}
    assert {a[:7] for a in csv["aos"]} == {"2025-01", "2025-02"}
    assert _usable(csv).sum() >= 1 and (~_usable(csv)).sum() >= 1


def test_reports_written_atomically(out, reports):
    md, html = reports
    assert md == out / "report.md" and html == out / "report.html"
    assert md.stat().st_size > 0 and html.stat().st_size > 0
    assert not list(out.glob(".*.tmp")) and not list((out / "plots").glob(".*.tmp"))


def test_pass_table_rows_match_csv(reports, csv):
    rows = _md_table(reports[0].read_text(), "Passes")
    assert len(rows) == len(csv)
    for cells, (_, r) in zip(rows, csv.iterrows()):
        assert cells[1] == r["aos"][:19].replace("T", " ")
        assert cells[2] == r["satellite"] and cells[3] == r["station"]
        assert float(cells[4]) == pytest.approx(r["max_elevation_deg"], abs=0.05)
        assert float(cells[5]) == pytest.approx(r["duration_s"], abs=0.5)
        assert _int(cells[9]) == r["sifted_bits"]
        assert _int(cells[11]) == r["secret_bits"]
        assert cells[-1] == r["abort_reason"]
        if r["qber"] != "":
            assert float(cells[10].rstrip(" %")) == pytest.approx(100 * float(r["qber"]), abs=0.005)


def test_totals_match_csv(reports, csv):
    totals = dict(_md_table(reports[0].read_text(), "Mission totals"))
    assert _int(totals["passes above the elevation mask"]) == len(csv)
    assert _int(totals["usable passes (gave key, or joined a block that did)"]) == _usable(csv).sum()
    assert _int(totals["sifted key (Z basis)"]) == csv["sifted_bits"].sum()
    assert _int(totals["secret key"]) == csv["secret_bits"].sum()
    clear = (csv["clear_fraction"] * csv["duration_s"]).sum() / csv["duration_s"].sum()
    assert float(totals["clear-sky fraction of that time"].rstrip(" %")) == pytest.approx(
        100 * clear, abs=0.05)


def test_html_is_self_contained(reports, out):
    page = reports[1].read_text()
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page and "@import" not in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == 6                # the best pass's five panels and five mission plots
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)
    md = reports[0].read_text()
    for name in ("executive_pass", "key_vs_elevation", "monthly_key", "availability",
                 "cumulative_key", "world_map"):
        assert f"(plots/{name}.png)" in md


def test_summary_sums_to_the_mission_totals(out, csv):
    s = mission_summary(out)
    assert s["passes"].dims == ("station", "month")
    assert list(s["month"].values) == ["2025-01", "2025-02"]
    assert sorted(s["station"].values) == ["Graz", "Xinglong"]
    assert int(s["passes"].sum()) == len(csv)
    assert int(s["usable_passes"].sum()) == _usable(csv).sum()
    assert int(s["sifted_bits"].sum()) == csv["sifted_bits"].sum()
    assert int(s["secret_bits"].sum()) == csv["secret_bits"].sum()
    assert float(s["duration_s"].sum()) == pytest.approx(csv["duration_s"].sum())
    # each cell by hand from the CSV
    for st in s["station"].values:
        for m in s["month"].values:
            sub = csv[(csv["station"] == st) & (csv["aos"].str[:7] == m)]
            cell = s.sel(station=st, month=m)
            assert int(cell["passes"]) == len(sub)
            assert int(cell["secret_bits"]) == sub["secret_bits"].sum()
            if len(sub):
                assert float(cell["availability"]) == pytest.approx(_usable(sub).mean())
                assert float(cell["clear_fraction"]) == pytest.approx(
                    (sub["clear_fraction"] * sub["duration_s"]).sum() / sub["duration_s"].sum())
            else:
                assert np.isnan(float(cell["availability"]))
    # the same summary from the dataset alone
    with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as ds:
        xr.testing.assert_identical(mission_summary(ds).drop_attrs(), s.drop_attrs())


def test_reports_rebuild_identically(out, reports):
    first = [p.read_bytes() for p in reports]
    again = write_reports(out, plots=False)
    md_again = again[0].read_text()
    # without plots only the images (and the Plots heading) are absent; the rest is the same
    expected = re.sub(r"## Plots\n\n(?:!\[[^\n]*\n\n)+", "", first[0].decode())
    assert md_again == re.sub(r"!\[[^\n]*\]\(plots/[^\n]*\n\n", "", expected)


def test_mission_plots_are_pngs(out, tmp_path):
    import matplotlib.image as mpimg

    paths = plots.plot_mission(out, tmp_path)
    assert [p.name for p in paths] == ["executive_pass.png", "key_vs_elevation.png",
                                      "monthly_key.png", "availability.png",
                                      "cumulative_key.png", "world_map.png"]
    for p in paths:
        assert p.read_bytes().startswith(PNG_MAGIC)
        img = mpimg.imread(p)
        assert img.shape[0] > 300 and img.shape[1] > 500
        assert img[..., :3].std() > 0.05                    # not a blank canvas


def test_mission_plots_drawn_at_once_equal_those_drawn_in_turn(out, tmp_path):
    """Forked processes draw the same files as this process alone (byte for byte)."""
    at_once = plots.plot_mission(out, tmp_path / "a", workers=2)
    in_turn = plots.plot_mission(out, tmp_path / "b", workers=1)
    assert [p.name for p in at_once] == [p.name for p in in_turn]
    for a, b in zip(at_once, in_turn):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_pass_plots(out, tmp_path, csv):
    # every pass: with key, cloudy, and daylight passes without a single detection
    assert (csv["detections"] == 0).any()
    paths = plots.plot_passes(out, tmp_path)
    assert [p.name for p in paths] == [f"{pid}_pass.png" for pid in csv["pass_id"]]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
    assert plots.plot_passes(out, tmp_path, [-1]) == paths[-1:]
    with pytest.raises(IndexError):
        plots.plot_passes(out, tmp_path, [len(csv)])


def test_ground_tracks_match_the_orbit(mission):
    """Rebuilt satellite positions equal the SGP4 Earth-fixed positions of the orbit stage."""
    from satqkd.orbit import geometry as geo

    plan, out = mission
    sat = plan.satellites[0][0]
    with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    tracks = ground_tracks(ds)
    assert len(tracks) == ds.sizes["pass"]
    offsets = np.concatenate(([0], np.cumsum(ds["row_size"].values)))
    for i in range(ds.sizes["pass"]):
        s = slice(int(offsets[i]), int(offsets[i + 1]))
        unix_s = ds["time"].values[s].astype("datetime64[ns]").astype(np.int64) / 1e9
        ref_km, _ = geo.satellite_itrf_km(sat.nearest(unix_s[0]).satrec, unix_s,
                                          geo.dut1_s(unix_s))
        x, y, z = look_to_ecef(float(ds["station_lat_deg"][i]), float(ds["station_lon_deg"][i]),
                               float(ds["station_alt_m"][i]), ds["azimuth"].values[s],
                               ds["elevation_geometric"].values[s], ds["range"].values[s])  # not refracted
        # tolerance: station coordinates stored to 1e-4 deg (~11 m) in passes.nc
        err_m = np.linalg.norm(np.column_stack((x, y, z)) - ref_km * 1e3, axis=1)
        assert err_m.max() < 50.0, (i, err_m.max())
        # a 500 km circular orbit: height above the ellipsoid within the J2/ellipsoid spread
        assert np.all((tracks[i]["alt_km"] > 480) & (tracks[i]["alt_km"] < 530))


def test_stored_ground_track_equals_the_rebuilt_one(mission):
    """The map's track as stored by the orbit stage equals the one rebuilt from az/el/range."""
    from satqkd.report.worldmap import TRACK_VARIABLES

    _, out = mission
    with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as ds:
        stored = ground_tracks(ds)
        rebuilt = ground_tracks(ds.drop_vars(list(TRACK_VARIABLES)))
    assert [t["pass_id"] for t in stored] == [t["pass_id"] for t in rebuilt]
    assert len(stored) == ds.sizes["pass"]
    for a, b in zip(stored, rebuilt):
        assert a["usable"] == b["usable"] and a["station"] == b["station"]
        # the same WGS84 point up to float rounding (1e-9 deg is 0.1 mm on the ground)
        np.testing.assert_allclose(a["lat_deg"], b["lat_deg"], atol=1e-9)
        dlon = (a["lon_deg"] - b["lon_deg"] + 180.0) % 360.0 - 180.0
        np.testing.assert_allclose(dlon, 0.0, atol=1e-9)
        np.testing.assert_allclose(a["alt_km"], b["alt_km"], atol=1e-6)


def test_pass_plot_tolerates_missing_variables(out, tmp_path):
    """Other modes (entangled pairs, uplinks) lack some variables: the plot still draws."""
    from satqkd.ragged import pass_from_ragged

    with xr.open_dataset(out / "passes.nc", engine="h5netcdf") as ds:
        p = pass_from_ragged(ds, 0).load()
    p = p.drop_vars(["loss_cloud", "cloud_clear", "operating", "key_counts", "range"])
    for k in ("qber", "qber_z", "secret_bits"):
        p.attrs.pop(k, None)
    path = plots.plot_pass(p, tmp_path / "partial.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_summary_from_csv_alone(out, tmp_path, csv):
    (tmp_path / "passes.csv").write_bytes((out / "passes.csv").read_bytes())
    s = mission_summary(tmp_path)
    assert int(s["passes"].sum()) == len(csv)
    assert int(s["secret_bits"].sum()) == csv["secret_bits"].sum()


def test_executive_summary_words_and_hardware(reports, out):
    from satqkd.report.mission_report import build_reports, existing_mission_plots

    md = build_reports(out, existing_mission_plots(out))[0]  # report.md may be rewritten
    assert md.index("## Executive summary") < md.index("## Mission\n")
    summary = md.split("## Executive summary", 1)[1].split("\n## ", 1)[0]
    assert "(plots/executive_pass.png)" in summary
    assert "| element | parameter | value | basis |" in summary


def test_abort_reasons_in_words():
    from satqkd.report.mission_report import abort_sentence, mission_file_marks

    assert abort_sentence("daylight") == ("daylight: the Sun was above -12 deg at the station "
                                          "and the link runs at night only, so no QKD was "
                                          "attempted")
    marks = mission_file_marks("[[stations]]\nname = 'A'\n[stations.receiver]\n"
                               "fov_urad = 100.0  # ASSUMPTION: field stop\n"
                               "[[stations]]\n[stations.receiver]\nfov_urad = 50 # paper\n")
    assert marks[("stations.receiver", 0, "fov_urad")][0] == "assumption"
    assert marks[("stations.receiver", 1, "fov_urad")][0] == "sourced"


def test_one_pass_mission_has_a_per_pass_view(out, tmp_path, csv):
    one = csv.iloc[[int(csv["secret_bits"].idxmax())]].reset_index(drop=True)
    (tmp_path / "o").mkdir()
    one.to_csv(tmp_path / "o" / "passes.csv", index=False)
    paths = plots.plot_mission(tmp_path / "o", tmp_path / "o" / "plots")
    names = [p.name for p in paths]
    assert "pass_key.png" in names and "monthly_key.png" not in names
