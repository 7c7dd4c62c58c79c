"""Tables of docs/link_budget.md: SatQuMA-default inputs, LOWTRAN vs the old atmosphere, sky models.

Usage: PYTHONPATH=. python tools/link_budget_tables.py
"""

from __future__ import annotations

import numpy as np

from satqkd.channel import atmosphere as atm
from satqkd.channel import background as bkg
from satqkd.channel import beam, lowtran
from satqkd.channel.params import Atmosphere
from satqkd.orbit.refraction import apparent_elevation_deg

R_E = 6371.0


def slant_range_km(elevation_deg: np.ndarray, altitude_km: float = 500.0) -> np.ndarray:
    e = np.radians(elevation_deg)
    return np.sqrt((R_E + altitude_km) ** 2 - (R_E * np.cos(e)) ** 2) - R_E * np.sin(e)


def satquma() -> None:
    print("SatQuMA default inputs: 0.30 m / 1.2 m apertures, w0 = 0.15 m, 810 nm, 15 dB intrinsic, 500 km zenith pass,"
          " sea level, LOWTRAN7 mid-latitude summer rural 23 km")
    print("| elevation (deg) | range (km) | geometric old (clip) | geometric new (truncated) | atmosphere old "
          "(MODTRAN table) | atmosphere new (LOWTRAN7) | total old | total new |")
    for el in (90.0, 60.0, 40.0, 30.0, 20.0, 15.0, 10.0):
        L = float(slant_range_km(np.array([el]))[0])
        app = float(apparent_elevation_deg(el, 0.0))
        old_geo = -10 * np.log10(beam.aperture_transmission(0.30, 0.15)
                                 * beam.annular_collection(beam.beam_radius_m(L * 1e3, 810.0, 0.15), 1.2))
        new_geo = -10 * np.log10(beam.truncated_gaussian_collection(np.array([L * 1e3]), 810.0, 0.15, 0.30, 1.2)
                                 ["collected"][0])
        old_atm = -10 * np.log10(atm.zenith_transmittance(810.0, 0.0, Atmosphere()) ** atm.kasten_young_airmass(90 - el))
        new_atm = -10 * np.log10(lowtran.slant_transmittance(810.0, 0.0, 90.0 - app, "mid_latitude_summer"))
        print(f"| {el:.0f} | {L:.0f} | {old_geo:.2f} | {new_geo:.2f} | {old_atm:.2f} | {float(new_atm):.2f} | "
              f"{old_geo + old_atm + 15:.2f} | {new_geo + float(new_atm) + 15:.2f} |")


def atmospheres() -> None:
    print("\nXinglong (960 m), 848.62 nm: old (MODTRAN table, altitude scaled) against LOWTRAN7 (dB)")
    print("| elevation | old | LOWTRAN7 MLW rural 23 km | MLS rural 23 km | MLW urban 5 km |")
    for el in (90.0, 48.9, 30.0, 19.8, 10.0, 5.0):
        z = 90.0 - el
        old = -10 * np.log10(atm.zenith_transmittance(848.62, 960.0, Atmosphere()) ** atm.kasten_young_airmass(z))
        a = [-10 * np.log10(float(lowtran.slant_transmittance(848.62, 960.0, z, m, ae, v)))
             for m, ae, v in (("mid_latitude_winter", "rural", 23.0), ("mid_latitude_summer", "rural", 23.0),
                              ("mid_latitude_winter", "urban", 5.0))]
        print(f"| {el:.1f} | {old:.2f} | {a[0]:.2f} | {a[1]:.2f} | {a[2]:.2f} |")


def sky() -> None:
    t = lowtran.tables()
    rows = t["sky_radiance_ssc"]
    print("\nSingle-scattered solar sky radiance, sea level, MLS rural 23 km (W m-2 sr-1 nm-1): LOWTRAN7 vs satqkd")
    print("| lambda | Sun zenith | view zenith | rel. azimuth | LOWTRAN7 | satqkd | ratio |")
    ratios = []
    for sun_z, view_z, az, lam, lt in rows:
        mol, aer = lowtran.optical_depths(lam, 0.0, 0.0, "mid_latitude_summer", "rural", 23.0)
        tau_r = float(atm.rayleigh_optical_depth(lam, 0.0))
        tau_a = max(float(mol + aer) - tau_r, 0.0)
        # scattering angle between the view and Sun directions
        cz = np.cos(np.radians(sun_z)) * np.cos(np.radians(view_z)) + np.sin(np.radians(sun_z)) * np.sin(
            np.radians(view_z)) * np.cos(np.radians(az))
        sep = np.degrees(np.arccos(np.clip(cz, -1, 1)))
        ours = float(bkg.single_scattering_radiance(bkg.solar_spectral_irradiance(lam), 90.0 - view_z, 90.0 - sun_z,
                                                    sep, tau_r, tau_a))
        ratios.append((lam, ours / lt))
        if az in (0.0, 180.0) and view_z in (0.0, 45.0):
            print(f"| {lam:.0f} | {sun_z:.0f} | {view_z:.0f} | {az:.0f} | {lt:.3g} | {ours:.3g} | {ours / lt:.2f} |")
    r = np.array(ratios)
    for lam in (550.0, 850.0, 1550.0):
        sel = r[r[:, 0] == lam, 1]
        print(f"{lam:.0f} nm: satqkd / LOWTRAN7 median {np.median(sel):.2f}, range {sel.min():.2f}-{sel.max():.2f}")


if __name__ == "__main__":
    satquma()
    atmospheres()
    sky()
