"""Files satqkd reads at run time: station catalogue, element sets, shipped missions.

One copy of each lives in the repository, where users see and edit them (``missions/``,
``tle/``). Building the package copies them into ``satqkd/data/`` (``setup.py``), where
an installed satqkd reads them through :mod:`importlib.resources`; from a source tree or
an editable install they are read from the repository itself.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

#: The repository (source tree) this module belongs to, when it is one.
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_path(relative: str | Path) -> Path | None:
    """A runtime file by its repository path, e.g. ``"tle/micius.tle"``; None if absent.

    The package data of an installed satqkd first, then the source tree's file.
    """
    parts = Path(relative).parts
    if not parts or Path(relative).is_absolute() or ".." in parts:
        return None
    packaged = resources.files("satqkd").joinpath("data", *parts)
    if packaged.is_file():
        # wheels install unpacked: the resource is a real file on disk
        return Path(str(packaged))
    repo = REPO_ROOT.joinpath(*parts)
    return repo if repo.is_file() else None


__all__ = ["REPO_ROOT", "data_path"]
