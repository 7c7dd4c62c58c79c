"""passes.nc and summary.nc of the default mission pass a real CF checker.

The checker is the IOOS compliance-checker's CF 1.8 suite (``pip install -e ".[test]"``);
it ships the CF standard-name table, so it runs offline (proved here: sockets refuse).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr

from conftest import DEFAULT_MISSION


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The default mission file exactly as shipped."""
    from satqkd.mission.run import run_mission

    out = tmp_path_factory.mktemp("cf") / "out"
    return run_mission(DEFAULT_MISSION, out)


CHECK = textwrap.dedent("""
    import json, socket, sys
    def refuse(*a, **k):
        raise OSError("network access attempted by the CF checker")
    socket.socket.connect = socket.create_connection = socket.getaddrinfo = refuse
    from compliance_checker.runner import CheckSuite, ComplianceChecker
    CheckSuite().load_all_available_checkers()
    ok, errors = ComplianceChecker.run_checker(sys.argv[1], ["cf:1.8"], 0, "normal",
                                               output_filename=sys.argv[2],
                                               output_format="json")
    print(json.dumps({"ok": bool(ok), "errors": bool(errors)}))
""")


def _cf_check(path, tmp_path) -> list[str]:
    """Messages of every failed check at the checker's error level (HIGH priority)."""
    report = tmp_path / f"{path.stem}.json"
    proc = subprocess.run([sys.executable, "-c", CHECK, str(path), str(report)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(report.read_text())["cf:1.8"]
    failed = [m for prio in ("high_priorities",) for check in result.get(prio, [])
              if check["value"][0] < check["value"][1] for m in check["msgs"]]
    return failed


def test_passes_nc_is_cf_compliant(default_run, tmp_path):
    assert _cf_check(default_run / "passes.nc", tmp_path) == []


def test_summary_nc_is_cf_compliant(default_run, tmp_path):
    assert _cf_check(default_run / "summary.nc", tmp_path) == []


def test_passes_nc_trajectory_layout(default_run):
    with xr.open_dataset(default_run / "passes.nc") as ds:
        assert ds.attrs["Conventions"] == "CF-1.8" and ds.attrs["featureType"] == "trajectory"
        assert ds["pass_id"].attrs["cf_role"] == "trajectory_id"
        assert ds["row_size"].attrs["sample_dimension"] == "sample"
        assert {"time", "lat", "lon", "altitude"} <= set(ds.coords)
        assert ds["lat"].attrs["standard_name"] == "latitude"
        assert ds["elevation"].encoding["coordinates"] == "time lat lon altitude"
        # AOS/TCA/LOS are CF times, the first sample lies within the pass
        assert np.issubdtype(ds["aos"].dtype, np.datetime64)
        assert ds["aos"].values[0] <= ds["time"].values[0] <= ds["los"].values[0]
        assert str(ds["tca"].values[0]).startswith("2016-12-19T16:52:13")
        # Xinglong at 40.4 N 117.6 E: the sub-satellite point at TCA is within ~6 deg
        i = int(np.argmax(ds["elevation"].values))
        assert abs(ds["lat"].values[i] - 40.4) < 6 and abs(ds["lon"].values[i] - 117.6) < 8
        assert 450 < ds["altitude"].values[i] < 560  # Micius: ~500 km
        # labelled categories
        assert list(ds["intensity"].values) == [0.8, 0.1, 0.0]
        assert ds["alice_basis"].attrs["flag_meanings"] == "Z X"
        assert ds["error"].attrs["flag_meanings"] == "correct error"
        assert ds["night"].dtype == bool and ds["night"].attrs["flag_meanings"] == "day night"
        # every variable is described
        for name, v in ds.variables.items():
            assert "long_name" in v.attrs or "standard_name" in v.attrs, name
            if v.dtype.kind in "iuf" and "flag_values" not in v.attrs and name != "row_size":
                assert "units" in v.attrs, name
        assert ds["loss_geometric"].attrs["units"] == "1" and "dB" in ds["loss_geometric"].attrs["long_name"]


def test_readers_still_work_on_cf_passes(default_run):
    import satqkd
    from satqkd.ragged import iter_passes, pass_from_ragged

    with xr.open_dataset(default_run / "passes.nc") as ds:
        p = pass_from_ragged(ds, 0)
        assert p.attrs["aos"].startswith("2016-12-19T16:48:4") and p.attrs["aos"].endswith("Z")
        assert p["counts"].sel(intensity=0.8).sum() > 0 and "lat" in p
        assert len(list(iter_passes(ds))) == 1
    m = satqkd.open_mission(default_run)
    try:
        assert m.table["aos"][0] == m.pass_dataset(0).attrs["aos"]
        assert int(m.summary["secret_bits"].sum()) == int(m.table["secret_bits"].sum()) > 0
    finally:
        m.passes.close()


def test_entangled_passes_nc_is_cf_compliant(tmp_path):
    """A dual-downlink window (other variables, the ``kind`` category) passes too."""
    from conftest import REPO

    from satqkd.mission.run import run_mission

    text = (REPO / "missions" / "micius-entanglement-2017.toml").read_text()
    text = text.replace('tle = "tle/micius.tle"', f'tle = "{REPO / "tle" / "micius.tle"}"')
    text = text.replace("start = 2016-12-18T12:00:00Z", "start = 2016-12-21T17:00:00Z")
    text = text.replace("end = 2016-12-22T00:00:00Z", "end = 2016-12-21T18:30:00Z")
    (tmp_path / "e91.toml").write_text(text)
    out = run_mission(tmp_path / "e91.toml", tmp_path / "e91")
    assert _cf_check(out / "passes.nc", tmp_path) == []
    with xr.open_dataset(out / "passes.nc") as ds:
        assert ds["kind"].attrs["flag_meanings"] == "true_pair multi_pair noise"
        assert "lat" in ds.coords and ds.sizes["pass"] == 1
