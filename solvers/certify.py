"""Certified bounds from floating-point LP duals.

The argument (weak duality with the column box absorbing the residual). For *any* row
multipliers ``y`` (free sign) and every feasible ``x``::

    c @ x = (c - A.T @ y) @ x + y @ (A @ x)
          >= sum_j min(r_j * cl_j, r_j * cu_j)                 with r = c - A.T @ y
           + sum_i (y_i * rl_i if y_i > 0 else y_i * ru_i)

because ``rl <= A x <= ru`` and ``cl <= x <= cu``. The right-hand side is a valid lower
bound whatever ``y`` is, so the solver's duals only have to be *good*, not exact: an
inaccurate or slightly infeasible dual gives a weaker, still valid, bound. Multipliers that
would meet an infinite row bound are set to 0 (their residual moves into ``r``), and a
residual that meets an infinite column bound gives ``-inf`` (no certificate).

Floating-point evaluation is made safe by outward rounding: each computed quantity carries
an absolute error bound from the standard model ``|fl(a op b) - a op b| <= u |a op b|``,
accumulated with ``gamma_k = k u / (1 - k u)`` for sums of k terms, and the error bounds are
subtracted from the bound (then the result is stepped down by one more ulp per operation
order via ``np.nextafter``). The same function proves infeasibility: with ``c = 0`` a dual
ray ``y`` whose bound is ``> 0`` certifies that no feasible ``x`` exists.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from solvers.model import LinearModel

_U = np.finfo(np.float64).eps / 2.0   # unit roundoff


def _gamma(k: np.ndarray | int) -> np.ndarray:
    k = np.asarray(k, dtype=np.float64) + 2.0      # +2: products and the final rounding
    return k * _U / (1.0 - k * _U)


class MatrixParts(NamedTuple):
    """What the certificate needs of a constraint matrix A, computed once per matrix.

    Attributes:
        At: A.T as CSR; abs_At: |A|.T as CSR; col_nnz: (n,) nonzeros per column of A.
    """

    At: sp.csr_matrix
    abs_At: sp.csr_matrix
    col_nnz: np.ndarray


def matrix_parts(A: sp.spmatrix) -> MatrixParts:
    """The transposes and column counts of ``A`` used by :func:`certified_lower_bound`
    (callers that bound many objectives over one matrix compute them once)."""
    At = sp.csr_matrix(A.T)
    return MatrixParts(At, abs(At), np.diff(sp.csc_matrix(A).indptr))


def certified_lower_bound(model: LinearModel, row_multipliers: np.ndarray,
                          c: np.ndarray | None = None, parts: MatrixParts | None = None
                          ) -> float:
    """A rigorous lower bound on ``min c @ x`` over the model's feasible set.

    Args:
        model: the LP (integrality ignored: a bound on the LP bounds the MILP too).
        row_multipliers: (m,) any real vector, typically HiGHS's ``row_dual``.
        c: (n,) objective to bound; defaults to ``model.c``. The model's offset is added.
        parts: ``matrix_parts(model.A)`` if already computed (must be of this very
            matrix; only saves time).

    Returns:
        A float ``B`` with ``c @ x + offset >= B`` for every feasible ``x`` (exact real
        arithmetic on the stored model data), or ``-inf`` when no finite certificate
        follows from these multipliers. ``+inf`` is never returned here.
    """
    c = model.c if c is None else np.asarray(c, dtype=np.float64)
    y = np.array(row_multipliers, dtype=np.float64).reshape(-1)
    if y.size != model.n_rows or not np.all(np.isfinite(y)):
        return -np.inf
    rl, ru = model.row_lower, model.row_upper
    # multipliers meeting an infinite row bound are dropped (valid: y is ours to choose)
    y = np.where((y > 0) & ~np.isfinite(rl), 0.0, y)
    y = np.where((y < 0) & ~np.isfinite(ru), 0.0, y)
    At, abs_At, col_nnz = matrix_parts(model.A) if parts is None else parts
    r = c - At @ y
    # |fl(r) - r| <= gamma_{nnz_j + 1} (|c| + |A|^T |y|)
    r_err = _gamma(col_nnz + 1) * (np.abs(c) + abs_At @ np.abs(y))

    # row part: sum_i y_i * (rl_i or ru_i)
    row_bound = np.where(y > 0, rl, np.where(y < 0, ru, 0.0))
    row_bound = np.where(y == 0, 0.0, row_bound)
    row_terms = y * row_bound
    # column part: min over the box of r_j x_j, with r_j only known to +-r_err_j
    cl, cu = model.col_lower, model.col_upper
    col_abs = np.maximum(np.abs(np.where(np.isfinite(cl), cl, 0.0)),
                         np.abs(np.where(np.isfinite(cu), cu, 0.0)))
    if np.any((r - r_err > 0) & ~np.isfinite(cl)) or np.any((r + r_err < 0) & ~np.isfinite(cu)):
        return -np.inf
    lo_finite, hi_finite = np.isfinite(cl), np.isfinite(cu)
    if np.any((np.abs(r) <= r_err) & (r_err > 0) & ~(lo_finite & hi_finite)):
        return -np.inf          # sign of r unknown against an infinite column bound
    term_lo = np.where(lo_finite & hi_finite, np.minimum(r * cl, r * cu),
                       np.where(lo_finite, r * cl, np.where(hi_finite, r * cu, 0.0)))
    col_terms = term_lo - r_err * col_abs
    terms = np.concatenate([row_terms, col_terms, [model.offset]])
    if not np.all(np.isfinite(terms)):
        return -np.inf
    total = float(np.sum(terms))
    sum_err = float(_gamma(terms.size) * np.sum(np.abs(terms)))
    # products y*rl and r*cl each carry a relative error u: covered by the +2 in gamma
    bound = total - sum_err - _U * float(np.sum(np.abs(terms)))
    return float(np.nextafter(bound, -np.inf))


def certified_infeasible(model: LinearModel, dual_ray: np.ndarray,
                         parts: MatrixParts | None = None) -> bool:
    """True when ``dual_ray`` (either sign) proves that the model has no feasible point.

    With ``c = 0`` the Lagrangian bound is a lower bound on 0 for every feasible point;
    a strictly positive bound is a contradiction, so the feasible set is empty.
    """
    zero = np.zeros(model.n_cols)
    ray = np.asarray(dual_ray, dtype=np.float64)
    return any(certified_lower_bound(model, sign * ray, c=zero, parts=parts) - model.offset > 0
               for sign in (1.0, -1.0))
