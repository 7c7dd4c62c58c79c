"""satqkd.channel stage: per-second link budget of a pass (beam, pointing, atmosphere,
turbulence, clouds, background), for downlinks and uplinks."""

from satqkd.channel.link_budget import link_budget
from satqkd.channel.uplink_budget import uplink_budget
from satqkd.channel.params import (
    Atmosphere,
    Background,
    Clouds,
    LinkParameters,
    Receiver,
    Transmitter,
    Turbulence,
)

__all__ = [
    "Atmosphere",
    "Background",
    "Clouds",
    "LinkParameters",
    "Receiver",
    "Transmitter",
    "Turbulence",
    "link_budget",
    "uplink_budget",
]
