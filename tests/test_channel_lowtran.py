"""LOWTRAN7 tables: shape of the physics, interpolation and the model-atmosphere choice."""

import numpy as np
import pytest

from satqkd.channel import lowtran
from satqkd.errors import InputError


def test_tables_load_and_cover_the_grid():
    t = lowtran.tables()
    assert t["molecular_tau"].shape[:3] == (5, 8, 9)
    assert t["aerosol_tau"].shape[:5] == (5, 4, 4, 8, 9)
    assert float(t["zenith_deg"][-1]) == 85.0


def test_transmittance_physics():
    z = np.array([0.0, 30.0, 60.0, 80.0, 85.0, 87.0])
    t = lowtran.slant_transmittance(850.0, 0.0, z)
    assert np.all(np.diff(t) < 0)  # longer paths, less light
    # tau grows close to the air mass (Kasten-Young) away from the horizon
    tau = -np.log(t)
    assert np.isclose(tau[2] / tau[0], 2.0, rtol=0.05)
    # altitude, visibility and aerosol type act the expected way
    assert lowtran.slant_transmittance(850.0, 3000.0, 0.0) > lowtran.slant_transmittance(850.0, 0.0, 0.0)
    assert lowtran.slant_transmittance(850.0, 0.0, 0.0, visibility_km=50) > lowtran.slant_transmittance(
        850.0, 0.0, 0.0, visibility_km=5)
    assert lowtran.slant_transmittance(850.0, 0.0, 0.0, aerosol_model="urban", visibility_km=5) < t[0]
    # molecular bands: the 940 nm water band is far darker than 850 nm, more so in the tropics
    assert lowtran.slant_transmittance(940.0, 0.0, 0.0, "tropical") < 0.5 * lowtran.slant_transmittance(
        850.0, 0.0, 0.0, "tropical")
    # 1550 nm is clearer than 850 nm (Rayleigh and aerosol fall with wavelength)
    assert lowtran.slant_transmittance(1550.0, 0.0, 0.0) > t[0]


def test_visibility_interpolation_is_monotone_and_clamped():
    vis = np.array([5.0, 7.0, 10.0, 15.0, 23.0, 35.0, 50.0, 100.0])
    t = np.array([lowtran.slant_transmittance(850.0, 500.0, 30.0, visibility_km=v) for v in vis])
    assert np.all(np.diff(t[:-1]) > 0) and t[-1] == t[-2]


def test_auto_model_atmosphere():
    assert lowtran.auto_model_atmosphere(40.4, 12) == "mid_latitude_winter"
    assert lowtran.auto_model_atmosphere(40.4, 7) == "mid_latitude_summer"
    assert lowtran.auto_model_atmosphere(-33.9, 7) == "mid_latitude_winter"
    assert lowtran.auto_model_atmosphere(10.0, 1) == "tropical"
    assert lowtran.auto_model_atmosphere(67.0, 1) == "subarctic_winter"


def test_bad_inputs():
    with pytest.raises(InputError):
        lowtran.slant_transmittance(300.0, 0.0, 0.0)
    with pytest.raises(InputError):
        lowtran.slant_transmittance(850.0, 0.0, 0.0, "martian")
