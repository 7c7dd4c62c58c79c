"""Pass-by-pass checkpoints and the streamed mission file ``passes.nc``.

Each finished pass is appended at once, as one record, to its process's checkpoint
journal ``<out>/passes/<run token>-<pid>.ckpts`` (every process, the main one and each
local worker, appends to its own), so a killed run loses at most the passes in flight
and ``--resume`` recomputes nothing that finished. At the end the records are copied, a
batch of passes at a time, into the CF contiguous ragged ``passes.nc`` (layout in
:mod:`satqkd.ragged`): memory stays bounded whatever the mission length. Once the run
is complete the journals duplicate ``passes.nc`` and are deleted (``satqkd run
--keep-checkpoints`` keeps them); everything afterwards reads ``passes.nc``.

A record is the pass's dataset, CF-encoded (times as int64 nanoseconds with ``units``,
booleans as int8 with ``dtype = "bool"``, as xarray encodes them): the magic
``SATQKDCK``, the length of a JSON header (little-endian uint64), the header (pass id,
dimension sizes, attributes, each variable's dims, attributes, dtype, shape and byte
offset, and the body's length), the variables' raw bytes, then a trailer: the CRC-32 of
header and body (little-endian uint32) and ``CKOK``. :func:`read_checkpoint` decodes it
back to the identical dataset.

Why journals: creating a file costs 0.3-0.6 ms on an ext4 disk, more than simulating a
pass in daylight at the counts level, and deleting it again 0.1 ms; appending a record
to an open journal costs 0.01 ms. Why it is still safe: a record is complete only when
its trailer is there and its CRC matches. A process killed while appending leaves at
most one torn record at the end of its own journal; readers stop there (the pass is
recomputed on ``--resume``), and a failed append (disk full) is truncated away at once.
Nothing else in a journal is ever rewritten.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import h5netcdf
import h5py
import numpy as np
import xarray as xr

from satqkd.mission import cf

CHECKPOINT_DIR = "passes"

#: a checkpoint journal's suffix
JOURNAL_SUFFIX = ".ckpts"
_MAGIC = b"SATQKDCK"
_TRAILER = b"CKOK"


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
    """The bytes of a pass's checkpoint record (layout in the module docstring)."""
    return encode_checkpoint_meta(result, config_sha256)[0]


def encode_checkpoint_meta(result: xr.Dataset, config_sha256: str, pass_id: str | None = None
                           ) -> tuple[bytes, dict, int]:
    """The bytes of a pass's checkpoint record, its header as reading it gives it back,
    and the offset of its body within the record (see :func:`remember_checkpoint`).

    ``pass_id``: the record's key (default: the dataset's ``pass_id`` attribute).
    """
    attrs = {**result.attrs, "config_sha256": config_sha256}
    pid = str(pass_id if pass_id is not None else result.attrs["pass_id"])
    meta: dict = {"pass_id": pid, "sizes": dict(result.sizes),
                  "attrs": {k: _plain(v) for k, v in attrs.items()}, "variables": {}}
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
    meta["body_bytes"] = offset
    header = json.dumps(meta).encode()
    crc = zlib.crc32(header)
    for b in blobs:
        crc = zlib.crc32(b, crc)
    return (b"".join([_MAGIC, np.uint64(len(header)).astype("<u8").tobytes(), header, *blobs,
                      np.uint32(crc).astype("<u4").tobytes(), _TRAILER]),
            meta, 16 + len(header))


class Record(NamedTuple):
    """Where one pass's checkpoint lies: its journal, the record's byte range, the header."""

    path: str
    start: int  # the record's first byte in the journal
    end: int  # one past its last byte
    body: int  # the body's first byte in the journal
    meta: dict


#: Records known to this process, keyed by (journal, start): written here, handed back by
#: a local worker, or read once. Journals only grow and their names are never reused
#: (a run token), so a known record never changes; closing the blocks and merging read
#: every header, and parsing them again was a good part of writing a year's
#: ``passes.nc``. :func:`merge_checkpoints` forgets the records it merged.
_RECORDS: dict[tuple[str, int], Record] = {}


def new_journal() -> str:
    """A fresh journal name prefix for one run (each process adds its pid)."""
    return uuid.uuid4().hex[:12]


def _journal_path(out_dir: Path, journal: str) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / f"{journal}-{os.getpid()}{JOURNAL_SUFFIX}"


def write_checkpoint_bytes(out_dir: Path, pass_id: str, data: bytes,
                           journal: str = "manual", header: tuple[dict, int] | None = None
                           ) -> Record:
    """Append an encoded checkpoint record to this process's journal; return where it is.

    ``header``: the record's header and body offset, as :func:`encode_checkpoint_meta`
    gave them (default: parsed from ``data``). A failed append (disk full) is cut off
    again, so the journal never keeps a torn record behind which later ones would be lost.
    """
    path = _journal_path(out_dir, journal)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except BaseException:
            os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)
    meta, body = header if header is not None else _parse_header(data, str(path))
    record = Record(str(path), start, start + len(data), start + body, meta)
    _RECORDS[(record.path, start)] = record
    return record


def remember_checkpoint(path: str, start: int, end: int, meta: dict, body_offset: int
                        ) -> Record:
    """Note a record a local worker has just appended (its header and place), so that
    closing the blocks and merging do not read it again."""
    record = _RECORDS[(path, start)] = Record(path, start, end, start + body_offset, meta)
    return record


def write_checkpoint(out_dir: Path, result: xr.Dataset, config_sha256: str) -> Record:
    """Append one pass's result dataset (dim ``time``, scalars in attrs) to the journal."""
    return write_checkpoint_bytes(out_dir, result.attrs["pass_id"],
                                  encode_checkpoint(result, config_sha256))


def _parse_header(raw: bytes, where: str) -> tuple[dict, int]:
    if raw[:8] != _MAGIC or len(raw) < 16:
        raise ValueError(f"{where}: not a satqkd checkpoint")
    size = int(np.frombuffer(raw, "<u8", 1, 8)[0])
    return json.loads(raw[16:16 + size]), 16 + size


def _read_record(fh, path: str, start: int, size: int) -> Record | None:
    """The complete record at ``start`` of an open journal (None: torn or not a record)."""
    fh.seek(start)
    head = fh.read(16)
    if len(head) < 16 or head[:8] != _MAGIC:
        return None
    hlen = int(np.frombuffer(head, "<u8", 1, 8)[0])
    if start + 16 + hlen > size:
        return None
    header = fh.read(hlen)
    try:
        meta = json.loads(header)
        body_bytes = int(meta["body_bytes"])
    except (ValueError, KeyError, TypeError):
        return None
    end = start + 16 + hlen + body_bytes + 8
    if end > size:
        return None
    rest = fh.read(body_bytes + 8)
    if rest[-4:] != _TRAILER or int(np.frombuffer(rest, "<u4", 1, body_bytes)[0]) != \
            zlib.crc32(rest[:body_bytes], zlib.crc32(header)):
        return None
    return Record(path, start, end, start + 16 + hlen, meta)


def journal_records(path: Path | str) -> list[Record]:
    """The complete records of one journal, in order (a torn tail is left out)."""
    path = str(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return []
    records: list[Record] = []
    start = 0
    fh = None
    try:
        while start < size:
            rec = _RECORDS.get((path, start))
            if rec is None:
                fh = fh or open(path, "rb")
                rec = _read_record(fh, path, start, size)
                if rec is None:
                    break  # torn by a killed process: what follows is not a record
                _RECORDS[(path, start)] = rec
            records.append(rec)
            start = rec.end
    finally:
        if fh is not None:
            fh.close()
    return records


def checkpoint_index(out_dir: Path) -> dict[str, Record]:
    """Every complete checkpoint record in ``out_dir``, by pass id (the latest wins)."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    index: dict[str, Record] = {}
    if not folder.is_dir():
        return index
    for path in sorted(folder.glob(f"*{JOURNAL_SUFFIX}")):
        if path.name.startswith("."):
            continue
        for rec in journal_records(path):
            index[rec.meta.get("pass_id", rec.meta["attrs"].get("pass_id"))] = rec
    return index


def forget_records(out_dir: Path) -> None:
    """Drop this process's knowledge of ``out_dir``'s journals (they are being deleted)."""
    prefix = str(Path(out_dir) / CHECKPOINT_DIR) + os.sep
    for key in [k for k in _RECORDS if k[0].startswith(prefix)]:
        del _RECORDS[key]


def _array(body: memoryview, info: dict, copy: bool = True) -> np.ndarray:
    """A variable's array as it was encoded (``copy`` False: as stored, a view)."""
    dtype = np.dtype(info["dtype"])
    count = math.prod(info["shape"])
    a = np.frombuffer(body, dtype, count, info["offset"]).reshape(info["shape"])
    if not copy:
        return a
    return a.astype(info["decoded_dtype"]) if "decoded_dtype" in info else a.copy()


def _record(out_dir: Path, pass_id: str, index: dict[str, Record] | None = None) -> Record:
    rec = (index if index is not None else checkpoint_index(out_dir)).get(pass_id)
    if rec is None:
        raise FileNotFoundError(f"{Path(out_dir) / CHECKPOINT_DIR}: no checkpoint of pass "
                                f"{pass_id!r}")
    return rec


def _body(rec: Record, fd: int | None = None) -> memoryview:
    n = int(rec.meta["body_bytes"])
    if fd is not None:
        return memoryview(os.pread(fd, n, rec.body))
    with open(rec.path, "rb") as fh:
        fh.seek(rec.body)
        return memoryview(fh.read(n))


def checkpoint_meta(out_dir: Path, pass_id: str) -> dict:
    """A checkpoint's header: dimension sizes, attributes and the variables' layout."""
    return _record(out_dir, pass_id).meta


def read_checkpoint_arrays(out_dir: Path, pass_id: str) -> tuple[dict, dict[str, np.ndarray]]:
    """A checkpoint's header and its variables as CF-encoded arrays."""
    rec = _record(out_dir, pass_id)
    body = _body(rec)
    return rec.meta, {name: _array(body, info) for name, info in rec.meta["variables"].items()}


def read_checkpoint(out_dir: Path, pass_id: str) -> xr.Dataset:
    """The pass dataset stored in a checkpoint, decoded (CF) exactly as it was written."""
    meta, arrays = read_checkpoint_arrays(out_dir, pass_id)
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
    return {str(rec.meta["attrs"].get("config_sha256"))
            for rec in checkpoint_index(out_dir).values()}


def finished_passes(out_dir: Path, config_sha256: str) -> set[str]:
    """Pass ids with a complete checkpoint made with the same configuration."""
    return {pid for pid, rec in checkpoint_index(out_dir).items()
            if rec.meta["attrs"].get("config_sha256") == config_sha256}


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
    :class:`PassesWriter` does the same while the passes are still being simulated.
    """
    writer = PassesWriter(out_dir, target, pass_ids, global_attrs, intensities=intensities,
                          progress=progress)
    return writer.finish(overrides)


class PassesWriter:
    """Writes ``passes.nc`` (see :func:`merge_checkpoints`), the per-sample data of the
    passes in order as soon as their checkpoints exist, the pass table at the end.

    With ``sizes`` (each pass's sample count, known before its simulation) the file is
    laid out at once and :meth:`advance` copies every pass whose predecessors are all
    written: a run's merge then overlaps its simulation. Without, everything is written
    by :meth:`finish`. The file appears (renamed from a temporary one) only when complete;
    :meth:`close` without :meth:`finish` deletes the temporary file.
    """

    def __init__(self, out_dir: Path, target: Path, pass_ids: Sequence[str],
                 global_attrs: dict, sizes: Sequence[int] | None = None,
                 intensities: list[list[float]] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.out_dir, self.target = Path(out_dir), Path(target)
        self.ids = list(pass_ids)
        self.attrs = dict(global_attrs)
        self.sizes = None if sizes is None else [int(n) for n in sizes]
        self.intensities, self.progress = intensities, progress
        self.records: dict[str, Record] = {}
        self.cursor = 0  # passes before it are in the file (or in the batch below)
        self.written = 0  # samples in the file
        self._fds: dict[str, int] = {}  # each journal opened once; records read by offset
        self._tmp: Path | None = None
        self._file: h5netcdf.File | None = None
        self._schema: dict[str, tuple] | None = None
        self._batch: dict[str, list[np.ndarray]] = {}
        self._pending = 0

    def add(self, pass_id: str, record: Record) -> None:
        """A pass's checkpoint record (written here or by a worker)."""
        self.records[pass_id] = record

    def advance(self) -> None:
        """Copy every pass whose checkpoint and those of all passes before it exist."""
        if self.sizes is None:
            return
        while self.cursor < len(self.ids) and self.ids[self.cursor] in self.records:
            meta = self.records[self.ids[self.cursor]].meta
            if int(meta["sizes"].get("time", 0)) != self.sizes[self.cursor]:
                return  # not the layout announced: finish writes the file afresh
            self._take(self.cursor)
            self.cursor += 1

    def finish(self, overrides: dict[str, dict] | None = None) -> list[dict]:
        """Write what is left and the pass table; rename the file into place. Returns the
        passes' scalars (``overrides`` applied)."""
        try:
            index = None
            for pid in self.ids[self.cursor:]:
                if pid not in self.records:  # resumed, or merged without advancing
                    index = index if index is not None else checkpoint_index(self.out_dir)
                    self.records[pid] = _record(self.out_dir, pid, index)
            records = [self.records[pid] for pid in self.ids]
            expected = self.attrs.get("config_sha256")
            for pid, r in zip(self.ids, records):
                if expected is not None and r.meta["attrs"].get("config_sha256") != expected:
                    from satqkd.errors import InputError

                    raise InputError(f"{r.path}: the checkpoint of pass {pid} was made with "
                                     "another configuration than this run's; the folder "
                                     "mixes two runs: rerun without --resume")
            sizes = [int(r.meta["sizes"].get("time", 0)) for r in records]
            if self.sizes is not None and sizes != self.sizes:
                # a pass's samples differ from what was laid out: write it all afresh
                self._discard()
                self.sizes, self.cursor, self.written = None, 0, 0
            if self.sizes is None:
                self.sizes = sizes
            while self.cursor < len(self.ids):
                self._take(self.cursor)
                self.cursor += 1
            self._flush()
            scalars = [_scalars(r.meta["attrs"]) for r in records]
            if overrides:
                for pid, row in zip(self.ids, scalars):
                    row.update(overrides.get(pid, {}))
            out = self._open(records)
            _write_pass_table(out, scalars)
            rs = out.create_variable("row_size", ("pass",), np.int32)
            rs[:] = np.asarray(sizes, dtype=np.int32)
            rs.attrs.update(cf.pass_variable_attrs("row_size"))
            self._file = None
            out.close()
            os.chmod(self._tmp, 0o666 & ~_umask())
            os.replace(self._tmp, self.target)
            self._tmp = None
            if self.progress:
                self.progress(len(self.ids), len(self.ids))
            for r in records:
                _RECORDS.pop((r.path, r.start), None)
            return scalars
        finally:
            self.close()

    def close(self) -> None:
        """Release the journals; delete an unfinished file."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._discard()

    def _discard(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            finally:
                self._file = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
        self._schema = None
        self._batch, self._pending = {}, 0

    def _arrays(self, rec: Record, copy: bool) -> dict[str, np.ndarray]:
        if rec.path not in self._fds:
            self._fds[rec.path] = os.open(rec.path, os.O_RDONLY)
        body = _body(rec, self._fds[rec.path])
        return {name: _array(body, info, copy) for name, info in rec.meta["variables"].items()}

    def _open(self, records: Sequence[Record] | None = None) -> h5netcdf.File:
        """The temporary file, laid out on first use (dims, sample variables)."""
        if self._file is not None:
            return self._file
        import tempfile

        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.target.name}.", suffix=".tmp",
                                   dir=self.target.parent)
        os.close(fd)
        self._tmp = Path(tmp)
        out = h5netcdf.File(self._tmp, "w")
        self._file = out
        out.dimensions = {"pass": len(self.ids), "sample": int(sum(self.sizes))}
        out.attrs.update({"Conventions": cf.CONVENTIONS, "featureType": "trajectory",
                          **self.attrs})
        k_first = next((k for k, n in enumerate(self.sizes) if n), None)
        first = None
        if k_first is not None:
            rec = (records[k_first] if records is not None
                   else self.records.get(self.ids[k_first]))
            first = (rec.meta, self._arrays(rec, True))
        schema = _sample_schema(None if first is None else first[0])
        coordinates = " ".join(c for c in ("time", "lat", "lon", "altitude") if c in schema)
        for name, (dims, shape, dtype, attrs) in schema.items():
            for d, n in zip(dims, shape):
                if d not in out.dimensions:
                    out.dimensions[d] = n
                    _write_category(out, d, n, first, self.intensities)
            v = out.create_variable(name, ("sample",) + dims, dtype, fillvalue=_fill(dtype))
            v.attrs.update(cf.sample_variable_attrs(name, attrs, coordinates))
        self._schema = schema
        self._batch = {name: [] for name in schema}
        return out

    def _take(self, i: int) -> None:
        """Pass ``i``'s samples into the batch (written in batches of BATCH_SAMPLES:
        few, large writes; bounded memory)."""
        if self.sizes[i] == 0:
            return
        rec = self.records[self.ids[i]]
        if self._file is None:
            self._open()
        arrays = self._arrays(rec, False)  # views: concatenated below
        for name in self._schema:
            if name == "time":
                tattrs = rec.meta["variables"]["time"]["attrs"]
                if (tattrs.get("units"), tattrs.get("calendar")) == _NS_SINCE_EPOCH:
                    t = arrays["time"]  # as _encode wrote it: ns since the epoch
                else:
                    t = xr.coding.times.decode_cf_datetime(
                        arrays["time"], tattrs["units"], tattrs.get("calendar"))
                self._batch[name].append(t.astype("datetime64[ns]").astype(np.int64) / 1e9)
            else:
                self._batch[name].append(arrays[name])
        self._pending += self.sizes[i]
        if self._pending >= BATCH_SAMPLES:
            self._flush()
            if self.progress:
                self.progress(i + 1, len(self.ids))

    def _flush(self) -> None:
        if not self._pending:
            return
        out, start, count = self._file, self.written, self._pending
        for name, parts in self._batch.items():
            values = np.concatenate(parts)
            if self._schema[name][2] == np.int32 and values.size and (
                    values.max() > _INT32_MAX or values.min() < -_INT32_MAX):
                raise OverflowError(f"passes.nc: {name} exceeds the int32 range")
            out.variables[name][start:start + count] = values
            parts.clear()
        self.written += count
        self._pending = 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


#: samples buffered before a write while merging checkpoints (written while the passes
#: run, what is left for the end is at most this)
BATCH_SAMPLES = 65_536


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
    index = checkpoint_index(out_dir)
    return [_scalars(_record(out_dir, pid, index).meta["attrs"]) for pid in pass_ids]


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list})


def _scalars(attrs) -> dict:
    """A checkpoint's pass scalars as Python values (h5py gives bytes and numpy types)."""
    out = {}
    for k, v in attrs.items():
        if k == "config_sha256" or k.startswith("_NC"):
            continue
        if type(v) in _PLAIN_TYPES:  # a record's header holds JSON values already
            out[k] = v
            continue
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, np.ndarray) and v.size == 1:
            v = v.item()
        elif hasattr(v, "item") and not isinstance(v, np.ndarray):
            v = v.item()
        out[k] = v
    return out
