"""Design the BSC degree distributions of satqkd's LDPC mother codes (run offline).

Gaussian approximation of density evolution (Chung, Richardson, Urbanke, IEEE Trans. IT 47,
657 (2001)) adapted to the BSC: the channel LLR keeps its exact two-point law
(+-a, a = ln((1-p)/p)), only check-to-variable messages are taken Gaussian N(m, 2m).
Check node: E[tanh(u/2)] = prod_j E[tanh(v_j/2)] holds exactly; GA then sets
m_u = psi^-1(E[tanh(u/2)]) with psi(m) = E[tanh(N(m, 2m)/2)].

For a check distribution concentrated on dc, dc+1 (as progressive edge growth yields),
decoding converges iff for every m in (0, M]:   sum_i lambda_i g_i(m) >= t*(m),
g_i(m) = E[tanh((L + N((i-1)m, 2(i-1)m))/2)],  t*(m) the least t whose check update
reaches m.  This is linear in the edge-perspective lambda, so a linear programme maximises
int lambda = sum lambda_i / i (the design rate) at crossover p, with the stability condition
lambda_2 rho'(1) 2 sqrt(p(1-p)) < 1 (Richardson, Shokrollahi, Urbanke 2001).  Bisection on p
gives, per target rate, the distribution with the largest GA threshold over dc.

Prints node-perspective distributions for satqkd/keys/ldpc.py (``MOTHER_CODES``).
``--margin`` and ``--max-degree`` set the check margin and the largest variable degree;
``tools/select_ldpc_codes.py`` picks, per rate, among designs made with several of them
by simulating the reconciliation protocol.

Usage: ``python tools/design_ldpc_degrees.py [--margin 0.05] [--max-degree 30] [rates...]``
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

GH_X, GH_W = np.polynomial.hermite_e.hermegauss(80)  # probabilists' Hermite: E[f(N(0,1))]
ALL_VAR_DEGREES = np.array([2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60])
VAR_DEGREES = ALL_VAR_DEGREES[ALL_VAR_DEGREES <= 30]
MARGIN = 0.05  # check update must beat m by 5 %: GA is optimistic at high rates
STAB = 0.7  # lambda_2 at most this fraction of the stability bound (finite length)


def tanh_mean(mu, var):
    """E[tanh(X/2)], X ~ N(mu, var) (arrays broadcast)."""
    mu = np.asarray(mu, float)[..., None]
    sd = np.sqrt(np.asarray(var, float))[..., None]
    return (np.tanh((mu + sd * GH_X) / 2.0) * GH_W).sum(-1) / GH_W.sum()


M_TAB = np.concatenate([[0.0], np.geomspace(1e-4, 40.0, 2000)])
PSI_TAB = tanh_mean(M_TAB, 2 * M_TAB)


def psi_inv(t):
    return np.interp(t, PSI_TAB, M_TAB)


def g(i, m, p):
    a = np.log((1 - p) / p)
    mu, var = (i - 1) * m, 2 * (i - 1) * m
    return (1 - p) * tanh_mean(a + mu, var) + p * tanh_mean(-a + mu, var)


def t_star(m, rho):
    """Least t with sum_j rho_j psi^-1(t^(j-1)) >= m (bisection, vectorised over m)."""
    lo, hi = np.zeros_like(m), np.ones_like(m)
    for _ in range(50):
        mid = (lo + hi) / 2
        val = sum(r * psi_inv(mid ** (j - 1)) for j, r in rho.items())
        ok = val >= m
        hi = np.where(ok, mid, hi)
        lo = np.where(ok, lo, mid)
    return hi


def best_lambda(p, rho, margin=None):
    margin = MARGIN if margin is None else margin
    m = np.geomspace(1e-3, 25.0, 120)
    ts = t_star(m * (1 + margin), rho)
    keep = ts < 1 - 1e-6  # beyond, the messages are already near-certain
    m, ts = m[keep], ts[keep]
    G = np.stack([g(i, m, p) for i in VAR_DEGREES], axis=1)
    rho_p = sum(r * (j - 1) for j, r in rho.items())
    bhat = 2 * np.sqrt(p * (1 - p))
    bounds = [(0, 1 / (rho_p * bhat) * STAB)] + [(0, 1)] * (len(VAR_DEGREES) - 1)
    res = linprog(-1.0 / VAR_DEGREES, A_ub=-G, b_ub=-ts, A_eq=np.ones((1, len(VAR_DEGREES))),
                  b_eq=[1.0], bounds=bounds, method="highs")
    if res.status != 0:
        return None, -1.0
    lam = res.x
    rate = 1 - sum(r / j for j, r in rho.items()) / (lam / VAR_DEGREES).sum()
    return lam, rate


def rho_for(dc_avg):
    lo = int(np.floor(dc_avg))
    frac = dc_avg - lo  # node fraction with degree lo + 1 -> edge perspective
    nodes = {lo: 1 - frac, lo + 1: frac}
    tot = sum(d * w for d, w in nodes.items())
    return {d: d * w / tot for d, w in nodes.items() if w > 0}


def design(rate):
    best = None
    for dc in np.arange(4.0, 140.0, 1.0):
        rho = rho_for(dc)
        lo, hi = 1e-4, 0.2
        if best_lambda(lo, rho)[1] < rate:
            continue
        for _ in range(24):
            mid = (lo + hi) / 2
            if best_lambda(mid, rho)[1] >= rate:
                lo = mid
            else:
                hi = mid
        if best is None or lo > best[0]:
            best = (lo, dc, best_lambda(lo, rho)[0])
        elif lo < best[0] * 0.9:
            break
    return best


def h2(p):
    return -p * np.log2(p) - (1 - p) * np.log2(1 - p)


def set_options(margin: float, max_degree: int) -> None:
    """Check margin and largest variable degree of the next designs."""
    global MARGIN, VAR_DEGREES
    MARGIN = margin
    VAR_DEGREES = ALL_VAR_DEGREES[ALL_VAR_DEGREES <= max_degree]


def node_distribution(lam) -> dict[int, float]:
    """Edge-perspective lambda -> node fractions {degree: fraction} (5 decimals)."""
    node = lam / VAR_DEGREES
    node /= node.sum()
    return {int(d): round(float(w), 5) for d, w in zip(VAR_DEGREES, node) if w > 1e-4}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("rates", nargs="*", type=float)
    ap.add_argument("--margin", type=float, default=MARGIN)
    ap.add_argument("--max-degree", type=int, default=30)
    args = ap.parse_args()
    set_options(args.margin, args.max_degree)
    rates = args.rates or [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95]
    for R in rates:
        p, dc, lam = design(R)
        pairs = node_distribution(lam)
        # capacity crossover of rate R: h(p*) = 1 - R
        lo, hi = 1e-6, 0.5
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if h2(mid) < 1 - R else (lo, mid)
        print(f"R={R}: p_GA={p:.5f} (Shannon {lo:.5f}, f_asym={(1 - R) / h2(p):.4f}) "
              f"dc_avg={dc} var_node={pairs}")
