"""Single-mode-fibre coupling: analytic limits, adaptive optics, Greenwood frequency, daylight key."""

from __future__ import annotations

import numpy as np
import pytest

from satqkd.channel import Background, Clouds, LinkParameters, Receiver, Transmitter, link_budget
from satqkd.channel import fibre_coupling as fc
from satqkd.channel import turbulence
from satqkd.channel.params import Turbulence
from satqkd.channel.synthetic import synthetic_pass
from satqkd.errors import InputError


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_small_d_over_r0_is_the_no_turbulence_overlap(alpha):
    beta = fc.optimal_beta(alpha)
    eta0 = float(fc.coupling_no_turbulence(beta, alpha))
    if alpha == 0.0:  # Dikmelik & Davidson (2005): 0.8145 at beta = 1.1209
        assert beta == pytest.approx(1.1209, abs=2e-4)
        assert eta0 == pytest.approx(0.8145, abs=1e-4)
    # d/ds of the integrand at s = 0 is -(x1^2 + x2^2) times it, |.| <= 2: |eta(s) - eta0| <= 2 s eta0
    for s in (1e-3, 1e-2):
        eta = float(fc.turbulent_coupling_marcum(s, beta, alpha)[0])
        assert eta < eta0 and eta0 - eta <= 2.0 * s * eta0
    # D/r0 -> 0 through the tabulated path of the link budget
    tiny = fc.fibre_coupling_efficiency(0.8, 1e3, beta, alpha)["efficiency"]
    assert float(tiny) == pytest.approx(eta0, rel=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_large_d_over_r0_limit(alpha):
    """<eta> s -> T_pupil / (1 - alpha^2); the pupil edge leaves an O(s^-1/2) correction."""
    beta = fc.optimal_beta(alpha)
    limit = fc.pupil_mode_fraction(beta, alpha) / (1.0 - alpha**2)
    errors = []
    for s in (1e2, 1e4):
        eta = float(fc.turbulent_coupling_marcum(s, beta, alpha)[0])
        errors.append(abs(eta * s / limit - 1.0))
        assert errors[-1] < 1.0 / np.sqrt(s)
        assert float(fc.large_aperture_limit(s, beta, alpha)) * s == pytest.approx(limit)
    assert 3.0 < errors[0] / errors[1] < 30.0  # ~10: the s^-1/2 law over two decades
    # beyond the table: D/r0 = 500 follows the asymptote
    s = float(fc.area_ratio(0.8, 0.8 / 500.0))
    assert float(fc.turbulent_coupling(s, beta, alpha)) * s == pytest.approx(limit, rel=0.01)


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_closed_form_inner_integral_equals_the_double_integral(alpha):
    beta = 1.0
    for s in (0.1, 1.0, 10.0, 300.0):
        a = float(fc.turbulent_coupling_marcum(s, beta, alpha)[0])
        b = fc.turbulent_coupling_double_integral(s, beta, alpha)
        assert a == pytest.approx(b, rel=1e-9)
    # the per-second path interpolates the table within 0.2 % (0.01 dB)
    s = np.geomspace(3e-3, 3e4, 57)
    assert np.allclose(fc.turbulent_coupling(s, beta, alpha), fc.turbulent_coupling_marcum(s, beta, alpha),
                       rtol=2e-3)


def test_area_ratio_uses_the_wave_coherence_radius():
    # rho_0 = r0 / 3.44^(3/5): s = (D/2)^2 / rho_0^2 = (1.049 D / r0)^2
    assert float(fc.area_ratio(1.0, 1.0)) == pytest.approx((0.5 * 2.0986) ** 2, rel=1e-4)


def test_adaptive_optics_recovers_coupling():
    beta = fc.optimal_beta()
    r0 = 0.8 / 5.0  # D/r0 = 5
    eta0 = float(fc.coupling_no_turbulence(beta))
    none = float(fc.turbulent_coupling(fc.area_ratio(0.8, r0), beta))
    modes = [0, 1, 2, 3, 5, 9, 14, 20, 21, 27, 35, 65, 135, 500, 2000]
    for f_g, bw in ((0.0, np.inf), (80.0, 500.0)):
        eta = [float(fc.fibre_coupling_efficiency(0.8, r0, beta, 0.0, n, f_g, bw)["efficiency"]) for n in modes]
        assert eta[0] == pytest.approx(none)  # no correction: Dikmelik & Davidson
        assert np.all(np.diff(eta) >= 0)
        assert eta[1] > eta[0] and eta[-1] > 3 * eta[0]
        assert eta[-1] <= eta0
    # perfect loop, many modes: the residual Noll 0.2944 J^-0.866 (D/r0)^5/3 vanishes, eta -> eta0
    full = float(fc.fibre_coupling_efficiency(0.8, r0, beta, 0.0, 5000)["efficiency"])
    assert full == pytest.approx(eta0 * np.exp(-0.2944 * 5001 ** (-np.sqrt(3) / 2) * 5 ** (5 / 3)), rel=0.01)
    # a slow loop cannot beat a fast one
    slow = float(fc.fibre_coupling_efficiency(0.8, r0, beta, 0.0, 35, 80.0, 50.0)["efficiency"])
    fast = float(fc.fibre_coupling_efficiency(0.8, r0, beta, 0.0, 35, 80.0, 1000.0)["efficiency"])
    assert none < slow < fast
    # Noll's residuals fall with J, and the table meets the asymptote at J = 21
    coeff = fc.noll_residual_coefficient(np.arange(0, 60))
    assert np.all(np.diff(coeff) < 0)
    assert float(fc.noll_residual_coefficient(20)) == pytest.approx(0.2944 * 21 ** (-np.sqrt(3) / 2), rel=0.02)


def test_greenwood_frequency_single_layer():
    """One layer of wind v: f_G = (0.102/0.423)^(3/5) v / r0 = 0.426 v / r0 (Greenwood's 0.43 v/r0)."""
    x = np.array([0.0, 4999.0, 5000.0, 5001.0, 30000.0])
    cn2 = np.array([0.0, 0.0, 2e-13, 0.0, 0.0])  # int Cn2 dx = 2e-13 m^1/3
    for z, v, lam in ((0.0, 10.0, 500.0), (40.0, 30.0, 1550.0)):
        f_g = float(fc.greenwood_frequency_profile_hz(lam, z, x, cn2, np.full(x.shape, v)))
        r0 = (0.423 * turbulence.wavenumber(lam) ** 2 / np.cos(np.radians(z)) * 2e-13) ** -0.6
        assert f_g == pytest.approx(0.426 * v / r0, rel=2e-3)


def test_greenwood_frequency_slewing_hv57():
    """A fast slew makes the pseudo-wind omega h sec z dominate: f_G = (0.102/2.914)^(3/5) omega / theta0
    = 0.134 omega / theta0, and HV5/7 has theta0 = 7 urad at 500 nm at zenith (its name; +-5 %)."""
    f_g = float(fc.greenwood_frequency_hz(500.0, 0.0, 0.0, Turbulence(), 10.0))
    assert f_g / 10.0 == pytest.approx(0.1338 / 7e-6, rel=0.05)
    # without slew: wind only (Bufton profile), tens of Hz at 500 nm, lambda^(-6/5) scaling
    f500 = float(fc.greenwood_frequency_hz(500.0, 0.0, 0.0, Turbulence()))
    f1550 = float(fc.greenwood_frequency_hz(1550.0, 0.0, 0.0, Turbulence()))
    assert 20.0 < f500 < 150.0
    assert f1550 == pytest.approx(f500 * (1550.0 / 500.0) ** (-1.2), rel=1e-9)


def test_daytime_profile_is_used_with_the_sun_up():
    night = Turbulence()
    day = turbulence.daytime_turbulence(night)
    # SLC day (heights above ground) keeps its boundary layer at a 590 m site; HV5/7 sheds it
    assert float(turbulence.fried_parameter_m(500.0, 0.0, 590.0, day)) == pytest.approx(0.046, abs=0.002)
    assert float(turbulence.fried_parameter_m(500.0, 0.0, 590.0, night)) > 2.5 * 0.046
    g_day = synthetic_pass(sun_elevation_deg=30.0, station_alt_m=590.0)
    g_night = synthetic_pass(sun_elevation_deg=-30.0, station_alt_m=590.0)
    p = LinkParameters(clouds=Clouds(model="clear"))
    r_day = link_budget(g_day, p, np.random.default_rng(1))["fried_parameter"].values
    r_night = link_budget(g_night, p, np.random.default_rng(1))["fried_parameter"].values
    assert np.all(r_day < r_night / 2.5)
    same = LinkParameters(clouds=Clouds(model="clear"), turbulence=Turbulence(day_profile="night"))
    assert np.array_equal(link_budget(g_day, same, np.random.default_rng(1))["fried_parameter"].values, r_night)


# ---------------------------------------------------------------- daylight pass to key

TX = Transmitter(wavelength_nm=1550.0, aperture_m=0.08, waist_m=0.0357, pointing_jitter_urad=1.0)
RX = dict(aperture_m=0.8, optics_efficiency=0.3, detector_efficiency=0.8, filter_bandwidth_nm=0.8,
          dark_count_rate_hz=100.0, detection_window_ns=0.5)


def _pass_key(rx: Receiver, sun_elevation_deg: float) -> tuple[dict, object]:
    """Counts-level decoy BB84 over a 2 min stretch of a 500 km pass (Sun 60 deg from the line of sight)."""
    from satqkd.engine.counts import simulate_counts
    from satqkd.engine.params import DecoySource, Receiver as EngineReceiver, channel_transmittance
    from satqkd.keys.counts_keys import keys_from_counts

    geo = synthetic_pass(min_range_km=560.0, max_range_km=800.0, station_alt_m=590.0,
                         sun_elevation_deg=sun_elevation_deg, sun_separation_deg=60.0)
    link = LinkParameters(transmitter=TX, receiver=rx, clouds=Clouds(model="clear"),
                          background=Background(operate_in_daylight=True))
    ds = link_budget(geo, link, np.random.default_rng(7))
    source = DecoySource(rate_hz=1e8, intensities=(0.5, 0.1, 0.0), probabilities=(0.7, 0.2, 0.1), p_z=0.5)
    receiver = EngineReceiver(detector_efficiency=(0.8,) * 4, misalignment=0.01)
    eta = channel_transmittance(ds["transmittance"].values, receiver)
    r = simulate_counts(eta, ds["noise_probability"].values, 1.0, source, receiver, np.random.default_rng(8))
    keys = keys_from_counts(r.counts, source.intensities, source.probabilities, source.p_z,
                            pulses_sent=int(r.n_pulses.sum()))
    return keys.scalars(), ds


def test_daylight_1550_pass_gives_key_with_fibre_and_ao_only():
    fibre = Receiver(**RX, coupling="single-mode-fibre", ao_corrected_modes=35, ao_bandwidth_hz=500.0)
    free = Receiver(**RX, fov_urad=100.0)
    day_fibre, ds_fibre = _pass_key(fibre, 35.0)
    day_free, ds_free = _pass_key(free, 35.0)
    assert day_fibre["secret_bits"] > 0 and day_fibre["qber_z"] < 0.06
    assert day_free["secret_bits"] == 0 and day_free["abort_reason"] == "qber_above_threshold"
    assert day_free["qber_x"] > 0.25  # sky counts swamp the signal
    # why: the fibre's single-mode field of view (~2.4 urad) against the 100 urad stop
    assert ds_fibre.attrs["background_fov_urad"] == pytest.approx(fc.single_mode_fov_urad(1550.0, 0.8), rel=1e-12)
    sky = (ds_free["background_rate"] - 100.0) / (ds_fibre["background_rate"] - 100.0)
    assert np.allclose(sky, (100.0 / ds_fibre.attrs["background_fov_urad"]) ** 2, rtol=1e-9)
    # the fibre costs coupling: the with-AO loss is the coupling term, a few dB by day
    assert np.all((ds_fibre["loss_turbulence"] > 0.9) & (ds_fibre["loss_turbulence"] < 4.0))
    assert "greenwood_frequency" in ds_fibre and "ao_residual_variance" in ds_fibre
    # without adaptive optics the fibre loses ~10-20 dB by day
    no_ao = link_budget(ds_fibre[["elevation", "elevation_geometric", "azimuth", "range", "sun_elevation",
                                  "sun_separation", "moon_elevation", "moon_separation", "moon_illumination"]],
                        LinkParameters(transmitter=TX, receiver=Receiver(**RX, coupling="single-mode-fibre"),
                                       clouds=Clouds(model="clear")), np.random.default_rng(7))
    assert np.all(no_ao["loss_turbulence"].values > 10.0)


def test_fibre_without_turbulence_is_the_mode_mismatch():
    rx = Receiver(**RX, coupling="single-mode-fibre")
    ds = link_budget(synthetic_pass(), LinkParameters(transmitter=TX, receiver=rx, clouds=Clouds(model="clear"),
                                                      turbulence=Turbulence(enabled=False)), np.random.default_rng(1))
    assert np.allclose(ds["loss_turbulence"].values, -10 * np.log10(0.8145), atol=1e-3)


def test_receiver_parameter_errors():
    with pytest.raises(InputError, match="coupling"):
        Receiver(coupling="multimode")
    with pytest.raises(InputError, match="single-mode-fibre"):
        Receiver(ao_corrected_modes=10)
    with pytest.raises(InputError, match="day_profile"):
        Turbulence(day_profile="noon")


# ---------------------------------------------------------------- mission file

BAD_FIBRE = [
    (('coupling = "single-mode-fibre"', 'coupling = "multimode-fibre"'),
     ["stations[0].receiver.coupling", "free-space", "single-mode-fibre"]),
    (("ao_corrected_modes = 35", "ao_corrected_modes = -1"), ["stations[0].receiver.ao_corrected_modes", ">= 0"]),
    (("ao_corrected_modes = 35", "ao_corrected_modes = 6000"), ["stations[0].receiver.ao_corrected_modes", "<= 5000"]),
    (("ao_bandwidth_hz = 500.0", "ao_bandwidth_hz = 0.0"), ["stations[0].receiver.ao_bandwidth_hz", "> 0"]),
    (("ao_corrected_modes = 35", "ao_corrected_modes = 35\nfibre_coupling_beta = 9.0"),
     ["stations[0].receiver.fibre_coupling_beta", "<= 5"]),
    (('coupling = "single-mode-fibre"', 'coupling = "free-space"'),
     ["stations[0].receiver", "ao_corrected_modes", "single-mode-fibre"]),
    (('day_profile = "slc-day"', 'day_profile = "noon"'), ["stations[0].turbulence.day_profile", "slc-day"]),
    (('day_profile = "slc-day"', 'day_profile = "hv"\nday_ground_cn2 = 1.0'),
     ["stations[0].turbulence.day_ground_cn2", "<= 1e-10"]),
]


@pytest.mark.parametrize("replacement,words", BAD_FIBRE, ids=[w[0] for _, w in BAD_FIBRE])
def test_bad_receiver_keys_one_line_exit_2(replacement, words, repo, tmp_path, capsys):
    from conftest import run_cli

    text = (repo / "missions" / "eagle1-daylight-1550.toml").read_text()
    assert replacement[0] in text
    path = tmp_path / "m.toml"
    path.write_text(text.replace(replacement[0], replacement[1], 1))
    code, out, err = run_cli(["passes", str(path)], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(path) in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_eagle1_mission_wires_the_receiver(repo):
    from satqkd.config import load_mission
    from satqkd.mission.parameters import link_parameters

    cfg = load_mission(repo / "missions" / "eagle1-daylight-1550.toml")
    link = link_parameters(cfg, cfg.satellites[0], cfg.stations[0])
    assert link.receiver.coupling == "single-mode-fibre" and link.receiver.ao_corrected_modes == 35
    assert link.receiver.ao_bandwidth_hz == 500.0 and link.turbulence.day_profile == "slc-day"
    assert link.transmitter.wavelength_nm == 1550.0 and cfg.channel.operate_in_daylight
