"""``network.nc`` dataset, latency measures and the Markdown relay report.

Dataset layout (CF-1.8 attributes; ``time`` is UTC, encoded by xarray as seconds since
1970-01-01)::

    dims   pair       one per demand (label "A-B" or the demand's name)
           time       every instant at which something changes: horizon start and end,
                      each selected pass's LOS, each relay or window delivery, each
                      end-to-end availability time; values are right after the change
           satellite, station   on-board key stores
           pass, window, relay, planner, site, fibre   tables

    key_delivered(pair, time)        cumulative key held by both endpoints [bit]
    key_delivered_step(pair, time)   key becoming available at that instant [bit]
    key_at_stations(pair, time)      cumulative key relayed to the endpoints' stations
                                     (before fibre forwarding) [bit]
    key_requested(pair, time)        cumulative key requested [bit]
    demand_met_fraction(pair, time)  key_delivered / requested_bits (share of the
                                     horizon's whole demand met so far) [1]
    (``time`` includes every session request time of per-session demands)
    stock(satellite, station, time)  key on board shared with the station [bit]
    storage_capacity(satellite)      on-board storage (inf: unbounded) [bit]
    requested_bits, delivered_bits, delivered_direct_bits, met_fraction, weight,
    latency_mean_s, latency_max_s, sessions_total, sessions_met, passes_served (pair)
    pass_*(pass), window_*(window), relay_*(relay)
    objective_value(planner), delivered_bits_by_planner(planner, pair)  (planner: "milp", "greedy")
    site_lat, site_lon, site_kind (site); fibre_*(fibre)

Latency (from request to key):

* per-session demands: session ``j`` (request at ``T_j``, ``b`` bits each) is served,
  first come first served, when the cumulative key at the endpoints first reaches
  ``(j + 1) b``; its latency is ``max(0, that time - T_j)`` (0 when key was stockpiled
  ahead); sessions never served are counted as unmet, not averaged;
* per-day demands: requests arrive at a steady ``r = bits_per_day / 86400`` bit/s, bit
  ``q`` requested at ``t0 + q / r``; each delivered bit serves the oldest request; the
  latency is the mean over delivered bits of ``max(0, availability - request time)``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import xarray as xr

from satqkd.network.execution import Execution
from satqkd.network.planning import PlanResult

__all__ = ["demand_figures", "network_dataset", "relay_report", "session_latencies_s", "share_text",
           "steady_mean_wait_s"]


def _dt(t_s) -> np.ndarray:
    """UTC seconds since 1970 -> datetime64[ns]; non-finite -> NaT."""
    t = np.asarray(t_s, dtype=float)
    out = np.full(t.shape, np.datetime64("NaT"), dtype="datetime64[ns]")
    ok = np.isfinite(t)
    out[ok] = (t[ok] * 1e9).round().astype("int64").astype("datetime64[ns]")
    return out


def session_latencies_s(session_times_s, bits_per_session: float, avail_s, bits) -> np.ndarray:
    """Latency of each session (FIFO); ``nan`` for sessions never served."""
    sess = np.sort(np.asarray(session_times_s, dtype=float))
    order = np.argsort(np.asarray(avail_s, dtype=float), kind="stable")
    t = np.asarray(avail_s, dtype=float)[order]
    cum = np.cumsum(np.asarray(bits, dtype=float)[order])
    out = np.full(sess.size, np.nan)
    for j, tj in enumerate(sess):
        need = (j + 1) * bits_per_session
        k = int(np.searchsorted(cum, need - 1e-9, side="left"))
        if k < cum.size:
            out[j] = max(0.0, t[k] - tj)
    return out


def steady_mean_wait_s(rate_bps: float, start_s: float, avail_s, bits) -> float:
    """Mean wait of a steady request stream served FIFO by chunks ``bits`` at ``avail_s``.

    Bit ``q`` is requested at ``start_s + q / r`` and the chunk holding it arrives at
    ``a``; the wait ``max(0, a - start_s - q / r)`` is integrated exactly over each chunk.
    ``nan`` if nothing was delivered.
    """
    order = np.argsort(np.asarray(avail_s, dtype=float), kind="stable")
    t = np.asarray(avail_s, dtype=float)[order]
    n = np.asarray(bits, dtype=float)[order]
    total = n.sum()
    if total <= 0 or rate_bps <= 0:
        return math.nan
    q0 = 0.0
    acc = 0.0
    for a, m in zip(t, n):
        q1 = q0 + m
        if not math.isfinite(a):
            acc = math.inf
            break
        qa = (a - start_s) * rate_bps  # bits requested by the time the chunk arrives
        hi = min(q1, qa)
        if hi > q0:  # integral of (a - start - q/r) dq from q0 to hi
            acc += (a - start_s) * (hi - q0) - (hi * hi - q0 * q0) / (2.0 * rate_bps)
        q0 = q1
    return acc / total


def demand_figures(execution: Execution) -> dict[str, np.ndarray | list]:
    """Per demand (in the problem's order) of an executed plan: ``requested_bits``,
    ``delivered_bits`` (held by both endpoints within the horizon), ``delivered_direct_bits``
    (entangled), ``met_fraction``, ``latency_mean_s``, ``latency_max_s`` (see the module
    docstring), ``sessions_total``, ``sessions_met`` and ``passes_served``."""
    ex = execution
    prob = ex.problem
    t0, t1 = prob.horizon
    demands = prob.demands
    nd = len(demands)
    req = np.array([d.requested_bits(t0, t1) for d in demands], dtype=float)
    total = np.array([sum(d.bits for d in ex.deliveries if d.demand == i and math.isfinite(d.available_s)) for i in range(nd)], dtype=float)
    direct = np.array([sum(d.bits for d in ex.deliveries if d.demand == i and d.path == "entanglement") for i in range(nd)], dtype=float)
    lat_mean = np.full(nd, np.nan)
    lat_max = np.full(nd, np.nan)
    s_tot = np.zeros(nd, dtype=np.int64)
    s_met = np.zeros(nd, dtype=np.int64)
    served = []
    for i, d in enumerate(demands):
        dv = [x for x in ex.deliveries if x.demand == i]
        av = [x.available_s for x in dv]
        bt = [x.bits for x in dv]
        if d.bits_per_session is not None:
            sess = d.sessions_in(t0, t1)
            lat = session_latencies_s(sess, d.bits_per_session, av, bt)
            s_tot[i] = len(sess)
            s_met[i] = int(np.sum(np.isfinite(lat)))
            if s_met[i]:
                lat_mean[i] = float(np.nanmean(lat))
                lat_max[i] = float(np.nanmax(lat))
        else:
            lat_mean[i] = steady_mean_wait_s(d.bits_per_day / 86400.0, t0, av, bt)
            if dv:
                lat_max[i] = _steady_max_wait(d.bits_per_day / 86400.0, t0, av, bt)
        served.append(",".join(dict.fromkeys(s for x in dv for s in x.sources)))
    with np.errstate(divide="ignore", invalid="ignore"):
        met = np.where(req > 0, np.minimum(total / req, 1.0), np.nan)
    return {"requested_bits": req, "delivered_bits": total, "delivered_direct_bits": direct,
            "met_fraction": met, "latency_mean_s": lat_mean, "latency_max_s": lat_max,
            "sessions_total": s_tot, "sessions_met": s_met, "passes_served": served}


def _str(a) -> np.ndarray:
    return np.array([str(x) for x in a], dtype=object)


def network_dataset(execution: Execution, compare: tuple[PlanResult, ...] | list[PlanResult] = (),
                    eps: dict[str, tuple[float, float]] | None = None) -> xr.Dataset:
    """The ``network.nc`` dataset of an executed plan (layout in the module docstring).

    ``compare``: other plans of the same problem (e.g. the greedy baseline), reported in
    ``objective_value`` / ``delivered_bits_by_planner`` beside the executed plan.
    ``eps``: (eps_sec, eps_cor) of every pass or window key; a delivered key's epsilons
    are the sums over the keys it was made from (composability: publishing K_A xor K_B
    is a one-time pad and adds nothing).  The fibre legs to cities are capacity models,
    not simulated QKD; their epsilons are not included (said in the attributes).
    """
    ex = execution
    prob = ex.problem
    plan = ex.plan
    t0, t1 = prob.horizon
    demands = prob.demands
    labels = [d.label for d in demands]
    nd = len(demands)
    led = ex.ledger
    keys = led.keys
    times = {t0, t1}
    times |= {k.los_s for k in keys.values()}
    times |= {d.time_s for d in ex.deliveries}
    times |= {d.available_s for d in ex.deliveries if math.isfinite(d.available_s)}
    times |= {e.time_s for e in led.events}
    for d in demands:  # session requests are changes too (the request curve steps there)
        if d.bits_per_session is not None:
            times |= set(d.sessions_in(t0, t1))
    tgrid = np.array(sorted(times))
    nt = tgrid.size
    idx = {t: i for i, t in enumerate(tgrid)}

    step = np.zeros((nd, nt))
    at_st = np.zeros((nd, nt))
    for dv in ex.deliveries:
        at_st[dv.demand, idx[dv.time_s]] += dv.bits
        if math.isfinite(dv.available_s):
            step[dv.demand, idx[dv.available_s]] += dv.bits
    delivered = np.cumsum(step, axis=1)
    requested_t = np.array([d.requested_by(tgrid, t0, t1) for d in demands]).reshape(nd, nt)
    req = np.array([d.requested_bits(t0, t1) for d in demands], dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        met_t = np.where(req[:, None] > 0, delivered / req[:, None], np.nan)

    sats = sorted({s for s, _ in _stores(led)} | set(prob.satellites))
    stations = sorted({c.station for c in prob.candidates} | {s for _, s in _stores(led)})
    stock = np.zeros((len(sats), len(stations), nt))
    si = {s: i for i, s in enumerate(sats)}
    ji = {s: i for i, s in enumerate(stations)}
    last = np.zeros((len(sats), len(stations)))
    ev_sorted = sorted(led.events, key=lambda e: e.time_s)
    k = 0
    for n, t in enumerate(tgrid):
        while k < len(ev_sorted) and ev_sorted[k].time_s <= t:
            e = ev_sorted[k]
            last[si[e.satellite], ji[e.station]] = e.stock_bits
            k += 1
        stock[:, :, n] = last

    # per pair scalars
    fig = demand_figures(ex)
    total, direct = fig["delivered_bits"], fig["delivered_direct_bits"]
    lat_mean, lat_max = fig["latency_mean_s"], fig["latency_max_s"]
    s_tot, s_met, served = fig["sessions_total"], fig["sessions_met"], fig["passes_served"]

    ds = xr.Dataset(
        coords={
            "pair": ("pair", _str(labels), {"long_name": "demand (pair of endpoints)"}),
            "time": ("time", _dt(tgrid), {"long_name": "time of change (UTC)", "standard_name": "time"}),
            "satellite": ("satellite", _str(sats)),
            "station": ("station", _str(stations)),
            "endpoint_a": ("pair", _str([d.a for d in demands])),
            "endpoint_b": ("pair", _str([d.b for d in demands])),
            "station_a": ("pair", _str([prob.endpoint_station(d.a) for d in demands])),
            "station_b": ("pair", _str([prob.endpoint_station(d.b) for d in demands])),
        }
    )
    bit = "bit"
    ds["key_delivered"] = (("pair", "time"), delivered, {"units": bit, "long_name": "cumulative key held by both endpoints"})
    ds["key_delivered_step"] = (("pair", "time"), step, {"units": bit, "long_name": "key becoming available to both endpoints"})
    ds["key_at_stations"] = (
        ("pair", "time"),
        np.cumsum(at_st, axis=1),
        {"units": bit, "long_name": "cumulative key relayed or distributed to the endpoints' stations"},
    )
    ds["key_requested"] = (("pair", "time"), requested_t, {"units": bit, "long_name": "cumulative key requested"})
    ds["demand_met_fraction"] = (
        ("pair", "time"),
        met_t,
        {"units": "1", "long_name": "key delivered so far / key requested over the horizon"},
    )
    ds["stock"] = (
        ("satellite", "station", "time"),
        stock,
        {"units": bit, "long_name": "unused key on board shared with the station"},
    )
    ds["storage_capacity"] = (
        "satellite",
        np.array([prob.capacity_bits(s) for s in sats], dtype=float),
        {"units": bit, "long_name": "on-board key storage (inf: unbounded)"},
    )
    ds["requested_bits"] = ("pair", req, {"units": bit, "long_name": "key requested over the horizon"})
    ds["delivered_bits"] = ("pair", total, {"units": bit, "long_name": "key delivered to both endpoints over the horizon"})
    ds["delivered_direct_bits"] = ("pair", direct, {"units": bit, "long_name": "of which entangled (dual downlink)"})
    with np.errstate(divide="ignore", invalid="ignore"):
        ds["met_fraction"] = ("pair", np.where(req > 0, np.minimum(total / req, 1.0), np.nan), {"units": "1", "long_name": "share of demand met"})
    ds["weight"] = ("pair", np.array([d.weight for d in demands], dtype=float), {"units": "1", "long_name": "demand weight"})
    ds["latency_mean_s"] = ("pair", lat_mean, {"units": "s", "long_name": "mean latency from request to key"})
    ds["latency_max_s"] = ("pair", lat_max, {"units": "s", "long_name": "largest latency from request to key"})
    ds["sessions_total"] = ("pair", s_tot, {"units": "1", "long_name": "sessions requested (per-session demands)"})
    ds["sessions_met"] = ("pair", s_met, {"units": "1", "long_name": "sessions served within the horizon"})
    ds["passes_served"] = ("pair", _str(served), {"long_name": "pass and window ids whose key served the pair"})

    # passes and windows
    sel = set(plan.selected_passes)
    cands = list(prob.candidates)
    used_bits = {}
    for r, purpose, _ in led.usage:
        if purpose == "relay":
            used_bits[r.pass_id] = used_bits.get(r.pass_id, 0) + r.n_bits
    ds = ds.assign_coords(pass_id=("pass", _str([c.pass_id for c in cands])))
    ds["pass_satellite"] = ("pass", _str([c.satellite for c in cands]))
    ds["pass_station"] = ("pass", _str([c.station for c in cands]))
    ds["pass_aos"] = ("pass", _dt([c.aos_s for c in cands]), {"long_name": "acquisition of signal (UTC)"})
    ds["pass_los"] = ("pass", _dt([c.los_s for c in cands]), {"long_name": "loss of signal (UTC)"})
    ds["pass_expected_bits"] = ("pass", np.array([c.expected_key_bits for c in cands], dtype=float), {"units": bit})
    ds["pass_key_bits"] = ("pass", np.array([ex.key_bits.get(c.pass_id, 0) for c in cands], dtype=float), {"units": bit, "long_name": "actual key of selected passes"})
    ds["pass_selected"] = ("pass", np.array([c.pass_id in sel for c in cands], dtype=np.int8), {"long_name": "pass used for trusted-node QKD (1) or not (0)"})
    ds["pass_relayed_bits"] = ("pass", np.array([used_bits.get(c.pass_id, 0) for c in cands], dtype=float), {"units": bit, "long_name": "key of the pass consumed by relays"})
    wins = list(prob.windows)
    wsel = set(plan.selected_windows)
    ds = ds.assign_coords(window_id=("window", _str([w.window_id for w in wins])))
    ds["window_satellite"] = ("window", _str([w.satellite for w in wins]))
    ds["window_station_a"] = ("window", _str([w.station_a for w in wins]))
    ds["window_station_b"] = ("window", _str([w.station_b for w in wins]))
    ds["window_aos"] = ("window", _dt([w.aos_s for w in wins]))
    ds["window_los"] = ("window", _dt([w.los_s for w in wins]))
    ds["window_expected_bits"] = ("window", np.array([w.expected_key_bits for w in wins], dtype=float), {"units": bit})
    ds["window_selected"] = ("window", np.array([w.window_id in wsel for w in wins], dtype=np.int8))
    # deliveries
    dv = list(ex.deliveries)
    ds["relay_time"] = ("relay", _dt([x.time_s for x in dv]), {"long_name": "relay publication or window end (UTC)"})
    ds["relay_available"] = ("relay", _dt([x.available_s for x in dv]), {"long_name": "key available at both endpoints (UTC; NaT: never)"})
    ds["relay_pair"] = ("relay", _str([labels[x.demand] for x in dv]))
    ds["relay_satellite"] = ("relay", _str([x.satellite for x in dv]))
    ds["relay_path"] = ("relay", _str([x.path for x in dv]))
    ds["relay_bits"] = ("relay", np.array([x.bits for x in dv], dtype=float), {"units": bit})
    if eps is not None:
        sec = np.array([sum(eps.get(s, (0.0, 0.0))[0] for s in set(x.sources)) for x in dv])
        cor = np.array([sum(eps.get(s, (0.0, 0.0))[1] for s in set(x.sources)) for x in dv])
        ds["relay_eps_sec"] = ("relay", sec, {"units": "1", "long_name":
                               "secrecy failure probability: sum over the keys used"})
        ds["relay_eps_cor"] = ("relay", cor, {"units": "1", "long_name":
                               "correctness failure probability: sum over the keys used"})
        used = {s for x in dv for s in x.sources}
        ds.attrs["eps_sec_total"] = float(sum(eps.get(s, (0.0, 0.0))[0] for s in used))
        ds.attrs["eps_cor_total"] = float(sum(eps.get(s, (0.0, 0.0))[1] for s in used))
        ds.attrs["eps_note"] = ("relay keys: sums over the satellite-station (or window) keys "
                                "they use; the xor publication adds nothing; fibre "
                                "trusted-node legs are not simulated and not included")
    # methods
    plans = [plan] + [p for p in compare]
    ds = ds.assign_coords(planner=("planner", _str([p.method for p in plans])))
    ds["objective_value"] = ("planner", np.array([p.objective_value for p in plans], dtype=float), {"long_name": f"objective ({plan.objective})"})
    ds["weighted_value"] = ("planner", np.array([p.weighted_value for p in plans], dtype=float), {"units": bit, "long_name": "sum of weight x planned delivered key"})
    ds["min_fraction"] = ("planner", np.array([p.min_fraction for p in plans], dtype=float), {"units": "1", "long_name": "smallest planned met fraction"})
    ds["delivered_bits_by_planner"] = (("planner", "pair"), np.array([p.delivered_bits for p in plans], dtype=float).reshape(len(plans), nd), {"units": bit, "long_name": "planned key delivered (expected keys)"})
    ds["solve_time_s"] = ("planner", np.array([p.solve_time_s for p in plans], dtype=float), {"units": "s"})
    ds["solver_status"] = ("planner", _str([p.status for p in plans]))
    # sites and fibre
    sites = list(prob.sites)
    ds = ds.assign_coords(site=("site", _str([s.name for s in sites])))
    ds["site_lat"] = ("site", np.array([s.lat_deg for s in sites], dtype=float), {"units": "degrees_north", "standard_name": "latitude"})
    ds["site_lon"] = ("site", np.array([s.lon_deg for s in sites], dtype=float), {"units": "degrees_east", "standard_name": "longitude"})
    ds["site_kind"] = ("site", _str([s.kind for s in sites]))
    fl = list(prob.fibre_links)
    ds = ds.assign_coords(fibre_city=("fibre", _str([f.city for f in fl])))
    ds["fibre_station"] = ("fibre", _str([f.station for f in fl]))
    ds["fibre_length_km"] = ("fibre", np.array([f.length_km for f in fl], dtype=float), {"units": "km"})
    ds["fibre_capacity_bps"] = ("fibre", np.array([prob.fibre_capacity_bps(f.city) for f in fl], dtype=float), {"units": "bit s-1", "long_name": "key rate of the trusted-node chain"})
    ds.attrs.update(
        {
            "Conventions": "CF-1.8",
            "title": "satqkd network: trusted-relay and dual-downlink key delivery",
            "method": plan.method,
            "objective": plan.objective,
            "solver_status": plan.status,
            "horizon_start": datetime.fromtimestamp(t0, UTC).isoformat(),
            "horizon_end": datetime.fromtimestamp(t1, UTC).isoformat(),
            "generated_bits": int(led.generated_bits),
            "discarded_bits": int(led.discarded_bits),
            "relayed_bits": int(led.relayed_bits),
            "references": "Liao et al., PRL 120, 030501 (2018); Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)",
        }
    )
    return ds


def _steady_max_wait(rate_bps: float, start_s: float, avail_s, bits) -> float:
    """Largest wait of a steady FIFO stream: the first bit of each chunk waits longest."""
    order = np.argsort(np.asarray(avail_s, dtype=float), kind="stable")
    t = np.asarray(avail_s, dtype=float)[order]
    n = np.asarray(bits, dtype=float)[order]
    q0 = np.concatenate([[0.0], np.cumsum(n)[:-1]])
    return float(np.max(np.maximum(0.0, t - start_s - q0 / rate_bps))) if rate_bps > 0 else math.nan


def _stores(ledger) -> list[tuple[str, str]]:
    return sorted({(e.satellite, e.station) for e in ledger.events})


def _fmt_bits(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    for unit, f in (("Gbit", 1e9), ("Mbit", 1e6), ("kbit", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g} {unit}"
    return f"{x:.0f} bit"


def _fmt_s(x: float) -> str:
    if not math.isfinite(x):
        return "-"
    if x >= 86400:
        return f"{x / 86400:.2f} d"
    if x >= 3600:
        return f"{x / 3600:.2f} h"
    return f"{x:.0f} s"


def share_text(delivered: float, requested: float) -> str:
    """Share of the demand met, rounded *down*: never "100.0 %" for less than all of it."""
    if not (math.isfinite(requested) and requested > 0):
        return "-"
    if delivered >= requested:
        return "100 %"
    return f"{math.floor(1000.0 * delivered / requested) / 10:.1f} %"


def relay_report(ds: xr.Dataset, max_sources: int = 12) -> str:
    """Markdown relay report from a ``network.nc`` dataset: methods, then one row per pair."""
    lines = [
        "# Key relay report",
        "",
        f"Horizon {ds.attrs.get('horizon_start')} to {ds.attrs.get('horizon_end')}; objective "
        f"**{ds.attrs.get('objective')}**; executed plan: **{ds.attrs.get('method')}** "
        f"({ds.attrs.get('solver_status')}).",
        "",
        f"Key generated on board: {_fmt_bits(ds.attrs.get('generated_bits', 0))}, relayed: "
        f"{_fmt_bits(ds.attrs.get('relayed_bits', 0))} (each relayed bit uses one bit at each "
        f"station), erased: {_fmt_bits(ds.attrs.get('discarded_bits', 0))}.",
        "",
        "## Planners (on expected keys)",
        "",
        "| method | objective | weighted sum | smallest met fraction | solve time | status |",
        "|---|---|---|---|---|---|",
    ]
    for m in range(ds.sizes.get("planner", 0)):
        lines.append(
            f"| {ds.planner.values[m]} | {float(ds.objective_value[m]):.6g} | {_fmt_bits(float(ds.weighted_value[m]))} "
            f"| {float(ds.min_fraction[m]):.3f} | {float(ds.solve_time_s[m]):.2f} s | {ds.solver_status.values[m]} |"
        )
    if ds.sizes.get("planner", 0):
        lines += ["", "Planned key per pair:", "", "| pair | " + " | ".join(str(m) for m in ds.planner.values) + " |",
                  "|---|" + "---|" * ds.sizes["planner"]]
        for i, p in enumerate(ds.pair.values):
            lines.append(f"| {p} | " + " | ".join(_fmt_bits(float(v)) for v in ds.delivered_bits_by_planner[:, i].values) + " |")
    lines += [
        "",
        "## Delivered key per pair (actual keys)",
        "",
        "Definitions. *Share met* = key delivered to both endpoints within the horizon / key "
        "requested over the horizon, rounded down (100 % only when every requested bit was "
        "delivered). *Sessions met* = sessions whose whole key (all its bits) was held at both "
        "endpoints before the horizon ended, served first come first served; a session short of "
        "even one bit is not met, so the two agree: sessions met n/n exactly when the share is "
        "100 %. *Short by* = requested - delivered when positive.",
        "",
        "Latency: per-session demands, mean (max) time from a session's request until its key "
        "is held at both endpoints, first come first served; per-day demands, mean (max) wait of a "
        "steady request stream.",
        "",
        "| pair | stations | requested | delivered | of which entangled | share met | short by | latency mean (max) | sessions met | served by |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(ds.pair.values):
        src = [s for s in str(ds.passes_served.values[i]).split(",") if s]
        srctxt = ", ".join(src[:max_sources]) + (f", ... ({len(src)} in all)" if len(src) > max_sources else "")
        tot = int(ds.sessions_total.values[i])
        sess = f"{int(ds.sessions_met.values[i])}/{tot}" if tot else "-"
        req, got = float(ds.requested_bits[i]), float(ds.delivered_bits[i])
        short = f"{req - got:,.0f} bit" if math.isfinite(req) and req > got else "-"
        lines.append(
            f"| {p} | {ds.station_a.values[i]}-{ds.station_b.values[i]} | {_fmt_bits(req)} "
            f"| {_fmt_bits(got)} | {_fmt_bits(float(ds.delivered_direct_bits[i]))} "
            f"| {share_text(got, req)} | {short} "
            f"| {_fmt_s(float(ds.latency_mean_s[i]))} ({_fmt_s(float(ds.latency_max_s[i]))}) | {sess} | {srctxt or '-'} |"
        )
    if ds.sizes.get("fibre", 0):
        lines += ["", "## Fibre links", "", "| city | station | length | key rate |", "|---|---|---|---|"]
        for f in range(ds.sizes["fibre"]):
            cap = float(ds.fibre_capacity_bps[f])
            lines.append(
                f"| {ds.fibre_city.values[f]} | {ds.fibre_station.values[f]} | {float(ds.fibre_length_km[f]):.0f} km "
                f"| {'unlimited' if math.isinf(cap) else f'{cap:.4g} bit/s'} |"
            )
    lines += [
        "",
        "Trust: relayed key is known to the satellite (trusted node) and to every trusted fibre "
        "node on the way; entangled (dual-downlink) key is not known to the satellite.",
        "",
    ]
    return "\n".join(lines)
