"""Solving one relaxation LP and turning its answer into a certified bound."""

from __future__ import annotations

import numpy as np

from solvers import LinearModel, SolveResult, Status, certified_infeasible, certified_lower_bound
from solvers.highs import HighsBackend, SolveLimits


def certified_minimum(backend: HighsBackend, limits: SolveLimits = SolveLimits(),
                      ) -> tuple[float, SolveResult]:
    """Solve the loaded LP (minimisation) and return (certified lower bound, raw result).

    The bound comes from the returned duals through :func:`certified_lower_bound` (valid
    even when the solver stopped early at an objective bound, since dual simplex iterates
    are dual feasible up to tolerance and the certificate absorbs any residual). An
    infeasible LP gives ``+inf`` only if its dual ray certifies infeasibility. Anything
    else gives ``-inf``: no bound.
    """
    result = backend.solve(limits)
    model: LinearModel = backend.model
    if result.status == Status.INFEASIBLE:
        if result.dual_ray is not None and certified_infeasible(
                model, result.dual_ray, parts=backend.matrix_parts()):
            return np.inf, result
        return -np.inf, result
    if result.row_duals is None:
        return -np.inf, result
    return certified_lower_bound(model, result.row_duals,
                                 parts=backend.matrix_parts()), result
