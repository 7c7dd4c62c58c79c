"""The CLI reports: closing summary, progress as plain lines in a pipe, -q/-v, Ctrl-C,
--set, `satqkd stations`, `satqkd init`, and `satqkd passes` in a pipe."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from satqkd.config import load_catalogue, load_mission

FAST = ("rate_hz = 1.0e8", "rate_hz = 1.0e6")  # the default pass at a 1 MHz source


def _satqkd(*args: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(__import__("conftest").REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "satqkd.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def test_run_prints_a_closing_summary_and_plain_progress(write_mission, tmp_path):
    mission = write_mission(FAST)
    proc = _satqkd("run", str(mission), "--out", str(tmp_path / "o"), "-v",
                   "--set", "mission.seed=3", "--set", "stations.0.aperture_m=1.2")
    assert proc.returncode == 0, proc.stderr
    out, err = proc.stdout, proc.stderr
    assert "\x1b[" not in out + err  # a pipe gets plain text, no terminal codes
    for stage in ("orbit", "geometry", "passes", "merge", "report"):
        assert f"{stage}: " in err and "(100 %)" in err, (stage, err)
    assert "passes          1 (1 usable)" in out
    assert "Xinglong" in out and "secret bits" in out
    assert "pooled QBER" in out and "%" in out and "wall time" in out
    assert f"report          {tmp_path / 'o' / 'report.html'}" in out
    assert "config sha256" in out  # -v
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert run["seed"] == 3 and run["stations"][0]["aperture_m"] == 1.2


def test_quiet_prints_only_the_folder(write_mission, tmp_path):
    proc = _satqkd("run", str(write_mission(FAST)), "--out", str(tmp_path / "q"), "-q",
                   "--set", "report.mission_report=false", "--set", "report.pass_plots=0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "q") and proc.stderr == ""


@pytest.mark.parametrize("setting,words", [
    ("mission.seed=-1", ["mission.seed", ">= 0", "from --set"]),
    ("stations.0.lat_deg=95", ["stations[0].lat_deg", "<= 90", "from --set"]),
    ("stations.3.aperture_m=1", ["stations[3]", "index out of range"]),
    ("keys.eps_sec", ["expected section.key=value"]),
    ("mission.colour=red", ["mission.colour", "unknown key"]),
])
def test_bad_set_is_one_line_exit_2(setting, words, write_mission):
    proc = _satqkd("passes", str(write_mission()), "--set", setting)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_set_reaches_the_passes(write_mission):
    mission = str(write_mission())
    assert "Xinglong" in _satqkd("passes", mission, "--csv").stdout
    high = _satqkd("passes", mission, "--csv", "--set", "mission.min_elevation_deg=50")
    assert high.returncode == 0 and high.stdout.strip().count("\n") == 0  # header only


def test_piped_passes_keep_columns_and_seconds(write_mission):
    proc = _satqkd("passes", str(write_mission()))
    assert proc.returncode == 0, proc.stderr
    row = next(line for line in proc.stdout.splitlines() if "Xinglong" in line)
    # apparent elevation (refraction): the 10 deg mask is crossed about 1 s earlier/later
    assert "2016-12-19" in row and "16:48:42" in row and "16:52:13" in row and "16:55:41" in row
    assert "…" not in proc.stdout and "47.8" in row and "419" in row


def test_ctrl_c_says_resume_and_exits_130(write_mission, tmp_path):
    mission = write_mission()  # the full 100 MHz source: seconds in the passes stage
    env = {**os.environ, "PYTHONPATH": str(__import__("conftest").REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "satqkd.cli", "run", str(mission), "--out",
                             str(tmp_path / "c")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    seen = ""
    deadline = time.monotonic() + 300
    while "passes: 0/" not in seen and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
    assert "passes: 0/" in seen, seen
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, (out, err)
    # after any progress lines still in the pipe: one line, no traceback
    lines = [ln for ln in err.strip().splitlines() if not re.match(r"^\w+: \d+/\d+ ", ln)]
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("satqkd: interrupted")
    assert "--resume" in lines[0] and str(tmp_path / "c") in lines[0]


def test_stations_lists_the_catalogue_with_sources():
    proc = _satqkd("stations")
    assert proc.returncode == 0, proc.stderr
    cat = load_catalogue()
    for entry in cat.values():
        assert entry["name"] in proc.stdout
        assert entry["source"].split(".")[0] in proc.stdout  # not truncated in a pipe
    csv = _satqkd("stations", "--csv")
    assert csv.stdout.startswith("name,lat_deg,lon_deg,alt_m,aperture_m,full_name,source")
    assert csv.stdout.count("\n") >= len(cat) + 1


def test_init_writes_a_mission_that_validates_and_runs(tmp_path):
    proc = _satqkd("init", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "demo.toml"
    text = path.read_text()
    for section in ("[mission]", "[[satellites]]", "[satellites.orbit]", "[satellites.transmitter]",
                    "[satellites.source]", "[[stations]]", "[stations.detector]",
                    "[stations.receiver]", "[stations.atmosphere]", "[stations.turbulence]",
                    "[stations.clouds]", "[stations.sky]", "[channel]", "[eavesdropper]",
                    "[keys]", "[entanglement]", "[relay]", "[report]"):
        assert section in text, section
    assert load_mission(path).mission.name == "demo"
    again = _satqkd("init", "demo", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert _satqkd("init", "bad name!", cwd=tmp_path).returncode == 2
    run = _satqkd("run", "demo.toml", "--out", "o", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "passes" in run.stdout and (tmp_path / "o" / "passes.nc").exists()
