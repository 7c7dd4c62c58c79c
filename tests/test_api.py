"""The notebook API (docs/api.md): its example runs as written; dicts validate like files."""

from __future__ import annotations

import os
import re
import tomllib

import numpy as np
import pytest

import satqkd
from satqkd.errors import InputError


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_api_doc_example_runs(repo, capsys):
    blocks = _python_blocks((repo / "docs" / "api.md").read_text())
    assert blocks, "docs/api.md has no python block"
    cwd = os.getcwd()
    os.chdir(repo)  # the example runs from the repository root, as the doc says
    try:
        for code in blocks:
            exec(compile(code, "docs/api.md", "exec"), {"__name__": "__main__"})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "Xinglong" in out and "secret bits:" in out
    assert "stations[0].lat_deg" in out and "latitude trajectory" in out


def test_dict_validates_like_the_file(repo):
    with open(repo / "missions" / "micius-2016-12-19.toml", "rb") as fh:
        raw = tomllib.load(fh)
    raw["satellites"][0]["tle"] = str(repo / "tle" / "micius.tle")
    m = satqkd.load_mission(raw)
    f = satqkd.load_mission(repo / "missions" / "micius-2016-12-19.toml")
    assert m.config.model_dump() == f.config.model_dump()
    raw["satellites"][0]["transmitter"]["aperture_m"] = -1.0
    with pytest.raises(InputError, match=r"<mission dict>: satellites\[0\]\.transmitter\."
                                         r"aperture_m: must be > 0"):
        satqkd.load_mission(raw)
    raw["satellites"][0]["transmitter"]["aperture_m"] = 0.3
    raw["mission"]["colour"] = 1
    with pytest.raises(InputError, match=r"mission\.colour: unknown key"):
        satqkd.load_mission(raw)


def test_overrides_and_pass_references(write_mission):
    m = satqkd.load_mission(write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6")),
                            overrides=["mission.seed=3", "keys.eps_sec=1e-10",
                                       "stations.0.aperture_m=1.2"])
    assert m.config.mission.seed == 3 and m.config.keys.eps_sec == 1e-10
    assert m.config.stations[0].aperture_m == 1.2
    ps = m.passes()
    assert ps.sizes["pass"] == 1 and np.issubdtype(ps["aos"].dtype, np.datetime64)
    pid = str(ps["pass"].values[0])
    geo = m.geometry(pid)
    assert {"lat", "lon", "altitude", "elevation"} <= set(geo.data_vars)
    assert 400 < float(geo["altitude"].mean()) < 600  # Micius flies at ~500 km
    with pytest.raises(InputError, match="the mission has 1 passes"):
        m.link_budget(5)
    with pytest.raises(InputError, match="stations.0.aperture_m.*from --set|must be > 0"):
        satqkd.load_mission(m._source, overrides=["stations.0.aperture_m=-1"])
