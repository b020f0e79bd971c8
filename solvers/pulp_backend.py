"""PuLP (CBC) backend, for cross-checks and exports; never used in inner loops.

PuLP builds one Python object per variable and row, which is fine for the small models
it is used on (tests, comparisons with HiGHS). PuLP 3.3 warns that the calls used here
change in PuLP 4 (the project pins ``pulp<4``); those warnings are silenced here, where
PuLP is called, instead of flooding every user's output.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from solvers.model import LinearModel
from solvers.result import SolveResult, Status

_PULP_STATUS = {1: Status.OPTIMAL, 0: Status.UNKNOWN, -1: Status.INFEASIBLE,
                -2: Status.UNBOUNDED, -3: Status.UNKNOWN}


def to_pulp(model: LinearModel):
    """Build a ``pulp.LpProblem`` (minimisation) from a :class:`LinearModel`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return _to_pulp(model)


def _to_pulp(model: LinearModel):
    import pulp

    prob = pulp.LpProblem("model", pulp.LpMinimize)
    names = model.col_names or [f"x{j}" for j in range(model.n_cols)]
    cols = []
    for j in range(model.n_cols):
        lo, hi = model.col_lower[j], model.col_upper[j]
        cols.append(pulp.LpVariable(
            f"c{j}_{names[j]}", None if not np.isfinite(lo) else float(lo),
            None if not np.isfinite(hi) else float(hi),
            cat=pulp.LpInteger if model.integrality[j] else pulp.LpContinuous))
    prob += pulp.lpSum(float(model.c[j]) * cols[j] for j in np.flatnonzero(model.c)) + \
        float(model.offset)
    A = model.A.tocsr()
    for i in range(model.n_rows):
        start, end = A.indptr[i], A.indptr[i + 1]
        expr = pulp.lpSum(float(v) * cols[j] for j, v in zip(A.indices[start:end],
                                                              A.data[start:end]))
        lo, hi = model.row_lower[i], model.row_upper[i]
        if np.isfinite(lo) and np.isfinite(hi) and lo == hi:
            prob += expr == float(lo), f"r{i}"
            continue
        if np.isfinite(lo):
            prob += expr >= float(lo), f"r{i}_lo"
        if np.isfinite(hi):
            prob += expr <= float(hi), f"r{i}_hi"
    return prob, cols


def solve_with_pulp(model: LinearModel, time_limit: float | None = None) -> SolveResult:
    """Solve with CBC through PuLP; returns status, objective and point."""
    import pulp

    prob, cols = to_pulp(model)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
        code = prob.solve(solver)
    elapsed = time.perf_counter() - start
    status = _PULP_STATUS.get(code, Status.UNKNOWN)
    result = SolveResult(status=status, solve_time=elapsed, solver="pulp-cbc")
    if status == Status.OPTIMAL:
        result.x = np.array([v.value() for v in cols], dtype=np.float64)
        result.objective = float(pulp.value(prob.objective))
        result.dual_bound = result.objective if not model.is_mip else None
    return result
