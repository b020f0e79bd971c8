"""Batched dual ascent for ``min c x`` over a box and a few rows (the split LP, approximately)."""

from __future__ import annotations

import numpy as np

from verifier.bounds.rounding import TINY


def box_rows_dual_bound(coef: np.ndarray, const: np.ndarray, G: np.ndarray, h: np.ndarray,
                        lower: np.ndarray, upper: np.ndarray, iterations: int = 60
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Lower bounds of ``min const_d + coef_d @ x`` over ``lower <= x <= upper`` and
    ``G_d x <= h_d``, for D problems at once, by projected dual ascent.

    For any multipliers ``beta >= 0`` (S,) weak duality gives

        const + min_{box} (coef + beta G) x - beta h  <=  min over the box and the rows,

    and the left side is a box minimum (each coordinate at the bound its coefficient
    picks). ``beta`` starts at 0 (the box bound) and follows Adam steps along the
    supergradient ``G x*(beta) - h``; the best value per problem over the iterations is
    returned. The maximum over ``beta`` equals the LP optimum (LP duality), so this is the
    split LP of beta-CROWN solved approximately, one batched product per iteration, instead
    of one LP per sub-domain.

    Soundness: every value is evaluated in floating point and lowered by
    ``4 (n + S + 4) eps`` times the sum of the magnitudes of its terms (a bound on the
    rounding error of the products and the sum, including the error in ``coef + beta G``).

    Args:
        coef: (D, n). const: (D,). G: (D, S, n). h: (D, S) (rows ``0 x <= 1`` pad).
        lower, upper: (n,) the box.
    Returns:
        (bound (D,), x (D, n): the box point that minimises the best Lagrangian).
    """
    D, S, n = G.shape
    span = np.maximum(np.abs(lower), np.abs(upper))
    eps_factor = 4.0 * (n + S + 4) * np.finfo(np.float64).eps

    def value(beta):
        c = coef + np.einsum("ds,dsn->dn", beta, G)
        x = np.where(c > 0, lower, upper)
        val = const + np.einsum("dn,dn->d", c, x) - np.einsum("ds,ds->d", beta, h)
        size = (np.abs(const) + np.einsum("ds,ds->d", beta, np.abs(h))
                + (np.abs(coef) + np.einsum("ds,dsn->dn", beta, np.abs(G))) @ span)
        return val - eps_factor * size - TINY, x

    beta = np.zeros((D, S))
    best, best_x = value(beta)
    if S == 0 or iterations <= 0:
        return best, best_x
    # rows scaled to max-abs 1 so that one step size fits all rows of a problem
    scale = np.max(np.abs(G), axis=2)
    usable = scale > 0
    inv = np.where(usable, 1.0 / np.where(usable, scale, 1.0), 0.0)
    step0 = 0.5 * np.max(np.abs(coef), axis=1, keepdims=True) + TINY   # (D, 1)
    m = np.zeros((D, S))
    v = np.zeros((D, S))
    b1, b2 = 0.9, 0.999
    for t in range(1, iterations + 1):
        c = coef + np.einsum("ds,dsn->dn", beta, G)
        x = np.where(c > 0, lower, upper)
        grad = (np.einsum("dsn,dn->ds", G, x) - h) * inv      # per unit of scaled row
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        lr = step0 * 0.98 ** t
        step = lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + 1e-12)
        beta = np.maximum(beta + step * inv, 0.0)
        beta[~usable] = 0.0
        val, xs = value(beta)
        better = val > best
        best = np.where(better, val, best)
        best_x[better] = xs[better]
    return best, best_x
