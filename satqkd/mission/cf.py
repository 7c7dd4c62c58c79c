"""CF-1.8 metadata of the mission datasets (``passes.nc``, ``summary.nc``).

One place decides how a variable is described on disk: its ``units`` (UDUNITS
spelling), ``long_name``, ``standard_name`` where the CF table has one, and
``flag_values``/``flag_meanings`` for categorical data. The simulation stages keep
their own, shorter attributes in memory (``"deg"``, ``"dB"``); they are translated here
when a file is written, so the stages stay free of file-format concerns.

Choices (CF 1.8 has no 64-bit integer, no decibel in UDUNITS, no string coordinate):

* integers are stored as 32-bit ``int`` when every value fits, else as ``double``
  (exact to 2**53) - counts per second and per pass always fit;
* a loss in decibels has ``units = "1"`` and says "in dB" in its ``long_name``
  (CF admits ``dB`` only for standard names whose canonical unit it is);
* booleans are ``byte`` flags (``flag_values = 0, 1`` with named meanings);
* times (``time``, ``aos``, ``tca``, ``los``, ``tle_epoch``) are seconds since
  1970-01-01 UTC (``double``), decoded by xarray to ``datetime64``.
"""

from __future__ import annotations

import numpy as np

CONVENTIONS = "CF-1.8"
TIME_UNITS = "seconds since 1970-01-01 00:00:00"
TIME_ATTRS = {"units": TIME_UNITS, "calendar": "standard"}

#: Unit spellings of the stages -> UDUNITS.
_UNITS = {"deg": "degree", "dB": "1", "bits": "bit"}

#: Per-pass variables: name -> (units or None for text, long_name, extra attributes).
PASS_VARIABLES: dict[str, tuple[str | None, str, dict]] = {
    "pass_id": (None, "pass identifier (NORAD id, station, AOS)", {"cf_role": "trajectory_id"}),
    "satellite": (None, "satellite name", {}),
    "norad_id": ("1", "NORAD catalogue number", {}),
    "station": (None, "ground station name (A+B for a dual downlink)", {}),
    "station_a": (None, "ground station A of the dual downlink", {}),
    "station_b": (None, "ground station B of the dual downlink", {}),
    "protocol": (None, "QKD protocol", {}),
    "aos": (TIME_UNITS, "acquisition of signal (UTC)", {"calendar": "standard"}),
    "tca": (TIME_UNITS, "time of closest approach (UTC)", {"calendar": "standard"}),
    "los": (TIME_UNITS, "loss of signal (UTC)", {"calendar": "standard"}),
    "tle_epoch": (TIME_UNITS, "epoch of the element set used (UTC)", {"calendar": "standard"}),
    "tle_source": (None, "file and line of the element set used", {}),
    "max_elevation_deg": ("degree", "maximum elevation of the pass", {}),
    "duration_s": ("s", "time from AOS to LOS", {}),
    "station_lat_deg": ("degrees_north", "station latitude (WGS84)", {}),
    "station_lon_deg": ("degrees_east", "station longitude (WGS84)", {}),
    "station_alt_m": ("m", "station height above sea level", {}),
    "link_direction": (None, "link direction (downlink or uplink)", {}),
    "wavelength_nm": ("nm", "optical wavelength", {}),
    "transmit_aperture_m": ("m", "transmit telescope aperture diameter", {}),
    "beam_waist_m": ("m", "1/e2 radius of the transmitted beam waist", {}),
    "beam_divergence_urad": ("urad", "far-field full-angle beam divergence", {}),
    "transmit_truncation": ("1", "power fraction passing the transmit aperture", {}),
    "pointing_jitter_urad": ("urad", "RMS pointing jitter per axis", {}),
    "pointing_bias_urad": ("urad", "static pointing bias", {}),
    "implementation_loss_db": ("1", "implementation loss in dB", {}),
    "receive_aperture_m": ("m", "receive telescope aperture diameter", {}),
    "receive_obscuration_m": ("m", "receive telescope central obscuration diameter", {}),
    "receiver_optics_efficiency": ("1", "receiver optics transmittance", {}),
    "detector_efficiency": ("1", "mean single-photon detector efficiency", {}),
    "detection_window_ns": ("ns", "detection time window per pulse", {}),
    "dark_count_rate_hz": ("Hz", "dark count rate per detector", {}),
    "n_detectors": ("1", "number of detectors", {}),
    "fov_urad": ("urad", "receiver field of view (full angle)", {}),
    "filter_bandwidth_nm": ("nm", "receiver spectral filter bandwidth", {}),
    "zenith_transmittance": ("1", "clear-sky atmospheric transmittance at zenith", {}),
    "atmosphere_model": (None, "atmospheric extinction model", {}),
    "turbulence_model": (None, "turbulence model", {}),
    "cloud_model": (None, "cloud model", {}),
    "background_model": (None, "sky background model", {}),
    "operate_in_daylight": (None, "link operated in daylight",
                            {"flag_values": np.array([0, 1], np.int8),
                             "flag_meanings": "night_only day_and_night"}),
    "operate_when_sunlit": (None, "link operated while the satellite is sunlit",
                            {"flag_values": np.array([0, 1], np.int8),
                             "flag_meanings": "earth_shadow_only sunlit_and_shadow"}),
    "fading_slot_s": ("s", "fading slot length (0: no sub-second fading)", {}),
    "min_loss_db": ("1", "minimum physical link loss over the pass in dB", {}),
    "max_loss_db": ("1", "maximum physical link loss over the pass in dB", {}),
    "clear_fraction": ("1", "cloud-free fraction of the pass", {}),
    "detections": ("1", "detections over the pass", {}),
    "sifted_bits": ("bit", "sifted key bits (Z basis)", {}),
    "test_bits": ("bit", "sifted test bits (X basis)", {}),
    "qber": ("1", "quantum bit error rate (Z basis, else X basis)", {}),
    "qber_z": ("1", "observed quantum bit error rate, Z basis", {}),
    "qber_x": ("1", "observed quantum bit error rate, X basis", {}),
    "qber_z_true": ("1", "true Z-basis error rate of the sifted key (simulator diagnostic)", {}),
    "mu": ("1", "mean photon pairs per pulse", {}),
    "secret_bits": ("bit", "secret key bits after finite-key privacy amplification", {}),
    "leaked_bits": ("bit", "bits disclosed by error correction and verification", {}),
    "ec_leaked_bits": ("bit", "bits Alice disclosed in error correction (lambda_A)", {}),
    "ec_reply_bits": ("bit", "bits Bob disclosed in error correction (lambda_B)", {}),
    "vacuum_credited": (None, "the key bound credits the vacuum events s_Z0",
                        {"flag_values": np.array([0, 1], np.int8),
                         "flag_meanings": "no_vacuum_credit vacuum_credited"}),
    "block_id": ("1", "finite-key block of the pass (-1: no QKD ran)", {}),
    "block_passes": ("1", "passes pooled in the block this pass closes", {}),
    "block_sifted_bits": ("bit", "sifted key bits of the block this pass closes", {}),
    "block_leaked_bits": ("bit", "bits disclosed over the block this pass closes", {}),
    "block_qber_x": ("1", "X-basis error rate of the block this pass closes", {}),
    "eps_sec": ("1", "secrecy failure probability charged to the pass "
                     "(a pooled block's on its closing pass)", {}),
    "eps_cor": ("1", "correctness failure probability charged to the pass", {}),
    "eve_known_bits": ("bit", "linear functions of the final key the simulated eavesdropper "
                              "knows with certainty (a pooled block's on its closing pass)", {}),
    "eve_information_bits": ("bit", "lower bound on the simulated eavesdropper's information "
                                    "on the final key", {}),
    "eve_key_agreement": ("1", "bit agreement of the eavesdropper's best guess with the final key",
                          {}),
    "eve_knowledge_method": (None, "how eve_known_bits was obtained (none, exact, seed-bound, "
                                   "count-bound; pooled: the block's key is on its closing "
                                   "pass)", {}),
    "security": (None, "simulator's verdict on the claimed key: secure, aborted or compromised",
                 {}),
    "reconciliation_disclosed": (None, "reconciliation failed: the pass's raw key was disclosed",
                                 {"flag_values": np.array([0, 1], np.int8),
                                  "flag_meanings": "reconciled disclosed"}),
    "reconciliation_verified": (None, "the pass's verification tag matched",
                                {"flag_values": np.array([0, 1], np.int8),
                                 "flag_meanings": "not_verified verified"}),
    "verification_tag_bits": ("bit", "error-verification hash length", {}),
    "ec_efficiency": ("1", "error-correction efficiency (leak / n h(Q))", {}),
    "abort_reason": (None, "reason the pass gave no key (empty: key)", {}),
    "asymptotic_secret_bits": ("bit", "secret key length in the asymptotic limit", {}),
    "s_z0": ("1", "lower bound of vacuum events in the Z basis", {}),
    "s_z1": ("1", "lower bound of single-photon events in the Z basis", {}),
    "s_x1": ("1", "lower bound of single-photon events in the X basis", {}),
    "v_x1": ("1", "upper bound of single-photon errors in the X basis", {}),
    "phi_z": ("1", "upper bound of the single-photon phase error rate, Z basis", {}),
    "chsh_s": ("1", "CHSH Bell parameter S", {}),
    "chsh_sigma": ("1", "standard deviation of S", {}),
    "bell_test_passed": (None, "Bell test passed (S - k sigma > 2)",
                         {"flag_values": np.array([0, 1], np.int8),
                          "flag_meanings": "failed passed"}),
    "coincidence_rate_hz": ("Hz", "coincidence rate while operating", {}),
    "row_size": ("1", "number of per-second samples of each pass", {"sample_dimension": "sample"}),
}

#: Per-pass counts by intensity index k (``n_z_0``...): prefix -> long name.
_INDEXED = {"n_z": "Z-basis detections at intensity index {k}",
            "n_x": "X-basis detections at intensity index {k}",
            "m_x": "X-basis errors at intensity index {k}"}

#: Per-sample variables: name -> extra attributes (on top of the stage's own).
SAMPLE_EXTRA: dict[str, dict] = {
    "time": {"standard_name": "time", "axis": "T", "long_name": "time (UTC)"},
    "lat": {"standard_name": "latitude", "axis": "Y"},
    "lon": {"standard_name": "longitude", "axis": "X"},
    "altitude": {"standard_name": "height_above_reference_ellipsoid", "axis": "Z",
                 "positive": "up"},
    "azimuth": {"standard_name": "platform_azimuth_angle"},
    "sun_elevation": {"standard_name": "solar_elevation_angle"},
}

#: Boolean sample variables: meanings of 0 and 1.
FLAG_MEANINGS = {"sunlit": "in_earth_shadow sunlit", "night": "day night",
                 "cloud_clear": "cloudy clear", "operating": "off operating"}

#: Categorical dimensions of the per-sample data: name -> (values, attributes).
CATEGORIES: dict[str, tuple[np.ndarray, dict]] = {
    "alice_basis": (np.array([0, 1], np.int8), {
        "long_name": "basis Alice prepared", "flag_values": np.array([0, 1], np.int8),
        "flag_meanings": "Z X"}),
    "bob_basis": (np.array([0, 1], np.int8), {
        "long_name": "basis Bob measured", "flag_values": np.array([0, 1], np.int8),
        "flag_meanings": "Z X"}),
    "error": (np.array([0, 1], np.int8), {
        "long_name": "bit error (Bob's bit differs from Alice's)",
        "flag_values": np.array([0, 1], np.int8), "flag_meanings": "correct error"}),
    "kind": (np.array([0, 1, 2], np.int8), {
        "long_name": "origin of the coincidence", "flag_values": np.array([0, 1, 2], np.int8),
        "flag_meanings": "true_pair multi_pair noise"}),
}

_SUFFIX_UNITS = {"_deg": "degree", "_m": "m", "_km": "km", "_s": "s", "_hz": "Hz",
                 "_nm": "nm", "_ns": "ns", "_urad": "urad", "_db": "1", "_bits": "bit"}


def cf_units(units: str) -> str:
    """A stage's unit spelling in UDUNITS (``deg`` -> ``degree``, ``dB`` -> ``1``)."""
    return _UNITS.get(units, units)


def pass_variable_attrs(name: str, text: bool = False) -> dict:
    """CF attributes of a per-pass variable (unknown names: from their suffix)."""
    if name in PASS_VARIABLES:
        units, long_name, extra = PASS_VARIABLES[name]
    elif name.rsplit("_", 1)[0] in _INDEXED and name.rsplit("_", 1)[1].isdigit():
        prefix, k = name.rsplit("_", 1)
        units, long_name, extra = "1", _INDEXED[prefix].format(k=k), {}
    else:
        # A scalar a stage added without registering it here: still described.
        units = next((u for s, u in _SUFFIX_UNITS.items() if name.endswith(s)), "1")
        long_name, extra = name.replace("_", " "), {}
        if name.endswith("_db"):
            long_name += " (dB)"
    attrs = {"long_name": long_name, **extra}
    if units is not None and not text:
        attrs["units"] = units
    return attrs


def sample_variable_attrs(name: str, attrs: dict, coordinates: str) -> dict:
    """CF attributes of a per-sample variable from the stage's own attributes."""
    # "dtype": "bool" stays: it is how xarray knows to decode the byte flag as bool.
    out = {k: v for k, v in attrs.items() if k != "_FillValue"}
    if "units" in out:
        if out["units"] == "dB":
            out["long_name"] = f"{out.get('long_name', name)} in dB"
        out["units"] = cf_units(str(out["units"]))
    out.update(SAMPLE_EXTRA.get(name, {}))
    out.setdefault("long_name", name.replace("_", " "))
    if attrs.get("dtype") == "bool":
        out.pop("units", None)  # a flag has meanings, not units
        out["flag_values"] = np.array([0, 1], np.int8)
        out["flag_meanings"] = FLAG_MEANINGS.get(name, "false true")
    if name not in ("time", "lat", "lon", "altitude") and coordinates:
        out["coordinates"] = coordinates
    return out


def integer_dtype(values: np.ndarray) -> np.dtype:
    """The stored type of integers: int32 when every value fits, else double."""
    if values.size == 0:
        return np.dtype(np.int32)
    info = np.iinfo(np.int32)
    ok = int(values.min()) >= info.min and int(values.max()) <= info.max
    return np.dtype(np.int32 if ok else np.float64)


def intensity_coordinate(intensities: list[list[float]] | None, n: int) -> tuple[np.ndarray, dict]:
    """The ``intensity`` coordinate: the mean photon numbers when every satellite shares them.

    Satellites with different intensities share only the index; the values are then
    named in the attribute ``comment``.
    """
    distinct = {tuple(float(x) for x in i) for i in (intensities or []) if len(i) == n}
    if len(distinct) == 1:
        return np.array(next(iter(distinct))), {
            "units": "1", "long_name": "mean photon number per pulse (signal, decoys)"}
    attrs = {"units": "1", "long_name": "intensity index (signal first, then decoys)"}
    if distinct:
        attrs["comment"] = "mean photon numbers by satellite: " + "; ".join(
            ", ".join(f"{x:g}" for x in d) for d in sorted(distinct))
    return np.arange(n, dtype=np.int32), attrs


def global_attrs(title: str, history: str, **extra) -> dict:
    """Global attributes every satqkd dataset carries."""
    return {"Conventions": CONVENTIONS, "title": title, "history": history,
            "institution": "satqkd simulation", **extra}


def encode_summary(ds, history: str = ""):  # noqa: ANN001, ANN201 - xarray in and out
    """``summary.nc`` as CF-1.8: integer types that fit, global attributes, labels."""
    out = ds.copy()
    for name, var in out.data_vars.items():
        if var.dtype.kind in "iu":
            out[name] = var.astype(integer_dtype(var.values))
    out["station"].attrs.setdefault("long_name", "ground station name")
    mission = out.attrs.get("mission", "")
    out.attrs.update(global_attrs(f"satqkd mission {mission}: summary per station and month",
                                  history or "satqkd mission summary", **out.attrs))
    return out


__all__ = ["CONVENTIONS", "TIME_UNITS", "PASS_VARIABLES", "cf_units", "pass_variable_attrs",
           "sample_variable_attrs", "integer_dtype", "intensity_coordinate", "global_attrs",
           "encode_summary"]
