"""``milp``: the exact minimum margin by a big-M MILP per disjunct.

Every unstable ReLU gets the big-M encoding (:func:`~verifier.relaxations.big_m`) over the
tightest bounds of the case. HiGHS solves ``min margin`` with a MIP start from
falsification; a callback stops as soon as the question is answered: the dual bound
exceeds 0 (proved) or an incumbent replays as a counterexample. The bound reported is
HiGHS's *dual bound* made safe (:func:`~verifier.lp.sound_milp_bound`), never the
incumbent; on time-out the bracket ``[dual bound, incumbent]`` is reported. A case's
constraint rows (VNN-LIB 2.0) enter loosened by the same relative margin as the dual
bound (``MILP_MARGIN``); if HiGHS finds even the loosened model infeasible, the disjunct
is proved (the same trust as in its dual bound).
"""

from __future__ import annotations

import time

import numpy as np

from solvers import Status
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import DeepPolyOptions, deeppoly_bounds, output_form_bounds
from verifier.encode import EncodedNetwork, encode_network, with_disjunct
from verifier.lp import MILP_MARGIN, sound_milp_bound
from verifier.methods.context import CaseContext
from verifier.methods.krelu import case_cut_rows, krelu_separation_margin
from verifier.methods.margins import (RANGE_SLACK, case_constraints, margin_range,
                                      single_disjunct)
from verifier.methods.outcome import MethodOutcome
from verifier.network import Network
from verifier.relaxations import big_m
from verifier.witness import falsify_disjunct, replay


def bigm_blocks(net: Network, bounds) -> dict:
    """The big-M block of every ReLU layer over ``bounds``."""
    return {r: [big_m(bounds[net.inputs_of(r)[0]], r)] for r in net.relu_names()}


def mip_start(net: Network, encoded: EncodedNetwork, x: np.ndarray, A: np.ndarray,
              b: np.ndarray, n_cols: int) -> np.ndarray:
    """A full column assignment of the big-M model of one disjunct from an input point:
    every node's value by the forward pass, each binary set by its neuron's sign, the
    margin column (the last one) set to the point's margin."""
    start = np.zeros(n_cols)
    values = net.forward(x[None, :], all_nodes=True)
    for name, cols in encoded.columns.items():
        start[cols] = values[name][0]
    for relu in net.relu_names():
        cols, neurons = encoded.new_columns(relu, "bigm")
        start[cols] = (values[net.inputs_of(relu)[0]][0][neurons] > 0).astype(np.float64)
    y = values[net.output_name][0]
    start[-1] = float(np.max(A @ y - b)) if A.shape[0] else 0.0
    return start


def milp_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray) -> MethodOutcome:
    """Exact ``min margin`` by big-M MILP: a sound lower bound, the bracket of the exact
    value, the optimum when HiGHS proves it, and the best input for replay."""
    net = ctx.net
    bounds = ctx.tightened()
    ctx.check_time()
    t_lo, t_hi = margin_range(ctx, A, b, bounds)
    if t_lo > 0 and not ctx.options.full_solve:
        return MethodOutcome(t_lo, bracket=(t_lo, np.inf))
    encoded = encode_network(net, bounds, bigm_blocks(net, bounds))
    rows = case_constraints(ctx.case, encoded.columns[net.input_name], relax=MILP_MARGIN)
    model = with_disjunct(encoded, encoded.columns[net.output_name], A, b, (t_lo, t_hi),
                          label="disjunct", **rows)
    ctx.check_time()        # building a deep net's model takes seconds when threads share it
    in_cols = encoded.columns[net.input_name]
    x0, _ = falsify_disjunct(net, ctx.case, A, b, ctx.options.falsify, deadline=ctx.deadline)
    ctx.check_time()
    single = single_disjunct(ctx, A, b)
    found = {}

    def on_incumbent(x: np.ndarray, objective: float) -> bool:
        """Replay an incumbent of margin <= 0; stop at a witness unless the optimum itself
        is asked for (``full_solve``)."""
        if objective > 0 or "x" in found:
            return False
        witness = replay(net, single, x[in_cols], 0, ctx.onnx_path)
        if witness is not None:
            found["x"] = witness.x
            return not ctx.options.full_solve
        return False

    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=ctx.options.milp.mip_rel_gap))
    backend.load(model)
    ctx.check_time()
    if ctx.options.krelu.milp_cuts:
        proved = _add_krelu_cuts(ctx, A, b, backend, model.n_cols)
        if proved is not None:
            return MethodOutcome(proved, bracket=(proved, np.inf))
    limits = SolveLimits(time_limit=max(ctx.remaining(), 0.01),
                         stop_dual_above=None if ctx.options.full_solve else 0.0,
                         mip_start=mip_start(net, encoded, x0, A, b, model.n_cols),
                         on_incumbent=on_incumbent, deadline=ctx.deadline)
    result = ctx.timed("milp", lambda: backend.solve(limits))
    ctx.add_time("highs", backend.total_time)
    ctx.stats.setdefault("milp", []).append({**model.summary(), "status": result.status.value,
                                             "nodes": result.iterations})
    bound = max(sound_milp_bound(result), t_lo)
    constrained = rows["constraints"] is not None or rows["input_rows"] is not None
    if constrained and result.status == Status.INFEASIBLE:
        bound = np.inf     # not even the loosened constraint rows can be met (see above)
    incumbent = result.objective if result.objective is not None else np.inf
    optimum = None
    if result.status == Status.OPTIMAL and np.isfinite(incumbent):
        optimum = float(incumbent)      # without an incumbent the optimum is not known
    candidate = found.get("x")
    if candidate is None and result.x is not None:
        candidate = result.x[in_cols]
    timed_out = (result.status in (Status.TIME_LIMIT, Status.INTERRUPTED)
                 and ctx.remaining() <= 0 and "x" not in found)
    return MethodOutcome(bound, candidate, optimum, (float(bound), float(incumbent)),
                         timed_out=timed_out, witness_found="x" in found)


def _add_krelu_cuts(ctx: CaseContext, A: np.ndarray, b: np.ndarray, backend: HighsBackend,
                    n_cols: int) -> float | None:
    """Append the disjunct's separated k-ReLU cuts to its loaded MILP (``milp_cuts``).

    Runs the k-ReLU separation LP of the disjunct for at most ``MilpOptions.cut_share`` of
    the remaining time and appends the case's cut pool: every cut is a hull facet valid
    for all inputs of the box, over the network's node columns, which are the same first
    columns in the triangle and the big-M encodings (block columns such as the binaries
    come after all node columns). Returns the LP's certified bound when it already proves
    the disjunct (> 0), else None.
    """
    deadline = time.monotonic() + ctx.options.milp.cut_share * max(ctx.remaining(), 0.0)
    outcome = krelu_separation_margin(ctx, A, b, deadline=deadline)
    if outcome.bound > 0 and not ctx.options.full_solve:
        return float(outcome.bound)
    cuts = case_cut_rows(ctx, n_cols)
    if cuts is not None:
        cuts.add_to(backend)
        ctx.stats.setdefault("milp_cuts", []).append(len(cuts.upper))
    return None


def piece_milp_margin(net: Network, lower: np.ndarray, upper: np.ndarray, A: np.ndarray,
                      b: np.ndarray, dp_options: DeepPolyOptions, time_limit: float,
                      deadline: float | None = None
                      ) -> tuple[float, np.ndarray | None, float]:
    """Exact minimum margin on a small box by big-M MILP over its DeepPoly bounds.

    Returns:
        (sound lower bound, input of the MILP's point or None, seconds inside HiGHS).

    Raises:
        TimeLimitReached: ``deadline`` passed while the piece's bounds were computed.
    """
    bounds = deeppoly_bounds(net, lower, upper, dp_options, deadline=deadline)
    forms = output_form_bounds(net, A, bounds, dp_options)
    t_lo = float((forms.lower - b).max()) - RANGE_SLACK
    t_hi = float((forms.upper - b).max()) + RANGE_SLACK
    if t_lo > 0:
        return t_lo, None, 0.0
    encoded = encode_network(net, bounds, bigm_blocks(net, bounds))
    model = with_disjunct(encoded, encoded.columns[net.output_name], A, b, (t_lo, t_hi))
    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=1e-9))
    backend.load(model)
    result = backend.solve(SolveLimits(time_limit=max(time_limit, 0.01)))
    x = None if result.x is None else result.x[encoded.columns[net.input_name]]
    return max(sound_milp_bound(result), t_lo), x, backend.total_time
