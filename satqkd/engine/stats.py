"""Small statistical helpers used to validate the engine against theory and the reference.

Pearson's chi-square goodness of fit and homogeneity tests (with merging of sparse cells,
the usual expected >= 5 rule) and binomial z-scores.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

__all__ = ["chi2_goodness_of_fit", "chi2_homogeneity", "binomial_z"]


def _merge_sparse(expected: np.ndarray, *observed: np.ndarray, min_expected: float = 5.0):
    """Merge cells, smallest expected first, into one pooled cell until all pass."""
    order = np.argsort(expected)
    e = expected[order]
    obs = [o[order] for o in observed]
    cut = 0
    pooled = 0.0
    while cut < e.size and e[cut] < min_expected:
        pooled += e[cut]
        cut += 1
    while 0 < cut < e.size and pooled < min_expected:
        pooled += e[cut]
        cut += 1
    if cut == 0:
        return e, obs
    e2 = np.concatenate([[e[:cut].sum()], e[cut:]])
    obs2 = [np.concatenate([[o[:cut].sum()], o[cut:]]) for o in obs]
    return e2, obs2


def chi2_goodness_of_fit(observed, probabilities, min_expected: float = 5.0):
    """Pearson chi-square of counts against cell probabilities (normalised here).

    Returns (statistic, degrees of freedom, p-value). Cells with expected < min_expected
    are pooled; cells with zero probability must have zero counts (else p = 0).
    """
    obs = np.asarray(observed, dtype=float).ravel()
    p = np.asarray(probabilities, dtype=float).ravel()
    if np.any((p == 0) & (obs > 0)):
        return np.inf, 0, 0.0
    keep = p > 0
    obs, p = obs[keep], p[keep]
    n = obs.sum()
    exp = n * p / p.sum()
    exp, (obs,) = _merge_sparse(exp, obs, min_expected=min_expected)
    stat = float(np.sum((obs - exp) ** 2 / exp))
    dof = exp.size - 1
    if dof == 0:  # a single (pooled) cell cannot disagree
        return stat, 0, 1.0
    return stat, dof, float(chi2.sf(stat, dof))


def chi2_homogeneity(a, b, min_expected: float = 5.0):
    """Pearson chi-square test that two count vectors come from the same distribution.

    Returns (statistic, degrees of freedom, p-value).
    """
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    na, nb = a.sum(), b.sum()
    tot = a + b
    ea = tot * na / (na + nb)
    eb = tot * nb / (na + nb)
    # pool cells by the smaller of the two expectations
    emin = np.minimum(ea, eb)
    _, (a, b, ea, eb) = _merge_sparse(emin, a, b, ea, eb, min_expected=min_expected)
    stat = float(np.sum((a - ea) ** 2 / ea) + np.sum((b - eb) ** 2 / eb))
    dof = a.size - 1
    if dof == 0:
        return stat, 0, 1.0
    return stat, dof, float(chi2.sf(stat, dof))


def binomial_z(k, n, p):
    """z-score of k successes in n trials against probability p."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    p = np.asarray(p, dtype=float)
    return (k - n * p) / np.sqrt(n * p * (1.0 - p))
