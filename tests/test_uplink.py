"""The uplink as its own link direction: physics (Andrews & Phillips 2005 ch. 12) and the budget."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, special

from satqkd.channel import Background, Clouds, LinkParameters, Receiver, Transmitter, Turbulence, link_budget
from satqkd.channel import atmosphere as atm
from satqkd.channel import background as bkg
from satqkd.channel import beam, turbulence, uplink
from satqkd.channel.synthetic import EARTH_RADIUS_KM, MU_KM3_S2, synthetic_pass
from satqkd.channel.uplink_budget import uplink_budget

CLEAR = Clouds(model="clear")
HV57 = Turbulence()
C = 299792458.0


@pytest.fixture(scope="module")
def micius_like():
    return synthetic_pass()


def _total_db(ds: xr.Dataset) -> np.ndarray:
    return -10.0 * np.log10(ds["transmittance"].values)


# --- the budget -------------------------------------------------------------------------------


def test_same_variables_and_attrs_as_the_downlink(micius_like):
    p = LinkParameters(clouds=CLEAR)
    down = link_budget(micius_like, p, np.random.default_rng(1), fading_slot_s=0.1)
    up = uplink_budget(micius_like, p, np.random.default_rng(1), fading_slot_s=0.1)
    assert set(down.data_vars) <= set(up.data_vars)
    assert set(down.attrs) <= set(up.attrs) and up.attrs["link_direction"] == "uplink"
    for name, var in up.data_vars.items():
        assert "units" in var.attrs and "long_name" in var.attrs, name
        assert var.dims[0] == "time"
    losses = [v for v in up.data_vars if str(v).startswith("loss_")]
    assert all(np.all(up[v].values >= 0) for v in losses)
    total = sum(up[v].values for v in losses)
    assert np.allclose(up["transmittance"].values, 10 ** (-total / 10), rtol=1e-10)
    assert up["fading"].shape == down["fading"].shape


def test_link_budget_uplink_delegates(micius_like):
    p = LinkParameters(transmitter=Transmitter(tip_tilt=True), clouds=CLEAR)
    a = link_budget(micius_like, p, np.random.default_rng(4), direction="uplink", fading_slot_s=0.05)
    b = uplink_budget(micius_like, p, np.random.default_rng(4), fading_slot_s=0.05)
    xr.testing.assert_identical(a, b)


def test_reciprocity_without_turbulence(micius_like):
    """With no turbulence and no background difference at stake, the same hardware loses the
    same either way (the diffraction, pointing, atmosphere and receiver terms are shared)."""
    p = LinkParameters(clouds=CLEAR, turbulence=Turbulence(enabled=False))
    down = link_budget(micius_like, p, np.random.default_rng(0))
    up = uplink_budget(micius_like, p, np.random.default_rng(0))
    assert np.allclose(up["transmittance"].values, down["transmittance"].values, rtol=1e-12)


def test_fibre_receiver_on_the_satellite_adds_the_mode_mismatch(micius_like):
    """The wave reaching the satellite is coherent over its aperture: a single-mode fibre costs
    eta_0 (Dikmelik & Davidson 2005; 0.8145 at beta = 1.1209 unobscured) on top of the beam
    spread, whatever the turbulence, and its single mode sets the background field of view."""
    from satqkd.channel import fibre_coupling

    rx = dict(aperture_m=0.3, obscuration_m=0.06)
    p_fs = LinkParameters(receiver=Receiver(**rx), clouds=CLEAR)
    p_sm = LinkParameters(receiver=Receiver(**rx, coupling="single-mode-fibre"), clouds=CLEAR)
    fs = uplink_budget(micius_like, p_fs, np.random.default_rng(2))
    sm = uplink_budget(micius_like, p_sm, np.random.default_rng(2))
    a = 0.06 / 0.3
    eta0 = float(fibre_coupling.coupling_no_turbulence(fibre_coupling.optimal_beta(a), a))
    assert 0.6 < eta0 < 0.8145
    assert np.allclose(sm["loss_turbulence"].values - fs["loss_turbulence"].values, -10 * np.log10(eta0),
                       rtol=0, atol=1e-12)
    assert np.allclose(sm["transmittance"].values / fs["transmittance"].values, eta0, rtol=1e-12)
    fov = fibre_coupling.single_mode_fov_urad(848.62, 0.3, 0.06)
    assert sm.attrs["background_fov_urad"] == fov and sm.attrs["receiver_coupling"] == "single-mode-fibre"
    # sky counts scale with the solid angle of the field (dark counts aside)
    sky_sm = sm["background_rate"].values - p_sm.receiver.dark_count_rate_hz
    sky_fs = fs["background_rate"].values - p_fs.receiver.dark_count_rate_hz
    assert np.allclose(sky_sm / sky_fs, (fov / p_fs.receiver.fov_urad) ** 2, rtol=1e-9)
    # no adaptive optics in the uplink budget: the outputs of a downlink fibre receiver are absent
    assert "greenwood_frequency" not in sm and sm.attrs["ao_corrected_modes"] == 0


@pytest.mark.parametrize("hardware", [
    Transmitter(),                                # Micius: 0.30 m, 10 urad (w0 = 5.4 cm)
    Transmitter(waist_m=0.134, divergence_urad=4.0),  # diffraction-limited 0.30 m (w0/a = 0.89)
])
def test_uplink_loss_well_above_downlink_same_hardware(micius_like, hardware):
    """Turbulence at the transmitter: the uplink loses what the long-term beam W_LT = W [1 + (sqrt(8)
    W0/r0)^(5/3)]^(3/5) (A&P eq. 12.48) costs against the diffraction beam W on the 1 m aperture,
    and the downlink loses nothing of it."""
    p = LinkParameters(transmitter=hardware, clouds=CLEAR)
    down = link_budget(micius_like, p, np.random.default_rng(0))
    up = uplink_budget(micius_like, p, np.random.default_rng(0))
    excess = _total_db(up) - _total_db(down)
    w0 = hardware.waist_m or float(beam.waist_from_divergence_m(848.62, hardware.divergence_urad))
    r0 = turbulence.fried_parameter_m(848.62, 90 - micius_like["elevation"].values, 960.0, HV57)
    w = beam.truncated_gaussian_link(micius_like["range"].values * 1e3, 848.62, w0, 0.30, 1.0)["equivalent_radius_m"]
    w_lt = w * (1.0 + (np.sqrt(8.0) * w0 / r0) ** (5.0 / 3.0)) ** 0.6
    spread_db = 10 * np.log10(-np.expm1(-0.5 / w**2) / -np.expm1(-0.5 / w_lt**2))
    assert np.allclose(up["loss_turbulence"].values, spread_db, rtol=1e-9)
    assert np.all(down["loss_turbulence"].values < 0.01)  # seeing at a 100 urad stop
    # the wider mean beam dilutes the terminal's jitter a little: the rest of the excess
    assert np.all(excess > 1.5) and excess[0] > excess[int(np.argmin(micius_like["range"].values))] + 1.0


def test_same_seed_same_uplink(micius_like):
    p = LinkParameters(transmitter=Transmitter(tip_tilt=True, divergence_urad=20.0), clouds=Clouds(clear_probability=0.6))
    a = uplink_budget(micius_like, p, np.random.default_rng(11), fading_slot_s=1e-3)
    b = uplink_budget(micius_like, p, np.random.default_rng(11), fading_slot_s=1e-3)
    c = uplink_budget(micius_like, p, np.random.default_rng(12), fading_slot_s=1e-3)
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a["fading"].values, c["fading"].values)
    f = a["fading"].values
    # mean one: the scintillation index is < 0.3 here, so 277 000 samples with ~100 independent
    # ones per second give the pass mean to ~1e-3; 0.02 is > 10 sigma
    assert abs(f.mean() - 1.0) < 0.02


# --- point-ahead ------------------------------------------------------------------------------


def test_point_ahead_is_2v_over_c_every_second(micius_like):
    """Synthetic circular orbit (non-rotating Earth): v_perp is known exactly per second."""
    up = uplink_budget(micius_like, LinkParameters(clouds=CLEAR), np.random.default_rng(0))
    pa = up["point_ahead_angle"].values * 1e-6
    assert pa.shape == (micius_like.sizes["time"],) and np.unique(pa).size > 100
    # rebuild the orbit of synthetic_pass: satellite at radius rs, speed v, station at radius r
    r, rs = EARTH_RADIUS_KM + 0.96, EARTH_RADIUS_KM + 500.0
    v = np.sqrt(MU_KM3_S2 / rs)
    beta = np.arccos((r**2 + rs**2 - 645.0**2) / (2 * r * rs))
    t = (micius_like["time"].values - micius_like["time"].values[0]) / np.timedelta64(1, "s")
    theta = np.sqrt(MU_KM3_S2 / rs) / rs * (t - t[-1] / 2)
    a = np.array([np.sin(beta), 0.0, np.cos(beta)])
    pos = rs * (np.cos(theta)[:, None] * a + np.sin(theta)[:, None] * np.array([0.0, 1.0, 0.0]))
    vel = v * (-np.sin(theta)[:, None] * a + np.cos(theta)[:, None] * np.array([0.0, 1.0, 0.0]))
    los = pos - np.array([0.0, 0.0, r])
    los /= np.linalg.norm(los, axis=1)[:, None]
    v_perp = np.linalg.norm(vel - np.sum(vel * los, axis=1)[:, None] * los, axis=1) * 1e3
    assert np.allclose(pa, 2 * v_perp / C, rtol=2e-4)  # second-order differences of 1 s steps
    assert np.isclose(pa.max(), 2 * v * 1e3 / C, rtol=2e-4)  # culmination: v_perp = v = 7.61 km/s


def test_point_ahead_on_the_micius_pass():
    """The real Micius pass over Xinglong (orbit stage, rotating Earth): about 2 v/c = 50 urad."""
    from satqkd.orbit.passes import find_passes, pass_geometry
    from satqkd.orbit.satellite import Satellite
    from satqkd.orbit.stations import GroundStation
    from satqkd.orbit.tle import read_element_sets
    from satqkd.ragged import pass_from_ragged

    recs = read_element_sets(Path(__file__).resolve().parent.parent / "tle" / "micius.tle")
    sat = Satellite("MICIUS", 41731, tuple(recs))
    station = GroundStation("Xinglong", 40.3958, 117.5775, 960.0, 1.0)
    utc = [datetime(2016, 12, 19, h, tzinfo=timezone.utc).timestamp() for h in (16, 18)]
    geo = pass_from_ragged(pass_geometry(find_passes(sat, [station], *utc), [station]), 0)
    up = uplink_budget(geo, LinkParameters(clouds=CLEAR), np.random.default_rng(0))
    pa = up["point_ahead_angle"].values
    v_circ = np.sqrt(MU_KM3_S2 / (EARTH_RADIUS_KM + 500.0)) * 1e3
    # culmination at 645 km, 47.8 deg: the line of sight is nearly across the track; the
    # Earth's rotation (< 0.46 km/s at the station) and the orbit's shape move it by a few %
    assert abs(pa.max() / (2 * v_circ / C * 1e6) - 1) < 0.06
    assert np.argmax(pa) == pytest.approx(np.argmin(geo["range"].values), abs=3)
    assert 20.0 < pa.min() < pa.max() < 55.0


def test_point_ahead_not_applied_becomes_a_bias(micius_like):
    on = uplink_budget(micius_like, LinkParameters(clouds=CLEAR), np.random.default_rng(0))
    off = uplink_budget(micius_like, LinkParameters(transmitter=Transmitter(point_ahead=False), clouds=CLEAR),
                        np.random.default_rng(0))
    # 50 urad against a ~10 urad beam: the satellite is far out in the wing
    assert np.all(off["loss_pointing"].values > on["loss_pointing"].values + 3.0)


# --- tip-tilt pre-compensation -----------------------------------------------------------------


def test_tilt_covariance_closed_form_matches_quadrature():
    """int kappa^(-2/3) exp(-s kappa^2) J0(kappa d) dkappa = Gamma(1/6)/(2 s^(1/6)) 1F1(1/6; 1; -d^2/4s)."""
    s = 0.004
    for d in (0.0, 0.05, 0.3, 2.0):
        num = integrate.quad(lambda k: k ** (-2 / 3) * np.exp(-s * k * k) * special.j0(k * d), 0, np.inf,
                             limit=400)[0]
        closed = special.gamma(1 / 6) / (2 * s ** (1 / 6)) * special.hyp1f1(1 / 6, 1, -d * d / (4 * s))
        assert np.isclose(num, closed, rtol=2e-3), d


def test_tilt_residual_limits_and_growth():
    w0 = 0.08
    theta = np.geomspace(1e-8, 1e-2, 200)
    f = uplink.tilt_residual_factor(theta, 0.0, w0, 2 * w0, 960.0, HV57)  # sensor aperture = beam size
    assert f[0] < 1e-6                       # a perfect, isoplanatic reference
    assert np.all(np.diff(f) >= -1e-12)      # the residual grows with the point-ahead angle
    # uncorrelated: correcting doubles the wander. Kolmogorov tilt decorrelates slowly,
    # 2 - f ~ (theta h)^(-1/3) (1F1(1/6; 1; -y) ~ y^(-1/6) / Gamma(5/6)), once theta h >> W0
    assert 1.5 < f[-1] < 2.0
    far = uplink.tilt_residual_factor(np.array([1e-3, 1e-2]), 0.0, w0, 2 * w0, 960.0, HV57)
    assert np.isclose((2 - far[0]) / (2 - far[1]), 10 ** (1 / 3), rtol=0.1)
    # tilt anisoplanatism grows as theta^2 at small angles
    g = uplink.tilt_residual_factor(np.array([1e-7, 2e-7]), 0.0, w0, 2 * w0, 960.0, HV57)
    assert np.isclose(g[1] / g[0], 4.0, rtol=0.02)
    # larger zenith angle: the paths separate faster (theta sec z)
    assert uplink.tilt_residual_factor(5e-5, 60.0, w0, 2 * w0, 960.0, HV57) > \
        uplink.tilt_residual_factor(5e-5, 0.0, w0, 2 * w0, 960.0, HV57)
    # a different sensor aperture leaves a residual even at theta = 0
    assert uplink.tilt_residual_factor(0.0, 0.0, w0, 0.6, 960.0, HV57) > 0.01
    iso = uplink.tilt_isoplanatic_angle_rad(0.0, w0, 2 * w0, 960.0, HV57)
    assert np.isclose(uplink.tilt_residual_factor(iso, 0.0, w0, 2 * w0, 960.0, HV57), 1.0, atol=0.02)


def test_tip_tilt_reduces_wander_loss(micius_like):
    free = uplink_budget(micius_like, LinkParameters(clouds=CLEAR), np.random.default_rng(0))
    tt = uplink_budget(micius_like, LinkParameters(transmitter=Transmitter(tip_tilt=True), clouds=CLEAR),
                       np.random.default_rng(0))
    assert np.all(tt["residual_wander_variance"].values < free["residual_wander_variance"].values)
    assert np.all(tt["loss_turbulence"].values < free["loss_turbulence"].values - 0.3)
    assert np.all(tt["loss_turbulence"].values > 0.0)  # the spread and the anisoplanatic residual stay
    # residual over wander = f(point-ahead), the table's value every second
    f = tt["residual_wander_variance"].values / tt["beam_wander_variance"].values
    w0 = float(beam.waist_from_divergence_m(848.62, 10.0))
    expected = uplink.tilt_residual_factor(tt["point_ahead_angle"].values * 1e-6,
                                           90 - micius_like["elevation"].values, w0, 0.30, 960.0, HV57)
    assert np.allclose(f, expected, rtol=1e-12)
    assert tt.attrs["tip_tilt"] == 1 and free.attrs["tip_tilt"] == 0


# --- beam spread and wander -----------------------------------------------------------------


def test_beam_spread_and_wander_formulas():
    lam, w0, L = 850.0, 0.1, 800e3
    bp = uplink.gaussian_beam_parameters(lam, L, w0)
    lam0 = 2 * L / (2 * np.pi / 850e-9 * w0**2)
    assert np.isclose(bp["radius_m"], w0 * np.hypot(1, lam0)) and np.isclose(bp["theta"] + lam0 * bp["lambda"], 1)
    r0 = 0.1
    w_lt = uplink.long_term_beam_radius_m(bp["radius_m"], w0, r0)
    assert np.isclose(w_lt, bp["radius_m"] * (1 + (np.sqrt(8) * w0 / r0) ** (5 / 3)) ** 0.6)
    wander = uplink.beam_wander_variance_m2(lam, L, w0, r0)
    assert np.isclose(wander, 0.54 * L**2 * (850e-9 / 0.2) ** 2 * 2 ** (5 / 3))
    w_st, used = uplink.short_term_beam(w_lt, wander, bp["radius_m"])
    assert np.isclose(uplink.mean_beam_radius_m(w_st, used), w_lt) and w_st >= bp["radius_m"]
    # A&P's weak-fluctuation long-term beam (mu_2u form) agrees with eq. 12.48 for W0 < r0
    z, Lz = 0.0, 500e3
    mom = uplink.path_moments(lam, z, Lz, 0.03, 960.0, HV57)
    bp = uplink.gaussian_beam_parameters(lam, Lz, 0.03)
    k = 2 * np.pi / 850e-9
    weak = bp["radius_m"] * np.sqrt(1 + 4.35 * mom["mu2u"] * bp["lambda"] ** (5 / 6) * k ** (7 / 6) * Lz ** (5 / 6))
    general = uplink.long_term_beam_radius_m(bp["radius_m"], 0.03, turbulence.fried_parameter_m(lam, z, 960.0, HV57))
    assert abs(general / weak - 1) < 0.15


# --- scintillation ----------------------------------------------------------------------------


def test_uplink_scintillation_rytov_limit():
    """A very wide collimated beam (Lambda -> 0, Theta -> 1) is a plane wave going up: A&P eq. 12.58
    becomes the plane-wave Rytov variance 2.25 k^(7/6) sec^(11/6) z int Cn2 (H - h)^(5/6) dh
    (8.70 cos(5 pi/12) = 2.25)."""
    lam, z, L, h0 = 850.0, 30.0, 600e3, 960.0
    mom = uplink.path_moments(lam, z, L, 50.0, h0, HV57)  # W0 = 50 m: Lambda0 ~ 6e-5
    s_bu = uplink.on_axis_scintillation_weak(lam, z, L, mom["mu3u"])
    x, cn2 = turbulence.path_profile(h0, HV57)
    hh = L * np.cos(np.radians(z))
    k = 2 * np.pi / 850e-9
    rytov = 2.25 * k ** (7 / 6) / np.cos(np.radians(z)) ** (11 / 6) * np.trapezoid(cn2 * (hh - x) ** (5 / 6), x)
    assert np.isclose(s_bu, rytov, rtol=5e-3)
    # a plane wave going up scintillates strongly (the turbulence is 600 km from the receiver);
    # a narrow beam, whose turbulence is in its near field, far less
    narrow = uplink.on_axis_scintillation_weak(lam, z, L, uplink.path_moments(lam, z, L, 0.05, h0, HV57)["mu3u"])
    assert narrow < 0.02 * s_bu


def test_tracked_scintillation_weak_and_strong_limits():
    weak = np.array([1e-4, 1e-3])
    lnx, lny = uplink.tracked_log_variances(weak, 0.0)
    assert np.allclose(np.expm1(lnx + lny), weak, rtol=2e-3)  # Rytov: sigma_I^2 = sigma_Bu^2
    lnx, lny = uplink.tracked_log_variances(1e4, 0.0)
    # saturation: the small-scale part tends to 0.51 / 0.69^(5/6), the large-scale to 0
    assert lnx < 0.03 and np.isclose(lny, 0.51 / 0.69 ** (5 / 6), rtol=0.02)
    assert 0.9 < np.expm1(lnx + lny) < 1.1
    # the wander / off-axis index adds to the total and keeps the small scale
    lx, ly = uplink.fading_log_variances(0.1, 0.05, 0.3)
    assert np.isclose(np.expm1(lx + ly), np.expm1(0.15) + 0.3) and ly == 0.05


def test_pointing_scintillation_off_axis():
    w, w0, r0, pe2 = 5.0, 0.1, 0.1, 0.25
    on = uplink.pointing_scintillation(0.0, pe2, w, w0, r0)
    assert np.isclose(on, 5.95 * 2 ** (5 / 3) * pe2 / w**2)
    assert uplink.pointing_scintillation(0.4, pe2, w, w0, r0) == on  # inside sigma_pe: no off-axis term
    off = uplink.pointing_scintillation(2.5, pe2, w, w0, r0)
    assert np.isclose(off - on, 5.95 * 2 ** (5 / 3) * (2.0 / w) ** 2)


def test_strong_turbulence_gamma_gamma(micius_like):
    """Low station, strong ground layer, small beam: sigma_Bu^2 > 1 somewhere, gamma-gamma used there."""
    p = LinkParameters(transmitter=Transmitter(divergence_urad=40.0), clouds=CLEAR,
                       turbulence=Turbulence(ground_cn2=1e-12, heights_above_ground=True))
    g = synthetic_pass(station_alt_m=0.0, max_range_km=2000.0)
    up = uplink_budget(g, p, np.random.default_rng(3), fading_slot_s=0.01)
    s = up["rytov_variance"].values
    assert s.max() > 1.0
    assert np.all(up["scintillation_index"].values > 0) and np.all(np.isfinite(up["fading"].values))


# --- the Earth seen from orbit -----------------------------------------------------------------


def _sky(**kw):
    base = dict(wavelength_nm=850.0, view_elevation_deg=np.array([90.0, 45.0]), sun_elevation_deg=-40.0,
                sun_separation_deg=130.0, moon_elevation_deg=50.0, moon_separation_deg=40.0,
                moon_illumination=1.0, tau_rayleigh=0.015, tau_aerosol=0.1)
    base.update(kw)
    return uplink.night_sky_from_orbit(**base)


def test_night_sky_from_orbit_scales_with_albedo_and_city_lights():
    a = _sky(albedo=0.1)
    b = _sky(albedo=0.4)
    assert np.allclose(b["ground"], 4 * a["ground"]) and np.allclose(b["path"], a["path"])
    city = uplink.viirs_dnb_spectral_radiance(20.0)
    assert np.isclose(city, 20 * 1e-5 / 400)  # 1 nW cm^-2 sr^-1 over 400 nm = 2.5e-8 W m^-2 sr^-1 nm^-1
    c = _sky(albedo=0.1, city_light_radiance=city)
    am = atm.kasten_young_airmass(np.array([0.0, 45.0]))
    assert np.allclose(c["total"] - a["total"], city * np.exp(-0.115 * (am - 1)))
    assert np.isclose(c["city"][0], city, rtol=1e-4)  # straight down: the map value itself
    # moon below the horizon, deep night: airglow plus the ground it and the night sky light
    dark = _sky(moon_elevation_deg=-5.0)
    night = bkg.dark_night_sky_radiance(850.0)
    assert np.allclose(dark["total"], night + 0.3 * night * np.exp(-0.115 * am), rtol=1e-6)
    assert np.all(_sky()["total"] > 10 * dark["total"])  # a full Moon lights the ground (albedo 0.3)


def test_sunlit_lambertian_ground():
    """Sun at the zenith, no atmosphere, looking straight down: L = rho E0 / pi (+ the night terms)."""
    r = uplink.night_sky_from_orbit(850.0, 90.0, 90.0, 180.0, -10.0, 90.0, 0.0, 1e-9, 0.0, albedo=0.3,
                                    night_sky_radiance=0.0)
    assert np.isclose(r["total"], 0.3 * bkg.solar_spectral_irradiance(850.0) / np.pi, rtol=1e-6)


def test_uplink_background_counts(micius_like):
    base = LinkParameters(clouds=CLEAR, receiver=Receiver(aperture_m=0.3, fov_urad=50.0))
    city = LinkParameters(clouds=CLEAR, receiver=Receiver(aperture_m=0.3, fov_urad=50.0),
                          background=Background(city_light_nw_cm2_sr=30.0))
    a = uplink_budget(micius_like, base, np.random.default_rng(0))
    b = uplink_budget(micius_like, city, np.random.default_rng(0))
    tau = -np.log(a.attrs["zenith_transmittance"])
    am = atm.kasten_young_airmass(90 - micius_like["elevation"].values)
    radiance = uplink.viirs_dnb_spectral_radiance(30.0) * np.exp(-tau * (am - 1))
    expected = bkg.background_rate_per_detector(radiance, 848.62, 50.0, 0.3, 0.0, 1.0, 0.5, 0.5, 4)
    assert np.allclose(b["background_rate"].values - a["background_rate"].values, expected, rtol=1e-9)
    assert np.all(b["noise_probability"].values > a["noise_probability"].values)


def test_mu3u_link_table_matches_the_integral():
    """The per-link table (90 zenith angles x 49 log ranges, bilinear in log mu_3u) against the
    path integral at random points from LEO to GEO."""
    rng = np.random.default_rng(5)
    z = rng.uniform(0.0, 85.0, 400)
    L = np.exp(rng.uniform(np.log(2e5), np.log(4e7), 400))
    exact = uplink.path_moments(848.62, z, L, 0.054, 960.0, HV57)["mu3u"]
    assert np.max(np.abs(uplink.mu3u_link(848.62, z, L, 0.054, 960.0, HV57) / exact - 1)) < 5e-3
