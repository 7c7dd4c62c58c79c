"""What an output folder can serve: its key sources, their ends and when each exists.

A *key source* is one final key shared by two ends, written by the simulator as a pair
of files (``<id>.alice.bin``, ``<id>.bob.bin``, each end's own copy):

* a pass key (``OUTDIR/keys/``): the satellite (Alice) and the station (Bob).  It
  exists at the pass's LOS, read from ``passes.csv``.  A pooled finite-key block writes
  its key under its closing pass, so it too exists at that pass's LOS.  A dual-downlink
  window (entanglement missions, station ``A+B``) is a key between stations A and B.
* a relay key (``OUTDIR/relay_keys/``, written by ``satqkd relay``): end A's copy
  (recovered from ``K_A xor P``) and end B's copy, existing when both endpoints hold it
  (after fibre forwarding to a city), read from ``relay_keys/sessions.csv``.

The SAE IDs are the names of the two ends; each end's file is that end's copy.

In a relay output, the bits of pass keys that the relay used (or the satellite erased),
listed in ``relay_keys/consumed.csv``, are not served again as pass keys: a pass key
is then served as the segments no relay touched (each starting on a byte boundary), so
no bit ever reaches two keys.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from satqkd.errors import InputError

__all__ = ["KeySource", "Catalog", "load_catalog", "SAE_ID", "iso_seconds"]

#: SAE IDs appear in URLs, certificate names and file names: keep them plain.
SAE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def iso_seconds(iso: str) -> float:
    """UTC seconds since 1970 of an ISO time as written in passes.csv (``...Z``)."""
    t = datetime.fromisoformat(str(iso).strip())
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _rows(path: Path) -> list[dict]:
    # The csv module, not pandas or satqkd.keys.postprocess.read_key_index: those pull in
    # the simulator (numba, ~2 s), and the server should start in a blink.
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class KeySource:
    """Bits ``[start_bit, stop_bit)`` of the final key ``name`` shared by ``sae_a`` (file
    ``a_file``) and ``sae_b`` (``b_file``); ``source_id`` is unique per segment."""

    source_id: str
    name: str  # pass (or block's closing pass) id, or relay id: the key files' stem
    kind: str  # "pass" or "relay"
    sae_a: str
    sae_b: str
    available_s: float  # mission time (UTC seconds) from which both ends hold it
    start_bit: int
    stop_bit: int
    a_file: Path
    b_file: Path
    a_sha256: str
    b_sha256: str

    @property
    def bits(self) -> int:
        return self.stop_bit - self.start_bit

    def file_for(self, sae: str) -> Path:
        return self.a_file if sae == self.sae_a else self.b_file

    def load(self, sae: str) -> bytes:
        """``sae``'s copy of the key (packed bytes), checked against its SHA-256."""
        path, sha = (self.a_file, self.a_sha256) if sae == self.sae_a else (self.b_file, self.b_sha256)
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != sha:
            raise InputError(f"{path}: SHA-256 does not match its index.csv")
        return raw


@dataclass(frozen=True)
class Catalog:
    """Every key source of an output folder and the mission's time span."""

    outdir: Path
    sources: tuple[KeySource, ...]
    start_s: float
    end_s: float

    @property
    def saes(self) -> list[str]:
        return sorted({s.sae_a for s in self.sources} | {s.sae_b for s in self.sources})

    def fingerprint(self) -> str:
        """Changes whenever the served keys change: a store refuses a different folder."""
        h = hashlib.sha256()
        for s in self.sources:
            h.update(f"{s.source_id}|{s.sae_a}|{s.sae_b}|{s.start_bit}|{s.stop_bit}|"
                     f"{s.a_sha256}|{s.b_sha256}\n".encode())
        return h.hexdigest()


def _check_sae(name: str, where: str) -> str:
    if not SAE_ID.match(name):
        raise InputError(f"{where}: {name!r} cannot be an SAE ID (1-64 letters, digits, '.', '_', '-')")
    return name


def _sources(directory: Path, ends: dict[str, tuple[str, str, float]], kind: str,
             where: str) -> list[KeySource]:
    out = []
    for row in _rows(directory / "index.csv"):
        pid = row["pass_id"]
        if pid not in ends:
            raise InputError(f"{directory / 'index.csv'}: key {pid!r} has no row in {where}")
        a, b, t = ends[pid]
        out.append(KeySource(pid, pid, kind, _check_sae(a, where), _check_sae(b, where), t,
                             0, _bits(row, directory), _key_file(directory, row["alice_file"]),
                             _key_file(directory, row["bob_file"]), row["alice_sha256"],
                             row["bob_sha256"]))
    return out


def _key_file(directory: Path, name: str) -> Path:
    """A key file named by index.csv: a plain ``*.bin`` name inside ``directory``.

    The server reads nothing else, so an edited index.csv cannot make it serve another
    file of the machine (``../``, absolute paths, links out of the folder) as key."""
    path = directory / name
    if (Path(name).name != name or not name.endswith(".bin") or name.startswith(".")
            or not path.resolve().is_relative_to(directory.resolve())):
        raise InputError(f"{directory / 'index.csv'}: key file {name!r} is not a plain "
                         "*.bin name in that folder")
    return path


def _bits(row: dict, directory: Path) -> int:
    try:
        bits = int(row["bits"])
    except (TypeError, ValueError):
        bits = -1
    if bits < 0:
        raise InputError(f"{directory / 'index.csv'}: bits of key {row.get('pass_id')!r} "
                         f"must be an integer >= 0, got {row.get('bits')!r}")
    return bits


def _unconsumed(sources: list[KeySource], consumed_csv: Path) -> list[KeySource]:
    """Split pass keys around the bit ranges a relay consumed (see the module doc)."""
    used: dict[str, list[tuple[int, int]]] = {}
    for r in _rows(consumed_csv):
        used.setdefault(r["pass_id"], []).append((int(r["start"]), int(r["stop"])))
    out = []
    for s in sources:
        if s.name not in used:
            out.append(s)
            continue
        pos = s.start_bit
        for lo, hi in sorted(used[s.name]) + [(s.stop_bit, s.stop_bit)]:
            start = -(-pos // 8) * 8  # keys start on byte boundaries
            if lo - start > 0:
                out.append(replace(s, source_id=f"{s.name}:{start}", start_bit=start, stop_bit=lo))
            pos = max(pos, hi)
    return out


def load_catalog(outdir: str | Path) -> Catalog:
    """The key sources of ``outdir`` (a ``satqkd run`` or ``satqkd relay`` output)."""
    outdir = Path(outdir)
    passes_csv = outdir / "passes.csv"
    if not passes_csv.exists():
        raise InputError(f"{outdir}: not a satqkd output folder (no passes.csv)")
    table = _rows(passes_csv)
    ends: dict[str, tuple[str, str, float]] = {}
    for r in table:
        station = r["station"]
        a, b = station.split("+", 1) if "+" in station else (r["satellite"], station)
        ends[r["pass_id"]] = (a, b, iso_seconds(r["los"]))
    sources = _sources(outdir / "keys", ends, "pass", "passes.csv")
    if (outdir / "relay_keys" / "consumed.csv").exists():
        sources = _unconsumed(sources, outdir / "relay_keys" / "consumed.csv")
    sessions_csv = outdir / "relay_keys" / "sessions.csv"
    if sessions_csv.exists():
        relay_ends = {r["relay_id"]: (r["end_a"], r["end_b"], iso_seconds(r["available"]))
                      for r in _rows(sessions_csv) if r["available"]}  # "": never available
        sources += _sources(outdir / "relay_keys", relay_ends, "relay",
                            "relay_keys/sessions.csv")
    sources = [s for s in sources if s.bits > 0]
    if not sources:
        raise InputError(f"{outdir}: no keys to serve (run the mission with "
                         "[keys] write_keys = true)")
    for s in sources:
        if s.sae_a == s.sae_b:
            raise InputError(f"{outdir}: key {s.source_id} has the same SAE at both ends")
    sources.sort(key=lambda s: (s.available_s, s.source_id))
    start = end = None
    run_json = outdir / "run.json"
    if run_json.exists():
        meta = json.loads(run_json.read_text())
        start, end = meta.get("start"), meta.get("end")
    aos = [iso_seconds(r["aos"]) for r in table] or [sources[0].available_s]
    start_s = iso_seconds(start) if start else min(aos)
    end_s = max(iso_seconds(end) if end else 0.0, max(s.available_s for s in sources))
    return Catalog(outdir, tuple(sources), start_s, end_s)
