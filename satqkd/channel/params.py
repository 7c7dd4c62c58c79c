"""Parameters of the optical link, grouped by role.

Every parameter is a field of a frozen dataclass with a documented default, so a
``LinkParameters()`` runs as it is. Roles, not places: the ``Transmitter`` is on the
satellite for a downlink and on the ground for an uplink, and the ``Receiver`` the
other way round; ``link_budget(direction=...)`` says which end is on the ground.

Defaults follow the Micius decoy-BB84 downlink to Xinglong where a published value
exists (Liao et al., Nature 549, 43 (2017)); the others are stated assumptions,
listed in docs/link_budget.md. satqkd.mission.parameters maps the mission file onto them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from satqkd.errors import InputError


def _positive(name: str, value: float | None, allow_zero: bool = False) -> None:
    if value is None:
        return
    if not (value > 0 or (allow_zero and value == 0)):
        raise InputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise InputError(f"{name} must be in [0, 1], got {value}")


@dataclass(frozen=True)
class Transmitter:
    """The sending telescope.

    wavelength_nm: signal wavelength (Micius BB84 source: 848.62 nm).
    aperture_m: clear aperture diameter of the transmit telescope (Micius: 0.30 m).
    obscuration_m: diameter of the transmit telescope's central obscuration (0: none);
        with the aperture it truncates the Gaussian beam (Klein & Degnan 1974).
    divergence_urad: far-field full divergence angle at the 1/e^2 intensity radius
        (Micius: ~10 urad). Used when ``waist_m`` is None; the beam is then the ideal
        Gaussian with that divergence, waist w0 = lambda / (pi * theta_half).
    waist_m: 1/e^2 intensity radius of the Gaussian beam at the transmit aperture;
        if given it overrides ``divergence_urad`` (diffraction-limited beam).
    pointing_jitter_urad: rms pointing error per axis (sigma of each of two
        independent Gaussian axes; the radial error is Rayleigh distributed).
        1.2 urad is the value of the project's Micius mission file (not verified
        against a primary source; see docs/link_budget.md).
    pointing_bias_urad: constant boresight error (radial); 0 by default.
    tracking_bandwidth_hz: closed-loop bandwidth B of the fine tracking; the pointing
        jitter then fades the sub-second series with correlation time 1/(2 pi B)
        (``fading``); None: no pointing fades. 100 Hz (1.6 ms) is an ASSUMPTION: Micius's
        loop bandwidth is not published. The published bound: Micius's compound-axis ATP
        cut the platform's angular micro-vibration (energy below 30 Hz) from 9.3 to
        0.47 urad in orbit ("Angular micro-vibration of the Micius satellite measured by an
        optical sensor and the method for its suppression", 2021), a ~20-fold rejection
        below 30 Hz, so B lies well above 30 Hz. B sets only the correlation time of the
        fades, not the mean loss.
    optics_efficiency: transmittance of the optics after the point where the source
        mean photon number is defined (1.0: Micius intensities are quoted at the
        telescope output).
    implementation_loss_db: loss of the real link beyond this ideal budget (far-field
        wavefront error, tracking residuals, unmodelled optics), as measured in flight
        against the same budget; 0 (the ideal budget) by default. It is a calibration,
        not a model: docs/validation.md gives Micius's value and how it was measured.
    implementation_loss_airmass_db: elevation-dependent part of the calibrated excess
        loss, dB per unit of air mass beyond 1: loss = implementation_loss_db +
        implementation_loss_airmass_db (AM(z) - 1). Written by ``satqkd calibrate``; 0 by
        default.
    tip_tilt: uplink only (transmitter on the ground): a fast-steering mirror pre-compensates
        the turbulent tilt measured on the satellite's downlink beacon. The residual is the
        tilt anisoplanatism over the point-ahead angle (``satqkd.channel.uplink``) plus the
        loop's own error, ``pointing_jitter_urad``. False (default): the beam wanders freely.
    tip_tilt_aperture_m: diameter over which the beacon tilt is measured; None (default): the
        transmit aperture (a monostatic terminal).
    point_ahead: uplink only: the beam is launched 2 v/c ahead of the beacon direction, from
        the orbit (True, default: standard practice for uplink terminals); False: along the
        beacon, so the whole point-ahead angle becomes a pointing bias at the satellite.
    """

    wavelength_nm: float = 848.62
    aperture_m: float = 0.30
    obscuration_m: float = 0.0
    divergence_urad: float = 10.0
    waist_m: float | None = None
    pointing_jitter_urad: float = 1.2
    pointing_bias_urad: float = 0.0
    tracking_bandwidth_hz: float | None = 100.0
    optics_efficiency: float = 1.0
    implementation_loss_db: float = 0.0
    implementation_loss_airmass_db: float = 0.0
    tip_tilt: bool = False
    tip_tilt_aperture_m: float | None = None
    point_ahead: bool = True

    def __post_init__(self) -> None:
        _positive("transmitter.wavelength_nm", self.wavelength_nm)
        _positive("transmitter.implementation_loss_db", self.implementation_loss_db, True)
        if not -20.0 <= self.implementation_loss_airmass_db <= 60.0:
            raise InputError("transmitter.implementation_loss_airmass_db must be in [-20, 60] dB, "
                             f"got {self.implementation_loss_airmass_db}")
        _positive("transmitter.aperture_m", self.aperture_m)
        _positive("transmitter.obscuration_m", self.obscuration_m, True)
        if self.obscuration_m >= self.aperture_m:
            raise InputError(f"transmitter.obscuration_m ({self.obscuration_m}) must be < aperture_m "
                             f"({self.aperture_m})")
        _positive("transmitter.divergence_urad", self.divergence_urad)
        _positive("transmitter.waist_m", self.waist_m)
        _positive("transmitter.pointing_jitter_urad", self.pointing_jitter_urad, True)
        _positive("transmitter.pointing_bias_urad", self.pointing_bias_urad, True)
        _positive("transmitter.tracking_bandwidth_hz", self.tracking_bandwidth_hz)
        _fraction("transmitter.optics_efficiency", self.optics_efficiency)
        _positive("transmitter.tip_tilt_aperture_m", self.tip_tilt_aperture_m)


@dataclass(frozen=True)
class Receiver:
    """The receiving telescope and its detectors.

    aperture_m: primary mirror diameter (Xinglong QKD telescope: 1.0 m).
    obscuration_m: diameter of the central obscuration (secondary mirror); 0 = none.
    optics_efficiency: telescope + relay + polarisation analysis transmittance,
        excluding the detectors. 0.5 is an assumption (not published for Xinglong).
    detector_efficiency: single-photon detector efficiency (Micius/Xinglong: 0.5).
    fov_urad: full field of view on the sky (field stop / fibre core), used for the
        background solid angle and the seeing coupling. 100 urad: assumption.
    filter_bandwidth_nm: spectral filter FWHM in front of the detectors (assumption).
    n_detectors: detectors sharing the light (4 for a passive-basis BB84 receiver);
        unpolarised background splits equally over them.
    dark_count_rate_hz: dark counts per detector (counts/s); 25 as in the mission file.
    detection_window_ns: coincidence/detection gate per pulse, per detector.
    coupling: "free-space" (a field stop of ``fov_urad`` in front of free-space
        detectors: seeing loss at the stop) or "single-mode-fibre" (the light is coupled
        into a single-mode fibre: Dikmelik & Davidson 2005 coupling under turbulence,
        optionally with adaptive optics; the fibre mode, not ``fov_urad``, sets the
        background field of view). ``satqkd.channel.fibre_coupling``.
    fibre_coupling_beta: beta = pi D w_m / (2 lambda f), the aperture radius over the
        fibre mode radius projected onto the pupil; None = the optimum without turbulence
        for the obscuration (1.1209 unobscured, Dikmelik & Davidson 2005).
    ao_corrected_modes: Zernike modes beyond piston corrected by adaptive optics in front
        of the fibre (0: none; 2: tip-tilt only); residual from Noll (1976).
    ao_bandwidth_hz: closed-loop (-3 dB) bandwidth of the adaptive optics; the servo-lag
        error is (f_G / f_c)^(5/3) (Greenwood 1977). 500 Hz: assumption.
    """

    aperture_m: float = 1.0
    obscuration_m: float = 0.0
    optics_efficiency: float = 0.5
    detector_efficiency: float = 0.5
    fov_urad: float = 100.0
    filter_bandwidth_nm: float = 1.0
    n_detectors: int = 4
    dark_count_rate_hz: float = 25.0
    detection_window_ns: float = 2.0
    coupling: str = "free-space"
    fibre_coupling_beta: float | None = None
    ao_corrected_modes: int = 0
    ao_bandwidth_hz: float = 500.0

    def __post_init__(self) -> None:
        if self.coupling not in ("free-space", "single-mode-fibre"):
            raise InputError(f"receiver.coupling must be free-space or single-mode-fibre, got {self.coupling!r}")
        _positive("receiver.fibre_coupling_beta", self.fibre_coupling_beta)
        if int(self.ao_corrected_modes) < 0:
            raise InputError(f"receiver.ao_corrected_modes must be >= 0, got {self.ao_corrected_modes}")
        if self.ao_corrected_modes > 0 and self.coupling != "single-mode-fibre":
            raise InputError("receiver.ao_corrected_modes needs coupling = 'single-mode-fibre'")
        _positive("receiver.ao_bandwidth_hz", self.ao_bandwidth_hz)
        _positive("receiver.aperture_m", self.aperture_m)
        _positive("receiver.obscuration_m", self.obscuration_m, True)
        if self.obscuration_m >= self.aperture_m:
            raise InputError(
                f"receiver.obscuration_m ({self.obscuration_m}) must be < aperture_m ({self.aperture_m})"
            )
        _fraction("receiver.optics_efficiency", self.optics_efficiency)
        _fraction("receiver.detector_efficiency", self.detector_efficiency)
        _positive("receiver.fov_urad", self.fov_urad)
        _positive("receiver.filter_bandwidth_nm", self.filter_bandwidth_nm)
        if int(self.n_detectors) < 1:
            raise InputError(f"receiver.n_detectors must be >= 1, got {self.n_detectors}")
        _positive("receiver.dark_count_rate_hz", self.dark_count_rate_hz, True)
        _positive("receiver.detection_window_ns", self.detection_window_ns)


@dataclass(frozen=True)
class Atmosphere:
    """Clear-sky extinction.

    zenith_transmittance: user value of the clear-sky zenith transmittance at the
        station (overrides everything below); None = computed.
    extinction_model: "lowtran7" (default): slant-path transmittance from the LOWTRAN7
        tables (``satqkd.channel.lowtran``) for ``model_atmosphere``, ``aerosol_model``
        and ``visibility_km``; "kim": Kim et al. (2001) visibility law over an exponential
        aerosol layer plus Rayleigh, with the Kasten-Young air mass; "modtran_table": the
        MODTRAN sea-level values quoted by Bourgoin et al. (2013), altitude scaled.
    model_atmosphere: LOWTRAN7 model atmosphere ("tropical", "mid_latitude_summer",
        "mid_latitude_winter", "subarctic_summer", "subarctic_winter") or "auto" (from
        the station latitude and the month of the pass).
    aerosol_model: LOWTRAN7 aerosol model: "rural", "urban", "maritime", "desert".
    visibility_km: meteorological visibility of the aerosol model (LOWTRAN7, Kim); None =
        the model's default (23 km; urban 5 km). For "kim" without a visibility the
        MODTRAN table is used.
    aerosol_scale_height_m: e-folding height of the aerosol extinction.
    aerosol_asymmetry: Henyey-Greenstein asymmetry parameter g of the aerosol phase
        function (0.7, typical continental aerosol) for the sky-radiance model.
    aerosol_single_scattering_albedo: scattering / extinction of the aerosol (0.9).
    """

    zenith_transmittance: float | None = None
    extinction_model: str = "lowtran7"
    model_atmosphere: str = "auto"
    aerosol_model: str = "rural"
    visibility_km: float | None = None
    aerosol_scale_height_m: float = 1200.0
    aerosol_asymmetry: float = 0.7
    aerosol_single_scattering_albedo: float = 0.9

    def __post_init__(self) -> None:
        if self.zenith_transmittance is not None and not 0 < self.zenith_transmittance <= 1:
            raise InputError(
                f"atmosphere.zenith_transmittance must be in (0, 1], got {self.zenith_transmittance}"
            )
        _positive("atmosphere.visibility_km", self.visibility_km)
        if self.extinction_model not in ("lowtran7", "kim", "modtran_table"):
            raise InputError(f"atmosphere.extinction_model must be lowtran7, kim or modtran_table, "
                             f"got {self.extinction_model!r}")
        if self.model_atmosphere not in ("auto", "tropical", "mid_latitude_summer", "mid_latitude_winter",
                                         "subarctic_summer", "subarctic_winter"):
            raise InputError(f"atmosphere.model_atmosphere: unknown {self.model_atmosphere!r}")
        if self.aerosol_model not in ("rural", "urban", "maritime", "desert"):
            raise InputError(f"atmosphere.aerosol_model: unknown {self.aerosol_model!r}")
        _positive("atmosphere.aerosol_scale_height_m", self.aerosol_scale_height_m)
        if not -1 < self.aerosol_asymmetry < 1:
            raise InputError(f"atmosphere.aerosol_asymmetry must be in (-1, 1), got {self.aerosol_asymmetry}")
        _fraction("atmosphere.aerosol_single_scattering_albedo", self.aerosol_single_scattering_albedo)


@dataclass(frozen=True)
class Turbulence:
    """Optical turbulence: Hufnagel-Valley profile and fading options.

    ground_cn2: A of the HV profile, Cn2 at h = 0 (m^-2/3); HV5/7: 1.7e-14.
    rms_wind_m_s: v of the HV profile, rms high-altitude wind (m/s); HV5/7: 21.
    heights_above_ground: False (default): h in the HV formula is height above sea
        level and the path integrals start at the station altitude (Andrews &
        Phillips 2005, ch. 12), so a mountain site sheds most of the ground layer.
        True: the profile is shifted to start at the station.
    transverse_wind_m_s: wind across the line of sight near the turbulence; added in
        quadrature to the pseudo-wind of the slewing line of sight for the fading
        correlation time.
    weak_rytov_limit: Rytov variance below which fading is log-normal (weak
        fluctuations, sigma_R^2 < 1 in Andrews & Phillips); gamma-gamma above.
    enabled: False switches turbulence off (no fading, no spread, no seeing loss).
    profile: "hv" (Hufnagel-Valley with the values above) or "slc-day" (the SLC daytime
        model, heights above ground; ``turbulence.slc_day_cn2``).
    day_profile: the profile of a downlink while the Sun is above the horizon (solar
        heating of the ground strengthens the boundary layer): "slc-day" (default: the
        Submarine Laser Communication daytime model, Miller & Zieske 1976 as given by
        Andrews & Phillips 2005 sec. 12.2), "hv" (Hufnagel-Valley with ground value
        ``day_ground_cn2``) or "night" (the same profile day and night).
    day_ground_cn2: A of the daytime Hufnagel-Valley profile (m^-2/3) with
        ``day_profile = "hv"``; 1.7e-13, ten times HV5/7 (assumption).
    """

    ground_cn2: float = 1.7e-14
    rms_wind_m_s: float = 21.0
    heights_above_ground: bool = False
    transverse_wind_m_s: float = 5.0
    weak_rytov_limit: float = 1.0
    enabled: bool = True
    profile: str = "hv"
    day_profile: str = "slc-day"
    day_ground_cn2: float = 1.7e-13

    def __post_init__(self) -> None:
        if self.profile not in ("hv", "slc-day"):
            raise InputError(f"turbulence.profile must be hv or slc-day, got {self.profile!r}")
        if self.day_profile not in ("slc-day", "hv", "night"):
            raise InputError(f"turbulence.day_profile must be slc-day, hv or night, got {self.day_profile!r}")
        _positive("turbulence.day_ground_cn2", self.day_ground_cn2, True)
        _positive("turbulence.ground_cn2", self.ground_cn2, True)
        _positive("turbulence.rms_wind_m_s", self.rms_wind_m_s, True)
        _positive("turbulence.transverse_wind_m_s", self.transverse_wind_m_s, True)
        _positive("turbulence.weak_rytov_limit", self.weak_rytov_limit)


@dataclass(frozen=True)
class Clouds:
    """Cloud cover model.

    model: "climatology" (monthly clear-sky probability of the station from
        ``clouds.CLEAR_SKY_CLIMATOLOGY`` or ``clear_probability``, two-state Markov
        chain), "clear" (never cloudy), or "series" (a user cloud-fraction series
        passed to ``link_budget(cloud_series=...)``).
    clear_probability: user clear-sky probability (overrides the climatology).
    monthly_clear_probability: 12 user values Jan..Dec (overrides the climatology).
    persistence_s: correlation time of the clear/cloudy state (s): the chain
        forgets its state as exp(-t / persistence_s). 7 h by default: the integral time
        scale of the cloud-presence indicator of the ITU-R P.1853-1 (2012) cloud time-series
        model (Annex 1: a Gaussian process from two low-pass filters, 1/beta = 23 min and
        13.8 h, weights 0.349 and 0.830, thresholded for cloud presence), 7.3 h at a clear
        probability of 0.5 and 6.9 h at 0.3 or 0.7; station observations span 5-40 h
        (cloud-cover half-lives, Jones, J. Appl. Meteorol. 31, 732 (1992)). Set the site's
        own value, or an ERA5 series, for a site study.
    optical_depth: vertical optical depth of a cloud (10: mid-range of the ISCCP
        "medium" class 3.6-23, Rossow & Schiffer 1999); T = exp(-tau * airmass).
    chain: "station": one persistent chain per station over the mission (needs
        ``link_budget(cloud_chain=...)``; see ``clouds``); "pass": drawn afresh per pass.
    cirrus_probability: fraction of the time with thin cirrus in the line of sight
        (0 by default: no cirrus).
    cirrus_optical_depth: vertical optical depth of the thin cirrus (0.1; thin cirrus
        0.03-0.3, Sassen & Cho 1992).
    """

    model: str = "climatology"
    clear_probability: float | None = None
    monthly_clear_probability: tuple[float, ...] | None = None
    persistence_s: float = 25200.0
    optical_depth: float = 10.0
    chain: str = "station"
    cirrus_probability: float = 0.0
    cirrus_optical_depth: float = 0.1

    def __post_init__(self) -> None:
        if self.model not in ("climatology", "clear", "series"):
            raise InputError(f"clouds.model must be climatology, clear or series, got {self.model!r}")
        if self.clear_probability is not None:
            _fraction("clouds.clear_probability", self.clear_probability)
        if self.monthly_clear_probability is not None:
            if len(self.monthly_clear_probability) != 12:
                raise InputError("clouds.monthly_clear_probability needs 12 values (Jan..Dec)")
            for v in self.monthly_clear_probability:
                _fraction("clouds.monthly_clear_probability", v)
        _positive("clouds.persistence_s", self.persistence_s)
        _positive("clouds.optical_depth", self.optical_depth, True)
        if self.chain not in ("station", "pass"):
            raise InputError(f"clouds.chain must be station or pass, got {self.chain!r}")
        _fraction("clouds.cirrus_probability", self.cirrus_probability)
        _positive("clouds.cirrus_optical_depth", self.cirrus_optical_depth, True)


@dataclass(frozen=True)
class Background:
    """Background light and operating hours.

    operate_in_daylight: False: seconds with the Sun above ``night_sun_elevation_deg``
        get transmittance 0 (marked in ``operating``).
    night_sun_elevation_deg: Sun elevation below which the link operates when
        ``operate_in_daylight`` is False (-12 deg: nautical twilight, as ``night``).
    night_sky_radiance: moonless night-sky spectral radiance (W m^-2 sr^-1 nm^-1);
        None = from the dark-site sky brightness table times ``light_pollution_factor``.
    light_pollution_factor: multiplies the dark-site night sky (1 = dark site).
    twilight_mag_per_deg: decline of the twilight sky brightness per degree of solar
        depression (about 1 mag/deg, Patat et al. 2006, A&A 455, 385).
    earth_albedo: Lambertian albedo of the ground seen by an uplink receiver.
    ground_light_radiance: artificial night light of the ground seen from space by an
        uplink receiver (W m^-2 sr^-1 nm^-1), as a satellite looking straight down measures
        it; 0 by default.
    include_moon: add moonlight scattered by the sky (or reflected by the ground).
    city_light_nw_cm2_sr: the station's value on a VIIRS Day/Night Band night-light map
        (nW cm^-2 sr^-1, e.g. the annual VIIRS composite pixel); when given it replaces
        ``ground_light_radiance``, converted over the band's 500-900 nm assuming a flat
        spectrum (``satqkd.channel.uplink.viirs_dnb_spectral_radiance``). None by default.
    """

    operate_in_daylight: bool = False
    night_sun_elevation_deg: float = -12.0
    night_sky_radiance: float | None = None
    light_pollution_factor: float = 1.0
    twilight_mag_per_deg: float = 1.0
    earth_albedo: float = 0.3
    ground_light_radiance: float = 0.0
    include_moon: bool = True
    city_light_nw_cm2_sr: float | None = None

    def __post_init__(self) -> None:
        _positive("background.night_sky_radiance", self.night_sky_radiance, True)
        _positive("background.light_pollution_factor", self.light_pollution_factor, True)
        _positive("background.twilight_mag_per_deg", self.twilight_mag_per_deg)
        _fraction("background.earth_albedo", self.earth_albedo)
        _positive("background.ground_light_radiance", self.ground_light_radiance, True)
        _positive("background.city_light_nw_cm2_sr", self.city_light_nw_cm2_sr, True)


@dataclass(frozen=True)
class LinkParameters:
    """Everything the link budget needs besides the geometry."""

    transmitter: Transmitter = field(default_factory=Transmitter)
    receiver: Receiver = field(default_factory=Receiver)
    atmosphere: Atmosphere = field(default_factory=Atmosphere)
    turbulence: Turbulence = field(default_factory=Turbulence)
    clouds: Clouds = field(default_factory=Clouds)
    background: Background = field(default_factory=Background)
