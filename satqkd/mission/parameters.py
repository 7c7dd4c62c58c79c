"""Map the validated mission file onto each stage's parameter dataclasses.

The stages never see the mission file: this module is the one place where its
sections become :mod:`satqkd.channel`, :mod:`satqkd.engine` and :mod:`satqkd.keys`
parameters. Which sections are the sending and the receiving end of a link is the
link's choice (:class:`Ends`, made by :mod:`satqkd.mission.links`); the atmosphere,
turbulence, clouds and sky are always the ground station's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from satqkd import config
from satqkd.channel.atmosphere import VISIBILITY_PRESETS
from satqkd.channel.params import (
    Atmosphere,
    Background,
    Clouds,
    LinkParameters,
    Receiver,
    Transmitter,
    Turbulence,
)
from satqkd.engine.params import DecoySource, Eavesdropper, probe_detector_response
from satqkd.engine.params import Receiver as EngineReceiver
from satqkd.keys.postprocess import KeyParameters


@dataclass(frozen=True)
class Ends:
    """The two ends of one link, as mission-file sections: who sends, who receives.

    ``dark_count_rate_hz`` is the receiving detectors' dark-count rate at the pass (in
    orbit it grows with radiation damage; on the ground it is the detector's own).
    """

    transmitter: config.Transmitter
    source: config.Source
    receiver_aperture_m: float
    receiver: config.ReceiverOptics
    detector: config.Detector
    dark_count_rate_hz: float

    @classmethod
    def downlink(cls, sat: config.Satellite, station: config.Station) -> "Ends":
        """Satellite transmitter and source; station telescope, optics and detectors."""
        return cls(sat.transmitter, sat.source, station.aperture_m, station.receiver,
                   station.detector, station.detector.dark_count_rate)


def link_parameters(
    cfg: config.MissionConfig, sat: config.Satellite, station: config.Station,
    ends: Ends | None = None,
) -> LinkParameters:
    """Channel parameters of one satellite-station link (a downlink unless ``ends`` say
    otherwise)."""
    ends = ends if ends is not None else Ends.downlink(sat, station)
    tx, det, rx = ends.transmitter, ends.detector, ends.receiver
    cl = station.clouds
    return LinkParameters(
        transmitter=Transmitter(
            wavelength_nm=tx.wavelength_nm, aperture_m=tx.aperture_m, obscuration_m=tx.obscuration_m,
            divergence_urad=tx.divergence_urad, waist_m=tx.waist_m,
            pointing_jitter_urad=tx.pointing_jitter_urad,
            pointing_bias_urad=tx.pointing_bias_urad, optics_efficiency=tx.optics_efficiency,
            tracking_bandwidth_hz=tx.tracking_bandwidth_hz,
            implementation_loss_db=tx.implementation_loss_db,
            implementation_loss_airmass_db=tx.implementation_loss_airmass_db,
            tip_tilt=tx.tip_tilt, tip_tilt_aperture_m=tx.tip_tilt_aperture_m,
            point_ahead=tx.point_ahead,
        ),
        receiver=Receiver(
            aperture_m=ends.receiver_aperture_m, obscuration_m=rx.obscuration_m,
            optics_efficiency=rx.optics_efficiency,
            detector_efficiency=sum(det.efficiencies) / 4.0, fov_urad=rx.fov_urad,
            filter_bandwidth_nm=rx.filter_bandwidth_nm, n_detectors=4,
            dark_count_rate_hz=ends.dark_count_rate_hz, detection_window_ns=det.detection_window_ns,
            coupling=rx.coupling, fibre_coupling_beta=rx.fibre_coupling_beta,
            ao_corrected_modes=rx.ao_corrected_modes, ao_bandwidth_hz=rx.ao_bandwidth_hz,
        ),
        atmosphere=Atmosphere(
            zenith_transmittance=station.atmosphere.zenith_transmittance,
            extinction_model=station.atmosphere.extinction_model,
            model_atmosphere=station.atmosphere.model_atmosphere,
            aerosol_model=station.atmosphere.aerosol_model,
            visibility_km=(station.atmosphere.visibility_km
                           if station.atmosphere.visibility_km is not None else
                           VISIBILITY_PRESETS.get(station.atmosphere.aerosol_preset or "")),
            aerosol_scale_height_m=station.atmosphere.aerosol_scale_height_m,
        ),
        turbulence=Turbulence(
            enabled=station.turbulence.enabled, ground_cn2=station.turbulence.ground_cn2,
            rms_wind_m_s=station.turbulence.rms_wind_m_s,
            heights_above_ground=station.turbulence.heights_above_ground,
            transverse_wind_m_s=station.turbulence.transverse_wind_m_s,
            day_profile=station.turbulence.day_profile,
            day_ground_cn2=station.turbulence.day_ground_cn2,
        ),
        clouds=Clouds(
            model={"csv": "series", "era5": "series"}.get(cl.model, cl.model),
            clear_probability=cl.clear_probability,
            monthly_clear_probability=(tuple(cl.monthly_clear_probability)
                                       if cl.monthly_clear_probability else None),
            persistence_s=cl.persistence_s, optical_depth=cl.optical_depth, chain=cl.chain,
            cirrus_probability=cl.cirrus_probability, cirrus_optical_depth=cl.cirrus_optical_depth,
        ),
        background=Background(
            operate_in_daylight=cfg.channel.operate_in_daylight,
            night_sun_elevation_deg=cfg.mission.night_sun_elevation_deg,
            night_sky_radiance=station.sky.night_sky_radiance,
            light_pollution_factor=station.sky.light_pollution_factor,
            earth_albedo=station.sky.earth_albedo,
            ground_light_radiance=station.sky.ground_light_radiance,
            city_light_nw_cm2_sr=station.sky.city_light_nw_cm2_sr,
        ),
    )


def decoy_source(sat: config.Satellite, ends: Ends | None = None) -> DecoySource:
    """The decoy-state source of the link's sending end (the satellite's by default)."""
    src = ends.source if ends is not None else sat.source
    return DecoySource(rate_hz=src.rate_hz, intensities=tuple(src.intensities),
                       probabilities=tuple(src.probabilities), p_z=src.p_z)


def engine_receiver(station: config.Station, ends: Ends | None = None) -> EngineReceiver:
    """Bob's analyser and detectors at the link's receiving end (the station's by default)."""
    det = ends.detector if ends is not None else station.detector
    rx = ends.receiver if ends is not None else station.receiver
    return EngineReceiver(
        detector_efficiency=det.efficiencies, q_z=rx.q_z,
        misalignment=rx.misalignment, dead_time_s=det.dead_time_ns * 1e-9,
        afterpulse_probability=det.afterpulse_probability,
        afterpulse_time_s=det.afterpulse_time_ns * 1e-9,
        basis_choice=rx.basis_choice,
    )


def eavesdropper(cfg: config.MissionConfig, sat: config.Satellite | None = None,
                 station: config.Station | None = None,
                 ends: Ends | None = None) -> Eavesdropper | None:
    """The attack of the mission on one link (the Trojan horse's isolation and Bob's
    detector response default to what the link's sending and receiving ends declare)."""
    e = cfg.eavesdropper
    if e.kind == "none":
        return None
    ends = ends if ends is not None else Ends.downlink(sat or cfg.satellites[0],
                                                      station or cfg.stations[0])
    declared = ends.source.isolation_db if e.target == "alice" else ends.receiver.isolation_db
    iso = e.isolation_db if e.isolation_db is not None else (declared or 0.0)
    det = ends.detector
    response = e.detector_response if e.detector_response is not None else probe_detector_response(
        det.material, e.probe_wavelength_nm, max(det.efficiencies))
    return Eavesdropper(kind=e.kind, fraction=e.fraction, basis_z_probability=e.basis_z_probability,
                        pns_bob_transmittance=e.pns_bob_transmittance, target=e.target,
                        probe_wavelength_nm=e.probe_wavelength_nm, probe_photons=e.probe_photons,
                        isolation_db=iso, reflectivity=e.reflectivity, detector_response=response)


def trojan_leak_delta(cfg: config.MissionConfig, sat: config.Satellite | None,
                      station: config.Station | None, ends: Ends | None = None) -> float:
    """Quantum-coin imbalance of the declared isolations (Lucamarini et al. 2015):
    mu_out = probe_max 10^(-isolation_db / 10) at each declared end (reflectivity <= 1),
    Delta = (1 - c_A c_B) / 2 with c = exp(-mu_out) cos(mu_out); 0 when nothing is declared.
    A passive basis choice leaks nothing, whatever its isolation. Alice's source and Bob's
    receiver are the link's ends (``ends``), else the satellite's and the station's."""
    c = 1.0
    n_max = cfg.keys.trojan_probe_photons_max
    source = ends.source if ends is not None else (sat.source if sat is not None else None)
    receiver = (ends.receiver if ends is not None else
                station.receiver if station is not None else None)
    declared = []
    if source is not None and source.isolation_db is not None:
        declared.append(source.isolation_db)
    if (receiver is not None and receiver.basis_choice == "active"
            and receiver.isolation_db is not None):
        declared.append(receiver.isolation_db)
    if not declared:
        return 0.0
    for iso in declared:
        mu = n_max * 10.0 ** (-iso / 10.0)
        c *= math.exp(-mu) * math.cos(mu)
    return 0.5 * (1.0 - c)


def key_parameters(cfg: config.MissionConfig, station: config.Station | None = None,
                   sat: config.Satellite | None = None, ends: Ends | None = None) -> KeyParameters:
    """Keys-stage parameters; with ``station``, its detectors decide the mismatch flag;
    with ``station`` and ``sat``, their declared isolations the Trojan-horse leak. With
    ``ends``, the link's receiving detectors and both ends' isolations do instead."""
    k = cfg.keys
    det = ends.detector if ends is not None else (station.detector if station is not None else None)
    rx = ends.receiver if ends is not None else (station.receiver if station is not None else None)
    return KeyParameters(eps_sec=k.eps_sec, eps_cor=k.eps_cor, tail_bound=k.tail_bound,
                         qber_threshold=k.qber_threshold, cascade_frame_bits=k.cascade_frame_bits,
                         cascade_passes=k.cascade_passes, keep_keys=k.write_keys,
                         error_correction=k.error_correction,
                         detector_mismatch=det is not None and det.mismatched,
                         leak_delta=trojan_leak_delta(cfg, sat, station, ends),
                         receiver_q_z=rx.q_z if rx is not None else 0.5)
