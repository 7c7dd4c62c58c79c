"""satqkd: a simulator for satellite quantum key distribution missions.

The pipeline runs in stages, each in its own sub-package, and dependencies point
down the pipeline only::

    orbit -> channel -> engine -> keys -> mission -> network -> report / cli
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("satqkd")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.1.0"

__all__ = ["__version__"]


def open_mission(folder):  # noqa: ANN001, ANN201 - lazy import keeps `import satqkd` light
    """Open a ``satqkd run`` output folder.

    Returns a :class:`satqkd.report.mission_report.MissionOutput` with ``passes`` (the
    ragged ``passes.nc`` dataset; cut passes out with :func:`satqkd.ragged.pass_from_ragged`),
    ``summary`` (per station and month), ``table`` (``passes.csv``) and ``run`` (``run.json``).
    """
    from satqkd.report.mission_report import open_mission as _open

    return _open(folder)


__all__ += ["open_mission"]


def load_mission(source, overrides=()):  # noqa: ANN001, ANN201 - lazy import keeps `import satqkd` light
    """A mission from a TOML file or a dict of the same structure, validated like the file.

    Returns a :class:`satqkd.api.Mission`: ``passes()``, ``geometry(p)``,
    ``link_budget(p)``, ``simulate(p)``, ``run(out=...)``, each a labelled xarray
    object. ``overrides`` takes ``section.key=value`` strings, as ``--set`` does.
    See ``docs/api.md``.
    """
    from satqkd.api import load_mission as _load

    return _load(source, overrides)


def __getattr__(name):  # noqa: ANN001, ANN202 - lazy attribute: satqkd.Mission
    if name == "Mission":
        from satqkd.api import Mission

        return Mission
    raise AttributeError(f"module 'satqkd' has no attribute {name!r}")


__all__ += ["load_mission", "Mission"]
