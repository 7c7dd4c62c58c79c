"""The mission file: TOML -> validated pydantic models.

This is the only module that parses user input. Every model forbids unknown keys;
every bad value is reported as one line naming the file, the field and what is
allowed (:class:`satqkd.errors.InputError`), which the CLI prints before exiting
with status 2. The public contract is DESIGN.md section 4; every key beyond it has a
documented default, listed in the README's mission-file reference.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import tomllib
import typing
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from satqkd import errors
from satqkd.errors import InputError
from satqkd.resources import REPO_ROOT, data_path

#: The station catalogue shipped with satqkd (package data, or the source tree's copy).
DEFAULT_CATALOGUE = (data_path("missions/stations.toml")
                     or REPO_ROOT / "missions" / "stations.toml")


class Section(BaseModel):
    # strict: a TOML value of the wrong type (true for a number, "7" for an integer, "yes"
    # for a boolean) is an error, never coerced; an integer is still a valid float
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _plain_name(value: str) -> str:
    """Names are data (files are named by satqkd.paths.slug), but must print on one line."""
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in value):
        raise ValueError("control characters are not allowed in a name")
    if not value.strip():
        raise ValueError("a name cannot be blank")
    return value


#: A station, satellite or city name (or a reference to one): 1..200 printable characters.
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_plain_name)]


def _utc(value: datetime) -> datetime:
    # A TOML local date-time (no offset) is read as UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(
        timezone.utc
    )


#: What the Sun and Moon positions cover (JPL DE421, with a margin for its ends).
EPHEMERIS_SPAN = (datetime(1900, 1, 1, tzinfo=timezone.utc),
                  datetime(2053, 10, 1, tzinfo=timezone.utc))
#: Longest mission period, days (three years).
MAX_SPAN_DAYS = 1096
#: Shortest geometry step, seconds.
MIN_STEP_S = 0.01
#: Largest mean photon number of a decoy intensity (a Poisson source beyond it carries
#: no single-photon key: the decoy bounds vanish well before).
MAX_MEAN_PHOTONS = 10.0
#: Fastest source pulse rate, Hz (QKD sources run at up to a few GHz).
MAX_RATE_HZ = 1.0e10
#: Brightest pair source, pairs per second (SPDC sources give at most ~1e9).
MAX_PAIR_RATE_HZ = 1.0e9
#: Largest dark-count probability per detection window (rate x window).
MAX_DARK_PROBABILITY = 0.1
#: Largest afterpulse probability: each click breeds p / (1 - p) afterpulses on average.
MAX_AFTERPULSE_PROBABILITY = 0.5
#: Shortest fading slot, ms (scintillation and pointing fades last milliseconds).
MIN_FADING_SLOT_MS = 0.1


class MissionSection(Section):
    """``[mission]``: name, period, time step, seed, elevation mask and protocol."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=120)
    start: datetime
    end: datetime
    step_s: float = Field(1.0, gt=0.0, le=60.0)
    seed: int = Field(0, ge=0)
    min_elevation_deg: float = Field(10.0, ge=0.0, lt=90.0)
    protocol: Literal["decoy-bb84", "bbm92", "e91"] = "decoy-bb84"
    # who sends: the satellite ("downlink") or the ground station ("uplink"); satqkd/mission/links.py
    direction: Literal["downlink", "uplink"] = "downlink"
    night_sun_elevation_deg: float = Field(-12.0, ge=-90.0, le=0.0)
    # "bits": photon-level events, real error correction and privacy amplification;
    # "counts": per-slot tallies from the engine's exact law, key length from the counts
    # with the code's measured leakage curve, no key material (satqkd/mission/fidelity.py).
    fidelity: Literal["bits", "counts"] = "bits"

    _utc_start = field_validator("start", "end")(lambda v: _utc(v))

    @field_validator("step_s")
    @classmethod
    def _step(cls, v: float) -> float:
        if 0.0 < v < MIN_STEP_S:
            raise ValueError(f"step_s {v:g} s is below {MIN_STEP_S:g} s: the pass geometry "
                             "changes by micro-degrees in that time, and the per-step arrays "
                             "would not fit in memory (sub-second fading: "
                             "channel.fading_slot_ms)")
        return v

    @model_validator(mode="after")
    def _period(self) -> "MissionSection":
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end:%Y-%m-%dT%H:%M:%SZ}) must be after start "
                f"({self.start:%Y-%m-%dT%H:%M:%SZ})"
            )
        lo, hi = EPHEMERIS_SPAN
        if self.start < lo or self.end > hi:
            raise ValueError(f"the period {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d} leaves "
                             f"the planetary ephemeris (JPL DE421: {lo:%Y-%m-%d}..{hi:%Y-%m-%d})")
        days = (self.end - self.start).total_seconds() / 86400.0
        if days > MAX_SPAN_DAYS:
            raise ValueError(f"the period is {days:.0f} days; at most {MAX_SPAN_DAYS} (element "
                             "sets do not predict an orbit that long, and the run would not "
                             "fit in memory): split the mission into shorter ones")
        return self


class Transmitter(Section):
    """``[satellites.transmitter]``: defaults are the Micius downlink (Liao et al. 2017)."""

    wavelength_nm: float = Field(848.62, ge=300.0, le=2500.0)
    aperture_m: float = Field(0.30, gt=0.0, le=5.0)
    obscuration_m: float = Field(0.0, ge=0.0, le=5.0)  # central obscuration: truncates the beam
    divergence_urad: float = Field(10.0, gt=0.0, le=10000.0)
    pointing_jitter_urad: float = Field(1.2, ge=0.0, le=1000.0)
    waist_m: float | None = Field(None, gt=0.0, le=5.0)
    pointing_bias_urad: float = Field(0.0, ge=0.0, le=1000.0)
    # fine-tracking loop bandwidth: pointing fades with correlation time 1/(2 pi B) (fading
    # slots); 100 Hz is an assumption (Micius: unpublished, above 30 Hz; docs/link_budget.md)
    tracking_bandwidth_hz: float | None = Field(100.0, gt=0.0, le=1.0e5)
    optics_efficiency: float = Field(1.0, gt=0.0, le=1.0)
    implementation_loss_db: float = Field(0.0, ge=0.0, le=60.0)
    # calibrated excess loss per unit air mass beyond 1 (satqkd calibrate); dB
    implementation_loss_airmass_db: float = Field(0.0, ge=-20.0, le=60.0)
    # ground transmitter of an uplink only ([stations.transmitter]; satqkd.channel.uplink):
    # beacon-based tip-tilt pre-compensation, its sensing aperture (None: the transmit
    # aperture), and launching the beam 2 v/c ahead of the beacon (point ahead)
    tip_tilt: bool = False
    tip_tilt_aperture_m: float | None = Field(None, gt=0.0, le=5.0)
    point_ahead: bool = True

    @model_validator(mode="after")
    def _obscuration(self) -> "Transmitter":
        if self.obscuration_m >= self.aperture_m:
            raise ValueError(f"obscuration_m ({self.obscuration_m}) must be smaller than aperture_m "
                             f"({self.aperture_m})")
        return self


class Source(Section):
    """``[satellites.source]``: decoy-state source, defaults from Liao et al. 2017."""

    rate_hz: float = Field(1.0e8, gt=0.0, le=1.0e11)
    intensities: list[Annotated[float, Field(ge=0.0, le=100.0)]] = Field(
        default_factory=lambda: [0.8, 0.1, 0.0], min_length=1, max_length=8
    )
    probabilities: list[Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=lambda: [0.5, 0.25, 0.25], min_length=1, max_length=8
    )
    p_z: float = Field(0.5, gt=0.0, lt=1.0)
    # Declared Trojan-horse isolation of the source (round trip, dB, every wavelength);
    # the finite key then charges the Lucamarini et al. (2015) leak. None: none declared.
    isolation_db: float | None = Field(None, ge=0.0, le=300.0)

    @model_validator(mode="after")
    def _physics(self) -> "Source":
        if self.rate_hz > MAX_RATE_HZ:
            raise ValueError(f"rate_hz {self.rate_hz:g} exceeds {MAX_RATE_HZ:g} Hz: no QKD "
                             "source pulses faster than a few GHz")
        for mu in self.intensities:
            if mu > MAX_MEAN_PHOTONS:
                raise ValueError(f"intensity {mu:g} exceeds {MAX_MEAN_PHOTONS:g} photons per "
                                 "pulse: a Poisson source that bright carries no single-photon key")
        if len(self.intensities) == 3 and len(self.probabilities) == 3:
            m1, m2, m3 = sorted(self.intensities, reverse=True)
            if not (m3 >= 0.0 and m2 > m3 and m1 > m2 + m3):
                raise ValueError(f"intensities {list(self.intensities)}: the decoy bounds of "
                                 "Lim et al. (2014) need mu1 > mu2 + mu3 and mu2 > mu3 >= 0")
            if min(self.probabilities) <= 0.0:
                raise ValueError(f"probabilities {list(self.probabilities)}: every intensity "
                                 "needs a probability > 0 (Lim et al. 2014 estimate from all three)")
        return self

    @model_validator(mode="after")
    def _probabilities(self) -> "Source":
        if len(self.probabilities) != len(self.intensities):
            raise ValueError(
                f"probabilities has {len(self.probabilities)} entries, intensities "
                f"{len(self.intensities)}; one probability per intensity is required"
            )
        total = math.fsum(self.probabilities)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"probabilities sum to {total:.6g}; they must sum to 1")
        return self


class PairSourceSection(Section):
    """``[satellites.pair_source]``: SPDC entangled-pair source (protocols bbm92, e91).

    Defaults: the Micius source of Yin et al., Science 356, 1140 (2017).
    """

    pair_rate_hz: float = Field(5.9e6, gt=0.0, le=1.0e10)
    visibility: float = Field(0.91, ge=0.0, le=1.0)
    visibility_diagonal: float | None = Field(0.94, ge=0.0, le=1.0)
    bell_state: Literal["phi+", "phi-", "psi+", "psi-"] = "phi+"
    filter_bandwidth_nm: float = Field(3.0, gt=0.0, le=100.0)

    @field_validator("pair_rate_hz")
    @classmethod
    def _pair_rate(cls, v: float) -> float:
        if v > MAX_PAIR_RATE_HZ:
            raise ValueError(f"pair_rate_hz {v:g} exceeds {MAX_PAIR_RATE_HZ:g}: no entangled-"
                             "pair source is that bright (multi-pair emission would swamp it)")
        return v


class Orbit(Section):
    """``[satellites.orbit]``: a hypothetical satellite by its elements.

    Circular orbit at ``altitude_km``; ``inclination_deg`` in degrees or
    ``"sun-synchronous"`` (then ``ltan_h``, the local time of the ascending node, sets
    the node unless ``raan_deg`` is given). ``walker = "i:t/p/f"`` or ``"t/p/f"``
    expands the entry into a Walker-delta constellation of t satellites.
    """

    altitude_km: float = Field(ge=150.0, le=40000.0)
    inclination_deg: float | Literal["sun-synchronous"] = "sun-synchronous"
    ltan_h: float | None = Field(None, ge=0.0, lt=24.0)
    raan_deg: float | None = Field(None, ge=0.0, lt=360.0)
    phase_deg: float = Field(0.0, ge=0.0, lt=360.0)
    epoch: datetime
    bstar: float = Field(0.0, ge=0.0, le=1.0)
    walker: str | None = Field(None, pattern=r"^\s*([0-9.]+\s*:)?\s*\d+\s*/\s*\d+\s*/\s*\d+\s*$")

    _utc_epoch = field_validator("epoch")(lambda v: _utc(v))

    @field_validator("inclination_deg")
    @classmethod
    def _inclination(cls, v: float | str) -> float | str:
        if isinstance(v, float) and not 0.0 <= v <= 180.0:
            raise ValueError(f"inclination {v} deg is outside 0..180 deg")
        return v

    @model_validator(mode="after")
    def _node(self) -> "Orbit":
        if self.raan_deg is None and self.ltan_h is None:
            raise ValueError("give raan_deg (0..360) or ltan_h (0..24) to place the orbital plane")
        if self.walker is not None:
            from satqkd.orbit.elements import parse_walker

            try:
                incl, total, _, _ = parse_walker(self.walker)
            except ValueError as exc:
                raise ValueError(str(exc)) from None
            if total > 999:
                raise ValueError(f"Walker total {total} exceeds 999 satellites per entry")
            if incl is not None and not 0.0 <= incl <= 180.0:
                raise ValueError(f"Walker inclination {incl} deg is outside 0..180 deg")
        return self


class Satellite(Section):
    """``[[satellites]]``: a satellite from a TLE/OMM file or from orbital elements."""

    name: Name
    tle: str | None = None
    norad_id: int | None = Field(None, ge=1, le=999999999)
    orbit: Orbit | None = None
    transmitter: Transmitter = Field(default_factory=Transmitter)
    source: Source = Field(default_factory=Source)
    pair_source: PairSourceSection = Field(default_factory=PairSourceSection)
    # the receiving end of an uplink ([mission] direction = "uplink")
    receiver: "SatelliteReceiver" = Field(default_factory=lambda: SatelliteReceiver())
    detector: "SatelliteDetector" = Field(default_factory=lambda: SatelliteDetector())

    @model_validator(mode="after")
    def _one_orbit(self) -> "Satellite":
        if (self.tle is None) == (self.orbit is None):
            raise ValueError("give exactly one of tle (a TLE/OMM file) or an [orbit] table")
        return self


class Detector(Section):
    """``[stations.detector]``: the four single-photon detectors (Z0, Z1, X0, X1)."""

    efficiency: float | list[Annotated[float, Field(gt=0.0, le=1.0)]] = 0.5
    dark_count_rate: float = Field(25.0, ge=0.0, le=1.0e7)
    detection_window_ns: float = Field(2.0, gt=0.0, le=1.0e4)
    dead_time_ns: float = Field(0.0, ge=0.0, le=1.0e6)
    afterpulse_probability: float = Field(0.0, ge=0.0, le=1.0)
    afterpulse_time_ns: float = Field(100.0, gt=0.0, le=1.0e6)
    # Unequal efficiencies break the basis-independent detection that Lim et al. (2014)
    # assume: "refuse" certifies no key; "equalise" attenuates every detector to the
    # weakest one, as real receivers do.
    mismatch: Literal["refuse", "equalise"] = "refuse"
    # what the detectors absorb (response to a Trojan-horse probe beyond the signal band)
    material: Literal["silicon", "ingaas"] = "silicon"

    @model_validator(mode="after")
    def _noise(self) -> "Detector":
        p_dark = self.dark_count_rate * self.detection_window_ns * 1e-9
        if p_dark > MAX_DARK_PROBABILITY:
            raise ValueError(f"dark_count_rate x detection_window_ns gives a dark-count "
                             f"probability of {p_dark:.3g} per window, above "
                             f"{MAX_DARK_PROBABILITY:g}: the detectors would click on noise, "
                             "not photons (lower the rate or the window)")
        if self.afterpulse_probability > MAX_AFTERPULSE_PROBABILITY:
            raise ValueError(f"afterpulse_probability {self.afterpulse_probability:g} exceeds "
                             f"{MAX_AFTERPULSE_PROBABILITY:g}: each click would breed a cascade "
                             "of afterpulses (p / (1 - p) on average, unbounded at 1)")
        return self

    @field_validator("efficiency")
    @classmethod
    def _efficiency(cls, v: float | list[float]) -> float | list[float]:
        if isinstance(v, list) and len(v) != 4:
            raise ValueError(f"give one efficiency or four (Z0, Z1, X0, X1), got {len(v)}")
        if isinstance(v, float) and not 0.0 < v <= 1.0:
            raise ValueError(f"efficiency {v} is outside 0 < efficiency <= 1")
        return v

    @property
    def efficiencies(self) -> tuple[float, float, float, float]:
        """The four efficiencies the receiver runs with (equalised to the weakest if asked)."""
        e = self.efficiency
        if isinstance(e, float):
            return (e, e, e, e)
        if self.mismatch == "equalise":
            return (min(e),) * 4  # type: ignore[return-value]
        return tuple(e)  # type: ignore[return-value]

    @property
    def mismatched(self) -> bool:
        """The detectors' efficiencies differ (after equalisation, if asked)."""
        return len(set(self.efficiencies)) > 1


class ReceiverOptics(Section):
    """``[stations.receiver]``: telescope and analyser besides the aperture."""

    obscuration_m: float = Field(0.0, ge=0.0, le=50.0)
    optics_efficiency: float = Field(0.5, gt=0.0, le=1.0)
    fov_urad: float = Field(100.0, gt=0.0, le=1.0e5)
    filter_bandwidth_nm: float = Field(1.0, gt=0.0, le=1000.0)
    q_z: float = Field(0.5, gt=0.0, lt=1.0)
    misalignment: float = Field(0.01, ge=0.0, le=0.5)
    # passive beam splitter (leaks no basis) or an active modulator (probe-able)
    basis_choice: Literal["passive", "active"] = "passive"
    # declared Trojan-horse isolation of an active basis choice (round trip, dB)
    isolation_db: float | None = Field(None, ge=0.0, le=300.0)
    # "single-mode-fibre": the light is coupled into a single-mode fibre (Dikmelik &
    # Davidson 2005), whose mode sets the background field of view (fov_urad is unused)
    coupling: Literal["free-space", "single-mode-fibre"] = "free-space"
    # aperture radius / fibre mode radius projected onto the pupil; None: the optimum
    # without turbulence (1.1209 unobscured)
    fibre_coupling_beta: float | None = Field(None, gt=0.0, le=5.0)
    # adaptive optics: Zernike modes corrected beyond piston (2 = tip-tilt; Noll 1976) and
    # the closed-loop bandwidth (servo lag against the Greenwood frequency; 500 Hz assumed)
    ao_corrected_modes: int = Field(0, ge=0, le=5000)
    ao_bandwidth_hz: float = Field(500.0, gt=0.0, le=1.0e5)

    @model_validator(mode="after")
    def _fibre_keys(self) -> "ReceiverOptics":
        if self.coupling != "single-mode-fibre" and self.ao_corrected_modes > 0:
            raise ValueError(f"ao_corrected_modes = {self.ao_corrected_modes} needs coupling = "
                             '"single-mode-fibre" (adaptive optics is modelled for fibre '
                             "receivers; a free-space receiver has the field stop fov_urad)")
        return self


class AtmosphereSection(Section):
    """``[stations.atmosphere]``: clear-sky extinction (default: LOWTRAN7 tables)."""

    zenith_transmittance: float | None = Field(None, gt=0.0, le=1.0)
    extinction_model: Literal["lowtran7", "kim", "modtran_table"] = "lowtran7"
    # LOWTRAN7 model atmosphere; "auto": from the station latitude and the month of the pass
    model_atmosphere: Literal["auto", "tropical", "mid_latitude_summer", "mid_latitude_winter",
                              "subarctic_summer", "subarctic_winter"] = "auto"
    aerosol_model: Literal["rural", "urban", "maritime", "desert"] = "rural"
    visibility_km: float | None = Field(None, gt=0.0, le=1000.0)
    # a named visibility (satqkd.channel.atmosphere.VISIBILITY_PRESETS); visibility_km wins
    aerosol_preset: Literal["desert_high_altitude", "clear", "rural", "hazy", "urban"] | None = None
    aerosol_scale_height_m: float = Field(1200.0, gt=0.0, le=20000.0)


class TurbulenceSection(Section):
    """``[stations.turbulence]``: Hufnagel-Valley profile (default HV5/7)."""

    enabled: bool = True
    ground_cn2: float = Field(1.7e-14, ge=0.0, le=1.0e-10)
    rms_wind_m_s: float = Field(21.0, ge=0.0, le=200.0)
    heights_above_ground: bool = False
    transverse_wind_m_s: float = Field(5.0, ge=0.0, le=200.0)
    # the downlink profile while the Sun is up: the SLC daytime model (Miller & Zieske
    # 1976), Hufnagel-Valley with a daytime ground value, or the night profile
    day_profile: Literal["slc-day", "hv", "night"] = "slc-day"
    day_ground_cn2: float = Field(1.7e-13, ge=0.0, le=1.0e-10)  # A of day_profile = "hv"


class CloudsSection(Section):
    """``[stations.clouds]``: climatology (Markov), clear sky, or a weather file."""

    model: Literal["climatology", "clear", "csv", "era5"] = "climatology"
    clear_probability: float | None = Field(None, ge=0.0, le=1.0)
    monthly_clear_probability: list[Annotated[float, Field(ge=0.0, le=1.0)]] | None = Field(
        None, min_length=12, max_length=12)
    # e-folding time of the clear/cloudy state: 7 h, the ITU-R P.1853-1 cloud model's
    # integral time scale (docs/link_budget.md, Clouds)
    persistence_s: float = Field(25200.0, gt=0.0, le=1.0e7)
    optical_depth: float = Field(10.0, ge=0.0, le=1000.0)
    # one persistent chain per station over the mission, or drawn afresh per pass
    chain: Literal["station", "pass"] = "station"
    cirrus_probability: float = Field(0.0, ge=0.0, le=1.0)  # thin cirrus: fraction of the time
    cirrus_optical_depth: float = Field(0.1, ge=0.0, le=3.0)
    file: str | None = None

    @model_validator(mode="after")
    def _file(self) -> "CloudsSection":
        if self.model in ("csv", "era5") and self.file is None:
            raise ValueError(f"model = {self.model!r} needs file = \"path\"")
        return self


class SkySection(Section):
    """``[stations.sky]``: night-sky brightness at the site."""

    light_pollution_factor: float = Field(1.0, ge=0.0, le=1.0e4)
    night_sky_radiance: float | None = Field(None, ge=0.0, le=1.0)
    # seen from orbit by an uplink receiver: Lambertian albedo of the ground around the
    # station, and its artificial night light (W m^-2 sr^-1 nm^-1)
    earth_albedo: float = Field(0.3, ge=0.0, le=1.0)
    ground_light_radiance: float = Field(0.0, ge=0.0, le=1.0)
    # or the station's pixel of a VIIRS Day/Night Band night-light map (nW cm^-2 sr^-1),
    # which then replaces ground_light_radiance (satqkd.channel.uplink.night_sky_from_orbit)
    city_light_nw_cm2_sr: float | None = Field(None, ge=0.0, le=1.0e5)


class Station(Section):
    """``[[stations]]``: position and telescope, or only ``name`` from the catalogue."""

    name: Name
    lat_deg: float = Field(ge=-90.0, le=90.0)
    lon_deg: float = Field(ge=-180.0, le=360.0)
    alt_m: float = Field(ge=-500.0, le=9000.0)
    aperture_m: float = Field(gt=0.0, le=50.0)
    detector: Detector = Field(default_factory=Detector)
    receiver: ReceiverOptics = Field(default_factory=ReceiverOptics)
    atmosphere: AtmosphereSection = Field(default_factory=AtmosphereSection)
    turbulence: TurbulenceSection = Field(default_factory=TurbulenceSection)
    clouds: CloudsSection = Field(default_factory=CloudsSection)
    sky: SkySection = Field(default_factory=SkySection)
    # the sending end of an uplink ([mission] direction = "uplink")
    transmitter: Transmitter = Field(default_factory=Transmitter)
    source: Source = Field(default_factory=Source)

    @model_validator(mode="after")
    def _obscuration(self) -> "Station":
        if self.receiver.obscuration_m >= self.aperture_m:
            raise ValueError(f"receiver.obscuration_m ({self.receiver.obscuration_m}) must be "
                             f"smaller than aperture_m ({self.aperture_m})")
        return self


# ------------------------------------------------------------- the satellite as receiver
#: Dark-count growth of a satellite's detectors from radiation damage, counts/s per day:
#: measured in orbit on Micius's shielded, cooled silicon APDs over 1029 days (Yang et
#: al., Opt. Express 27, 36114 (2019)).
DARK_COUNT_GROWTH_HZ_PER_DAY = 0.54


class SatelliteReceiver(ReceiverOptics):
    """``[satellites.receiver]``: the satellite's telescope and analyser (uplinks): the
    keys of ``[stations.receiver]`` plus the aperture (default 0.30 m: a Micius-class
    telescope, Liao et al. 2017)."""

    aperture_m: float = Field(0.30, gt=0.0, le=5.0)

    @model_validator(mode="after")
    def _obscuration(self) -> "SatelliteReceiver":
        if self.obscuration_m >= self.aperture_m:
            raise ValueError(f"obscuration_m ({self.obscuration_m}) must be smaller than "
                             f"aperture_m ({self.aperture_m})")
        return self


class SatelliteDetector(Detector):
    """``[satellites.detector]``: the satellite's detectors (uplinks): the keys of
    ``[stations.detector]`` (``dark_count_rate`` at launch) plus the dark-count growth
    from radiation damage and the launch date (default: the mission's start)."""

    dark_count_growth_hz_per_day: float = Field(DARK_COUNT_GROWTH_HZ_PER_DAY, ge=0.0, le=1.0e5)
    launch: datetime | None = None

    _utc_launch = field_validator("launch")(lambda v: _utc(v) if v is not None else v)


Satellite.model_rebuild()


class ChannelSection(Section):
    """``[channel]``: operating hours and sub-second fading."""

    operate_in_daylight: bool = False
    # false: no photon exchange while the satellite is sunlit (Earth-shadow operations)
    operate_when_sunlit: bool = True
    fading_slot_ms: float | None = Field(None, gt=0.0, le=1000.0)

    @field_validator("fading_slot_ms")
    @classmethod
    def _slot(cls, v: float | None) -> float | None:
        if v is not None and v < MIN_FADING_SLOT_MS:
            raise ValueError(f"fading_slot_ms {v:g} is below {MIN_FADING_SLOT_MS:g} ms: fades "
                             "last milliseconds, and finer slots only cost memory "
                             f"({1000.0 / v:.3g} samples per second of pass)")
        return v


class EavesdropperSection(Section):
    """``[eavesdropper]``: an attack (or a device weakness) on every pass."""

    kind: Literal["none", "intercept-resend", "pns", "efficiency-mismatch", "blinding",
                  "trojan-horse"] = "none"
    fraction: float = Field(1.0, ge=0.0, le=1.0)
    basis_z_probability: float = Field(0.5, ge=0.0, le=1.0)
    pns_bob_transmittance: float = Field(1.0, gt=0.0, le=1.0)
    # trojan-horse: Alice's source or Bob's (active) basis choice, probe wavelength and
    # mean photon number per pulse, the target's real isolation at that wavelength (None:
    # what the target declares, 0 dB if nothing), reflectivity of the modulator path, and
    # Bob's detector click probability per probe photon (None: from detector.material)
    target: Literal["alice", "bob"] = "alice"
    probe_wavelength_nm: float = Field(1550.0, gt=0.0, le=1.0e5)
    probe_photons: float = Field(1.0e6, ge=0.0, le=1.0e20)
    isolation_db: float | None = Field(None, ge=0.0, le=300.0)
    reflectivity: float = Field(1.0e-2, ge=0.0, le=1.0)
    detector_response: float | None = Field(None, ge=0.0, le=1.0)


class EntanglementSection(Section):
    """``[entanglement]``: dual or single downlinks for protocols bbm92 and e91."""

    mode: Literal["dual-downlink", "single-downlink"] = "dual-downlink"
    pairs: list[Annotated[list[Name], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list)
    settings: Literal["e91", "chsh"] = "e91"  # e91 protocol: three settings, or CHSH only
    coincidence_window_ns: float = Field(2.5, gt=0.0, le=1000.0)
    timing_jitter_ps: float = Field(350.0, ge=0.0, le=1.0e5)
    bell_k_sigma: float = Field(3.0, ge=0.0, le=100.0)
    onboard_detector_efficiency: float = Field(0.5, gt=0.0, le=1.0)
    onboard_dark_count_rate: float = Field(100.0, ge=0.0, le=1.0e7)


class CitySection(Section):
    """``[[relay.cities]]``: a city reached from a ground station by trusted-node fibre."""

    name: Name
    station: Name
    fibre_km: float = Field(ge=0.0, le=20000.0)
    trusted_node_spacing_km: float | None = Field(None, gt=0.0, le=1000.0)
    lat_deg: float | None = Field(None, ge=-90.0, le=90.0)
    lon_deg: float | None = Field(None, ge=-180.0, le=360.0)


class DemandSection(Section):
    """``[[relay.demands]]``: key wanted between two stations or cities."""

    a: Name
    b: Name
    bits_per_day: float | None = Field(None, ge=0.0, le=1.0e15)
    bits_per_session: float | None = Field(None, ge=0.0, le=1.0e15)
    sessions: list[datetime] = Field(default_factory=list)
    weight: float = Field(1.0, ge=0.0, le=1.0e6)

    _utc_sessions = field_validator("sessions")(lambda v: [_utc(t) for t in v])

    @model_validator(mode="after")
    def _one_kind(self) -> "DemandSection":
        if (self.bits_per_day is None) == (self.bits_per_session is None):
            raise ValueError("give exactly one of bits_per_day or bits_per_session")
        if self.bits_per_session is not None and not self.sessions:
            raise ValueError("bits_per_session needs sessions = [date-times]")
        if self.a == self.b:
            raise ValueError(f"a demand needs two different endpoints, got {self.a!r} twice")
        return self


class RelaySection(Section):
    """``[relay]``: trusted-relay planning (``satqkd relay``)."""

    objective: Literal["weighted", "maxmin"] = "weighted"
    storage_bits: float | None = Field(None, gt=0.0, le=1.0e15)
    cities: list[CitySection] = Field(default_factory=list)
    demands: list[DemandSection] = Field(default_factory=list)
    milp_time_limit_s: float = Field(60.0, gt=0.0, le=86400.0)


class KeysSection(Section):
    """``[keys]``: finite-key security and post-processing."""

    eps_sec: float = Field(1e-9, gt=0.0, lt=1.0)
    eps_cor: float = Field(1e-15, gt=0.0, lt=1.0)
    tail_bound: Literal["hoeffding", "chernoff"] = "hoeffding"
    qber_threshold: float = Field(0.11, gt=0.0, le=0.5)
    cascade_frame_bits: int = Field(65536, ge=64, le=1 << 24)
    cascade_passes: int = Field(14, ge=1, le=64)
    error_correction: Literal["cascade", "ldpc"] = "cascade"
    # Finite-key block: every pass alone, a UTC day, the whole mission, or N consecutive
    # passes of one satellite-station link (statistics pooled, one privacy amplification).
    block: Literal["pass", "day", "mission"] | Annotated[int, Field(ge=1, le=100000)] = "pass"
    write_keys: bool = False
    # largest probe (mean photons per pulse) a declared isolation_db is rated against
    # (Lucamarini et al. 2015 bound it by the damage threshold of the optics)
    trojan_probe_photons_max: float = Field(1.0e6, gt=0.0, le=1.0e20)


class SweepAxis(Section):
    """One ``[[sweep.grid]]`` axis: a mission-file field and its values."""

    field: str = Field(min_length=1, max_length=300)  # path syntax: satqkd/mission/sweep.py
    values: list[Any] = Field(min_length=1, max_length=1000)
    name: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")  # dimension name


class SweepSection(Section):
    """``[sweep]``: the grid of ``satqkd sweep`` (ignored by ``satqkd run``)."""

    grid: list[SweepAxis] = Field(default_factory=list)


class ReportSection(Section):
    """``[report]``: what ``satqkd run`` draws."""

    pass_plots: int = Field(50, ge=0, le=100000)  # link-budget plots for the first N passes
    mission_report: bool = True  # report.md, report.html and the mission plots


class MissionConfig(Section):
    """A whole mission file."""

    mission: MissionSection
    satellites: list[Satellite] = Field(min_length=1)
    stations: list[Station] = Field(min_length=1)
    channel: ChannelSection = Field(default_factory=ChannelSection)
    eavesdropper: EavesdropperSection = Field(default_factory=EavesdropperSection)
    keys: KeysSection = Field(default_factory=KeysSection)
    entanglement: EntanglementSection = Field(default_factory=EntanglementSection)
    relay: RelaySection = Field(default_factory=RelaySection)
    report: ReportSection = Field(default_factory=ReportSection)
    sweep: SweepSection = Field(default_factory=SweepSection)

    @model_validator(mode="after")
    def _fidelity(self) -> "MissionConfig":
        from satqkd.mission.fidelity import counts_refusal

        why = counts_refusal(self) if self.mission.fidelity == "counts" else None
        if why:
            raise ValueError(why)
        return self

    @model_validator(mode="after")
    def _entanglement_pairs(self) -> "MissionConfig":
        names = {s.name for s in self.stations}
        entangled_dual = (self.mission.protocol != "decoy-bb84"
                          and self.entanglement.mode == "dual-downlink")
        if entangled_dual and not self.entanglement.pairs:
            raise ValueError("entanglement.pairs: a dual downlink needs station pairs, e.g. "
                             'pairs = [["Delingha", "Lijiang"]]')
        for a, b in self.entanglement.pairs:
            for n in (a, b):
                if n not in names:
                    raise ValueError(f"entanglement.pairs: {n!r} is not one of the stations "
                                     f"({', '.join(sorted(names))})")
            if a == b:
                raise ValueError(f"entanglement.pairs: a pair needs two stations, got {a!r} twice")
        return self

    @model_validator(mode="after")
    def _pair_attacks(self) -> "MissionConfig":
        if self.mission.protocol != "decoy-bb84" and self.eavesdropper.kind not in (
                "none", "intercept-resend"):
            raise ValueError(f"eavesdropper.kind: {self.eavesdropper.kind!r} is a decoy-BB84 "
                             "attack; entangled protocols allow none or intercept-resend")
        return self

    @model_validator(mode="after")
    def _uplink(self) -> "MissionConfig":
        if self.mission.direction == "uplink" and self.mission.protocol != "decoy-bb84":
            raise ValueError(f"mission.direction: an uplink runs decoy-bb84 only (protocol = "
                             f"{self.mission.protocol!r} needs the pair source on board, a "
                             'downlink); use direction = "downlink"')
        if self.mission.direction != "uplink":
            for i, sat in enumerate(self.satellites):
                if sat.transmitter.tip_tilt:
                    raise ValueError(
                        f"satellites[{i}].transmitter.tip_tilt: tip-tilt pre-compensation is "
                        "an uplink (ground transmitter) model; it must be false on a downlink")
            return self
        for i, sat in enumerate(self.satellites):
            det = sat.detector
            if det.launch is not None and det.launch > self.mission.start:
                raise ValueError(
                    f"satellites[{i}].detector.launch: {det.launch:%Y-%m-%dT%H:%M:%SZ} is after "
                    f"the mission start ({self.mission.start:%Y-%m-%dT%H:%M:%SZ}); it must be "
                    "at or before it")
            launch = det.launch or self.mission.start
            days = (self.mission.end - launch).total_seconds() / 86400.0
            rate = det.dark_count_rate + det.dark_count_growth_hz_per_day * days
            p_dark = rate * det.detection_window_ns * 1e-9
            if p_dark > MAX_DARK_PROBABILITY:
                raise ValueError(
                    f"satellites[{i}].detector.dark_count_growth_hz_per_day: "
                    f"{det.dark_count_growth_hz_per_day:g} counts/s per day gives {rate:.3g} "
                    f"counts/s after {days:.0f} days in orbit, a dark-count probability of "
                    f"{p_dark:.3g} per window, above {MAX_DARK_PROBABILITY:g}; it must be "
                    f"<= {(MAX_DARK_PROBABILITY / (det.detection_window_ns * 1e-9) - det.dark_count_rate) / max(days, 1e-9):.3g}")
        return self

    @model_validator(mode="after")
    def _relay_names(self) -> "MissionConfig":
        stations = {s.name for s in self.stations}
        cities = {c.name for c in self.relay.cities}
        for c in self.relay.cities:
            if c.station not in stations:
                raise ValueError(f"relay.cities: station {c.station!r} of {c.name!r} is not one "
                                 f"of the stations ({', '.join(sorted(stations))})")
        for d in self.relay.demands:
            for n in (d.a, d.b):
                if n not in stations | cities:
                    raise ValueError(f"relay.demands: {n!r} is neither a station nor a city "
                                     f"({', '.join(sorted(stations | cities))})")
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> "MissionConfig":
        for kind, items in (("stations", self.stations), ("satellites", self.satellites)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    raise ValueError(f"{kind} name {item.name!r} appears twice; names must be unique")
                seen.add(item.name)
        return self


# ----------------------------------------------------------------------------- loading


def _read_toml(path: Path, what: str) -> dict:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise InputError(f"{path}: {what} cannot be read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        check_depth(data, path, what)
        return data
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({errors.one_line(exc, 200)})") from None
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a {what}") from None


#: Nesting a mission (or catalogue) may have: tables in arrays in tables... (a mission
#: needs 4; deeper input only exhausts the parsers' recursion).
MAX_DEPTH = 32


def check_depth(data: Any, path: Path | str, what: str = "mission file") -> None:
    """Refuse input nested deeper than :data:`MAX_DEPTH` (iteratively: no recursion)."""
    stack = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(f"{path}: nested more than {MAX_DEPTH} levels deep; not a {what}")
        if isinstance(node, Mapping):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def _loc_str(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap_model(arg)
        if found is not None:
            return found
    return None


def _field_at(loc: tuple) -> tuple[type[BaseModel] | None, Any]:
    """Walk a pydantic error location: (model owning the last key, its FieldInfo)."""
    model: type[BaseModel] | None = MissionConfig
    info = None
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = model.model_fields.get(part)
        if info is None:
            return model, None
        nxt = _unwrap_model(info.annotation)
        if nxt is None:
            return model, info
        model = nxt
    return model, info


def _allowed_range(info: Any) -> str:
    bounds = []
    for m in getattr(info, "metadata", []):
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(m, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{sym} {getattr(m, attr):g}")
    return " and ".join(bounds)


def _format_error(path: Path, err: dict) -> str:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
    where = _loc_str(loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        owner, _ = _field_at(loc[:-1]) if len(loc) > 1 else (MissionConfig, None)
        allowed = ", ".join(owner.model_fields) if owner else ""
        return f"{path}: {where}: unknown key (allowed here: {allowed})"
    if kind == "missing":
        return f"{path}: {where}: required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    _, info = _field_at(loc)
    got = err.get("input")
    shown = "" if isinstance(got, dict) else f" (got {errors.shown(got)})"
    rng = _allowed_range(info) if info is not None and kind in {
        "greater_than", "greater_than_equal", "less_than", "less_than_equal"} else ""
    if rng:
        return f"{path}: {where}: must be {rng}{shown}"
    if not loc and re.match(r"^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: ", msg):
        return f"{path}: {msg}{shown}"  # a whole-mission check names its own field
    return f"{path}: {where}: {msg}{shown}"


def _raise_validation(path: Path, exc: ValidationError,
                      set_locs: Sequence[str] = ()) -> typing.NoReturn:
    errors = exc.errors()
    line = _format_error(path, errors[0])
    loc = _loc_str(tuple(p for p in errors[0]["loc"] if not (isinstance(p, str) and "[" in p)))
    if any(loc == s or loc.startswith(s + ".") or loc.startswith(s + "[") for s in set_locs):
        line += " (from --set)"
    if len(errors) > 1:
        line += f" (and {len(errors) - 1} more)"
    raise InputError(line) from None


def load_catalogue(path: Path | str = DEFAULT_CATALOGUE) -> dict[str, dict]:
    """Read a station catalogue (``missions/stations.toml``) keyed by lower-case name."""
    path = Path(path)
    data = _read_toml(path, "station catalogue")
    out = {}
    for i, entry in enumerate(data.get("stations", [])):
        if "name" not in entry:
            raise InputError(f"{path}: stations[{i}].name: required key is missing")
        out[entry["name"].lower()] = entry
    return out


def _resolve_file(value: str, mission_path: Path) -> Path | None:
    candidate = Path(value)
    if candidate.is_absolute():
        return candidate if candidate.exists() else None
    for base in (mission_path.parent, Path.cwd()):
        if (base / candidate).exists():
            return (base / candidate).resolve()
    return data_path(candidate)  # the files shipped with satqkd, e.g. tle/micius.tle


def _complete_stations(raw: dict, path: Path) -> None:
    """Fill stations given by name only from the catalogue (explicit keys win)."""
    stations = raw.get("stations")
    if not isinstance(stations, list):
        return
    catalogue: dict[str, dict] | None = None
    cat_keys = ("lat_deg", "lon_deg", "alt_m", "aperture_m")
    for i, st in enumerate(stations):
        if not isinstance(st, dict) or "name" not in st:
            continue
        if all(k in st for k in cat_keys):
            continue
        if catalogue is None:
            local = path.parent / "stations.toml"
            catalogue = load_catalogue(local if local.exists() else DEFAULT_CATALOGUE)
        entry = catalogue.get(str(st["name"]).lower())
        if entry is None:
            missing = [k for k in cat_keys if k not in st]
            raise InputError(
                f"{path}: stations[{i}].name: unknown station {errors.shown(st['name'])} and "
                f"{', '.join(missing)} not given (catalogue stations: "
                f"{', '.join(sorted(e['name'] for e in catalogue.values()))})"
            )
        for k in cat_keys:
            st.setdefault(k, entry[k])
        st["name"] = entry["name"] if st["name"].lower() == entry["name"].lower() else st["name"]


def _check_dict(raw: dict) -> None:
    """A mapping must look like a parsed TOML file: string keys, plain values."""
    for key in raw:
        if not isinstance(key, str):
            raise InputError(f"{DICT_SOURCE}: key {key!r}: keys must be strings")


#: How a mission given as a dict is named in error messages (in place of a file path).
DICT_SOURCE = "<mission dict>"


def _set_path(key: str) -> list[str | int]:
    """``stations.0.aperture_m`` or ``stations[0].aperture_m`` -> [stations, 0, aperture_m]."""
    parts: list[str | int] = []
    for piece in key.replace("[", ".").replace("]", "").split("."):
        if piece == "":
            raise ValueError("empty key component")
        parts.append(int(piece) if piece.isdigit() else piece)
    if isinstance(parts[0], int):
        raise ValueError("the key must start with a section name")
    return parts


def _parse_value(text: str) -> Any:
    """A --set value as TOML (numbers, booleans, dates, arrays, quoted strings); a bare
    word that is not TOML is taken as a string, so ``mission.name=test`` needs no quotes."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(raw: dict, overrides: Sequence[str], source: str = "--set") -> list[str]:
    """Apply ``section.key=value`` overrides to a raw mission mapping (in place).

    List entries are addressed by their 0-based index: ``stations.0.aperture_m=1.2`` (or
    ``stations[0].aperture_m=1.2``, the spelling of error messages). A missing section
    is created; an index past the end of a list is an error. Returns the locations set,
    as error messages spell them (``stations[0].aperture_m``).
    """
    set_locs = []
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"{source} {item!r}: expected section.key=value, "
                             "e.g. mission.seed=3 or stations.0.aperture_m=1.2")
        try:
            parts = _set_path(key)
        except ValueError as exc:
            raise InputError(f"{source} {item!r}: {exc} (expected section.key=value)") from None
        node: Any = raw
        for depth, part in enumerate(parts[:-1]):
            nxt = parts[depth + 1]
            where = _loc_str(tuple(parts[:depth + 1]))
            if isinstance(part, int):
                if not isinstance(node, list) or not -len(node) <= part < len(node):
                    n = len(node) if isinstance(node, list) else 0
                    raise InputError(f"{source} {item!r}: {where}: index out of range (the "
                                     f"mission has {n} entries: 0..{n - 1})")
                node = node[part]
            else:
                if not isinstance(node, dict):
                    raise InputError(f"{source} {item!r}: {where}: not a table")
                node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        last = parts[-1]
        where = _loc_str(tuple(parts))
        if isinstance(last, int):
            if not isinstance(node, list) or not 0 <= last < len(node):
                raise InputError(f"{source} {item!r}: {where}: index out of range")
            node[last] = _parse_value(text.strip())
        elif isinstance(node, dict):
            node[last] = _parse_value(text.strip())
        else:
            raise InputError(f"{source} {item!r}: {_loc_str(tuple(parts[:-1]))}: "
                             "a list: give an index, e.g. stations.0.name")
        set_locs.append(where)
    return set_locs


def load_mission(source: Path | str | Mapping[str, Any],
                 overrides: Sequence[str] = ()) -> MissionConfig:
    """Read and validate a mission; raises :class:`InputError` with one line.

    ``source`` is a mission file or a mapping with the file's structure (validated
    exactly like the file; relative file names in it are looked up from the working
    directory). ``overrides`` are ``section.key=value`` strings applied before
    validation (:func:`apply_overrides`, the CLI's ``--set``).
    """
    if isinstance(source, Mapping):
        path = Path(DICT_SOURCE)
        check_depth(source, path)
        raw = copy.deepcopy(dict(source))
        _check_dict(raw)
    else:
        path = Path(source)
        raw = _read_toml(path, "mission file")
    return load_mission_dict(raw, path, overrides)


def load_mission_dict(raw: dict, path: Path | str,
                      overrides: Sequence[str] = ()) -> MissionConfig:
    """Validate a mission given as a TOML-like dict (e.g. a sweep point); ``path`` names
    it in messages and anchors its relative file names; ``overrides`` as in
    :func:`load_mission`."""
    path = Path(path)
    set_locs = apply_overrides(raw, overrides)
    _complete_stations(raw, path)
    try:
        cfg = MissionConfig.model_validate(raw)
    except ValidationError as exc:
        _raise_validation(path, exc, set_locs)
    # Resolve element files now so that a bad path is reported against its field.
    sats = []
    for i, sat in enumerate(cfg.satellites):
        if sat.tle is not None:
            resolved = _resolve_file(sat.tle, path)
            if resolved is None:
                raise InputError(
                    f"{path}: satellites[{i}].tle: file {errors.shown(sat.tle)} not found (looked "
                    f"relative to the mission file, the working directory and satqkd's data)"
                )
            sat = sat.model_copy(update={"tle": str(resolved)})
        if cfg.mission.direction == "uplink" and sat.detector.launch is None:
            # days in orbit count from the mission's start unless the launch is given
            sat = sat.model_copy(update={"detector": sat.detector.model_copy(
                update={"launch": cfg.mission.start})})
        sats.append(sat)
    stations = []
    for i, st in enumerate(cfg.stations):
        if st.clouds.file is not None:
            resolved = _resolve_file(st.clouds.file, path)
            if resolved is None:
                raise InputError(f"{path}: stations[{i}].clouds.file: file {errors.shown(st.clouds.file)} "
                                 "not found")
            st = st.model_copy(update={"clouds": st.clouds.model_copy(
                update={"file": str(resolved)})})
        stations.append(st)
    cfg = cfg.model_copy(update={"satellites": sats, "stations": stations})
    return cfg


def input_files(cfg: MissionConfig) -> list[str]:
    """Every file the mission reads besides the mission file: element sets (TLE/OMM)
    and weather files. (Catalogue stations are copied into the configuration itself.)"""
    files = [sat.tle for sat in cfg.satellites if sat.tle is not None]
    files += [st.clouds.file for st in cfg.stations if st.clouds.file is not None]
    return list(dict.fromkeys(files))


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's contents (streamed); an unreadable file is an InputError."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return h.hexdigest()


def config_hash(cfg: MissionConfig) -> str:
    """SHA-256 of the validated configuration (canonical JSON) and of the contents of
    every file it names (:func:`input_files`): run provenance, and what ``--resume``
    compares, so an edited TLE or weather file is a different configuration."""
    h = hashlib.sha256(cfg.model_dump_json().encode())
    for f in input_files(cfg):
        h.update(f"\0{f}\0{file_sha256(f)}".encode())
    return h.hexdigest()
