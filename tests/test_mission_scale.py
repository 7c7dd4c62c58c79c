"""Mission runs at scale: Dask workers give the serial result bit for bit; --resume after
SIGKILL recomputes nothing that finished and ends with identical outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from satqkd.mission import store
from satqkd.mission.run import run_mission

REPO = Path(__file__).resolve().parent.parent

MISSION = f"""
[mission]
name = "scale-test"
start = 2016-12-19T00:00:00Z
end = 2016-12-20T12:00:00Z
seed = 7
min_elevation_deg = 20.0

[[satellites]]
name = "MICIUS"
tle = "{REPO / 'tle' / 'micius.tle'}"
norad_id = 41731
[satellites.source]
rate_hz = 2.0e6

[[stations]]
name = "Xinglong"
[stations.clouds]
model = "clear"
[[stations]]
name = "Nanshan"
[stations.clouds]
model = "clear"
[[stations]]
name = "Graz"
[stations.clouds]
model = "climatology"

[report]
pass_plots = 0
mission_report = false
"""


@pytest.fixture(scope="module")
def mission_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scale")
    path = folder / "scale.toml"
    path.write_text(MISSION)
    return path


@pytest.fixture(scope="module")
def serial_run(mission_file, tmp_path_factory) -> Path:
    return run_mission(mission_file, tmp_path_factory.mktemp("serial") / "out")


def _same_outputs(a: Path, b: Path) -> None:
    ta, tb = pd.read_csv(a / "passes.csv"), pd.read_csv(b / "passes.csv")
    pd.testing.assert_frame_equal(ta, tb)
    with xr.open_dataset(a / "passes.nc") as da, xr.open_dataset(b / "passes.nc") as db:
        assert set(da.data_vars) == set(db.data_vars)
        for name in da.data_vars:
            va, vb = da[name].values, db[name].values
            if va.dtype.kind == "f":
                assert np.array_equal(va, vb, equal_nan=True), name
            else:
                assert np.array_equal(va, vb), name


def test_the_mission_has_work(serial_run):
    table = pd.read_csv(serial_run / "passes.csv", keep_default_na=False)
    assert len(table) >= 6 and (table["secret_bits"] > 0).sum() >= 2


def test_dask_workers_give_the_serial_result(mission_file, serial_run, tmp_path):
    pytest.importorskip("dask.distributed")
    parallel = run_mission(mission_file, tmp_path / "dask", workers=2)
    _same_outputs(serial_run, parallel)


def test_existing_dask_cluster_by_address(mission_file, serial_run, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        out = run_mission(mission_file, tmp_path / "cluster", scheduler=cluster.scheduler_address)
    _same_outputs(serial_run, out)


def test_resume_after_sigkill(mission_file, serial_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "satqkd.cli", "run", str(mission_file), "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120

    def records() -> dict:
        store._RECORDS.clear()  # what the journals hold, not what this process noted
        return {pid: (r.path, r.start, r.end) for pid, r in store.checkpoint_index(out).items()}

    while time.time() < deadline and proc.poll() is None:
        if len(records()) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = records()
    assert before and not (out / "passes.nc").exists()
    kept = {path: open(path, "rb").read(max(e for q, _, e in before.values() if q == path))
            for path, _, _ in before.values()}
    n_total = len(pd.read_csv(serial_run / "passes.csv"))
    assert len(before) < n_total

    run_mission(mission_file, out, resume=True, keep_checkpoints=True)
    after = records()
    assert all(after[pid] == where for pid, where in before.items())  # not recomputed
    for path, raw in kept.items():  # nor rewritten
        assert open(path, "rb").read(len(raw)) == raw
    assert len(after) == n_total
    _same_outputs(serial_run, out)
    assert not list(out.rglob(".*.tmp"))  # no half-written file left behind


def test_resume_refuses_a_changed_configuration(mission_file, tmp_path):
    """--resume never mixes configurations (issue 15): one line; without it, a fresh run."""
    from satqkd.errors import InputError

    out = run_mission(mission_file, tmp_path / "a", keep_checkpoints=True)
    other = mission_file.parent / "other.toml"
    other.write_text(MISSION.replace("seed = 7", "seed = 8"))

    first = {pid: r.path for pid, r in store.checkpoint_index(out).items()}
    assert first
    with pytest.raises(InputError, match="another configuration"):
        run_mission(other, out, resume=True, keep_checkpoints=True)
    run_mission(other, out, keep_checkpoints=True)
    second = {pid: r.path for pid, r in store.checkpoint_index(out).items()}
    assert set(second) == set(first)
    assert not set(second.values()) & set(first.values())  # every pass recomputed


def test_checkpoint_round_trip_is_identical(tmp_path):
    """A checkpoint decodes to exactly the dataset that was written (CF-encoded times,
    booleans, multi-dimensional counts, NaN and string attributes)."""

    n = 7
    t = np.datetime64("2025-01-01T22:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    ds = xr.Dataset(
        {"elevation": ("time", np.linspace(10.0, 40.0, n), {"units": "deg", "long_name": "elevation"}),
         "cloud_clear": ("time", np.arange(n) % 2 == 0, {"units": "1"}),
         "counts": (("time", "intensity", "error"), np.arange(n * 6).reshape(n, 3, 2)),
         "loss_cloud": ("time", np.r_[np.nan, np.ones(n - 1)], {"units": "dB"})},
        coords={"time": t},
        attrs={"pass_id": "1_X_20250101T220000", "qber": float("nan"), "secret_bits": 12,
               "abort_reason": "", "max_elevation_deg": 40.0})
    record = store.write_checkpoint(tmp_path, ds, "abc")
    pid = ds.attrs["pass_id"]
    assert record.path.endswith(store.JOURNAL_SUFFIX) and store.finished_passes(tmp_path, "abc") == {pid}
    assert store.finished_passes(tmp_path, "other") == set()
    store._RECORDS.clear()  # read back from the journal, not from what this process noted
    xr.testing.assert_identical(store.read_checkpoint(tmp_path, pid), ds)
    row = store.read_checkpoints(tmp_path, [pid])[0]
    assert row["secret_bits"] == 12 and np.isnan(row["qber"]) and row["abort_reason"] == ""


def test_batches_keep_order_and_cover_every_task():
    from satqkd.mission.execute import MAX_BATCH, batches

    costs = [50.0, 40.0, 10.0] + [1.0] * 40 + [0.0] * 100
    groups = batches(costs, workers=2)
    assert [i for g in groups for i in g] == list(range(len(costs)))
    assert groups[0] == [0] and groups[1] == [1]  # heavy tasks run alone
    assert max(len(g) for g in groups) <= MAX_BATCH  # the zero-cost tail travels in full batches
    assert len(groups) < len(costs) / 4
