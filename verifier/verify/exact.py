"""Exact mode: big-M MILP per disjunct, and a complete input-splitting search.

``milp``: every unstable ReLU gets the big-M encoding (``verifier.relaxations.big_m``) over
the tightest bounds available (DeepPoly, then LP tightening). HiGHS solves ``min margin``
with a MIP start from falsification; a callback stops as soon as the question is
answered: the dual bound exceeds 0 (proved) or an incumbent replays as a counterexample.
The bound reported is HiGHS's *dual bound* minus an explicit margin
``MILP_MARGIN * (1 + |dual|)`` (MIP tolerances are not certified by duals), never the
incumbent; on time-out the bracket ``[dual bound, incumbent]`` is recorded.

``split``: for low-dimensional inputs (ACAS Xu) a branch-and-bound over the input box:
pieces are bounded many at a time by batched DeepPoly, their centres are evaluated, and
each open piece is split along the input with the largest ``width * |gradient|`` until
every piece is proved or a centre replays as a counterexample.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from solvers import Status
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.encode import encode_network, with_disjunct
from verifier.network import Network
from verifier.relaxations import big_m
from verifier.spec import Case, OutputPolytope, Property
from verifier.verify.falsify import falsify_disjunct, output_gradient
from verifier.verify.replay import replay
from verifier.verify.pipeline import (BOUND_METHODS, LOW_DIMENSION, CaseContext,
                                      margin_range, register_method)

MILP_MARGIN = 1e-6
MILP_CUT_SHARE = 0.25   # with milp_cuts: share of the remaining time the separation LP may use


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


def _sound_dual_bound(result) -> float:
    """The MILP dual bound made safe: minus ``MILP_MARGIN * (1 + |d|)``.

    Our margin models are always feasible (every input of the box gives a feasible
    assignment: sound column bounds, exact big-M, ``t`` range containing every margin), so
    an "infeasible" answer can only come from numerical trouble: it yields no bound
    (``-inf``), never a proof.
    """
    if result.status == Status.INFEASIBLE or result.dual_bound is None:
        return -np.inf
    dual = float(result.dual_bound)
    return dual - MILP_MARGIN * (1.0 + abs(dual)) if np.isfinite(dual) else -np.inf


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
    if ctx.options.krelu.milp_cuts:
        proved = _add_krelu_cuts(ctx, A, b, backend, model.n_cols)
        if proved is not None:
            ctx.stats["_last_exact"] = {"optimum": None, "bracket": (proved, np.inf)}
            return proved, None
    limits = SolveLimits(time_limit=max(ctx.remaining(), 0.01),
                         stop_dual_above=None if ctx.options.full_solve else 0.0,
                         mip_start=mip_start(net, encoded, x0, A, b, model.n_cols),
                         on_incumbent=on_incumbent)
    result = ctx.timed("milp", lambda: backend.solve(limits))
    ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + backend.total_time
    ctx.stats.setdefault("milp", []).append({**model.summary(), "status": result.status.value,
                                             "nodes": result.iterations})
    bound = max(_sound_dual_bound(result), t_lo)
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


def _add_krelu_cuts(ctx: CaseContext, A: np.ndarray, b: np.ndarray, backend: HighsBackend,
                    n_cols: int) -> float | None:
    """Append the disjunct's separated k-ReLU cuts to its loaded MILP (``milp_cuts``).

    Runs the k-ReLU separation LP of the disjunct (:mod:`verifier.verify.krelu_cuts`) for
    at most ``MILP_CUT_SHARE`` of the remaining time and appends the case's cut pool: every
    cut is a hull facet valid for all inputs of the box, written over the network's node
    columns, which are the same first columns in the triangle encoding and in the big-M
    encoding (block columns such as the binaries come after all node columns). Returns
    the LP's certified bound when it already proves the disjunct (> 0), else None.
    """
    from verifier.verify.krelu_method import _separation_case, krelu_separation_margin
    deadline = time.monotonic() + MILP_CUT_SHARE * max(ctx.remaining(), 0.0)
    bound, _ = krelu_separation_margin(ctx, A, b, deadline=deadline)
    if bound > 0 and not ctx.options.full_solve:
        return float(bound)
    pooled = _separation_case(ctx).pool(n_cols)
    if pooled is not None:
        M, upper, names = pooled
        backend.add_rows(M, np.full(len(upper), -np.inf), upper, names)
        ctx.stats.setdefault("milp_cuts", []).append(len(upper))
    return None


def refine_candidate(ctx: CaseContext, single: Property, A: np.ndarray, b: np.ndarray,
                     candidate: np.ndarray, candidate_margin: float, starts: np.ndarray,
                     pgd_options, best: tuple, run_pgd: bool = True):
    """One search step's counterexample handling, shared by the branch-and-bound searches.

    Unless the candidate already violates (margin <= 0), a short PGD from ``starts`` may
    improve it (when ``run_pgd``); the best (x, margin) so far is updated; a candidate with
    margin <= 0 is replayed exactly against ``single`` (the disjunct as a property).

    Returns:
        (best (x, margin), the replayed :class:`Witness` or None). With a witness, the
        exact record ``ctx.stats["_last_exact"]`` is already set.
    """
    if run_pgd and candidate_margin > 0:
        x, m = falsify_disjunct(ctx.net, ctx.case, A, b, pgd_options, extra_starts=starts)
        if m < candidate_margin:
            candidate, candidate_margin = x, m
    if candidate_margin < best[1]:
        best = (candidate.copy(), candidate_margin)
    if candidate_margin <= 0:
        witness = replay(ctx.net, single, candidate, 0, ctx.onnx_path)
        if witness is not None:
            ctx.stats["_last_exact"] = {"bracket": (-np.inf, witness.margin), "x": witness.x}
            return best, witness
    return best, None


def convex_combinations(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``lambda @ A`` (and ``lambda @ b``) for the unit vectors, every pair average and
    the uniform weights: ``max_i (A_i y - b_i) >= lambda @ (A y - b)`` for each, so the
    best of their lower bounds bounds the margin; mixtures catch conjunctions that no single
    row refutes (ACAS Xu property 2)."""
    m = A.shape[0]
    weights = [np.eye(m)]
    if m > 1:
        pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
        if len(pairs) <= 64:
            mix = np.zeros((len(pairs), m))
            for r, (i, j) in enumerate(pairs):
                mix[r, [i, j]] = 0.5
            weights.append(mix)
        weights.append(np.full((1, m), 1.0 / m))
    L = np.vstack(weights)
    return L @ A, L @ b


def _piece_milp(net: Network, piece: Case, A: np.ndarray, b: np.ndarray, ctx: CaseContext):
    """Exact minimum margin on a small piece by big-M MILP (few binaries by construction).

    Returns:
        (sound lower bound: dual bound minus MILP_MARGIN, input of the optimum or None).
    """
    from verifier.bounds import deeppoly_bounds, output_form_bounds
    bounds = deeppoly_bounds(net, piece.lower, piece.upper, ctx.options.deeppoly)
    forms = output_form_bounds(net, A, bounds, ctx.options.deeppoly)
    t_lo = float((forms.lower - b).max()) - 1e-9
    t_hi = float((forms.upper - b).max()) + 1e-9
    if t_lo > 0:
        return t_lo, None
    blocks = {r: [big_m(bounds[net.inputs_of(r)[0]], r)] for r in net.relu_names()}
    encoded = encode_network(net, bounds, blocks)
    model = with_disjunct(encoded, encoded.columns[net.output_name], A, b, (t_lo, t_hi))
    backend = HighsBackend(HighsOptions(threads=1, mip_rel_gap=1e-9))
    backend.load(model)
    result = backend.solve(SolveLimits(time_limit=max(min(ctx.remaining(), 10.0), 0.01)))
    ctx.timings["highs"] = ctx.timings.get("highs", 0.0) + backend.total_time
    bound = _sound_dual_bound(result)
    x = None if result.x is None else result.x[encoded.columns[net.input_name]]
    return max(bound, t_lo), x


def split_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray, batch: int = 256,
                 heuristic: str = "mixed", leaf_unstable: int = 12, leaf_per_step: int = 16,
                 order: str = "bound"):
    """Input-splitting branch and bound over the case box, many pieces per step.

    Open pieces are kept in arrays with a priority, the margin at the parent's centre:
    each step takes the ``batch`` most promising pieces (lowest margin: where a
    counterexample is likeliest; ACAS Xu's violations live in regions ~1e-4 wide) and
    bounds them all at once with batched DeepPoly (:mod:`verifier.bounds.batched`);
    proved pieces are dropped, the centres of the others are evaluated (a centre with
    margin <= 0 is replayed as a counterexample), and each open piece is halved along the
    input with the largest ``width_i * (|g_i| + mean_j |g_j|)``, ``g`` the gradient of the
    violated row at the centre (``heuristic="mixed"``). The two rules it mixes each fail
    somewhere: ``"widest"`` (width only) needed 9261 pieces on ACAS Xu 4_9 prop_1 where
    ``mixed`` needs 3331, and timed out on 4_5 prop_10 (116 s) where ``mixed`` proves it
    with 695; ``"smear"`` (``width_i * |g_i|``, Neurify's) needs orders of magnitude more
    pieces than ``widest`` on prop 1, where a wide input can have a small gradient at the
    centre. On all 186 ACAS Xu rows ``auto`` with ``mixed`` solved 182 in 560 s (2 cores);
    the last full run with ``widest`` (older code) solved 180 in 1199 s, and no row it
    solved was lost.

    Returns:
        (sound lower bound on the minimum margin, best input found). The bound is the
        minimum of the proved pieces' bounds when the search finishes; on time-out the
        open pieces' bounds are included in the recorded bracket and ``_Timeout`` is raised.
    """
    from verifier.bounds.batched import batched_output_lower, dense_chain, magnitude_scales
    if heuristic not in ("mixed", "widest", "smear"):
        raise ValueError(f"unknown split heuristic {heuristic!r}: mixed, widest or smear")
    net, case = ctx.net, ctx.case
    chain = dense_chain(net)
    scales = magnitude_scales(chain, case.lower, case.upper)
    single = Property((Case(case.lower, case.upper, (OutputPolytope(A, b),)),),
                      net.n_inputs, net.n_outputs)
    open_lo, open_hi = case.lower[None, :], case.upper[None, :]
    open_key = np.zeros(1)
    proved_min = np.inf
    best_x, best_margin = None, np.inf
    pieces = leaves = 0
    free = case.upper > case.lower
    A_mix, b_mix = convex_combinations(A, b)
    n_free = int(free.sum())
    corner_bits = None
    if n_free <= 6:  # 2^6 corners per piece at most
        grid = np.array(np.meshgrid(*[[0.0, 1.0]] * n_free)).reshape(n_free, -1).T
        corner_bits = np.zeros((grid.shape[0], free.size))
        corner_bits[:, free] = grid
    pgd_options = replace(ctx.options.falsify, random_points=0, pgd_restarts=8, pgd_steps=20,
                          seed=ctx.options.seed + 1)
    ctx.stats["split"] = progress = {"pieces": 0, "open": 1, "leaf_milps": 0}
    while open_lo.shape[0]:
        progress.update(pieces=pieces, open=int(open_lo.shape[0]), leaf_milps=leaves)
        if open_lo.shape[0] > batch:
            take = np.zeros(open_lo.shape[0], dtype=bool)
            take[np.argpartition(open_key, batch)[:batch]] = True
        else:
            take = np.ones(open_lo.shape[0], dtype=bool)
        lo, hi = open_lo[take], open_hi[take]
        open_lo, open_hi, open_key = open_lo[~take], open_hi[~take], open_key[~take]
        if ctx.remaining() <= 0:
            ctx.stats["_last_exact"] = {"bracket": (-np.inf, best_margin), "x": best_x}
            ctx.check_time()
        pieces += lo.shape[0]
        lower_forms, unstable = batched_output_lower(chain, lo, hi, A_mix, scales,
                                                     unstable_counts=True)
        bound = (lower_forms - b_mix).max(axis=1)
        proved = bound > 0
        # small pieces with few unstable ReLUs: solve them exactly (big-M MILP on the piece)
        leaf = np.flatnonzero(~proved & (unstable <= leaf_unstable))[:leaf_per_step]
        for i in leaf:
            ctx.check_time()
            piece = Case(lo[i], hi[i], (OutputPolytope(A, b),))
            leaf_bound, leaf_x = _piece_milp(net, piece, A, b, ctx)
            leaves += 1
            if leaf_x is not None:
                witness = replay(net, single, leaf_x, 0, ctx.onnx_path)
                if witness is not None:
                    ctx.stats["_last_exact"] = {"bracket": (-np.inf, witness.margin),
                                                "x": witness.x}
                    return witness.margin, witness.x
            if leaf_bound > 0:
                proved[i] = True
                bound[i] = leaf_bound
        if proved.any():
            proved_min = min(proved_min, float(bound[proved].min()))
        lo, hi = lo[~proved], hi[~proved]
        if lo.shape[0] == 0:
            continue
        centre = (lo + hi) / 2
        values = net.forward(centre, all_nodes=True)
        viol = values[net.output_name] @ A.T - b
        margin = viol.max(axis=1)
        k = int(np.argmin(margin))
        candidate, candidate_margin = centre[k], float(margin[k])
        if corner_bits is not None and candidate_margin > 0:
            # every corner of every open piece (violations often sit on the box boundary)
            corners = (lo[:, None, :] + corner_bits[None, :, :] * (hi - lo)[:, None, :])
            corners = corners.reshape(-1, lo.shape[1])
            corner_margin = (net.forward(corners) @ A.T - b).max(axis=1)
            j = int(np.argmin(corner_margin))
            if corner_margin[j] < candidate_margin:
                candidate, candidate_margin = corners[j], float(corner_margin[j])
        # short PGD from the most promising centres (counterexample regions can be tiny)
        (best_x, best_margin), witness = refine_candidate(
            ctx, single, A, b, candidate, candidate_margin, centre[np.argsort(margin)[:8]],
            pgd_options, (best_x, best_margin))
        if witness is not None:
            return witness.margin, witness.x
        if heuristic == "widest":
            score = np.where(free, hi - lo, -1.0)
        else:
            grad = np.abs(output_gradient(net, centre, A[np.argmax(viol, axis=1)], values))
            if heuristic == "mixed" and free.any():
                grad = grad + grad[:, free].mean(axis=1, keepdims=True)
            score = np.where(free, (hi - lo) * (grad + 1e-9), -1.0)
        dim = np.argmax(score, axis=1)
        rows = np.arange(lo.shape[0])
        mid = centre[rows, dim]
        left_hi, right_lo = hi.copy(), lo.copy()
        left_hi[rows, dim] = mid
        right_lo[rows, dim] = mid
        open_lo = np.vstack([open_lo, right_lo, lo])
        open_hi = np.vstack([open_hi, hi, left_hi])
        key = margin if order == "centre" else bound[~proved]
        open_key = np.concatenate([open_key, key, key])
    progress.update(pieces=pieces, open=0, leaf_milps=leaves)
    ctx.stats["_last_exact"] = {"bracket": (proved_min, best_margin), "x": best_x}
    return proved_min, best_x


def exact_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray):
    """``auto``'s exact step: input splitting for few free inputs, else ReLU-split branch
    and bound (``bab``, registered by :mod:`verifier.verify.bab`; it hands networks that
    are not a chain of affine + ReLU layers to the MILP), else the MILP."""
    free = int(np.sum(ctx.case.upper > ctx.case.lower))
    if free <= LOW_DIMENSION and ctx.net.is_sequential():
        return split_margin(ctx, A, b)
    relu_split = BOUND_METHODS.get("bab")
    if relu_split is not None:
        return relu_split(ctx, A, b)
    return milp_margin(ctx, A, b)


register_method("milp", milp_margin)
register_method("split", split_margin)
register_method("exact", exact_margin, in_auto=True)
