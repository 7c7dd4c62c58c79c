"""Issue 15: no input, file or fault gets a traceback, a silent wrong answer, a write
outside --out, or a mixed resume. Every command ends with exit 0, or exit 2 and exactly
one error line on stderr (docs/reliability.md lists the guarantees)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from satqkd.errors import InputError

REPO = Path(__file__).resolve().parent.parent


_cli = run_cli


def _one_error_line(code: int, err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("satqkd: error:")]
    assert code == 2 and len(errors) == 1, (code, err[-2000:])
    assert "Traceback" not in err
    return errors[0]


@pytest.fixture
def quick(write_mission):
    """The default pass at a 1 MHz source, one plot, no mission report."""
    def _make(*replacements, name="m.toml", extra=""):
        return write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"),
                             ("[[stations]]", "[report]\npass_plots = 1\nmission_report = false\n"
                                              f"{extra}\n[[stations]]"),
                             *replacements, name=name)
    return _make


# ------------------------------------------------------------------------------ 1. paths

def test_path_traversal_station_name_stays_inside_out(quick, tmp_path, capsys):
    victim = tmp_path / "victim"
    name = f"../../../../{victim}/x"
    mission = quick(('name = "Xinglong"', f'name = "{name}"'),
                    extra="[keys]\nwrite_keys = true\n")
    out = tmp_path / "run" / "out"
    code, _, err = _cli(["run", str(mission), "--out", str(out), "-q"], capsys)
    assert code == 0, err
    assert not victim.exists()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != mission]
    assert all(out in p.parents for p in written), written
    assert list((out / "keys").glob("*.alice.bin")) and list((out / "plots").glob("*.png"))
    table = pd.read_csv(out / "passes.csv", keep_default_na=False)
    assert table["station"][0] == name  # the name is data, unchanged


def test_ids_are_safe_file_names():
    from satqkd.keys.postprocess import _PASS_ID
    from satqkd.paths import child, is_safe, slug

    for name in ("Xinglong", "Delingha+Lijiang", "../../x", "a/b", "..", ".", "é", "x" * 300,
                 "a b", "\x00", "-rf"):
        s = slug(name)
        assert is_safe(s) and _PASS_ID.match(s) and len(s) <= 60, (name, s)
    assert slug("Xinglong") == "Xinglong"
    assert slug("a/b") != slug("a_b")  # distinct names keep distinct files
    with pytest.raises(ValueError):
        child("/tmp", "../x")


def test_dual_downlink_window_keys_are_written(tmp_path):
    """write_keys on a BBM92/E91 window id (it held a "+") no longer crashes."""
    from satqkd.keys.postprocess import read_keys, write_keys
    from satqkd.paths import slug

    wid = f"41731_{slug('Delingha+Lijiang')}_20170619T173600"
    packed = np.packbits(np.ones(80, np.uint8))
    row = write_keys(tmp_path / "keys", wid, packed, packed, 80)
    assert (tmp_path / "keys" / row["alice_file"]).is_file()
    a, b = read_keys(tmp_path / "keys", wid)
    assert a.sum() == 80 and b.sum() == 80
    # a raw id with "+" is stored too (named by its slug)
    row = write_keys(tmp_path / "keys", "41731_A+B_1", packed, packed, 80)
    assert "+" not in row["alice_file"]


def test_window_ids_have_no_plus():
    import inspect

    from satqkd.mission.protocols import entangled

    assert "slug(a + '+' + b)" in inspect.getsource(entangled.window_tasks)


@pytest.mark.parametrize("name, what", [("a\tb", "control characters"),
                                        ("x" * 201, "at most 200"),
                                        ("   ", "blank")])
def test_bad_names_are_one_line(quick, tmp_path, capsys, name, what):
    mission = quick()
    code, _, err = _cli(["passes", str(mission), "--set",
                         f"stations.0.name={json.dumps(name)}"], capsys)
    line = _one_error_line(code, err)
    assert what in line and len(line) < 400


# ------------------------------------------------------------------------------ 2. resume

def test_resume_refuses_a_changed_tle_file(quick, tmp_path, capsys):
    tle = tmp_path / "micius.tle"
    tle.write_text((REPO / "tle" / "micius.tle").read_text())
    mission = quick((f'tle = "{REPO / "tle/micius.tle"}"', f'tle = "{tle}"'))
    out = tmp_path / "out"
    code, _, err = _cli(["run", str(mission), "--out", str(out), "-q", "--keep-checkpoints"],
                        capsys)
    assert code == 0, err
    tle.write_text(tle.read_text().replace("MICIUS", "MICIUS-2", 1))  # contents, same path
    code, _, err = _cli(["run", str(mission), "--out", str(out), "-q", "--resume"], capsys)
    assert "another configuration" in _one_error_line(code, err)


def test_merge_refuses_a_foreign_checkpoint(tmp_path):
    from satqkd.mission import store

    ds = __import__("xarray").Dataset({"x": ("time", np.arange(3.0))},
                                      attrs={"pass_id": "p0"})
    store.write_checkpoint(tmp_path, ds, "a" * 64)
    with pytest.raises(InputError, match="another configuration"):
        store.merge_checkpoints(tmp_path, ["p0"], tmp_path / "passes.nc",
                                {"config_sha256": "b" * 64})


# ------------------------------------------------------------------------------ 3. lock

def test_second_run_on_a_locked_folder_exits_2(quick, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from satqkd.mission import guard\n"
         f"with guard.out_dir_lock(Path({str(out)!r}), 'run'):\n"
         "    print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = _cli(["run", str(quick()), "--out", str(out), "-q"], capsys)
        line = _one_error_line(code, err)
        assert f"pid {holder.pid}" in line and "another run" in line
    finally:
        holder.kill()
        holder.wait()
    # the lock dies with its holder: the folder is free again
    code, _, err = _cli(["run", str(quick()), "--out", str(out), "-q"], capsys)
    assert code == 0, err


def test_rerun_removes_stale_keys_and_temporaries(quick, tmp_path, capsys):
    out = tmp_path / "out"
    keys = out / "keys"
    keys.mkdir(parents=True)
    (keys / "old.alice.bin").write_bytes(b"x")
    (keys / "old.bob.bin").write_bytes(b"x")
    (keys / "index.csv").write_text("pass_id,bits,alice_file,bob_file,alice_sha256,bob_sha256\n"
                                    "old,8,old.alice.bin,old.bob.bin,0,0\n")
    (out / "plots").mkdir()
    (out / "plots" / ".a.png.123.tmp").write_bytes(b"half")
    (keys / ".k.alice.bin.9.tmp").write_bytes(b"half")
    code, _, err = _cli(["run", str(quick()), "--out", str(out), "-q"], capsys)
    assert code == 0, err
    assert not (keys / "old.alice.bin").exists() and not list(out.rglob(".*.tmp"))
    assert not (keys / "index.csv").exists() or "old," not in (keys / "index.csv").read_text()


# ------------------------------------------------------------------------------ 5. OS errors

def test_out_that_is_a_file(quick, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    code, _, err = _cli(["run", str(quick()), "--out", str(target), "-q"], capsys)
    assert "is a file" in _one_error_line(code, err)


def test_disk_full_is_one_line_and_resume_is_identical(quick, tmp_path, capsys, monkeypatch):
    from satqkd.mission import store

    mission = quick()
    code, _, err = _cli(["run", str(mission), "--out", str(tmp_path / "clean"), "-q"], capsys)
    assert code == 0, err
    real = store.write_checkpoint_bytes

    def full(out_dir, pass_id, data, journal="manual", header=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir))

    monkeypatch.setattr(store, "write_checkpoint_bytes", full)
    out = tmp_path / "full"
    code, _, err = _cli(["run", str(mission), "--out", str(out), "-q"], capsys)
    assert "No space left on device" in _one_error_line(code, err)
    monkeypatch.setattr(store, "write_checkpoint_bytes", real)  # space freed
    code, _, err = _cli(["run", str(mission), "--out", str(out), "-q", "--resume"], capsys)
    assert code == 0, err
    a = pd.read_csv(tmp_path / "clean" / "passes.csv")
    b = pd.read_csv(out / "passes.csv")
    pd.testing.assert_frame_equal(a, b)


# ------------------------------------------------------------------------------ 6. physics

ONE_FAULT = [
    (("intensities = [0.8, 0.1, 0.0]", "intensities = [0.3, 0.2, 0.15]"), "Lim et al."),
    (("probabilities = [0.5, 0.25, 0.25]", "probabilities = [0.5, 0.5, 0.0]"), "probability > 0"),
    ((("dark_count_rate = 25.0", "dark_count_rate = 1.0e7"),
      ("detection_window_ns = 2.0", "detection_window_ns = 1.0e4")), "dark-count probability"),
    (("step_s = 1.0", "step_s = 1e-6"), "step_s"),
    (("[[stations]]", "[channel]\nfading_slot_ms = 1e-6\n\n[[stations]]"), "fading_slot_ms"),
    (("dark_count_rate = 25.0", "dark_count_rate = 25.0\nafterpulse_probability = 1.0"),
     "afterpulse"),
    (("intensities = [0.8, 0.1, 0.0]", "intensities = [100.0, 0.1, 0.0]"), "photons per pulse"),
    (("rate_hz = 1.0e8", "rate_hz = 1.0e11"), "rate_hz"),
    (("end = 2016-12-19T18:00:00Z", "end = 2066-12-19T18:00:00Z"), "ephemeris"),
    (("end = 2016-12-19T18:00:00Z", "end = 2046-12-19T18:00:00Z"), "days"),
    (("start = 2016-12-19T16:00:00Z", "start = 1850-12-19T16:00:00Z"), "DE421"),
    (("[satellites.source]", "[satellites.pair_source]\npair_rate_hz = 1e10\n\n"
                             "[satellites.source]"), "pair_rate_hz"),
]


@pytest.mark.parametrize("replacement, what", ONE_FAULT)
def test_what_physics_cannot_run_is_refused_at_input(write_mission, capsys, replacement, what):
    pairs = replacement if isinstance(replacement[0], tuple) else (replacement,)
    code, _, err = _cli(["passes", str(write_mission(*pairs))], capsys)
    assert what in _one_error_line(code, err)


def _tle_line(body: str) -> str:
    from satqkd.orbit.tle import tle_checksum

    return body[:68] + str(tle_checksum(body[:68] + "0"))


@pytest.mark.parametrize("ecc, mm, what", [("9900000", "15.23915303", "perigee"),
                                           ("0013200", " 0.50000000", "mean motion")])
def test_element_set_sanity(write_mission, tmp_path, capsys, ecc, mm, what):
    l1 = "1 41731U 16051A   16353.90152003  .00000364  00000-0  17957-4 0  9993"
    l2 = f"2 41731  97.3699 267.4500 {ecc} 178.5836 246.0824 {mm} 19063"
    tle = tmp_path / "bad.tle"
    tle.write_text(f"MICIUS\n{_tle_line(l1)}\n{_tle_line(l2)}\n")
    mission = write_mission((f'tle = "{REPO / "tle/micius.tle"}"', f'tle = "{tle}"'))
    code, _, err = _cli(["passes", str(mission)], capsys)
    assert what in _one_error_line(code, err)


# ------------------------------------------------------------------------------ 7. types

@pytest.mark.parametrize("replacement", [("step_s = 1.0", "step_s = true"),
                                         ("seed = 20161219", 'seed = "7"'),
                                         ("[[stations]]", '[keys]\nwrite_keys = "yes"\n\n'
                                                          "[[stations]]")])
def test_strict_types(write_mission, capsys, replacement):
    code, _, err = _cli(["passes", str(write_mission(replacement))], capsys)
    _one_error_line(code, err)


def test_set_values_still_parse_as_toml(write_mission, capsys):
    code, _, err = _cli(["passes", str(write_mission()), "--set", "mission.seed=3",
                         "--set", "mission.step_s=2", "--set", "keys.write_keys=true"], capsys)
    assert code == 0, err


def test_huge_and_binary_values_are_quoted_short(write_mission, tmp_path, capsys):
    code, _, err = _cli(["passes", str(write_mission(
        ('name = "Xinglong"', 'name = "' + "\\u0007" + "y" * 1_000_000 + '"')))], capsys)
    assert len(_one_error_line(code, err)) < 500
    tle = tmp_path / "garbage.tle"
    tle.write_bytes(bytes(range(256)) * 50)
    code, _, err = _cli(["passes", str(write_mission(
        (f'tle = "{REPO / "tle/micius.tle"}"', f'tle = "{tle}"')))], capsys)
    assert len(_one_error_line(code, err)) < 500


def test_deep_nesting_is_one_line(write_mission, tmp_path, capsys):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    code, _, err = _cli(["passes", str(deep)], capsys)
    _one_error_line(code, err)
    omm = tmp_path / "deep.json"
    omm.write_text("[" * 100000 + "]" * 100000)
    code, _, err = _cli(["passes", str(write_mission(
        (f'tle = "{REPO / "tle/micius.tle"}"', f'tle = "{omm}"')))], capsys)
    _one_error_line(code, err)


# ------------------------------------------------------------------------------ 8. Dask

def test_workers_without_loopback_fall_back_to_serial(monkeypatch, capsys):
    pytest.importorskip("dask.distributed")
    from satqkd.mission import execute

    monkeypatch.setattr(execute, "loopback_problem", lambda: "no loopback network: test")
    with execute.open_executor(2, local="dask") as ex:  # a local Dask cluster needs TCP
        assert ex.client is None
        got = []
        ex.run(lambda t: t * 2, [1, 2], got.append)
    assert got == [2, 4]
    assert "serially" in capsys.readouterr().err


def test_forked_workers_need_no_network_and_keep_the_order_free(monkeypatch):
    """Forked local workers (Linux) talk over pipes: no loopback needed; every result
    comes back once, whatever the batches."""
    from satqkd.mission import execute

    if not execute.fork_available():
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(execute, "loopback_problem", lambda: "no loopback network: test")
    with execute.open_executor(2) as ex:
        assert isinstance(ex, execute.ForkExecutor) and ex.local
        got = []
        ex.run(_double, list(range(50)), got.append, costs=[1.0] * 50)
    assert sorted(got) == [2 * i for i in range(50)]


def _double(t: int) -> int:
    return 2 * t


# ------------------------------------------------------------------------------ 9. fuzzer

#: (key, strategy of values inside and around its bounds, plus wrong types)
_NUM = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                 st.sampled_from([0, 1, -1, 1e-300, 1e300, 0.5, 1e-9, 1e11]))
_ANY = st.one_of(_NUM, st.booleans(), st.text(max_size=30),
                 st.lists(st.floats(0, 2, allow_nan=False), max_size=4))
FIELDS = [
    "mission.step_s", "mission.seed", "mission.min_elevation_deg", "mission.start", "mission.end",
    "mission.night_sun_elevation_deg", "mission.protocol", "mission.name",
    "satellites.0.source.rate_hz", "satellites.0.source.intensities",
    "satellites.0.source.probabilities", "satellites.0.source.p_z",
    "satellites.0.transmitter.divergence_urad", "satellites.0.transmitter.aperture_m",
    "satellites.0.pair_source.pair_rate_hz", "satellites.0.name",
    "stations.0.name", "stations.0.lat_deg", "stations.0.aperture_m",
    "stations.0.detector.dark_count_rate", "stations.0.detector.detection_window_ns",
    "stations.0.detector.afterpulse_probability", "stations.0.detector.efficiency",
    "stations.0.clouds.clear_probability", "channel.fading_slot_ms",
    "keys.eps_sec", "keys.block", "keys.write_keys", "keys.qber_threshold",
    "report.pass_plots",
]


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sets=st.lists(st.tuples(st.sampled_from(FIELDS), _ANY), min_size=1, max_size=3))
def test_fuzz_mission_schema(write_mission, capsys, sets):
    """Any values (inside the bounds or not, any type): exit 0, or 2 with one line."""
    mission = write_mission(name="fuzz.toml")
    args = ["passes", str(mission), "--csv"]
    for key, value in sets:
        args += ["--set", f"{key}={_toml(value)}"]
    capsys.readouterr()
    code, _, err = _cli(args, capsys)
    assert "Traceback" not in err
    if code != 0:
        _one_error_line(code, err)


def test_bbm92_dual_downlink_writes_keys(tmp_path, capsys):
    """write_keys = true crashed every dual-downlink BBM92/E91 run (a "+" in the window id)."""
    out = tmp_path / "bbm"
    code, _, err = _cli(["run", str(REPO / "missions" / "micius-bbm92-2020.toml"), "--out",
                         str(out), "-q", "--set", "mission.end=2021-04-28T00:00:00Z",
                         "--set", "keys.write_keys=true", "--set", "report.mission_report=false",
                         "--set", "report.pass_plots=0"], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "passes.csv", keep_default_na=False)
    assert "+" in table["station"][0]  # the pair stays data
    rows = pd.read_csv(out / "keys" / "index.csv")
    assert len(rows) and all("+" not in f for f in rows["alice_file"])
