"""``satqkd relay``: a mission run, then trusted-relay planning on its real keys.

1. The mission runs as ``satqkd run`` does, with every pass's final keys written
   (``keys/``): each candidate pass's key is what the simulator gives that pass.
2. The planners choose which station each satellite serves when passes conflict and
   how the stored key is allocated to the demands: the exact MILP and the greedy
   baseline, both reported (:mod:`satqkd.network.planning`).
3. The MILP plan is executed on the actual key bits by the relay ledger, which
   publishes K_A xor K_B (Liao et al., PRL 120, 030501 (2018)). With ``[entanglement]
   pairs``, the dual-downlink windows of those pairs compete as a second path that
   needs no trust in the satellite (BBM92 keys of the windows, simulated).
4. ``network.nc``, ``network_report.md`` and the network plots are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from satqkd.mission.fidelity import require_keys
from satqkd import config
from satqkd.keys.postprocess import read_key_index, read_keys
from satqkd.mission.io import atomic_path, write_text_atomic
from satqkd.mission import guard
from satqkd.mission.run import default_out_dir, plan_mission, run_mission
from satqkd.network.execution import execute_plan
from satqkd.network.fibre import FibreLink
from satqkd.network.ledger import PassKey
from satqkd.network.model import CandidatePass, Demand, EntanglementWindow, NetworkProblem, Site
from satqkd.network.outputs import network_dataset, relay_report
from satqkd.network.planning import plan_greedy, plan_milp


def _seconds(iso: str) -> float:
    return float(np.datetime64(str(iso).rstrip("Z"), "ns").astype(np.int64)) / 1e9


def entanglement_windows(plan, eps: dict[str, tuple[float, float]] | None = None,
                         keys: dict[str, tuple[np.ndarray, np.ndarray]] | None = None
                         ) -> tuple[tuple[EntanglementWindow, ...], dict[str, int]]:
    """Dual-downlink windows of the ``[entanglement] pairs`` as a second, trust-free path.

    Each common-visibility window is simulated as a BBM92 dual downlink from the
    satellite's pair source (``[satellites.pair_source]``); its secret key is the key the
    window would give A and B directly, without trusting the satellite.  ``eps``, if
    given, receives each window's (eps_sec, eps_cor); ``keys``, if given, each window's
    final keys (station A's and station B's copies, packed) when it has any.
    """
    eps = {} if eps is None else eps
    from satqkd.mission.protocols.entangled import simulate_window, window_tasks
    from satqkd.orbit.passes import pass_geometry

    cfg = plan.cfg
    if not cfg.entanglement.pairs:
        return (), {}
    ent_cfg = cfg.model_copy(update={"mission": cfg.mission.model_copy(
        update={"protocol": "bbm92"})})
    geometry = pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                             cfg.mission.night_sun_elevation_deg)
    cfg_index = {id(c): i for i, c in enumerate(cfg.satellites)}
    sat_index = {sat.name: cfg_index[id(c)] for sat, c in plan.satellites}
    station_index = {s.name: i for i, s in enumerate(cfg.stations)}
    ent_plan = type(plan)(plan.path, ent_cfg, plan.satellites, plan.stations, plan.passes)
    windows, bits = [], {}
    for task in window_tasks(ent_plan, geometry, sat_index, station_index):
        result = simulate_window(task)
        attrs = result.dataset.attrs
        n = int(attrs["secret_bits"])
        if keys is not None and result.key_bits > 0:
            keys[task.window_id] = (result.alice_key, result.bob_key)
        windows.append(EntanglementWindow(task.window_id, attrs["satellite"], attrs["station_a"],
                                          attrs["station_b"], _seconds(attrs["aos"]),
                                          _seconds(attrs["los"]), float(n)))
        bits[task.window_id] = n
        eps[task.window_id] = (float(attrs.get("eps_sec", 0.0)), float(attrs.get("eps_cor", 0.0)))
    return tuple(windows), bits


def network_problem(cfg: config.MissionConfig, table: pd.DataFrame,
                    windows: tuple[EntanglementWindow, ...] = ()) -> NetworkProblem:
    """The planning problem of a mission from its pass table (``passes.csv``)."""
    rel = cfg.relay
    candidates = tuple(
        CandidatePass(str(r.pass_id), str(r.satellite), str(r.station), _seconds(r.aos),
                      _seconds(r.los), float(max(r.secret_bits, 0)))
        for r in table.itertuples()
    )
    demands = tuple(
        Demand(d.a, d.b, bits_per_day=d.bits_per_day, bits_per_session=d.bits_per_session,
               session_times_s=tuple(t.timestamp() for t in d.sessions), weight=d.weight)
        for d in rel.demands
    )
    fibre = tuple(
        FibreLink(c.name, c.station, c.fibre_km, c.trusted_node_spacing_km,
                  lat_deg=c.lat_deg, lon_deg=c.lon_deg)
        for c in rel.cities
    )
    sites = tuple(Site(s.name, s.lat_deg, s.lon_deg, "station") for s in cfg.stations) + tuple(
        Site(c.name, c.lat_deg, c.lon_deg, "city") for c in rel.cities
        if c.lat_deg is not None and c.lon_deg is not None)
    return NetworkProblem(candidates, demands, windows=windows, fibre_links=fibre,
                          storage_bits=rel.storage_bits,
                          start_s=cfg.mission.start.timestamp(), end_s=cfg.mission.end.timestamp(),
                          objective=rel.objective, sites=sites)


def run_relay(path: Path | str, out_dir: Path | str | None = None, progress=None,
              workers: int = 1, overrides: Sequence[str] = (), *, resume: bool = False,
              keep_checkpoints: bool = False, force: bool = False) -> Path:
    """Run the mission at ``path``, plan the relay, execute it on the real keys.

    ``overrides``: ``section.key=value`` strings (``--set``); ``progress(stage, done,
    total)`` sees the stages of ``run_mission``, then ``relay``.
    """
    plan = plan_mission(path, overrides, progress=progress)
    cfg = plan.cfg
    require_keys(cfg, "satqkd relay")  # the relay is executed on the real key bits
    if not cfg.relay.demands:
        from satqkd.errors import InputError

        raise InputError(f"{path}: relay.demands: `satqkd relay` needs at least one "
                         "[[relay.demands]] entry")
    keep_relay_keys = cfg.keys.write_keys  # the user asked for key files: relay keys too
    if not cfg.keys.write_keys:  # the ledger works on the real key bits
        plan.cfg = cfg = cfg.model_copy(update={"keys": cfg.keys.model_copy(
            update={"write_keys": True})})
    out = Path(out_dir) if out_dir is not None else default_out_dir(cfg)
    with guard.out_dir_lock(out, "relay"):  # one run per folder, relay included
        return _relay_locked(plan, out, progress, workers, keep_relay_keys,
                             dict(resume=resume, keep_checkpoints=keep_checkpoints, force=force))


def _relay_locked(plan, out: Path, progress, workers: int, keep_relay_keys: bool,
                  run_options: dict) -> Path:
    """:func:`run_relay` once the output folder is held."""
    def step(done: int) -> None:
        if progress:
            progress("relay", done, 4)

    cfg = plan.cfg
    run_mission(plan, out, progress=progress, workers=workers, **run_options)

    step(0)
    table = pd.read_csv(out / "passes.csv", keep_default_na=False)
    eps = {str(r.pass_id): (float(r.eps_sec or 0.0), float(r.eps_cor or 0.0))
           for r in table.itertuples()} if "eps_sec" in table else {}
    window_keys: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    windows, window_bits = entanglement_windows(plan, eps,
                                                window_keys if keep_relay_keys else None)
    step(1)
    problem = network_problem(cfg, table, windows)
    milp = plan_milp(problem, time_limit_s=cfg.relay.milp_time_limit_s)
    greedy = plan_greedy(problem)
    step(2)
    index = {row["pass_id"]: row for row in read_key_index(out / "keys")} \
        if (out / "keys").is_dir() else {}
    pass_keys = {}
    for c in problem.candidates:
        if c.pass_id in milp.selected_passes and c.pass_id in index:
            alice, _ = read_keys(out / "keys", c.pass_id)  # unpacked; the ledger wants packed
            pass_keys[c.pass_id] = PassKey(c.pass_id, c.satellite, c.station, c.aos_s, c.los_s,
                                           np.packbits(alice), int(index[c.pass_id]["bits"]))
    execution = execute_plan(problem, milp, pass_keys, window_bits=window_bits)
    step(3)
    if keep_relay_keys:  # each end's copy of every relayed key, for `satqkd serve`
        from satqkd.network.relay_keys import write_relay_keys

        write_relay_keys(out, execution, window_keys)
    ds = network_dataset(execution, compare=[greedy], eps=eps)
    ds.attrs.update({"mission": cfg.mission.name, "Conventions": "CF-1.8"})
    with atomic_path(out / "network.nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    write_text_atomic(out / "network_report.md", relay_report(ds))
    from satqkd.report.network_plots import plot_network

    plot_network(ds, out / "plots")
    from satqkd.report.mission_report import write_reports

    write_reports(out, plots="existing")  # report.md/html now with the relay section
    step(4)
    return out
