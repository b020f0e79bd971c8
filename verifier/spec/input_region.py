"""The input box of a region given by linear rows: ``{x in box : C x <= d}``.

Bound propagation first (each row bounds each of its variables by the others' bounds,
repeated), so that inputs bounded only through rows (``U = X`` with X in a box) get
finite bounds; then two LPs per input the rows mention (its minimum and maximum), each
bound certified from the LP's duals (:func:`solvers.certified_lower_bound`), so the box
returned contains every point of the region. Infeasibility is reported only when
propagation crosses a bound or an LP's dual ray certifies it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from solvers import LinearModel, Status, certified_infeasible, certified_lower_bound

__all__ = ["region_box", "propagate_rows", "PROPAGATION_PASSES"]

#: passes of bound propagation over the input rows before the LPs
PROPAGATION_PASSES = 20
_U = np.finfo(np.float64).eps / 2.0


def propagate_rows(C: sp.csr_matrix, d: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Bounds implied row by row (``a_j x_j <= d - sum_{k != j} min a_k x_k``), repeated:
    a sound box for inputs that only rows bound (``U = X`` with X in a box), rounded
    outward. Returns (lower, upper) or None when some bound crosses (infeasible)."""
    lower, upper = lower.copy(), upper.copy()
    for _ in range(PROPAGATION_PASSES):
        changed = False
        for r in range(C.shape[0]):
            cols = C.indices[C.indptr[r]:C.indptr[r + 1]]
            a = C.data[C.indptr[r]:C.indptr[r + 1]]
            low = np.where(a > 0, a * lower[cols], a * upper[cols])
            low = np.where(a == 0, 0.0, low)
            if np.sum(~np.isfinite(low)) > 1:
                continue
            for k, (j, aj) in enumerate(zip(cols, a)):
                others = np.delete(low, k)
                if aj == 0 or not np.all(np.isfinite(others)):
                    continue
                total = float(np.sum(others))
                err = (others.size + 3) * _U * (abs(d[r]) + float(np.sum(np.abs(others))))
                limit = (d[r] - total + err) / aj     # a_j < 0: a lower bound, still outward
                slack = 3 * _U * abs(limit) + 1e-300
                if aj > 0 and limit + slack < upper[j]:
                    upper[j], changed = np.nextafter(limit + slack, np.inf), True
                elif aj < 0 and limit - slack > lower[j]:
                    lower[j], changed = np.nextafter(limit - slack, -np.inf), True
        if np.any(lower > upper):
            return None
        if not changed:
            break
    return lower, upper


def region_box(C: sp.csr_matrix, d: np.ndarray, lower: np.ndarray, upper: np.ndarray):
    """Certified bounds of every input the rows ``C x <= d`` mention, within the box
    (first propagated row by row, so that every column bound is finite where it can
    be); None when the rows are certified infeasible."""
    from solvers import HighsBackend

    propagated = propagate_rows(C, d, lower, upper)
    if propagated is None:
        return None
    lower, upper = propagated

    model = LinearModel(np.zeros(C.shape[1]), C, np.full(C.shape[0], -np.inf), d,
                        lower, upper)
    backend = HighsBackend()
    backend.load(model)
    lower, upper = lower.copy(), upper.copy()
    for j in np.unique(C.indices):
        for sign in (1.0, -1.0):
            c = np.zeros(C.shape[1])
            c[j] = sign
            backend.set_objective(c)
            result = backend.solve()
            if result.status == Status.INFEASIBLE:
                if result.dual_ray is not None and certified_infeasible(
                        model, result.dual_ray, parts=backend.matrix_parts()):
                    return None
                continue
            if result.row_duals is None:
                continue
            bound = certified_lower_bound(model, result.row_duals, c=c,
                                          parts=backend.matrix_parts())
            if sign > 0:
                lower[j] = max(lower[j], bound)
            else:
                upper[j] = min(upper[j], -bound)
    if np.any(lower > upper):
        return None
    return lower, upper
