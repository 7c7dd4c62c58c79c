"""Offline time scale and planetary ephemeris.

Nothing here touches the network: skyfield's time scale uses the leap-second and
Delta-T/UT1 tables built into skyfield, the planetary ephemeris is JPL DE421 as
shipped by the ``skyfield-data`` package (its path is built directly, because the
package's helper warns once a bundled file passes its nominal expiry date, which is
irrelevant for a fixed ephemeris), and astropy's IERS tables come from
``astropy-iers-data`` with automatic downloads switched off.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import skyfield_data
from skyfield.api import Loader, load_file
from skyfield.jpllib import SpiceKernel
from skyfield.timelib import Timescale

DE421_PATH = Path(skyfield_data.__file__).resolve().parent / "data" / "de421.bsp"


def configure_astropy_offline() -> None:
    """Forbid astropy from downloading IERS tables; the bundled ones are used."""
    from astropy.utils import iers

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None


@lru_cache(maxsize=1)
def timescale() -> Timescale:
    """Skyfield time scale from the tables built into skyfield (no download)."""
    # A Loader pointed at a non-existent cache is never asked to fetch: builtin=True.
    return Loader(str(DE421_PATH.parent), verbose=False).timescale(builtin=True)


@lru_cache(maxsize=1)
def ephemeris() -> SpiceKernel:
    """JPL DE421 (1900-2050) from the skyfield-data package, read from its file path."""
    if not DE421_PATH.exists():  # pragma: no cover - broken installation
        raise FileNotFoundError(
            f"{DE421_PATH}: the de421 ephemeris of skyfield-data is missing; "
            "reinstall satqkd's dependencies (pip install skyfield-data)"
        )
    return load_file(str(DE421_PATH))
