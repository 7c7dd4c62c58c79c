"""The engine and the keys stage together, and the mission-file switches that reach them."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from satqkd.engine.decoy import simulate_decoy_bb84
from satqkd.engine.params import DecoySource, Eavesdropper, Receiver, channel_transmittance
from satqkd.keys.postprocess import KeyParameters, process_pass

SOURCE = DecoySource()  # Micius: 1e8 Hz, 0.8/0.1/0 with 0.5/0.25/0.25
RECEIVER = Receiver()


def _pass(eve: Eavesdropper | None, seed: int, seconds: int = 120, total_eta: float = 2e-3):
    """A Micius-like pass: total transmittance (detectors included) on a parabola."""
    x = np.linspace(-1.0, 1.0, seconds)
    total = total_eta * (1.0 - 0.8 * x**2)
    eta = channel_transmittance(total, RECEIVER)
    rng = np.random.default_rng(seed)
    result = simulate_decoy_bb84(eta, np.full(seconds, 1e-7), 1.0, SOURCE, RECEIVER,
                                 rng, eavesdropper=eve)
    keys = process_pass(result.events, SOURCE.intensities, SOURCE.probabilities, SOURCE.p_z,
                        KeyParameters(), np.random.default_rng(seed + 1))
    return result, keys


def test_clean_pass_gives_identical_keys():
    result, keys = _pass(None, 1)
    assert keys.abort_reason == "" and keys.secret_bits > 10_000
    assert np.array_equal(keys.alice_key, keys.bob_key)
    assert 0.005 < keys.qber_z < 0.02  # misalignment 1 % plus noise
    assert keys.leaked_bits > 0 and 1.0 < keys.ec_efficiency < 1.3


def test_intercept_resend_gives_no_key():
    _, keys = _pass(Eavesdropper(kind="intercept-resend", fraction=1.0), 2)
    assert keys.secret_bits == 0 and keys.abort_reason == "qber_above_threshold"
    assert keys.qber_x == pytest.approx(0.25 + 0.01 * 0.5, abs=0.01)


def test_photon_number_splitting_is_caught_by_the_decoys():
    """PNS keeps the signal gain honest and the QBER low, but the decoy analysis sees
    that single photons do not get through: no key."""
    honest, _ = _pass(None, 3)
    attacked, keys = _pass(Eavesdropper(kind="pns"), 3)
    g_h, g_a = honest.gain(), attacked.gain()
    assert g_a[0] == pytest.approx(g_h[0], rel=0.05)  # signal gain unchanged
    assert g_a[1] < 0.5 * g_h[1]  # decoy gain collapses
    assert keys.qber_x < 0.05
    assert keys.secret_bits == 0
    assert keys.abort_reason in ("no_single_photon_bound", "non_positive_length")


def test_mission_file_eavesdropper_reaches_the_pass(write_mission, tmp_path):
    from satqkd.mission.run import run_mission

    path = write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"),
                         ("[mission]", '[eavesdropper]\nkind = "intercept-resend"\n\n[mission]'))
    out = run_mission(path, tmp_path / "eve")
    row = next(csv.DictReader(open(out / "passes.csv")))
    assert row["abort_reason"] == "qber_above_threshold" and int(row["secret_bits"]) == 0
    assert float(row["qber_x"]) == pytest.approx(0.255, abs=0.02)


def test_daylight_and_fading_switches(write_mission, tmp_path):
    """A daytime window gives no detections at night-only operation; fading slots run."""
    import xarray as xr

    from satqkd.mission.run import run_mission

    fading = write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"),
                           ("[[stations]]", "[channel]\nfading_slot_ms = 10.0\n\n[[stations]]"),
                           name="fading.toml")
    out = run_mission(fading, tmp_path / "fading")
    with xr.open_dataset(out / "passes.nc") as ds:
        assert int(ds["counts"].sum()) == int(ds["detections"].sum()) > 0
    day = write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"),
                        ("start = 2016-12-19T16:00:00Z", "start = 2016-12-20T00:00:00Z"),
                        ("end = 2016-12-19T18:00:00Z", "end = 2016-12-20T08:00:00Z"),
                        name="day.toml")
    out = run_mission(day, tmp_path / "day")
    rows = list(csv.DictReader(open(out / "passes.csv")))
    assert rows, "Micius passes over Xinglong on the morning of 2016-12-20"
    with xr.open_dataset(out / "passes.nc") as ds:
        day_s = ~ds["night"].values.astype(bool)
        assert day_s.any()
        assert np.all(ds["transmittance"].values[day_s] == 0.0)
        assert np.all(ds["sifted_counts"].values[day_s] == 0)
