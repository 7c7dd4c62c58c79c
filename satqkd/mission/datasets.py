"""Mission datasets: many per-pass datasets <-> one CF contiguous ragged array file.

``passes.nc`` follows the CF-1.8 discrete-sampling-geometry convention for
trajectories stored as a contiguous ragged array (CF conventions, section 9.3.3):
dimension ``pass`` holds one row per pass (its scalars, and ``row_size``, the number
of per-second samples of the pass), dimension ``sample`` holds the per-second data of
all passes one after the other. Pass ``i`` owns samples
``row_size[:i].sum() .. row_size[:i+1].sum() - 1``; :func:`pass_from_ragged` cuts it out.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr


def to_ragged(per_pass: Sequence[xr.Dataset], table: pd.DataFrame, attrs: dict) -> xr.Dataset:
    """Concatenate per-pass datasets (dim ``time``) and a per-pass table into one file."""
    n = len(per_pass)
    sizes = np.array([ds.sizes["time"] for ds in per_pass], dtype=np.int64)
    data_vars: dict = {}
    for col in table.columns:
        values = table[col].to_numpy()
        if values.dtype == object:
            values = values.astype(str)
        data_vars[col] = ("pass", values)
    data_vars["row_size"] = ("pass", sizes, {
        "long_name": "number of per-second samples of each pass",
        "sample_dimension": "sample",
    })
    if n:
        stacked = xr.concat([ds.drop_attrs(deep=False).rename({"time": "sample"})
                             for ds in per_pass], dim="sample")
        for name, var in stacked.variables.items():
            if name == "sample":
                continue
            data_vars[name] = var
        # restore the time coordinate as a sample variable
        data_vars["time"] = ("sample", stacked["sample"].values, {"long_name": "time (UTC)"})
    else:
        data_vars["time"] = ("sample", np.array([], dtype="datetime64[ns]"))
    ds = xr.Dataset(data_vars)
    if "pass_id" in ds:
        ds["pass_id"].attrs["cf_role"] = "trajectory_id"
    if n:
        for name, var in per_pass[0].data_vars.items():
            ds[name].attrs.update(var.attrs)
    ds.attrs.update({"Conventions": "CF-1.8", "featureType": "trajectory", **attrs})
    return ds


def pass_from_ragged(ds: xr.Dataset, i: int) -> xr.Dataset:
    """The per-second dataset of pass ``i`` (dim ``time``) from a ragged mission file."""
    sizes = ds["row_size"].values
    start = int(sizes[:i].sum())
    part = ds.isel(sample=slice(start, start + int(sizes[i])))
    sample_vars = [v for v in ds.data_vars if ds[v].dims == ("sample",)]
    out = part[sample_vars].swap_dims({"sample": "time"}).set_coords("time")
    out.attrs = {}
    for v in ds.data_vars:
        if ds[v].dims == ("pass",) and v != "row_size":
            value = ds[v].values[i]
            out.attrs[v] = value.item() if hasattr(value, "item") else value
    return out
