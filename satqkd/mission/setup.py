"""Turn a validated mission file into orbit-stage objects (satellites, stations)."""

from __future__ import annotations

from pathlib import Path

from satqkd import config
from satqkd.errors import InputError
from satqkd.orbit.elements import (
    circular_orbit,
    parse_walker,
    raan_for_ltan_deg,
    sun_synchronous_inclination_deg,
    walker_constellation,
)
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.orbit.tle import read_element_sets

#: Hypothetical satellites get catalogue numbers from here up (Alpha-5 range, far
#: above the real catalogue; SGP4 accepts up to 339999).
HYPOTHETICAL_NORAD_BASE = 300000


def build_stations(cfg: config.MissionConfig) -> list[GroundStation]:
    """Ground stations of the mission, in file order."""
    return [GroundStation(s.name, s.lat_deg, s.lon_deg, s.alt_m, s.aperture_m)
            for s in cfg.stations]


def build_satellites(
    cfg: config.MissionConfig, mission_path: Path | str
) -> list[tuple[Satellite, config.Satellite]]:
    """Satellites of the mission with their payload entries.

    A Walker entry expands into all its satellites, which share the entry's payload.
    """
    out: list[tuple[Satellite, config.Satellite]] = []
    for i, sat in enumerate(cfg.satellites):
        where = f"{mission_path}: satellites[{i}]"
        if sat.tle is not None:
            records = read_element_sets(sat.tle)
            ids = sorted({r.norad_id for r in records})
            if sat.norad_id is None:
                if len(ids) > 1:
                    raise InputError(
                        f"{where}.norad_id: {sat.tle} holds satellites {ids}; "
                        "give norad_id to choose one"
                    )
                norad = ids[0]
            else:
                norad = sat.norad_id
                if norad not in ids:
                    raise InputError(
                        f"{where}.norad_id: {norad} is not in {sat.tle} (it holds {ids})"
                    )
            mine = tuple(r for r in records if r.norad_id == norad)
            out.append((Satellite(sat.name, norad, mine), sat))
            continue
        orbit = sat.orbit
        assert orbit is not None
        if orbit.inclination_deg == "sun-synchronous":
            try:
                incl = sun_synchronous_inclination_deg(orbit.altitude_km)
            except ValueError as exc:
                raise InputError(f"{where}.orbit.inclination_deg: {exc}") from None
        else:
            incl = float(orbit.inclination_deg)
        raan = orbit.raan_deg if orbit.raan_deg is not None else raan_for_ltan_deg(
            orbit.epoch, float(orbit.ltan_h))
        norad0 = HYPOTHETICAL_NORAD_BASE + 1000 * i + 1
        if orbit.walker is None:
            es = circular_orbit(sat.name, norad0, orbit.epoch, orbit.altitude_km, incl, raan,
                                orbit.phase_deg, orbit.bstar)
            out.append((Satellite(sat.name, norad0, (es,)), sat))
        else:
            w_incl, total, planes, phasing = parse_walker(orbit.walker)
            if w_incl is not None:
                incl = w_incl
            for es in walker_constellation(sat.name, norad0, orbit.epoch, orbit.altitude_km,
                                           incl, total, planes, phasing, raan, orbit.phase_deg,
                                           orbit.bstar):
                out.append((Satellite(es.name, es.norad_id, (es,)), sat))
    return out
