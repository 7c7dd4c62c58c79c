"""Relay figures of a sweep point: the trusted-relay plans on the point's pass keys.

``satqkd sweep`` runs every point as a mission at the counts level, where no key bits
exist: the relay is planned on the key *lengths* each pass gave at that point, exactly
as ``satqkd relay`` plans on the expected keys before it executes. For each point with
``[[relay.demands]]``:

1. the network problem from the point's passes with key
   (:func:`satqkd.network.relay_run.network_problem`: pass id, satellite, station, AOS,
   LOS, secret bits; passes without key add nothing to any plan and are left out);
2. the greedy planner and the MILP (HiGHS, with ``[relay] milp_time_limit_s``; its
   status and gap are reported, so a plan stopped by the limit is visible);
3. each plan executed as it stands (:func:`satqkd.network.execution.execute_plan`,
   accounting only, no re-planning: the planned lengths are the point's key lengths),
   then per demand the key delivered to both endpoints, the share of demand met and
   the latency from request to key (:func:`satqkd.network.outputs.demand_figures`).

Entanglement windows (``[entanglement] pairs``) are not part of a sweep's relay figures:
the sweep runs decoy-BB84 passes only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from satqkd import config
from satqkd.network.execution import execute_plan
from satqkd.network.outputs import demand_figures
from satqkd.network.planning import plan_greedy, plan_milp
from satqkd.network.relay_run import network_problem

__all__ = ["PLANNERS", "FIGURES", "relay_figures", "run_sweep"]

#: The planners a sweep point reports, in the order of its ``planner`` dimension.
PLANNERS = ("greedy", "milp")
#: Per-demand figures of each plan (``demand_figures`` names).
FIGURES = ("delivered_bits", "met_fraction", "latency_mean_s", "latency_max_s")

PASS_COLUMNS = ["pass_id", "satellite", "station", "aos", "los", "secret_bits"]


def relay_figures(cfg: config.MissionConfig, rows: list) -> dict:
    """The relay figures of one sweep point.

    ``rows``: the point's passes with key, ``(pass_id, satellite, station, aos, los,
    secret_bits)`` with ISO 8601 UTC times. Returns ``pairs`` (demand labels),
    ``requested_bits`` (pair,), per figure of :data:`FIGURES` an array (planner, pair),
    ``status`` and ``mip_gap`` per planner.
    """
    table = pd.DataFrame(rows, columns=PASS_COLUMNS)
    if len(table):  # one order whatever the workers' order of return
        table = table.sort_values(["aos", "station", "satellite", "pass_id"], kind="stable")
    problem = network_problem(cfg, table.reset_index(drop=True))
    plans = {"greedy": plan_greedy(problem),
             "milp": plan_milp(problem, time_limit_s=cfg.relay.milp_time_limit_s)}
    out: dict = {"pairs": [d.label for d in problem.demands],
                 "status": [plans[p].status for p in PLANNERS],
                 "mip_gap": [np.nan if plans[p].mip_gap is None else float(plans[p].mip_gap)
                             for p in PLANNERS]}
    per_plan = [demand_figures(execute_plan(problem, plans[p], replan=False)) for p in PLANNERS]
    out["requested_bits"] = per_plan[0]["requested_bits"]
    for name in FIGURES:
        out[name] = np.stack([np.asarray(f[name], dtype=float) for f in per_plan])
    return out


def run_sweep(*args, **kwargs):
    """:func:`satqkd.mission.sweep.run_sweep` with the relay figures of each point
    (what ``satqkd sweep`` runs)."""
    from satqkd.mission.sweep import run_sweep as mission_sweep

    kwargs.setdefault("relay_figures", relay_figures)
    return mission_sweep(*args, **kwargs)
