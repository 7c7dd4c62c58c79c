"""Calibration to flight data: the least-squares fit and the calibrated mission copy."""

import numpy as np
import pytest

from satqkd import config
from satqkd.channel.atmosphere import kasten_young_airmass
from satqkd.channel.calibration import fit_excess_loss
from satqkd.errors import InputError


def test_fit_recovers_the_terms_with_honest_errors():
    rng = np.random.default_rng(4)
    el = np.linspace(15.0, 80.0, 400)
    x = kasten_young_airmass(90.0 - el) - 1.0
    fits = [fit_excess_loss(el, 11.0 + 2.0 * x + rng.normal(0.0, 0.3, el.size)) for _ in range(200)]
    c0 = np.array([f.constant_db for f in fits])
    c1 = np.array([f.airmass_db for f in fits])
    assert abs(c0.mean() - 11.0) < 0.01 and abs(c1.mean() - 2.0) < 0.01
    # formal standard errors match the scatter over repeated experiments (within 20 %)
    assert np.isclose(np.mean([f.sigma[0] for f in fits]), c0.std(), rtol=0.2)
    assert np.isclose(np.mean([f.sigma[1] for f in fits]), c1.std(), rtol=0.2)
    with pytest.raises(InputError):
        fit_excess_loss(np.full(10, 30.0), np.ones(10))


def test_calibrate_writes_a_valid_mission_copy(tmp_path):
    from satqkd.mission.calibrate import calibrate, modelled_pass

    mission = config.REPO_ROOT / "missions" / "micius-2016-12-19.toml"
    times, rng_km, el, model = modelled_pass(mission)
    # synthetic flight data: the model + 12 dB + 1.5 dB per air mass
    meas = model + 12.0 + 1.5 * (kasten_young_airmass(90.0 - el) - 1.0)
    csv = tmp_path / "m.csv"
    idx = np.arange(0, times.size, 7)
    csv.write_text("time,loss_db\n" + "".join(f"{str(times[i])[:23]}Z,{meas[i]:.4f}\n" for i in idx))
    fit, path = calibrate(csv, mission, mission.with_name("_test_cal.toml"))  # beside it: relative TLE path
    try:
        assert np.isclose(fit.constant_db, 12.0, atol=0.01) and np.isclose(fit.airmass_db, 1.5, atol=0.01)
        cfg = config.load_mission(path)
        tx = cfg.satellites[0].transmitter
        assert np.isclose(tx.implementation_loss_db, 12.0, atol=0.01)
        assert np.isclose(tx.implementation_loss_airmass_db, 1.5, atol=0.01)
        assert "# satqkd calibrate" in path.read_text()
    finally:
        path.unlink()
