"""The output folder: no checkpoints left after a complete run, and no run written over
another mission's folder by accident."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
import xarray as xr

from satqkd import cli
from satqkd.mission import store
from satqkd.ragged import pass_from_ragged


_cli = run_cli


@pytest.fixture
def quick_mission(write_mission):
    """The default pass at a 1 MHz source, without the mission report."""
    return write_mission(("rate_hz = 1.0e8", "rate_hz = 1.0e6"),
                         ("[[stations]]", "[report]\npass_plots = 1\nmission_report = false\n\n"
                                          "[[stations]]"))


def test_checkpoints_go_after_the_merge_unless_kept(quick_mission, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _cli(["run", str(quick_mission), "--out", str(out)], capsys)
    assert code == 0, err
    assert (out / "passes.nc").is_file() and not (out / store.CHECKPOINT_DIR).exists()
    # the link-budget plot and `satqkd plot --pass` read passes.nc
    assert list((out / "plots").glob("*_link_budget.png"))
    code, stdout, err = _cli(["plot", str(out), "--pass", "0"], capsys)
    assert code == 0, err
    assert list((out / "plots").glob("*_pass.png"))

    kept = tmp_path / "kept"
    code, _, err = _cli(["run", str(quick_mission), "--out", str(kept), "--keep-checkpoints"],
                        capsys)
    assert code == 0, err
    (journal,) = (kept / store.CHECKPOINT_DIR).glob("*" + store.JOURNAL_SUFFIX)
    (record,) = store.journal_records(journal)
    from_ckpt = store.read_checkpoint(kept, record.meta["pass_id"])
    with xr.open_dataset(kept / "passes.nc") as ds:
        merged = pass_from_ragged(ds, 0)
    for name in ("elevation", "transmittance", "sifted_counts"):
        assert np.array_equal(from_ckpt[name].values, merged[name].values), name
    assert from_ckpt.attrs["secret_bits"] == merged.attrs["secret_bits"]


def test_out_onto_another_missions_folder_needs_force(quick_mission, tmp_path, capsys):
    out = tmp_path / "theirs"
    (out / "plots").mkdir(parents=True)
    (out / "plots" / "old_pass.png").write_bytes(b"png")
    (out / "notes.txt").write_text("not a run output")
    (out / "run.json").write_text(json.dumps({"mission": "year-4-stations"}))
    code, _, err = _cli(["run", str(quick_mission), "--out", str(out)], capsys)
    # stderr also carries the plain progress lines of the stages before the check
    lines = [ln for ln in err.strip().splitlines() if "error" in ln]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for words in (str(out), "'year-4-stations'", "'micius-2016-12-19'", "--force"):
        assert words in lines[0], (words, lines[0])
    assert json.loads((out / "run.json").read_text())["mission"] == "year-4-stations"
    assert (out / "plots" / "old_pass.png").exists() and not (out / "passes.csv").exists()

    code, _, err = _cli(["run", str(quick_mission), "--out", str(out), "--force"], capsys)
    assert code == 0, err
    assert json.loads((out / "run.json").read_text())["mission"] == "micius-2016-12-19"
    assert not (out / "plots" / "old_pass.png").exists()  # the other run's outputs went
    assert (out / "notes.txt").read_text() == "not a run output"  # nothing else did
    # the same mission may write its own folder again
    code, _, err = _cli(["run", str(quick_mission), "--out", str(out)], capsys)
    assert code == 0, err


def test_relay_takes_the_run_folder_options():
    """`satqkd relay` has --resume (its Ctrl-C hint names it), --keep-checkpoints, --force."""
    import inspect

    from satqkd.network.relay_run import run_relay

    params = inspect.signature(run_relay).parameters
    assert {"resume", "keep_checkpoints", "force"} <= set(params)
    text = cli.relay.__doc__ or ""
    assert "relay" in text
    opts = {p.default.param_decls[0] for p in inspect.signature(cli.relay).parameters.values()
            if hasattr(p.default, "param_decls") and p.default.param_decls}
    assert {"--resume", "--keep-checkpoints", "--force"} <= opts
