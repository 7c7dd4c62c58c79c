"""Build hook: the package carries the runtime data the repository keeps for its users.

The station catalogue, the element sets and the shipped missions have one copy, where
users see them: ``missions/`` and ``tle/``. Building the package (wheel or sdist-built
wheel) copies them into ``satqkd/data/missions/`` and ``satqkd/data/tle/``, where an
installed satqkd finds them through ``importlib.resources`` (``satqkd.resources``).
Everything else is configured in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: repository folder -> files copied into satqkd/data/<folder>/
RUNTIME_DATA = {"missions": "*.toml", "tle": "*"}


class BuildPyWithData(build_py):
    """``build_py`` plus the runtime data (an editable install reads the repository)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder, pattern in RUNTIME_DATA.items():
            for src in sorted((ROOT / folder).glob(pattern)):
                if src.is_file():
                    dest = Path(self.build_lib) / "satqkd" / "data" / folder / src.name
                    self.mkpath(str(dest.parent))
                    self.copy_file(str(src), str(dest))


setup(cmdclass={"build_py": BuildPyWithData})
