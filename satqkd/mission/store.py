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
            with h5netcdf.File(path, "r") as f:
                if f.attrs.get("config_sha256") == config_sha256:
                    done.add(path.stem)
        except OSError:
            continue  # unreadable: recompute
    return done


def _nc_dtype(values: np.ndarray) -> tuple[object, dict]:
    if values.dtype == bool:
        return np.int8, {"dtype": "bool"}
    if values.dtype.kind in "US":
        return h5py.string_dtype(), {}
    return values.dtype, {}


def merge_checkpoints(
    out_dir: Path, pass_ids: Sequence[str], target: Path, global_attrs: dict
) -> None:
    """Stream per-pass checkpoints, in order, into one ragged ``passes.nc``."""
    paths = [checkpoint_path(out_dir, pid) for pid in pass_ids]
    sizes, scalars = [], []
    for p in paths:
        with h5netcdf.File(p, "r") as f:
            sizes.append(f.dimensions["time"].size)
            scalars.append({k: v for k, v in f.attrs.items() if k != "config_sha256"})
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    with atomic_path(target) as tmp, h5netcdf.File(tmp, "w") as out:
        out.dimensions = {"pass": len(paths), "sample": int(offsets[-1])}
        out.attrs.update({"Conventions": "CF-1.8", "featureType": "trajectory", **global_attrs})
        _write_pass_table(out, scalars)
        rs = out.create_variable("row_size", ("pass",), np.int64)
        rs[:] = np.asarray(sizes, dtype=np.int64)
        rs.attrs.update({"long_name": "number of per-second samples of each pass",
                         "sample_dimension": "sample"})
        created: set[str] = set()
        for i, p in enumerate(paths):
            if sizes[i] == 0:
                continue
            with xr.open_dataset(p, engine="h5netcdf") as ds:
                ds = ds.load()
            sl = slice(int(offsets[i]), int(offsets[i + 1]))
            t = (ds["time"].values.astype("datetime64[ns]").astype(np.int64) / 1e9)
            if "time" not in created:
                v = out.create_variable("time", ("sample",), np.float64)
                v.attrs.update({"units": "seconds since 1970-01-01 00:00:00",
                                "calendar": "proleptic_gregorian", "long_name": "time (UTC)",
                                "standard_name": "time"})
                created.add("time")
            out.variables["time"][sl] = t
            for name, var in ds.data_vars.items():
                if var.dims[:1] != ("time",):
                    continue
                values = var.values
                if name not in created:
                    extra = var.dims[1:]
                    for d in extra:
                        if d not in out.dimensions:
                            out.dimensions[d] = ds.sizes[d]
                    dtype, extra_attrs = _nc_dtype(values)
                    v = out.create_variable(name, ("sample",) + extra, dtype,
                                            fillvalue=_fill(dtype))
                    v.attrs.update({**{k: a for k, a in var.attrs.items()}, **extra_attrs})
                    created.add(name)
                target_var = out.variables[name]
                if values.dtype == bool:
                    values = values.astype(np.int8)
                target_var[sl] = values


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
        with h5netcdf.File(checkpoint_path(out_dir, pid), "r") as f:
            rows.append({k: (v.item() if hasattr(v, "item") else v)
                         for k, v in f.attrs.items() if k != "config_sha256"})
    return rows
