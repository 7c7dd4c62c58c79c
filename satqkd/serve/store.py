"""The key store: SQLite in WAL mode, so a restart loses no key and never serves one twice.

What is stored is *where* each key lies, never a copy of the bits (those stay in the
simulator's key files, each end's own copy):

``sources``  one row per key source (pass, pooled block or relay session) with
             ``next_bit``, the first bit not yet handed out: a delivered key is the next
             ``size`` bits of its source, counted from the start of that key;
``keys``     one row per issued key ID: source, first bit, size, master and slave SAE,
             when the master received it and, once the slave has, ``dec_wall``;
``meta``     the served folder's fingerprint and the replay clock's anchor.

Rules that make it safe:

* a response is sent only after the transaction that records it has committed with
  ``synchronous = FULL`` (fsync), so a crash can at worst lose a response in flight
  (its key is then recorded as issued and is never served again), never serve
  anything twice;
* decisions are taken on the event-loop thread against an in-memory mirror of the
  tables (one process owns the store: an exclusive ``flock`` on ``<store>.lock``), and
  every decision is written by one writer thread that commits whatever has queued up
  in one transaction (group commit): one fsync for many requests under load.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import math
import os
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from satqkd.errors import InputError
from satqkd.serve.catalog import Catalog, KeySource
from satqkd.serve.clock import MissionClock

__all__ = ["KeyStore", "Issued", "NotEnoughKey", "StoreError", "pair_of", "default_store_path"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    source_id TEXT PRIMARY KEY, kind TEXT NOT NULL, sae_a TEXT NOT NULL, sae_b TEXT NOT NULL,
    available_s REAL NOT NULL, start_bit INTEGER NOT NULL, stop_bit INTEGER NOT NULL,
    next_bit INTEGER NOT NULL CHECK (next_bit >= start_bit AND next_bit <= stop_bit));
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY, source_id TEXT NOT NULL REFERENCES sources(source_id),
    start_bit INTEGER NOT NULL, size INTEGER NOT NULL, master TEXT NOT NULL,
    slave TEXT NOT NULL, enc_wall REAL NOT NULL, dec_wall REAL);
"""


def default_store_path(outdir: str | Path) -> Path:
    return Path(outdir) / "serve" / "keystore.sqlite"


def pair_of(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


class StoreError(Exception):
    """A request the store refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, reason: str, **details):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.details = details


class NotEnoughKey(StoreError):
    def __init__(self, reason: str, **details):
        super().__init__(503, reason, **details)


@dataclass
class _Source:
    key: KeySource
    next_bit: int

    @property
    def remaining(self) -> int:
        return self.key.stop_bit - self.next_bit


@dataclass(frozen=True)
class Issued:
    """An issued key: ``size`` bits of ``source`` from ``start_bit``."""

    key_id: str
    source: KeySource
    start_bit: int
    size: int
    master: str
    slave: str


@dataclass
class _Job:
    statements: list[tuple[str, Sequence]]
    future: asyncio.Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class KeyStore:
    """The durable state of key delivery for one output folder (see the module doc)."""

    def __init__(self, path: str | Path, catalog: Catalog):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.catalog = catalog
        self._lock_fh = open(self.path.with_name(self.path.name + ".lock"), "w")
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_fh.close()
            raise InputError(f"{self.path}: another `satqkd serve` is using this key store")
        self._db = self._connect()
        self._init_tables()
        self._sources: dict[str, _Source] = {}
        self._by_pair: dict[tuple[str, str], list[_Source]] = {}
        self._pending: dict[str, Issued] = {}  # issued to the master, not yet to the slave
        self._bits: dict[tuple[str, str], bytes] = {}
        self._load()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="keystore-writer",
                                        daemon=True)
        self._writer.start()
        # WAL checkpoints off the commit path: an automatic one runs inside a commit and
        # fsyncs the database file, which a response would then wait for (p99 latency).
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop,
                                              name="keystore-checkpoint", daemon=True)
        self._checkpointer.start()

    # ------------------------------------------------------------------ setup
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit survives power loss, not only a crash
        db.execute("PRAGMA foreign_keys=ON")
        return db

    def _init_tables(self) -> None:
        db = self._db
        db.executescript(SCHEMA)
        fp = self.catalog.fingerprint()
        row = db.execute("SELECT value FROM meta WHERE key='fingerprint'").fetchone()
        if row is not None and row[0] != fp:
            raise InputError(f"{self.path}: this key store belongs to other keys than those in "
                             f"{self.catalog.outdir}; give another --store")
        if row is None:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO sources(source_id, kind, sae_a, sae_b, available_s, "
                "start_bit, stop_bit, next_bit) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(s.source_id, s.kind, s.sae_a, s.sae_b, s.available_s, s.start_bit, s.stop_bit,
                  s.start_bit)
                 for s in self.catalog.sources])
            db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fp,))
            db.execute("INSERT INTO meta VALUES ('outdir', ?)", (str(self.catalog.outdir),))
            db.execute("COMMIT")

    def _load(self) -> None:
        next_bit = dict(self._db.execute("SELECT source_id, next_bit FROM sources"))
        for s in self.catalog.sources:
            st = _Source(s, int(next_bit[s.source_id]))
            self._sources[s.source_id] = st
            self._by_pair.setdefault(pair_of(s.sae_a, s.sae_b), []).append(st)
        for lst in self._by_pair.values():
            lst.sort(key=lambda st: (st.key.available_s, st.key.source_id))
        for kid, sid, start, size, master, slave in self._db.execute(
                "SELECT key_id, source_id, start_bit, size, master, slave FROM keys "
                "WHERE dec_wall IS NULL"):
            self._pending[kid] = Issued(kid, self._sources[sid].key, start, size, master, slave)

    def clock(self, mode: str, speed: float = 1.0, start_s: float | None = None) -> MissionClock:
        """The replay clock, continuing the stored timeline if there is one.

        A first start anchors mission ``start_s`` (default: the mission start) at now; a
        restart keeps the mission time reached and, if ``speed`` changed, continues from
        there at the new speed.
        """
        if mode == "instant":
            return MissionClock("instant")
        now = time.time()
        row = self._db.execute("SELECT value FROM meta WHERE key='clock'").fetchone()
        if row is not None and start_s is None:
            old = json.loads(row[0])
            prev = MissionClock("replay", old["speed"], old["anchor_wall"], old["anchor_mission"])
            clock = prev if old["speed"] == speed else MissionClock("replay", speed, now, prev.now(now))
        else:
            clock = MissionClock("replay", speed, now,
                                 self.catalog.start_s if start_s is None else start_s)
        value = json.dumps({"speed": clock.speed, "anchor_wall": clock.anchor_wall,
                            "anchor_mission": clock.anchor_mission})
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('clock', ?)", (value,))
        return clock

    # ------------------------------------------------------------------ queries
    def pairs(self) -> list[tuple[str, str]]:
        return sorted(self._by_pair)

    def saes(self) -> set[str]:
        return {x for p in self._by_pair for x in p}

    def partners(self, sae: str) -> set[str]:
        return {b if a == sae else a for a, b in self._by_pair if sae in (a, b)}

    def available_bits(self, a: str, b: str, mission_now: float) -> list[int]:
        """Remaining bits of each source of the pair that exists at ``mission_now``."""
        return [st.remaining for st in self._by_pair.get(pair_of(a, b), ())
                if st.key.available_s <= mission_now]

    def key_count(self, a: str, b: str, size: int, mission_now: float) -> int:
        return sum(r // size for r in self.available_bits(a, b, mission_now))

    def total_key_count(self, a: str, b: str, size: int) -> int:
        return sum(st.key.bits // size for st in self._by_pair.get(pair_of(a, b), ()))

    def next_arrival(self, a: str, b: str, size: int, mission_now: float) -> float:
        """Mission time at which the pair's next source with ``size`` bits exists (inf: none)."""
        times = [st.key.available_s for st in self._by_pair.get(pair_of(a, b), ())
                 if st.key.available_s > mission_now and st.key.bits >= size]
        return min(times, default=math.inf)

    def key_bits(self, issued: Issued, sae: str) -> bytes:
        """``sae``'s copy of an issued key (``size`` is a multiple of 8, keys start at byte
        boundaries, so this is a byte slice of that end's key file)."""
        src = issued.source
        cache_key = (src.name, sae)
        raw = self._bits.get(cache_key)
        if raw is None:
            raw = self._bits[cache_key] = src.load(sae)
        lo = issued.start_bit // 8
        return raw[lo: lo + issued.size // 8]

    # ------------------------------------------------------------------ changes
    def reserve(self, master: str, slave: str, number: int, size: int,
                mission_now: float) -> tuple[list[Issued], _Job]:
        """Take ``number`` keys of ``size`` bits for master -> slave, all or none.

        Each key comes from the oldest existing source of the pair with ``size`` bits
        left; returns the keys and the job that makes them durable (await :meth:`commit`
        before answering).
        """
        if size % 8:
            raise StoreError(400, f"size must be a multiple of 8 bits, got {size}")
        plan: list[tuple[_Source, int]] = []
        taken: dict[str, int] = {}
        for st in self._by_pair.get(pair_of(master, slave), ()):
            if st.key.available_s > mission_now:
                break  # sorted by availability: nothing later exists yet
            free = st.remaining
            while free >= size and len(plan) < number:
                plan.append((st, st.next_bit + taken.get(st.key.source_id, 0)))
                taken[st.key.source_id] = taken.get(st.key.source_id, 0) + size
                free -= size
            if len(plan) == number:
                break
        if len(plan) < number:
            raise NotEnoughKey(
                f"{number} keys of {size} bits requested for {master} -> {slave}, "
                f"{len(plan)} available now",
                stored_key_count=self.key_count(master, slave, size, mission_now),
                next_key_mission_time=self.next_arrival(master, slave, size, mission_now))
        now = time.time()
        issued, statements = [], []
        ids = _uuid4s(len(plan))
        for (st, start), kid in zip(plan, ids):
            k = Issued(kid, st.key, start, size, master, slave)
            issued.append(k)
            self._pending[k.key_id] = k
            statements.append(("INSERT INTO keys(key_id, source_id, start_bit, size, master, "
                               "slave, enc_wall) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (k.key_id, st.key.source_id, start, size, master, slave, now)))
        for sid, n in taken.items():
            self._sources[sid].next_bit += n
            statements.append(("UPDATE sources SET next_bit = ? WHERE source_id = ?",
                               (self._sources[sid].next_bit, sid)))
        return issued, _Job(statements)

    def redeem(self, slave: str, master: str, key_ids: list[str]) -> tuple[list[Issued], _Job]:
        """The slave's keys by ID, all or none; each ID is redeemed once."""
        if len(set(key_ids)) != len(key_ids):
            raise StoreError(400, "a key_ID is repeated in the request")
        found = []
        for kid in key_ids:
            k = self._pending.get(kid)
            if k is None or k.slave != slave or k.master != master:
                raise StoreError(400, f"key_ID {kid} is not a key of {master} for {slave}, "
                                      "or it has already been delivered", key_ID=kid)
            found.append(k)
        now = time.time()
        for k in found:
            del self._pending[k.key_id]
        return found, _Job([("UPDATE keys SET dec_wall = ? WHERE key_id = ? AND dec_wall IS NULL",
                             (now, k.key_id)) for k in found])

    async def commit(self, job: _Job) -> None:
        """Wait until ``job`` is durable (committed and fsynced)."""
        loop = asyncio.get_running_loop()
        job.loop, job.future = loop, loop.create_future()
        self._queue.put(job)
        await job.future

    def commit_sync(self, job: _Job) -> None:
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error

    def _checkpoint_loop(self, period_s: float = 1.0) -> None:
        """Copy committed WAL frames into the database, beside the writer (PASSIVE mode
        never blocks it); durability does not depend on this: a commit is fsynced in
        the WAL, and a restart replays it."""
        db = self._connect()
        while not self._stop.wait(period_s):
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        db.close()

    def _write_loop(self) -> None:
        db = self._connect()  # the writer's own connection
        db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does them
        while True:
            job = self._queue.get()
            if job is None:
                break
            batch = [job]
            while True:  # group commit: everything queued meanwhile goes in one transaction
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            error: BaseException | None = None
            try:
                db.execute("BEGIN IMMEDIATE")
                for j in batch:
                    for sql, args in j.statements:
                        db.execute(sql, args)
                db.execute("COMMIT")
            except BaseException as exc:  # pragma: no cover - disk full, I/O error
                error = exc
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
            for j in batch:
                j.error = error
                j.done.set()
                if j.future is not None:
                    j.loop.call_soon_threadsafe(_settle, j.future, error)
            if error is not None:  # pragma: no cover
                # the in-memory mirror is ahead of the disk: stop rather than diverge
                os._exit(70)
        db.close()

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=10)
        self._stop.set()
        self._checkpointer.join(timeout=10)
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave a compact store
        except sqlite3.Error:  # pragma: no cover - busy: the next open replays the WAL
            pass
        self._db.close()
        self._lock_fh.close()


def _uuid4s(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs from one ``os.urandom`` call (one per key costs more
    than the rest of a request under load)."""
    raw = os.urandom(16 * n)
    return [str(uuid.UUID(bytes=raw[16 * i: 16 * i + 16], version=4)) for i in range(n)]


def _settle(future: asyncio.Future, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:  # pragma: no cover
        future.set_exception(error)
