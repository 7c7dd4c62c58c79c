"""Per-second link budget of a downlink pass: geometry in, losses, transmittance and noise out.

The satellite transmits, the ground station receives. ``link_budget(direction="uplink")``
hands the pass to ``uplink_budget`` (its own physics, same outputs); the terms both
directions share live in ``budget_terms``.

transmittance = eta_geometric * eta_pointing * eta_atmosphere * eta_turbulence
                * eta_cloud * eta_receiver * eta_implementation   (detectors included)

with each factor also reported as a loss in dB (positive = loss):

* geometric: transmit optics x fraction of the laser power collected by the (annular)
  receive aperture, for a Gaussian truncated by the (obscured) transmit aperture, by the
  Fresnel-Hankel integral (``beam``; Klein & Degnan 1974, Siegman ch. 17);
* pointing: mean collected fraction under Rayleigh/Rician jitter + bias over the
  perfectly pointed one (``pointing``; Farid & Hranilovic 2007, exact Gaussian form);
* atmosphere: LOWTRAN7 slant-path transmittance (``lowtran``; Kneizys et al. 1988) by
  default, or T_zenith ** AM(z) (``atmosphere``; Kasten & Young 1989);
* turbulence: the mean (not the fading) effect. The plane wave reaching the ground is not
  spread, fading is mean-one, so only the seeing loss at the field stop remains (~0 dB
  for a 100 urad field), or, for a single-mode-fibre receiver, the fibre coupling under
  turbulence with optional adaptive optics (``fibre_coupling``; Dikmelik & Davidson 2005,
  Noll 1976, Greenwood 1977), whose single-mode field of view also sets the background;
  with the Sun up, the daytime Cn2 profile (``Turbulence.day_profile``);
* cloud: exp(-tau_c AM(z)) in cloudy seconds of the Markov chain (``clouds``);
* receiver: receive optics x detector efficiency;
* implementation: 10^(-L/10) for the transmitter's ``implementation_loss_db`` L, a
  flight-measured deficit of the real link against this ideal budget (0 dB by default).

Background (counts/s per detector, sky + dark) and the noise probability per detection
window come from ``background``. When the link does not operate in daylight, seconds
with the Sun above ``Background.night_sun_elevation_deg`` have transmittance 0 and
``operating`` False (loss terms are still the physical ones).

With ``fading_slot_s`` the variable ``fading`` (time, subslot) holds mean-one
scintillation factors on ``transmittance`` (``fading``).
"""

from __future__ import annotations

import functools

import numpy as np
import xarray as xr

from satqkd.channel import background as bkg
from satqkd.channel import beam, fading, fibre_coupling, pointing, turbulence
from satqkd.channel import budget_terms as terms
from satqkd.channel.budget_terms import line_of_sight_rate_rad_s
from satqkd.channel.params import LinkParameters
from satqkd.channel.uplink_budget import uplink_budget
from satqkd.errors import InputError

_DIRECTIONS = ("downlink", "uplink")

__all__ = ["link_budget", "line_of_sight_rate_rad_s"]


#: Zenith angles (deg) on which a station's downlink scintillation is tabulated: the
#: path integrals depend on the zenith angle alone, and are smooth in it.
_SCINTILLATION_ZENITH_DEG = np.linspace(0.0, 89.0, 179)


@functools.lru_cache(maxsize=256)
def _downlink_scintillation_table(wavelength_nm: float, aperture_m: float, station_alt_m: float,
                                  turb) -> dict[str, np.ndarray]:
    """Downlink scintillation on the zenith grid, computed once per station and wavelength."""
    return turbulence.scintillation_downlink(wavelength_nm, _SCINTILLATION_ZENITH_DEG, aperture_m,
                                             station_alt_m, turb)


def _downlink_turbulence(wavelength_nm: float, zenith_deg: np.ndarray, aperture_m: float, station_alt_m: float,
                         turb, sun_up: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """r0 and scintillation of a downlink, from the daytime profile in the seconds the Sun is up."""
    turb_day = turbulence.daytime_turbulence(turb)
    out_r0 = None
    out_sc: dict[str, np.ndarray] = {}
    for profile, use in ((turb, ~sun_up), (turb_day, sun_up)):
        if not use.any() and out_r0 is not None:
            continue
        r0 = turbulence.fried_parameter_m(wavelength_nm, zenith_deg, station_alt_m, profile)
        table = _downlink_scintillation_table(wavelength_nm, aperture_m, station_alt_m, profile)
        sc = {k: np.interp(zenith_deg, _SCINTILLATION_ZENITH_DEG, table[k])
              for k in ("rytov_variance", "sigma2_lnx", "sigma2_lny")}
        if out_r0 is None:
            out_r0, out_sc = r0, sc
        else:
            out_r0 = np.where(use, r0, out_r0)
            out_sc = {k: np.where(use, sc[k], v) for k, v in out_sc.items()}
    return out_r0, out_sc


def _fibre_coupling(wavelength_nm: float, zenith_deg: np.ndarray, fried_m: np.ndarray, slew_rad_s: np.ndarray,
                    sun_up: np.ndarray, rx, station_alt_m: float, turb) -> dict[str, np.ndarray]:
    """Single-mode-fibre coupling of a downlink receiver (``fibre_coupling``), with the
    Greenwood frequency of the night or day profile evaluated on a subset of the pass."""
    a = rx.obscuration_m / rx.aperture_m
    beta = rx.fibre_coupling_beta if rx.fibre_coupling_beta is not None else fibre_coupling.optimal_beta(a)
    turb_day = turbulence.daytime_turbulence(turb)
    f_g = terms.on_subset(lambda i: {
        "night": fibre_coupling.greenwood_frequency_hz(wavelength_nm, zenith_deg[i], station_alt_m, turb, slew_rad_s[i]),
        "day": fibre_coupling.greenwood_frequency_hz(wavelength_nm, zenith_deg[i], station_alt_m, turb_day,
                                                     slew_rad_s[i])}, zenith_deg)
    greenwood = np.where(sun_up, f_g["day"], f_g["night"])
    res = fibre_coupling.fibre_coupling_efficiency(rx.aperture_m, fried_m, beta, a, rx.ao_corrected_modes,
                                                   greenwood, rx.ao_bandwidth_hz)
    return {**res, "greenwood_hz": greenwood, "beta": beta}


def link_budget(
    geometry: xr.Dataset,
    params: LinkParameters,
    rng: np.random.Generator,
    *,
    direction: str = "downlink",
    cloud_series=None,
    fading_slot_s: float | None = None,
    cloud_chain: tuple[int, float, float] | None = None,
) -> xr.Dataset:
    """The geometry dataset plus the per-second link budget (see module docstring).

    geometry: per-pass dataset of the orbit stage (dim ``time``; ``elevation``, ``azimuth``,
        ``range`` in km, Sun/Moon angles; attrs ``station``, ``station_lat_deg``,
        ``station_lon_deg``, ``station_alt_m``).
    params: the link parameters; the transmitter is on the satellite for a downlink and on
        the ground for an uplink.
    direction: "downlink", or "uplink" (delegated to ``uplink_budget``).
    rng: the pass's own random stream (clouds, fading).
    cloud_series: a DataArray of cloud fraction over ``time`` or a path to a CSV / ERA5
        NetCDF (``tcc``); overrides the climatology.
    fading_slot_s: if given, sub-second fading samples of this length are added as
        ``fading`` (time, subslot), mean 1.
    cloud_chain: (mission seed, mission start, mission end in UTC seconds): the cloud state
        comes from the station's persistent chain over the mission (``clouds.chain =
        "station"``) instead of the pass's random stream.
    """
    if direction not in _DIRECTIONS:
        raise InputError(f"link_budget: direction must be 'downlink' or 'uplink', got {direction!r}")
    if direction == "uplink":  # its own physics; kept here for compatibility
        return uplink_budget(geometry, params, rng, cloud_series=cloud_series, fading_slot_s=fading_slot_s,
                             cloud_chain=cloud_chain)
    tx, rx = params.transmitter, params.receiver
    turb, cl, bg, at = params.turbulence, params.clouds, params.background, params.atmosphere
    lam = tx.wavelength_nm
    alt_m = float(geometry.attrs.get("station_alt_m", 0.0))
    pt = terms.pass_times(geometry)
    n, t_s, step_s = pt.n, pt.t_s, pt.step_s
    el = geometry.variables["elevation"].values.astype(float)
    zen = 90.0 - el
    range_m = geometry.variables["range"].values.astype(float) * 1e3
    k = turbulence.wavenumber(lam)

    # --- beam: ideal Gaussian of the stated divergence, or the stated waist
    w0 = tx.waist_m if tx.waist_m is not None else float(beam.waist_from_divergence_m(lam, tx.divergence_urad))
    # Truncated (and obscured) Gaussian: Fresnel-Hankel integral tabulated once per link
    # (Klein & Degnan 1974); w_diff is the equivalent Gaussian radius used for pointing.
    tg = beam.truncated_gaussian_link(range_m, lam, w0, tx.aperture_m, rx.aperture_m,
                                      tx.obscuration_m, rx.obscuration_m)
    truncation = float(beam.annular_collection(w0, tx.aperture_m, tx.obscuration_m))
    w_diff = tg["equivalent_radius_m"]
    eta_geo = tx.optics_efficiency * tg["collected"]

    # --- turbulence: the plane wave at the ground (scintillation; seeing at the field stop
    # or single-mode-fibre coupling), from the daytime profile while the Sun is up
    h_w = turbulence.scintillation_weighted_height_m(alt_m, turb)
    zeros = np.zeros(n)
    eta_turb = np.ones(n)
    w_rx = w_diff  # the diffraction beam reaches the ground unspread
    rytov, lnx, lny, r0 = zeros, zeros, zeros, np.full(n, np.inf)
    fibre = rx.coupling == "single-mode-fibre"
    sun_up = geometry.variables["sun_elevation"].values.astype(float) > 0.0
    fib = None
    if turb.enabled and n:
        r0, sc = _downlink_turbulence(lam, zen, rx.aperture_m, alt_m, turb, sun_up)
        rytov, lnx, lny = sc["rytov_variance"], sc["sigma2_lnx"], sc["sigma2_lny"]
        if fibre:  # the fibre replaces the field stop (Dikmelik & Davidson 2005, Noll 1976)
            fib = _fibre_coupling(lam, zen, r0, line_of_sight_rate_rad_s(el, geometry.variables["azimuth"].values, t_s),
                                  sun_up, rx, alt_m, turb)
            eta_turb = fib["efficiency"]
        else:
            eta_turb = turbulence.seeing_coupling(lam, r0, rx.aperture_m, rx.fov_urad)
        corr_width = np.maximum(rx.aperture_m, np.sqrt(h_w / np.cos(np.radians(np.minimum(zen, 89.0))) / k))
    else:
        corr_width = np.full(n, rx.aperture_m)
    if fibre and fib is None:  # no turbulence: the mode mismatch alone
        eta_turb = eta_turb * terms.fibre_mode_mismatch(rx)

    # --- pointing (angular errors at the transmitter, displacements at the receiver)
    jitter_m = tx.pointing_jitter_urad * 1e-6 * range_m
    bias_m = tx.pointing_bias_urad * 1e-6 * range_m
    eta_point = pointing.pointing_efficiency(w_rx, rx.aperture_m, rx.obscuration_m, jitter_m, bias_m)

    # --- clear-sky atmosphere, clouds (the pass's random stream, first)
    clear_sky = terms.clear_sky(geometry, lam, zen, at)
    sky = terms.cloud_cover(geometry, zen, step_s, cl, rng, cloud_series, cloud_chain)

    # --- background: the sky seen from the ground
    radiance = bkg.sky_radiance(
        lam, el, geometry.variables["sun_elevation"].values, geometry.variables["sun_separation"].values,
        geometry.variables["moon_elevation"].values, geometry.variables["moon_separation"].values,
        geometry.variables["moon_illumination"].values, clear_sky.tau_rayleigh, clear_sky.tau_aerosol,
        asymmetry=at.aerosol_asymmetry, aerosol_albedo=at.aerosol_single_scattering_albedo,
        night_sky_radiance=bg.night_sky_radiance, light_pollution_factor=bg.light_pollution_factor,
        twilight_mag_per_deg=bg.twilight_mag_per_deg, include_moon=bg.include_moon,
    )["total"]
    rate, p_noise = terms.receiver_noise(radiance, lam, rx)

    # --- operating hours and total
    operating = terms.operating_seconds(geometry, bg)
    out = terms.budget_variables(
        eta_geometric=eta_geo, eta_pointing=eta_point, eta_atmosphere=clear_sky.transmittance,
        eta_turbulence=eta_turb, sky=sky, eta_receiver=rx.optics_efficiency * rx.detector_efficiency,
        implementation_db=terms.implementation_loss_db(tx, zen), operating=operating, radiance=radiance,
        background_rate=rate, noise_probability=p_noise,
        turbulence_long_name=("mean turbulence loss (downlink: seeing at the field stop, or single-mode-fibre "
                              "coupling with adaptive optics)"),
    )
    T = ("time",)
    out["beam_radius"] = (T, w_rx, terms.cf_attrs("m", "1/e2 beam radius at the receiver"))
    out["fried_parameter"] = (T, r0, terms.cf_attrs("m", "Fried parameter of the slant path"))
    out["rytov_variance"] = (T, rytov, terms.cf_attrs("1", "Rytov variance of the slant path"))
    out["scintillation_index"] = (T, np.expm1(lnx + lny), terms.cf_attrs(
        "1", "scintillation index of the received power (aperture averaged)"))
    if fib is not None:
        out["greenwood_frequency"] = (T, fib["greenwood_hz"], terms.cf_attrs(
            "Hz", "Greenwood frequency of the slant path (wind and slew)"))
        out["ao_residual_variance"] = (T, fib["residual_variance_rad2"], terms.cf_attrs(
            "rad2", "residual wavefront phase variance at the fibre (Noll fitting and servo lag)"))
    out["pointing_fade_variance"] = (T, fading.pointing_fade_variance(jitter_m, bias_m, w_rx), terms.cf_attrs(
        "1", "normalised variance of the collected power under pointing jitter"))

    if fading_slot_s is not None:
        omega = terms.line_of_sight_rate_rad_s(el, geometry.variables["azimuth"].values.astype(float), t_s)
        v_perp = np.hypot(turb.transverse_wind_m_s, omega * h_w / np.cos(np.radians(np.minimum(zen, 89.0))))
        tau_c = fading.correlation_time_s(corr_width, v_perp)
        out.update(terms.fading_variables(rng, step_s, fading_slot_s, tau_c, lnx, lny,
                                          rytov < turb.weak_rytov_limit, tx, jitter_m, bias_m, w_rx))

    attrs = {"link_direction": direction}
    attrs.update(terms.common_attrs(params, lam, w0, truncation, clear_sky, sky, fading_slot_s, step_s))
    attrs["background_model"] = "single-scattering sky (Sun, Moon: Krisciunas-Schaefer 1991) + dark night sky"
    return terms.assemble(geometry, out, attrs)
