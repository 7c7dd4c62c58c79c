"""satqkd.network: trusted-relay and dual-downlink key networks between ground stations.

* :mod:`.ledger`: the satellite's key stores and the XOR relay on real key bits
  (Liao et al., PRL 120, 030501 (2018));
* :mod:`.fibre`: city-station fibre links, decoy-state BB84 over trusted nodes
  (Lo, Ma, Chen, PRL 94, 230504 (2005); Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005));
* :mod:`.model`: the typed inputs (passes, windows, demands, the problem);
* :mod:`.planning`: exact MILP and greedy planners;
* :mod:`.execution`: carrying a plan out on the actual keys;
* :mod:`.outputs`: ``network.nc`` and the Markdown relay report.
"""

from satqkd.network.execution import Delivery, Execution, execute_plan, fibre_availability
from satqkd.network.fibre import (
    FibreLink,
    FibreQKDParams,
    cutoff_distance_km,
    decoy_bb84_key_per_pulse,
    fibre_key_rate_bps,
    fibre_link_capacity_bps,
)
from satqkd.network.ledger import BitRange, PassKey, RelayLedger, RelayRecord, recover_partner_key
from satqkd.network.model import CandidatePass, Demand, EntanglementWindow, NetworkProblem, Site
from satqkd.network.outputs import network_dataset, relay_report
from satqkd.network.planning import PlanResult, plan_greedy, plan_milp

__all__ = [
    "BitRange",
    "CandidatePass",
    "Delivery",
    "Demand",
    "EntanglementWindow",
    "Execution",
    "FibreLink",
    "FibreQKDParams",
    "NetworkProblem",
    "PassKey",
    "PlanResult",
    "RelayLedger",
    "RelayRecord",
    "Site",
    "cutoff_distance_km",
    "decoy_bb84_key_per_pulse",
    "execute_plan",
    "fibre_availability",
    "fibre_key_rate_bps",
    "fibre_link_capacity_bps",
    "network_dataset",
    "plan_greedy",
    "plan_milp",
    "recover_partner_key",
    "relay_report",
]
