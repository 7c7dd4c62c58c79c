"""Read orbital element sets: TLE (2- and 3-line) and CelesTrak OMM (JSON and CSV).

Every element set becomes an :class:`ElementSet` holding an initialised SGP4
``Satrec`` (Vallado, Crawford, Hujsak & Kelso, "Revisiting Spacetrack Report #3",
AIAA 2006-6753), so that later stages treat catalogue and hypothetical satellites
alike. TLE lines are checked with the mod-10 checksum of the NORAD format.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sgp4 import omm
from sgp4.api import WGS72, Satrec

from satqkd.errors import InputError, shown


@dataclass(frozen=True)
class ElementSet:
    """One epoch of one satellite's mean elements, ready for SGP4."""

    name: str
    norad_id: int
    epoch: datetime  # UTC, timezone-aware
    satrec: Satrec = field(repr=False, compare=False)
    source: str = ""  # "file:line" or a description, for run.json provenance
    # True for orbits by elements (satqkd.orbit.elements): a design, not a measurement,
    # so its epoch's distance to a pass says nothing about accuracy.
    design: bool = False

    @property
    def epoch_datetime64(self) -> np.datetime64:
        return np.datetime64(self.epoch.replace(tzinfo=None), "ns")


def tle_checksum(line: str) -> int:
    """Mod-10 checksum of a TLE line: digits count their value, '-' counts 1."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


def _satrec_epoch(sat: Satrec) -> datetime:
    # jdsatepoch + jdsatepochF is the UTC Julian date of the element epoch.
    days = (sat.jdsatepoch - 2440587.5) + sat.jdsatepochF
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(days=days)


def _check_line(path: Path, lineno: int, line: str, number: str) -> None:
    where = f"{path}:{lineno}"
    if len(line) < 69:
        raise InputError(f"{where}: TLE line {number} has {len(line)} characters; 69 required")
    if line[0] != number or line[1] != " ":
        raise InputError(f"{where}: expected TLE line {number} (starting '{number} ')")
    if not line[68].isdigit():
        raise InputError(f"{where}: TLE line {number} has no checksum digit in column 69")
    expected = tle_checksum(line)
    if int(line[68]) != expected:
        raise InputError(
            f"{where}: TLE checksum error: column 69 is {line[68]}, the mod-10 sum of "
            f"the line is {expected}"
        )


#: Perigee altitude an element set must keep: below it the orbit decays within hours.
MIN_PERIGEE_KM = 100.0
#: Mean motion, revolutions per day: from beyond geostationary (1.0) to a 100 km orbit.
MEAN_MOTION_REV_DAY = (0.9, 17.0)


def check_orbit(sat: Satrec, where: str) -> None:
    """An element set's orbit must stay above the atmosphere and between LEO and GEO."""
    rev_day = sat.no_kozai * 1440.0 / (2.0 * math.pi)
    lo, hi = MEAN_MOTION_REV_DAY
    if not lo <= rev_day <= hi:
        raise InputError(f"{where}: mean motion {rev_day:.4g} rev/day is outside {lo}..{hi} "
                         "(low Earth orbit to beyond geostationary)")
    radius_km = sat.radiusearthkm
    perigee_km = sat.a * (1.0 - sat.ecco) * radius_km - radius_km
    if not perigee_km >= MIN_PERIGEE_KM:
        raise InputError(f"{where}: perigee altitude {perigee_km:.0f} km (eccentricity "
                         f"{sat.ecco:.4g}) is below {MIN_PERIGEE_KM:.0f} km: the orbit enters "
                         "the atmosphere (or the Earth)")


def parse_tle_text(text: str, path: Path | str = "<string>") -> list[ElementSet]:
    """Parse 2-line or 3-line TLE text (both may be mixed), verifying checksums."""
    path = Path(path)
    lines = [(i + 1, raw.rstrip()) for i, raw in enumerate(text.splitlines())]
    lines = [(n, s) for n, s in lines if s.strip()]
    records: list[ElementSet] = []
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        name = ""
        if not line.startswith("1 "):
            name = line[2:].strip() if line.startswith("0 ") else line.strip()
            i += 1
            if i >= len(lines):
                raise InputError(f"{path}:{lineno}: name line {shown(name)} is not followed "
                                 "by a TLE")
            lineno, line = lines[i]
        if i + 1 >= len(lines):
            raise InputError(f"{path}:{lineno}: TLE line 1 is not followed by line 2")
        lineno2, line2 = lines[i + 1]
        _check_line(path, lineno, line, "1")
        _check_line(path, lineno2, line2, "2")
        if line[2:7] != line2[2:7]:
            raise InputError(
                f"{path}:{lineno2}: catalogue number {line2[2:7].strip()} of line 2 differs "
                f"from {line[2:7].strip()} of line 1"
            )
        try:
            sat = Satrec.twoline2rv(line, line2, WGS72)
        except (ValueError, IndexError, TypeError):
            raise InputError(f"{path}:{lineno}: not a valid TLE (a field cannot be read)") from None
        if sat.error:
            raise InputError(f"{path}:{lineno}: SGP4 rejects this element set (error {sat.error})")
        check_orbit(sat, f"{path}:{lineno}")
        records.append(
            ElementSet(
                name=name or f"NORAD {sat.satnum}",
                norad_id=int(sat.satnum),
                epoch=_satrec_epoch(sat),
                satrec=sat,
                source=f"{path}:{lineno}",
            )
        )
        i += 2
    return records


def _from_omm_fields(fields: dict, where: str) -> ElementSet:
    sat = Satrec()
    if not isinstance(fields, dict):
        raise InputError(f"{where}: an OMM record must be a JSON object")
    try:
        omm.initialize(sat, {k: str(v) for k, v in fields.items()})
    except (KeyError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise InputError(f"{where}: OMM record is missing or has a bad field "
                         f"({shown(str(exc))})") from None
    if sat.error:
        raise InputError(f"{where}: SGP4 rejects this OMM record (error {sat.error})")
    check_orbit(sat, where)
    return ElementSet(
        name=str(fields.get("OBJECT_NAME", f"NORAD {sat.satnum}")).strip(),
        norad_id=int(sat.satnum),
        epoch=_satrec_epoch(sat),
        satrec=sat,
        source=where,
    )


def parse_omm_json(text: str, path: Path | str = "<string>") -> list[ElementSet]:
    """Parse CelesTrak OMM JSON (a list of records, or one record)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid OMM JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(f"{path}: OMM JSON nested too deeply") from None
    if isinstance(data, dict):
        data = [data]
    return [_from_omm_fields(rec, f"{path}[{i}]") for i, rec in enumerate(data)]


def parse_omm_csv(text: str, path: Path | str = "<string>") -> list[ElementSet]:
    """Parse CelesTrak OMM CSV (a header row of OMM keywords, one record per row)."""
    reader = csv.DictReader(io.StringIO(text))
    return [_from_omm_fields(row, f"{path}:{i + 2}") for i, row in enumerate(reader)]


def read_element_sets(path: Path | str) -> list[ElementSet]:
    """Read a TLE, OMM JSON or OMM CSV file, chosen by its content."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: TLE file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: TLE file cannot be read ({exc.__class__.__name__})") from None
    head = text.lstrip()[:1]
    if head in ("[", "{"):
        records = parse_omm_json(text, path)
    elif text.lstrip().upper().startswith(("OBJECT_NAME", "OBJECT_ID", "CCSDS")) or (
        "," in text.splitlines()[0] if text.strip() else False
    ):
        records = parse_omm_csv(text, path)
    else:
        records = parse_tle_text(text, path)
    if not records:
        raise InputError(f"{path}: no element sets found (expected TLE or OMM records)")
    return records
