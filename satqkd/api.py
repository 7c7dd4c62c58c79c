"""The notebook API: a mission in four calls, every result a labelled xarray object.

::

    import satqkd

    m = satqkd.load_mission("missions/micius-2016-12-19.toml")
    table = m.passes()                 # xr.Dataset, dimension "pass"
    link = m.link_budget(0)            # per-second loss terms of pass 0 (dimension "time")
    sim = m.simulate(0)                # link budget + engine counts; key figures in attrs
    out = m.run(out="outputs/micius")  # every pass, written to disk; opened again

A mission comes from a file or from a mapping with the file's structure; either is
validated by the same code, and a bad value raises :class:`satqkd.errors.InputError`
naming the field. ``overrides`` takes the CLI's ``--set`` strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np
import xarray as xr

from satqkd import config
from satqkd.errors import InputError

#: A pass: its index in :meth:`Mission.passes` or its ``pass_id``.
PassRef = int | str


class Mission:
    """A validated mission. Passes are found on first use (the orbit stage), once."""

    def __init__(self, source: Path | str | Mapping[str, Any],
                 overrides: Sequence[str] = ()) -> None:
        self._source = source if isinstance(source, Mapping) else Path(source)
        self._overrides = tuple(overrides)
        #: The validated configuration (:class:`satqkd.config.MissionConfig`).
        self.config = config.load_mission(self._source, self._overrides)
        self._plan = None
        self._geometry: xr.Dataset | None = None

    def __repr__(self) -> str:
        m = self.config.mission
        return (f"<satqkd.Mission {m.name!r} {m.start:%Y-%m-%dT%H:%MZ}..{m.end:%Y-%m-%dT%H:%MZ} "
                f"{len(self.config.satellites)} satellite(s), {len(self.config.stations)} "
                f"station(s), {m.protocol}>")

    @property
    def name(self) -> str:
        return self.config.mission.name

    @property
    def plan(self):  # noqa: ANN201 - satqkd.mission.run.MissionPlan, imported lazily
        """The orbit stage: satellites, stations and passes (computed on first use)."""
        if self._plan is None:
            from satqkd.mission.run import plan_mission

            self._plan = plan_mission(self._source, self._overrides)
        return self._plan

    @property
    def warnings(self) -> list[str]:
        """Warnings of the orbit stage (stale element sets...)."""
        return list(self.plan.warnings)

    # ------------------------------------------------------------------ passes
    def passes(self) -> xr.Dataset:
        """Every pass above the elevation mask: dimension ``pass`` labelled by ``pass_id``.

        Variables ``satellite``, ``norad_id``, ``station``, ``aos``, ``tca``, ``los``
        (``datetime64``, UTC), ``max_elevation_deg``, ``duration_s``, ``tle_epoch``,
        station coordinates. ``.to_dataframe()`` gives the table of ``satqkd passes``.
        """
        from satqkd.mission import cf
        from satqkd.mission.run import passes_csv_table

        table = passes_csv_table(self.plan)
        times = ("aos", "tca", "los", "tle_epoch")
        table = table.assign(**{c: table[c].str.rstrip("Z").astype("datetime64[ns]")
                                for c in times})
        for c in ("pass_id", "satellite", "station"):
            table[c] = table[c].astype(str)
        ds = xr.Dataset.from_dataframe(table.set_index("pass_id")).rename(pass_id="pass")
        for name in ds.variables:
            attrs = cf.pass_variable_attrs(name if name != "pass" else "pass_id", text=True)
            if name in times:
                attrs.pop("calendar", None)
            elif ds[name].dtype.kind in "if":
                attrs = cf.pass_variable_attrs(name)
            ds[name].attrs.update(attrs)
        ds.attrs.update(mission=self.name, min_elevation_deg=self.config.mission.min_elevation_deg)
        return ds

    def _index(self, which: PassRef) -> int:
        passes = self.plan.passes
        if isinstance(which, (int, np.integer)):
            if not -len(passes) <= which < len(passes):
                raise InputError(f"pass {which}: the mission has {len(passes)} passes "
                                 f"(0..{len(passes) - 1})")
            return int(which) % len(passes)
        ids = [p.pass_id for p in passes]
        if which not in ids:
            raise InputError(f"pass {which!r}: no such pass_id (e.g. {ids[0] if ids else 'none'})")
        return ids.index(which)

    def _task(self, which: PassRef):  # noqa: ANN202 - PassTask
        from satqkd.mission.run import PassTask
        from satqkd.orbit.passes import pass_geometry
        from satqkd.ragged import pass_from_ragged

        i = self._index(which)
        plan = self.plan
        cfg = plan.cfg
        if self._geometry is None:  # every pass at once: one SGP4 call per element set
            self._geometry = pass_geometry(plan.passes, plan.stations, cfg.mission.step_s,
                                           cfg.mission.night_sun_elevation_deg)
        p = plan.passes[i]
        sat_cfg = next(c for s, c in plan.satellites if s.name == p.satellite)
        sat_i = next(k for k, c in enumerate(cfg.satellites) if c is sat_cfg)
        st_i = next(k for k, s in enumerate(cfg.stations) if s.name == p.station)
        return PassTask(pass_from_ragged(self._geometry, i), cfg, sat_i, st_i)

    def geometry(self, which: PassRef) -> xr.Dataset:
        """Per-second geometry of a pass (dimension ``time``): look angles, range,
        sub-satellite point, Sun and Moon; pass scalars in ``attrs``."""
        return self._task(which).geometry

    def link_budget(self, which: PassRef) -> xr.Dataset:
        """Per-second link budget of a pass (dimension ``time``): the loss terms (dB),
        ``transmittance``, ``noise_probability``... on top of the geometry. The random
        draws (clouds, fading) are those of :meth:`simulate` and ``run``."""
        from satqkd.mission.run import pass_link_budget

        return pass_link_budget(self._task(which))

    def simulate(self, which: PassRef) -> xr.Dataset:
        """Simulate one pass as ``satqkd run`` does (same random stream): the link budget
        plus the engine's ``counts`` (dims ``time, intensity, alice_basis, bob_basis,
        error``, labelled); ``secret_bits``, ``qber``, ``abort_reason``... in ``attrs``."""
        from satqkd.mission import cf
        from satqkd.mission.run import simulate_pass

        if self.config.mission.protocol != "decoy-bb84":
            raise InputError(f"{self.name}: simulate() runs decoy-BB84 passes; protocol "
                             f"{self.config.mission.protocol!r} runs common-visibility "
                             "windows: use run()")
        task = self._task(which)
        ds = simulate_pass(task).dataset
        from satqkd.mission.links import link_for

        intensities = link_for(task.cfg).ends(task.cfg.satellites[task.satellite_index],
                                              task.cfg.stations[task.station_index]
                                              ).source.intensities
        values, attrs = cf.intensity_coordinate([intensities], len(intensities))
        coords = {"intensity": ("intensity", values, attrs)}
        for dim in ("alice_basis", "bob_basis", "error"):
            coords[dim] = (dim,) + cf.CATEGORIES[dim]
        return ds.assign_coords(coords)

    def run(self, out: Path | str | None = None, *, workers: int = 1, resume: bool = False,
            progress: Callable[[str, int, int], None] | None = None):  # noqa: ANN201
        """Run every pass and write the outputs (``passes.nc``, ``passes.csv``, report...)
        to ``out`` (default ``outputs/<name>``); returns them opened
        (:func:`satqkd.open_mission`: ``.passes``, ``.summary``, ``.table``, ``.run``)."""
        from satqkd.mission.run import run_mission
        from satqkd.report.mission_report import open_mission

        folder = run_mission(self.plan, out, progress=progress, workers=workers, resume=resume)
        return open_mission(folder)


def load_mission(source: Path | str | Mapping[str, Any], overrides: Sequence[str] = ()) -> Mission:
    """A mission from a TOML file or a mapping of the same structure, validated.

    ``overrides``: ``section.key=value`` strings (``"mission.seed=3"``,
    ``"stations.0.aperture_m=1.2"``), applied before validation as ``--set`` does.
    """
    return Mission(source, overrides)


__all__ = ["Mission", "load_mission"]
