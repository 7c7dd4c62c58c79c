"""Relay keys as files, for ``satqkd serve``: each end's copy of every relayed key.

A relay publishes ``P = K_A xor K_B`` (:mod:`satqkd.network.ledger`).  Station B's copy
of the relay key is its own pass key bits ``K_B`` (the ``ranges_b`` of its pass keys);
station A's copy is ``K_A xor P`` computed from *its* pass keys (``ranges_a``), exactly
as A would (:func:`~satqkd.network.ledger.recover_partner_key`).  Both are read from the
stations' own key files (Bob's side of each pass), not from the satellite's copies.  A
demand endpoint that is a city receives its station's copy over the trusted fibre chain.

Written to ``OUTDIR/relay_keys/`` by the key writer of the passes
(:func:`satqkd.keys.postprocess.write_keys`: ``<id>.alice.bin`` is end A's copy,
``<id>.bob.bin`` end B's, ``index.csv``) plus ``sessions.csv``: one row per relay with
its ends (the demand's endpoints), satellite, stations, publication time and the time
both ends hold it (``available``, after fibre forwarding).  Relays whose key never
reaches an end, or whose pass keys have no bits, are not written.  ``consumed.csv``
lists every pass-key bit range the relay execution used or erased (``pass_id, start,
stop, purpose, time``): ``satqkd serve`` does not serve those bits as pass keys.

Keys delivered by the trust-free path (dual-downlink BBM92 windows, ``[entanglement]
pairs``) are written the same way, ``path = "entanglement"`` in ``sessions.csv``: each
delivery is the next ``bits`` of its window's final key (windows are shared out in
delivery order, as :func:`~satqkd.network.execution.execute_plan` allots them), end A's
copy from the window station nearer A, end B's from the other; the satellite never
holds them.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from satqkd.keys.postprocess import read_keys, write_keys
from satqkd.mission.io import write_text_atomic
from satqkd.network.ledger import PassKey, extract_bits, recover_partner_key
from satqkd.orbit.passes import iso_utc
from satqkd.paths import slug

__all__ = ["write_relay_keys", "SESSION_FIELDS"]

SESSION_FIELDS = ("relay_id", "path", "end_a", "end_b", "pair", "satellite", "station_a",
                  "station_b", "time", "available", "bits", "sources")


def write_relay_keys(out_dir: str | Path, execution,
                     window_keys: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
                     ) -> Path:
    """Write each end's copy of every relayed key of ``execution`` (an
    :class:`~satqkd.network.execution.Execution`), and of every entangled delivery whose
    window's keys are in ``window_keys`` (window_id -> station A's and station B's
    packed final keys); returns ``OUTDIR/relay_keys``."""
    out = Path(out_dir)
    directory = out / "relay_keys"
    directory.mkdir(parents=True, exist_ok=True)
    station_keys: dict[str, PassKey] = {}

    def stations_copy(pass_id: str) -> PassKey:
        if pass_id not in station_keys:
            sat_key = execution.ledger.keys[pass_id]
            _, bob = read_keys(out / "keys", pass_id)
            station_keys[pass_id] = PassKey(pass_id, sat_key.satellite, sat_key.station,
                                            sat_key.aos_s, sat_key.los_s, np.packbits(bob),
                                            sat_key.n_bits)
        return station_keys[pass_id]

    relays = [d for d in execution.deliveries if d.path == "relay"]
    rows = []
    # execute_plan appends a record and its relay delivery together, in the same order
    for n, (rec, dlv) in enumerate(zip(execution.relay_records, relays)):
        if rec.published is None or not math.isfinite(dlv.available_s) or rec.n_bits <= 0:
            continue
        demand = execution.problem.demands[dlv.demand]
        own_a = {r.pass_id: stations_copy(r.pass_id) for r in rec.ranges_a}
        own_b = {r.pass_id: stations_copy(r.pass_id) for r in rec.ranges_b}
        key_a = recover_partner_key(own_a, rec.ranges_a, rec.published, rec.n_bits)
        key_b = extract_bits(own_b, rec.ranges_b)
        if not np.array_equal(key_a, key_b):  # both ends' pass keys agree, so must these
            raise ValueError(f"relay {n}: the ends' copies differ; were the ledger's pass "
                             "keys packed (np.packbits)?")
        relay_id = f"relay{n:05d}_{slug(demand.a)}_{slug(demand.b)}"  # names stay data
        write_keys(directory, relay_id, np.packbits(key_a), np.packbits(key_b), rec.n_bits)
        rows.append({"relay_id": relay_id, "path": "relay", "end_a": demand.a, "end_b": demand.b,
                     "pair": demand.label, "satellite": rec.satellite,
                     "station_a": rec.station_a, "station_b": rec.station_b,
                     "time": iso_utc(rec.time_s), "available": iso_utc(dlv.available_s),
                     "bits": rec.n_bits,
                     "sources": " ".join(dict.fromkeys(r.pass_id for r in rec.ranges_a
                                                       + rec.ranges_b))})
    rows += _entangled_keys(directory, execution, window_keys or {})
    _write_csv(directory / "sessions.csv", SESSION_FIELDS, rows)
    _write_csv(directory / "consumed.csv", ("pass_id", "start", "stop", "purpose", "time"), [
        {"pass_id": r.pass_id, "start": r.start, "stop": r.stop, "purpose": purpose,
         "time": iso_utc(t)} for r, purpose, t in execution.ledger.usage])
    return directory


def _entangled_keys(directory: Path, execution,
                    window_keys: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    """Each entangled delivery as both ends' copies (see the module doc)."""
    if not window_keys:
        return []
    problem = execution.problem
    windows = {w.window_id: w for w in problem.windows}
    used: dict[str, int] = {}
    rows = []
    for n, dlv in enumerate(d for d in execution.deliveries if d.path == "entanglement"):
        (wid,) = dlv.sources
        start = used.get(wid, 0)
        used[wid] = start + dlv.bits
        if wid not in window_keys or not math.isfinite(dlv.available_s) or dlv.bits <= 0:
            continue
        w, demand = windows[wid], problem.demands[dlv.demand]
        keys = {w.station_a: window_keys[wid][0], w.station_b: window_keys[wid][1]}
        station_a = problem.endpoint_station(demand.a)
        station_b = problem.endpoint_station(demand.b)
        if {station_a, station_b} != set(keys):
            raise ValueError(f"entangled delivery {n}: window {wid} joins {w.station_a} and "
                             f"{w.station_b}, not the demand's {station_a} and {station_b}")
        stop = start + dlv.bits
        bits = {s: np.unpackbits(k)[start:stop] for s, k in keys.items()}
        if bits[station_a].size < dlv.bits:
            raise ValueError(f"entangled delivery {n}: window {wid} has fewer than "
                             f"{stop} key bits")
        relay_id = f"ent{n:05d}_{slug(demand.a)}_{slug(demand.b)}"
        write_keys(directory, relay_id, np.packbits(bits[station_a]),
                   np.packbits(bits[station_b]), dlv.bits)
        rows.append({"relay_id": relay_id, "path": "entanglement", "end_a": demand.a,
                     "end_b": demand.b, "pair": demand.label, "satellite": w.satellite,
                     "station_a": station_a, "station_b": station_b,
                     "time": iso_utc(dlv.time_s), "available": iso_utc(dlv.available_s),
                     "bits": dlv.bits, "sources": wid})
    return rows


def _write_csv(path: Path, fields, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())
