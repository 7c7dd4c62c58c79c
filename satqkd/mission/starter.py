"""``satqkd init NAME``: a starter mission file with every section explained.

The text lives here (not in a data file) so it installs with the code; a test checks
that it validates and runs as written.
"""

from __future__ import annotations

import re
from pathlib import Path

from satqkd.errors import InputError

STARTER = '''\
# {name}: a satqkd mission file (TOML), written by `satqkd init {name}`.
#
# Run it:      satqkd run {name}.toml          (outputs in outputs/{name}/)
# Its passes:  satqkd passes {name}.toml
# One value:   satqkd run {name}.toml --set mission.seed=3 --set stations.0.aperture_m=1.2
#
# Every section below is explained; keys shown commented out (# key = value) are
# optional and show their default. Ranges are checked when the file is read: a bad
# value is reported as one line naming the field and the allowed range.
# Reference: README.md (the mission file) and docs/.

[mission]
name = "{name}"                      # letters, digits, . _ - (names the output folder)
start = 2025-01-31T12:00:00Z         # UTC; the simulated period is [start, end)
end = 2025-02-01T00:00:00Z
# step_s = 1.0                       # seconds between samples of a pass (0 < step_s <= 60)
seed = 1                             # the random streams of every pass derive from it
# min_elevation_deg = 10.0           # elevation mask of the passes (0..90 deg)
# protocol = "decoy-bb84"            # or "bbm92", "e91" (entangled pairs: see [entanglement])
# night_sun_elevation_deg = -12.0    # "night" is the Sun below this elevation

# One [[satellites]] table per satellite: elements from a TLE/OMM file
# (tle = "tle/micius.tle", norad_id = 41731) or an [satellites.orbit] table.
[[satellites]]
name = "QSAT"
[satellites.orbit]                   # a hypothetical circular orbit
altitude_km = 500.0
# inclination_deg = "sun-synchronous" # or degrees (0..180)
ltan_h = 22.5                        # local time of the ascending node (h); or raan_deg
epoch = 2025-01-01T00:00:00Z
# phase_deg = 0.0
# bstar = 0.0                        # drag term
# walker = "6/3/1"                   # expand into a Walker-delta constellation t/p/f
[satellites.transmitter]             # defaults: the Micius downlink (Liao et al. 2017)
# wavelength_nm = 848.62
# aperture_m = 0.30
# divergence_urad = 10.0             # full-angle far-field divergence
# pointing_jitter_urad = 1.2
# pointing_bias_urad = 0.0
# optics_efficiency = 1.0
# implementation_loss_db = 0.0
[satellites.source]                  # decoy-state BB84 source
rate_hz = 1.0e8                      # pulses per second
# intensities = [0.8, 0.1, 0.0]      # mean photon numbers: signal, decoy, vacuum
# probabilities = [0.5, 0.25, 0.25]  # one per intensity, summing to 1
# p_z = 0.5                          # probability of the Z (key) basis
# [satellites.pair_source]           # protocols bbm92/e91: the Micius SPDC source
# pair_rate_hz = 5.9e6
# visibility = 0.91

# One [[stations]] table per ground station: a name from the catalogue
# (`satqkd stations`) is enough; explicit keys win over the catalogue's.
[[stations]]
name = "Xinglong"
lat_deg = 40.3958
lon_deg = 117.5775
alt_m = 960.0
aperture_m = 1.0                     # receiving telescope diameter (m)
[stations.detector]                  # four detectors (Z0, Z1, X0, X1)
# efficiency = 0.5                   # one value or four
# dark_count_rate = 25.0             # counts/s per detector
# detection_window_ns = 2.0
# dead_time_ns = 0.0
[stations.receiver]
# optics_efficiency = 0.5
# fov_urad = 100.0
# filter_bandwidth_nm = 1.0
# misalignment = 0.01                # polarisation reference error (QBER floor)
[stations.atmosphere]                # clear-sky extinction (default: tabulated model)
# visibility_km = 23.0               # or aerosol_preset = "rural" / zenith_transmittance
[stations.turbulence]                # Hufnagel-Valley profile
# enabled = true
# ground_cn2 = 1.7e-14
# rms_wind_m_s = 21.0
[stations.clouds]
model = "clear"                      # "climatology" (Markov, by station), "clear", "csv", "era5"
# clear_probability = 0.5            # or monthly_clear_probability = [12 values]
# persistence_s = 25200.0
[stations.sky]
# light_pollution_factor = 1.0

[channel]
# operate_in_daylight = false        # nobody runs QKD in daylight by default
# fading_slot_ms = 10.0              # sub-second scintillation fading (off when absent)

[eavesdropper]
# kind = "none"                      # "intercept-resend", "pns", "efficiency-mismatch", "blinding"
# fraction = 1.0

[keys]                               # finite-key security and post-processing
# eps_sec = 1e-9
# eps_cor = 1e-15
# qber_threshold = 0.11
# write_keys = false                 # true: both sides' final keys under keys/

[entanglement]                       # only for protocol = "bbm92" or "e91"
# mode = "dual-downlink"
# pairs = [["Delingha", "Lijiang"]]

[relay]                              # only for `satqkd relay`
# objective = "weighted"
# [[relay.demands]]
# a = "Xinglong"
# b = "Graz"
# bits_per_day = 1e5

[report]
# pass_plots = 50                    # link-budget plots of the first N passes
# mission_report = true              # report.md, report.html and the mission plots
'''

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def write_starter(name: str, folder: Path | str = ".", force: bool = False) -> Path:
    """Write ``NAME.toml`` (a starter mission) into ``folder``; never overwrite unless forced."""
    stem = name[:-5] if name.endswith(".toml") else name
    if not _NAME.match(Path(stem).name) or len(Path(stem).name) > 120:
        raise InputError(f"init {name!r}: the name must be letters, digits, '.', '_' or '-' "
                         "(starting with a letter or digit), at most 120 characters")
    path = Path(folder) / f"{stem}.toml"
    if path.exists() and not force:
        raise InputError(f"{path}: already exists (give another name, or --force to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER.format(name=Path(stem).name))
    return path


__all__ = ["STARTER", "write_starter"]
