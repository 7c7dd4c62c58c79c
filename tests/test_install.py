"""An installed satqkd (not editable, not the source tree) has the data it needs.

The wheel is built from a copy of the sources, installed into a fresh virtual
environment (system site-packages give the dependencies, so nothing is downloaded) and
run from another folder: ``satqkd validate`` and a mission whose station comes from the
catalogue and whose element file is given relative (``tle/micius.tle``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.install

#: What a build reads: the package, the runtime data setup.py copies, the metadata.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "satqkd", "missions", "tle")

MISSION = """
[mission]
name = "installed"
start = 2016-12-19T16:00:00Z
end = 2016-12-19T18:00:00Z

[[satellites]]
name = "MICIUS"
tle = "tle/micius.tle"
norad_id = 41731

[[stations]]
name = "Xinglong"
"""


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def test_wheel_installs_and_runs_from_elsewhere(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(REPO / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp_path / "wheels"), str(src)], tmp_path, env)
    (wheel,) = (tmp_path / "wheels").glob("satqkd-*.whl")

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
         tmp_path, env)
    python = venv / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index",
          "--ignore-installed", "-q", str(wheel)], tmp_path, env)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([str(python), "-c", "import satqkd; print(satqkd.__file__)"], elsewhere, env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout  # not the sources
    # tables generated offline ship as package data (counts-level leakage, LOWTRAN7)
    tables = _run([str(python), "-c",
                   "from satqkd.keys.leakage_curve import TABLE_PATH as t;"
                   "from satqkd.channel.lowtran import DATA as d;"
                   "print(t.is_file() and d.is_file(), t.is_relative_to(__import__('sys').prefix))"],
                  elsewhere, env)
    assert tables.stdout.split() == ["True", "True"], tables.stdout

    satqkd = str(venv / "bin" / "satqkd")
    (elsewhere / "m.toml").write_text(MISSION)
    passes = _run([satqkd, "passes", "m.toml", "--csv"], elsewhere, env)
    rows = passes.stdout.strip().splitlines()
    assert len(rows) == 2 and ",Xinglong," in rows[1] and "2016-12-19T16:48:4" in rows[1]

    validate = _run([satqkd, "validate"], elsewhere, env)
    assert "Liao et al., Nature 549, 43 (2017)" in validate.stdout
    assert "Yin et al., Science 356, 1140 (2017)" in validate.stdout
