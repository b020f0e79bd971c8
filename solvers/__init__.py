"""LP/MILP models as arrays, thin solver backends and certified bounds.

Knows nothing about networks: everything here takes a :class:`LinearModel`.
"""

from solvers.certify import certified_infeasible, certified_lower_bound
from solvers.model import LinearModel
from solvers.result import SolveResult, SolverFailure, Status

__all__ = ["LinearModel", "SolveResult", "SolverFailure", "Status", "certified_lower_bound",
           "certified_infeasible", "HighsBackend", "HighsOptions", "SolveLimits",
           "solve_with_pulp", "read_model"]


def __getattr__(name):
    if name in ("HighsBackend", "HighsOptions", "SolveLimits"):
        from solvers import highs
        return getattr(highs, name)
    if name == "solve_with_pulp":
        from solvers.pulp_backend import solve_with_pulp
        return solve_with_pulp
    if name == "read_model":
        from solvers.io import read_model
        return read_model
    raise AttributeError(name)
