program lowtran_driver
  ! Runs one LOWTRAN7 card deck (TAPE5 in the working directory) and writes, per spectral
  ! point, wavenumber (cm-1), wavelength (um), total transmittance, path radiance
  ! (W cm-2 sr-1 um-1 x ... as SUMVV) and the single-scattered solar/lunar term.
  implicit none
  integer, parameter :: nwl = 4000
  real :: tx(nwl, 63), v(nwl), alam(nwl), trace(nwl), unif(nwl), suma(nwl), irr(nwl, 3), sumvv(nwl)
  real :: zmdl(1), p(1), t(1), wmol(12)
  integer :: i
  v = -1.0
  zmdl = 0.; p = 0.; t = 0.; wmol = 0.
  call lwtrn7(.false., nwl, 0., 0., 0., tx, v, alam, trace, unif, suma, irr, sumvv, &
              0, 0, 0, 0, 0, 1, 0, zmdl, p, t, wmol, 0., 0., 0., 0.)
  do i = 1, nwl
    if (v(i) < 0.0) exit
    write(*, '(F9.1, 1X, ES13.6, 1X, ES13.6, 1X, ES13.6, 1X, ES13.6)') v(i), alam(i), tx(i, 1), sumvv(i), irr(i, 3)
  end do
end program lowtran_driver
