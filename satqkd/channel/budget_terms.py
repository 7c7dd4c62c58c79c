"""Terms shared by the downlink and the uplink budgets.

Both directions see the same clear-sky atmosphere, the same clouds, the same calibrated
implementation loss and the same sub-second fading machinery; they differ in where the
turbulence sits, how the beam spreads and what the receiver looks at. The direction
modules (``link_budget`` for the downlink, ``uplink_budget``) call these functions, so
each shared model has one implementation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from satqkd.channel import atmosphere as atm
from satqkd.channel import background as bkg
from satqkd.channel import clouds, fading, fibre_coupling, lowtran
from satqkd.channel.params import Atmosphere, Clouds, LinkParameters, Receiver, Transmitter
from satqkd.datasets import extend_dataset
from satqkd.errors import InputError


def db(eta: np.ndarray) -> np.ndarray:
    """Loss in dB of a transmittance (positive = loss)."""
    return -10.0 * np.log10(np.maximum(eta, 1e-300)) + 0.0  # + 0.0: no "-0 dB"


def cf_attrs(units: str, long_name: str, **extra) -> dict:
    return {"units": units, "long_name": long_name, **extra}


def on_subset(func, x: np.ndarray, n_max: int = 24) -> dict[str, np.ndarray]:
    """Evaluate an expensive smooth function of the pass on <= n_max samples and interpolate in time."""
    n = x.shape[-1]
    idx = np.unique(np.round(np.linspace(0, n - 1, min(n, n_max))).astype(int))
    values = func(idx)
    grid = np.arange(n)
    return {k: np.interp(grid, idx, np.asarray(v, float)) for k, v in values.items()}


def line_of_sight_rate_rad_s(elevation_deg: np.ndarray, azimuth_deg: np.ndarray, t_s: np.ndarray,
                             edge_order: int = 1) -> np.ndarray:
    """Angular speed of the line of sight (rad/s) from the elevation/azimuth series.

    Central differences of the unit vector; ``edge_order`` 1 or 2 at the first and last sample.
    """
    if t_s.shape[0] < 2:
        return np.zeros_like(t_s)
    el, az = np.radians(elevation_deg), np.radians(azimuth_deg)
    u = np.stack([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)], axis=-1)
    order = edge_order if t_s.shape[0] > edge_order else 1
    return np.linalg.norm(np.gradient(u, t_s, axis=0, edge_order=order), axis=-1)


@dataclasses.dataclass(frozen=True)
class PassTimes:
    """The time axis of a pass: datetimes, seconds since the first sample, and the step."""

    times: np.ndarray
    t_s: np.ndarray
    step_s: float

    @property
    def n(self) -> int:
        return int(self.times.shape[0])


def pass_times(geometry: xr.Dataset) -> PassTimes:
    times = geometry.variables["time"].values
    n = times.shape[0]
    t_s = (times - times[0]).astype("timedelta64[ns]").astype(float) * 1e-9 if n else np.zeros(0)
    step_s = float(np.median(np.diff(t_s))) if n > 1 else 1.0
    return PassTimes(times, t_s, step_s)


@dataclasses.dataclass(frozen=True)
class ClearSky:
    """Clear-sky extinction along the line of sight and the optical depths of the sky model."""

    transmittance: np.ndarray
    zenith_transmittance: float
    tau_rayleigh: float
    tau_aerosol: float
    model: str


def clear_sky(geometry: xr.Dataset, wavelength_nm: float, zenith_deg: np.ndarray, at: Atmosphere) -> ClearSky:
    """Slant-path clear-sky transmittance at the station (LOWTRAN7 tables or T_zenith^AM; see docs)."""
    lam = wavelength_nm
    alt_m = float(geometry.attrs.get("station_alt_m", 0.0))
    times = geometry.variables["time"].values
    n = times.shape[0]
    if at.zenith_transmittance is None and at.extinction_model == "lowtran7":
        month = int(np.asarray(times[n // 2] if n else np.datetime64("2000-01-01"), "datetime64[M]")
                    .astype(int) % 12) + 1
        model_atm = (at.model_atmosphere if at.model_atmosphere != "auto" else
                     lowtran.auto_model_atmosphere(float(geometry.attrs.get("station_lat_deg", 45.0)), month))
        vis = at.visibility_km if at.visibility_km is not None else (5.0 if at.aerosol_model == "urban" else 23.0)
        lt = dict(model_atmosphere=model_atm, aerosol_model=at.aerosol_model, visibility_km=vis)
        mol, aer = lowtran.optical_depths(lam, alt_m, zenith_deg, **lt)
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
        eta_atm = atm.slant_transmittance(t_zenith, zenith_deg)
        atm_name = (("user zenith transmittance" if at.zenith_transmittance is not None else
                     f"Kim visibility {at_old.visibility_km} km" if at_old.visibility_km is not None else
                     "MODTRAN table (Bourgoin 2013), altitude scaled") + "; Kasten-Young air mass")
    return ClearSky(eta_atm, t_zenith, tau_r, tau_a, atm_name)


@dataclasses.dataclass(frozen=True)
class Sky:
    """Cloud state per second: opaque-cloud-free flag, thin cirrus flag, transmittance, description."""

    clear: np.ndarray
    cirrus: np.ndarray
    transmittance: np.ndarray
    source: str


def cloud_cover(
    geometry: xr.Dataset,
    zenith_deg: np.ndarray,
    step_s: float,
    cl: Clouds,
    rng: np.random.Generator,
    cloud_series=None,
    cloud_chain: tuple[int, float, float] | None = None,
) -> Sky:
    """Clouds in the line of sight: series, climatology or always clear; station chain or per-pass draw."""
    times = geometry.variables["time"].values
    n = times.shape[0]
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
    eta_cloud = (np.where(clear, 1.0, clouds.cloud_transmittance(cl.optical_depth, zenith_deg))
                 * np.where(cirrus, clouds.cloud_transmittance(cl.cirrus_optical_depth, zenith_deg), 1.0))
    return Sky(clear, cirrus, eta_cloud, cloud_source)


def implementation_loss_db(tx: Transmitter, zenith_deg: np.ndarray) -> np.ndarray:
    """Calibrated excess loss: constant + coefficient x (air mass - 1) (``calibration``)."""
    return tx.implementation_loss_db + tx.implementation_loss_airmass_db * (atm.kasten_young_airmass(zenith_deg) - 1.0)


def operating_seconds(geometry: xr.Dataset, bg) -> np.ndarray:
    """Seconds the link operates: always, or only with the Sun below ``night_sun_elevation_deg``."""
    sun_el = geometry.variables["sun_elevation"].values.astype(float)
    return np.ones(sun_el.shape[0], bool) if bg.operate_in_daylight else sun_el < bg.night_sun_elevation_deg


def fibre_mode_mismatch(rx: Receiver) -> float:
    """eta_0 of a single-mode-fibre receiver: a plane wave coherent over the aperture coupled
    into the fibre mode (Dikmelik & Davidson 2005); beta the receiver's, or the optimum."""
    a = rx.obscuration_m / rx.aperture_m
    beta = rx.fibre_coupling_beta if rx.fibre_coupling_beta is not None else fibre_coupling.optimal_beta(a)
    return float(fibre_coupling.coupling_no_turbulence(beta, a))


def background_fov_urad(wavelength_nm: float, rx: Receiver) -> float:
    """Full field of view of the background: the field stop ``fov_urad``, or for a single-mode
    fibre the one spatial mode it accepts, etendue lambda^2 (``fibre_coupling.single_mode_fov_urad``)."""
    if rx.coupling == "single-mode-fibre":
        return fibre_coupling.single_mode_fov_urad(wavelength_nm, rx.aperture_m, rx.obscuration_m,
                                                   rx.fibre_coupling_beta)
    return float(rx.fov_urad)


def receiver_noise(radiance: np.ndarray, wavelength_nm: float, rx: Receiver) -> tuple[np.ndarray, np.ndarray]:
    """Background counts/s per detector (sky + dark) and the noise probability per detection window."""
    sky_rate = bkg.background_rate_per_detector(
        radiance, wavelength_nm, background_fov_urad(wavelength_nm, rx), rx.aperture_m, rx.obscuration_m, rx.filter_bandwidth_nm,
        rx.optics_efficiency, rx.detector_efficiency, rx.n_detectors,
    )
    rate = sky_rate + rx.dark_count_rate_hz
    return rate, bkg.noise_probability(rate, rx.detection_window_ns)


def budget_variables(
    *,
    eta_geometric: np.ndarray,
    eta_pointing: np.ndarray,
    eta_atmosphere: np.ndarray,
    eta_turbulence: np.ndarray,
    sky: Sky,
    eta_receiver: float,
    implementation_db: np.ndarray,
    operating: np.ndarray,
    radiance: np.ndarray,
    background_rate: np.ndarray,
    noise_probability: np.ndarray,
    turbulence_long_name: str,
) -> dict[str, tuple]:
    """The loss terms, the total transmittance and the noise, as CF-labelled variables."""
    n = operating.shape[0]
    eta_impl = 10.0 ** (-implementation_db / 10.0)
    eta = (eta_geometric * eta_pointing * eta_atmosphere * eta_turbulence * sky.transmittance * eta_receiver
           * eta_impl)
    T = ("time",)
    return {
        "loss_geometric": (T, db(eta_geometric), cf_attrs(
            "dB", "geometric loss (transmit optics, truncation, beam collection)")),
        "loss_pointing": (T, db(eta_pointing), cf_attrs("dB", "mean pointing jitter and bias loss")),
        "loss_atmosphere": (T, db(eta_atmosphere), cf_attrs("dB", "clear-sky atmospheric extinction")),
        "loss_turbulence": (T, db(eta_turbulence), cf_attrs("dB", turbulence_long_name)),
        "loss_cloud": (T, db(sky.transmittance), cf_attrs("dB", "cloud extinction")),
        "loss_receiver": (T, np.full(n, float(db(np.array(eta_receiver)))), cf_attrs(
            "dB", "receiver optics and detector efficiency")),
        "loss_implementation": (T, np.broadcast_to(implementation_db + 0.0, (n,)).copy(), cf_attrs(
            "dB", "implementation loss: flight-measured deficit against the ideal budget")),
        "transmittance": (T, np.where(operating, eta, 0.0), cf_attrs(
            "1", "total link transmittance, detectors included (0 when not operating)")),
        "background_rate": (T, background_rate, cf_attrs("s-1", "background counts per detector (sky and dark)")),
        "sky_radiance": (T, np.asarray(radiance, float), cf_attrs(
            "W m-2 sr-1 nm-1", "background spectral radiance in the field of view")),
        "noise_probability": (T, noise_probability, cf_attrs(
            "1", "noise count probability per detector per detection window")),
        "cloud_clear": (T, sky.clear, cf_attrs("1", "line of sight free of opaque cloud")),
        "cirrus": (T, sky.cirrus, cf_attrs("1", "thin cirrus in the line of sight")),
        "operating": (T, operating, cf_attrs("1", "link operating (night, or daylight operation allowed)")),
    }


def fading_variables(
    rng: np.random.Generator,
    step_s: float,
    fading_slot_s: float,
    tau_c: np.ndarray,
    sigma2_lnx: np.ndarray,
    sigma2_lny: np.ndarray,
    log_normal: np.ndarray,
    tx: Transmitter,
    jitter_m: np.ndarray,
    bias_m: np.ndarray,
    beam_radius_m: np.ndarray,
) -> dict[str, tuple]:
    """Sub-second fading: scintillation (then pointing, if the tracking loop has a bandwidth) factors.

    Returns the output variables ``fading``, ``fading_correlation_time``,
    ``pointing_correlation_time`` and the ``subslot`` coordinate.
    """
    if not 0 < fading_slot_s <= step_s:
        raise InputError(f"fading_slot_s must be in (0, {step_s}] s, got {fading_slot_s}")
    n = tau_c.shape[0]
    n_sub = int(round(step_s / fading_slot_s))
    samples = (fading.sample_fading(rng, step_s / n_sub, n_sub, tau_c, sigma2_lnx, sigma2_lny, log_normal)
               if n else np.ones((0, n_sub)))
    # pointing fades: their own correlation time, the tracking loop's 1/(2 pi B)
    tau_p = (fading.tracking_correlation_time_s(tx.tracking_bandwidth_hz)
             if tx.tracking_bandwidth_hz is not None else None)
    if tau_p is not None and n and tx.pointing_jitter_urad > 0:
        samples = samples * fading.sample_pointing_fading(rng, step_s / n_sub, n_sub, tau_p, jitter_m, bias_m,
                                                          beam_radius_m)
    T = ("time",)
    return {
        "fading": (("time", "subslot"), samples, cf_attrs(
            "1", "scintillation and pointing fading factor on transmittance (mean 1)")),
        "fading_correlation_time": (T, tau_c, cf_attrs("s", "scintillation correlation time (Taylor frozen flow)")),
        "pointing_correlation_time": (T, np.full(n, tau_p if tau_p is not None else np.nan), cf_attrs(
            "s", "pointing fade correlation time, 1/(2 pi tracking bandwidth)")),
        "subslot": ("subslot", np.arange(n_sub) * step_s / n_sub,
                    cf_attrs("s", "start of the fading slot within the time step")),
    }


def assemble(geometry: xr.Dataset, out: dict[str, tuple], attrs: dict) -> xr.Dataset:
    """The geometry dataset plus the budget variables ``out`` (one merge) and ``attrs``."""
    subslot = out.pop("subslot", None)
    # no merge: the variables are aligned on the geometry's time axis (satqkd.datasets)
    ds = extend_dataset(geometry, out, {**geometry.attrs, **attrs})
    if subslot is not None:
        ds = ds.assign_coords(subslot=subslot)
        ds.attrs = {**geometry.attrs, **attrs}  # never alias the caller's attrs
    return ds


def common_attrs(params: LinkParameters, wavelength_nm: float, waist_m: float, truncation: float,
                 sky_model: ClearSky, sky: Sky, fading_slot_s: float | None, step_s: float) -> dict:
    """Dataset attributes naming the models and the key parameters, the same for both directions."""
    from satqkd.channel import beam

    tx, rx, turb, cl, bg = (params.transmitter, params.receiver, params.turbulence, params.clouds,
                            params.background)
    fibre = rx.coupling == "single-mode-fibre"
    return {
        "wavelength_nm": wavelength_nm,
        "transmit_aperture_m": tx.aperture_m,
        "beam_waist_m": waist_m,
        "beam_divergence_urad": float(beam.divergence_from_waist_urad(wavelength_nm, waist_m)),
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
        "background_fov_urad": background_fov_urad(wavelength_nm, rx),
        "ao_corrected_modes": int(rx.ao_corrected_modes) if fibre else 0,
        "ao_bandwidth_hz": float(rx.ao_bandwidth_hz) if fibre else 0.0,
        "filter_bandwidth_nm": rx.filter_bandwidth_nm,
        "zenith_transmittance": sky_model.zenith_transmittance,
        "atmosphere_model": sky_model.model,
        "turbulence_model": (f"Hufnagel-Valley A={turb.ground_cn2:g} m^-2/3 v={turb.rms_wind_m_s:g} m/s; "
                             f"with the Sun up (downlink): {turb.day_profile}; "
                             "Andrews-Phillips 2005 ch. 12" if turb.enabled else "none"),
        "cloud_model": (f"{sky.source}; Markov persistence {cl.persistence_s:g} s; tau_c {cl.optical_depth:g}; "
                        f"thin cirrus {cl.cirrus_probability:g} of the time, tau {cl.cirrus_optical_depth:g}"),
        "operate_in_daylight": int(bg.operate_in_daylight),
        "fading_slot_s": float(step_s / round(step_s / fading_slot_s)) if fading_slot_s else 0.0,
    }
