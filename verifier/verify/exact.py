"""Exact mode: big-M MILP per disjunct, and a complete input-splitting search.

``milp``: every unstable ReLU gets the big-M encoding (``verifier.relaxations.big_m``) over
the tightest bounds available (DeepPoly, then LP tightening). HiGHS solves ``min margin``
with a MIP start from falsification; a callback stops as soon as the question is
answered: the dual bound exceeds 0 (proved) or an incumbent replays as a counterexample.
The bound reported is HiGHS's *dual bound* minus an explicit margin
``MILP_MARGIN * (1 + |dual|)`` (MIP tolerances are not certified by duals), never the
incumbent; on time-out the bracket ``[dual bound, incumbent]`` is recorded.

``split``: for low-dimensional inputs (ACAS Xu) a branch-and-bound over the input box:
each piece is falsified (centre + corners), bounded by DeepPoly (and the triangle LP when
DeepPoly is close), and split along the input with the largest ``width * |gradient|``
until every piece is proved or a piece yields a replayed counterexample.
"""

from __future__ import annotations

import heapq
import time

import numpy as np

from solvers import Status
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds import deeppoly_bounds, output_form_bounds
from verifier.encode import encode_network, with_disjunct
from verifier.network import Network
from verifier.relaxations import big_m
from verifier.spec import Case
from verifier.verify.falsify import falsify_disjunct, output_gradient
from verifier.verify.pipeline import (CaseContext, margin_range, register_method,
                                      triangle_margin)

MILP_MARGIN = 1e-6
SPLIT_INPUT_LIMIT = 12     # "auto" uses input splitting up to this many free inputs


def mip_start(net: Network, encoded, x: np.ndarray, A: np.ndarray, b: np.ndarray,
              n_cols: int) -> np.ndarray:
    """A full column assignment of the big-M model from an input point (forward pass)."""
    start = np.zeros(n_cols)
    values = net.forward(x[None, :], all_nodes=True)
    for name, cols in encoded.columns.items():
        start[cols] = values[name][0]
    # the binaries are named a[relu,i] by the big-M block
    for j, nm in enumerate(encoded.model.col_names):
        if nm.startswith("a["):
            relu, i = nm[2:-1].rsplit(",", 1)
            start[j] = 1.0 if values[net.inputs_of(relu)[0]][0][int(i)] > 0 else 0.0
    y = values[net.output_name][0]
    start[-1] = float(np.max(A @ y - b)) if A.shape[0] else 0.0
    return start


def milp_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray):
    """Exact ``min margin`` by big-M MILP; returns (sound lower bound, candidate input)."""
    net = ctx.net
    bounds = ctx.tightened()
    ctx.check_time()
    t_lo, t_hi = margin_range(ctx, A, b, bounds)
    if t_lo > 0 and not ctx.options.full_solve:
        ctx.stats["_last_exact"] = {"optimum": None, "bracket": (t_lo, np.inf)}
        return t_lo, None
    blocks = {r: [big_m(bounds[net.inputs_of(r)[0]], r)] for r in net.relu_names()}
    encoded = encode_network(net, bounds, blocks)
    model = with_disjunct(encoded, encoded.columns[net.output_name], A, b, (t_lo, t_hi),
                          label="margin")
    in_cols = encoded.columns[net.input_name]
    x0, _ = falsify_disjunct(net, ctx.case, A, b, ctx.options.falsify)
    found = {}

    def on_incumbent(x: np.ndarray, objective: float) -> bool:
        if objective > 0:
            return False
        from verifier.verify.replay import replay
        from verifier.spec import OutputPolytope, Property
        prop = Property((Case(ctx.case.lower, ctx.case.upper, (OutputPolytope(A, b),)),),
                        net.n_inputs, net.n_outputs)
        witness = replay(net, prop, x[in_cols], 0, ctx.onnx_path)
        if witness is not None:
            found["x"] = witness.x
            return True
        return False

    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=1e-6))
    backend.load(model)
    limits = SolveLimits(time_limit=max(ctx.remaining(), 0.01),
                         stop_dual_above=None if ctx.options.full_solve else 0.0,
                         mip_start=mip_start(net, encoded, x0, A, b, model.n_cols),
                         on_incumbent=on_incumbent)
    result = ctx.timed("milp", lambda: backend.solve(limits))
    ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + backend.total_time
    ctx.stats.setdefault("milp", []).append({**model.summary(), "status": result.status.value,
                                             "nodes": result.iterations})
    dual = result.dual_bound if result.dual_bound is not None else -np.inf
    bound = dual - MILP_MARGIN * (1.0 + abs(dual)) if np.isfinite(dual) else dual
    bound = max(bound, t_lo)
    incumbent = result.objective if result.objective is not None else np.inf
    exact = {"bracket": (float(bound), float(incumbent))}
    if result.status == Status.OPTIMAL:
        exact["optimum"] = float(incumbent if np.isfinite(incumbent) else dual)
    candidate = found.get("x")
    if candidate is None and result.x is not None:
        candidate = result.x[in_cols]
    exact["x"] = candidate
    ctx.stats["_last_exact"] = exact
    if result.status == Status.TIME_LIMIT:
        ctx.check_time()
    return bound, candidate


def _piece_bound(net: Network, lower, upper, A, b, dp_options) -> float:
    bounds = deeppoly_bounds(net, lower, upper, dp_options)
    forms = output_form_bounds(net, A, bounds, dp_options)
    return float((forms.lower - b).max()) - 1e-9


def split_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray):
    """Input-splitting branch and bound on the case box; returns (lower bound, candidate)."""
    net, case = ctx.net, ctx.case
    dp = ctx.options.deeppoly
    rng = np.random.default_rng(ctx.options.seed)
    counter = 0
    root = _piece_bound(net, case.lower, case.upper, A, b, dp)
    heap = [(root, counter, case.lower.copy(), case.upper.copy())]
    proved_min = np.inf
    pieces = 0
    best_x, best_margin = None, np.inf
    while heap:
        if ctx.remaining() <= 0:
            ctx.stats["split"] = {"pieces": pieces, "open": len(heap)}
            ctx.stats["_last_exact"] = {"bracket": (min(heap[0][0], proved_min), best_margin)}
            ctx.check_time()
        bound, _, lo, hi = heapq.heappop(heap)
        pieces += 1
        if bound > 0:
            proved_min = min(proved_min, bound)
            continue
        # falsify the piece: centre, a few random points, short PGD
        sub = Case(lo, hi, ())
        x, margin = falsify_disjunct(net, sub, A, b, _piece_falsify(ctx, pieces))
        if margin < best_margin:
            best_x, best_margin = x, margin
        if margin <= 0:
            ctx.stats["split"] = {"pieces": pieces, "open": len(heap)}
            ctx.stats["_last_exact"] = {"bracket": (-np.inf, margin), "x": x}
            return min(bound, margin), x
        # split the input with the largest width * |gradient| at the centre
        centre = (lo + hi) / 2
        rows = np.argmax(net.forward(centre[None, :]) @ A.T - b, axis=1)
        grad = output_gradient(net, centre[None, :], A[rows])[0]
        score = (hi - lo) * (np.abs(grad) + 1e-12 * rng.random(lo.size))
        score[hi - lo <= 0] = -1.0
        i = int(np.argmax(score))
        if score[i] <= 0:  # a point: its exact margin is known
            proved_min = min(proved_min, margin)
            if margin > 0:
                continue
        mid = centre[i]
        for new_lo, new_hi in ((lo, np.where(np.arange(lo.size) == i, mid, hi)),
                               (np.where(np.arange(lo.size) == i, mid, lo), hi)):
            child = _piece_bound(net, new_lo, new_hi, A, b, dp)
            counter += 1
            heapq.heappush(heap, (child, counter, new_lo, new_hi))
    ctx.stats["split"] = {"pieces": pieces, "open": 0}
    ctx.stats["_last_exact"] = {"bracket": (proved_min, best_margin)}
    return proved_min, best_x


def _piece_falsify(ctx: CaseContext, piece: int):
    from dataclasses import replace
    return replace(ctx.options.falsify, random_points=8, pgd_restarts=1, pgd_steps=5,
                   seed=ctx.options.seed + piece)


def exact_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray):
    """``auto``'s exact step: input splitting for few free inputs, else MILP."""
    free = int(np.sum(ctx.case.upper > ctx.case.lower))
    if free <= SPLIT_INPUT_LIMIT:
        return split_margin(ctx, A, b)
    return milp_margin(ctx, A, b)


register_method("milp", milp_margin)
register_method("split", split_margin)
register_method("exact", exact_margin, in_auto=True)
