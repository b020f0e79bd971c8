"""Turning a solver's answer into a certified bound.

An LP bound comes from the returned duals through :func:`solvers.certified_lower_bound`
(weak duality evaluated with outward rounding); a MILP bound is the solver's dual bound
lowered by an explicit margin, because MIP tolerances are not certified by duals. A
primal point is never a bound.
"""

from __future__ import annotations

import numpy as np

from solvers import (LinearModel, SolveResult, Status, certified_infeasible,
                     certified_lower_bound)
from solvers.highs import HighsBackend, SolveLimits

#: relative margin subtracted from a MILP dual bound: ``dual - MILP_MARGIN * (1 + |dual|)``
MILP_MARGIN = 1e-6


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


def sound_milp_bound(result: SolveResult) -> float:
    """The MILP dual bound made safe: ``dual - MILP_MARGIN * (1 + |dual|)``.

    The margin models of this project are always feasible (every input of the box gives
    a feasible assignment: sound column bounds, exact big-M, a margin range containing
    every margin), so an "infeasible" answer can only come from numerical trouble: it
    yields no bound (``-inf``), never a proof.
    """
    if result.status == Status.INFEASIBLE or result.dual_bound is None:
        return -np.inf
    dual = float(result.dual_bound)
    return dual - MILP_MARGIN * (1.0 + abs(dual)) if np.isfinite(dual) else -np.inf
