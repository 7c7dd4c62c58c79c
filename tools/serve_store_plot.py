"""Plot the key store over mission time: available key per SAE pair (docs/serve.md).

    python tools/serve_store_plot.py OUTDIR [--store PATH] [--out PNG]

Steps up when a pass, pooled block or relay session ends (its key exists at both ends),
down when a master takes keys (replay stores only; see satqkd.serve.timeline).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from satqkd.errors import InputError  # noqa: E402
from satqkd.serve.catalog import load_catalog  # noqa: E402
from satqkd.serve.store import default_store_path  # noqa: E402
from satqkd.serve.timeline import store_timeline  # noqa: E402


def plot(outdir: Path, store: Path | None, png: Path) -> Path:
    catalog = load_catalog(outdir)
    series = store_timeline(catalog, store or default_store_path(outdir))
    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    for (a, b), (t, bits) in series.items():
        when = [datetime.fromtimestamp(x, timezone.utc) for x in t]
        ax.step(when, bits / 1e3, where="post", label=f"{a} - {b}")
    ax.set_xlabel("mission time (UTC)")
    ax.set_ylabel("key available (kbit)")
    run_json = outdir / "run.json"
    name = json.loads(run_json.read_text()).get("mission", outdir.name) \
        if run_json.exists() else outdir.name
    ax.set_title(f"{name}: key available per SAE pair in the key store")
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("outdir", type=Path)
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="PNG (default OUTDIR/plots/key_store.png)")
    args = p.parse_args(argv)
    try:
        png = plot(args.outdir, args.store, args.out or args.outdir / "plots" / "key_store.png")
    except InputError as exc:
        print(f"serve_store_plot: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
