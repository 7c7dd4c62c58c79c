"""Element-set reading: TLE (2/3-line), OMM JSON/CSV, checksums, nearest epoch."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest

from satqkd.errors import InputError
from satqkd.orbit.passes import StaleElementsWarning, find_passes
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.orbit.tle import (
    parse_omm_csv,
    parse_omm_json,
    parse_tle_text,
    read_element_sets,
    tle_checksum,
)

L1 = "1 41731U 16051A   16353.90152003  .00000364  00000-0  17957-4 0  9993"
L2 = "2 41731  97.3699 267.4500 0013200 178.5836 246.0824 15.23915303 19063"


def test_checksum_of_real_lines():
    assert tle_checksum(L1) == 3 and tle_checksum(L2) == 3


def test_three_and_two_line_forms_agree(repo):
    three = parse_tle_text(f"MICIUS\n{L1}\n{L2}\n")
    two = parse_tle_text(f"{L1}\n{L2}\n")
    assert three[0].name == "MICIUS" and two[0].name == "NORAD 41731"
    assert three[0].epoch == two[0].epoch
    assert three[0].epoch.strftime("%Y-%m-%d %H:%M") == "2016-12-18 21:38"


def test_repository_tle_files_parse(repo):
    micius = read_element_sets(repo / "tle" / "micius.tle")
    assert [e.norad_id for e in micius] == [41731] * 4
    others = read_element_sets(repo / "tle" / "others.tle")
    assert {e.norad_id for e in others} == {25544, 48274, 33591}


def test_checksum_error_names_file_and_line(tmp_path):
    bad = L2[:68] + "4"
    path = tmp_path / "bad.tle"
    path.write_text(f"MICIUS\n{L1}\n{bad}\n")
    with pytest.raises(InputError, match=r"bad\.tle:3: TLE checksum error"):
        read_element_sets(path)


def test_truncated_and_missing_files(tmp_path):
    path = tmp_path / "short.tle"
    path.write_text(f"MICIUS\n{L1[:60]}\n{L2}\n")
    with pytest.raises(InputError, match=r"short\.tle:2: TLE line 1 has 60 characters"):
        read_element_sets(path)
    with pytest.raises(InputError, match="not found"):
        read_element_sets(tmp_path / "nope.tle")


def _omm_fields_from_tle() -> dict:
    """The CelesTrak OMM keywords of the Micius 2016-353 element set, by hand."""
    return {
        "OBJECT_NAME": "MICIUS", "OBJECT_ID": "2016-051A", "EPOCH": "2016-12-18T21:38:11.330592",
        "MEAN_MOTION": 15.23915303, "ECCENTRICITY": 0.00132, "INCLINATION": 97.3699,
        "RA_OF_ASC_NODE": 267.45, "ARG_OF_PERICENTER": 178.5836, "MEAN_ANOMALY": 246.0824,
        "EPHEMERIS_TYPE": 0, "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": 41731,
        "ELEMENT_SET_NO": 999, "REV_AT_EPOCH": 1906, "BSTAR": 1.7957e-05,
        "MEAN_MOTION_DOT": 3.64e-06, "MEAN_MOTION_DDOT": 0,
    }


def _same_orbit(a, b) -> None:
    jd, fr = a.satrec.jdsatepoch, a.satrec.jdsatepochF + np.linspace(0, 1, 5)
    _, ra, _ = a.satrec.sgp4_array(np.full(5, jd), fr)
    _, rb, _ = b.satrec.sgp4_array(np.full(5, jd), fr)
    assert np.abs(ra - rb).max() < 1e-3  # km


def test_omm_json_and_csv_match_the_tle():
    tle = parse_tle_text(f"{L1}\n{L2}\n")[0]
    fields = _omm_fields_from_tle()
    j = parse_omm_json(json.dumps([fields]))[0]
    header = ",".join(fields)
    row = ",".join(str(v) for v in fields.values())
    c = parse_omm_csv(f"{header}\n{row}\n")[0]
    for rec in (j, c):
        assert rec.norad_id == 41731 and rec.name == "MICIUS"
        assert abs((rec.epoch - tle.epoch).total_seconds()) < 1e-3
        _same_orbit(tle, rec)


def test_omm_files_detected_by_content(tmp_path):
    fields = _omm_fields_from_tle()
    (tmp_path / "a.json").write_text(json.dumps([fields]))
    (tmp_path / "a.csv").write_text(",".join(fields) + "\n" + ",".join(map(str, fields.values())))
    assert read_element_sets(tmp_path / "a.json")[0].norad_id == 41731
    assert read_element_sets(tmp_path / "a.csv")[0].norad_id == 41731
    bad = dict(fields)
    del bad["MEAN_MOTION"]
    (tmp_path / "b.json").write_text(json.dumps([bad]))
    with pytest.raises(InputError, match=r"b\.json\[0\]: OMM record"):
        read_element_sets(tmp_path / "b.json")


def test_nearest_epoch_is_chosen(repo):
    recs = read_element_sets(repo / "tle" / "micius.tle")
    sat = Satellite("MICIUS", 41731, tuple(reversed(recs)))
    epochs = [r.epoch for r in recs]
    assert sat.nearest(datetime(2016, 12, 19, tzinfo=timezone.utc).timestamp()).epoch == epochs[0]
    assert sat.nearest(datetime(2019, 1, 1, tzinfo=timezone.utc).timestamp()).epoch == epochs[0]
    assert sat.nearest(datetime(2019, 3, 1, tzinfo=timezone.utc).timestamp()).epoch == epochs[1]
    assert sat.nearest(datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()).epoch == epochs[3]
    # the boundary is the midpoint between consecutive epochs
    mid = 0.5 * (epochs[1].timestamp() + epochs[2].timestamp())
    assert sat.nearest(mid - 1).epoch == epochs[1] and sat.nearest(mid + 1).epoch == epochs[2]


def test_passes_use_nearest_epoch_and_warn_when_stale(repo):
    recs = read_element_sets(repo / "tle" / "micius.tle")
    sat = Satellite("MICIUS", 41731, tuple(recs))
    graz = GroundStation("Graz", 47.0671, 15.4933, 539.4)
    start = datetime(2021, 4, 28, tzinfo=timezone.utc).timestamp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh = find_passes(sat, [graz], start, start + 86400)
    assert fresh and all(p.element_set.epoch.year == 2021 for p in fresh)
    start = datetime(2021, 6, 1, tzinfo=timezone.utc).timestamp()
    with pytest.warns(StaleElementsWarning, match=r"stale element set: \d+ passes") as rec:
        stale = find_passes(sat, [graz], start, start + 86400)
    assert stale and all(p.epoch_offset_days > 14 for p in stale)
    # one warning for the call, carrying every case
    assert len(rec) == 1 and len(rec[0].message.notices) == len(stale)
