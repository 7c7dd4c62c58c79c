"""Run satqkd's performance benchmarks: ``python benchmarks/run.py [GROUP ...]``.

Groups: orbit, engine, keys, entanglement, mission, serve, sweep. Each group lives in
``benchmarks/bench_<group>.py`` and exposes ``run() -> Iterable[dict]``. Every figure
is printed as one JSON object per line, ``{"name", "value", "unit"}`` plus, where the
figure is compared with something measured in the same run, ``"reference"`` and
``"ratio"``. The machine and library versions are printed first.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
from pathlib import Path

GROUPS = ("orbit", "engine", "keys", "entanglement", "mission", "serve", "sweep")
HERE = Path(__file__).resolve().parent


def machine_info() -> dict:
    import numba
    import numpy
    import scipy
    import skyfield

    import satqkd

    return {
        "name": "machine",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "satqkd": satqkd.__version__,
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
        "skyfield": skyfield.__version__,
    }


def main(argv: list[str]) -> int:
    groups = argv or list(GROUPS)
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        print(f"benchmarks/run.py: unknown group {unknown[0]!r}; choose from {', '.join(GROUPS)}",
              file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    print(json.dumps(machine_info()), flush=True)
    for group in groups:
        if not (HERE / f"bench_{group}.py").exists():
            print(json.dumps({"name": group, "skipped": "no benchmark for this group yet"}),
                  flush=True)
            continue
        module = importlib.import_module(f"bench_{group}")
        for figure in module.run():
            print(json.dumps(figure), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
