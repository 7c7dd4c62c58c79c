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
