"""The cheap per-pass constructions give exactly what the general ones give."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import xarray as xr

from satqkd.datasets import build_dataset, dataset_from_state, dataset_state, extend_dataset
from satqkd.engine.counts import _pattern_probabilities
from satqkd.orbit.geometry import _ROWS_PER_PRODUCT, rotate_rows
from satqkd.ragged import PassCutter, ragged_dataset


def _pass(n: int = 50) -> xr.Dataset:
    rng = np.random.default_rng(3)
    t = np.datetime64("2025-01-01T00:00:00", "ns") + np.arange(n) * np.timedelta64(1, "s")
    data = {f"v{i}": ("time", rng.random(n), {"units": "1", "long_name": f"v{i}"})
            for i in range(5)}
    data["flag"] = ("time", rng.random(n) > 0.5, {"units": "1"})
    return xr.Dataset(data, coords={"time": ("time", t, {"long_name": "time (UTC)"})},
                      attrs={"pass_id": "p0", "norad_id": 7})


def test_build_dataset_is_the_public_constructor():
    ref = _pass()
    data = {k: (v.dims, v.values, v.attrs) for k, v in ref.data_vars.items()}
    coords = {"time": ("time", ref["time"].values, ref["time"].attrs)}
    got = build_dataset(data, coords, ref.attrs)
    xr.testing.assert_identical(got, ref)
    assert list(got.variables) == list(ref.variables)
    assert list(got.xindexes) == ["time"]


def test_extend_dataset_is_assign():
    base = _pass()
    n = base.sizes["time"]
    new = {"w": ("time", np.arange(n), {"units": "1"}),
           "counts": (("time", "intensity"), np.ones((n, 3), np.int64), {"units": "1"})}
    ref = base.assign(new)
    got = extend_dataset(base, new)
    xr.testing.assert_identical(got, ref)
    assert list(got.variables) == list(ref.variables)
    got["v0"].attrs["changed"] = 1  # its own attributes, as assign's shallow copy
    assert "changed" not in base["v0"].attrs
    try:
        extend_dataset(base, {"bad": ("time", np.zeros(n + 1))})
    except ValueError as exc:
        assert "time" in str(exc)
    else:
        raise AssertionError("a wrong length must be refused")


def test_dataset_state_round_trip_and_pickle():
    ds = _pass()
    back = dataset_from_state(pickle.loads(pickle.dumps(dataset_state(ds))))
    xr.testing.assert_identical(back, ds)
    assert list(back.variables) == list(ds.variables)


def test_pass_cutter_cuts_the_ragged_rows():
    sizes = [3, 0, 5]
    t = np.datetime64("2025-01-01", "ns") + np.arange(8) * np.timedelta64(1, "s")
    table = {"pass_id": np.array(["a", "b", "c"], dtype=object),
             "aos": np.array(t[[0, 3, 3]]), "max_elevation_deg": np.array([10.0, 20.0, 30.0])}
    ds = ragged_dataset(table, np.array(sizes), t, {
        "elevation": (np.arange(8.0), {"units": "deg"}),
        "counts": (np.arange(24).reshape(8, 3), {"units": "1"}, ("intensity",))})
    for load in (True, False):
        cut = PassCutter(ds, load=load)
        for i, (a, b) in enumerate([(0, 3), (3, 3), (3, 8)]):
            p = cut.dataset(i)
            np.testing.assert_array_equal(p["elevation"].values, np.arange(8.0)[a:b])
            np.testing.assert_array_equal(p["counts"].values, np.arange(24).reshape(8, 3)[a:b])
            np.testing.assert_array_equal(p["time"].values, t[a:b])
            assert p.attrs["pass_id"] == "abc"[i]
            assert p.attrs["max_elevation_deg"] == [10.0, 20.0, 30.0][i]
            assert isinstance(p.attrs["aos"], str) and p.attrs["aos"].endswith("Z")
            assert list(p.xindexes) == ["time"]


def test_pattern_probabilities_are_the_product_over_detectors():
    rng = np.random.default_rng(5)
    bits = (np.arange(16)[:, None] >> np.arange(4)[None, :]) & 1
    for n in (1, 9, 301):
        la = -rng.exponential(1.0, (n, 4)) * rng.choice([1e-7, 1e-3, 1.0, 30.0], (n, 4))
        off, on = np.exp(la), -np.expm1(la)
        ref = np.prod(np.where(bits[None] == 1, on[:, None, :], off[:, None, :]), axis=2)
        assert np.array_equal(_pattern_probabilities(off, on), ref)  # bit for bit


def test_rotate_rows_is_the_matrix_product():
    rng = np.random.default_rng(8)
    r = rng.normal(size=(2 * _ROWS_PER_PRODUCT + 17, 3)) * 7000.0
    m = rng.normal(size=(3, 3))
    assert np.array_equal(rotate_rows(r, m.T), r @ m.T)
    assert np.array_equal(rotate_rows(r[:10], m), r[:10] @ m)


def test_pass_task_travels_as_packed_arrays():
    from satqkd.mission.tasks import PassTask

    ds = _pass()
    for geometry in (ds, dataset_state(ds)):
        back = pickle.loads(pickle.dumps(PassTask(geometry, None, 1, 2)))
        xr.testing.assert_identical(back.geometry, ds)
        assert (back.satellite_index, back.station_index) == (1, 2)
        np.testing.assert_array_equal(back.values("v3"), ds["v3"].values)


def test_checkpoint_header_handed_back_is_the_one_read(tmp_path):
    """The header a worker hands back (so that nothing parses it again) is what reading
    the file gives; 64-bit counts stored as 32-bit come back as they were."""
    import json

    from satqkd.mission import store

    ds = _pass(6)
    ds["counts"] = (("time", "intensity"), np.arange(18, dtype=np.int64).reshape(6, 3) * 7,
                    {"units": "1"})
    ds["big"] = ("time", np.full(6, 2**40, dtype=np.int64), {"units": "1"})  # no narrowing
    ds.attrs.update(pair=(1, 2), ratio=np.float64("nan"), n=np.int64(5), ok=np.bool_(True))
    data, meta, offset = store.encode_checkpoint_meta(ds, "sha")
    store.write_checkpoint_bytes(tmp_path, "p0", data)
    store._RECORDS.clear()
    read = store.checkpoint_meta(tmp_path, ds.attrs["pass_id"])
    assert json.dumps(meta, sort_keys=True) == json.dumps(read, sort_keys=True)
    assert read["variables"]["counts"]["dtype"] == "<i4"  # stored narrow
    assert read["variables"]["big"]["dtype"] == "<i8"
    back = store.read_checkpoint(tmp_path, ds.attrs["pass_id"])
    xr.testing.assert_identical(back[["counts", "big", "v0", "flag"]],
                                ds[["counts", "big", "v0", "flag"]])
    assert back["counts"].dtype == np.int64


def test_a_torn_journal_record_is_not_a_checkpoint(tmp_path):
    """A process killed while appending leaves a torn record: readers stop there, every
    complete record before it stays; a corrupted body fails its CRC the same way."""
    from satqkd.mission import store

    records = []
    for k in range(3):
        ds = _pass(5 + k)
        ds.attrs["pass_id"] = f"p{k}"
        records.append(store.write_checkpoint(tmp_path, ds, "sha"))
    path = records[0].path
    assert len({r.path for r in records}) == 1  # one journal per process
    store._RECORDS.clear()
    assert store.finished_passes(tmp_path, "sha") == {"p0", "p1", "p2"}
    for cut in (records[2].end - 1, records[2].start + 20, records[2].body + 3):
        raw = open(path, "rb").read()
        with open(path, "wb") as fh:
            fh.write(raw[:cut])
        store._RECORDS.clear()
        assert store.finished_passes(tmp_path, "sha") == {"p0", "p1"}, cut
        with open(path, "wb") as fh:
            fh.write(raw)
    raw = bytearray(open(path, "rb").read())
    raw[records[1].body + 2] ^= 0xFF  # one flipped byte in p1's body
    with open(path, "wb") as fh:
        fh.write(bytes(raw))
    store._RECORDS.clear()
    assert store.finished_passes(tmp_path, "sha") == {"p0"}
    xr.testing.assert_identical(store.read_checkpoint(tmp_path, "p0")[["v0", "flag"]],
                                _pass(5)[["v0", "flag"]])


def test_a_failed_append_leaves_no_torn_record(tmp_path, monkeypatch):
    """Disk full in the middle of an append: the journal is cut back to its last record."""
    import errno
    import os

    from satqkd.mission import store

    first = store.write_checkpoint(tmp_path, _pass(4), "sha")
    real_write = os.write

    def half(fd, data):
        real_write(fd, bytes(data[:len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "write", half)
    ds = _pass(6)
    ds.attrs["pass_id"] = "p1"
    with pytest.raises(OSError):
        store.write_checkpoint(tmp_path, ds, "sha")
    monkeypatch.setattr(store.os, "write", real_write)
    assert os.path.getsize(first.path) == first.end
    again = store.write_checkpoint(tmp_path, ds, "sha")
    store._RECORDS.clear()
    assert again.start == first.end and store.finished_passes(tmp_path, "sha") == {"p0", "p1"}


def test_extend_without_copy_takes_the_variables_over():
    """copy=False gives the same dataset as the default, on the base's own Variables."""
    base = _pass(7)
    new = {"extra": ("time", np.arange(7.0), {"units": "1"})}
    copied, taken = extend_dataset(base, new), extend_dataset(base, new, copy=False)
    xr.testing.assert_identical(copied, taken)
    assert taken.variables["v0"] is base.variables["v0"]
    assert copied.variables["v0"] is not base.variables["v0"]


def test_variables_made_directly_are_the_constructors():
    """The direct construction (used when this xarray's Variable has exactly the known
    slots) gives Variables identical to the public constructor's, shallow copies too."""
    from satqkd import datasets

    for values in (np.arange(5.0), np.arange(10, dtype=np.int64).reshape(5, 2),
                   np.array([True, False, True, True, False])):
        dims = ("time",) if values.ndim == 1 else ("time", "intensity")
        ref = xr.Variable(dims, values, {"units": "1", "long_name": "x"})
        made = datasets.variable((dims, values, {"units": "1", "long_name": "x"}))
        assert type(made) is xr.Variable and made.identical(ref) and made.dtype == ref.dtype
        copy = datasets._shallow(made)
        assert copy.identical(ref) and copy is not made and copy.attrs is not made.attrs
    assert datasets._RAW_VARIABLES == datasets._raw_variables_match()


@pytest.mark.parametrize("batch", [65_536, 1])  # 1: a write after every pass
def test_passes_written_while_running_equal_the_merge_at_the_end(tmp_path, monkeypatch, batch):
    """passes.nc written pass by pass as checkpoints arrive (sizes known beforehand, out
    of order), merged at the end, or laid out with a wrong size (caught, written afresh):
    the same file contents each time; no temporary file left behind."""
    from satqkd.mission import store

    monkeypatch.setattr(store, "BATCH_SAMPLES", batch)
    sizes = [5, 0, 7, 3]
    records = {}
    for k, n in enumerate(sizes):
        ds = _pass(n)
        ds.attrs.update(pass_id=f"p{k}", secret_bits=10 * k)
        records[f"p{k}"] = store.write_checkpoint(tmp_path, ds, "sha")
    ids = list(records)
    attrs = {"config_sha256": "sha", "title": "t"}

    ref = tmp_path / "merged.nc"
    store.merge_checkpoints(tmp_path, ids, ref, attrs)
    outputs = {}
    for name, layout in (("running.nc", sizes), ("wrong.nc", [5, 0, 6, 4])):
        writer = store.PassesWriter(tmp_path, tmp_path / name, ids, attrs, layout)
        for pid in ("p2", "p0", "p3", "p1"):  # finished out of order
            writer.add(pid, records[pid])
            writer.advance()
        if layout == sizes:
            assert writer.cursor == 4  # all copied before finish
        rows = writer.finish({"p1": {"secret_bits": 99}})
        assert [r["secret_bits"] for r in rows] == [0, 99, 20, 30]
        outputs[name] = tmp_path / name
    with xr.open_dataset(ref) as a:
        for path in outputs.values():
            with xr.open_dataset(path) as b:
                assert set(a.variables) == set(b.variables)
                for v in a.variables:
                    if v == "secret_bits":
                        assert b[v].values.tolist() == [0, 99, 20, 30]
                    else:
                        assert a[v].variable.identical(b[v].variable), v
    assert not list(tmp_path.glob(".*.tmp"))
