"""Mission report: summaries per station and month, ``report.md`` and ``report.html``.

Everything is rebuilt from a mission output folder (``passes.nc``, with ``run.json`` for
the header when present; ``passes.csv`` alone is enough for the tables), so
``satqkd report DIR`` can be re-run at any time on the datasets alone.

Definitions used throughout (per station and month, and for the whole mission):

* a pass is *usable* when it was not aborted (``abort_reason`` empty) and gave
  ``secret_bits > 0``; *availability* = usable passes / passes (NaN when no pass);
* *clear-sky fraction* = sum(clear_fraction x duration_s) / sum(duration_s), the share
  of the time above the elevation mask with a cloud-free line of sight;
* passes are counted in the month (UTC) of their AOS.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from satqkd.errors import InputError
from satqkd.mission.io import write_text_atomic
from satqkd.ragged import iso_utc

#: Per-pass columns the report relies on, with the value used when a column is missing.
BASE_COLUMNS: dict[str, object] = {
    "pass_id": "", "satellite": "", "norad_id": -1, "station": "", "aos": "", "tca": "",
    "los": "", "max_elevation_deg": np.nan, "duration_s": 0.0, "min_loss_db": np.nan,
    "max_loss_db": np.nan, "clear_fraction": np.nan, "sifted_bits": 0, "qber": np.nan,
    "secret_bits": 0, "leaked_bits": 0, "abort_reason": "",
}


# --------------------------------------------------------------------------- inputs
def is_usable(abort_reason, secret_bits) -> np.ndarray:
    """Usable pass(es): not aborted and a positive secret key length."""
    reason = pd.Series(np.atleast_1d(np.asarray(abort_reason, dtype=object)))
    empty = reason.isna() | (reason.astype(str).str.strip().isin(["", "nan", "None"]))
    secret = np.nan_to_num(np.atleast_1d(np.asarray(secret_bits, dtype=float)))
    out = empty.to_numpy() & (secret > 0)
    return out if np.ndim(abort_reason) or np.ndim(secret_bits) else out[0]


def read_run_info(folder: Path | str) -> dict:
    """``run.json`` of a mission folder, or ``{}`` when absent or unreadable."""
    path = Path(folder) / "run.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class OpenedOutput(NamedTuple):
    """A mission output already opened by :func:`open_mission_output` (ragged dataset or
    None, pass table, run info): the report's plots, text and summary share one opening
    of ``passes.nc`` (opening its hundred-odd variables costs most of a second)."""

    ds: xr.Dataset | None
    table: pd.DataFrame
    info: dict


@contextmanager
def open_mission_output(ds_or_dir: xr.Dataset | Path | str | OpenedOutput
                        ) -> Iterator[tuple[xr.Dataset | None, pd.DataFrame, dict]]:
    """Yield (ragged dataset or None, pass table, run info) for a folder or a dataset.

    A folder's ``passes.nc`` is opened lazily (per-second data are read only when a plot
    asks for them) and closed on exit; without it, ``passes.csv`` gives the table. An
    :class:`OpenedOutput` is yielded as it is (with a copy of its table), and not closed.
    """
    if isinstance(ds_or_dir, OpenedOutput):
        yield ds_or_dir.ds, ds_or_dir.table.copy(), dict(ds_or_dir.info)
        return
    if isinstance(ds_or_dir, xr.Dataset):
        yield ds_or_dir, pass_table(ds_or_dir), {}
        return
    folder = Path(ds_or_dir)
    info = read_run_info(folder)
    nc, csv = folder / "passes.nc", folder / "passes.csv"
    if nc.exists():
        with xr.open_dataset(nc, engine="h5netcdf") as ds:
            yield ds, pass_table(ds), info
    elif csv.exists():
        yield None, pass_table(pd.read_csv(csv, keep_default_na=True)), info
    else:
        raise FileNotFoundError(f"{folder}: no passes.nc or passes.csv (run `satqkd run` first)")


def pass_table(ds_or_frame: xr.Dataset | pd.DataFrame) -> pd.DataFrame:
    """One row per pass: every per-pass variable, plus ``aos_time``, ``month``, ``usable``.

    Missing columns of :data:`BASE_COLUMNS` are added with neutral values so reports
    work on partial outputs; ``abort_reason`` is normalised to ``""`` for "no abort".
    """
    if isinstance(ds_or_frame, xr.Dataset):
        ds = ds_or_frame
        cols = {v: ds[v].values for v in ds.variables
                if ds[v].dims == ("pass",) and v != "row_size"}
        for v, values in cols.items():  # CF times (passes.nc) -> the ISO strings of passes.csv
            if np.issubdtype(values.dtype, np.datetime64):
                cols[v] = iso_utc(values)
        table = pd.DataFrame(cols, index=pd.RangeIndex(ds.sizes.get("pass", 0)))
    else:
        table = ds_or_frame.copy().reset_index(drop=True)
    for col, default in BASE_COLUMNS.items():
        if col not in table:
            table[col] = default
    for col in ("pass_id", "satellite", "station", "aos", "tca", "los", "abort_reason"):
        table[col] = table[col].astype(object).where(table[col].notna(), "").astype(str)
    table["abort_reason"] = table["abort_reason"].str.strip().replace({"nan": "", "None": ""})
    for col in ("sifted_bits", "secret_bits", "leaked_bits"):
        table[col] = pd.to_numeric(table[col], errors="coerce").fillna(0).astype(np.int64)
    aos = pd.to_datetime(table["aos"].str.rstrip("Z"), errors="coerce", format="ISO8601")
    table["aos_time"] = aos
    table["los_time"] = pd.to_datetime(table["los"].str.rstrip("Z"), errors="coerce",
                                       format="ISO8601")
    table["month"] = aos.dt.strftime("%Y-%m").fillna("")
    table["usable"] = is_usable(table["abort_reason"].to_numpy(), table["secret_bits"].to_numpy()) \
        if len(table) else np.zeros(0, dtype=bool)
    if "block_id" in table and len(table):
        # a pooled pass is usable when the block it joined gave key (on its closing pass)
        block = pd.to_numeric(table["block_id"], errors="coerce").fillna(-1).astype(np.int64)
        keyed = set(block[table["usable"] & (block >= 0)])
        table["usable"] = table["usable"] | ((table["abort_reason"] == "pooled")
                                             & block.isin(keyed))
    return table


# --------------------------------------------------------------------------- summaries
def _months(table: pd.DataFrame, info: dict) -> list[str]:
    """Every month (YYYY-MM) from the mission start (or first pass) to its end (or last pass)."""
    stamps = [t for t in table["aos_time"].dropna()]
    for key in ("start", "end"):
        if key in info:
            t = pd.to_datetime(str(info[key]).rstrip("Z"), errors="coerce")
            if key == "end" and t is not pd.NaT:
                t = t - pd.Timedelta(1, "ns")  # an end at 00:00 of a month is exclusive
            if t is not pd.NaT:
                stamps.append(t)
    if not stamps:
        return []
    first, last = min(stamps), max(stamps)
    return [str(p) for p in pd.period_range(first.to_period("M"), last.to_period("M"), freq="M")]


def _stations(table: pd.DataFrame, info: dict) -> list[str]:
    names = [s if isinstance(s, str) else s.get("name", "") for s in info.get("stations", [])]
    names = [n for n in names if n]
    # sorted, so a summary is the same whether built from the folder or the dataset alone
    return sorted(set(names) | set(table["station"]))


def summarize(table: pd.DataFrame, info: dict | None = None) -> xr.Dataset:
    """Per station and month summary of a pass table (see :func:`mission_summary`)."""
    info = info or {}
    stations, months = _stations(table, info), _months(table, info)
    shape = (len(stations), len(months))
    z = {k: np.zeros(shape, dtype=np.int64) for k in ("passes", "usable_passes", "sifted_bits",
                                                       "secret_bits")}
    dur, clear = np.zeros(shape), np.zeros(shape)
    si = {s: i for i, s in enumerate(stations)}
    mi = {m: j for j, m in enumerate(months)}
    # per pass at once; np.add.at sums in row order, as a loop over the rows would
    j = table["month"].map(mi).to_numpy(dtype=float) if len(table) else np.zeros(0)
    keep = np.isfinite(j)
    rows = table[keep]
    at = (rows["station"].map(si).to_numpy(dtype=np.int64), j[keep].astype(np.int64))
    np.add.at(z["passes"], at, 1)
    np.add.at(z["usable_passes"], at, rows["usable"].to_numpy(dtype=np.int64))
    np.add.at(z["sifted_bits"], at, rows["sifted_bits"].to_numpy(dtype=np.int64))
    np.add.at(z["secret_bits"], at, rows["secret_bits"].to_numpy(dtype=np.int64))
    d = rows["duration_s"].to_numpy(dtype=float)
    d = np.where(np.isfinite(d), d, 0.0)
    cf = rows["clear_fraction"].to_numpy(dtype=float)
    np.add.at(dur, at, d)
    np.add.at(clear, at, d * np.where(np.isfinite(cf), cf, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        availability = np.where(z["passes"] > 0, z["usable_passes"] / z["passes"], np.nan)
        clear_fraction = np.where(dur > 0, clear / dur, np.nan)
    dims = ("station", "month")
    ds = xr.Dataset(
        {
            "passes": (dims, z["passes"], {"units": "1", "long_name": "passes above the mask"}),
            "usable_passes": (dims, z["usable_passes"], {
                "units": "1", "long_name": "passes not aborted with secret_bits > 0"}),
            "availability": (dims, availability, {
                "units": "1", "long_name": "usable passes / passes"}),
            "duration_s": (dims, dur, {"units": "s", "long_name": "time above the mask"}),
            "clear_fraction": (dims, clear_fraction, {
                "units": "1", "long_name": "cloud-free share of the time above the mask"}),
            "sifted_bits": (dims, z["sifted_bits"], {
                "units": "bit", "long_name": "sifted key bits (Z basis)"}),
            "secret_bits": (dims, z["secret_bits"], {
                "units": "bit", "long_name": "secret key bits after finite-key privacy amplification"}),
        },
        coords={"station": ("station", np.array(stations, dtype=str)),
                "month": ("month", np.array(months, dtype=str), {"long_name": "UTC month of AOS"})},
    )
    ds.attrs.update({"mission": str(info.get("mission", "")),
                     "n_passes": len(table),
                     "n_passes_outside_months": int(len(table) - int(z["passes"].sum()))})
    return ds


def mission_summary(ds_or_dir: xr.Dataset | Path | str | OpenedOutput) -> xr.Dataset:
    """Summary per station and month (dims ``station``, ``month``) of a mission output.

    Variables: ``passes``, ``usable_passes``, ``availability`` (usable / passes),
    ``duration_s``, ``clear_fraction`` (duration-weighted), ``sifted_bits``,
    ``secret_bits``. Months run from the first to the last pass (or the mission's
    ``start``/``end`` when ``run.json`` gives them), months without passes included.
    """
    with open_mission_output(ds_or_dir) as (_, table, info):
        return summarize(table, info)


def mission_totals(table: pd.DataFrame) -> dict[str, float]:
    """Whole-mission totals of a pass table (same definitions as the summary)."""
    n = len(table)
    usable = table["usable"].to_numpy(bool) if n else np.zeros(0, bool)
    dur = np.nan_to_num(table["duration_s"].to_numpy(float))
    cf = np.nan_to_num(table["clear_fraction"].to_numpy(float))
    sifted = table["sifted_bits"].to_numpy(np.int64)
    qber = table["qber"].to_numpy(float)
    ok = usable & np.isfinite(qber) & (sifted > 0)
    return {
        "passes": n,
        "usable_passes": int(usable.sum()),
        "availability": float(usable.sum() / n) if n else math.nan,
        "duration_s": float(dur.sum()),
        "clear_fraction": float((cf * dur).sum() / dur.sum()) if dur.sum() > 0 else math.nan,
        "sifted_bits": int(sifted.sum()),
        "secret_bits": int(table["secret_bits"].sum()),
        "leaked_bits": int(table["leaked_bits"].sum()),
        # pooled over the passes that gave key: errors / sifted bits
        "qber_usable": float((qber[ok] * sifted[ok]).sum() / sifted[ok].sum()) if ok.any() else math.nan,
    }


# --------------------------------------------------------------------------- protocol
#: Protocols of entangled-photon missions (own headline, window table and plots).
ENTANGLED_PROTOCOLS = ("bbm92", "e91", "chsh")


def mission_protocol(table: pd.DataFrame, info: dict, attrs: dict | None = None) -> str:
    """The mission's protocol: ``run.json``, else the passes' ``protocol`` column or attrs."""
    proto = str(info.get("protocol") or "")
    if not proto and "protocol" in table and len(table):
        proto = str(table["protocol"].iloc[0])
    return (proto or str((attrs or {}).get("protocol", "")) or "decoy-bb84").lower()


def entanglement_windows_table(ds: xr.Dataset | None, table: pd.DataFrame,
                               k_sigma: float = 3.0) -> pd.DataFrame:
    """One row per dual-downlink window: S, its sigma, pass/fail, coincidence rate and the
    two-downlink loss (``summed_loss_db``, min and max over the seconds both links operate;
    NaN without ``passes.nc``). Pass/fail is ``bell_test_passed`` when recorded, else
    ``S - k_sigma sigma > 2``."""
    w = table.copy()
    for col in ("chsh_s", "chsh_sigma", "coincidence_rate_hz"):
        w[col] = pd.to_numeric(w[col], errors="coerce") if col in w else np.nan
    if "bell_test_passed" in w:
        w["bell_test_passed"] = pd.to_numeric(w["bell_test_passed"], errors="coerce").fillna(0) \
            .astype(bool)
    else:
        w["bell_test_passed"] = (w["chsh_s"] - k_sigma * w["chsh_sigma"]) > 2.0
    lo, hi = np.full(len(w), np.nan), np.full(len(w), np.nan)
    if ds is not None and "summed_loss_db" in ds and "row_size" in ds:
        loss = ds["summed_loss_db"].values
        on = np.ones(loss.size, bool)
        for v in ("operating_a", "operating_b"):
            if v in ds:
                on &= ds[v].values.astype(bool)
        off = np.concatenate(([0], np.cumsum(ds["row_size"].values.astype(np.int64))))
        for i in range(min(len(w), off.size - 1)):
            seg = loss[off[i]:off[i + 1]][on[off[i]:off[i + 1]]]
            seg = seg[np.isfinite(seg)]
            if seg.size:
                lo[i], hi[i] = float(seg.min()), float(seg.max())
    w["summed_loss_min_db"], w["summed_loss_max_db"] = lo, hi
    return w


# --------------------------------------------------------------------------- in words
#: A sentence per abort reason (``{night}``: the mission's night threshold, deg).
ABORT_WORDS = {
    "daylight": "daylight: the Sun was above {night} deg at the station and the link runs at "
                "night only, so no QKD was attempted",
    "overcast": "overcast: opaque cloud blocked the line of sight for the whole pass",
    "sunlit": "sunlit: the satellite was in sunlight whenever the station was dark, and the "
              "link runs only in Earth's shadow ([channel] operate_when_sunlit = false)",
    "too_short": "too short: the pass has no sample at the mission's time step",
    "qber_above_threshold": "QBER above threshold: the measured error rate exceeded the "
                            "protocol's abort threshold ([keys] qber_threshold)",
    "no_single_photon_bound": "no single-photon bound: the decoy statistics could not bound "
                              "the single-photon yield, so no key is certified",
    "non_positive_length": "non-positive length: after the finite-key corrections and error "
                           "correction nothing secret remained",
    "no_test_events": "no test events: no X-basis (test) detections to estimate the phase error",
    "ec_failed": "error correction failed: the keys could not be reconciled",
    "verification_failed": "verification failed: the keys still differed after error correction",
    "bell_test_failed": "Bell test failed: S - k sigma did not exceed 2, so the source is not "
                        "certified and no key is kept",
    "bell_test_only": "Bell test only: this protocol (E91/CHSH) measures S and keeps no key, "
                      "by design",
    "efficiency_mismatch": "efficiency mismatch: unequal detector efficiencies, for which no "
                           "bound certifies a key",
    "pooled": "pooled: the pass joined a finite-key block whose key is reported on its last pass",
}


def abort_sentence(reason: str, night_deg: float = -12.0) -> str:
    """The reason a pass gave no key, in words."""
    text = ABORT_WORDS.get(reason)
    return text.format(night=f"{night_deg:g}") if text else f"{reason}: (no description)"


# --------------------------------------------------------------------------- hardware
#: Hardware of the executive summary: (element, config attribute) per satellite / station.
_SAT_PARTS = ("transmitter", "source")
_SAT_PARTS_ENTANGLED = ("transmitter", "pair_source")
_STATION_PARTS = ("detector", "receiver")


def mission_file_marks(text: str) -> dict[tuple[str, int, str], tuple[str, str]]:
    """``(section, index, key) -> (basis, comment)`` for every value set in a mission file.

    ``section`` is the dotted table (``satellites.transmitter``), ``index`` counts the
    ``[[satellites]]`` / ``[[stations]]`` entries; basis is ``assumption`` (the comment
    says ASSUMPTION), ``sourced`` (any other comment) or ``no source given``.
    """
    marks: dict[tuple[str, int, str], tuple[str, str]] = {}
    section, counts = "", {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[[") and "]]" in line:
            section = line[2:line.index("]]")].strip()
            counts[section] = counts.get(section, -1) + 1
            continue
        if line.startswith("[") and "]" in line:
            section = line[1:line.index("]")].strip()
            continue
        if "=" not in line or line.startswith("#"):
            continue
        key = line.split("=", 1)[0].strip()
        comment = raw.split("#", 1)[1].strip() if "#" in raw.split("=", 1)[1] else ""
        top = section.split(".")[0]
        basis = ("assumption" if "ASSUMPTION" in comment.upper() else
                 "sourced" if comment else "no source given")
        marks[(section, counts.get(top, 0), key)] = (basis, comment)
    return marks


def _fmt_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    return str(v)


def hardware_rows(mission_file: Path | str, entangled: bool = False) -> list[tuple[str, ...]]:
    """(element, parameter, value, basis) of the satellites' transmitter and source and the
    stations' aperture, detector and receiver, from the validated mission.

    Basis: ``ASSUMPTION`` when the mission file's comment on the value says so, or when the
    file leaves the value out and the model's default applies; ``sourced`` when another
    comment gives its source; ``set, no source given``; ``not set in the file: station
    catalogue`` for a left-out value that differs from the default.
    """
    from satqkd.config import load_mission

    path = Path(mission_file)
    marks = mission_file_marks(path.read_text())
    cfg = load_mission(path)

    def basis(section: str, i: int, key: str, model=None, value=None) -> str:
        b, comment = marks.get((section, i, key), ("", ""))
        if not b:
            field = type(model).model_fields.get(key) if model is not None else None
            default = None
            if field is not None:
                default = field.default_factory() if field.default_factory else field.default
            if field is not None and default == value:
                return "ASSUMPTION: default value (not set in the file)"
            return "not set in the file: station catalogue"
        if b == "assumption":
            return f"ASSUMPTION (file comment: {comment})"
        return f"sourced: {comment}" if b == "sourced" else "set, no source given"

    rows: list[tuple[str, ...]] = []
    for i, sat in enumerate(cfg.satellites):
        for part in (_SAT_PARTS_ENTANGLED if entangled else _SAT_PARTS):
            model = getattr(sat, part, None)
            if model is None:
                continue
            for key, value in model.model_dump().items():
                if value is None:
                    continue
                rows.append((f"{sat.name} {part.replace('_', ' ')}", key, _fmt_value(value),
                             basis(f"satellites.{part}", i, key, model, value)))
    for j, st in enumerate(cfg.stations):
        if getattr(st, "aperture_m", None) is not None:
            rows.append((f"{st.name} telescope", "aperture_m", _fmt_value(st.aperture_m),
                         basis("stations", j, "aperture_m", st, st.aperture_m)))
        for part in _STATION_PARTS:
            model = getattr(st, part, None)
            if model is None:
                continue
            for key, value in model.model_dump().items():
                if value is None:
                    continue
                rows.append((f"{st.name} {part}", key, _fmt_value(value),
                             basis(f"stations.{part}", j, key, model, value)))
    return rows


# --------------------------------------------------------------------------- formatting
def _int(v) -> str:
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return "–"


def _num(v, fmt: str = "{:.1f}") -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return fmt.format(f) if math.isfinite(f) else "–"


def _pct(v, digits: int = 1) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * f:.{digits}f} %" if math.isfinite(f) else "–"


def _when(t) -> str:
    return "–" if t is None or t is pd.NaT or pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d %H:%M:%S")


class _Table:
    """A table for both renderers: headers, rows of strings, right-aligned columns."""

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
                 right: Sequence[int] = (), red: Sequence[int] = ()):
        self.headers, self.rows, self.right = list(headers), [list(r) for r in rows], set(right)
        self.red = set(red)  # rows drawn in red (compromised keys)

    def markdown(self) -> str:
        def esc(s: str) -> str:
            return str(s).replace("|", "\\|").replace("\n", " ")
        align = ["---:" if i in self.right else "---" for i in range(len(self.headers))]
        lines = ["| " + " | ".join(esc(h) for h in self.headers) + " |",
                 "| " + " | ".join(align) + " |"]
        lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in self.rows]
        return "\n".join(lines)

    def html(self, cls: str = "") -> str:
        def cell(tag: str, i: int, s: str) -> str:
            a = ' class="r"' if i in self.right else ""
            return f"<{tag}{a}>{html.escape(str(s))}</{tag}>"
        head = "".join(cell("th", i, h) for i, h in enumerate(self.headers))
        body = "\n".join(("<tr class=\"compromised\">" if k in self.red else "<tr>")
                         + "".join(cell("td", i, c) for i, c in enumerate(r)) + "</tr>"
                         for k, r in enumerate(self.rows))
        return (f'<table class="{cls}"><thead><tr>{head}</tr></thead>\n'
                f"<tbody>\n{body}\n</tbody></table>")


def _header_table(table: pd.DataFrame, info: dict, attrs: dict) -> _Table:
    name = info.get("mission") or attrs.get("mission") or "(unnamed mission)"
    if "start" in info and "end" in info:
        period = f"{info['start']} to {info['end']} (UTC)"
    elif len(table) and table["aos_time"].notna().any():
        period = (f"passes from {_when(table['aos_time'].min())} to "
                  f"{_when(table['los_time'].max())} UTC")
    else:
        period = "–"
    sats = {}
    for row in table[["satellite", "norad_id"]].drop_duplicates().itertuples(index=False):
        sats[row.satellite] = f"{row.satellite} (NORAD {row.norad_id})" if int(row.norad_id) >= 0 \
            else row.satellite
    for s in info.get("satellites", []) or info.get("tle_epochs_used", {}):
        s = s if isinstance(s, str) else s.get("name", "")
        sats.setdefault(s, s)
    stations = _stations(table, info)
    version = info.get("satqkd_version") or str(attrs.get("source", "")).replace("satqkd ", "")
    rows = [("mission", name), ("period", period),
            ("satellites", ", ".join(sats.values()) or "–"),
            ("stations", ", ".join(stations) or "–"),
            ("seed", str(info.get("seed", "–"))),
            ("satqkd version", version or "–"),
            ("configuration SHA-256", str(info.get("config_sha256") or attrs.get("config_sha256", "–"))),
            ("run created (UTC)", str(info.get("created_utc", "–")))]
    epochs = {k: v for k, v in (info.get("tle_epochs_used") or {}).items() if v}
    if epochs:
        rows.append(("element-set epochs used", "; ".join(
            f"{sat}: " + ", ".join(e.get("epoch", "?") for e in lst) for sat, lst in epochs.items())))
    if info.get("warnings"):  # one entry per kind, with its count (older runs: strings)
        rows.append(("run warnings", "; ".join(
            w["message"] if isinstance(w, dict) else str(w) for w in info["warnings"])))
    return _Table(["item", "value"], rows)


def _totals_table(tot: dict) -> _Table:
    rows = [
        ("passes above the elevation mask", _int(tot["passes"])),
        ("usable passes (gave key, or joined a block that did)", _int(tot["usable_passes"])),
        ("availability (usable / passes)", _pct(tot["availability"])),
        ("time above the mask", f"{_num(tot['duration_s'] / 3600.0, '{:.2f}')} h"),
        ("clear-sky fraction of that time", _pct(tot["clear_fraction"])),
        ("sifted key (Z basis)", f"{_int(tot['sifted_bits'])} bit"),
        ("QBER, pooled over usable passes", _pct(tot["qber_usable"], 2)),
        ("leaked in error correction", f"{_int(tot['leaked_bits'])} bit"),
        ("secret key", f"{_int(tot['secret_bits'])} bit"),
    ]
    return _Table(["quantity", "value"], rows, right=[1])


def _security_table(info: dict) -> list:
    """What the keys are certified to, in words and figures (run.json's ``security``)."""
    sec = info.get("security")
    if not sec:
        return []
    block = sec.get("finite_key_block", "pass")
    where = {"pass": "each pass is its own finite-key block",
             "day": "the passes of a satellite-station link on one UTC day form one block",
             "mission": "all passes of a satellite-station link form one block"}.get(
        block, f"every {block} consecutive passes of a satellite-station link form one block")
    text = (f"Finite-key blocks: {where}; a pooled block's key is reported on its last pass "
            "(the others say `pooled`). Error correction: "
            f"{sec.get('error_correction', 'cascade')}. Composed over the "
            f"{sec.get('runs', 0)} runs of the protocol, every key of this mission is "
            f"eps-secure with eps_sec = {sec.get('eps_sec_total', 0):.3g} and "
            f"eps_cor = {sec.get('eps_cor_total', 0):.3g} (sums of the per-run values).")
    rows = [("per run: eps_sec / eps_cor", f"{sec.get('eps_sec_per_run', 0):.3g} / "
             f"{sec.get('eps_cor_per_run', 0):.3g}"),
            ("runs of the protocol (passes or blocks)", _int(sec.get("runs", 0))),
            ("keys produced", _int(sec.get("keys", 0))),
            ("mission total eps_sec", f"{sec.get('eps_sec_total', 0):.3g}"),
            ("mission total eps_cor", f"{sec.get('eps_cor_total', 0):.3g}")]
    return [text, _Table(["quantity", "value"], rows, right=[1])]


def _station_table(summary: xr.Dataset) -> _Table:
    rows = []
    for s in summary["station"].values:
        sub = summary.sel(station=s)
        n, u = int(sub["passes"].sum()), int(sub["usable_passes"].sum())
        d = float(sub["duration_s"].sum())
        clear = float((sub["clear_fraction"].fillna(0) * sub["duration_s"]).sum() / d) if d > 0 else math.nan
        secret = int(sub["secret_bits"].sum())
        rows.append((str(s), _int(n), _int(u), _pct(u / n if n else math.nan), _pct(clear),
                     _int(sub["sifted_bits"].sum()), _int(secret),
                     _int(secret / u) if u else "–"))
    return _Table(["station", "passes", "usable", "availability", "clear sky", "sifted (bit)",
                   "secret (bit)", "secret per usable pass (bit)"], rows, right=range(1, 8))


def _monthly_table(summary: xr.Dataset) -> _Table:
    rows = []
    v = {k: summary[k].transpose("station", "month").values
         for k in ("passes", "usable_passes", "availability", "clear_fraction", "sifted_bits",
                   "secret_bits")}
    for j, m in enumerate(summary["month"].values):
        for i, s in enumerate(summary["station"].values):
            rows.append((str(m), str(s), _int(v["passes"][i, j]), _int(v["usable_passes"][i, j]),
                         _pct(v["availability"][i, j]), _pct(v["clear_fraction"][i, j]),
                         _int(v["sifted_bits"][i, j]), _int(v["secret_bits"][i, j])))
    return _Table(["month", "station", "passes", "usable", "availability", "clear sky",
                   "sifted (bit)", "secret (bit)"], rows, right=range(2, 8))


def _abort_table(table: pd.DataFrame) -> _Table | None:
    reasons = table.loc[table["abort_reason"] != "", "abort_reason"].value_counts()
    no_key = int(((table["abort_reason"] == "") & (table["secret_bits"] <= 0)).sum())
    rows = [(r, _int(c)) for r, c in reasons.items()]
    if no_key:
        rows.append(("(not aborted, zero secret key)", _int(no_key)))
    return _Table(["reason", "passes"], rows, right=[1]) if rows else None


class _Alert(str):
    """A plain sentence the report shows as a warning (red in HTML)."""


def _security_verdicts(table: pd.DataFrame) -> list:
    """Passes whose claimed key the simulated eavesdropper holds (``security``)."""
    if "security" not in table or not len(table):
        return []
    bad = table[table["security"].astype(str) == "compromised"]
    if not len(bad):
        return []
    bits = pd.to_numeric(bad["secret_bits"], errors="coerce").fillna(0)
    known = pd.to_numeric(bad.get("eve_known_bits", 0), errors="coerce").fillna(0)
    sentence = _Alert(
        f"{len(bad)} of {len(table)} passes claimed a secret key that the simulated "
        f"eavesdropper knows: {_int(int(bits.sum()))} bits claimed, of which she knows "
        f"{_int(int(known.clip(lower=0).sum()))} with certainty. These keys are not secret; "
        "the protocol's statistics did not reveal the attack (see docs/attacks.md).")
    rows = [[r.pass_id, r.station, _int(r.secret_bits), _int(getattr(r, "eve_known_bits", 0)),
             _pct(getattr(r, "eve_key_agreement", float("nan")), 1)]
            for r in bad.itertuples(index=False)]
    t = _Table(["pass", "station", "claimed key (bit)", "Eve knows (bit)", "Eve's agreement"],
               rows, right=[2, 3, 4], red=range(len(rows)))
    return [sentence, t]


def _pass_rows_table(table: pd.DataFrame) -> _Table:
    extra = [c for c in ("chsh_s",) if c in table]
    headers = ["#", "AOS (UTC)", "satellite", "station", "max el. (deg)", "duration (s)",
               "clear sky", "min loss (dB)", "max loss (dB)", "sifted (bit)", "QBER",
               "secret (bit)"] + [{"chsh_s": "CHSH S"}[c] for c in extra] + ["abort reason"]
    rows = []
    used = ["aos_time", "satellite", "station", "max_elevation_deg", "duration_s",
            "clear_fraction", "min_loss_db", "max_loss_db", "sifted_bits", "qber",
            "secret_bits", "abort_reason"] + extra  # not the hundred-odd other columns
    for i, r in enumerate(table[used].itertuples(index=False)):
        row = [str(i), _when(r.aos_time), r.satellite, r.station, _num(r.max_elevation_deg),
               _num(r.duration_s, "{:.0f}"), _pct(r.clear_fraction, 0), _num(r.min_loss_db),
               _num(r.max_loss_db), _int(r.sifted_bits), _pct(r.qber, 2), _int(r.secret_bits)]
        row += [_num(getattr(r, c), "{:.3f}") for c in extra]
        row.append(r.abort_reason or "")
        rows.append(row)
    right = [0] + list(range(4, 12 + len(extra)))
    red = []
    if "security" in table:  # before the abort reason, which stays the last column
        headers.insert(len(headers) - 1, "security")
        for i, (row, v) in enumerate(zip(rows, table["security"].astype(str))):
            row.insert(len(row) - 1, v)
            if v == "compromised":
                red.append(i)
    return _Table(headers, rows, right=right, red=red)


#: The mission plots (plots/<name>.png), in report order.
MISSION_PLOTS = ("executive_pass", "key_vs_elevation", "monthly_key", "pass_key", "availability",
                 "cumulative_key", "world_map")

_CAPTIONS = {
    "key_vs_elevation": "Secret key of every pass against its maximum elevation, log axis "
                        "(crosses on the axis floor: passes without key).",
    "executive_pass": "The pass with the most key (else the highest), per second: elevation "
                      "and range, loss terms, sifted counts and errors, QBER, cumulative key.",
    "pass_key": "Sifted and secret key of each pass (a mission of one pass has no monthly view).",
    "entanglement_windows": "Per window: CHSH S with its 1-sigma error bar (green: Bell test "
                            "passed), coincidence rate, and the two-downlink loss.",
    "entanglement_window": "The window with the most significant Bell violation, per second: "
                           "both elevations, summed two-downlink loss, coincidences.",
    "monthly_key": "Secret key per month (UTC, by AOS) and station.",
    "availability": "Availability (usable passes / passes) and clear-sky fraction of the "
                    "pass time, per month and station.",
    "cumulative_key": "Secret key accumulated over the mission, per station and in total.",
    "world_map": "Ground tracks of the passes (sub-satellite points above the elevation "
                 "mask) and the ground stations.",
}

_CAPTIONS.update({
    "network_timeline": "Relay network: passes per station (filled: used by the plan), "
                        "entanglement windows and key deliveries per pair.",
    "network_stock": "Relay network: unused key stored on board per satellite and station.",
    "network_delivered": "Relay network: key held at both endpoints against the key requested "
                         "(triangles: session requests).",
    "network_map": "Relay network: key delivered per pair (line width ~ delivered key).",
})

#: The relay plots of ``satqkd relay``, in the order the report shows them.
NETWORK_PLOTS = ("network_timeline", "network_delivered", "network_stock", "network_map")


def _relay_section(out_dir: Path) -> list:
    """The relay results of ``network.nc`` (when ``satqkd relay`` ran in this folder)."""
    nc = out_dir / "network.nc"
    if not nc.exists():
        return []
    from satqkd.network.outputs import share_text

    try:
        ds = xr.load_dataset(nc, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        return [_Alert(f"network.nc could not be read ({exc}); see network_report.md.")]
    rows = []
    for i, p in enumerate(ds["pair"].values):
        req, got = float(ds["requested_bits"].values[i]), float(ds["delivered_bits"].values[i])
        tot = int(ds["sessions_total"].values[i])
        lat = float(ds["latency_mean_s"].values[i])
        rows.append((str(p), f"{ds['station_a'].values[i]}-{ds['station_b'].values[i]}",
                     _int(req), _int(got), _int(ds["delivered_direct_bits"].values[i]),
                     share_text(got, req), _int(req - got) if req > got else "–",
                     f"{int(ds['sessions_met'].values[i])}/{tot}" if tot else "–",
                     _num(lat / 3600.0, "{:.2f} h") if math.isfinite(lat) else "–"))
    parts: list = [
        (f"Horizon {ds.attrs.get('horizon_start', '?')} to {ds.attrs.get('horizon_end', '?')}; "
         f"objective {ds.attrs.get('objective', '?')}; executed plan {ds.attrs.get('method', '?')}. "
         "Share met = key delivered to both endpoints / key requested over the horizon, rounded "
         "down (100 % only when every bit was delivered); sessions met = sessions whose whole "
         "key was held at both endpoints before the horizon ended, so sessions met n/n exactly "
         "when the share is 100 %. Details: network_report.md."),
        _Table(["pair", "stations", "requested (bit)", "delivered (bit)", "of which entangled",
                "share met", "short by (bit)", "sessions met", "mean latency"], rows,
               right=range(2, 9)),
    ]
    parts += [out_dir / "plots" / f"{n}.png" for n in NETWORK_PLOTS
              if (out_dir / "plots" / f"{n}.png").exists()]
    return parts


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:2em auto;max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;border-bottom:2px solid #ccc;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ddd;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#f2f4f7}
td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafbfc}
figure{margin:1em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
.note{font-size:.85em;color:#555}
table.passes{font-size:.8em}
tr.compromised td{color:#b00000;font-weight:600}
p.alert{color:#b00000;font-weight:600;border-left:4px solid #b00000;padding-left:.6em}
"""


def _render(title: str, sections: list[tuple[str, list]], out_dir: Path) -> tuple[str, str]:
    """Markdown and HTML of a list of (heading, [str | _Table | Path image]) sections."""
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, parts in sections:
        md += [f"## {heading}", ""]
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for part in parts:
            if isinstance(part, _Table):
                md += [part.markdown(), ""]
                body.append(part.html("passes" if heading == "Passes" else ""))
            elif isinstance(part, Path):
                rel = part.relative_to(out_dir).as_posix() if part.is_relative_to(out_dir) else str(part)
                caption = _CAPTIONS.get(part.stem, part.stem.replace("_", " "))
                md += [f"![{caption}]({rel})", ""]
                data = base64.b64encode(part.read_bytes()).decode("ascii")
                body.append(f'<figure><img alt="{html.escape(caption)}" '
                            f'src="data:image/png;base64,{data}"/>'
                            f"<figcaption>{html.escape(caption)}</figcaption></figure>")
            elif isinstance(part, _Alert):
                md += [f"> **Warning:** {part}", ""]
                body.append(f'<p class="alert">{html.escape(str(part))}</p>')
            else:
                md += [str(part), ""]
                body.append(f'<p class="note">{html.escape(str(part))}</p>')
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    return "\n".join(md).rstrip() + "\n", page


#: Plots shown in the executive summary (the rest go to "Plots").
EXECUTIVE_PLOTS = ("executive_pass", "entanglement_windows", "entanglement_window",
                   "key_vs_elevation", "pass_key")


def _headline(table: pd.DataFrame, tot: dict, protocol: str, windows: pd.DataFrame | None) -> str:
    if windows is not None:
        n = len(windows)
        ok = int(windows["bell_test_passed"].sum())
        s, sig = windows["chsh_s"].to_numpy(float), windows["chsh_sigma"].to_numpy(float)
        good = np.isfinite(s) & np.isfinite(sig) & (sig > 0)
        text = (f"{protocol.upper()} entanglement distribution: {n} dual-downlink "
                f"window{'s' if n != 1 else ''}; the Bell test passed in {ok} of {n}.")
        if good.any():
            w = 1.0 / sig[good] ** 2
            text += (f" CHSH S = {np.sum(w * s[good]) / w.sum():.3f} +- "
                     f"{np.sqrt(1.0 / w.sum()):.3f} (inverse-variance mean; local bound 2, "
                     "quantum bound 2.83).")
        rate = windows["coincidence_rate_hz"].to_numpy(float)
        if np.isfinite(rate).any():
            text += f" Coincidences {np.nanmean(rate):.3g} per second on average while both links operate."
        lo, hi = windows["summed_loss_min_db"].to_numpy(float), windows["summed_loss_max_db"].to_numpy(float)
        if np.isfinite(lo).any():
            text += f" Two-downlink loss {np.nanmin(lo):.1f}-{np.nanmax(hi):.1f} dB."
        if protocol == "bbm92":
            text += (f" BBM92 secret key {_int(tot['secret_bits'])} bit from "
                     f"{_int(tot['usable_passes'])} window(s).")
        else:
            text += " E91/CHSH certifies the source; it keeps no key by design."
        return text
    n = tot["passes"]
    text = (f"{_int(n)} pass{'es' if n != 1 else ''} above the elevation mask; "
            f"{_int(tot['usable_passes'])} gave key; secret key {_int(tot['secret_bits'])} bit "
            f"({protocol}).")
    if n and (table["secret_bits"] > 0).any():
        b = table.loc[table["secret_bits"].idxmax()]
        text += (f" Best pass: {b['station']} at {_when(b['aos_time'])} UTC, max elevation "
                 f"{_num(b['max_elevation_deg'])} deg, {_int(b['secret_bits'])} bit.")
    return text


def _abort_sentences(table: pd.DataFrame, night_deg: float) -> list[str]:
    reasons = table.loc[table["abort_reason"] != "", "abort_reason"].value_counts()
    out = [f"{_int(c)} pass{'es' if c != 1 else ''} - {abort_sentence(r, night_deg)}."
           for r, c in reasons.items()]
    no_key = int(((table["abort_reason"] == "") & (table["secret_bits"] <= 0)).sum())
    if no_key:
        out.append(f"{_int(no_key)} pass{'es' if no_key != 1 else ''} - not aborted, but the "
                   "finite-key length was zero.")
    return out


def _hardware_part(info: dict, entangled: bool) -> list:
    mf = info.get("mission_file")
    note = ("Hardware of the mission as validated. Basis of each value: the mission file's "
            "comment on it (values whose comment says ASSUMPTION are assumptions, other "
            "comments give the source); a value the file does not set is the model's default "
            "(marked as an assumption) or the station catalogue's.")
    if not mf or not Path(mf).exists():
        return [(f"Hardware table unavailable: the mission file ({mf or 'not recorded'}) is "
                 "not readable from here.")]
    try:
        rows = hardware_rows(mf, entangled)
    except Exception as exc:  # noqa: BLE001 - a report must not fail on the header
        return [f"Hardware table unavailable ({type(exc).__name__}: {exc})."]
    return [note, _Table(["element", "parameter", "value", "basis"], rows)]


def _windows_table(w: pd.DataFrame, protocol: str) -> _Table:
    rows = []
    for i, r in enumerate(w.itertuples(index=False)):
        row = [str(i), _when(r.aos_time), r.station, _num(r.max_elevation_deg),
               _num(r.duration_s, "{:.0f}"), f"{_num(r.chsh_s, '{:.3f}')} +- {_num(r.chsh_sigma, '{:.3f}')}",
               "pass" if r.bell_test_passed else "fail", _num(r.coincidence_rate_hz, "{:.3g}"),
               f"{_num(r.summed_loss_min_db)}-{_num(r.summed_loss_max_db)}"]
        if protocol == "bbm92":
            row += [_int(r.sifted_bits), _pct(r.qber, 2), _int(r.secret_bits)]
        rows.append(row)
    head = ["#", "AOS (UTC)", "stations", "max el. (deg)", "duration (s)", "CHSH S +- sigma",
            "Bell test", "coincidences (1/s)", "summed loss (dB)"]
    if protocol == "bbm92":
        head += ["sifted (bit)", "QBER", "secret (bit)"]
    return _Table(head, rows, right=[0, 3, 4, 5, 7, 8] + ([9, 10, 11] if protocol == "bbm92" else []))


def build_reports(out_dir: Path | str, plot_paths: Sequence[Path] = (),
                  opened: OpenedOutput | None = None) -> tuple[str, str]:
    """Markdown and HTML text of the report of a mission folder (images from ``plot_paths``;
    ``opened``: the folder's outputs, if already open)."""
    title, sections = _report_sections(Path(out_dir), plot_paths, opened)
    return _render(title, sections, Path(out_dir))


def _report_sections(out_dir: Path, plot_paths: Sequence[Path], opened: OpenedOutput | None
                     ) -> tuple[str, list[tuple[str, list]]]:
    """Title and sections of the report; the images are only named here (read by
    :func:`_render`), so they may still be being drawn."""
    with open_mission_output(opened if opened is not None else out_dir) as (ds, table, info):
        attrs = dict(ds.attrs) if ds is not None else {}
        summary = summarize(table, info)
        protocol = mission_protocol(table, info, attrs)
        entangled = protocol in ENTANGLED_PROTOCOLS
        windows = entanglement_windows_table(ds, table) if entangled and len(table) else None
    tot = mission_totals(table)
    name = info.get("mission") or attrs.get("mission") or out_dir.name
    plot_paths = [Path(p) for p in plot_paths]
    night = float(info.get("night_sun_elevation_deg", -12.0))
    summary_parts: list = [_headline(table, tot, protocol, windows) if len(table) else
                           "No pass above the elevation mask in the mission period."]
    aborts_words = _abort_sentences(table, night)
    if aborts_words:
        summary_parts.append("Passes without key: " + " ".join(aborts_words))
    summary_parts += [p for n in EXECUTIVE_PLOTS for p in plot_paths if p.stem == n]
    summary_parts += _hardware_part(info, entangled)
    sections: list[tuple[str, list]] = [
        ("Executive summary", summary_parts),
        ("Mission", [_header_table(table, info, attrs)]),
    ]
    if windows is not None:
        sections.append(("Entanglement windows", [
            ("One row per dual-downlink window (common visibility of both stations). S +- sigma "
             "is the CHSH value and its standard deviation; the Bell test passes when "
             "S - k sigma > 2 ([entanglement] bell_k_sigma, 3 by default); coincidences are "
             "counted while both links operate; summed loss is the two-downlink loss "
             "(summed_loss_db, detectors included), min-max over those seconds."),
            _windows_table(windows, protocol)]))
    if not entangled or protocol == "bbm92":
        sections.append(("Mission totals", ([] if len(table) else [
            "No pass above the elevation mask in the mission period."]) + [_totals_table(tot)]))
    verdicts = _security_verdicts(table)
    if verdicts:
        sections.append(("Compromised keys", verdicts))
    security = _security_table(info)
    if security:
        sections.append(("Security of the keys", security))
    aborts = _abort_table(table)
    if aborts is not None:
        sections.append(("Passes without key, by reason", [aborts]))
    sections.append(("Per station", [_station_table(summary)]))
    sections.append(("Per station and month", [
        ("Passes are counted in the UTC month of their AOS; clear sky is the cloud-free share "
         "of the time above the elevation mask; availability = usable passes / passes."),
        _monthly_table(summary)]))
    rest = [p for p in plot_paths if p.stem not in EXECUTIVE_PLOTS]
    if rest:
        sections.append(("Plots", rest))
    relay = _relay_section(out_dir)
    if relay:
        sections.append(("Key relay network", relay))
    sections.append(("Passes", [
        ("Loss: total channel loss in dB (detectors included) over the pass's seconds; QBER: "
         "Z basis (key) error rate measured by the keys stage; clear sky: share of the pass "
         "with a cloud-free line of sight."), _pass_rows_table(table)]))
    return f"satqkd mission report: {name}", sections


def existing_mission_plots(out_dir: Path | str) -> list[Path]:
    """The mission plots already drawn into ``out_dir/plots`` (report order)."""
    plots = Path(out_dir) / "plots"
    return [plots / f"{n}.png" for n in MISSION_PLOTS if (plots / f"{n}.png").exists()]


def write_reports(out_dir: Path | str, plots: bool | str = True,
                  opened: OpenedOutput | None = None) -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` into a mission folder.

    With ``plots=True`` the mission plots are (re)drawn into ``out_dir/plots`` first
    (:func:`satqkd.report.plots.plot_mission`) and embedded (HTML: base64 PNG data URIs;
    Markdown: relative links); ``plots="existing"`` embeds the plots already there. When
    ``network.nc`` is in the folder (``satqkd relay``) the relay results and plots are a
    section of the report. Files are written atomically. ``opened``: the folder's
    outputs, if the caller has them open (else ``passes.nc`` is opened once here).
    """
    out_dir = Path(out_dir)
    if opened is None:
        with open_mission_output(out_dir) as o:
            return write_reports(out_dir, plots, OpenedOutput(*o))
    if plots and plots != "existing":
        from satqkd.report.plots import mission_plot_jobs
        from satqkd.report.render import Drawing

        jobs = mission_plot_jobs(opened, out_dir / "plots")
        with Drawing(jobs) as drawing:  # drawn by forked processes while the text is built
            title, sections = _report_sections(out_dir, [job.output for job in jobs], opened)
            drawing.results()
        md, page = _render(title, sections, out_dir)
    else:  # "existing": embed what is drawn already (e.g. after `satqkd relay`)
        paths = existing_mission_plots(out_dir) if plots == "existing" else []
        md, page = build_reports(out_dir, paths, opened)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text_atomic(md_path, md)
    write_text_atomic(html_path, page)
    return md_path, html_path


__all__ = ["OpenedOutput", "build_reports", "is_usable", "mission_summary", "mission_totals",
           "open_mission_output", "pass_table", "read_run_info", "summarize", "write_reports"]


@dataclass
class MissionOutput:
    """A ``satqkd run`` output folder, opened (see :func:`satqkd.open_mission`)."""

    folder: Path
    passes: xr.Dataset  # passes.nc (ragged: dims pass, sample)
    summary: xr.Dataset  # per station and month
    table: pd.DataFrame  # passes.csv
    run: dict  # run.json

    def pass_dataset(self, i: int) -> xr.Dataset:
        """Pass ``i`` with dimension ``time`` (pass scalars as attributes)."""
        from satqkd.ragged import pass_from_ragged

        return pass_from_ragged(self.passes, i)


def open_mission(folder: Path | str) -> MissionOutput:
    """Open the datasets of a mission output folder (lazily for ``passes.nc``)."""
    folder = Path(folder)
    if not (folder / "passes.csv").exists():
        raise InputError(f"{folder}: not a satqkd output folder (no passes.csv)")
    passes = xr.open_dataset(folder / "passes.nc", engine="h5netcdf")
    return MissionOutput(folder, passes, mission_summary(folder),
                         pd.read_csv(folder / "passes.csv", keep_default_na=False),
                         read_run_info(folder))
