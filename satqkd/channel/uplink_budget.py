"""Per-second link budget of an uplink: ground transmitter, satellite receiver.

transmittance = eta_geometric * eta_pointing * eta_atmosphere * eta_turbulence
                * eta_cloud * eta_receiver * eta_implementation   (detectors included)

The same output variables and attributes as the downlink's ``link_budget`` (so the engine
and the keys stages read an uplink pass as they read a downlink pass), with the uplink's
physics (``satqkd.channel.uplink``; Andrews & Phillips 2005, ch. 12):

* geometric: the diffraction beam of the ground telescope collected by the satellite's
  aperture (truncated Gaussian, ``beam``), as for the downlink;
* turbulence: the turbulence next to the transmitter spreads the beam (W_ST) and makes it
  wander; the mean beam is W_ST^2 + 2 <r_c^2> with the full wander (= W_LT, A&P eq. 12.48), or
  with the residual wander after tip-tilt pre-compensation on the beacon (anisoplanatic over
  the point-ahead angle, computed every second from the orbit); the loss is the collection
  of that mean beam over the diffraction beam's; a single-mode-fibre receiver adds the mode
  mismatch eta_0 (Dikmelik & Davidson 2005): the wave reaching the satellite is coherent over
  its aperture (the turbulence sits next to the transmitter), so no turbulent coupling loss
  and nothing for adaptive optics to correct (``ao_corrected_modes`` is not used);
* pointing: the ground terminal's jitter and bias (and the point-ahead angle itself when the
  beam is not pointed ahead), averaged over the mean beam exactly (``pointing``);
* atmosphere, clouds, implementation: shared with the downlink (``budget_terms``);
* background: the Earth seen from orbit (``uplink.night_sky_from_orbit``): moonlit or
  sunlit ground, light scattered by the atmosphere, city lights, through the field stop or,
  for a fibre receiver, the fibre's single spatial mode (``budget_terms.background_fov_urad``);
* fading: tracked-beam scintillation (A&P eq. 12.60) plus the wander / off-axis index
  (Andrews et al. 2006), log-normal in weak fluctuations (sigma_Bu^2 < 1), gamma-gamma
  above; pointing fades of the terminal's jitter as for the downlink.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from satqkd.channel import beam, fading, pointing, turbulence, uplink
from satqkd.channel import budget_terms as terms
from satqkd.channel.params import LinkParameters


def uplink_budget(
    geometry: xr.Dataset,
    params: LinkParameters,
    rng: np.random.Generator,
    *,
    cloud_series=None,
    fading_slot_s: float | None = None,
    cloud_chain: tuple[int, float, float] | None = None,
) -> xr.Dataset:
    """The geometry dataset plus the per-second uplink budget (see module docstring).

    geometry: per-pass dataset of the orbit stage (dim ``time``; ``elevation``, ``azimuth``,
        ``range`` in km, Sun/Moon angles; attrs ``station``, ``station_lat_deg``,
        ``station_lon_deg``, ``station_alt_m``); ``elevation_geometric`` is used for the
        line-of-sight rate when present.
    params: ``transmitter`` is the ground telescope (with ``tip_tilt``, ``point_ahead``),
        ``receiver`` the satellite's telescope and detectors.
    rng: the pass's own random stream (clouds, then fading), as for the downlink.
    cloud_series, fading_slot_s, cloud_chain: as for ``link_budget``.
    """
    tx, rx = params.transmitter, params.receiver
    turb, cl, bg, at = params.turbulence, params.clouds, params.background, params.atmosphere
    lam = tx.wavelength_nm
    alt_m = float(geometry.attrs.get("station_alt_m", 0.0))
    pt = terms.pass_times(geometry)
    n, step_s = pt.n, pt.step_s
    el = geometry.variables["elevation"].values.astype(float)
    zen = 90.0 - el
    range_m = geometry.variables["range"].values.astype(float) * 1e3

    # --- diffraction beam of the ground telescope (shared with the downlink)
    w0 = tx.waist_m if tx.waist_m is not None else float(beam.waist_from_divergence_m(lam, tx.divergence_urad))
    tg = beam.truncated_gaussian_link(range_m, lam, w0, tx.aperture_m, rx.aperture_m,
                                      tx.obscuration_m, rx.obscuration_m)
    truncation = float(beam.annular_collection(w0, tx.aperture_m, tx.obscuration_m))
    w_diff = tg["equivalent_radius_m"]
    eta_geo = tx.optics_efficiency * tg["collected"]

    # --- point-ahead angle, every second from the orbit
    el_geo = geometry.variables["elevation_geometric"].values.astype(float) if "elevation_geometric" in geometry else el
    omega = terms.line_of_sight_rate_rad_s(el_geo, geometry.variables["azimuth"].values.astype(float), pt.t_s, edge_order=2)
    v_perp = uplink.transverse_speed_m_s(omega, range_m)
    theta_pa = uplink.point_ahead_angle_rad(v_perp)

    # --- turbulence at the transmitter: spread, wander, tip-tilt residual, scintillation
    sensor_m = tx.tip_tilt_aperture_m if tx.tip_tilt_aperture_m is not None else tx.aperture_m
    zeros = np.zeros(n)
    r0 = np.full(n, np.inf)
    w_st, wander, residual, rytov, lnx, lny = w_diff, zeros, zeros, zeros, zeros, zeros
    tilt_factor = np.ones(n)
    if turb.enabled and n:
        r0 = turbulence.fried_parameter_m(lam, zen, alt_m, turb)
        w_lt = np.maximum(uplink.long_term_beam_radius_m(w_diff, w0, r0), w_diff)
        w_st, wander = uplink.short_term_beam(w_lt, uplink.beam_wander_variance_m2(lam, range_m, w0, r0), w_diff)
        if tx.tip_tilt:
            tilt_factor = uplink.tilt_residual_factor(theta_pa, zen, w0, sensor_m, alt_m, turb)
        residual = wander * tilt_factor
        # the path integral mu_3u from a per-link table in (zenith, range)
        rytov = uplink.on_axis_scintillation_weak(lam, zen, range_m,
                                                  uplink.mu3u_link(lam, zen, range_m, w0, alt_m, turb))
        theta = uplink.gaussian_beam_parameters(lam, range_m, w0)["theta"]
        lnx_t, lny_t = uplink.tracked_log_variances(rytov, theta)
    w_mean = uplink.mean_beam_radius_m(w_st, residual)
    eta_turb = (beam.annular_collection(w_mean, rx.aperture_m, rx.obscuration_m)
                / beam.annular_collection(w_diff, rx.aperture_m, rx.obscuration_m))
    if rx.coupling == "single-mode-fibre":  # coherent over the aperture: the mode mismatch alone
        eta_turb = eta_turb * terms.fibre_mode_mismatch(rx)

    # --- pointing of the ground terminal (angles there, displacements at the satellite)
    bias_rad = tx.pointing_bias_urad * 1e-6
    if not tx.point_ahead:  # aimed along the beacon: the point-ahead angle is a bias
        bias_rad = np.hypot(bias_rad, theta_pa)
    jitter_m = tx.pointing_jitter_urad * 1e-6 * range_m
    bias_m = bias_rad * range_m
    eta_point = pointing.pointing_efficiency(w_mean, rx.aperture_m, rx.obscuration_m, jitter_m, bias_m)

    if turb.enabled and n:
        pe2 = uplink.pointing_error_variance_m2(residual, w0, r0)
        s_pe = uplink.pointing_scintillation(bias_m, pe2, w_mean, w0, r0)
        lnx, lny = uplink.fading_log_variances(lnx_t, lny_t, s_pe)

    # --- atmosphere, clouds (the pass's random stream, first): shared with the downlink
    clear_sky = terms.clear_sky(geometry, lam, zen, at)
    sky = terms.cloud_cover(geometry, zen, step_s, cl, rng, cloud_series, cloud_chain)

    # --- background: the Earth seen from orbit
    city = (uplink.viirs_dnb_spectral_radiance(bg.city_light_nw_cm2_sr) if bg.city_light_nw_cm2_sr is not None
            else bg.ground_light_radiance)
    radiance = uplink.night_sky_from_orbit(
        lam, el, geometry.variables["sun_elevation"].values, geometry.variables["sun_separation"].values,
        geometry.variables["moon_elevation"].values, geometry.variables["moon_separation"].values,
        geometry.variables["moon_illumination"].values, clear_sky.tau_rayleigh, clear_sky.tau_aerosol,
        albedo=bg.earth_albedo, city_light_radiance=city, night_sky_radiance=bg.night_sky_radiance,
        asymmetry=at.aerosol_asymmetry,
        aerosol_albedo=at.aerosol_single_scattering_albedo, twilight_mag_per_deg=bg.twilight_mag_per_deg,
        include_moon=bg.include_moon,
    )["total"]
    rate, p_noise = terms.receiver_noise(radiance, lam, rx)

    operating = terms.operating_seconds(geometry, bg)
    out = terms.budget_variables(
        eta_geometric=eta_geo, eta_pointing=eta_point, eta_atmosphere=clear_sky.transmittance,
        eta_turbulence=eta_turb, sky=sky, eta_receiver=rx.optics_efficiency * rx.detector_efficiency,
        implementation_db=terms.implementation_loss_db(tx, zen), operating=operating, radiance=radiance,
        background_rate=rate, noise_probability=p_noise,
        turbulence_long_name=("mean turbulence loss (uplink: beam spread and wander after any tip-tilt "
                              "correction; single-mode fibre: times the mode mismatch)"),
    )
    T, a = ("time",), terms.cf_attrs
    out["beam_radius"] = (T, w_mean, a("m", "1/e2 radius of the mean beam at the satellite (spread and wander)"))
    out["short_term_beam_radius"] = (T, w_st, a("m", "1/e2 radius of the short-term beam at the satellite"))
    out["beam_wander_variance"] = (T, wander, a("m2", "mean-square radial beam wander at the satellite, untracked"))
    out["residual_wander_variance"] = (T, residual, a(
        "m2", "mean-square radial beam wander at the satellite after tip-tilt pre-compensation"))
    out["point_ahead_angle"] = (T, theta_pa * 1e6, a("urad", "point-ahead angle 2 v_perp / c"))
    out["fried_parameter"] = (T, r0, a("m", "Fried parameter of the slant path"))
    out["rytov_variance"] = (T, rytov, a("1", "on-axis weak-fluctuation scintillation index of the uplink beam"))
    out["scintillation_index"] = (T, np.expm1(lnx + lny), a(
        "1", "scintillation index at the satellite (tracked beam, wander and off-axis terms)"))
    out["pointing_fade_variance"] = (T, fading.pointing_fade_variance(jitter_m, bias_m, w_mean), a(
        "1", "normalised variance of the collected power under pointing jitter"))

    if fading_slot_s is not None:
        # Taylor frozen flow at the station's turbulence: the beam decorrelates when the air has
        # moved by the smaller of its diameter and r0; the slewing line of sight adds omega h sec z.
        h_u = uplink.turbulence_mean_height_m(alt_m, turb)
        corr_width = np.minimum(2.0 * w0, r0)
        v_layer = np.hypot(turb.transverse_wind_m_s, omega * h_u / np.cos(np.radians(np.minimum(zen, 89.0))))
        tau_c = fading.correlation_time_s(corr_width, v_layer)
        out.update(terms.fading_variables(rng, step_s, fading_slot_s, tau_c, lnx, lny,
                                          rytov < turb.weak_rytov_limit, tx, jitter_m, bias_m, w_mean))

    attrs = {"link_direction": "uplink"}
    attrs.update(terms.common_attrs(params, lam, w0, truncation, clear_sky, sky, fading_slot_s, step_s))
    attrs.update({
        "background_model": ("Earth seen from orbit: Lambertian ground (albedo "
                             f"{bg.earth_albedo:g}) lit by Sun, Moon and sky, single-scattered path light, airglow, "
                             f"city lights {float(np.max(city)) if np.size(city) else 0.0:.3g} W m-2 sr-1 nm-1"),
        "tip_tilt": int(tx.tip_tilt),
        "tip_tilt_aperture_m": float(sensor_m),
        "point_ahead_correction": int(tx.point_ahead),
        # a fibre on the satellite receives a coherent wave: no adaptive optics in the budget
        "ao_corrected_modes": 0,
        "ao_bandwidth_hz": 0.0,
        "tilt_isoplanatic_angle_zenith_urad": (
            float(uplink.tilt_isoplanatic_angle_rad(0.0, w0, sensor_m, alt_m, turb)) * 1e6
            if turb.enabled and tx.tip_tilt else np.nan),
    })
    return terms.assemble(geometry, out, attrs)
