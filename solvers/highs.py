"""HiGHS backend through highspy: the whole model passed in one call from arrays.

Native status codes are mapped to :class:`~solvers.result.Status` in one table
(``_STATUS``). One ``HighsBackend`` owns one ``highspy.Highs`` object; the objects cannot be
pickled, so parallel workers each build their own from a :class:`LinearModel`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np
import scipy.sparse as sp

from solvers.certify import MatrixParts, matrix_parts
from solvers.model import LinearModel
from solvers.result import SolveResult, SolverFailure, Status

try:  # highspy is a hard dependency, but keep the import error readable
    import highspy
except ImportError as exc:  # pragma: no cover
    raise ImportError("highspy is required: pip install 'highspy>=1.15,<2'") from exc

_HMS = highspy.HighsModelStatus
_STATUS = {
    _HMS.kOptimal: Status.OPTIMAL,
    _HMS.kInfeasible: Status.INFEASIBLE,
    _HMS.kUnbounded: Status.UNBOUNDED,
    _HMS.kUnboundedOrInfeasible: Status.INFEASIBLE_OR_UNBOUNDED,
    _HMS.kTimeLimit: Status.TIME_LIMIT,
    _HMS.kIterationLimit: Status.ITERATION_LIMIT,
    _HMS.kObjectiveBound: Status.OBJECTIVE_BOUND,
    _HMS.kObjectiveTarget: Status.OBJECTIVE_TARGET,
    _HMS.kInterrupt: Status.INTERRUPTED,
    _HMS.kSolutionLimit: Status.SOLUTION_LIMIT,
    _HMS.kModelEmpty: Status.OPTIMAL,
    _HMS.kLoadError: Status.ERROR,
    _HMS.kModelError: Status.ERROR,
    _HMS.kPresolveError: Status.ERROR,
    _HMS.kSolveError: Status.ERROR,
    _HMS.kPostsolveError: Status.ERROR,
    _HMS.kMemoryLimit: Status.ERROR,
    _HMS.kNotset: Status.UNKNOWN,
    _HMS.kUnknown: Status.UNKNOWN,
}
if hasattr(_HMS, "kHighsInterrupt"):
    _STATUS[_HMS.kHighsInterrupt] = Status.INTERRUPTED

#: HiGHS's presolve rules switched off (``presolve_rule_off`` bits). Sparsify (bit 14)
#: looks at the clock only when it is done: on a big-M MILP of a deep net it ran for
#: seconds past ``time_limit`` before the MIP root had started, and no callback is called
#: while it runs (bench/README.md, "Time limits"). The rest of the MIP root (presolve's
#: other rules, the root LP, cuts, heuristics) keeps the limit.
PRESOLVE_RULES_OFF = 1 << 14


def new_highs():
    """A silent ``highspy.Highs``; the first one of a process prints HiGHS's banner on the
    C-level stdout, which is redirected to /dev/null for that construction only."""
    import os
    import sys

    if getattr(new_highs, "_banner_done", False):
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        new_highs._banner_done = True
    h.silent()
    return h


def highs_version() -> str:
    """The highspy/HiGHS version string."""
    return new_highs().version()


@dataclass(frozen=True)
class HighsOptions:
    """Solver options (frozen; passed down, never global).

    Attributes:
        threads: HiGHS threads for this object (1 in parallel workers).
        presolve: run presolve (off helps early stops with ``objective_bound``).
        mip_rel_gap: relative MIP gap at which HiGHS stops.
        random_seed: seed for reproducible runs.
        dual_feasibility_tolerance / primal_feasibility_tolerance: passed to HiGHS.
    """

    threads: int = 1
    presolve: bool = True
    mip_rel_gap: float = 1e-4
    random_seed: int = 0
    primal_feasibility_tolerance: float = 1e-7
    dual_feasibility_tolerance: float = 1e-7


@dataclass(frozen=True)
class SolveLimits:
    """Per-solve limits and early stops (minimisation).

    Attributes:
        time_limit: seconds (inf: none).
        objective_bound: LP dual simplex stops once the dual objective exceeds this.
        stop_dual_above: MIP stops once its dual bound exceeds this (question answered).
        stop_primal_below: MIP stops once an incumbent's objective is below this.
        mip_start: (n,) a start for the MIP (set after the objective, or HiGHS drops it).
        on_incumbent: called with (x, objective) for each improving MIP solution; return
            True to stop the solve.
        deadline: ``time.monotonic()`` value at which a MIP is interrupted from its
            callback (a second guard next to ``time_limit``, for phases that check the
            clock rarely).
    """

    time_limit: float = float("inf")
    objective_bound: float | None = None
    stop_dual_above: float | None = None
    stop_primal_below: float | None = None
    mip_start: np.ndarray | None = None
    on_incumbent: Callable[[np.ndarray, float], bool] | None = None
    deadline: float | None = None


class HighsBackend:
    """One HiGHS object holding one model; objective and bounds can be changed cheaply."""

    name = "highs"

    def __init__(self, options: HighsOptions = HighsOptions()):
        self.options = options
        self.highs = new_highs()
        self._apply_options()
        self.model: LinearModel | None = None
        self.total_time = 0.0
        self._parts: MatrixParts | None = None   # of self.model.A, reset when A changes

    def _apply_options(self) -> None:
        h, o = self.highs, self.options
        h.setOptionValue("threads", int(o.threads))
        h.setOptionValue("presolve", "on" if o.presolve else "off")
        h.setOptionValue("presolve_rule_off", PRESOLVE_RULES_OFF)
        h.setOptionValue("mip_rel_gap", float(o.mip_rel_gap))
        h.setOptionValue("random_seed", int(o.random_seed))
        h.setOptionValue("primal_feasibility_tolerance", float(o.primal_feasibility_tolerance))
        h.setOptionValue("dual_feasibility_tolerance", float(o.dual_feasibility_tolerance))

    # ----------------------------------------------------------------- model
    def load(self, model: LinearModel) -> None:
        """Pass the whole model in one call.

        Without names, the arrays go to ``passModel``'s array form (one copy in C++; ~4x
        faster than filling a ``HighsLp`` field by field, whose pybind conversions hold
        the GIL for seconds on matrices of 10^7 entries); with names (exports), through a
        ``HighsLp``.
        """
        A = sp.csc_matrix(model.A)
        A.sort_indices()
        start = np.ascontiguousarray(A.indptr, dtype=np.int32)
        index = np.ascontiguousarray(A.indices, dtype=np.int32)
        value = np.ascontiguousarray(A.data, dtype=np.float64)
        if model.col_names is None and model.row_names is None:
            integrality = (np.asarray(model.integrality, dtype=bool).astype(np.int32)
                           if model.is_mip else np.zeros(model.n_cols, dtype=np.int32))
            status = self.highs.passModel(
                int(model.n_cols), int(model.n_rows), int(value.size),
                int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
                float(model.offset), *(np.ascontiguousarray(a, dtype=np.float64) for a in (
                    model.c, model.col_lower, model.col_upper, model.row_lower,
                    model.row_upper)), start, index, value, integrality)
            self._loaded(status, model)
            return
        lp = highspy.HighsLp()
        lp.num_col_ = model.n_cols
        lp.num_row_ = model.n_rows
        lp.col_cost_ = model.c
        lp.offset_ = float(model.offset)
        lp.col_lower_ = model.col_lower
        lp.col_upper_ = model.col_upper
        lp.row_lower_ = model.row_lower
        lp.row_upper_ = model.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        lp.a_matrix_.num_col_ = model.n_cols
        lp.a_matrix_.num_row_ = model.n_rows
        if model.is_mip:
            lp.integrality_ = [highspy.HighsVarType.kInteger if i else
                               highspy.HighsVarType.kContinuous for i in model.integrality]
        if model.col_names is not None:
            lp.col_names_ = list(model.col_names)
        if model.row_names is not None:
            lp.row_names_ = list(model.row_names)
        self._loaded(self.highs.passModel(lp), model)

    def _loaded(self, status, model: LinearModel) -> None:
        if status == highspy.HighsStatus.kError:
            raise SolverFailure("HiGHS rejected the model (passModel returned an error)")
        self.model = model
        self._parts = None

    def matrix_parts(self) -> MatrixParts:
        """:func:`solvers.certify.matrix_parts` of the loaded matrix, computed once (the
        objective and column bounds change per solve, the matrix only by :meth:`add_rows`)."""
        if self._parts is None:
            self._parts = matrix_parts(self.model.A)
        return self._parts

    def set_objective(self, c: np.ndarray, offset: float = 0.0) -> None:
        """Replace the objective (minimisation) without reloading the model."""
        c = np.asarray(c, dtype=np.float64)
        n = c.size
        self.highs.changeColsCost(n, np.arange(n, dtype=np.int32), c)
        self.highs.changeObjectiveOffset(float(offset))
        self.model = self.model.with_objective(c, offset)

    def set_col_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int32)
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        self.highs.changeColsBounds(cols.size, cols, lower, upper)
        cl, cu = self.model.col_lower.copy(), self.model.col_upper.copy()
        cl[cols], cu[cols] = lower, upper
        self.model = replace(self.model, col_lower=cl, col_upper=cu)

    def add_rows(self, A: sp.csr_matrix, lower: np.ndarray, upper: np.ndarray,
                 names: list[str] | None = None) -> None:
        """Append rows (cuts) given as CSR over the existing columns, in one call."""
        A = sp.csr_matrix(A, dtype=np.float64)
        A.sort_indices()
        lower = np.asarray(lower, dtype=np.float64)
        upper = np.asarray(upper, dtype=np.float64)
        status = self.highs.addRows(A.shape[0], lower, upper, A.nnz,
                                    A.indptr[:-1].astype(np.int32), A.indices.astype(np.int32),
                                    A.data)
        if status == highspy.HighsStatus.kError:
            raise SolverFailure("HiGHS rejected the added rows (addRows returned an error)")
        first = self.model.n_rows
        if names is not None:
            for k, nm in enumerate(names):
                self.highs.passRowName(first + k, nm)
        m = self.model
        row_names = (None if m.row_names is None else
                     list(m.row_names) + (names or [f"cut{first + k}" for k in range(A.shape[0])]))
        self._parts = None
        self.model = replace(m, A=sp.vstack([m.A, A]).tocsr(),
                             row_lower=np.concatenate([m.row_lower, lower]),
                             row_upper=np.concatenate([m.row_upper, upper]),
                             row_names=row_names)

    def write(self, path: str) -> bool:
        """Write the model (.lp or .mps by extension); False when HiGHS reports an error."""
        return self.highs.writeModel(str(path)) != highspy.HighsStatus.kError

    # ----------------------------------------------------------------- solve
    def solve(self, limits: SolveLimits = SolveLimits()) -> SolveResult:
        """Solve the loaded model (minimisation) and read back what is available."""
        h = self.highs
        is_mip = self.model.is_mip
        h.setOptionValue("time_limit", self._run_clock_limit(limits.time_limit, is_mip))
        h.setOptionValue("objective_bound", float(limits.objective_bound)
                         if limits.objective_bound is not None else float("inf"))
        subscriptions = []
        if is_mip:
            subscriptions = self._subscribe_mip_callbacks(limits)
            if limits.mip_start is not None:
                sol = highspy.HighsSolution()
                sol.col_value = list(np.asarray(limits.mip_start, dtype=np.float64))
                h.setSolution(sol)
        start = time.perf_counter()
        try:
            h.run()
        finally:
            elapsed = time.perf_counter() - start
            self.total_time += elapsed
            for event, fn in subscriptions:
                event.unsubscribe(fn)
        return self._read_result(is_mip, elapsed)

    def _run_clock_limit(self, seconds: float, is_mip: bool = False) -> float:
        """HiGHS's ``time_limit`` for a solve of at most ``seconds``.

        HiGHS compares ``time_limit`` with the run clock of the Highs object, which adds up
        *every* ``run()`` so far (ERGO-Code/HiGHS#1331, #1477; highspy has no
        ``zeroAllClocks``). A plain per-solve value therefore let a warm-started sequence
        of solves on one object (per-neuron LP tightening, cut rounds) hit the limit after
        its first ``seconds`` in total: every later solve returned ``TIME_LIMIT`` at
        iteration 0, with a sound but useless bound. The limit is set relative to the
        clock's current reading instead. The MIP solver measures ``time_limit`` from the
        start of its own run (a relative limit doubled the time of each further MIP solve
        on one object), so a MIP gets ``seconds`` as they are.
        """
        seconds = float(max(seconds, 1e-3))
        if not np.isfinite(seconds):
            return float("inf")
        return seconds if is_mip else float(self.highs.getRunTime()) + seconds

    def _subscribe_mip_callbacks(self, limits: SolveLimits):
        h = self.highs
        subs = []
        if (limits.stop_dual_above is not None or limits.stop_primal_below is not None
                or limits.deadline is not None):
            def on_interrupt(event):
                # the flag outlives the run that set it: a later run on this object
                # would stop at its first callback (highspy 1.x), so clear it first
                event.interrupt(False)
                out = event.data_out
                if (limits.stop_dual_above is not None
                        and out.mip_dual_bound > limits.stop_dual_above):
                    event.interrupt()
                if (limits.stop_primal_below is not None
                        and out.mip_primal_bound < limits.stop_primal_below):
                    event.interrupt()
                if limits.deadline is not None and time.monotonic() > limits.deadline:
                    event.interrupt()
            h.cbMipInterrupt.subscribe(on_interrupt)
            subs.append((h.cbMipInterrupt, on_interrupt))
        if limits.on_incumbent is not None:
            def on_solution(event):
                event.interrupt(False)
                x = np.array(event.data_out.mip_solution, dtype=np.float64)
                if limits.on_incumbent(x, float(event.data_out.objective_function_value)):
                    event.interrupt()
            h.cbMipImprovingSolution.subscribe(on_solution)
            subs.append((h.cbMipImprovingSolution, on_solution))
        return subs

    def _read_result(self, is_mip: bool, elapsed: float) -> SolveResult:
        h = self.highs
        status = _STATUS.get(h.getModelStatus(), Status.UNKNOWN)
        info = h.getInfo()
        result = SolveResult(status=status, solve_time=elapsed, solver="highs")
        sol = h.getSolution()
        if is_mip:
            result.iterations = int(info.mip_node_count)
            if info.primal_solution_status == 2 and sol.value_valid:  # kSolutionStatusFeasible
                result.x = np.array(sol.col_value, dtype=np.float64)
                result.objective = float(info.objective_function_value)
            dual = float(info.mip_dual_bound)
            if np.isfinite(dual) and status not in (Status.ERROR, Status.UNKNOWN):
                result.dual_bound = dual
            if status == Status.INFEASIBLE:
                result.dual_bound = float("inf")
        else:
            result.iterations = int(info.simplex_iteration_count)
            if sol.value_valid and status in (Status.OPTIMAL, Status.OBJECTIVE_BOUND,
                                              Status.TIME_LIMIT, Status.ITERATION_LIMIT,
                                              Status.INTERRUPTED):
                result.x = np.array(sol.col_value, dtype=np.float64)
                result.objective = float(info.objective_function_value)
            if sol.dual_valid:
                result.row_duals = np.array(sol.row_dual, dtype=np.float64)
                result.col_duals = np.array(sol.col_dual, dtype=np.float64)
                if status == Status.OPTIMAL:
                    result.dual_bound = float(info.objective_function_value)
            if status in (Status.INFEASIBLE, Status.INFEASIBLE_OR_UNBOUNDED):
                _, has_ray, ray = h.getDualRay()
                if has_ray:
                    result.dual_ray = np.array(ray, dtype=np.float64)
        return result
