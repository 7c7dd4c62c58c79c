"""Carry out a plan on the actual keys: the ledger relays real bits, fibre forwards them.

A plan (:mod:`satqkd.network.planning`) is made on *expected* keys.  After the keys
stage has produced the real key of every selected pass, :func:`execute_plan`:

1. optionally re-plans the allocation on the actual key lengths with the selection
   fixed (``replan=True``, a linear programme for MILP plans; the greedy rule again for
   greedy plans), since actual keys differ from the link-budget expectation;
2. walks the events in time order; at each event and satellite: planned erasures
   (oldest bits first; an erasure larger than the stored key truncates the incoming
   key), deposits of the selected passes' keys, then the planned relays, each
   ``min(planned, available)`` bits, with ``K_A xor K_B`` published on real bits;
3. gives entangled key of each used window to its demands;
4. computes when each delivered chunk reaches the *endpoints*: a chunk relayed at
   ``t`` to a demand whose endpoint is a city is forwarded over the city's trusted-node
   chain, whose key accrues at ``C`` bit/s from the horizon start and is spent first
   in, first out; the chunk is available at ``max(t, t0 + spent_through_chunk / C)`` over
   both ends (:func:`fibre_availability`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from satqkd.network.ledger import PassKey, RelayLedger, RelayRecord
from satqkd.network.model import NetworkProblem
from satqkd.network.planning import PlanResult, plan_greedy, plan_milp

__all__ = ["Delivery", "Execution", "execute_plan", "fibre_availability"]


@dataclass(frozen=True)
class Delivery:
    """A chunk of key delivered to demand index ``demand``.

    ``time_s``: published by the satellite (relay) or ended (entanglement window);
    ``available_s``: when both endpoints hold it (after fibre forwarding);
    ``path``: ``"relay"`` or ``"entanglement"``; ``sources``: pass or window ids used.
    """

    demand: int
    time_s: float
    available_s: float
    bits: int
    path: str
    satellite: str
    sources: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Execution:
    """The result of :func:`execute_plan`."""

    problem: NetworkProblem
    plan: PlanResult
    ledger: RelayLedger
    deliveries: tuple[Delivery, ...]
    relay_records: tuple[RelayRecord, ...]
    key_bits: Mapping[str, int]  # pass/window id -> key length actually obtained

    def delivered_bits(self) -> list[int]:
        out = [0] * len(self.problem.demands)
        for d in self.deliveries:
            out[d.demand] += d.bits
        return out


def fibre_availability(problem: NetworkProblem, chunks: list[tuple[int, float, int]]) -> list[float]:
    """Endpoint availability time of each ``(demand, time_s, bits)`` chunk (FIFO fibre model).

    A city's chain generates key at ``C`` bit/s from the horizon start ``t0`` and spends
    ``bits`` per forwarded chunk in time order, so the chunk is through at
    ``t0 + (key spent through it) / C`` if later than its relay time.  ``inf`` when the
    fibre never carries it (``C = 0``).
    """
    t0, _ = problem.horizon
    order = sorted(range(len(chunks)), key=lambda i: (chunks[i][1], i))
    spent: dict[str, float] = {}
    out = [0.0] * len(chunks)
    for i in order:
        d, t, bits = chunks[i]
        dem = problem.demands[d]
        avail = t
        for e in (dem.a, dem.b):
            f = problem.fibre_link(e)
            if f is None:
                continue
            cap = problem.fibre_capacity_bps(e)
            if math.isinf(cap):
                continue
            spent[f.city] = spent.get(f.city, 0.0) + bits
            avail = max(avail, t0 + spent[f.city] / cap if cap > 0 else math.inf)
        out[i] = avail
    return out


def _whole(bits: float) -> int:
    """Whole bits of a planned amount: floored (never above plan), past solver noise."""
    return int(math.floor(bits + 1e-3))


def _with_actual(problem: NetworkProblem, bits: Mapping[str, int]) -> NetworkProblem:
    cands = tuple(
        replace(c, expected_key_bits=float(bits[c.pass_id])) if c.pass_id in bits else c for c in problem.candidates
    )
    wins = tuple(
        replace(w, expected_key_bits=float(bits[w.window_id])) if w.window_id in bits else w for w in problem.windows
    )
    return replace(problem, candidates=cands, windows=wins, _cache={})


def execute_plan(
    problem: NetworkProblem,
    plan: PlanResult,
    pass_keys: Mapping[str, PassKey] | None = None,
    window_bits: Mapping[str, int] | None = None,
    *,
    replan: bool = True,
    overflow: str = "drop_oldest",
    time_limit_s: float = 60.0,
) -> Execution:
    """Run ``plan`` on actual keys (see the module docstring).

    Args:
        problem: the problem the plan was made for.
        plan: from :func:`plan_milp` or :func:`plan_greedy`.
        pass_keys: pass_id -> actual :class:`PassKey` (the satellite's copy) of selected
            passes; a selected pass missing here is taken at its expected length,
            without bits (accounting only).
        window_bits: window_id -> entangled key bits actually obtained (default: expected).
        replan: re-allocate on the actual key lengths with the plan's selection fixed.
        overflow: the ledger's policy when actual keys overflow the storage.
    """
    pass_keys = dict(pass_keys or {})
    window_bits = dict(window_bits or {})
    cands = {c.pass_id: c for c in problem.candidates}
    wins = {w.window_id: w for w in problem.windows}
    keys: dict[str, PassKey] = {}
    for pid in plan.selected_passes:
        c = cands[pid]
        if pid in pass_keys:
            k = pass_keys[pid]
            if (k.satellite, k.station) != (c.satellite, c.station):
                raise ValueError(f"pass key {pid} is for {k.satellite}/{k.station}, not {c.satellite}/{c.station}")
            keys[pid] = k
        else:
            keys[pid] = PassKey(pid, c.satellite, c.station, c.aos_s, c.los_s, None, int(math.floor(c.expected_key_bits)))
    wbits = {
        wid: int(window_bits.get(wid, math.floor(wins[wid].expected_key_bits))) for wid in plan.selected_windows
    }
    actual = {pid: k.n_bits for pid, k in keys.items()} | wbits
    if replan:
        chosen = set(plan.selected_passes) | set(plan.selected_windows)
        prob2 = _with_actual(problem, actual)
        if plan.method == "greedy":
            plan = replace(plan_greedy(prob2, fixed_selection=chosen), method="greedy")
        else:
            plan = plan_milp(prob2, fixed_selection=chosen, time_limit_s=time_limit_s)
    storage = {s: problem.capacity_bits(s) for s in problem.satellites if math.isfinite(problem.capacity_bits(s))}
    ledger = RelayLedger(storage, overflow=overflow)

    # events: (time, order, payload); order: erasures 0, deposits 1, relays 2, windows 3
    ev: list[tuple[float, int, int, object]] = []
    for n, dsc in enumerate(plan.discards):
        ev.append((dsc.time_s, 0, n, dsc))
    for n, pid in enumerate(plan.selected_passes):
        ev.append((keys[pid].los_s, 1, n, keys[pid]))
    for n, r in enumerate(plan.relays):
        ev.append((r.time_s, 2, n, r))
    for n, a in enumerate(plan.direct):
        ev.append((a.time_s, 3, n, a))
    ev.sort(key=lambda e: (e[0], e[1], e[2]))
    truncate: dict[tuple[str, str, float], int] = {}
    win_left = dict(wbits)
    chunks: list[tuple[int, float, int, str, str, tuple[str, ...]]] = []
    records: list[RelayRecord] = []
    for t, kind, _, obj in ev:
        if kind == 0:
            want = int(math.ceil(obj.bits - 1e-3))  # erase at least the plan: room for the deposit
            have = ledger.stock_bits(obj.satellite, obj.station)
            ledger.discard(obj.satellite, obj.station, min(want, have), t)
            if want > have:  # the rest of the erasure refuses part of the incoming key
                key = (obj.satellite, obj.station, t)
                truncate[key] = truncate.get(key, 0) + want - have
        elif kind == 1:
            k: PassKey = obj
            cut = truncate.pop((k.satellite, k.station, t), 0)
            ledger.deposit(k, time_s=t, keep_bits=max(0, k.n_bits - cut) if cut else None)
        elif kind == 2:
            d = obj.demand
            a, b = problem.endpoint_station(problem.demands[d].a), problem.endpoint_station(problem.demands[d].b)
            rec = ledger.relay(obj.satellite, a, b, _whole(obj.bits), time_s=t, label=problem.demands[d].label)
            if rec.n_bits > 0:
                records.append(rec)
                src = tuple(dict.fromkeys(r.pass_id for r in rec.ranges_a + rec.ranges_b))
                chunks.append((d, t, rec.n_bits, "relay", obj.satellite, src))
        else:
            n = min(_whole(obj.bits), win_left[obj.window_id])
            if n > 0:
                win_left[obj.window_id] -= n
                chunks.append((obj.demand, t, n, "entanglement", wins[obj.window_id].satellite, (obj.window_id,)))
    avail = fibre_availability(problem, [(d, t, n) for d, t, n, *_ in chunks])
    deliveries = tuple(
        Delivery(d, t, av, n, path, sat, src) for (d, t, n, path, sat, src), av in zip(chunks, avail)
    )
    return Execution(problem, plan, ledger, deliveries, tuple(records), actual)
