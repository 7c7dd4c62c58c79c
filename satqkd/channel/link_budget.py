"""Per-second link budget of a pass: geometry in, losses, transmittance and noise out.

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
* turbulence: the mean (not the fading) effect. Downlink: the plane wave reaching the
  ground is not spread, fading is mean-one, so only the seeing loss at the field stop
  remains (~0 dB for a 100 urad field), or, for a single-mode-fibre receiver, the fibre
  coupling under turbulence with optional adaptive optics (``fibre_coupling``; Dikmelik &
  Davidson 2005, Noll 1976, Greenwood 1977), whose single-mode field of view also sets the
  background; with the Sun up, the daytime Cn2 profile (``Turbulence.day_profile``);
  uplink: the beam-spread + wander loss of the long-term beam W_LT against the
  diffraction beam W (A&P ch. 12);
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

import dataclasses
import functools

import numpy as np
import xarray as xr

from satqkd.channel import atmosphere as atm
from satqkd.channel import background as bkg
from satqkd.channel import beam, clouds, fading, fibre_coupling, lowtran, pointing, turbulence
from satqkd.channel.params import LinkParameters
from satqkd.errors import InputError

_DIRECTIONS = ("downlink", "uplink")


def _db(eta: np.ndarray) -> np.ndarray:
    return -10.0 * np.log10(np.maximum(eta, 1e-300)) + 0.0  # + 0.0: no "-0 dB"


def _on_subset(func, x: np.ndarray, n_max: int = 24) -> dict[str, np.ndarray]:
    """Evaluate an expensive smooth function of the pass on <= n_max samples and interpolate in time."""
    n = x.shape[-1]
    idx = np.unique(np.round(np.linspace(0, n - 1, min(n, n_max))).astype(int))
    values = func(idx)
    grid = np.arange(n)
    return {k: np.interp(grid, idx, np.asarray(v, float)) for k, v in values.items()}


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
    f_g = _on_subset(lambda i: {
        "night": fibre_coupling.greenwood_frequency_hz(wavelength_nm, zenith_deg[i], station_alt_m, turb, slew_rad_s[i]),
        "day": fibre_coupling.greenwood_frequency_hz(wavelength_nm, zenith_deg[i], station_alt_m, turb_day,
                                                     slew_rad_s[i])}, zenith_deg)
    greenwood = np.where(sun_up, f_g["day"], f_g["night"])
    res = fibre_coupling.fibre_coupling_efficiency(rx.aperture_m, fried_m, beta, a, rx.ao_corrected_modes,
                                                   greenwood, rx.ao_bandwidth_hz)
    return {**res, "greenwood_hz": greenwood, "beta": beta}


def line_of_sight_rate_rad_s(elevation_deg: np.ndarray, azimuth_deg: np.ndarray, t_s: np.ndarray) -> np.ndarray:
    """Angular speed of the line of sight (rad/s) from the elevation/azimuth series."""
    if t_s.shape[0] < 2:
        return np.zeros_like(t_s)
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    u = np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)], axis=-1)
    return np.linalg.norm(np.gradient(u, t_s, axis=0), axis=-1)


def _attrs(units: str, long_name: str, **extra) -> dict:
    return {"units": units, "long_name": long_name, **extra}


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
    tx, rx = params.transmitter, params.receiver
    turb, cl, bg, at = params.turbulence, params.clouds, params.background, params.atmosphere
    lam = tx.wavelength_nm
    alt_m = float(geometry.attrs.get("station_alt_m", 0.0))
    times = geometry["time"].values
    n = times.shape[0]
    t_s = (times - times[0]).astype("timedelta64[ns]").astype(float) * 1e-9 if n else np.zeros(0)
    step_s = float(np.median(np.diff(t_s))) if n > 1 else 1.0
    el = geometry["elevation"].values.astype(float)
    zen = 90.0 - el
    range_m = geometry["range"].values.astype(float) * 1e3
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

    # --- turbulence
    h_w = turbulence.scintillation_weighted_height_m(alt_m, turb)
    zeros = np.zeros(n)
    eta_turb = np.ones(n)
    w_rx = w_diff
    rytov, lnx, lny, r0 = zeros, zeros, zeros, np.full(n, np.inf)
    fibre = rx.coupling == "single-mode-fibre"
    sun_up = geometry["sun_elevation"].values.astype(float) > 0.0  # daytime turbulence profile
    fib = None
    if turb.enabled and n:
        if direction == "downlink":
            r0, sc = _downlink_turbulence(lam, zen, rx.aperture_m, alt_m, turb, sun_up)
            rytov, lnx, lny = sc["rytov_variance"], sc["sigma2_lnx"], sc["sigma2_lny"]
            if fibre:  # the fibre replaces the field stop (Dikmelik & Davidson 2005, Noll 1976)
                fib = _fibre_coupling(lam, zen, r0, line_of_sight_rate_rad_s(el, geometry["azimuth"].values, t_s),
                                      sun_up, rx, alt_m, turb)
                eta_turb = fib["efficiency"]
            else:
                eta_turb = turbulence.seeing_coupling(lam, r0, rx.aperture_m, rx.fov_urad)
            corr_width = np.maximum(rx.aperture_m, np.sqrt(h_w / np.cos(np.radians(np.minimum(zen, 89.0))) / k))
        else:
            ub = _on_subset(lambda i: turbulence.uplink_beam(lam, zen[i], range_m[i], w0, alt_m, turb), zen)
            r0, rytov = ub["fried_m"], ub["rytov_variance"]
            w_rx = np.maximum(ub["long_term_radius_m"], w_diff)
            eta_turb = (beam.annular_collection(w_rx, rx.aperture_m, rx.obscuration_m)
                        / beam.annular_collection(w_diff, rx.aperture_m, rx.obscuration_m))
            # wander consistent with the long-term beam: W_LT^2 = W_ST^2 + 2 <r_c^2>, W_ST >= W
            w_st2 = np.maximum(w_rx**2 - 2.0 * ub["wander_variance_m2"], w_diff**2)
            wander = 0.5 * (w_rx**2 - w_st2)
            s_bw = turbulence.wander_scintillation(np.sqrt(w_st2), wander)
            s_on = ub["scintillation_on_axis"]
            lnx = np.log1p(s_bw) + 0.5 * np.log1p(s_on)
            lny = 0.5 * np.log1p(s_on)
            corr_width = np.maximum(2.0 * w0, np.sqrt(h_w / np.cos(np.radians(np.minimum(zen, 89.0))) / k))
    else:
        corr_width = np.full(n, rx.aperture_m if direction == "downlink" else 2.0 * w0)
    if fibre and fib is None:
        # turbulence off, or an uplink (the wave reaching the satellite is coherent over its
        # aperture): the mode mismatch alone, on top of any beam-spread loss
        beta = (rx.fibre_coupling_beta if rx.fibre_coupling_beta is not None
                else fibre_coupling.optimal_beta(rx.obscuration_m / rx.aperture_m))
        eta_turb = eta_turb * float(fibre_coupling.coupling_no_turbulence(beta, rx.obscuration_m / rx.aperture_m))

    # --- pointing (angular errors at the transmitter, displacements at the receiver)
    jitter_m = tx.pointing_jitter_urad * 1e-6 * range_m
    bias_m = tx.pointing_bias_urad * 1e-6 * range_m
    eta_point = pointing.pointing_efficiency(w_rx, rx.aperture_m, rx.obscuration_m, jitter_m, bias_m)

    # --- clear-sky atmosphere
    if at.zenith_transmittance is None and at.extinction_model == "lowtran7":
        month = int(np.asarray(times[n // 2] if n else np.datetime64("2000-01-01"), "datetime64[M]")
                    .astype(int) % 12) + 1
        model_atm = (at.model_atmosphere if at.model_atmosphere != "auto" else
                     lowtran.auto_model_atmosphere(float(geometry.attrs.get("station_lat_deg", 45.0)), month))
        vis = at.visibility_km if at.visibility_km is not None else (5.0 if at.aerosol_model == "urban" else 23.0)
        lt = dict(model_atmosphere=model_atm, aerosol_model=at.aerosol_model, visibility_km=vis)
        mol, aer = lowtran.optical_depths(lam, alt_m, zen, **lt)
        eta_atm = np.exp(-(mol + aer))
        t_zenith = float(np.exp(-np.sum(lowtran.optical_depths(lam, alt_m, 0.0, **lt))))
        # the sky model's optical depths: Rayleigh (scattering) and the rest (aerosol, absorption)
        tau_r = float(atm.rayleigh_optical_depth(lam, alt_m))
        tau_a = max(-np.log(t_zenith) - tau_r, 0.0)
        atm_name = (f"LOWTRAN7 tables: {model_atm}, {at.aerosol_model} aerosol, visibility {vis:g} km "
                    "(Kneizys et al. 1988)")
    else:
        at_old = at if at.extinction_model != "modtran_table" else dataclasses.replace(at, visibility_km=None)
        t_zenith = atm.zenith_transmittance(lam, alt_m, at_old)
        tau_r, tau_a = atm.optical_depths(lam, alt_m, at_old)
        eta_atm = atm.slant_transmittance(t_zenith, zen)
        atm_name = (("user zenith transmittance" if at.zenith_transmittance is not None else
                     f"Kim visibility {at_old.visibility_km} km" if at_old.visibility_km is not None else
                     "MODTRAN table (Bourgoin 2013), altitude scaled") + "; Kasten-Young air mass")

    # --- clouds
    if cloud_series is not None:
        series = clouds.load_cloud_series(cloud_series, float(geometry.attrs.get("station_lat_deg", 0.0)),
                                          float(geometry.attrs.get("station_lon_deg", 0.0)))
        p_clear = 1.0 - clouds.cloud_fraction_at(series, times)
        cloud_source = series.attrs.get("source", "user series")
    elif cl.model == "series":
        raise InputError("clouds.model = 'series' needs a cloud series (CSV or ERA5 NetCDF)")
    elif cl.model == "clear":
        p_clear = np.ones(n)
        cloud_source = "always clear"
    else:
        p_clear = clouds.clear_probability_at(times, str(geometry.attrs.get("station", "")), cl)
        cloud_source = "monthly climatology"
    cirrus = np.zeros(n, bool)
    if cloud_chain is not None and cloud_series is None and cl.chain == "station" and cl.model != "series":
        seed, start_s, end_s = cloud_chain
        clear, cirrus = clouds.station_sky_state(times, str(geometry.attrs.get("station", "")), cl,
                                                 seed, start_s, end_s)
        clear = clear & (p_clear > 0)  # model "clear" and p = 0 stay exact
        cloud_source += f"; persistent station chain (seed {seed})"
    else:
        clear = (clouds.markov_clear(p_clear, cl.persistence_s, step_s, rng) if n else np.zeros(0, bool))
        if cl.cirrus_probability > 0 and n:
            cirrus = clouds.markov_clear(np.full(n, cl.cirrus_probability), cl.persistence_s, step_s, rng)
    if cl.model == "clear":
        clear, cirrus = np.ones(n, bool), np.zeros(n, bool)
    eta_cloud = (np.where(clear, 1.0, clouds.cloud_transmittance(cl.optical_depth, zen))
                 * np.where(cirrus, clouds.cloud_transmittance(cl.cirrus_optical_depth, zen), 1.0))

    # --- receiver
    eta_rx = rx.optics_efficiency * rx.detector_efficiency

    # --- background
    if direction == "downlink":
        radiance = bkg.sky_radiance(
            lam, el, geometry["sun_elevation"].values, geometry["sun_separation"].values,
            geometry["moon_elevation"].values, geometry["moon_separation"].values,
            geometry["moon_illumination"].values, tau_r, tau_a,
            asymmetry=at.aerosol_asymmetry, aerosol_albedo=at.aerosol_single_scattering_albedo,
            night_sky_radiance=bg.night_sky_radiance, light_pollution_factor=bg.light_pollution_factor,
            twilight_mag_per_deg=bg.twilight_mag_per_deg, include_moon=bg.include_moon,
        )["total"]
    else:
        radiance = bkg.earth_radiance(
            lam, el, geometry["sun_elevation"].values, geometry["moon_elevation"].values,
            geometry["moon_illumination"].values, t_zenith, albedo=bg.earth_albedo,
            ground_light_radiance=bg.ground_light_radiance, include_moon=bg.include_moon,
        )
    # a single-mode fibre accepts one spatial mode: its etendue lambda^2 sets the sky's solid angle
    fov_bg = (fibre_coupling.single_mode_fov_urad(lam, rx.aperture_m, rx.obscuration_m, rx.fibre_coupling_beta)
              if fibre else rx.fov_urad)
    sky_rate = bkg.background_rate_per_detector(
        radiance, lam, fov_bg, rx.aperture_m, rx.obscuration_m, rx.filter_bandwidth_nm,
        rx.optics_efficiency, rx.detector_efficiency, rx.n_detectors,
    )
    rate = sky_rate + rx.dark_count_rate_hz
    p_noise = bkg.noise_probability(rate, rx.detection_window_ns)

    # --- operating hours and total
    sun_el = geometry["sun_elevation"].values.astype(float)
    operating = np.ones(n, bool) if bg.operate_in_daylight else sun_el < bg.night_sun_elevation_deg
    # calibrated excess loss: constant + coefficient x (air mass - 1) (``calibration``)
    impl_db = tx.implementation_loss_db + tx.implementation_loss_airmass_db * (atm.kasten_young_airmass(zen) - 1.0)
    eta_impl = 10.0 ** (-impl_db / 10.0)
    eta = eta_geo * eta_point * eta_atm * eta_turb * eta_cloud * eta_rx * eta_impl
    transmittance = np.where(operating, eta, 0.0)

    out: dict[str, tuple] = {}
    T = ("time",)
    out["loss_geometric"] = (T, _db(eta_geo), _attrs(
        "dB", "geometric loss (transmit optics, truncation, beam collection)"))
    out["loss_pointing"] = (T, _db(eta_point), _attrs("dB", "mean pointing jitter and bias loss"))
    out["loss_atmosphere"] = (T, _db(eta_atm), _attrs("dB", "clear-sky atmospheric extinction"))
    out["loss_turbulence"] = (T, _db(eta_turb), _attrs(
        "dB", "mean turbulence loss (downlink: seeing at the field stop, or single-mode-fibre coupling "
        "with adaptive optics; uplink: beam spread and wander)"))
    out["loss_cloud"] = (T, _db(eta_cloud), _attrs("dB", "cloud extinction"))
    out["loss_receiver"] = (T, np.full(n, float(_db(np.array(eta_rx)))), _attrs(
        "dB", "receiver optics and detector efficiency"))
    out["loss_implementation"] = (T, np.broadcast_to(impl_db + 0.0, (n,)).copy(), _attrs(
        "dB", "implementation loss: flight-measured deficit against the ideal budget"))
    out["transmittance"] = (T, transmittance, _attrs(
        "1", "total link transmittance, detectors included (0 when not operating)"))
    out["background_rate"] = (T, rate, _attrs("s-1", "background counts per detector (sky and dark)"))
    out["sky_radiance"] = (T, np.asarray(radiance, float), _attrs(
        "W m-2 sr-1 nm-1", "background spectral radiance in the field of view"))
    out["noise_probability"] = (T, p_noise, _attrs("1", "noise count probability per detector per detection window"))
    out["cloud_clear"] = (T, clear, _attrs("1", "line of sight free of opaque cloud"))
    out["cirrus"] = (T, cirrus, _attrs("1", "thin cirrus in the line of sight"))
    out["operating"] = (T, operating, _attrs("1", "link operating (night, or daylight operation allowed)"))
    out["beam_radius"] = (T, w_rx, _attrs("m", "1/e2 beam radius at the receiver (long-term for uplinks)"))
    out["fried_parameter"] = (T, r0, _attrs("m", "Fried parameter of the slant path"))
    out["rytov_variance"] = (T, rytov, _attrs("1", "Rytov variance of the slant path"))
    out["scintillation_index"] = (T, np.expm1(lnx + lny), _attrs(
        "1", "scintillation index of the received power (aperture averaged)"))
    if fib is not None:
        out["greenwood_frequency"] = (T, fib["greenwood_hz"], _attrs(
            "Hz", "Greenwood frequency of the slant path (wind and slew)"))
        out["ao_residual_variance"] = (T, fib["residual_variance_rad2"], _attrs(
            "rad2", "residual wavefront phase variance at the fibre (Noll fitting and servo lag)"))
    out["pointing_fade_variance"] = (T, fading.pointing_fade_variance(jitter_m, bias_m, w_rx), _attrs(
        "1", "normalised variance of the collected power under pointing jitter"))

    if fading_slot_s is not None:
        if not 0 < fading_slot_s <= step_s:
            raise InputError(f"fading_slot_s must be in (0, {step_s}] s, got {fading_slot_s}")
        n_sub = int(round(step_s / fading_slot_s))
        omega = line_of_sight_rate_rad_s(el, geometry["azimuth"].values.astype(float), t_s)
        v_perp = np.hypot(turb.transverse_wind_m_s, omega * h_w / np.cos(np.radians(np.minimum(zen, 89.0))))
        tau_c = fading.correlation_time_s(corr_width, v_perp)
        samples = (fading.sample_fading(rng, step_s / n_sub, n_sub, tau_c, lnx, lny, rytov < turb.weak_rytov_limit)
                   if n else np.ones((0, n_sub)))
        # pointing fades: their own correlation time, the tracking loop's 1/(2 pi B)
        tau_p = (fading.tracking_correlation_time_s(tx.tracking_bandwidth_hz)
                 if tx.tracking_bandwidth_hz is not None else None)
        if tau_p is not None and n and tx.pointing_jitter_urad > 0:
            samples = samples * fading.sample_pointing_fading(rng, step_s / n_sub, n_sub, tau_p, jitter_m, bias_m,
                                                              w_rx)
        out["fading"] = (("time", "subslot"), samples, _attrs(
            "1", "scintillation and pointing fading factor on transmittance (mean 1)"))
        out["fading_correlation_time"] = (T, tau_c, _attrs("s", "scintillation correlation time (Taylor frozen flow)"))
        out["pointing_correlation_time"] = (T, np.full(n, tau_p if tau_p is not None else np.nan), _attrs(
            "s", "pointing fade correlation time, 1/(2 pi tracking bandwidth)"))
        out["subslot"] = ("subslot", np.arange(n_sub) * step_s / n_sub,
                          _attrs("s", "start of the fading slot within the time step"))

    subslot = out.pop("subslot", None)
    ds = geometry.assign(out)  # one merge: per-variable assignment costs ~1 ms each
    if subslot is not None:
        ds = ds.assign_coords(subslot=subslot)
    ds.attrs = dict(geometry.attrs)  # never alias the caller's attrs

    ds.attrs.update({
        "link_direction": direction,
        "wavelength_nm": lam,
        "transmit_aperture_m": tx.aperture_m,
        "beam_waist_m": w0,
        "beam_divergence_urad": float(beam.divergence_from_waist_urad(lam, w0)),
        "transmit_truncation": truncation,
        "transmit_obscuration_m": tx.obscuration_m,
        "beam_model": "truncated Gaussian, Fresnel-Hankel integral (Klein & Degnan 1974)",
        "pointing_jitter_urad": tx.pointing_jitter_urad,
        "pointing_bias_urad": tx.pointing_bias_urad,
        "tracking_bandwidth_hz": tx.tracking_bandwidth_hz if tx.tracking_bandwidth_hz is not None else 0.0,
        "implementation_loss_db": tx.implementation_loss_db,
        "implementation_loss_airmass_db": tx.implementation_loss_airmass_db,
        "receive_aperture_m": rx.aperture_m,
        "receive_obscuration_m": rx.obscuration_m,
        "receiver_optics_efficiency": rx.optics_efficiency,
        "detector_efficiency": rx.detector_efficiency,
        "detection_window_ns": rx.detection_window_ns,
        "dark_count_rate_hz": rx.dark_count_rate_hz,
        "n_detectors": rx.n_detectors,
        "fov_urad": rx.fov_urad,
        "receiver_coupling": rx.coupling,
        "background_fov_urad": float(fov_bg),
        "ao_corrected_modes": int(rx.ao_corrected_modes) if fibre else 0,
        "ao_bandwidth_hz": float(rx.ao_bandwidth_hz) if fibre else 0.0,
        "filter_bandwidth_nm": rx.filter_bandwidth_nm,
        "zenith_transmittance": t_zenith,
        "atmosphere_model": atm_name,
        "turbulence_model": (f"Hufnagel-Valley A={turb.ground_cn2:g} m^-2/3 v={turb.rms_wind_m_s:g} m/s; "
                             f"with the Sun up (downlink): {turb.day_profile}; "
                             "Andrews-Phillips 2005 ch. 12" if turb.enabled else "none"),
        "cloud_model": (f"{cloud_source}; Markov persistence {cl.persistence_s:g} s; tau_c {cl.optical_depth:g}; "
                        f"thin cirrus {cl.cirrus_probability:g} of the time, tau {cl.cirrus_optical_depth:g}"),
        "background_model": ("single-scattering sky (Sun, Moon: Krisciunas-Schaefer 1991) + dark night sky"
                             if direction == "downlink" else "Lambertian Earth albedo + ground lights"),
        "operate_in_daylight": int(bg.operate_in_daylight),
        "fading_slot_s": float(step_s / round(step_s / fading_slot_s)) if fading_slot_s else 0.0,
    })
    return ds
