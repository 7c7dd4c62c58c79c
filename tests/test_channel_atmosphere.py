"""Atmospheric transmittance: published MODTRAN values, air mass, visibility law."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satqkd.channel import atmosphere as atm
from satqkd.channel.params import Atmosphere


@pytest.mark.parametrize("lam,t0", [(785.0, 0.876), (850.0, 0.895), (1550.0, 0.960)])
def test_modtran_table_at_sea_level(lam, t0):
    assert np.isclose(atm.zenith_transmittance(lam, 0.0, Atmosphere()), t0, rtol=1e-12)


def test_air_mass_scaling_close_to_secant_down_to_20_deg():
    t0 = atm.zenith_transmittance(850.0, 0.0, Atmosphere())
    el = np.linspace(20.0, 90.0, 71)
    z = 90.0 - el
    got = atm.slant_transmittance(t0, z)
    assert np.all(np.abs(got - t0 ** (1 / np.cos(np.radians(z)))) < 0.02)


def test_kasten_young_values():
    # hand-computed from eq. 3 of Kasten & Young (1989): 0.99971 at zenith, 1.9943 at 60 deg
    # (secant 2.0, refraction/curvature lower it), 37.92 at the horizon (their 38)
    assert np.isclose(atm.kasten_young_airmass(0.0), 0.99971, atol=2e-5)
    assert np.isclose(atm.kasten_young_airmass(60.0), 1.9943, atol=2e-4)
    assert np.isclose(atm.kasten_young_airmass(90.0), 37.92, atol=0.01)


def test_rayleigh_optical_depth_550():
    # Hansen & Travis (1974) / Bucholtz (1995): ~0.097 at 550 nm, sea level
    assert np.isclose(atm.rayleigh_optical_depth(550.0), 0.097, atol=0.002)
    # scales with pressure: about 0.89 at 960 m in the standard atmosphere
    assert np.isclose(atm.rayleigh_optical_depth(550.0, 960.0) / atm.rayleigh_optical_depth(550.0), 0.892, atol=0.003)


def test_kim_visibility_law():
    assert np.allclose(atm.kim_size_exponent([100.0, 23.0, 3.0, 0.8, 0.2]), [1.6, 1.3, 0.82, 0.3, 0.0])
    # at 550 nm beta = 3.912 / V whatever q
    assert np.isclose(atm.aerosol_extinction_per_km(550.0, 23.0), 3.912 / 23.0)
    # rural 23 km visibility: close to the MODTRAN table at 850 nm (both ~0.88-0.90)
    t_vis = atm.zenith_transmittance(850.0, 0.0, Atmosphere(visibility_km=atm.VISIBILITY_PRESETS["rural"]))
    assert abs(t_vis - 0.895) < 0.03
    urban = atm.zenith_transmittance(850.0, 0.0, Atmosphere(visibility_km=5.0))
    assert urban < t_vis


def test_altitude_raises_transmittance_and_user_value_wins():
    assert atm.zenith_transmittance(850.0, 2400.0, Atmosphere()) > atm.zenith_transmittance(850.0, 0.0, Atmosphere())
    assert atm.zenith_transmittance(850.0, 960.0, Atmosphere(zenith_transmittance=0.8)) == pytest.approx(0.8)


@settings(max_examples=60, deadline=None)
# the Kasten-Young fit has its minimum 0.016 deg off zenith, hence z1 >= 0.1 deg
@given(z1=st.floats(0.1, 88.0), dz=st.floats(0.01, 10.0), lam=st.floats(600.0, 1700.0), alt=st.floats(0.0, 5000.0))
def test_loss_grows_with_zenith_angle(z1, dz, lam, alt):
    t0 = atm.zenith_transmittance(lam, alt, Atmosphere())
    assert atm.slant_transmittance(t0, min(z1 + dz, 90.0)) < atm.slant_transmittance(t0, z1)
