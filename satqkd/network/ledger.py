"""Trusted-relay key ledger: the satellite's store of keys shared with each ground station.

Protocol (Liao et al., "Satellite-relayed intercontinental quantum network", PRL 120,
030501 (2018)): during a pass over station A the satellite and A establish a secret key
``K_A``; during a later pass over B, a key ``K_B``.  Holding both, the satellite publishes
``P = K_A xor K_B`` over any public channel; A computes ``K_A xor P = K_B`` and now shares
``K_B`` with B.  The published string reveals nothing about ``K_B`` to anyone without
``K_A`` (one-time pad), but the satellite knows both keys: the satellite is a *trusted*
node.  ``n`` relayed bits consume ``n`` bits of ``K_A`` and ``n`` bits of ``K_B``; every bit
is used at most once, or the one-time pad breaks.

Bookkeeping, per satellite and station:

* a FIFO of *segments*, one per pass key deposited; a relay or a discard consumes the
  oldest unused bits first (so the store's age is bounded and consumption is auditable);
* every consumed bit range is recorded as ``(pass_id, start, stop)`` with its purpose
  (``"relay"`` or ``"discard"``), so disjointness can be checked;
* on-board storage is bounded per satellite (``storage_bits``, all stations together).
  When a deposit would overflow it, ``overflow="drop_oldest"`` (default) discards the
  oldest unused bits of that satellite first, whatever their station; ``"drop_newest"``
  keeps only the part of the incoming key that fits.

Several satellites each hold their own stock (no inter-satellite links).  The ledger
works on the actual key bits (packed ``uint8``, most significant bit first, as
``numpy.packbits``); a ``PassKey`` with ``key=None`` runs the same accounting without bits.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PassKey",
    "BitRange",
    "RelayRecord",
    "StockEvent",
    "RelayLedger",
    "extract_bits",
    "xor_publish",
    "recover_partner_key",
]

OVERFLOW_POLICIES = ("drop_oldest", "drop_newest")


@dataclass(frozen=True, eq=False)
class PassKey:
    """Secret key established between a satellite and a station in one pass.

    Attributes:
        pass_id: unique pass identifier.
        satellite, station: names.
        aos_s, los_s: pass start and end, UTC seconds since 1970.
        key: the key bits packed with ``numpy.packbits`` (uint8, MSB first), at least
            ``ceil(n_bits / 8)`` bytes; ``None`` for accounting without bits.
        n_bits: key length in bits.
    """

    pass_id: str
    satellite: str
    station: str
    aos_s: float
    los_s: float
    key: np.ndarray | None
    n_bits: int

    def __post_init__(self) -> None:
        if self.n_bits < 0:
            raise ValueError(f"pass {self.pass_id}: n_bits must be >= 0")
        if self.los_s < self.aos_s:
            raise ValueError(f"pass {self.pass_id}: los_s before aos_s")
        if self.key is not None:
            if self.key.dtype != np.uint8 or self.key.ndim != 1:
                raise ValueError(f"pass {self.pass_id}: key must be a 1-D packed uint8 array")
            if self.key.size * 8 < self.n_bits:
                raise ValueError(f"pass {self.pass_id}: key holds fewer than n_bits bits")


@dataclass(frozen=True)
class BitRange:
    """Half-open range ``[start, stop)`` of bit indices of one pass key."""

    pass_id: str
    start: int
    stop: int

    @property
    def n_bits(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True, eq=False)
class RelayRecord:
    """One published relay: ``published = K_A[ranges_a] xor K_B[ranges_b]`` (packed bits)."""

    time_s: float
    satellite: str
    station_a: str
    station_b: str
    n_bits: int
    ranges_a: tuple[BitRange, ...]
    ranges_b: tuple[BitRange, ...]
    published: np.ndarray | None
    label: str = ""


@dataclass(frozen=True)
class StockEvent:
    """Stock of one satellite-station key store right after a change."""

    time_s: float
    satellite: str
    station: str
    stock_bits: int
    kind: str  # "deposit", "discard", "relay"


@dataclass
class _Segment:
    key: PassKey
    next_bit: int  # first unused bit
    stop: int  # one past the last usable bit (a deposit may be truncated)

    @property
    def remaining(self) -> int:
        return self.stop - self.next_bit


def extract_bits(keys: Mapping[str, PassKey], ranges) -> np.ndarray:
    """Concatenate the bits of ``ranges`` from ``keys`` (pass_id -> PassKey), unpacked (0/1 uint8)."""
    parts = []
    for r in ranges:
        key = keys[r.pass_id].key
        if key is None:
            raise ValueError(f"pass {r.pass_id} has no key bits")
        lo, hi = r.start // 8, (r.stop + 7) // 8
        bits = np.unpackbits(key[lo:hi])
        off = r.start - 8 * lo
        parts.append(bits[off : off + r.n_bits])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint8)


def xor_publish(bits_a: np.ndarray, bits_b: np.ndarray) -> np.ndarray:
    """The public relay message ``K_A xor K_B`` (unpacked bits in, packed bits out)."""
    if bits_a.shape != bits_b.shape:
        raise ValueError("relay keys must have the same length")
    return np.packbits(np.bitwise_xor(bits_a, bits_b))


def recover_partner_key(own_keys: Mapping[str, PassKey], own_ranges, published: np.ndarray, n_bits: int) -> np.ndarray:
    """Station A's view: ``K_B = K_A xor P`` from its own copy of ``K_A``; unpacked bits."""
    own = extract_bits(own_keys, own_ranges)
    if own.size != n_bits:
        raise ValueError("own key ranges do not hold n_bits bits")
    return np.bitwise_xor(own, np.unpackbits(published)[:n_bits])


class RelayLedger:
    """Key stores of every satellite, per station, with a complete audit trail.

    Args:
        storage_bits: on-board key storage per satellite in bits: one number for all,
            a mapping satellite -> bits (missing satellites unbounded), or ``None``
            (unbounded).
        overflow: ``"drop_oldest"`` or ``"drop_newest"`` (see the module docstring).
    """

    def __init__(self, storage_bits: float | Mapping[str, float] | None = None, overflow: str = "drop_oldest"):
        if overflow not in OVERFLOW_POLICIES:
            raise ValueError(f"overflow must be one of {OVERFLOW_POLICIES}")
        self._storage = storage_bits
        self.overflow = overflow
        self._stores: dict[tuple[str, str], deque[_Segment]] = {}
        self._keys: dict[str, PassKey] = {}
        self._deposit_order: dict[str, int] = {}
        self.usage: list[tuple[BitRange, str, float]] = []  # (range, "relay"|"discard", time_s)
        self.records: list[RelayRecord] = []
        self.events: list[StockEvent] = []
        self.generated_bits = 0
        self.discarded_bits = 0

    # ------------------------------------------------------------------ queries
    def capacity_bits(self, satellite: str) -> float:
        if self._storage is None:
            return math.inf
        if isinstance(self._storage, Mapping):
            v = self._storage.get(satellite)
            return math.inf if v is None else float(math.floor(v))
        return float(math.floor(self._storage))

    def stock_bits(self, satellite: str, station: str) -> int:
        return sum(s.remaining for s in self._stores.get((satellite, station), ()))

    def stored_bits(self, satellite: str) -> int:
        return sum(self.stock_bits(sat, st) for sat, st in self._stores if sat == satellite)

    @property
    def keys(self) -> dict[str, PassKey]:
        """Pass keys deposited so far (the satellite's copies), by pass_id."""
        return dict(self._keys)

    @property
    def relayed_bits(self) -> int:
        return sum(r.n_bits for r in self.records)

    def consumed_ranges(self) -> dict[str, list[tuple[int, int, str]]]:
        """pass_id -> sorted ``(start, stop, purpose)`` of every consumed bit range."""
        out: dict[str, list[tuple[int, int, str]]] = {}
        for r, purpose, _ in self.usage:
            out.setdefault(r.pass_id, []).append((r.start, r.stop, purpose))
        for v in out.values():
            v.sort()
        return out

    # ------------------------------------------------------------------ changes
    def _log(self, time_s: float, satellite: str, station: str, kind: str) -> None:
        self.events.append(StockEvent(float(time_s), satellite, station, self.stock_bits(satellite, station), kind))

    def _take(self, satellite: str, station: str, n_bits: int, purpose: str, time_s: float) -> list[BitRange]:
        """Consume the oldest ``n_bits`` unused bits of one store."""
        store = self._stores.get((satellite, station), deque())
        taken: list[BitRange] = []
        need = n_bits
        while need > 0:
            seg = store[0]
            k = min(need, seg.remaining)
            r = BitRange(seg.key.pass_id, seg.next_bit, seg.next_bit + k)
            seg.next_bit += k
            need -= k
            taken.append(r)
            self.usage.append((r, purpose, float(time_s)))
            if seg.remaining == 0:
                store.popleft()
        return taken

    def discard(self, satellite: str, station: str, n_bits: int, time_s: float) -> list[BitRange]:
        """Erase the oldest ``n_bits`` of one store (all of it if it holds fewer)."""
        n = min(int(n_bits), self.stock_bits(satellite, station))
        if n <= 0:
            return []
        taken = self._take(satellite, station, n, "discard", time_s)
        self.discarded_bits += n
        self._log(time_s, satellite, station, "discard")
        return taken

    def deposit(self, pass_key: PassKey, time_s: float | None = None, keep_bits: int | None = None) -> list[BitRange]:
        """Store a pass key (at LOS by default); returns the bit ranges discarded to fit.

        ``keep_bits`` stores only the first ``keep_bits`` bits of the new key and erases
        the rest at once (a plan that refuses part of a key it has no room or use for).
        """
        if pass_key.pass_id in self._keys:
            raise ValueError(f"pass {pass_key.pass_id} deposited twice")
        t = pass_key.los_s if time_s is None else time_s
        sat, st = pass_key.satellite, pass_key.station
        self._keys[pass_key.pass_id] = pass_key
        self._deposit_order[pass_key.pass_id] = len(self._deposit_order)
        self.generated_bits += pass_key.n_bits
        keep = pass_key.n_bits if keep_bits is None else max(0, min(int(keep_bits), pass_key.n_bits))
        dropped: list[BitRange] = []
        if keep < pass_key.n_bits:
            r = BitRange(pass_key.pass_id, keep, pass_key.n_bits)
            self.usage.append((r, "discard", float(t)))
            self.discarded_bits += r.n_bits
            dropped.append(r)
        cap = self.capacity_bits(sat)
        free = cap - self.stored_bits(sat)
        if keep > free:
            if self.overflow == "drop_newest":
                new_keep = max(0, int(math.floor(free)))
                r = BitRange(pass_key.pass_id, new_keep, keep)
                self.usage.append((r, "discard", float(t)))
                self.discarded_bits += r.n_bits
                dropped.append(r)
                keep = new_keep
            else:
                excess = int(keep - free)
                # oldest first across the satellite's stations, then the new key's own head
                while excess > 0:
                    oldest = None
                    for (s2, st2), store in self._stores.items():
                        if s2 == sat and store:
                            seg = store[0]
                            o = (seg.key.los_s, self._deposit_order[seg.key.pass_id])
                            if oldest is None or o < oldest[0]:
                                oldest = (o, st2)
                    if oldest is None:
                        break
                    st2 = oldest[1]
                    k = min(excess, self._stores[(sat, st2)][0].remaining)
                    dropped += self.discard(sat, st2, k, t)
                    excess -= k
                if excess > 0:  # the new key alone exceeds the storage: keep its newest bits
                    head = excess
                    r = BitRange(pass_key.pass_id, 0, head)
                    self.usage.append((r, "discard", float(t)))
                    self.discarded_bits += head
                    dropped.append(r)
                    self._append(_Segment(pass_key, head, keep))
                    self._log(t, sat, st, "deposit")
                    return dropped
        self._append(_Segment(pass_key, 0, keep))
        self._log(t, sat, st, "deposit")
        return dropped

    def _append(self, seg: _Segment) -> None:
        store = self._stores.setdefault((seg.key.satellite, seg.key.station), deque())
        if seg.remaining > 0:
            store.append(seg)

    def relay(
        self,
        satellite: str,
        station_a: str,
        station_b: str,
        n_bits: int | None = None,
        time_s: float = 0.0,
        label: str = "",
    ) -> RelayRecord:
        """Publish ``K_A xor K_B`` for ``min(stock_A, stock_B, n_bits)`` bits and consume them."""
        if station_a == station_b:
            raise ValueError("a relay needs two different stations")
        avail = min(self.stock_bits(satellite, station_a), self.stock_bits(satellite, station_b))
        n = avail if n_bits is None else min(int(n_bits), avail)
        n = max(n, 0)
        ra = tuple(self._take(satellite, station_a, n, "relay", time_s))
        rb = tuple(self._take(satellite, station_b, n, "relay", time_s))
        published = None
        if n > 0 and all(self._keys[r.pass_id].key is not None for r in ra + rb):
            published = xor_publish(extract_bits(self._keys, ra), extract_bits(self._keys, rb))
        rec = RelayRecord(float(time_s), satellite, station_a, station_b, n, ra, rb, published, label)
        if n > 0:
            self.records.append(rec)
            self._log(time_s, satellite, station_a, "relay")
            self._log(time_s, satellite, station_b, "relay")
        return rec

    def check(self) -> None:
        """Assert the ledger's invariants: disjoint in-range bit use, conservation, capacity."""
        for pid, ranges in self.consumed_ranges().items():
            n = self._keys[pid].n_bits
            prev_stop = 0
            for start, stop, _ in ranges:
                if not (0 <= start < stop <= n):
                    raise AssertionError(f"range {start}:{stop} outside pass {pid} key of {n} bits")
                if start < prev_stop:
                    raise AssertionError(f"pass {pid}: bit range {start}:{stop} used twice")
                prev_stop = stop
        stock = sum(self.stock_bits(s, st) for s, st in self._stores)
        used = sum(r.n_bits for r, _, _ in self.usage)
        if stock + used != self.generated_bits:
            raise AssertionError("stock + consumed != generated")
        for sat in {s for s, _ in self._stores}:
            if self.stored_bits(sat) > self.capacity_bits(sat) + 1e-9:
                raise AssertionError(f"satellite {sat} over its storage")
        for e in self.events:
            if e.stock_bits < 0:
                raise AssertionError("negative stock")

