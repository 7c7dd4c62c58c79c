"""Link directions of the mission stage: a pass's geometry in, its per-second
transmittance and noise out.

A link decides which end of a satellite-station pair sends and which receives
(:class:`satqkd.mission.parameters.Ends`), builds the channel parameters from them and
calls the channel stage for its direction. Protocols (:mod:`satqkd.mission.protocols`)
ask a link for a pass's budget and for its ends; they never look at the direction.

* :class:`Downlink`: the satellite's transmitter and source, the station's telescope,
  optics and detectors.
* :class:`Uplink`: the station's transmitter and source, the satellite's telescope,
  optics and detectors (whose dark counts grow with radiation damage in orbit).

:data:`LINKS` maps ``[mission] direction`` onto them; :func:`link_for` picks one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import xarray as xr

from satqkd import config
from satqkd.channel.link_budget import link_budget
from satqkd.channel.uplink_budget import uplink_budget
from satqkd.channel.params import LinkParameters
from satqkd.channel.radiation import dark_count_rate_in_orbit_hz
from satqkd.datasets import extend_dataset
from satqkd.mission import parameters
from satqkd.mission.parameters import Ends
from satqkd.mission.seeds import aos_seconds

__all__ = ["Link", "Downlink", "Uplink", "LINKS", "link_for", "pass_epoch_s", "physical_loss_db",
           "shadow_only", "idle_reason"]


def pass_epoch_s(geometry: xr.Dataset) -> float | None:
    """The pass's start (UTC seconds): its ``aos`` attribute, else its first sample."""
    if "aos" in geometry.attrs:
        return aos_seconds(str(geometry.attrs["aos"]))
    t = geometry["time"].values
    return float(t[0].astype("datetime64[ns]").astype(np.int64)) / 1e9 if t.size else None


def physical_loss_db(link: xr.Dataset) -> np.ndarray:
    """Sum of the loss terms (dB), whether or not the link operates that second."""
    terms = [v for v in link.data_vars if str(v).startswith("loss_")]
    return (sum(link.variables[v].values for v in terms) if terms
            else np.zeros(link.sizes["time"]))


class Link(ABC):
    """One direction of a satellite-station link."""

    #: the ``[mission] direction`` value this link serves
    direction: ClassVar[str]

    @abstractmethod
    def ends(self, sat: config.Satellite, station: config.Station,
             epoch_s: float | None = None) -> Ends:
        """Who sends and who receives, as at ``epoch_s`` (UTC seconds; None: at launch)."""

    @abstractmethod
    def channel(self, geometry: xr.Dataset, params: LinkParameters, rng: np.random.Generator,
                **options) -> xr.Dataset:
        """The channel stage's per-second budget in this direction (``options``: those of
        :func:`satqkd.channel.link_budget.link_budget`)."""

    def parameters(self, cfg: config.MissionConfig, sat: config.Satellite,
                   station: config.Station, epoch_s: float | None = None) -> LinkParameters:
        """The channel parameters of this link at ``epoch_s``."""
        return parameters.link_parameters(cfg, sat, station, self.ends(sat, station, epoch_s))

    def budget(self, cfg: config.MissionConfig, sat: config.Satellite, station: config.Station,
               geometry: xr.Dataset, rng: np.random.Generator, *,
               fading_slot_s: float | None = None) -> xr.Dataset:
        """The pass's geometry plus its per-second link budget (``rng``: the pass's channel
        stream; ``fading_slot_s``: sub-second fading samples, if the protocol uses them)."""
        params = self.parameters(cfg, sat, station, pass_epoch_s(geometry))
        ds = self.channel(geometry, params, rng, cloud_series=station.clouds.file,
                          fading_slot_s=fading_slot_s,
                          # one weather chain per station over the mission (same on every worker)
                          cloud_chain=(cfg.mission.seed, cfg.mission.start.timestamp(),
                                       cfg.mission.end.timestamp()))
        ds.attrs["operate_when_sunlit"] = int(cfg.channel.operate_when_sunlit)
        return ds if cfg.channel.operate_when_sunlit else shadow_only(ds)


def shadow_only(link: xr.Dataset) -> xr.Dataset:
    """The link operating only while the satellite is in Earth's shadow.

    Missions that exchange photons only in eclipse (QEYSSat's plan: no sunlight on the
    payload, a dark Earth below) set ``[channel] operate_when_sunlit = false``; sunlit
    seconds then get ``operating`` False and transmittance 0, as night-only operation
    does to daylight seconds (the loss terms stay the physical ones).
    """
    var = link.variables
    operating = var["operating"].values & ~var["sunlit"].values.astype(bool)
    return extend_dataset(link, {
        "operating": ("time", operating, {
            **var["operating"].attrs,
            "long_name": "link operating (night, or daylight operation allowed; satellite in "
                         "Earth's shadow)"}),
        "transmittance": ("time", np.where(operating, var["transmittance"].values, 0.0),
                          var["transmittance"].attrs)})


def idle_reason(link: xr.Dataset) -> str:
    """Why a link that operates in no second of its pass was idle.

    ``"sunlit"``: some seconds were dark enough at the station but the satellite was
    sunlit in all of them (shadow-only operation); else ``"daylight"`` (the Sun above
    the night threshold at the station, night-only operation).
    """
    dark = (np.ones(link.sizes["time"], bool) if link.attrs.get("operate_in_daylight", 0)
            else link["night"].values.astype(bool) if "night" in link
            else np.zeros(link.sizes["time"], bool))
    return "sunlit" if dark.any() and not link.attrs.get("operate_when_sunlit", 1) else "daylight"


class Downlink(Link):
    """Satellite to ground: the satellite sends, the station receives."""

    direction = "downlink"

    def ends(self, sat: config.Satellite, station: config.Station,
             epoch_s: float | None = None) -> Ends:
        return Ends.downlink(sat, station)

    def channel(self, geometry: xr.Dataset, params: LinkParameters, rng: np.random.Generator,
                **options) -> xr.Dataset:
        return link_budget(geometry, params, rng, **options)


class Uplink(Link):
    """Ground to satellite: the station sends, the satellite receives.

    The station's ``[stations.transmitter]`` and ``[stations.source]`` send; the
    satellite's ``[satellites.receiver]`` and ``[satellites.detector]`` receive, the
    detectors' dark counts grown by radiation damage up to the pass
    (:func:`satqkd.channel.radiation.dark_count_rate_in_orbit_hz`).
    """

    direction = "uplink"

    def ends(self, sat: config.Satellite, station: config.Station,
             epoch_s: float | None = None) -> Ends:
        det = sat.detector
        days = 0.0
        if epoch_s is not None and det.launch is not None:
            # a validated mission has no pass before launch; a synthetic one (warm-up) may
            days = max((epoch_s - det.launch.timestamp()) / 86400.0, 0.0)
        dark = dark_count_rate_in_orbit_hz(det.dark_count_rate, det.dark_count_growth_hz_per_day,
                                           days)
        return Ends(station.transmitter, station.source, sat.receiver.aperture_m, sat.receiver,
                    det, dark)

    def channel(self, geometry: xr.Dataset, params: LinkParameters, rng: np.random.Generator,
                **options) -> xr.Dataset:
        # its own budget (satqkd.channel.uplink_budget), not a branch of the downlink's
        return uplink_budget(geometry, params, rng, **options)


#: ``[mission] direction`` -> link.
LINKS: dict[str, type[Link]] = {cls.direction: cls for cls in (Downlink, Uplink)}


def link_for(cfg: config.MissionConfig) -> Link:
    """The link of a mission (``[mission] direction``, downlink by default)."""
    return LINKS[cfg.mission.direction]()
