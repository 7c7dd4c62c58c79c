"""Many per-pass datasets <-> one CF contiguous ragged array (the ``passes.nc`` layout).

The layout is the CF-1.8 discrete-sampling-geometry representation of trajectories as
a contiguous ragged array (CF conventions, section 9.3.3): dimension ``pass`` holds
one row per pass (its scalars, and ``row_size``, the number of samples of the pass),
dimension ``sample`` holds the per-second data of all passes one after the other.
Pass ``i`` owns samples ``row_size[:i].sum()`` to ``row_size[:i + 1].sum() - 1``;
:func:`pass_from_ragged` cuts it out as a dataset with dimension ``time``.
"""

from __future__ import annotations

from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from satqkd.datasets import dataset_from_state


def ragged_dataset(
    table: pd.DataFrame | Mapping[str, np.ndarray],
    row_size: np.ndarray,
    time: np.ndarray,
    sample_vars: Mapping[str, tuple],
    attrs: Mapping | None = None,
    pass_attrs: Mapping[str, dict] | None = None,
) -> xr.Dataset:
    """Assemble a ragged dataset from per-pass columns and concatenated sample arrays."""
    data_vars: dict = {}
    columns = table.columns if isinstance(table, pd.DataFrame) else list(table)
    for col in columns:
        values = np.asarray(table[col])
        if values.dtype == object:
            values = values.astype(str)
        data_vars[col] = ("pass", values, dict((pass_attrs or {}).get(col, {})))
    data_vars["row_size"] = ("pass", np.asarray(row_size, dtype=np.int64), {
        "long_name": "number of per-second samples of each pass",
        "sample_dimension": "sample",
    })
    data_vars["time"] = ("sample", np.asarray(time, dtype="datetime64[ns]"),
                         {"long_name": "time (UTC)"})
    for name, spec in sample_vars.items():
        # spec: (values, attrs) or (values, attrs, names of the dims after "sample")
        values, var_attrs = spec[0], spec[1]
        extra = tuple(spec[2]) if len(spec) > 2 else tuple(
            f"{name}_{k}" for k in range(values.ndim - 1))
        data_vars[name] = (("sample",) + extra, values, dict(var_attrs))
    ds = xr.Dataset(data_vars)
    if "pass_id" in ds:
        ds["pass_id"].attrs["cf_role"] = "trajectory_id"
    ds.attrs.update({"Conventions": "CF-1.8", "featureType": "trajectory", **(attrs or {})})
    return ds


def to_ragged(
    per_pass: Sequence[xr.Dataset], table: pd.DataFrame, attrs: Mapping | None = None
) -> xr.Dataset:
    """Concatenate per-pass datasets (dim ``time``) and a one-row-per-pass table."""
    sizes = np.array([ds.sizes["time"] for ds in per_pass], dtype=np.int64)
    sample_vars: dict[str, tuple] = {}
    if per_pass:
        for name, var in per_pass[0].data_vars.items():
            if var.dims[:1] != ("time",):
                continue
            values = np.concatenate([ds[name].values for ds in per_pass])
            sample_vars[name] = (values, dict(var.attrs), var.dims[1:])
        time = np.concatenate([ds["time"].values for ds in per_pass])
    else:
        time = np.array([], dtype="datetime64[ns]")
    return ragged_dataset(table, sizes, time, sample_vars, attrs)


def iso_utc(values: np.ndarray) -> np.ndarray:
    """datetime64 values as ISO 8601 UTC strings with milliseconds (``...T16:48:44.123Z``).

    ``passes.nc`` stores AOS, TCA, LOS and the element-set epoch as CF times; the pass
    scalars and ``passes.csv`` keep them as these strings (NaT becomes ``""``).
    """
    values = np.asarray(values, dtype="datetime64[ns]")
    ms = (values + np.timedelta64(500_000, "ns")).astype("datetime64[ms]")  # nearest ms
    out = np.char.add(np.datetime_as_string(ms, unit="ms"), "Z")
    return np.where(np.isnat(values), "", out)


class PassCutter:
    """Cuts single passes out of one ragged dataset, its bookkeeping done once.

    :func:`pass_from_ragged` on each of a year's thousands of passes would walk the
    dataset's variables and convert its pass columns again for every pass; a cutter does
    that once. ``state(i)`` is pass ``i`` as plain arrays
    (:func:`satqkd.datasets.dataset_state` layout: slices of the ragged arrays, no copy),
    ``dataset(i)`` the dataset itself.
    """

    def __init__(self, ds: xr.Dataset, load: bool = True) -> None:
        """``load``: read every per-sample array now (many passes of a dataset in
        memory); False reads only each pass's rows (a few passes of an opened file)."""
        var = ds.variables  # plain Variables: DataArrays cost more than the cutting
        self.offsets = np.concatenate(([0], np.cumsum(var["row_size"].values))).astype(np.int64)
        sample = [v for v in var if var[v].dims[:1] == ("sample",) and v != "time"]
        self._load = load
        t = var["time"]
        self._time = ("time", ("time",), t.values if load else t, dict(t.attrs), True)
        self._coords = []
        seen = {"time"}
        for v in sample:
            for d in var[v].dims[1:]:
                if d in var and d not in seen:
                    seen.add(d)
                    c = var[d]
                    self._coords.append((d, c.dims, c.values, dict(c.attrs), True))
        self._sample = [(v, ("time",) + var[v].dims[1:], var[v].values if load else var[v],
                         dict(var[v].attrs)) for v in sample]
        self._columns: list[tuple[str, np.ndarray | list]] = []
        for v in var:
            if var[v].dims == ("pass",) and v != "row_size":
                values = var[v].values
                if load:  # every pass will be cut: convert each column once
                    if values.dtype.kind == "M":
                        values = iso_utc(values).astype(object)
                    values = values.tolist()
                self._columns.append((v, values))

    def __len__(self) -> int:
        return self.offsets.size - 1

    def attrs(self, i: int) -> dict:
        """Pass ``i``'s scalars (times as ISO 8601 strings), as its dataset's attrs."""
        if self._load:
            return {name: column[i] for name, column in self._columns}
        out = {}
        for name, column in self._columns:
            value = column[i]
            if isinstance(value, np.datetime64):
                value = str(iso_utc(value))
            out[name] = value.item() if hasattr(value, "item") else value
        return out

    def state(self, i: int) -> tuple:
        """Pass ``i`` as :func:`satqkd.datasets.dataset_from_state` takes it."""
        rows = slice(int(self.offsets[i]), int(self.offsets[i + 1]))
        cut = ((lambda a: a[rows]) if self._load
               else (lambda a: a[{"sample": rows}].values))  # reads only these rows
        name, dims, values, attrs, _ = self._time
        variables = [(v, d, cut(a), at, False) for v, d, a, at in self._sample]
        variables.append((name, dims, cut(values), attrs, True))
        variables.extend(self._coords)
        return tuple(variables), self.attrs(i)

    def dataset(self, i: int) -> xr.Dataset:
        """The per-second dataset of pass ``i`` (see :func:`pass_from_ragged`)."""
        return dataset_from_state(self.state(i))


def pass_from_ragged(ds: xr.Dataset, i: int) -> xr.Dataset:
    """The per-second dataset of pass ``i`` (dim ``time``); pass scalars become attrs.

    Times among the pass scalars (``aos``, ``tca``, ``los``...) become ISO 8601 strings;
    coordinates labelling the other dimensions (``intensity``...) are kept. Only the
    pass's rows are read from an opened file. To cut many passes of one dataset in
    memory, use a :class:`PassCutter`.
    """
    return PassCutter(ds, load=False).dataset(i)


def iter_passes(ds: xr.Dataset) -> Iterator[xr.Dataset]:
    """Every pass of a ragged dataset, in order, as per-pass datasets."""
    cutter = PassCutter(ds)
    for i in range(len(cutter)):
        yield cutter.dataset(i)
