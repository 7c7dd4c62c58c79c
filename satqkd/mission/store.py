"""Pass-by-pass checkpoints and the streamed mission file ``passes.nc``.

Each finished pass is written at once to ``<out>/passes/<pass_id>.ckpt`` (temporary
file, then rename), so a killed run loses at most the passes in flight and
``--resume`` recomputes nothing that finished. At the end the checkpoints are copied,
a batch of passes at a time, into the CF contiguous ragged ``passes.nc`` (layout in
:mod:`satqkd.ragged`): memory stays bounded whatever the mission length. Once the run
is complete the checkpoints duplicate ``passes.nc`` and are deleted (``satqkd run
--keep-checkpoints`` keeps them); everything afterwards reads ``passes.nc``.

A checkpoint is the pass's dataset, CF-encoded (times as int64 nanoseconds with ``units``,
booleans as int8 with ``dtype = "bool"``, as xarray encodes them) and stored as one
file: the magic ``SATQKDCK``, the length of a JSON header (little-endian uint64), the
header (dimension sizes, attributes, and each variable's dims, attributes, dtype, shape
and byte offset), then the variables' raw bytes. :func:`read_checkpoint` decodes it back
to the identical dataset. A pass is written and read in well under a millisecond this
way, against ~150 ms to write it through an HDF5 library: over a year's thousands of
passes that was most of a mission's budget.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import h5netcdf
import h5py
import numpy as np
import xarray as xr

from satqkd.mission import cf
from satqkd.mission.io import atomic_path

CHECKPOINT_DIR = "passes"

CHECKPOINT_SUFFIX = ".ckpt"
_MAGIC = b"SATQKDCK"


def checkpoint_path(out_dir: Path, pass_id: str) -> Path:
    from satqkd.paths import child

    return child(Path(out_dir) / CHECKPOINT_DIR, f"{pass_id}{CHECKPOINT_SUFFIX}")


def _plain(value):
    """An attribute as the JSON value reading it back gives (numpy scalars and arrays to
    Python ones, tuples to lists)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


_INT32 = np.iinfo(np.int32)


def _narrow(values: np.ndarray) -> tuple[np.ndarray, str | None]:
    """64-bit integers stored as 32-bit when they fit (counts per second do), with the
    dtype to restore on reading: a checkpoint of a pass is a quarter smaller, and writing
    it cost more than simulating a pass in daylight."""
    if values.dtype.kind in "iu" and values.dtype.itemsize == 8 and values.size and (
            _INT32.min <= values.min() and values.max() <= _INT32.max):
        return values.astype(np.int32), values.dtype.str
    return values, None


_NS_SINCE_EPOCH = ("nanoseconds since 1970-01-01T00:00:00", "proleptic_gregorian")


def _encode(v: xr.Variable) -> tuple[np.ndarray, dict]:
    """CF encoding of one variable, as xarray's ``cf_encoder`` would for these dtypes.

    Times become int64 nanoseconds since the epoch with ``units`` and ``calendar``,
    booleans int8 with ``dtype = "bool"``; numbers are stored as they are. (xarray's own
    encoder costs ~7 ms a pass, as much as simulating a pass in daylight.)
    """
    values = np.ascontiguousarray(v.values)
    attrs = dict(v.attrs)
    if values.dtype.kind == "M":
        values = values.astype("datetime64[ns]").view(np.int64)
        attrs.update(units=_NS_SINCE_EPOCH[0], calendar=_NS_SINCE_EPOCH[1])
    elif values.dtype.kind == "b":
        values = values.astype(np.int8)
        attrs["dtype"] = "bool"
    return values, attrs


def encode_checkpoint(result: xr.Dataset, config_sha256: str) -> bytes:
    """The bytes of a pass's checkpoint file (layout in the module docstring)."""
    return encode_checkpoint_meta(result, config_sha256)[0]


def encode_checkpoint_meta(result: xr.Dataset, config_sha256: str
                           ) -> tuple[bytes, dict, int]:
    """The bytes of a pass's checkpoint file, its header as :func:`checkpoint_meta` reads
    it back, and the offset of its body (see :func:`remember_checkpoint`)."""
    attrs = {**result.attrs, "config_sha256": config_sha256}
    meta: dict = {"sizes": dict(result.sizes), "attrs": {k: _plain(v) for k, v in attrs.items()},
                  "variables": {}}
    blobs, offset = [], 0
    for name, v in result.variables.items():
        values, v_attrs = _encode(v)
        if values.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint variable {name!r} has dtype {values.dtype}")
        values, decoded = _narrow(values)
        info = {"dims": list(v.dims), "dtype": values.dtype.str, "shape": list(values.shape),
                "offset": offset, "attrs": {k: _plain(a) for k, a in v_attrs.items()}}
        if decoded is not None:
            info["decoded_dtype"] = decoded
        meta["variables"][name] = info
        blobs.append(values.tobytes())
        offset += values.nbytes
    header = json.dumps(meta).encode()
    return (b"".join([_MAGIC, np.uint64(len(header)).astype("<u8").tobytes(), header, *blobs]),
            meta, 16 + len(header))


def remember_checkpoint(out_dir: Path, pass_id: str, meta: dict, body_offset: int) -> None:
    """Note the header of a checkpoint just written (by this process or a local worker),
    so that closing the blocks and merging do not parse it again."""
    path = str(checkpoint_path(out_dir, pass_id))
    st = os.stat(path)
    _META_CACHE[path] = ((st.st_mtime_ns, st.st_size), meta, body_offset)


def write_checkpoint_bytes(out_dir: Path, pass_id: str, data: bytes) -> Path:
    """Write an encoded checkpoint atomically (temporary file, then rename)."""
    path = checkpoint_path(out_dir, pass_id)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_checkpoint(out_dir: Path, result: xr.Dataset, config_sha256: str) -> Path:
    """Write one pass's result dataset (dim ``time``, scalars in attrs) atomically."""
    return write_checkpoint_bytes(out_dir, result.attrs["pass_id"],
                                  encode_checkpoint(result, config_sha256))


def _parse(raw: bytes, path: Path) -> tuple[dict, memoryview]:
    if raw[:8] != _MAGIC:
        raise ValueError(f"{path}: not a satqkd checkpoint")
    size = int(np.frombuffer(raw, "<u8", 1, 8)[0])
    return json.loads(raw[16:16 + size]), memoryview(raw)[16 + size:]


def _array(body: memoryview, info: dict, copy: bool = True) -> np.ndarray:
    """A variable's array as it was encoded (``copy`` False: as stored, a view)."""
    dtype = np.dtype(info["dtype"])
    count = math.prod(info["shape"])
    a = np.frombuffer(body, dtype, count, info["offset"]).reshape(info["shape"])
    if not copy:
        return a
    return a.astype(info["decoded_dtype"]) if "decoded_dtype" in info else a.copy()


#: Parsed headers, keyed by path and checked against the file's size and modification
#: time: closing the blocks and merging read every header, and parsing them was a good
#: part of writing a year's ``passes.nc``. :func:`merge_checkpoints` empties it.
_META_CACHE: dict[str, tuple[tuple[int, int], dict, int]] = {}


def _meta_and_offset(path: Path) -> tuple[dict, int]:
    """A checkpoint's header and the offset of its body."""
    key = str(path)
    st = os.stat(key)
    stamp = (st.st_mtime_ns, st.st_size)
    hit = _META_CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1], hit[2]
    with open(key, "rb") as fh:
        head = fh.read(16)
        if head[:8] != _MAGIC or len(head) < 16:
            raise ValueError(f"{path}: not a satqkd checkpoint")
        size = int(np.frombuffer(head, "<u8", 1, 8)[0])
        meta = json.loads(fh.read(size))
    _META_CACHE[key] = (stamp, meta, 16 + size)
    return meta, 16 + size


def checkpoint_meta(path: Path) -> dict:
    """A checkpoint's header: dimension sizes, attributes and the variables' layout."""
    return _meta_and_offset(path)[0]


def _read_body_arrays(path: Path, copy: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """Header and variables of a checkpoint, the header parsed once per file version."""
    meta, offset = _meta_and_offset(path)
    with open(path, "rb") as fh:
        fh.seek(offset)
        body = memoryview(fh.read())
    return meta, {name: _array(body, info, copy) for name, info in meta["variables"].items()}


def read_checkpoint_arrays(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A checkpoint's header and its variables as CF-encoded arrays (one file read)."""
    meta, body = _parse(Path(path).read_bytes(), path)
    return meta, {name: _array(body, info) for name, info in meta["variables"].items()}


def read_checkpoint(path: Path) -> xr.Dataset:
    """The pass dataset stored in a checkpoint, decoded (CF) exactly as it was written."""
    meta, arrays = read_checkpoint_arrays(path)
    variables = {name: xr.Variable(info["dims"], arrays[name], info["attrs"])
                 for name, info in meta["variables"].items()}
    ds = xr.conventions.decode_cf(xr.Dataset(variables, attrs=meta["attrs"]))
    ds.attrs.pop("config_sha256", None)
    return ds


#: What runs write into their folder: all ``--force`` clears there, and nothing else.
RUN_OUTPUTS = (CHECKPOINT_DIR, "plots", "keys", "relay_keys", "passes.nc", "passes.csv", "run.json",
               "summary.nc", "report.md", "report.html", "network.nc", "network_report.md")


def claim_out_dir(out_dir: Path, mission_name: str, force: bool = False) -> None:
    """Refuse an output folder that holds another mission's run, unless ``force``.

    The folder's ``run.json`` names the mission it belongs to. The same mission may
    write there again (an edited configuration replaces its outputs); another mission
    would leave a folder mixing two runs. With ``force`` the other run's outputs
    (:data:`RUN_OUTPUTS`) are deleted first, and nothing else in the folder.
    """
    from satqkd.errors import InputError

    out_dir = Path(out_dir)
    info = out_dir / "run.json"
    if not info.is_file():
        return
    try:
        other = json.loads(info.read_text(encoding="utf-8")).get("mission")
    except (OSError, ValueError, AttributeError):
        other = None  # unreadable: whose it is cannot be told, so it is not ours
    if other == mission_name:
        return
    if not force:
        raise InputError(
            f"{out_dir}: holds the run of mission {other!r} (run.json), not "
            f"{mission_name!r}; give another --out folder, or --force to replace that run")
    for name in RUN_OUTPUTS:
        target = out_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


def remove_stale_temporaries(out_dir: Path) -> None:
    """Delete the temporary files a killed run left behind (never a complete file)."""
    for folder in (Path(out_dir), *(Path(out_dir) / d for d in (
            CHECKPOINT_DIR, "plots", "keys", "relay_keys"))):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)


def checkpoint_hashes(out_dir: Path) -> set[str]:
    """The configuration hashes of the complete checkpoints in ``out_dir``."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    found: set[str] = set()
    if folder.is_dir():
        for path in folder.glob(f"*{CHECKPOINT_SUFFIX}"):
            if path.name.startswith("."):
                continue
            try:
                found.add(str(checkpoint_meta(path)["attrs"].get("config_sha256")))
            except (OSError, ValueError, KeyError):
                continue  # unreadable: recomputed
    return found


def finished_passes(out_dir: Path, config_sha256: str) -> set[str]:
    """Pass ids with a complete checkpoint made with the same configuration."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    done = set()
    if not folder.is_dir():
        return done
    for path in folder.glob(f"*{CHECKPOINT_SUFFIX}"):
        if path.name.startswith("."):
            continue  # a temporary file left by a killed process
        try:
            if checkpoint_meta(path)["attrs"].get("config_sha256") == config_sha256:
                done.add(path.stem)
        except (OSError, ValueError, KeyError):
            continue  # unreadable: recompute
    return done


def merge_checkpoints(
    out_dir: Path, pass_ids: Sequence[str], target: Path, global_attrs: dict,
    overrides: dict[str, dict] | None = None,
    intensities: list[list[float]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Stream per-pass checkpoints, in order, into one ragged ``passes.nc`` (CF-1.8).

    The file is a CF contiguous ragged array of trajectories (metadata from
    :mod:`satqkd.mission.cf`); ``intensities`` (each satellite's mean photon numbers)
    label the ``intensity`` dimension; ``progress(done, total)`` is called after each
    batch of passes; ``overrides`` maps a pass id to scalars that replace its
    checkpoint's (the results of a pooled finite-key block, known only once the block
    closes). Returns the passes' scalars (as :func:`read_checkpoints`), read on the way.
    """
    paths = [checkpoint_path(out_dir, pid) for pid in pass_ids]
    metas = [checkpoint_meta(p) for p in paths]
    expected = global_attrs.get("config_sha256")
    for p, m in zip(paths, metas):
        if expected is not None and m["attrs"].get("config_sha256") != expected:
            from satqkd.errors import InputError

            raise InputError(f"{p}: made with another configuration than this run's; the "
                             "folder mixes two runs: rerun without --resume")
    sizes = [int(m["sizes"].get("time", 0)) for m in metas]
    scalars = [_scalars(m["attrs"]) for m in metas]
    if overrides:
        for pid, row in zip(pass_ids, scalars):
            row.update(overrides.get(pid, {}))
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    with atomic_path(target) as tmp, h5netcdf.File(tmp, "w") as out:
        out.dimensions = {"pass": len(paths), "sample": int(offsets[-1])}
        out.attrs.update({"Conventions": cf.CONVENTIONS, "featureType": "trajectory",
                          **global_attrs})
        _write_pass_table(out, scalars)
        rs = out.create_variable("row_size", ("pass",), np.int32)
        rs[:] = np.asarray(sizes, dtype=np.int32)
        rs.attrs.update(cf.pass_variable_attrs("row_size"))
        k_first = next((k for k, n in enumerate(sizes) if n), None)
        first = None if k_first is None else _read_body_arrays(paths[k_first])
        schema = _sample_schema(None if first is None else first[0])
        coordinates = " ".join(c for c in ("time", "lat", "lon", "altitude") if c in schema)
        for name, (dims, shape, dtype, attrs) in schema.items():
            for d, n in zip(dims, shape):
                if d not in out.dimensions:
                    out.dimensions[d] = n
                    _write_category(out, d, n, first, intensities)
            v = out.create_variable(name, ("sample",) + dims, dtype, fillvalue=_fill(dtype))
            v.attrs.update(cf.sample_variable_attrs(name, attrs, coordinates))
        # Passes are written in batches of about BATCH_SAMPLES samples: few, large
        # writes; bounded memory.
        batch: dict[str, list[np.ndarray]] = {name: [] for name in schema}

        def flush(start: int, count: int) -> None:
            for name, parts in batch.items():
                values = np.concatenate(parts)
                if schema[name][2] == np.int32 and values.size and (
                        values.max() > _INT32_MAX or values.min() < -_INT32_MAX):
                    raise OverflowError(f"passes.nc: {name} exceeds the int32 range")
                out.variables[name][start:start + count] = values
                parts.clear()

        start = 0
        pending = 0
        for i, p in enumerate(paths):
            if sizes[i] == 0:
                continue
            _, arrays = _read_body_arrays(p, copy=False)  # views: concatenated below
            for name in schema:
                if name == "time":
                    tattrs = metas[i]["variables"]["time"]["attrs"]
                    if (tattrs.get("units"), tattrs.get("calendar")) == _NS_SINCE_EPOCH:
                        t = arrays["time"]  # as _encode wrote it: ns since the epoch
                    else:
                        t = xr.coding.times.decode_cf_datetime(
                            arrays["time"], tattrs["units"], tattrs.get("calendar"))
                    batch[name].append(t.astype("datetime64[ns]").astype(np.int64) / 1e9)
                else:
                    batch[name].append(arrays[name])
            pending += sizes[i]
            if pending >= BATCH_SAMPLES or i == len(paths) - 1:
                flush(start, pending)
                start += pending
                pending = 0
                if progress:
                    progress(i + 1, len(paths))
        if pending:
            flush(start, pending)
    if progress:
        progress(len(paths), len(paths))
    for p in paths:
        _META_CACHE.pop(str(p), None)
    return scalars


_INT32_MAX = np.iinfo(np.int32).max


def _write_category(out: h5netcdf.File, dim: str, n: int,
                    first: tuple[dict, dict[str, np.ndarray]] | None,
                    intensities: list[list[float]] | None) -> None:
    """The coordinate variable that labels a categorical dimension of the sample data."""
    if dim == "intensity":
        values, attrs = cf.intensity_coordinate(intensities, n)
    elif dim in cf.CATEGORIES and len(cf.CATEGORIES[dim][0]) == n:
        values, attrs = cf.CATEGORIES[dim]
    elif first is not None and dim in first[1]:  # a stage's own coordinate (subslot)
        info, values = first[0]["variables"][dim], first[1][dim]
        attrs = {k: a for k, a in info["attrs"].items() if k != "_FillValue"}
        attrs["units"] = cf.cf_units(str(attrs.get("units", "1")))
        attrs.setdefault("long_name", dim)
    else:
        values, attrs = np.arange(n, dtype=np.int32), {"units": "1", "long_name": f"{dim} index"}
    v = out.create_variable(dim, (dim,), np.asarray(values).dtype)
    v[:] = values
    v.attrs.update(attrs)


#: samples buffered before a write while merging checkpoints
BATCH_SAMPLES = 200_000


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _sample_schema(meta: dict | None) -> dict[str, tuple]:
    """Per-sample variables of the checkpoints: name -> (extra dims, their sizes, dtype, attrs)."""
    schema: dict[str, tuple] = {
        "time": ((), (), np.float64, dict(cf.TIME_ATTRS))}
    if meta is None:
        return schema
    for name, var in meta["variables"].items():
        if name == "time" or var["dims"][:1] != ["time"]:
            continue
        attrs = {k: a for k, a in var["attrs"].items() if k != "_FillValue"}
        dims = tuple(var["dims"][1:])
        dtype = np.dtype(var["dtype"])
        if dtype.kind in "USO":
            dtype = h5py.string_dtype()
        elif dtype.kind in "iu" and dtype.itemsize > 4:
            dtype = np.dtype(np.int32)  # CF-1.8 has no 64-bit integers; checked on write
        schema[name] = (dims, tuple(meta["sizes"][d] for d in dims), dtype, attrs)
    return schema


def _fill(dtype) -> object:
    if dtype is np.int8 or (isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return None
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return np.nan
    return None


#: Per-pass ISO 8601 strings stored as CF times.
_TIME_COLUMNS = ("aos", "tca", "los", "tle_epoch")


def _write_pass_table(out: h5netcdf.File, rows: list[dict]) -> None:
    names: list[str] = []
    for row in rows:
        for k in row:
            if k not in names:
                names.append(k)
    for name in names:
        column = [row.get(name) for row in rows]
        sample = next((c for c in column if c is not None), None)
        text = False
        if name in _TIME_COLUMNS and isinstance(sample, str):
            values = np.array([np.datetime64(str(c).rstrip("Z"), "ns") if c else
                               np.datetime64("NaT") for c in column], dtype="datetime64[ns]")
            seconds = values.astype(np.int64) / 1e9
            values = np.where(np.isnat(values), np.nan, seconds)
            v = out.create_variable(name, ("pass",), np.float64, fillvalue=np.nan)
        elif isinstance(sample, (str, bytes)):
            values = np.array(["" if c is None else str(c) for c in column], dtype=object)
            v = out.create_variable(name, ("pass",), h5py.string_dtype())
            text = True
        elif isinstance(sample, (bool, np.bool_)):
            values = np.array([bool(c) for c in column], dtype=np.int8)
            v = out.create_variable(name, ("pass",), np.int8)
            v.attrs["dtype"] = "bool"
        elif isinstance(sample, (int, np.integer)):
            values = np.array([0 if c is None else int(c) for c in column], dtype=np.int64)
            dtype = cf.integer_dtype(values)
            flags = "flag_values" in cf.pass_variable_attrs(name)
            dtype = np.dtype(np.int8) if flags else dtype
            values = values.astype(dtype)
            v = out.create_variable(name, ("pass",), dtype,
                                    fillvalue=np.nan if dtype.kind == "f" else None)
        else:
            values = np.array([np.nan if c is None else float(c) for c in column])
            v = out.create_variable(name, ("pass",), np.float64, fillvalue=np.nan)
        if len(values):
            v[:] = values
        v.attrs.update(cf.pass_variable_attrs(name, text=text))


def read_checkpoints(out_dir: Path, pass_ids: Iterable[str]) -> list[dict]:
    """Per-pass scalars (checkpoint attributes), in the given order."""
    rows = []
    for pid in pass_ids:
        rows.append(_scalars(checkpoint_meta(checkpoint_path(out_dir, pid))["attrs"]))
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
