"""Pass-by-pass checkpoints and the streamed mission file ``passes.nc``.

Each finished pass is written at once to ``<out>/passes/<pass_id>.nc`` (temporary
file, then rename), so a killed run loses at most the passes in flight and
``--resume`` recomputes nothing that finished. At the end the checkpoints are copied,
one pass at a time, into the CF contiguous ragged ``passes.nc`` (layout in
:mod:`satqkd.ragged`): memory stays bounded by one pass whatever the mission length.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import h5netcdf
import h5py
import numpy as np
import xarray as xr

from satqkd.mission.io import atomic_path

CHECKPOINT_DIR = "passes"

#: CF attributes of the per-pass variables of ``passes.nc``.
PASS_ATTRS: dict[str, dict[str, str]] = {
    "pass_id": {"long_name": "pass identifier (NORAD id, station, AOS)", "cf_role": "trajectory_id"},
    "satellite": {"long_name": "satellite name"},
    "norad_id": {"long_name": "NORAD catalogue number"},
    "station": {"long_name": "ground station name"},
    "aos": {"long_name": "acquisition of signal (ISO 8601 UTC)"},
    "tca": {"long_name": "time of closest approach (ISO 8601 UTC)"},
    "los": {"long_name": "loss of signal (ISO 8601 UTC)"},
    "max_elevation_deg": {"units": "deg", "long_name": "maximum elevation of the pass"},
    "duration_s": {"units": "s", "long_name": "time from AOS to LOS"},
    "tle_epoch": {"long_name": "epoch of the element set used (ISO 8601 UTC)"},
    "tle_source": {"long_name": "file and line of the element set used"},
    "station_lat_deg": {"units": "degrees_north", "long_name": "station latitude (WGS84)"},
    "station_lon_deg": {"units": "degrees_east", "long_name": "station longitude (WGS84)"},
    "station_alt_m": {"units": "m", "long_name": "station altitude"},
}


def checkpoint_path(out_dir: Path, pass_id: str) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / f"{pass_id}.nc"


def write_checkpoint(out_dir: Path, result: xr.Dataset, config_sha256: str) -> Path:
    """Write one pass's result dataset (dim ``time``, scalars in attrs) atomically."""
    path = checkpoint_path(out_dir, result.attrs["pass_id"])
    ds = result.copy()
    ds.attrs["config_sha256"] = config_sha256
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return path


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete the temporary files a killed run left behind (never a complete file)."""
    for folder in (Path(out_dir), Path(out_dir) / CHECKPOINT_DIR):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def finished_passes(out_dir: Path, config_sha256: str) -> set[str]:
    """Pass ids with a complete checkpoint made with the same configuration."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    done = set()
    if not folder.is_dir():
        return done
    for path in folder.glob("*.nc"):
        if path.name.startswith("."):
            continue  # a temporary file left by a killed process
        try:
            with h5py.File(path, "r") as f:
                if _text(f.attrs.get("config_sha256")) == config_sha256:
                    done.add(path.stem)
        except OSError:
            continue  # unreadable: recompute
    return done


def merge_checkpoints(
    out_dir: Path, pass_ids: Sequence[str], target: Path, global_attrs: dict
) -> None:
    """Stream per-pass checkpoints, in order, into one ragged ``passes.nc``."""
    paths = [checkpoint_path(out_dir, pid) for pid in pass_ids]
    sizes, scalars = [], []
    for p in paths:
        with h5py.File(p, "r") as f:
            sizes.append(int(f["time"].shape[0]))
            scalars.append(_scalars(f.attrs))
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    with atomic_path(target) as tmp, h5netcdf.File(tmp, "w") as out:
        out.dimensions = {"pass": len(paths), "sample": int(offsets[-1])}
        out.attrs.update({"Conventions": "CF-1.8", "featureType": "trajectory", **global_attrs})
        _write_pass_table(out, scalars)
        rs = out.create_variable("row_size", ("pass",), np.int64)
        rs[:] = np.asarray(sizes, dtype=np.int64)
        rs.attrs.update({"long_name": "number of per-second samples of each pass",
                         "sample_dimension": "sample"})
        schema = _sample_schema([p for p, n in zip(paths, sizes) if n])
        for name, (dims, shape, dtype, attrs) in schema.items():
            for d, n in zip(dims, shape):
                if d not in out.dimensions:
                    out.dimensions[d] = n
            v = out.create_variable(name, ("sample",) + dims, dtype, fillvalue=_fill(dtype))
            v.attrs.update(attrs)
        # Passes are read with plain h5py (the checkpoints are HDF5) and written in
        # batches of about BATCH_SAMPLES samples: few, large writes; bounded memory.
        batch: dict[str, list[np.ndarray]] = {name: [] for name in schema}
        start = 0
        pending = 0
        for i, p in enumerate(paths):
            if sizes[i] == 0:
                continue
            with h5py.File(p, "r") as f:
                for name in schema:
                    if name == "time":
                        tv = f["time"]
                        t = xr.coding.times.decode_cf_datetime(
                            tv[...], _text(tv.attrs["units"]), _text(tv.attrs.get("calendar")))
                        batch[name].append(t.astype("datetime64[ns]").astype(np.int64) / 1e9)
                    else:
                        batch[name].append(f[name][...])
            pending += sizes[i]
            if pending >= BATCH_SAMPLES or i == len(paths) - 1:
                for name, parts in batch.items():
                    out.variables[name][start:start + pending] = np.concatenate(parts)
                    parts.clear()
                start += pending
                pending = 0
        if pending:
            for name, parts in batch.items():
                out.variables[name][start:start + pending] = np.concatenate(parts)


#: samples buffered before a write while merging checkpoints
BATCH_SAMPLES = 200_000


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _sample_schema(paths: list[Path]) -> dict[str, tuple]:
    """Per-sample variables of the checkpoints: name -> (extra dims, their sizes, dtype, attrs)."""
    schema: dict[str, tuple] = {
        "time": ((), (), np.float64, {"units": "seconds since 1970-01-01 00:00:00",
                                      "calendar": "proleptic_gregorian",
                                      "long_name": "time (UTC)", "standard_name": "time"})}
    if not paths:
        return schema
    with h5netcdf.File(paths[0], "r") as f:
        for name, var in f.variables.items():
            if name == "time" or var.dimensions[:1] != ("time",):
                continue
            attrs = {k: a for k, a in var.attrs.items() if k != "_FillValue"}
            dtype = np.int8 if attrs.get("dtype") == "bool" else var.dtype
            if np.dtype(dtype).kind in "USO":
                dtype = h5py.string_dtype()
            schema[name] = (var.dimensions[1:], var.shape[1:], dtype, attrs)
    return schema


def _fill(dtype) -> object:
    if dtype is np.int8 or (isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return None
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return np.nan
    return None


def _write_pass_table(out: h5netcdf.File, rows: list[dict]) -> None:
    names: list[str] = []
    for row in rows:
        for k in row:
            if k not in names:
                names.append(k)
    for name in names:
        column = [row.get(name) for row in rows]
        sample = next((c for c in column if c is not None), None)
        if isinstance(sample, (str, bytes)):
            values = np.array(["" if c is None else str(c) for c in column], dtype=object)
            v = out.create_variable(name, ("pass",), h5py.string_dtype())
        elif isinstance(sample, (bool, np.bool_)):
            values = np.array([bool(c) for c in column], dtype=np.int8)
            v = out.create_variable(name, ("pass",), np.int8)
            v.attrs["dtype"] = "bool"
        elif isinstance(sample, (int, np.integer)):
            values = np.array([0 if c is None else int(c) for c in column], dtype=np.int64)
            v = out.create_variable(name, ("pass",), np.int64)
        else:
            values = np.array([np.nan if c is None else float(c) for c in column])
            v = out.create_variable(name, ("pass",), np.float64, fillvalue=np.nan)
        if len(values):
            v[:] = values
        v.attrs.update(PASS_ATTRS.get(name, {}))


def read_checkpoints(out_dir: Path, pass_ids: Iterable[str]) -> list[dict]:
    """Per-pass scalars (checkpoint attributes), in the given order."""
    rows = []
    for pid in pass_ids:
        with h5py.File(checkpoint_path(out_dir, pid), "r") as f:
            rows.append(_scalars(f.attrs))
    return rows


def _scalars(attrs) -> dict:
    """A checkpoint's pass scalars as Python values (h5py gives bytes and numpy types)."""
    out = {}
    for k, v in attrs.items():
        if k == "config_sha256" or k.startswith("_NC"):
            continue
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, np.ndarray) and v.size == 1:
            v = v.item()
        elif hasattr(v, "item") and not isinstance(v, np.ndarray):
            v = v.item()
        out[k] = v
    return out
