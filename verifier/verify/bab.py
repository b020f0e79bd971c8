"""Complete branch and bound over ReLU splits, for high-dimensional inputs (``--method bab``).

Input splitting (:func:`verifier.verify.exact.split_margin`) is hopeless for 784 inputs,
and a big-M MILP keeps its big-M constants fixed: splitting a ReLU inside HiGHS never
tightens the bounds of the layers after it. Here a *sub-domain* is the input box with some
ReLUs fixed active (``z >= 0``) or inactive (``z <= 0``); each one is bounded by batched
DeepPoly that **recomputes the later layers' bounds** through the fixed ReLUs
(:func:`verifier.bounds.batched.split_domain_bounds`), which is what makes a split pay off
(Bunel et al., JMLR 2020, "Branch and bound for piecewise linear neural network
verification"). Many sub-domains are bounded per step with one matrix product per layer.

* Start: the tightest bounds of the case (DeepPoly, then LP tightening) at the root.
* Pick: the ``batch`` open sub-domains with the lowest lower bound.
* Branch: the unstable ReLU whose triangle loses most in the bound (the intercept of its
  upper line times the magnitude of its coefficient in the bound; BaBSR's score).
  Re-ranking the best 8 by their children's bounds with the parent's intermediate bounds
  (filtered smart branching) was tried: 2.3x more sub-domains on mnistfc 256x4 2022
  prop_14_0.05 (331 instead of ~355 on 2021 prop_5_0.03, within the noise noted below),
  so it is not used. Batches of 16 or 128 instead of 32 also needed more sub-domains
  there.
* Optimised bound (alpha-beta-CROWN, Xu et al. ICLR 2021, Wang et al. NeurIPS 2021):
  for the domains the box bound does not prove, the lower slopes of the unstable ReLUs
  (alpha in [0, 1]) and one Lagrange multiplier per split (beta >= 0, the split's
  constraint ``s z <= 0`` added to the objective) are improved by projected Adam steps
  (:func:`verifier.bounds.batched.optimized_output_bound`). Any alpha, beta is sound.
* Split constraints in input space: each fixed ReLU's DeepPoly line in x (upper line for
  "active", lower line for "inactive") gives a row every input of the sub-domain satisfies
  (:func:`verifier.bounds.batched.split_constraints`); a batched dual ascent bounds
  ``min const + coef @ x`` over the box and those rows
  (:func:`verifier.bounds.batched.box_rows_dual_bound`). At a leaf (every ReLU fixed) the
  lines and the LP are exact, and the LP is solved by HiGHS (certified from its duals):
  that keeps the search complete.
* Prune: a bound > 0 proves the sub-domain; an empty one (some ``l > u``, or an infeasible
  LP with a certified dual ray) is proved too.
* Falsify: the minimising point of the bound is evaluated; a margin <= 0 is replayed. A
  fixed domain whose exact optimum does not replay is reported as an open bracket, never
  as proved.

Measured (mnistfc 256x4 prop_5_0.03, 150 s, one core): DeepPoly + split LPs proved 4 of 9
disjuncts (12.5k sub-domains), as many as ``milp``; with the batched dual ascent instead of
one HiGHS LP per domain the search trees were identical and bounding 3x cheaper; with the
optimised alpha-beta bound all 9 were proved in 24 s (16 s of it the root's LP tightening),
through ~400-600 sub-domains; with each domain's alpha-beta steps started from its parent's
values, 361 (within the run-to-run noise below). Bounding skips the neurons inactive in
every domain of a batch and takes the input-box minimum one domain at a time (same bounds):
on 256x4 2022 prop_14_0.05 ~195 sub-domains/s instead of ~60. The magnitude scales of the
rounding margins come from the root's tightened bounds (:func:`magnitude_scales` with
``pre_bounds``): from interval bounds they made the margin 0.66 on mnistfc 256x6 and no root
was ever proved. ``auto`` uses this method as its exact step for sequential networks with
more than 12 free inputs (mnistfc at the competition limits: 256x4 37 of 52 known verdicts,
256x6 28 of 49). Tree sizes are noisy: three runs of the same code on 2021 prop_5_0.03 took
349, 363 and 365 sub-domains (probably last-bit differences of BLAS sums that change
branching decisions), and on 2022 prop_14_0.05 one disjunct took 7.1k in one run and 10.7k
in another; compare throughput, or many instances, not one tree.

Soundness: every bound comes from :func:`split_domain_bounds`,
:func:`optimized_output_bound` or :func:`box_rows_dual_bound` (each lowered by its rounding
margin; any slopes and multipliers are valid) or from :func:`certified_minimum` of the split
LP plus the same margins; the result is the minimum over the leaves' bounds, which bounds
the margin on the union of the leaves: the whole box.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from solvers import LinearModel
from solvers.highs import HighsBackend, HighsOptions, SolveLimits
from verifier.bounds.batched import (box_rows_dual_bound, magnitude_scales, relu_chain,
                                     optimized_output_bound, split_domain_bounds)
from verifier.errors import NetworkError
from verifier.network import Affine
from verifier.spec import Case, OutputPolytope, Property
from verifier.verify.exact import convex_combinations, milp_margin, refine_candidate
from verifier.verify.lp import certified_minimum
from verifier.verify.pipeline import CaseContext, register_method


def _chain_names(net) -> list[str]:
    """Node names of the affine layers of a sequential net, in chain order."""
    return [n for n in net.order if isinstance(net.op(n), Affine)]


def _branch_scores(on_relu: dict, lower: list[np.ndarray], upper: list[np.ndarray],
                   rows: np.ndarray) -> list[np.ndarray]:
    """Per ReLU layer, (D, n_r) scores of splitting each neuron (-1 for stable ones).

    ``rows`` (D,) is the row of C that gives each domain's bound. A row coefficient
    ``c < 0`` on an unstable ReLU uses the triangle's upper line, losing up to
    ``|c| * (-l u / (u - l))``; ``c > 0`` uses the lower line, losing up to
    ``c * min(u, -l)``, counted at a quarter (the lower line's loss is rarely attained).
    """
    scores = []
    D = rows.size
    for r in range(len(lower)):
        l, u = lower[r], upper[r]
        unstable = (l < 0) & (u > 0)
        c = on_relu[r][np.arange(D), rows]
        width = np.where(unstable, u - l, 1.0)
        intercept = np.where(unstable, -l * u / width, 0.0)
        score = np.maximum(-c, 0) * intercept + 0.25 * np.maximum(c, 0) * np.where(
            unstable, np.minimum(u, -l), 0.0)
        scores.append(np.where(unstable, score + 1e-12 * width, -1.0))
    return scores


def _split_lp_bound(coef: np.ndarray, const: float, G: np.ndarray, h: np.ndarray,
                    lower: np.ndarray, upper: np.ndarray, time_limit: float):
    """Certified ``min const + coef @ x`` over the box and ``G x <= h``; (bound, x or None).

    An infeasible LP (certified by its dual ray) gives ``+inf``: the sub-domain is empty.
    """
    keep = np.flatnonzero(np.any(G != 0.0, axis=1))
    model = LinearModel(c=coef, A=sp.csr_matrix(G[keep]), row_lower=np.full(keep.size, -np.inf),
                        row_upper=h[keep], col_lower=lower, col_upper=upper)
    backend = HighsBackend(HighsOptions(threads=1))
    backend.load(model)
    bound, result = certified_minimum(backend, SolveLimits(time_limit=max(time_limit, 0.01)))
    if not np.isfinite(bound):
        return bound, None
    total = const + bound
    return total - 4e-16 * (abs(const) + abs(bound)), result.x


def bab_margin(ctx: CaseContext, A: np.ndarray, b: np.ndarray, batch: int = 32,
               max_open: int = 20000, rebound: bool = True, dual_iterations: int = 60,
               alpha_beta_iterations: int = 20, warm_start: bool = True):
    """Branch and bound over ReLU splits; returns (sound lower bound, best input found).

    The bound is the minimum over the proved sub-domains when the search finishes (> 0
    proves the disjunct). On time-out the bracket [min over open sub-domains, best margin
    found] is recorded and the pipeline's timeout is raised. Networks that are not a chain
    of affine + ReLU layers go to :func:`milp_margin`. ``rebound=False`` skips re-bounding
    the layers after a split (cheaper steps, looser bounds). ``dual_iterations > 0``
    solves the exact split LP only at leaves (every ReLU fixed) and, when
    ``alpha_beta_iterations`` is 0, bounds the split LPs of the other open domains at once
    by dual ascent (:func:`box_rows_dual_bound`); 0 solves the exact LP for every domain
    the other bounds do not prove. With alpha-beta on, the dual ascent is skipped: the
    split multipliers (beta) already price the split constraints, and 1, 10 or 60 ascent
    iterations gave the same trees (identical on mnistfc 256x4 2022 prop_14_0.05, 2021
    prop_5_0.03, ERAN 9x100 img49 and 6x200 img21; 7713 against 7715 sub-domains on 6x100
    img14, within the run-to-run noise noted below) while taking ~10 % of the time.
    ``warm_start`` starts each domain's alpha-beta steps from its parent's optimised
    values instead of DeepPoly's slopes.
    """
    net, case = ctx.net, ctx.case
    try:
        chain = relu_chain(net)
    except NetworkError:
        return milp_margin(ctx, A, b)
    if len(chain) < 2:
        return milp_margin(ctx, A, b)
    names = _chain_names(net)
    root = ctx.tightened()
    ctx.check_time()
    scales = magnitude_scales(chain, case.lower, case.upper,
                              [(root[names[r]].lower, root[names[r]].upper)
                               for r in range(len(chain) - 1)])
    C, c0 = convex_combinations(A, b)
    single = Property((Case(case.lower, case.upper, (OutputPolytope(A, b),)),),
                      net.n_inputs, net.n_outputs)
    relu_layers = len(chain) - 1
    # open sub-domains, stacked: bounds and split states per ReLU layer, priority = bound
    open_lo = [root[names[r]].lower[None, :].copy() for r in range(relu_layers)]
    open_hi = [root[names[r]].upper[None, :].copy() for r in range(relu_layers)]
    open_state = [np.zeros((1, x.shape[1]), dtype=np.int8) for x in open_lo]
    # warm start of the alpha-beta bound: each domain's optimised slopes and multipliers
    # (NaN: none yet), inherited by its children (float32: half the memory, any value is
    # sound)
    open_alpha = [np.full(x.shape, np.nan, dtype=np.float32) for x in open_lo]
    open_beta = [np.full(x.shape, np.nan, dtype=np.float32) for x in open_lo]
    open_first = np.array([-1])
    open_key = np.array([-np.inf])
    proved_min = np.inf
    best_x, best_margin = None, np.inf
    stats: dict = {}
    ctx.stats.setdefault("bab", []).append(stats)   # one entry per disjunct
    counts = {"domains": 0, "steps": 0, "lps": 0}

    def record(open_count: int) -> None:
        stats.update(counts, open=open_count)

    while open_key.size:
        record(int(open_key.size))
        if ctx.remaining() <= 0 or open_key.size > max_open:
            low = float(min(open_key.min(), proved_min))
            ctx.stats["_last_exact"] = {"bracket": (low, best_margin), "x": best_x}
            ctx.check_time()
            return low, best_x   # too many open sub-domains: give up with the bracket
        take = (np.argsort(open_key, kind="stable")[:batch] if open_key.size > batch
                else np.arange(open_key.size))
        keep = np.ones(open_key.size, dtype=bool)
        keep[take] = False
        lo = [x[take] for x in open_lo]
        hi = [x[take] for x in open_hi]
        state = [x[take] for x in open_state]
        alpha = [x[take] for x in open_alpha]
        beta = [x[take] for x in open_beta]
        # rebound=False keeps the intermediate bounds of the root (as beta-CROWN does)
        first = int(open_first[take].min()) if rebound else relu_layers - 1
        open_lo = [x[keep] for x in open_lo]
        open_hi = [x[keep] for x in open_hi]
        open_state = [x[keep] for x in open_state]
        open_alpha = [x[keep] for x in open_alpha]
        open_beta = [x[keep] for x in open_beta]
        open_first, open_key = open_first[keep], open_key[keep]
        counts["steps"] += 1
        counts["domains"] += take.size
        value, on_relu, (const, coef), (G, h) = ctx.timed("bab_bounds", lambda: (
            split_domain_bounds(chain, case.lower, case.upper, scales, lo, hi, first, C,
                                states=state)))
        # value - c0, rounded down (c0 = b may be large next to the margins)
        bound_rows = value - c0 - 4e-16 * (np.abs(value) + np.abs(c0))
        row = np.argmax(bound_rows, axis=1)
        D = row.size
        bound = bound_rows[np.arange(D), row]
        empty = np.zeros(D, dtype=bool)
        for r in range(relu_layers):
            empty |= np.any(lo[r] > hi[r], axis=1)
        bound = np.where(empty, np.inf, bound)
        lin_coef = coef[np.arange(D), row]
        points = np.where(lin_coef > 0, case.lower, case.upper)
        has_rows = np.any(G != 0.0, axis=(1, 2))
        if alpha_beta_iterations > 0:
            # optimised slopes and split multipliers (alpha-beta-CROWN) on the best row
            todo = np.flatnonzero(bound <= 0)
            if todo.size:
                opt, xs, (a_opt, b_opt) = ctx.timed("bab_alpha_beta", lambda: (
                    optimized_output_bound(
                        chain, case.lower, case.upper, scales, [x[todo] for x in lo],
                        [x[todo] for x in hi], [x[todo] for x in state], C[row[todo]],
                        alpha_beta_iterations,
                        start=([x[todo] for x in alpha], [x[todo] for x in beta])
                        if warm_start else None)))
                for r in range(relu_layers):
                    alpha[r][todo], beta[r][todo] = a_opt[r], b_opt[r]
                opt = opt - c0[row[todo]] - 4e-16 * (np.abs(opt) + np.abs(c0[row[todo]]))
                better = opt > bound[todo]
                bound[todo[better]] = opt[better]
                points[todo[better]] = xs[better]
        if dual_iterations > 0 and alpha_beta_iterations <= 0:
            # the split LP's dual, approximately and for all domains at once
            todo = np.flatnonzero((bound <= 0) & has_rows)
            if todo.size:
                dual, xs = ctx.timed("bab_dual", lambda: box_rows_dual_bound(
                    lin_coef[todo], const[todo, row[todo]] - c0[row[todo]], G[todo], h[todo],
                    case.lower, case.upper, dual_iterations))
                # const - c0 rounded down, as for the box bound
                dual -= 4e-16 * (np.abs(const[todo, row[todo]]) + np.abs(c0[row[todo]]))
                better = dual > bound[todo]
                bound[todo[better]] = dual[better]
                points[todo[better]] = xs[better]
        # the exact split LP where the bounds above do not prove a domain with splits
        # (only at leaves, every ReLU fixed, when the dual ascent runs: completeness)
        lp_todo = (bound <= 0) & has_rows
        if dual_iterations > 0:
            free = np.zeros(D, dtype=bool)
            for r in range(relu_layers):
                free |= np.any((lo[r] < 0) & (hi[r] > 0), axis=1)
            lp_todo &= ~free
        for d in np.flatnonzero(lp_todo):
            ctx.check_time()
            shift = float(const[d, row[d]] - c0[row[d]])
            shift -= 4e-16 * (abs(float(const[d, row[d]])) + abs(float(c0[row[d]])))
            lp_bound, x = ctx.timed("bab_lp", lambda: _split_lp_bound(
                lin_coef[d], shift, G[d], h[d], case.lower, case.upper, ctx.remaining()))
            counts["lps"] += 1
            bound[d] = max(bound[d], lp_bound)
            if x is not None:
                points[d] = np.clip(x, case.lower, case.upper)
        proved = bound > 0
        if proved.any():
            proved_min = min(proved_min, float(bound[proved].min()))
        open_idx = np.flatnonzero(~proved)
        if not open_idx.size:
            continue
        # candidates: each open domain's minimiser of its bound (LP optimum or box corner)
        margins = (net.forward(points[open_idx]) @ A.T - b).max(axis=1)
        k = int(np.argmin(margins))
        candidate, candidate_margin = points[open_idx[k]], float(margins[k])
        (best_x, best_margin), witness = refine_candidate(
            ctx, single, A, b, candidate, candidate_margin,
            points[open_idx[np.argsort(margins)[:8]]], ctx.options.falsify,
            (best_x, best_margin), run_pgd=counts["steps"] % 8 == 1)
        if witness is not None:
            record(int(open_key.size))
            return witness.margin, witness.x
        # branch every open domain on its best-scoring unstable ReLU
        lo = [x[open_idx] for x in lo]
        hi = [x[open_idx] for x in hi]
        state = [x[open_idx] for x in state]
        alpha = [x[open_idx] for x in alpha]
        beta = [x[open_idx] for x in beta]
        sub_relu = {r: on_relu[r][open_idx] for r in on_relu}
        scores = _branch_scores(sub_relu, lo, hi, row[open_idx])
        flat = np.concatenate(scores, axis=1)
        choice = np.argmax(flat, axis=1)
        splittable = flat[np.arange(choice.size), choice] >= 0
        if not splittable.all():
            # every ReLU fixed, the exact LP did not prove it, and its optimum did not
            # replay (a margin within rounding of 0): no split can help, stop honestly
            low = float(min(bound[open_idx].min(), open_key.min(initial=np.inf)))
            ctx.stats["_last_exact"] = {"bracket": (low, best_margin), "x": best_x}
            stats["stuck"] = int((~splittable).sum())
            record(int(open_key.size))
            return low, best_x
        sizes = np.cumsum([0] + [sc.shape[1] for sc in scores])
        layer = np.searchsorted(sizes, choice, side="right") - 1
        neuron = choice - sizes[layer]
        active_lo = [x.copy() for x in lo]
        inactive_hi = [x.copy() for x in hi]
        active_state = [x.copy() for x in state]
        inactive_state = [x.copy() for x in state]
        for r in range(relu_layers):
            sel = np.flatnonzero(layer == r)
            active_lo[r][sel, neuron[sel]] = 0.0
            inactive_hi[r][sel, neuron[sel]] = 0.0
            active_state[r][sel, neuron[sel]] = 1
            inactive_state[r][sel, neuron[sel]] = -1
        open_lo = [np.vstack([o, a, x]) for o, a, x in zip(open_lo, active_lo, lo)]
        open_hi = [np.vstack([o, x, i]) for o, x, i in zip(open_hi, hi, inactive_hi)]
        open_state = [np.vstack([o, a, i]) for o, a, i in
                      zip(open_state, active_state, inactive_state)]
        open_alpha = [np.vstack([o, a, a]) for o, a in zip(open_alpha, alpha)]
        open_beta = [np.vstack([o, x, x]) for o, x in zip(open_beta, beta)]
        open_first = np.concatenate([open_first, layer, layer])
        key = bound[open_idx]
        open_key = np.concatenate([open_key, key, key])
    record(0)
    ctx.stats["_last_exact"] = {"bracket": (proved_min, best_margin), "x": best_x}
    return proved_min, best_x


register_method("bab", bab_margin)
