"""Cheap construction of the per-pass datasets that cross the stages.

A year-long mission builds several datasets per pass (the pass's geometry, its link
budget, its counts), thousands of passes a worker. xarray's constructor and
``Dataset.assign`` merge and align their arguments, about 1-2 ms each for the ~40
variables of a pass: at the counts level that was more than the physics. Every variable
here already has its final dims and one time axis, so there is nothing to align: these
functions check the dimension sizes and build the dataset directly.

The result is the dataset ``xr.Dataset(variables, coords, attrs)`` (or
``base.assign(variables)``) would give, variable for variable, in the same order
(``tests/test_datasets.py``). It uses xarray's ``Dataset._construct_direct``, the
shortcut xarray's own methods take once they have validated their input; when an xarray
release lacks it, the public constructor is used instead (same result, slower).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import xarray as xr

__all__ = ["build_dataset", "extend_dataset", "variable", "dataset_state", "dataset_from_state",
           "pack_state", "unpack_state"]

_DIRECT = getattr(xr.Dataset, "_construct_direct", None)
_PANDAS_INDEX = getattr(getattr(xr, "indexes", None), "PandasIndex", None)


def variable(spec: Any) -> xr.Variable:
    """A :class:`xarray.Variable` from ``(dims, values[, attrs])`` or a Variable (kept)."""
    if isinstance(spec, xr.Variable):
        return spec
    dims, values = spec[0], spec[1]
    attrs = dict(spec[2]) if len(spec) > 2 and spec[2] is not None else None
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    if type(values) is np.ndarray and values.dtype.kind in "biuf" and values.ndim == len(dims):
        # a plain numeric array is what xarray's conversion would keep as it is
        if _RAW_VARIABLES:
            return _raw_variable(dims, values, attrs)
        return xr.Variable(dims, values, attrs, fastpath=True)
    return xr.Variable(dims, values, attrs)


#: The slots a Variable holds, all of them, down its class hierarchy (xarray 2023-2026).
_VARIABLE_SLOTS = {"_attrs", "_data", "_dims", "_encoding"}


def _raw_variable(dims: tuple, values: np.ndarray, attrs: dict | None,
                  encoding: dict | None = None) -> xr.Variable:
    """The Variable ``xr.Variable(dims, values, attrs)`` makes of a plain numeric array,
    its slots filled directly: the constructor's checks cost ~7 us, and a counts-level
    pass builds some eighty Variables. Used only where :data:`_RAW_VARIABLES` (checked
    against the constructor on import) says this xarray keeps exactly these slots."""
    var = object.__new__(xr.Variable)
    var._dims, var._data, var._attrs, var._encoding = dims, values, attrs, encoding
    return var


def _raw_variables_match() -> bool:
    slots = set()
    for cls in xr.Variable.__mro__:
        slots.update(getattr(cls, "__slots__", ()) or ())
    if slots != _VARIABLE_SLOTS:
        return False
    try:
        for values in (np.arange(3.0), np.arange(6, dtype=np.int32).reshape(3, 2),
                       np.array([True, False, True])):
            dims = ("time",) if values.ndim == 1 else ("time", "x")
            ref = xr.Variable(dims, values, {"units": "1"})
            raw = _raw_variable(dims, values, {"units": "1"})
            if not (ref.identical(raw) and ref.dtype == raw.dtype and ref.encoding == raw.encoding
                    and raw.values is values and ref.copy(deep=False).identical(raw.copy(deep=False))):
                return False
    except Exception:  # noqa: BLE001 - any disagreement: the public constructor
        return False
    return True


_RAW_VARIABLES = _raw_variables_match()


def _dims(variables: Mapping[Hashable, xr.Variable]) -> dict[Hashable, int]:
    dims: dict[Hashable, int] = {}
    for name, var in variables.items():
        for dim, size in zip(var.dims, var.shape):
            if dims.setdefault(dim, size) != size:
                raise ValueError(f"conflicting sizes for dimension {dim!r}: {size} on {name!r}, "
                                 f"{dims[dim]} before")
    return dims


def _shallow(var: xr.Variable) -> xr.Variable:
    """A new Variable on the same data with its own attrs (``assign``'s shallow copy)."""
    if type(var) is xr.Variable and _RAW_VARIABLES:
        # what copy(deep=False) gives, without its generic path
        attrs, encoding = var._attrs, var._encoding
        return _raw_variable(var._dims, var._data, None if attrs is None else dict(attrs),
                             None if encoding is None else dict(encoding))
    return var.copy(deep=False)


def build_dataset(data_vars: Mapping[Hashable, Any], coords: Mapping[Hashable, Any] | None = None,
                  attrs: Mapping | None = None) -> xr.Dataset:
    """``xr.Dataset(data_vars, coords, attrs)`` for variables already aligned.

    ``data_vars`` and ``coords`` hold ``(dims, values[, attrs])`` tuples or Variables; a
    coordinate named after its only dimension gets its index, as xarray gives it.
    """
    coords = dict(coords or {})
    if _DIRECT is None:
        return xr.Dataset(dict(data_vars), coords=coords, attrs=dict(attrs or {}))
    index_coords = {k: v for k, v in coords.items() if _is_index(k, v)}
    c = xr.Coordinates({k: variable(v) for k, v in index_coords.items()}) if index_coords else None
    variables: dict[Hashable, xr.Variable] = {}
    if c is not None:
        variables.update(c.variables)
    for k, v in coords.items():
        if k not in index_coords:
            variables[k] = variable(v)
    coord_names = set(variables)
    for k, v in data_vars.items():
        variables[k] = variable(v)
    # the public constructor orders data variables first, then coordinates
    ordered = {k: variables[k] for k in data_vars}
    ordered.update((k, variables[k]) for k in variables if k not in ordered)
    return _DIRECT(ordered, coord_names, _dims(ordered), dict(attrs or {}),
                   dict(c.xindexes) if c is not None else {})


def _is_index(name: Hashable, spec: Any) -> bool:
    dims = spec.dims if isinstance(spec, xr.Variable) else spec[0]
    dims = (dims,) if isinstance(dims, str) else tuple(dims)
    return dims == (name,)


def extend_dataset(base: xr.Dataset, data_vars: Mapping[Hashable, Any],
                   attrs: Mapping | None = None, copy: bool = True) -> xr.Dataset:
    """``base.assign(data_vars)`` with the dataset attributes ``attrs`` (default: base's).

    The new variables must not be index coordinates (none of the stages adds one).
    ``copy`` False: ``base``'s Variable objects are taken over rather than shallow-copied
    (for a base the caller made and drops: the copies were a tenth of a counts-level pass).
    """
    new_attrs = dict(base.attrs if attrs is None else attrs)
    if _DIRECT is None:
        ds = base.assign(dict(data_vars))
        ds.attrs = new_attrs
        return ds
    variables = ({k: _shallow(v) for k, v in base.variables.items()} if copy
                 else dict(base.variables))
    coord_names = set(base.coords)
    indexes = dict(base.xindexes)  # built once: the property makes a new mapping each time
    for k, v in data_vars.items():
        var = variable(v)
        if k in indexes:
            raise ValueError(f"extend_dataset: {k!r} is an index coordinate")
        variables[k] = var
        coord_names.discard(k)
    return _DIRECT(variables, coord_names, _dims(variables), new_attrs, indexes)


def values(ds: xr.Dataset, name: Hashable) -> np.ndarray:
    """A variable's numpy values without building a DataArray."""
    return ds.variables[name].values


def dataset_state(ds: xr.Dataset) -> tuple:
    """A dataset as plain numpy arrays and dicts, for a compact, fast pickle.

    Pickling a Dataset pickles every Variable object and its index; a year's thousands
    of per-pass tasks travel to the workers, so they carry this instead and are rebuilt
    with :func:`dataset_from_state` (encodings are not kept).
    """
    coords = set(ds.coords)
    return (tuple((name, v.dims, v.values, dict(v.attrs), name in coords)
                  for name, v in ds.variables.items()), dict(ds.attrs))


def dataset_from_state(state: tuple) -> xr.Dataset:
    """The dataset :func:`dataset_state` described (identical variables, order, attrs)."""
    variables, attrs = state
    if _DIRECT is not None and _PANDAS_INDEX is not None:
        # every pass's geometry is rebuilt in a worker: a dimension coordinate's index
        # made directly (what xr.Coordinates does for it), the rest as plain variables
        out: dict[Hashable, xr.Variable] = {}
        coord_names, indexes = set(), {}
        for name, dims, values, a, is_coord in variables:
            dims = (dims,) if isinstance(dims, str) else tuple(dims)
            if is_coord and dims == (name,):
                var = xr.Variable(dims, values, dict(a) if a is not None else None)
                index = _PANDAS_INDEX.from_variables({name: var}, options={})
                out[name] = index.create_variables({name: var})[name]
                indexes[name] = index
            else:
                out[name] = variable((dims, values, a))
            if is_coord:
                coord_names.add(name)
        return _DIRECT(out, coord_names, _dims(out), dict(attrs), indexes)
    data = {name: (dims, values, a) for name, dims, values, a, is_coord in variables
            if not is_coord}
    coords = {name: (dims, values, a) for name, dims, values, a, is_coord in variables
              if is_coord}
    ds = build_dataset(data, coords, attrs)
    order = [v[0] for v in variables]
    if list(ds.variables) != order and _DIRECT is not None:  # keep the original order
        ds = _DIRECT({k: ds.variables[k] for k in order}, set(ds.coords), dict(ds.sizes),
                     dict(ds.attrs), dict(ds.xindexes))
    return ds


def pack_state(state: tuple) -> tuple:
    """A :func:`dataset_state` with its 1-D arrays of one dtype and length stacked into one
    2-D block per dtype: a handful of buffers to pickle instead of one per variable (a
    task's geometry has twenty, and every buffer is a frame on a Dask connection)."""
    variables, attrs = state
    blocks: dict[tuple[str, int], list[np.ndarray]] = {}
    layout = []
    for name, dims, values, a, is_coord in variables:
        values = np.asarray(values)
        if values.ndim == 1 and values.dtype.kind in "biufM":
            key = (values.dtype.str, values.shape[0])
            rows = blocks.setdefault(key, [])
            layout.append((name, dims, (key, len(rows)), a, is_coord))
            rows.append(values)
        else:
            layout.append((name, dims, values, a, is_coord))
    return ("packed", tuple(layout), {k: np.stack(v) for k, v in blocks.items()}, attrs)


def unpack_state(packed: tuple) -> tuple:
    """The :func:`dataset_state` that :func:`pack_state` packed (rows of the blocks)."""
    if not packed or packed[0] != "packed":
        return packed
    _, layout, blocks, attrs = packed
    return (tuple((name, dims, blocks[ref[0]][ref[1]] if isinstance(ref, tuple) else ref, a,
                   is_coord) for name, dims, ref, a, is_coord in layout), attrs)
