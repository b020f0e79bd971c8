"""`SolveResult`: termination status kept apart from what can be read.

A status says why the solver stopped; the flags say which numbers are meaningful. A
number is a *bound* only if the solver proved it (``dual_bound``); a primal point is only
an *incumbent*. Following MathOptInterface, callers must check ``has_primal`` /
``has_dual`` rather than infer them from the status.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class Status(str, Enum):
    """Why the solver stopped."""

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    INFEASIBLE_OR_UNBOUNDED = "infeasible_or_unbounded"
    TIME_LIMIT = "time_limit"
    ITERATION_LIMIT = "iteration_limit"
    OBJECTIVE_BOUND = "objective_bound"      # stopped: proven the optimum beats a bound
    OBJECTIVE_TARGET = "objective_target"    # stopped: found a point beating a target
    INTERRUPTED = "interrupted"              # stopped by a callback
    SOLUTION_LIMIT = "solution_limit"
    ERROR = "error"
    UNKNOWN = "unknown"


@dataclass
class SolveResult:
    """What a solve produced.

    Attributes:
        status: why it stopped.
        objective: objective of the primal point (incumbent), if any.
        dual_bound: a lower bound on the optimum proved by the solver (for a minimisation),
            if any. For an LP solved to optimality it equals the objective up to tolerances;
            it is a floating-point number and must be certified before it is trusted.
        x: (n,) primal point, if any.
        row_duals, col_duals: (m,), (n,) dual values of an LP, if any (HiGHS's sign
            convention: ``col_duals = c - A.T @ row_duals``).
        dual_ray: (m,) a row dual ray proving infeasibility, if the solver gave one.
        iterations: simplex iterations (LP) or nodes (MIP).
        solve_time: seconds inside the solver.
    """

    status: Status
    objective: float | None = None
    dual_bound: float | None = None
    x: np.ndarray | None = None
    row_duals: np.ndarray | None = None
    col_duals: np.ndarray | None = None
    dual_ray: np.ndarray | None = None
    iterations: int = 0
    solve_time: float = 0.0
    solver: str = ""
    message: str = ""

    @property
    def has_primal(self) -> bool:
        return self.x is not None

    @property
    def has_dual(self) -> bool:
        return self.row_duals is not None


class SolverFailure(RuntimeError):
    """The solver rejected a model or failed during a solve, leaving no usable answer."""
