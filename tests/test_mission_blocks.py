"""Finite-key blocks across passes in a mission, and the composed epsilon."""

import json

import numpy as np
import pandas as pd
import pytest

from satqkd.keys.postprocess import read_key_index, read_keys
from satqkd.mission.blocks import assign_blocks

FAST = ("rate_hz = 1.0e8 ", "rate_hz = 2.0e6 ")  # marginal passes: finite size matters
THREE_NIGHTS = ("end = 2016-12-19T18:00:00Z", "end = 2016-12-21T20:00:00Z")


def _keys(block: str) -> tuple[str, str]:
    return ("[[stations]]", f'[keys]\ntail_bound = "chernoff"\nblock = {block}\n'
            'write_keys = true\n[report]\nmission_report = false\npass_plots = 0\n\n[[stations]]')


def _rows(*specs):
    return [{"satellite": sat, "station": st, "los": los, "abort_reason": reason}
            for sat, st, los, reason in specs]


def test_assign_blocks_by_link_day_and_count():
    rows = _rows(("S", "A", "2020-01-01T01:00:00Z", ""),
                 ("S", "B", "2020-01-01T02:00:00Z", ""),
                 ("S", "A", "2020-01-01T03:00:00Z", "daylight"),
                 ("S", "A", "2020-01-01T23:00:00Z", "qber_above_threshold"),
                 ("S", "A", "2020-01-02T01:00:00Z", ""),
                 ("T", "A", "2020-01-02T02:00:00Z", ""))
    assert assign_blocks(rows, "pass") == [[0], [1], [3], [4], [5]]
    assert assign_blocks(rows, "day") == [[1], [0, 3], [4], [5]]
    assert assign_blocks(rows, "mission") == [[1], [0, 3, 4], [5]]
    assert assign_blocks(rows, 2) == [[1], [0, 3], [4], [5]]


def test_pooled_mission_block(write_mission, tmp_path):
    """Three nights over Xinglong at 2e6 pulses/s: one block for the link gives more key
    than three single-pass blocks; both sides hold the same key, written once, on the
    pass that closes the block; eps are composed."""
    from satqkd.mission.run import run_mission

    outs = {}
    for block in ('"pass"', '"mission"'):
        path = write_mission(FAST, THREE_NIGHTS, _keys(block), name=f"m{len(outs)}.toml")
        outs[block] = run_mission(path, tmp_path / f"out{len(outs)}")
    per = pd.read_csv(outs['"pass"'] / "passes.csv", keep_default_na=False)
    pool = pd.read_csv(outs['"mission"'] / "passes.csv", keep_default_na=False)
    ran = per["abort_reason"].isin(["", "non_positive_length"]) | (per["sifted_bits"] > 0)
    assert ran.sum() >= 2
    assert (per.loc[ran, "secret_bits"] > 0).all()
    assert pool["secret_bits"].sum() > per["secret_bits"].sum()
    # the key sits on the closing (last) pass of the block; the others say "pooled"
    in_block = pool[pool["block_id"] >= 0]
    assert set(in_block["block_id"]) == {0}
    closing = in_block.iloc[-1]
    assert closing["secret_bits"] > 0 and closing["abort_reason"] == ""
    assert (in_block.iloc[:-1]["abort_reason"] == "pooled").all()
    assert (in_block.iloc[:-1]["secret_bits"] == 0).all()
    assert (pool.loc[pool["block_id"] < 0, "abort_reason"] == "daylight").all()
    # every pass keeps its own counts
    assert np.array_equal(pool["sifted_bits"].to_numpy(), per["sifted_bits"].to_numpy())
    # both sides' pooled keys identical, written for the closing pass only
    index = read_key_index(outs['"mission"'] / "keys")
    assert [r["pass_id"] for r in index] == [closing["pass_id"]]
    a, b = read_keys(outs['"mission"'] / "keys", closing["pass_id"])
    assert a.size == closing["secret_bits"] and np.array_equal(a, b)
    # composed epsilon: per-pass blocks add up; the pooled block pays once (k tags)
    sec = json.loads((outs['"pass"'] / "run.json").read_text())["security"]
    assert sec["eps_sec_total"] == pytest.approx(1e-9 * ran.sum())
    assert per["eps_sec"].sum() == pytest.approx(sec["eps_sec_total"])
    psec = json.loads((outs['"mission"'] / "run.json").read_text())["security"]
    assert psec["eps_sec_total"] == pytest.approx(1e-9)
    assert psec["eps_cor_total"] == pytest.approx(1e-15 * len(in_block))
    assert psec["finite_key_block"] == "mission"


def test_mismatched_detectors_refused_or_equalised(write_mission, tmp_path):
    from satqkd.mission.run import run_mission

    mismatch = ("efficiency = 0.5 ", "efficiency = [0.5, 0.45, 0.5, 0.5] ")
    out = run_mission(write_mission(FAST, mismatch, name="a.toml"), tmp_path / "a")
    t = pd.read_csv(out / "passes.csv", keep_default_na=False)
    assert (t["secret_bits"] == 0).all()
    assert (t["abort_reason"] == "efficiency_mismatch").all()
    eq = ("dark_count_rate = 25.0", 'dark_count_rate = 25.0\nmismatch = "equalise"')
    out = run_mission(write_mission(FAST, mismatch, eq, name="b.toml"), tmp_path / "b")
    t = pd.read_csv(out / "passes.csv", keep_default_na=False)
    assert (t["abort_reason"] == "").all() and (t["secret_bits"] > 0).all()


def test_ldpc_one_way_reconciliation_in_a_mission(write_mission, tmp_path):
    """`[keys] error_correction = "ldpc"`: one-way, Bob sends only a flag per attempt, so
    the certified key keeps the vacuum credit whenever s_Z0 exceeds those flags (here the
    Chernoff bound leaves s_Z0 = 0 at 2e6 pulses/s: no credit either way)."""
    from satqkd.mission.run import run_mission

    path = write_mission(FAST, ("[[stations]]", '[keys]\nerror_correction = "ldpc"\n'
                                'tail_bound = "chernoff"\n[report]\nmission_report = false\n'
                                'pass_plots = 0\n\n[[stations]]'), name="ldpc.toml")
    t = pd.read_csv(run_mission(path, tmp_path / "ldpc") / "passes.csv", keep_default_na=False)
    row = t.iloc[0]
    assert row["abort_reason"] == "" and row["secret_bits"] > 0
    with __import__("xarray").open_dataset(tmp_path / "ldpc" / "passes.nc") as ds:
        reply = int(ds["ec_reply_bits"].values[0])
        frames = -(-int(ds["sifted_bits"].values[0]) // 65536)
        assert 1 <= reply <= 21 * frames  # at most 1 + max_retries flags a frame
        # the vacuum term is credited exactly when it outweighs Bob's few flags
        s_z0 = float(ds["s_z0"].values[0])
        assert bool(ds["vacuum_credited"].values[0]) == (s_z0 >= reply)
