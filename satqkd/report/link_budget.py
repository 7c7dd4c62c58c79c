"""Plot of a pass's link budget: stacked loss terms over the pass, elevation on a twin axis."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from satqkd.report.plots import LOSS_TERMS as _TERMS  # noqa: E402
from satqkd.report.plots import save_figure  # noqa: E402


def plot_link_budget(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a PNG of the stacked per-second loss terms (dB) with the elevation (deg) on a twin axis."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = (ds["time"].values - ds["time"].values[0]).astype("timedelta64[ms]").astype(float) / 1e3
    terms = [(name, label) for name, label in _TERMS if name in ds]
    stack = np.array([np.clip(ds[name].values, 0.0, None) for name, _ in terms])
    fig, ax = plt.subplots(figsize=(9, 5.2), constrained_layout=True)
    colors = plt.get_cmap("tab10").colors
    ax.stackplot(t, stack, labels=[label for _, label in terms], colors=colors[: len(terms)], alpha=0.85)
    total = stack.sum(axis=0)
    ax.plot(t, total, color="black", lw=1.2, label="total loss")
    ax.set_xlabel(f"time since {np.datetime_as_string(ds['time'].values[0], unit='s')} UTC (s)")
    ax.set_ylabel("loss (dB)")
    ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
    ax.set_ylim(0, max(1.0, float(np.nanmax(total)) * 1.08))
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(t, ds["elevation"].values, color="black", ls="--", lw=1.8, label="elevation (right axis)")
    ax2.set_ylabel("elevation (deg)")
    ax2.set_ylim(0, 90)
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    # legend below the axes so it never hides the curves
    fig.legend(handles + h2, labels + l2, loc="outside lower center", ncol=4, frameon=False)
    title = f"Link budget {ds.attrs.get('satellite', '')} -> {ds.attrs.get('station', '')}"
    if "link_direction" in ds.attrs:
        title += f" ({ds.attrs['link_direction']}, {ds.attrs.get('wavelength_nm', '')} nm)"
    ax.set_title(title)
    save_figure(fig, path, dpi=120)  # laid out once, temporary file, then rename
    plt.close(fig)
    return path


def link_budget_jobs(head: xr.Dataset, pass_ids: list[str], plots_dir: Path | str) -> list:
    """:func:`plot_link_budget` of the first passes of a ragged dataset, as
    :class:`satqkd.report.render.Job` s (``head``: those passes, loaded; passes without
    samples are left out). Files: ``plots_dir/<pass_id>_link_budget.png``."""
    from satqkd.paths import child, slug
    from satqkd.ragged import PassCutter
    from satqkd.report.render import Job

    cut = PassCutter(head)
    jobs = []
    for i, pid in enumerate(pass_ids):
        ds = cut.dataset(i)
        if ds.sizes["time"]:
            path = child(Path(plots_dir), f"{slug(pid)}_link_budget.png")
            jobs.append(Job(plot_link_budget, (ds, path), cost=float(ds.sizes["time"]),
                            output=path))
    return jobs
