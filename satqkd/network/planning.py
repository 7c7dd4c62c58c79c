"""Pass selection and key allocation for trusted-relay and dual-downlink networks.

Two planners take a :class:`~satqkd.network.model.NetworkProblem` and return a
:class:`PlanResult`:

* :func:`plan_milp`: exact mixed-integer linear programme solved by HiGHS through
  ``scipy.optimize.milp`` (formulation below and in ``docs/network.md``);
* :func:`plan_greedy`: a baseline: passes picked by value, key relayed as soon as it
  exists, in time order.

Formulation (all amounts in bits; satellite ``s``, station ``j``, demand ``d`` with
stations ``(a_d, b_d)``; ``E_s`` the sorted distinct LOS times of ``s``'s candidate
passes, the relay events; the key of a pass is on board at its LOS)::

    variables   x_p in {0,1}           candidate pass p used for trusted-node QKD
                u_e in {0,1}           entanglement window e used
                y_dsk >= 0             bits relayed to d by satellite s at event k
                                       (only at events where a pass of a_d or b_d ends)
                v_de  >= 0             entangled bits of window e given to d
                S_sjk >= 0             key of s shared with j on board after event k
                w_sjk >= 0             bits of that store erased at event k, before deposits
                0 <= D_d <= R_d        key delivered to d over the horizon
    conflicts   x_p + x_q <= 1         p, q overlap in time and share a satellite or a
                                       station (windows: the satellite and both stations)
    stock       S_sjk = S_sj,k-1 - w_sjk + sum_{p ends at k over j} g_p x_p
                        - sum_{d ni j} y_dsk                          (S_sj,-1 = 0)
    storage     sum_j (S_sj,k-1 - w_sjk) + sum_{p of s ends at k} g_p x_p <= M_s
    windows     sum_d v_de <= g_e u_e
    delivered   D_d = sum_{s,k} y_dsk + sum_e v_de
    fibre       sum_{d reaching city c} D_d <= C_c (t1 - t0)
    objective   "weighted": max sum_d w_d D_d
                "maxmin":   max z  s.t.  D_d >= z R_d  (0 <= z <= 1), then max sum_d w_d D_d
                            with D_d >= z* R_d

A final linear programme with the selection fixed and every ``D_d`` held at its optimum
minimises the weighted request backlog integrated over time (the total waiting time of
the requests, see ``_backlog_rows``), plus 1e-3 per bit of relay time and of erasure as
tie-breakers, so the plan has the best latency among optimal plans with that selection;
then uses whose key serves nothing are dropped (see ``_prune``).

Relaying only at events where one of the pair's stations receives key loses nothing:
between those events both stores only shrink.  The fibre constraint on the horizon total
suffices because trusted nodes bank fibre key from ``t0`` on and forward relayed key in
first-in-first-out order, so everything the satellite relays reaches the cities by ``t1``
(see :mod:`satqkd.network.outputs` for the availability times).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from satqkd.network.ledger import PassKey, RelayLedger
from satqkd.network.model import CandidatePass, EntanglementWindow, NetworkProblem

__all__ = [
    "RelayAllocation",
    "DirectAllocation",
    "DiscardAllocation",
    "PlanResult",
    "plan_milp",
    "plan_greedy",
    "conflicting_pairs",
    "objective_values",
]


@dataclass(frozen=True)
class RelayAllocation:
    """``bits`` relayed by ``satellite`` to demand index ``demand`` at ``time_s``."""

    time_s: float
    satellite: str
    demand: int
    bits: float


@dataclass(frozen=True)
class DirectAllocation:
    """Entangled key of window ``window_id`` given to demand ``demand`` (at the window's LOS)."""

    window_id: str
    time_s: float
    demand: int
    bits: float


@dataclass(frozen=True)
class DiscardAllocation:
    """``bits`` of the ``satellite``-``station`` store erased at ``time_s`` before deposits."""

    time_s: float
    satellite: str
    station: str
    bits: float


@dataclass(frozen=True)
class PlanResult:
    """A plan: the passes and windows used and where the key goes.

    ``objective_value`` is the weighted sum for ``objective == "weighted"`` and the
    smallest met fraction for ``"maxmin"``; both are also given separately.
    """

    method: str
    objective: str
    objective_value: float
    weighted_value: float
    min_fraction: float
    selected_passes: tuple[str, ...]
    selected_windows: tuple[str, ...]
    relays: tuple[RelayAllocation, ...]
    direct: tuple[DirectAllocation, ...]
    discards: tuple[DiscardAllocation, ...]
    delivered_bits: tuple[float, ...]
    requested_bits: tuple[float, ...]
    status: str
    solve_time_s: float
    mip_gap: float | None = None


# --------------------------------------------------------------------------- instance
def conflicting_pairs(uses: list[tuple[float, float, tuple[str, ...]]]) -> set[tuple[int, int]]:
    """Index pairs ``(i < j)`` of uses that overlap in time and share a resource.

    ``uses[i] = (aos_s, los_s, resources)``; intervals are half-open, so a pass that
    starts when another ends does not conflict.  Sweep per resource: O(n log n + pairs).
    """
    by_res: dict[str, list[int]] = {}
    for i, (_, _, res) in enumerate(uses):
        for r in res:
            by_res.setdefault(r, []).append(i)
    out: set[tuple[int, int]] = set()
    for idx in by_res.values():
        idx.sort(key=lambda i: uses[i][0])
        active: list[int] = []
        for i in idx:
            aos = uses[i][0]
            active = [j for j in active if uses[j][1] > aos]
            for j in active:
                if uses[i][1] > uses[j][0] and uses[j][1] > aos:
                    out.add((min(i, j), max(i, j)))
            active.append(i)
    return out


class _Instance:
    """The problem reduced to what the planners use (horizon-clipped, indexed)."""

    def __init__(self, problem: NetworkProblem):
        p = problem
        self.problem = p
        self.t0, self.t1 = p.horizon
        self.T = max(self.t1 - self.t0, 1e-9)
        self.nd = len(p.demands)
        self.dem_st = [(p.endpoint_station(d.a), p.endpoint_station(d.b)) for d in p.demands]
        self.R = np.array([d.requested_bits(self.t0, self.t1) for d in p.demands], dtype=float)
        self.weight = np.array([d.weight for d in p.demands], dtype=float)
        # fibre: horizon key of each city's chain; demands drawing on it
        self.fibre_bits: dict[str, float] = {}
        self.dem_cities: list[list[str]] = []
        for d in p.demands:
            cities = []
            for e in (d.a, d.b):
                f = p.fibre_link(e)
                if f is not None:
                    cap = p.fibre_capacity_bps(e)
                    if math.isfinite(cap):
                        self.fibre_bits[f.city] = cap * self.T
                        cities.append(f.city)
            self.dem_cities.append(cities)
        relevant = {s for pair in self.dem_st for s in pair}
        pair_dem: dict[frozenset, list[int]] = {}
        for i, st in enumerate(self.dem_st):
            pair_dem.setdefault(frozenset(st), []).append(i)

        def in_h(a: float, b: float) -> bool:
            return self.t0 <= a and b <= self.t1

        self.cands: list[CandidatePass] = [
            c for c in p.candidates if c.station in relevant and in_h(c.aos_s, c.los_s)
        ]
        self.wins: list[EntanglementWindow] = [
            w
            for w in p.windows
            if frozenset((w.station_a, w.station_b)) in pair_dem and in_h(w.aos_s, w.los_s)
        ]
        self.win_dem = [pair_dem[frozenset((w.station_a, w.station_b))] for w in self.wins]
        # relay events per satellite
        self.sats = sorted({c.satellite for c in self.cands})
        self.events: dict[str, list[float]] = {}
        self.sat_st: dict[str, list[str]] = {}
        for s in self.sats:
            cs = [c for c in self.cands if c.satellite == s]
            self.events[s] = sorted({c.los_s for c in cs})
            self.sat_st[s] = sorted({c.station for c in cs})
        self.cand_ev: list[tuple[str, int]] = []
        self.deposits: dict[tuple[str, int], list[int]] = {}
        for i, c in enumerate(self.cands):
            k = self.events[c.satellite].index(c.los_s)
            self.cand_ev.append((c.satellite, k))
            self.deposits.setdefault((c.satellite, k), []).append(i)
        # relay slots (d, s, k): k is an event where a pass of a_d or b_d ends on s
        self.slots: list[tuple[int, str, int]] = []
        for s in self.sats:
            for d, (a, b) in enumerate(self.dem_st):
                if a in self.sat_st[s] and b in self.sat_st[s]:
                    for k in range(len(self.events[s])):
                        if any(self.cands[i].station in (a, b) for i in self.deposits.get((s, k), [])):
                            self.slots.append((d, s, k))
        uses = [(c.aos_s, c.los_s, ("sat:" + c.satellite, "st:" + c.station)) for c in self.cands]
        uses += [
            (w.aos_s, w.los_s, ("sat:" + w.satellite, "st:" + w.station_a, "st:" + w.station_b)) for w in self.wins
        ]
        self.conflicts = sorted(conflicting_pairs(uses))
        g = [c.expected_key_bits for c in self.cands] + [w.expected_key_bits for w in self.wins]
        self.scale = max(1.0, max(g, default=1.0)) / 1.0e3  # keeps HiGHS's numbers O(1..1e3)

    def values(self, delivered) -> tuple[float, float]:
        return objective_values(self.R, self.weight, delivered)


def objective_values(requested, weight, delivered) -> tuple[float, float]:
    """(weighted sum of delivered bits, smallest fraction of demand met; 1 if nothing asked)."""
    requested = np.asarray(requested, dtype=float)
    delivered = np.asarray(delivered, dtype=float)
    weighted = float(np.sum(np.asarray(weight, dtype=float) * delivered))
    pos = requested > 0
    frac = float(np.min(np.minimum(delivered[pos] / requested[pos], 1.0))) if pos.any() else 1.0
    return weighted, frac


# --------------------------------------------------------------------------- MILP
class _Lp:
    """Sparse row builder for scipy.optimize.milp."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integ: list[int] = []
        self.rows_i: list[int] = []
        self.rows_j: list[int] = []
        self.rows_v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def var(self, lb: float = 0.0, ub: float = math.inf, integer: bool = False) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integ.append(1 if integer else 0)
        return len(self.lb) - 1

    def add(self, coefs: dict[int, float], lo: float, hi: float) -> None:
        r = len(self.lo)
        for j, v in coefs.items():
            if v != 0.0:
                self.rows_i.append(r)
                self.rows_j.append(j)
                self.rows_v.append(v)
        self.lo.append(lo)
        self.hi.append(hi)

    def solve(self, c: np.ndarray, *, integer: bool, time_limit_s: float, mip_rel_gap: float, extra=None):
        lo, hi = list(self.lo), list(self.hi)
        ri, rj, rv = list(self.rows_i), list(self.rows_j), list(self.rows_v)
        for coefs, a, b in extra or ():
            r = len(lo)
            for j, v in coefs.items():
                ri.append(r)
                rj.append(j)
                rv.append(v)
            lo.append(a)
            hi.append(b)
        n = len(self.lb)
        cons = []
        if lo:
            A = sp.csr_array((rv, (ri, rj)), shape=(len(lo), n))
            cons = [LinearConstraint(A, np.array(lo), np.array(hi))]
        return milp(
            c,
            constraints=cons,
            integrality=np.array(self.integ) if integer else np.zeros(n),
            bounds=Bounds(np.array(self.lb), np.array(self.ub)),
            options={"time_limit": time_limit_s, "mip_rel_gap": mip_rel_gap, "disp": False},
        )


def _build(inst: _Instance, fixed: Collection[str] | None):
    lp = _Lp()
    sc = inst.scale
    chosen = None if fixed is None else set(fixed)

    def binvar(uid: str) -> int:
        if chosen is None:
            return lp.var(0.0, 1.0, integer=True)
        v = 1.0 if uid in chosen else 0.0
        return lp.var(v, v, integer=True)

    xcol = [binvar(c.pass_id) for c in inst.cands]
    ucol = [binvar(w.window_id) for w in inst.wins]
    ycol = [lp.var() for _ in inst.slots]
    vcol = {(e, d): lp.var() for e in range(len(inst.wins)) for d in inst.win_dem[e]}
    dcol = [lp.var(0.0, inst.R[d] / sc) for d in range(inst.nd)]
    scol: dict[tuple[str, str, int], int] = {}
    wcol: dict[tuple[str, str, int], int] = {}
    for s in inst.sats:
        bounded = math.isfinite(inst.problem.capacity_bits(s))
        for k in range(len(inst.events[s])):
            for j in inst.sat_st[s]:
                scol[(s, j, k)] = lp.var()
                if bounded:
                    wcol[(s, j, k)] = lp.var()
    uses = xcol + ucol
    for i, j in inst.conflicts:
        lp.add({uses[i]: 1.0, uses[j]: 1.0}, -math.inf, 1.0)
    slots_at: dict[tuple[str, int], list[int]] = {}
    for n, (d, s, k) in enumerate(inst.slots):
        slots_at.setdefault((s, k), []).append(n)
    for s in inst.sats:
        cap = inst.problem.capacity_bits(s)
        for k in range(len(inst.events[s])):
            deps = inst.deposits.get((s, k), [])
            for j in inst.sat_st[s]:
                row = {scol[(s, j, k)]: 1.0}
                if k > 0:
                    row[scol[(s, j, k - 1)]] = -1.0
                if (s, j, k) in wcol:
                    row[wcol[(s, j, k)]] = 1.0
                for i in deps:
                    if inst.cands[i].station == j:
                        row[xcol[i]] = -inst.cands[i].expected_key_bits / sc
                for n in slots_at.get((s, k), []):
                    if j in inst.dem_st[inst.slots[n][0]]:
                        row[ycol[n]] = row.get(ycol[n], 0.0) + 1.0
                lp.add(row, 0.0, 0.0)
            if math.isfinite(cap):
                row = {}
                for j in inst.sat_st[s]:
                    if k > 0:
                        row[scol[(s, j, k - 1)]] = 1.0
                    row[wcol[(s, j, k)]] = -1.0
                for i in deps:
                    row[xcol[i]] = inst.cands[i].expected_key_bits / sc
                lp.add(row, -math.inf, cap / sc)
    for e, w in enumerate(inst.wins):
        row = {vcol[(e, d)]: 1.0 for d in inst.win_dem[e]}
        row[ucol[e]] = -w.expected_key_bits / sc
        lp.add(row, -math.inf, 0.0)
    for d in range(inst.nd):
        row = {dcol[d]: 1.0}
        for n, slot in enumerate(inst.slots):
            if slot[0] == d:
                row[ycol[n]] = -1.0
        for (e, dd), col in vcol.items():
            if dd == d:
                row[col] = -1.0
        lp.add(row, 0.0, 0.0)
    for city, bits in inst.fibre_bits.items():
        row = {dcol[d]: 1.0 for d in range(inst.nd) if city in inst.dem_cities[d]}
        lp.add(row, -math.inf, bits / sc)
    cols = dict(x=xcol, u=ucol, y=ycol, v=vcol, D=dcol, S=scol, w=wcol)
    return lp, cols


def _extract(inst: _Instance, cols, sol: np.ndarray, method: str, status: str, t_solve: float, gap):
    sc = inst.scale
    tiny = 1e-9 * 1e3  # HiGHS feasibility noise, in scaled units
    sel_p = tuple(c.pass_id for c, col in zip(inst.cands, cols["x"]) if sol[col] > 0.5)
    sel_w = tuple(w.window_id for w, col in zip(inst.wins, cols["u"]) if sol[col] > 0.5)
    relays = tuple(
        RelayAllocation(inst.events[s][k], s, d, float(sol[col] * sc))
        for (d, s, k), col in zip(inst.slots, cols["y"])
        if sol[col] > tiny
    )
    direct = tuple(
        DirectAllocation(inst.wins[e].window_id, inst.wins[e].los_s, d, float(sol[col] * sc))
        for (e, d), col in cols["v"].items()
        if sol[col] > tiny
    )
    discards = tuple(
        DiscardAllocation(inst.events[s][k], s, j, float(sol[col] * sc))
        for (s, j, k), col in cols["w"].items()
        if sol[col] > tiny
    )
    delivered = np.array([max(0.0, sol[col] * sc) for col in cols["D"]])
    weighted, frac = inst.values(delivered)
    obj = weighted if inst.problem.objective == "weighted" else frac
    return PlanResult(
        method,
        inst.problem.objective,
        obj,
        weighted,
        frac,
        sel_p,
        sel_w,
        tuple(sorted(relays, key=lambda r: (r.time_s, r.satellite, r.demand))),
        tuple(sorted(direct, key=lambda r: (r.time_s, r.demand))),
        tuple(sorted(discards, key=lambda r: (r.time_s, r.satellite, r.station))),
        tuple(float(x) for x in delivered),
        tuple(float(x) for x in inst.R),
        status,
        t_solve,
        gap,
    )


_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}


def plan_milp(
    problem: NetworkProblem,
    *,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-6,
    fixed_selection: Collection[str] | None = None,
    earliest: bool = True,
) -> PlanResult:
    """Exact plan by mixed-integer linear programming (HiGHS via ``scipy.optimize.milp``).

    Args:
        problem: the network problem.
        time_limit_s: HiGHS time limit per solve; on expiry the best plan found is
            returned with status ``"time_limit"`` and its relative gap.
        mip_rel_gap: relative optimality gap at which HiGHS stops (the returned
            objective is within this fraction of the optimum).
        fixed_selection: pass and window ids to use, all others unused (a linear
            programme then: re-allocates actual keys after a fixed schedule).
        earliest: run the final latency LP (see the module docstring).
    """
    start = time.perf_counter()
    inst = _Instance(problem)
    lp, cols = _build(inst, fixed_selection)
    n = len(lp.lb)
    w_obj = np.zeros(n)
    for d, col in enumerate(cols["D"]):
        w_obj[col] = -inst.weight[d]
    kw = dict(integer=True, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    extra: list = []
    gap = None
    if problem.objective == "maxmin":
        zc = lp.var(0.0, 1.0)
        cz = np.zeros(n + 1)
        cz[zc] = -1.0
        rows = [({cols["D"][d]: 1.0, zc: -inst.R[d] / inst.scale}, 0.0, math.inf) for d in range(inst.nd) if inst.R[d] > 0]
        res = lp.solve(cz, extra=rows, **kw)
        if res.x is None:
            raise RuntimeError(f"network MILP (max-min stage) found no plan: {res.message}")
        zstar = float(res.x[zc])
        lp.lb[zc] = lp.ub[zc] = 0.0  # z leaves the model; its floor becomes rows on D
        w_obj = np.append(w_obj, 0.0)
        extra = [
            ({cols["D"][d]: 1.0}, zstar * inst.R[d] / inst.scale * (1 - 1e-9) - 1e-9, math.inf)
            for d in range(inst.nd)
            if inst.R[d] > 0
        ]
    res = lp.solve(w_obj, extra=extra, **kw)
    if res.x is None:
        raise RuntimeError(f"network MILP found no plan: {res.message}")
    sol = res.x
    status = _STATUS.get(res.status, str(res.status))
    gap = getattr(res, "mip_gap", None)
    if earliest and (inst.slots or inst.wins):
        saved = list(lp.lb), list(lp.ub)
        for col in cols["x"] + cols["u"]:
            lp.lb[col] = lp.ub[col] = float(round(sol[col]))
        rows = _backlog_rows(inst, cols, lp)  # adds the cumulative and backlog columns
        c2 = np.zeros(len(lp.lb))
        for col, cost in rows.pop("cost").items():
            c2[col] = cost
        for (d, s, k), col in zip(inst.slots, cols["y"]):
            c2[col] += 1e-3 * (inst.events[s][k] - inst.t0) / inst.T
        for (e, d), col in cols["v"].items():
            c2[col] += 1e-3 * (inst.wins[e].los_s - inst.t0) / inst.T
        for col in cols["w"].values():
            c2[col] = 1e-3
        keep = [({cols["D"][d]: 1.0}, sol[cols["D"][d]] * (1 - 1e-9) - 1e-7, math.inf) for d in range(inst.nd)]
        res2 = lp.solve(
            c2, extra=extra + keep + rows["rows"], integer=False, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
        )
        if res2.x is not None and res2.status == 0:
            sol = res2.x
        n_model = len(saved[0])
        lp.lb, lp.ub = saved
        sol = _prune(inst, cols, sol[:n_model].copy())
    return _extract(inst, cols, sol, "milp", status, time.perf_counter() - start, gap)


def _backlog_rows(inst: _Instance, cols, lp: _Lp) -> dict:
    """Columns and rows of the latency stage: cumulative delivery and request backlog.

    On the sorted delivery times ``G`` (relay events of every satellite, window ends)::

        C_dn = C_d,n-1 + sum_{relays and windows of d at G_n}     cumulative key of d
        b_dn >= Req_d(G_n+1) - C_dn,  b_dn >= 0                   backlog until G_n+1
        cost  sum_dn w_d b_dn (G_n+1 - G_n) / (t1 - t0)

    The backlog integral is the total waiting time of the FIFO request stream (mean
    latency x key), evaluated at the end of each interval (an upper bound of it).
    """
    slots_by: dict[tuple[int, float], list[int]] = {}
    for n, (d, s, k) in enumerate(inst.slots):
        slots_by.setdefault((d, inst.events[s][k]), []).append(cols["y"][n])
    for (e, d), col in cols["v"].items():
        slots_by.setdefault((d, inst.wins[e].los_s), []).append(col)
    rows: list = []
    cost: dict[int, float] = {}
    for d in range(inst.nd):
        times = sorted({t for (dd, t) in slots_by if dd == d})
        if not times:
            continue
        dem = inst.problem.demands[d]
        ends = times[1:] + [inst.t1]
        req = dem.requested_by(np.array(ends), inst.t0, inst.t1) / inst.scale
        prev = None
        for n, t in enumerate(times):
            c = lp.var()
            row = {c: 1.0}
            if prev is not None:
                row[prev] = -1.0
            for col in slots_by[(d, t)]:
                row[col] = -1.0
            rows.append((row, 0.0, 0.0))
            b = lp.var()
            rows.append(({b: 1.0, c: 1.0}, float(req[n]), math.inf))
            cost[b] = inst.weight[d] * (ends[n] - t) / inst.T
            prev = c
    return {"rows": rows, "cost": cost}


def _prune(inst: _Instance, cols, sol: np.ndarray) -> np.ndarray:
    """Drop selected uses whose key serves nothing; relays and deliveries are unchanged.

    Removing a pass of station j on satellite s (g bits at event k) lowers that store by
    g from event k on, less any erasure it no longer needs: walking the events from k,
    each erasure ``w`` of the store is cut by up to the remaining deficit, and the stock
    after the event drops by what is left of it.  The pass can go if no stock turns
    negative (the storage rows only loosen: every store term falls or stays).  Latest
    passes first.  A window none of whose key is given out goes too.
    """
    tol = 1e-6
    order = sorted(
        (i for i, col in enumerate(cols["x"]) if sol[col] > 0.5),
        key=lambda i: (-inst.cands[i].los_s, inst.cands[i].pass_id),
    )
    for i in order:
        c = inst.cands[i]
        s, k = inst.cand_ev[i]
        deficit = c.expected_key_bits / inst.scale
        changes: list[tuple[int, float]] = []
        ok = True
        for kk in range(k, len(inst.events[s])):
            wc = cols["w"].get((s, c.station, kk))
            if wc is not None and sol[wc] > 0 and deficit > 0:
                cut = min(sol[wc], deficit)
                changes.append((wc, sol[wc] - cut))
                deficit -= cut
            sc = cols["S"][(s, c.station, kk)]
            if sol[sc] - deficit < -tol:
                ok = False
                break
            changes.append((sc, max(0.0, sol[sc] - deficit)))
        if ok:
            sol[cols["x"][i]] = 0.0
            for col, v in changes:
                sol[col] = v
    for e, col in enumerate(cols["u"]):
        if sol[col] > 0.5 and all(sol[cols["v"][(e, d)]] <= tol for d in inst.win_dem[e]):
            sol[col] = 0.0
    return sol


# --------------------------------------------------------------------------- greedy
def _greedy_select(inst: _Instance) -> tuple[set[str], set[str]]:
    """Uses in decreasing value, each kept if it conflicts with none kept so far.

    Value of a pass: expected bits x the largest weight of a demand at its station / 2
    (a relayed bit needs a bit at each end); of a window: bits x the largest weight of
    its pair's demands.  ``maxmin`` uses unit weights.
    """
    wt = inst.weight if inst.problem.objective == "weighted" else np.ones(inst.nd)
    best_st: dict[str, float] = {}
    for d, (a, b) in enumerate(inst.dem_st):
        for s in (a, b):
            best_st[s] = max(best_st.get(s, 0.0), wt[d])
    vals = [c.expected_key_bits * best_st.get(c.station, 0.0) / 2 for c in inst.cands]
    vals += [w.expected_key_bits * max(wt[d] for d in inst.win_dem[e]) for e, w in enumerate(inst.wins)]
    starts = [c.aos_s for c in inst.cands] + [w.aos_s for w in inst.wins]
    nbr: dict[int, set[int]] = {}
    for i, j in inst.conflicts:
        nbr.setdefault(i, set()).add(j)
        nbr.setdefault(j, set()).add(i)
    kept: set[int] = set()
    for i in sorted(range(len(vals)), key=lambda i: (-vals[i], starts[i])):
        if vals[i] > 0 and not (nbr.get(i, set()) & kept):
            kept.add(i)
    nc = len(inst.cands)
    return (
        {inst.cands[i].pass_id for i in kept if i < nc},
        {inst.wins[i - nc].window_id for i in kept if i >= nc},
    )


def plan_greedy(problem: NetworkProblem, fixed_selection: Collection[str] | None = None) -> PlanResult:
    """Greedy baseline: value-ordered pass selection, then relay as soon as key exists.

    In time order, each selected pass's expected key is stored (``drop_oldest`` when the
    storage is full); then every demand whose two stations hold key on that satellite
    gets ``min(stock_a, stock_b, unmet demand, fibre headroom)``, demands taken by
    decreasing weight (``weighted``) or increasing met fraction (``maxmin``).  A window's
    entangled key goes to its pair's demands the same way.
    """
    start = time.perf_counter()
    inst = _Instance(problem)
    if fixed_selection is None:
        sel_p, sel_w = _greedy_select(inst)
    else:
        chosen = set(fixed_selection)
        sel_p = {c.pass_id for c in inst.cands if c.pass_id in chosen}
        sel_w = {w.window_id for w in inst.wins if w.window_id in chosen}
    ledger = RelayLedger(
        {s: problem.capacity_bits(s) for s in inst.sats if math.isfinite(problem.capacity_bits(s))},
        overflow="drop_oldest",
    )
    delivered = np.zeros(inst.nd)
    fibre_left = dict(inst.fibre_bits)
    relays: list[RelayAllocation] = []
    direct: list[DirectAllocation] = []

    def room(d: int) -> float:
        r = inst.R[d] - delivered[d]
        for c in inst.dem_cities[d]:
            r = min(r, fibre_left[c])
        return math.floor(max(r, 0.0) + 1e-9)

    def order(ds: list[int]) -> list[int]:
        if problem.objective == "weighted":
            return sorted(ds, key=lambda d: (-inst.weight[d], d))
        frac = [delivered[d] / inst.R[d] if inst.R[d] > 0 else 1.0 for d in range(inst.nd)]
        return sorted(ds, key=lambda d: (frac[d], d))

    def give(d: int, amount: float) -> None:
        delivered[d] += amount
        for c in inst.dem_cities[d]:
            fibre_left[c] -= amount

    items: list[tuple[float, int, object]] = []
    for c in inst.cands:
        if c.pass_id in sel_p:
            items.append((c.los_s, 0, c))
    for e, w in enumerate(inst.wins):
        if w.window_id in sel_w:
            items.append((w.los_s, 1, (e, w)))
    items.sort(key=lambda it: (it[0], it[1]))
    i = 0
    while i < len(items):
        t = items[i][0]
        batch = []
        while i < len(items) and items[i][0] == t:
            batch.append(items[i])
            i += 1
        touched: set[str] = set()
        for _, kind, obj in batch:
            if kind == 0:
                c = obj
                ledger.deposit(
                    PassKey(c.pass_id, c.satellite, c.station, c.aos_s, c.los_s, None, int(c.expected_key_bits)),
                    time_s=t,
                )
                touched.add(c.satellite)
        for s in sorted(touched):
            ds = [d for d, (a, b) in enumerate(inst.dem_st) if a in inst.sat_st[s] and b in inst.sat_st[s]]
            for d in order(ds):
                a, b = inst.dem_st[d]
                amount = min(ledger.stock_bits(s, a), ledger.stock_bits(s, b), room(d))
                if amount >= 1:
                    ledger.relay(s, a, b, int(amount), time_s=t)
                    give(d, amount)
                    relays.append(RelayAllocation(t, s, d, float(amount)))
        for _, kind, obj in batch:
            if kind == 1:
                e, w = obj
                left = math.floor(w.expected_key_bits)
                for d in order(list(inst.win_dem[e])):
                    amount = min(left, room(d))
                    if amount >= 1:
                        give(d, amount)
                        left -= amount
                        direct.append(DirectAllocation(w.window_id, t, d, float(amount)))
    discards = []
    keys = ledger.keys
    for r, purpose, t in ledger.usage:
        if purpose == "discard":
            k = keys[r.pass_id]
            discards.append(DiscardAllocation(t, k.satellite, k.station, float(r.n_bits)))
    weighted, frac = inst.values(delivered)
    obj = weighted if problem.objective == "weighted" else frac
    return PlanResult(
        "greedy",
        problem.objective,
        obj,
        weighted,
        frac,
        tuple(c.pass_id for c in inst.cands if c.pass_id in sel_p),
        tuple(w.window_id for w in inst.wins if w.window_id in sel_w),
        tuple(relays),
        tuple(direct),
        tuple(discards),
        tuple(float(x) for x in delivered),
        tuple(float(x) for x in inst.R),
        "heuristic",
        time.perf_counter() - start,
        None,
    )
