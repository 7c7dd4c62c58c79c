"""Plain typed inputs of the network stage: passes, entanglement windows, demands, sites.

Times are UTC seconds since 1970 (``float``); key amounts are bits.
:mod:`satqkd.network.relay_run` maps the mission file onto these frozen dataclasses;
nothing here parses input.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from satqkd.errors import InputError
from satqkd.network.fibre import FibreLink, fibre_link_capacity_bps

__all__ = [
    "CandidatePass",
    "EntanglementWindow",
    "Demand",
    "Site",
    "NetworkProblem",
    "SECONDS_PER_DAY",
]

SECONDS_PER_DAY = 86400.0
OBJECTIVES = ("weighted", "maxmin")


@dataclass(frozen=True)
class CandidatePass:
    """A pass of ``satellite`` over ``station`` that could run trusted-node QKD.

    ``expected_key_bits`` is the secret key the link budget predicts for the pass.  A
    satellite serves one station at a time and a station (one telescope) sees one
    satellite at a time: two candidates sharing either and overlapping in time conflict.
    """

    pass_id: str
    satellite: str
    station: str
    aos_s: float
    los_s: float
    expected_key_bits: float

    def __post_init__(self) -> None:
        if self.los_s < self.aos_s:
            raise InputError(f"pass {self.pass_id}: los_s ({self.los_s}) before aos_s ({self.aos_s})")
        if self.expected_key_bits < 0:
            raise InputError(f"pass {self.pass_id}: expected_key_bits must be >= 0")


@dataclass(frozen=True)
class EntanglementWindow:
    """A dual-downlink window: ``satellite`` seen at once from ``station_a`` and ``station_b``.

    Distributing entangled pairs (BBM92) gives A and B ``expected_key_bits`` of key
    directly, with no trust in the satellite, but it occupies the satellite and both
    telescopes for the whole window (conflicting with trusted-node passes over them).
    """

    window_id: str
    satellite: str
    station_a: str
    station_b: str
    aos_s: float
    los_s: float
    expected_key_bits: float

    def __post_init__(self) -> None:
        if self.los_s < self.aos_s:
            raise InputError(f"window {self.window_id}: los_s before aos_s")
        if self.station_a == self.station_b:
            raise InputError(f"window {self.window_id}: needs two different stations")
        if self.expected_key_bits < 0:
            raise InputError(f"window {self.window_id}: expected_key_bits must be >= 0")


@dataclass(frozen=True)
class Demand:
    """Key wanted between endpoints ``a`` and ``b`` (stations, or cities with a fibre link).

    Exactly one of:

    * ``bits_per_day``: a steady demand; requests arrive uniformly in time, so the
      horizon's request is ``bits_per_day * duration / 86400``;
    * ``bits_per_session`` with ``session_times_s``: each session asks for that many bits
      at its start time.

    ``weight`` scales the demand's bits in the weighted objective.
    """

    a: str
    b: str
    bits_per_day: float | None = None
    bits_per_session: float | None = None
    session_times_s: tuple[float, ...] = ()
    weight: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.a == self.b:
            raise InputError(f"demand {self.label}: endpoints must differ")
        if (self.bits_per_day is None) == (self.bits_per_session is None):
            raise InputError(f"demand {self.label}: give exactly one of bits_per_day, bits_per_session")
        if self.bits_per_day is not None and self.bits_per_day < 0:
            raise InputError(f"demand {self.label}: bits_per_day must be >= 0")
        if self.bits_per_session is not None:
            if self.bits_per_session < 0:
                raise InputError(f"demand {self.label}: bits_per_session must be >= 0")
            if not self.session_times_s:
                raise InputError(f"demand {self.label}: bits_per_session needs session_times_s")
        if self.weight < 0:
            raise InputError(f"demand {self.label}: weight must be >= 0")

    @property
    def label(self) -> str:
        return self.name if self.name else f"{self.a}-{self.b}"

    def sessions_in(self, start_s: float, end_s: float) -> list[float]:
        """Sorted session request times inside ``[start_s, end_s]``."""
        return sorted(t for t in self.session_times_s if start_s <= t <= end_s)

    def requested_bits(self, start_s: float, end_s: float) -> float:
        """Key requested over the horizon ``[start_s, end_s]``."""
        if self.bits_per_day is not None:
            return self.bits_per_day * (end_s - start_s) / SECONDS_PER_DAY
        return float(self.bits_per_session) * len(self.sessions_in(start_s, end_s))

    def requested_by(self, t_s, start_s: float, end_s: float):
        """Cumulative key requested by time(s) ``t_s`` (per-day: linear; sessions: steps)."""
        t = np.clip(np.asarray(t_s, dtype=float), start_s, end_s)
        if self.bits_per_day is not None:
            return self.bits_per_day * (t - start_s) / SECONDS_PER_DAY
        sess = np.asarray(self.sessions_in(start_s, end_s), dtype=float)
        return float(self.bits_per_session) * np.searchsorted(sess, t, side="right")


@dataclass(frozen=True)
class Site:
    """A named place for maps: a ground station or a city."""

    name: str
    lat_deg: float
    lon_deg: float
    kind: str = "station"


@dataclass(frozen=True)
class NetworkProblem:
    """Everything the planners need.

    Attributes:
        candidates: candidate trusted-node passes.
        demands: key demands between endpoints.
        windows: dual-downlink entanglement windows (optional).
        fibre_links: city-station fibre links; a demand endpoint that is not a station
            must be the city of exactly one of them.
        storage_bits: on-board key storage per satellite, one number, a mapping
            satellite -> bits, or ``None`` (unbounded).
        start_s, end_s: planning horizon; default: the span of passes, windows and sessions.
        objective: ``"weighted"`` (max sum of weight x delivered bits) or ``"maxmin"``
            (max the smallest fraction of demand met, then the weighted sum).
        sites: positions of stations and cities, for maps only.
    """

    candidates: tuple[CandidatePass, ...]
    demands: tuple[Demand, ...]
    windows: tuple[EntanglementWindow, ...] = ()
    fibre_links: tuple[FibreLink, ...] = ()
    storage_bits: float | Mapping[str, float] | None = None
    start_s: float | None = None
    end_s: float | None = None
    objective: str = "weighted"
    sites: tuple[Site, ...] = ()
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))
        object.__setattr__(self, "demands", tuple(self.demands))
        object.__setattr__(self, "windows", tuple(self.windows))
        object.__setattr__(self, "fibre_links", tuple(self.fibre_links))
        object.__setattr__(self, "sites", tuple(self.sites))
        if self.objective not in OBJECTIVES:
            raise InputError(f"network objective must be one of {OBJECTIVES}, not {self.objective!r}")
        ids = [c.pass_id for c in self.candidates] + [w.window_id for w in self.windows]
        if len(set(ids)) != len(ids):
            raise InputError("pass and window ids must be unique")
        cities = [f.city for f in self.fibre_links]
        if len(set(cities)) != len(cities):
            raise InputError("each city may have only one fibre link")
        stations = self.stations
        for f in self.fibre_links:
            if f.city in stations:
                raise InputError(f"fibre link city {f.city!r} is also a station name")
        for d in self.demands:
            sa, sb = self.endpoint_station(d.a), self.endpoint_station(d.b)
            if sa == sb:
                raise InputError(f"demand {d.label}: both endpoints reach station {sa!r}; no satellite needed")
        if self.storage_bits is not None:
            vals = self.storage_bits.values() if isinstance(self.storage_bits, Mapping) else [self.storage_bits]
            if any(v < 0 for v in vals):
                raise InputError("storage_bits must be >= 0")
        t0, t1 = self.horizon
        if not t1 >= t0:
            raise InputError("network horizon end before start")

    @property
    def stations(self) -> set[str]:
        """Stations with passes or windows, and sites of kind "station" (maybe without passes)."""
        s = {c.station for c in self.candidates} | {x.name for x in self.sites if x.kind == "station"}
        for w in self.windows:
            s |= {w.station_a, w.station_b}
        return s

    @property
    def satellites(self) -> list[str]:
        return sorted({c.satellite for c in self.candidates} | {w.satellite for w in self.windows})

    def fibre_link(self, endpoint: str) -> FibreLink | None:
        for f in self.fibre_links:
            if f.city == endpoint:
                return f
        return None

    def endpoint_station(self, endpoint: str) -> str:
        """The ground station an endpoint is reached from (itself if it is a station)."""
        f = self.fibre_link(endpoint)
        if f is not None:
            return f.station
        if endpoint in self.stations:
            return endpoint
        raise InputError(f"demand endpoint {endpoint!r} is neither a known station nor a fibre-linked city")

    def fibre_capacity_bps(self, endpoint: str) -> float:
        """Key rate of the endpoint's fibre chain (``inf`` for a station)."""
        f = self.fibre_link(endpoint)
        if f is None:
            return math.inf
        key = ("cap", f.city)
        if key not in self._cache:
            self._cache[key] = fibre_link_capacity_bps(f)
        return self._cache[key]

    def capacity_bits(self, satellite: str) -> float:
        if self.storage_bits is None:
            return math.inf
        if isinstance(self.storage_bits, Mapping):
            v = self.storage_bits.get(satellite)
            return math.inf if v is None else float(math.floor(v))
        return float(math.floor(self.storage_bits))

    @property
    def horizon(self) -> tuple[float, float]:
        times = [c.aos_s for c in self.candidates] + [c.los_s for c in self.candidates]
        times += [w.aos_s for w in self.windows] + [w.los_s for w in self.windows]
        for d in self.demands:
            times += list(d.session_times_s)
        t0 = self.start_s if self.start_s is not None else (min(times) if times else 0.0)
        t1 = self.end_s if self.end_s is not None else (max(times) if times else t0)
        return float(t0), float(t1)
