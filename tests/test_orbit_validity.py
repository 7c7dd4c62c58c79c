"""No pass from an orbit SGP4 flags; one warning line per kind, not one per pass."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone

import numpy as np
import pytest
from conftest import run_cli

from satqkd.errors import InputError
from satqkd.orbit.elements import circular_orbit
from satqkd.orbit.passes import (
    Pass,
    PropagationWarning,
    find_passes,
    pass_geometry,
)
from satqkd.orbit.satellite import Satellite
from satqkd.orbit.stations import GroundStation
from satqkd.orbit.tle import read_element_sets
from satqkd.orbit.validity import PRE_EPOCH_MARGIN_DAYS, sgp4_errors, valid_span

GRAZ = GroundStation("Graz", 47.0671, 15.4933, 539.4)
XINGLONG = GroundStation("Xinglong", 40.3958, 117.5775, 960.0, 1.0)


def _utc(*args) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


@pytest.fixture(scope="module")
def micius():
    from conftest import REPO

    return Satellite("MICIUS", 41731, tuple(read_element_sets(REPO / "tle" / "micius.tle")))


_cli = run_cli


def _period(write_mission, start: str, end: str, *more, name: str = "m.toml"):
    return write_mission(("start = 2016-12-19T16:00:00Z", f"start = {start}"),
                         ("end = 2016-12-19T18:00:00Z", f"end = {end}"), *more, name=name)


def _one_error_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ----------------------------------------------------------------- item: the three cases
def test_decayed_satellite_2026_06_exits_2(write_mission, capsys):
    """SGP4 flags Micius as decayed in June 2026: not '0 passes' and exit 0."""
    path = _period(write_mission, "2026-06-01T00:00:00Z", "2026-06-08T00:00:00Z")
    line = _one_error_line(*_cli(["passes", str(path)], capsys)[::2])
    for words in (str(path), "satellites[0]", "MICIUS", "2026-06-01", "decayed",
                  "SGP4 error 6", "2026-05-13"):
        assert words in line, (words, line)


def test_no_fake_passes_in_2029(micius, write_mission, capsys):
    """Past the decay SGP4 returns error-free orbits of 20,000+ km (2,719 'passes' over
    Graz in a week): every instant after the first flag is invalid."""
    start = _utc(2029, 3, 1)
    assert not sgp4_errors(micius.element_sets[-1].satrec, np.array([start])).any()
    with pytest.raises(InputError, match="no valid orbit.*decayed.*2026-05-13"):
        find_passes(micius, [GRAZ], start, start + 7 * 86400)
    path = _period(write_mission, "2029-03-01T00:00:00Z", "2029-03-08T00:00:00Z")
    line = _one_error_line(*_cli(["passes", str(path)], capsys)[::2])
    assert "MICIUS" in line and "2029-03-01" in line and "decayed" in line


def test_before_launch_2015_exits_2(micius, write_mission, capsys):
    """Micius was launched on 2016-08-16; its first element set here is of 2016-12-18."""
    with pytest.raises(InputError, match="before its first element set"):
        find_passes(micius, [GRAZ], _utc(2015, 6, 1), _utc(2015, 6, 8))
    path = _period(write_mission, "2015-06-01T00:00:00Z", "2015-06-08T00:00:00Z")
    line = _one_error_line(*_cli(["passes", str(path)], capsys)[::2])
    for words in ("MICIUS", "2015-06-01", "567 days before", "2016-12-18", "at most 14 days"):
        assert words in line, (words, line)


def test_pre_epoch_margin(micius):
    """Within the margin (the shipped China-Austria mission starts 6.9 days early)."""
    first = micius.element_sets[0].epoch.timestamp()
    assert find_passes(micius, [GRAZ], first - 7 * 86400, first - 6 * 86400) is not None
    with pytest.raises(InputError):
        late = first - (PRE_EPOCH_MARGIN_DAYS + 1) * 86400
        find_passes(micius, [GRAZ], late, late + 86400)


@pytest.mark.filterwarnings("ignore::satqkd.orbit.passes.StaleElementsWarning")
def test_partly_decayed_period_keeps_only_sound_passes(micius):
    """A period across the decay: passes only before it, one warning, no flagged second."""
    start, end = _utc(2026, 5, 1), _utc(2026, 5, 20)
    with pytest.warns(PropagationWarning, match="invalid propagation: 1 satellite.*decayed"):
        passes = find_passes(micius, [GRAZ, XINGLONG], start, end)
    assert passes and all(p.los_s < _utc(2026, 5, 13, 17, 19) for p in passes)
    for p in passes:
        t = np.arange(np.floor(p.aos_s), np.ceil(p.los_s) + 1)
        assert not sgp4_errors(p.element_set.satrec, t).any()
    pass_geometry(passes, [GRAZ, XINGLONG])  # sound throughout


def test_pass_geometry_refuses_a_flagged_pass(micius):
    """A hand-made pass in a flagged period is an error, never silent geometry."""
    es = micius.element_sets[-1]
    t = _utc(2026, 6, 2)
    bogus = Pass("MICIUS", 41731, "Graz", t, t + 60, t + 120, 45.0, es)
    with pytest.raises(InputError, match="SGP4 flags"):
        pass_geometry([bogus], [GRAZ])


def test_elements_may_start_before_their_epoch_but_decay_still_applies():
    epoch = datetime(2025, 3, 1, tzinfo=timezone.utc)
    design = circular_orbit("D", 300001, epoch, 500.0, 97.4, 10.0)
    sat = Satellite("D", 300001, (design,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stale or pre-epoch complaint for a design
        passes = find_passes(sat, [GRAZ], epoch.timestamp() - 60 * 86400,
                             epoch.timestamp() - 58 * 86400)
    assert passes
    # Heavy drag at 200 km: SGP4 flags the decay within two days; error codes still apply.
    draggy = circular_orbit("H", 300002, epoch, 200.0, 97.0, 10.0, bstar=0.01)
    span = valid_span(draggy, epoch.timestamp(), epoch.timestamp() + 10 * 86400)
    assert span.hi_code == 6 and span.hi_s < epoch.timestamp() + 2 * 86400
    with pytest.raises(InputError, match="decayed"):
        find_passes(Satellite("H", 300002, (draggy,)), [GRAZ], epoch.timestamp() + 5 * 86400,
                    epoch.timestamp() + 6 * 86400)


# ------------------------------------------------------------------- item: warning floods
def test_stale_warnings_one_line_per_kind(write_mission, capsys):
    from satqkd.mission.run import plan_mission

    path = _period(write_mission, "2019-06-01T00:00:00Z", "2019-06-11T00:00:00Z",
                   ("[[stations]]", "".join(f'[[stations]]\nname = "{n}"\n' for n in (
                       "Graz", "Stellenbosch", "Stromlo")) + "[[stations]]"))
    plan = plan_mission(path)
    assert len(plan.passes) > 60
    assert len(plan.warnings) == 1
    line = plan.warnings[0]
    assert line.startswith(f"stale element set: {len(plan.passes)} passes using an element set "
                           "more than 14 days from the pass (worst ")
    assert "days: MICIUS over" in line
    (entry,) = plan.warning_summary
    assert entry["kind"] == "stale element set" and entry["count"] == len(plan.passes)
    assert 1 <= len(entry["examples"]) <= 5 and entry["worst"] == entry["examples"][0]
    assert entry["worst_measure"] == max(p.epoch_offset_days for p in plan.passes)
    code, _, err = _cli(["passes", str(path), "--csv"], capsys)
    assert code == 0 and err.count("warning:") == 1 and "stale element set" in err


def test_no_stale_warning_for_satellites_by_elements(repo):
    from satqkd.mission.run import plan_mission

    plan = plan_mission(repo / "missions" / "jinan1-south-africa-2025.toml")
    assert plan.passes and plan.warnings == [] and plan.warning_summary == []


def test_run_json_keeps_counts_and_examples(write_mission, tmp_path):
    from satqkd.mission.run import run_mission

    path = _period(write_mission, "2019-06-01T00:00:00Z", "2019-06-02T12:00:00Z",
                   ("rate_hz = 1.0e8", "rate_hz = 1.0e6"),
                   ("[[stations]]", "[report]\npass_plots = 0\nmission_report = false\n\n"
                                    "[[stations]]"))
    out = run_mission(path, tmp_path / "out")
    info = json.loads((out / "run.json").read_text())
    (entry,) = info["warnings"]
    assert entry["kind"] == "stale element set" and entry["count"] == info["n_passes"] > 1
    assert set(entry) >= {"kind", "count", "message", "worst", "examples"}
    assert len(entry["examples"]) == min(5, entry["count"])
